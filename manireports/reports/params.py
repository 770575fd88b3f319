"""Report parameters given as `--param key=value`, checked and converted before any SQL runs.

Dates are read in the site timezone and bound as Unix time, as Moodle stores every timestamp. A
date without a time given to an upper bound (`to`) means the end of that day, because an operator
asking for "to 2026-01-31" expects the 31st to be included.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from manireports.errors import InputError
from manireports.localtime import local_to_unix

# "date" binds the Unix time of a moment; "day" binds a calendar day (a datetime.date) for
# reports whose rows are already days in the site timezone, such as time_spent.
ParamKind = Literal["int", "date", "day", "text"]

_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M")


@dataclass(frozen=True)
class Param:
    name: str
    kind: ParamKind
    help: str
    default: Any = None
    end_of_day: bool = False


def parse_moment(text: str, tz: ZoneInfo, *, end_of_day: bool = False, what: str = "date") -> int:
    """'YYYY-MM-DD' or 'YYYY-MM-DD HH:MM[:SS]' in the site timezone, as Unix seconds."""
    value = text.strip()
    try:
        day = datetime.strptime(value, "%Y-%m-%d")  # noqa: DTZ007 - zone attached below
    except ValueError:
        day = None
    if day is not None:
        moment = day + timedelta(days=1) if end_of_day else day
        return local_to_unix(moment, tz)
    for pattern in _FORMATS:
        try:
            parsed = datetime.strptime(value, pattern)  # noqa: DTZ007 - zone attached below
        except ValueError:
            continue
        return local_to_unix(parsed, tz)
    raise InputError(
        f'{what} {text!r} is not a date; write YYYY-MM-DD or "YYYY-MM-DD HH:MM[:SS]" '
        f"(site timezone {tz.key})."
    )


def parse_day(text: str, what: str) -> date:
    """'YYYY-MM-DD' as a calendar day."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InputError(f"{what} {text!r} is not a day; write YYYY-MM-DD.") from None


def parse_assignments(pairs: Sequence[str]) -> dict[str, str]:
    """`--param key=value` options into a dict; a malformed or repeated one is named (the last
    value silently winning would run a different report from the one asked for)."""
    result: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--param {pair!r} is not of the form key=value.")
        if key.strip() in result:
            raise InputError(
                f"--param {key.strip()} is given twice ({result[key.strip()]!r} and {value!r}); "
                "give it once."
            )
        result[key.strip()] = value
    return result


def bind_params(
    specs: Sequence[Param], raw: Mapping[str, str], tz: ZoneInfo, report: str
) -> dict[str, Any]:
    """Check every given parameter against the report's list and convert it."""
    known = {spec.name: spec for spec in specs}
    bound: dict[str, Any] = {}
    for name, text in raw.items():
        spec = known.get(name)
        if spec is None:
            accepted = ", ".join(known) or "none"
            raise InputError(
                f"The report {report} has no parameter {name!r}; it accepts: {accepted}."
            )
        if spec.kind == "int":
            try:
                bound[name] = int(text)
            except ValueError:
                raise InputError(
                    f"The parameter {name} must be a whole number, not {text!r}."
                ) from None
        elif spec.kind == "date":
            bound[name] = parse_moment(
                text, tz, end_of_day=spec.end_of_day, what=f"The parameter {name}"
            )
        elif spec.kind == "day":
            bound[name] = parse_day(text, f"The parameter {name}")
        else:
            bound[name] = text
    for spec in specs:
        if spec.name not in bound and spec.default is not None:
            bound[spec.name] = spec.default
    return bound
