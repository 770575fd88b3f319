"""Reading an operator's JSON or TOML file (report configurations, dashboard definitions).

One reader so every such file is refused the same way: wrong extension, unreadable, not UTF-8,
not valid JSON or TOML, or not one object at the top, each in one sentence that names the file and
what it was meant to be.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

from manireports.errors import InputError


def read_document(path: Path, what: str, shape: str) -> dict[str, Any]:
    """The object in a .json or .toml file; `what` names the file's purpose in messages ("report
    configuration") and `shape` says what the top object must hold."""
    suffix = path.suffix.lower()
    if suffix not in (".json", ".toml"):
        raise InputError(f"{path} is not a {what}: the file must end in .json or .toml.")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"Cannot read the {what} {path} ({exc.strerror}).") from None
    except UnicodeDecodeError:
        raise InputError(f"The {what} {path} is not UTF-8 text.") from None
    document: Any
    try:
        document = json.loads(text) if suffix == ".json" else tomllib.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{path} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path} is not valid TOML: {exc}.") from None
    if not isinstance(document, dict):
        found = "a list" if isinstance(document, list) else repr(document)
        raise InputError(f"{path} must hold one object with {shape}, not {found}.")
    return document
