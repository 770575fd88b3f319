"""Reading a report configuration from a .json or .toml file into plain JSON-ready values."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

from manireports.documents import read_document
from manireports.errors import InputError
from manireports.reports.operator.configured.checks import CONFIG_KEYS


def load_report_config(path: str | Path) -> dict[str, Any]:
    """A report configuration from a .json or .toml file, as a JSON-ready dict.

    TOML dates and date-times become 'YYYY-MM-DD' and 'YYYY-MM-DD HH:MM:SS' text (read in the
    site timezone when the report runs); a date-time with an offset becomes Unix time. The stored
    configuration is JSON either way, so a report reads the same whichever file made it.
    """
    file = Path(path)
    document = read_document(file, "report configuration", f"the keys {', '.join(CONFIG_KEYS)}")
    plain = _plain(document, str(file))
    assert isinstance(plain, dict)
    return plain


def _plain(value: Any, where: str) -> Any:
    if isinstance(value, dict):
        return {str(key): _plain(item, where) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item, where) for item in value]
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            return int(value.timestamp())
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value != value:
        raise InputError(f"{where} holds nan, which is not a value a report can filter on.")
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise InputError(f"{where} holds {value!r}, which a report configuration cannot use.")
