"""Reading a report configuration from a .json or .toml file into plain JSON-ready values."""

from __future__ import annotations

import json
import tomllib
from datetime import date, datetime
from pathlib import Path
from typing import Any

from manireports.errors import InputError
from manireports.reports.configured.checks import CONFIG_KEYS, describe


def load_report_config(path: str | Path) -> dict[str, Any]:
    """A report configuration from a .json or .toml file, as a JSON-ready dict.

    TOML dates and date-times become 'YYYY-MM-DD' and 'YYYY-MM-DD HH:MM:SS' text (read in the
    site timezone when the report runs); a date-time with an offset becomes Unix time. The stored
    configuration is JSON either way, so a report reads the same whichever file made it.
    """
    file = Path(path)
    suffix = file.suffix.lower()
    if suffix not in (".json", ".toml"):
        raise InputError(
            f"{file} is not a report configuration: the file must end in .json or .toml."
        )
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"Cannot read the report configuration {file} ({exc.strerror}).") from None
    except UnicodeDecodeError:
        raise InputError(f"The report configuration {file} is not UTF-8 text.") from None
    document: Any
    if suffix == ".json":
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(
                f"{file} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."
            ) from None
    else:
        try:
            document = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise InputError(f"{file} is not valid TOML: {exc}.") from None
    if not isinstance(document, dict):
        raise InputError(
            f"{file} must hold one object with the keys {', '.join(CONFIG_KEYS)}, "
            f"not {describe(document)}."
        )
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
