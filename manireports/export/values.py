"""Turning raw Moodle values into what each format shows, fast enough for a million rows.

Moodle stores times as Unix seconds, and a big export has one or two of them on every row, so the
conversion to site-local text is the hot path of every text export. `datetime.fromtimestamp` with a
`ZoneInfo` costs about ten times a csv cell, so `SiteClock` asks zoneinfo once per UTC day (and per
15-minute bucket on the few days whose offset changes) and does the rest with integer arithmetic
over cached strings. `tests/test_export_values.py` checks it against zoneinfo every 15 minutes
across DST transitions.
"""

from __future__ import annotations

import json
import math
import operator
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date, datetime
from decimal import Decimal
from itertools import islice
from typing import Any
from zoneinfo import ZoneInfo

from manireports.errors import RunError
from manireports.export.model import Column, ColumnKind

Convert = Callable[[Any], Any]

SECONDS_PER_DAY = 86_400
SECONDS_PER_HOUR = 3_600
BUCKET_SECONDS = 900
"""Every offset change in use today happens on a 15-minute boundary (Lord Howe shifts by 30)."""

CHUNK_ROWS = 1_000
"""Rows pulled from the source at a time: big enough to amortise a write, small enough to stream."""

PROGRESS_EVERY = 10_000

_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_EXCEL_EPOCH_SECONDS = 25_569 * SECONDS_PER_DAY
"""Excel's serial day 25569 is 1970-01-01 (its 1900 leap-year bug is before 1900-03 only)."""

_EXCEL_EPOCH_ORDINAL = date(1899, 12, 30).toordinal()
_HOUR_PREFIX_LIMIT = 1 << 16
"""Distinct hours cached (about 7 years of them, ~9 MB) before the cache starts over."""

_MINUTE_SECOND = tuple(f"{m:02d}:{s:02d}" for m in range(60) for s in range(60))
_HOUR_TEXT = tuple(f"{h:02d}:" for h in range(24))


