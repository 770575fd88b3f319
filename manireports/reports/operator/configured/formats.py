"""Column formats: how a field's raw value is shown, mapped onto the export's column kinds.

A format changes the value after the query, in the row stream, so sorting and grouping see the
raw value, and every export format (CSV, JSON, XLSX, PDF, HTML) shows the result the way it
shows any column of that kind: a `date` is a real date in XLSX, a `number` stays a number.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from manireports.errors import InputError
from manireports.export import ColumnKind

FORMATS = ("date", "datetime", "duration", "number", "percent")
MAX_DECIMALS = 6
_NUMBERS: tuple[ColumnKind, ...] = ("int", "float")
# The kinds each format reads.
_READS: Mapping[str, tuple[ColumnKind, ...]] = {
    "date": ("timestamp",),
    "datetime": ("timestamp",),
    "duration": _NUMBERS,
    "number": _NUMBERS,
    "percent": _NUMBERS,
}
_DEFAULT_DECIMALS = {"number": 2, "percent": 1}

Convert = Callable[[Any], Any]


@dataclass(frozen=True)
class Format:
    name: str
    decimals: int | None = None

    def kind(self) -> ColumnKind:
        """The export kind of the formatted column."""
        if self.name == "date":
            return "date"
        if self.name == "datetime":
            return "timestamp"
        if self.name == "duration":
            return "text"
        return "int" if self.decimals == 0 else "float"

    def converter(self, timezone: ZoneInfo) -> Convert | None:
        """The conversion of one raw value; None when the raw value already is the result."""
        if self.name == "date":
            return lambda value: _local_date(value, timezone)
        if self.name == "duration":
            return _duration
        if self.name in ("number", "percent"):
            factor = 100 if self.name == "percent" else 1
            return _rounder(factor, self.decimals or 0)
        return None


def parse_format(item: Mapping[str, Any], kind: ColumnKind, name: str, where: str) -> Format | None:
    """The format an item of columns or aggregates asks for, checked against its field's kind."""
    chosen = item.get("format")
    decimals = item.get("decimals")
    if chosen is None:
        if decimals is not None:
            raise InputError(f"{where}: decimals goes with format number or percent.")
        return None
    if not isinstance(chosen, str) or chosen.strip().lower() not in FORMATS:
        raise InputError(
            f"Unknown format {chosen!r} in {where}; choose one of: {', '.join(FORMATS)}."
        )
    chosen = chosen.strip().lower()
    if kind not in _READS[chosen]:
        wanted = " or ".join("time" if k == "timestamp" else "number" for k in _READS[chosen])
        raise InputError(
            f"{where}: format {chosen} needs a {wanted} field; {name} is {_kind_name(kind)}."
        )
    if decimals is not None:
        if chosen not in _DEFAULT_DECIMALS:
            raise InputError(f"{where}: decimals goes with format number or percent.")
        if isinstance(decimals, bool) or not isinstance(decimals, int):
            raise InputError(f"{where}: decimals must be a whole number, not {decimals!r}.")
        if not 0 <= decimals <= MAX_DECIMALS:
            raise InputError(f"{where}: decimals must be from 0 to {MAX_DECIMALS}.")
    elif chosen in _DEFAULT_DECIMALS:
        decimals = _DEFAULT_DECIMALS[chosen]
    return Format(chosen, decimals)


def _kind_name(kind: ColumnKind) -> str:
    return {"timestamp": "a time", "bool": "yes/no", "text": "text"}.get(kind, "a number")


def row_formatter(
    formats: Sequence[Format | None],
) -> Callable[[Iterator[tuple[Any, ...]], ZoneInfo], Iterator[tuple[Any, ...]]] | None:
    """A streaming step applying the formats to each row; None when no value changes."""
    if all(f is None or f.name == "datetime" for f in formats):
        return None

    def apply(rows: Iterator[tuple[Any, ...]], timezone: ZoneInfo) -> Iterator[tuple[Any, ...]]:
        converters = [None if f is None else f.converter(timezone) for f in formats]
        for row in rows:
            yield tuple(
                value if convert is None or value is None else convert(value)
                for convert, value in zip(converters, row, strict=True)
            )

    return apply


def _local_date(value: Any, timezone: ZoneInfo) -> date:
    return datetime.fromtimestamp(int(value), timezone).date()


def _duration(value: Any) -> str:
    """Seconds as H:MM:SS; hours go past 24 (a total of 30 hours is 30:00:00)."""
    seconds = round(float(value))
    sign = "-" if seconds < 0 else ""
    minutes, second = divmod(abs(seconds), 60)
    hours, minute = divmod(minutes, 60)
    return f"{sign}{hours}:{minute:02d}:{second:02d}"


def _rounder(factor: int, decimals: int) -> Convert:
    def convert(value: Any) -> int | float:
        # Through the shortest decimal text of a float, so 2.675 rounds as it reads: to 2.68.
        number = (value if isinstance(value, Decimal) else Decimal(str(value))) * factor
        rounded = number.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)
        return int(rounded) if decimals == 0 else float(rounded)

    return convert
