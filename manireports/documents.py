"""Reading an operator's JSON or TOML files: the configuration, report configurations,
dashboard definitions and certificate layouts.

One reader so every such file is refused the same way: wrong extension, unreadable, not UTF-8,
not valid JSON or TOML, not one object at the top, an unknown key or a value of the wrong type,
each in one sentence that names the file and the key. A misspelt key is refused rather than
ignored, because ignoring it silently keeps the default the operator meant to change.

A table of known keys is described by a typing.NamedTuple: each field is a key (a trailing `_`
is dropped, for keys such as `from`), its annotation the type the value must have (`str`, `int`,
`float`, `bool`, a `Literal` of choices, `tuple[str, ...]` for a list of text, another such
NamedTuple for a nested table, a tuple of them for an array of tables, `| None` when it may be
absent; `Annotated` adds what the caller checks besides, such as a range), and its default what
an absent key means; a field without a default is required. A NamedTuple rather than a frozen
dataclass because the configuration has twenty such tables, each created on every start of the
command line: a NamedTuple class is made in a few microseconds, a frozen dataclass in about half
a millisecond (it compiles six methods).
"""

from __future__ import annotations

import json
import tomllib
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, get_args, get_origin

from manireports.errors import InputError

T = TypeVar("T")


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


@dataclass(frozen=True)
class Key:
    """One key of a table of known keys, read from its NamedTuple field."""

    name: str
    attr: str
    kind: Literal["str", "int", "float", "bool", "list", "table", "tables"]
    optional: bool
    choices: tuple[str, ...]
    table: type | None
    default: Any
    required: bool
    metadata: tuple[Any, ...]


_SCALARS: dict[Any, Literal["str", "int", "float", "bool"]] = {
    str: "str",
    int: "int",
    float: "float",
    bool: "bool",
}


def _is_table(hint: Any) -> bool:
    return isinstance(hint, type) and issubclass(hint, tuple) and hasattr(hint, "_fields")


def _key(name: str, attr: str, hint: Any, default: Any, required: bool) -> Key:
    metadata: tuple[Any, ...] = ()
    if get_origin(hint) is Annotated:
        hint, *extra = get_args(hint)
        metadata = tuple(extra)
    args = get_args(hint)
    optional = get_origin(hint) in (typing.Union, types.UnionType) and type(None) in args
    if optional:
        (hint,) = [arg for arg in args if arg is not type(None)]
        args = get_args(hint)
    origin = get_origin(hint)
    choices: tuple[str, ...] = ()
    table: type | None = None
    kind: Literal["str", "int", "float", "bool", "list", "table", "tables"]
    if hint in _SCALARS:
        kind = _SCALARS[hint]
    elif origin is Literal:
        kind, choices = "str", tuple(str(arg) for arg in args)
    elif origin is tuple and args == (str, ...):
        kind = "list"
    elif origin is tuple and len(args) == 2 and args[1] is ... and _is_table(args[0]):
        kind, table = "tables", args[0]
    elif _is_table(hint):
        kind, table = "table", hint
    else:  # pragma: no cover - a table declared with a type this reader does not know
        raise TypeError(f"{attr}: {hint!r}")
    return Key(name, attr, kind, optional, choices, table, default, required, metadata)


_KEYS: dict[type, dict[str, Key]] = {}


def keys_of(cls: type) -> dict[str, Key]:
    """The keys of the table that the NamedTuple `cls` describes, by their name in the file."""
    if cls in _KEYS:
        return _KEYS[cls]
    hints: dict[str, Any] = cls.__annotations__
    # Annotations are text (ForwardRef) in a module with `from __future__ import annotations`.
    if any(isinstance(hint, str | typing.ForwardRef) for hint in hints.values()):
        hints = typing.get_type_hints(cls, include_extras=True)
    defaults: dict[str, Any] = getattr(cls, "_field_defaults", {})
    keys = {}
    for attr in getattr(cls, "_fields", ()):
        name = attr.rstrip("_")
        required = attr not in defaults
        keys[name] = _key(name, attr, hints[attr], defaults.get(attr), required)
    _KEYS[cls] = keys
    return keys


def unknown_keys(
    table: Mapping[str, Any], allowed: Iterable[str], where: str, *, prefix: str = ""
) -> str | None:
    """The problem with the keys of `table` that are not `allowed`, naming them, `where` they
    are and the keys there are (`prefix` goes before each name, e.g. its section); None when
    there are none. For readers that list every problem of a file at once."""
    known = list(allowed)
    unknown = [repr(prefix + key) for key in table if key not in known]
    if not unknown:
        return None
    keys = "keys" if len(unknown) > 1 else "key"
    return f"Unknown {keys} {', '.join(unknown)} in {where} (the keys are: {', '.join(known)})"


def refuse_unknown_keys(
    table: Mapping[str, Any],
    allowed: Iterable[str],
    where: str,
    *,
    prefix: str = "",
    error: type[InputError] = InputError,
) -> None:
    """Refuse the keys of `table` that are not `allowed` (see unknown_keys)."""
    problem = unknown_keys(table, allowed, where, prefix=prefix)
    if problem:
        raise error(problem + ".")


_WANTED = {
    "str": "text",
    "list": "a list of text",
    "table": "a table",
    "tables": "a list of tables",
}


def check_value(key: Key, value: Any, where: str, error: type[InputError] = InputError) -> Any:
    """`value` from a JSON or TOML file if it has `key`'s type (a list as a tuple, an int as a
    float where a float is wanted), else `error` saying what `where` must be."""
    kind = key.kind
    ok: bool
    if value is None:
        ok = key.optional
    elif kind == "str":
        ok = isinstance(value, str)
    elif kind == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind == "float":
        if isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        ok = isinstance(value, float)
    elif kind == "bool":
        ok = isinstance(value, bool)
    elif kind == "list":
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        value = tuple(value) if ok else value
    elif kind == "table":
        ok = isinstance(value, Mapping)
    else:
        ok = isinstance(value, list) and all(isinstance(v, Mapping) for v in value)
    if not ok:
        raise error(f"{where} must be {_WANTED.get(kind, kind)}, not {value!r}.")
    return value


def read_table(
    cls: type[T], table: Mapping[str, Any], where: str, error: type[InputError] = InputError
) -> T:
    """The NamedTuple `cls` from `table` (a JSON object or TOML table) read from `where` (which
    names the file): unknown keys, missing required ones, values of the wrong type and values
    outside a `Literal`'s choices are refused, each with the key and `where` named."""
    keys = keys_of(cls)
    refuse_unknown_keys(table, keys, where, error=error)
    values: dict[str, Any] = {}
    for name, key in keys.items():
        if name not in table:
            if key.required:
                raise error(f"{name} is missing from {where}.")
            continue
        value = check_value(key, table[name], f"{name} in {where}", error)
        if key.kind == "table" and value is not None:
            assert key.table is not None
            value = read_table(key.table, value, f"[{name}] of {where}", error)
        elif key.kind == "tables":
            assert key.table is not None
            value = tuple(
                read_table(key.table, item, f"[[{name}]] {number} of {where}", error)
                for number, item in enumerate(value, start=1)
            )
        elif key.choices and value not in key.choices:
            raise error(
                f"{name} in {where} must be one of {', '.join(key.choices)}, not {value!r}."
            )
        values[key.attr] = value
    return cls(**values)