class SiteClock:
    """Unix seconds to site-local wall time, without a zoneinfo call per value."""

    def __init__(self, timezone: ZoneInfo) -> None:
        self.timezone = timezone
        self._day_offsets: dict[int, int | None] = {}
        self._bucket_offsets: dict[int, int | None] = {}
        self._day_texts: dict[int, str] = {}
        # Hour prefixes are keyed by (seconds + shift) // 3600, which lines UTC hours up with local
        # hours for every offset congruent to `shift` modulo an hour (+05:30 has shift 1800). The
        # zone's current offset picks it; hours at another phase take the slower exact path.
        self._shift = self._zone_offset(int(datetime.now(timezone).timestamp())) % SECONDS_PER_HOUR
        self._hour_prefixes: dict[int, str | None] = {}

    def _zone_offset(self, seconds: int) -> int:
        delta = datetime.fromtimestamp(seconds, self.timezone).utcoffset()
        return int(delta.total_seconds()) if delta else 0

    def _day_offset(self, day: int) -> int | None:
        # Sampling every hour finds any change that lasts longer than an hour; tzdata has no
        # change that is undone within the hour it was made.
        start = day * SECONDS_PER_DAY
        samples = [start + hour * SECONDS_PER_HOUR for hour in range(24)]
        samples.append(start + SECONDS_PER_DAY - 1)
        offsets = {self._zone_offset(moment) for moment in samples}
        return offsets.pop() if len(offsets) == 1 else None

    def offset(self, seconds: int) -> int | None:
        """The UTC offset at `seconds`, or None inside the one bucket where it changes."""
        day = seconds // SECONDS_PER_DAY
        try:
            offset = self._day_offsets[day]
        except KeyError:
            offset = self._day_offsets[day] = self._day_offset(day)
        if offset is not None:
            return offset
        bucket = seconds // BUCKET_SECONDS
        try:
            return self._bucket_offsets[bucket]
        except KeyError:
            first = self._zone_offset(bucket * BUCKET_SECONDS)
            last = self._zone_offset(bucket * BUCKET_SECONDS + BUCKET_SECONDS - 1)
            offset = self._bucket_offsets[bucket] = first if first == last else None
            return offset

    def local_seconds(self, seconds: int) -> int:
        """Seconds since 1970-01-01 00:00 in local wall time."""
        offset = self.offset(seconds)
        if offset is None:
            offset = self._zone_offset(seconds)
        return seconds + offset

    def day_text(self, local_day: int) -> str:
        """'YYYY-MM-DD ' for a local day number, cached: a report spans few distinct days."""
        try:
            return self._day_texts[local_day]
        except KeyError:
            text = date.fromordinal(_EPOCH_ORDINAL + local_day).isoformat() + " "
            self._day_texts[local_day] = text
            return text

    def text(self, seconds: int) -> str:
        """'YYYY-MM-DD HH:MM:SS' in site time; the reference path the fast formatter must equal."""
        day, second = divmod(self.local_seconds(seconds), SECONDS_PER_DAY)
        hour, rest = divmod(second, SECONDS_PER_HOUR)
        return self.day_text(day) + _HOUR_TEXT[hour] + _MINUTE_SECOND[rest]

    def _hour_prefix(self, key: int) -> str | None:
        # The UTC span of a key shares one local 'YYYY-MM-DD HH:' when one offset holds all
        # through it and that offset is in phase with the shift; otherwise the caller goes exact.
        start = key * SECONDS_PER_HOUR - self._shift
        end = start + 3_599
        offset = self.offset(start)
        days = self._day_offsets
        if not (
            # The common case, both ends on days of one offset each: that offset throughout.
            offset is not None
            and self.offset(end) == offset
            and days[start // SECONDS_PER_DAY] is not None
            and days[end // SECONDS_PER_DAY] is not None
        ):
            moments = [*range(start, start + SECONDS_PER_HOUR, BUCKET_SECONDS), end]
            offsets = {self.offset(moment) for moment in moments}
            if len(offsets) != 1:
                return None
            offset = offsets.pop()
        if offset is None or (offset - self._shift) % SECONDS_PER_HOUR:
            return None
        day, second = divmod(start + offset, SECONDS_PER_DAY)
        return self.day_text(day) + _HOUR_TEXT[second // SECONDS_PER_HOUR]

    def timestamp_text(self) -> Convert:
        """A formatter for timestamp cells: '' for never (0 or None), else site-local text."""
        prefixes = self._hour_prefixes
        minute_second = _MINUTE_SECOND
        shift = self._shift

        def slow(value: Any) -> str:
            if isinstance(value, datetime):
                return self._datetime_text(value)
            seconds = _as_seconds(value)
            if seconds is None:
                return str(value)
            if not seconds:
                return ""
            key = (seconds + shift) // SECONDS_PER_HOUR
            try:
                if key not in prefixes:
                    if len(prefixes) >= _HOUR_PREFIX_LIMIT:
                        prefixes.clear()
                    prefixes[key] = self._hour_prefix(key)
                prefix = prefixes[key]
                if prefix is None:
                    return self.text(seconds)
            except (OverflowError, ValueError, OSError):
                return str(value)
            return prefix + minute_second[(seconds + shift) % SECONDS_PER_HOUR]

        def fast(value: Any) -> str:
            if not value:
                return ""
            # Six operations for an int whose hour is cached; everything else (a new hour, an
            # hour with an offset change, Decimal, float, text) raises here and goes slow.
            try:
                shifted = value + shift
                text: str = prefixes[shifted // 3_600] + minute_second[shifted % 3_600]
            except (KeyError, TypeError):
                return slow(value)
            return text

        return fast

    def excel_serial(self) -> Convert:
        """A converter for timestamp cells to Excel serial days in site time, None for never."""
        day_offsets = self._day_offsets
        epoch = _EXCEL_EPOCH_SECONDS

        def slow(value: Any) -> float | None:
            if isinstance(value, datetime):
                return _excel_serial_of(self._local_datetime(value))
            seconds = _as_seconds(value)
            if not seconds:
                return None
            return (self.local_seconds(seconds) + _EXCEL_EPOCH_SECONDS) / SECONDS_PER_DAY

        def fast(value: Any) -> float | None:
            if not value:
                return None
            try:
                serial: float = (value + day_offsets[value // 86_400] + epoch) / 86_400
            except (KeyError, TypeError):
                return slow(value)
            return serial

        return fast

    def _local_datetime(self, value: datetime) -> datetime:
        # A driver that hands back datetimes gives naive ones in the database session's zone,
        # which for Moodle is the site's; aware ones are converted.
        if value.tzinfo is None:
            return value
        return value.astimezone(self.timezone).replace(tzinfo=None)

    def _datetime_text(self, value: datetime) -> str:
        return self._local_datetime(value).strftime("%Y-%m-%d %H:%M:%S")

    def local_date(self, value: datetime) -> date:
        """The site-local calendar day of a datetime found in a date column."""
        return self._local_datetime(value).date()


def _as_seconds(value: Any) -> int | None:
    """Unix seconds from what drivers return for BIGINT columns and aggregates over them."""
    if isinstance(value, int):
        return value
    if isinstance(value, float | Decimal):
        return int(value) if math.isfinite(value) else None
    if isinstance(value, str | bytes):
        try:
            return int(value)
        except ValueError:
            return None
    return None


def _excel_serial_of(value: datetime) -> float:
    midnight = value.replace(hour=0, minute=0, second=0, microsecond=0)
    fraction = (value - midnight).total_seconds() / SECONDS_PER_DAY
    return value.toordinal() - _EXCEL_EPOCH_ORDINAL + fraction


class _Booleans(dict[Any, Any]):
    """0/1/True/False (and the odd 't'/'f' text) to one pair of outputs, at dict-lookup speed."""

    def __init__(self, true: Any, false: Any, null: Any) -> None:
        super().__init__({True: true, False: false, None: null})
        self._true = true
        self._false = false

    def __missing__(self, key: Any) -> Any:
        if isinstance(key, str | bytes):
            text = key.decode() if isinstance(key, bytes) else key
            falsy = text.strip().lower() in {"", "0", "f", "false", "n", "no"}
            return self._false if falsy else self._true
        return self._true if key else self._false


BOOL_TEXT = _Booleans("true", "false", "")
BOOL_JSON = _Booleans(True, False, None)


def date_text(clock: SiteClock) -> Convert:
    """Date cells as 'YYYY-MM-DD' text; a datetime is read as its site-local day."""

    def convert(value: Any) -> str | None:
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, datetime):
            return clock.local_date(value).isoformat()
        if isinstance(value, date):
            return value.isoformat()
        return str(value)

    return convert


def date_serial(clock: SiteClock) -> Convert:
    """Date cells as Excel serial days; text that is not a date stays text."""
    serials: dict[str, int] = {}

    def convert(value: Any) -> int | str | None:
        if value is None or value == "":
            return None
        if isinstance(value, str):
            try:
                return serials[value]
            except KeyError:
                try:
                    serial = date.fromisoformat(value[:10]).toordinal() - _EXCEL_EPOCH_ORDINAL
                except ValueError:
                    return value
                if len(serials) < _HOUR_PREFIX_LIMIT:
                    serials[value] = serial
                return serial
        if isinstance(value, datetime):
            value = clock.local_date(value)
        if isinstance(value, date):
            return value.toordinal() - _EXCEL_EPOCH_ORDINAL
        return str(value)

    return convert


def number_text(value: Any) -> str:
    """One text for a number whatever the engine: MariaDB's Decimal('37.50000'), PostgreSQL's
    numeric and SQLite's 37.5 all read 37.5, and 100.00000, 100.0 and 100 all read 100."""
    if isinstance(value, Decimal):
        if not value.is_finite():
            return str(value)
        if value == value.to_integral_value():
            return str(int(value))
        return format(value.normalize(), "f")
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        shown = repr(value)
        return format(Decimal(shown), "f") if "e" in shown else shown
    return str(value)


def plain_text(value: Any) -> str:
    """A raw value as text for CSV and TSV: NULL as '', numbers alike on every engine, bytes
    decoded (a byte that is not UTF-8 becomes a lone surrogate, repaired and counted later)."""
    if value is None:
        return ""
    if type(value) is str:
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", "surrogateescape")
    if isinstance(value, float | Decimal):
        return number_text(value)
    if isinstance(value, dict | list):
        # Structured details (the audit log's) as one JSON text, never Python's repr.
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


_SURROGATES = re.compile("[\ud800-\udfff]")
REPLACEMENT = "\ufffd"


class BadText:
    """Cells whose bytes are not UTF-8, counted per column, so the run can say so once.

    Drivers hand such cells over as bytes or as text with lone surrogates (see
    moodle.connection); each becomes its text with U+FFFD in place of the bad bytes.
    """

    def __init__(self, columns: Sequence[Column]) -> None:
        self.names = [column.name for column in columns]
        self.counts: dict[str, int] = {}

    def repair(self, value: Any, index: int) -> Any:
        """The value with bytes decoded and bad bytes replaced; anything else unchanged."""
        if type(value) is str:
            if value.isascii() or not _SURROGATES.search(value):
                return value
        elif isinstance(value, bytes | bytearray | memoryview):
            value = bytes(value).decode("utf-8", "surrogateescape")
            if not _SURROGATES.search(value):
                return value
        elif isinstance(value, dict | list):
            return plain_text(value)
        else:
            return value
        name = self.names[index]
        self.counts[name] = self.counts.get(name, 0) + 1
        return _SURROGATES.sub(REPLACEMENT, value)

    def rows(self, chunk: list[Sequence[Any]]) -> list[Sequence[Any]]:
        """The chunk with every cell repaired; rows without a bad cell are kept as they are."""
        repair = self.repair
        out: list[Sequence[Any]] = []
        for row in chunk:
            fixed = [repair(value, index) for index, value in enumerate(row)]
            out.append(row if all(map(operator.is_, fixed, row)) else tuple(fixed))
        return out

    def texts(self, texts: list[str], index: int) -> list[str]:
        """A column of text with its bad cells repaired (the cheap path found one)."""
        return [self.repair(text, index) for text in texts]

    def report(self, warn: Callable[[str], None] | None) -> None:
        """One warning for the whole run, naming each column and how many rows it had."""
        if not self.counts or warn is None:
            return
        parts = ", ".join(
            f"{name!r} ({count} row{'s' if count != 1 else ''})"
            for name, count in self.counts.items()
        )
        warn(
            f"Some values are not valid UTF-8 text and were written with U+FFFD in place of "
            f"the bad bytes: column {parts}."
        )


def json_int(value: Any) -> Any:
    """Integers stay exact; a Decimal from SUM() becomes an int when it is whole."""
    if value is None or type(value) is int:
        return value
    if isinstance(value, Decimal):
        if not value.is_finite():
            return None
        return int(value) if value == value.to_integral_value() else float(value)
    return json_float(value)


def json_float(value: Any) -> Any:
    """Floats and Decimals as JSON numbers, whole ones as integers (100, never 100.0 on one
    engine and 100 on another); NaN and infinities, which JSON lacks, as null."""
    if value is None or type(value) is int:
        return value
    if isinstance(value, float | Decimal):
        number = float(value)
        if not math.isfinite(number):
            return None
        if number.is_integer() and abs(number) < 1e16:
            return int(number)
        return number
    return value


def json_text(value: Any) -> Any:
    """Text as JSON strings; structured details stay JSON objects, not JSON in a string."""
    if value is None or type(value) is str or isinstance(value, dict | list):
        return value
    return plain_text(value)


def human_number(value: Any) -> str:
    """Numbers as the gradebook shows them: integers whole, others with at most two decimals."""
    if value is None:
        return ""
    if type(value) is int:
        return str(value)
    if isinstance(value, float | Decimal):
        if not math.isfinite(value):
            return str(value)
        if value == int(value):
            return str(int(value))
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return str(value)


def human_text(value: Any) -> str:
    return "" if value is None else plain_text(value)


def _timestamp_json(clock: SiteClock) -> Convert:
    text = clock.timestamp_text()
    return lambda value: text(value) or None


def converters(columns: Sequence[Column], target: str, clock: SiteClock) -> list[Convert | None]:
    """One converter per column for a target ('csv', 'json', 'human'), None where raw is right.

    'csv' leaves numbers, text and dates alone (the csv module writes str() of them, which is
    already right), so the common columns cost nothing; 'human' is for PDF and HTML.
    """
    table: dict[str, dict[ColumnKind, Convert | None]] = {
        "csv": {
            "int": None,
            "float": None,
            "text": None,
            "date": None,
            "bool": BOOL_TEXT.__getitem__,
            "timestamp": clock.timestamp_text(),
        },
        "json": {
            "int": json_int,
            "float": json_float,
            "text": json_text,
            "date": date_text(clock),
            "bool": BOOL_JSON.__getitem__,
            "timestamp": _timestamp_json(clock),
        },
        "human": {
            "int": human_number,
            "float": human_number,
            "text": human_text,
            "date": _or_empty(date_text(clock)),
            "bool": BOOL_TEXT.__getitem__,
            "timestamp": clock.timestamp_text(),
        },
        "xlsx": {
            "int": None,
            "float": None,
            "text": None,
            "date": date_serial(clock),
            "bool": BOOL_JSON.__getitem__,
            "timestamp": clock.excel_serial(),
        },
    }
    chosen = table[target]
    return [chosen[column.kind] for column in columns]


def _or_empty(convert: Convert) -> Convert:
    return lambda value: convert(value) or ""


def row_converter(
    convert: Sequence[Convert | None],
) -> Callable[[Sequence[Any]], Sequence[Any]] | None:
    """A function applying the converters to a row, or None when every column passes as is."""
    pairs = [(index, function) for index, function in enumerate(convert) if function is not None]
    if not pairs:
        return None

    def apply(row: Sequence[Any]) -> list[Any]:
        values = list(row)
        for index, function in pairs:
            values[index] = function(values[index])
        return values

    return apply


# The values a JSON converter returns as they are: a column holding only these needs no call per
# cell (the ids, counts and names that make up most rows).
_PASSES_AS_IS: dict[Convert, frozenset[type]] = {
    json_int: frozenset({int, type(None)}),
    json_float: frozenset({int, type(None)}),
    json_text: frozenset({str, type(None)}),
}


def chunk_converter(
    convert: Sequence[Convert | None],
) -> Callable[[list[Sequence[Any]]], list[Sequence[Any]]] | None:
    """A function applying the converters to a chunk of rows column by column, or None when
    every column passes as is. A column whose values, in this chunk, are all of types its
    converter returns unchanged is left alone: the types are found in C, once per column, instead
    of a Python call per cell."""
    pairs = [(index, function) for index, function in enumerate(convert) if function is not None]
    if not pairs:
        return None

    def apply(chunk: list[Sequence[Any]]) -> list[Sequence[Any]]:
        columns = list(zip(*chunk, strict=True))
        changed = False
        for index, function in pairs:
            values = columns[index]
            passes = _PASSES_AS_IS.get(function)
            if passes is not None and set(map(type, values)) <= passes:
                continue
            columns[index] = tuple(map(function, values))
            changed = True
        return list(zip(*columns, strict=True)) if changed else chunk

    return apply


def display_width(text: str) -> int:
    """Terminal-style width: CJK and other wide characters take two cells."""
    if text.isascii():
        return len(text)
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def batches(
    rows: Iterable[Sequence[Any]], width: int, size: int = CHUNK_ROWS
) -> Iterator[list[Sequence[Any]]]:
    """The rows in lists of `size`, so writers amortise per-write costs while streaming.

    A row with the wrong number of values is a bug in the report; it stops the export rather
    than shifting every later value into the wrong column.
    """
    iterator = iter(rows)
    done = 0
    while chunk := list(islice(iterator, size)):
        if set(map(len, chunk)) != {width}:
            bad = next(index for index, row in enumerate(chunk) if len(row) != width)
            raise RunError(
                f"Row {done + bad + 1} of the report has {len(chunk[bad])} values for "
                f"{width} columns; the report's SQL and its column list disagree."
            )
        done += len(chunk)
        yield chunk


class RowCounter:
    """Counts written rows and tells `progress` every PROGRESS_EVERY rows and at the end."""

    def __init__(self, progress: Callable[[int], None] | None) -> None:
        self.count = 0
        self._progress = progress
        self._next = PROGRESS_EVERY
        self._reported = 0

    def add(self, rows: int) -> None:
        self.count += rows
        if self._progress is not None and self.count >= self._next:
            self._progress(self.count)
            self._reported = self.count
            self._next = (self.count // PROGRESS_EVERY + 1) * PROGRESS_EVERY

    def finish(self) -> int:
        if self._progress is not None and self._reported != self.count:
            self._progress(self.count)
        return self.count


_CONTROL_ESCAPES = {
    code: f"\\x{code:02x}"
    for code in (*range(0x00, 0x20), *range(0x7F, 0xA0))
    if chr(code) not in "\n\t"
}
_CONTROL_ESCAPES.update({ord("\r"): "\\r"})
_CONTROL_ESCAPES.update(
    {code: f"\\u{code:04x}" for code in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))}
)


def visible_text(text: str) -> str:
    """Text safe to send to a terminal: control characters shown as escapes, never obeyed.

    A user name holding an ESC sequence could otherwise recolour, retitle or clear the
    operator's terminal; bidirectional overrides could make one value read as another.
    Line breaks and tabs stay, they are layout and harmless.
    """
    if text.isprintable():
        return text
    return text.translate(_CONTROL_ESCAPES)
