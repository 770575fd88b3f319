"""CSV, TSV, JSON and JSON Lines: the formats scripts read, streamed a chunk of rows at a time.

Speed matters here (a million-row CSV should cost about what a bare csv.writer loop costs, although
every timestamp is formatted), so each chunk is turned into columns of strings with C-level
map() calls and the lines are joined in one go. The csv module quotes; most rows need no quoting,
and for those its output is exactly the fields joined by commas. The rows holding a quote, comma,
CR or LF in a field are found a column at a time (a column without any, nearly every one, is not
searched cell by cell) and only they go through csv.writer. `tests/test_export_text.py` checks
the two paths give identical bytes.

TSV follows the IANA text/tab-separated-values rules rather than CSV's: there is no quoting, so a
tab, carriage return or newline inside a value becomes a space, and lines end with '\\n' because
TSV is read by cut, awk and sort, where a '\\r' would cling to the last field.

JSON is an array of objects and JSON Lines one object per line, both keyed by column name, with
null for NULL and for a "never" timestamp.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from functools import partial
from itertools import compress, count, repeat
from operator import itemgetter
from typing import Any, BinaryIO

from manireports.export.model import ExportOptions, ReportTable
from manireports.export.values import (
    BadText,
    Convert,
    RowCounter,
    SiteClock,
    batches,
    chunk_converter,
    converters,
    number_text,
    plain_text,
)

UTF8_BOM = b"\xef\xbb\xbf"
_STR = {str}
_STR_OR_NULL = {str, type(None)}
_INT = {int}
_DECIMAL_OR_NULL = {Decimal, type(None)}


class _DecimalTexts(dict[Decimal | None, str]):
    """The text of each Decimal (and of NULL) once seen, up to a bound: number_text normalises,
    which costs several times a dict lookup, and equal Decimals always read the same."""

    def __missing__(self, value: Decimal | None) -> str:
        text = plain_text(value)
        if len(self) < _DECIMAL_TEXTS_LIMIT:
            self[value] = text
        return text


_DECIMAL_TEXTS_LIMIT = 1 << 16
_DECIMAL_TEXTS = _DecimalTexts()
_TSV_BLANKS = str.maketrans({"\t": " ", "\r": " ", "\n": " "})


def _text_columns(
    chunk: list[Sequence[Any]],
    convert: Sequence[Convert | None],
    guard: Sequence[bool] = (),
) -> list[list[str]]:
    """The chunk as columns of strings, NULL as ''; what csv.writer would write unquoted."""
    columns: list[list[str]] = []
    for index, (values, function) in enumerate(zip(zip(*chunk, strict=True), convert, strict=True)):
        if function is not None:
            # The csv-target converters (timestamps, booleans) already return text.
            texts = list(map(function, values))
        else:
            # The types of the chunk's values, found in C, pick one loop for the whole column:
            # text and integer columns (nearly all) skip the per-cell type tests. Comprehensions,
            # not map(str, ...): CPython 3.11 specialises str(x) in bytecode but not through map,
            # which makes them three times faster.
            kinds = set(map(type, values))
            if kinds == _STR:
                texts = list(values)
            elif kinds <= _STR_OR_NULL:
                texts = ["" if value is None else value for value in values]
            elif kinds == _INT:
                texts = [str(value) for value in values]
            elif kinds <= _DECIMAL_OR_NULL:
                # Rounded figures (percentages, grades): few distinct values, each worked out once.
                texts = list(map(_DECIMAL_TEXTS.__getitem__, values))
            else:
                # Floats are inlined (100.0 reads 100, as 100 and Decimal('100.000') do), being
                # the next most common.
                texts = [
                    value if type(value) is str
                    else str(value) if type(value) is int
                    else (
                        text if "e" not in (text := repr(value)) else number_text(value)
                    ) if type(value) is float and not value.is_integer()
                    else plain_text(value)
                    for value in values
                ]  # fmt: skip
        if guard and guard[index] and _may_start_formula(texts):
            texts = [_guarded(text) for text in texts]
        columns.append(texts)
    return columns


def _encoded(text: str, columns: list[list[str]], bad: BadText, redo: Callable[[], str]) -> bytes:
    """The chunk's bytes; bad bytes are found for free, as text holding one cannot be encoded,
    and only then is the chunk repaired cell by cell and rendered again by `redo`."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        for index, texts in enumerate(columns):
            columns[index] = bad.texts(texts, index)
        return redo().encode("utf-8")


_FORMULA_START = frozenset("=+-@\t\r")
_FIRST_CHARACTER = itemgetter(slice(0, 1))
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def _may_start_formula(texts: list[str]) -> bool:
    """Whether a cell of the column starts like a formula, found in C from the first characters:
    only such a column is checked cell by cell."""
    return not _FORMULA_START.isdisjoint(map(_FIRST_CHARACTER, texts))


def _guarded(text: str) -> str:
    """A cell a spreadsheet would run as a formula, made text with a leading apostrophe.

    A number such as -12.5 is data, not a formula, and stays as it is.
    """
    if text[:1] in _FORMULA_START and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


def _guard_columns(table: ReportTable, options: ExportOptions) -> list[bool]:
    """Which columns the formula guard applies to: text columns, when it is on."""
    if not options.formula_guard:
        return []
    return [column.kind in ("text", "date") for column in table.columns]


_QUOTED = re.compile('[",\r\n]')
"""What makes csv.writer quote a field (QUOTE_MINIMAL with ',' and '\\r\\n')."""
_QUOTED_CHARS = ('"', ",", "\r", "\n")


def _quoted_rows(columns: list[list[str]]) -> set[int]:
    """The rows of a chunk holding a field that needs quoting, found a column at a time in C:
    a column whose joined text needs none (nearly every one) is not searched cell by cell."""
    rows: set[int] = set()
    for texts in columns:
        joined = "".join(texts)
        if any(char in joined for char in _QUOTED_CHARS):
            rows.update(compress(count(), map(_QUOTED.search, texts)))
    return rows


class _Lines:
    """A file-like target for csv.writer that keeps each rendered row as a string."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.write = self.lines.append

    def drain(self) -> str:
        text = "".join(self.lines)
        self.lines.clear()
        return text


def _header(stream: BinaryIO, options: ExportOptions, line: str) -> None:
    if options.bom:
        stream.write(UTF8_BOM)
    stream.write(line.encode("utf-8"))


def write_csv(table: ReportTable, stream: BinaryIO, options: ExportOptions) -> int:
    """RFC 4180: comma, double quotes only where needed, CRLF line ends, header first."""
    width = len(table.columns)
    convert = converters(table.columns, "csv", SiteClock(table.timezone))
    target = _Lines()
    writer = csv.writer(target, lineterminator="\r\n")
    writer.writerow([column.heading for column in table.columns])
    _header(stream, options, target.drain())
    counter = RowCounter(options.progress)
    bad = BadText(table.columns)
    guard = _guard_columns(table, options)

    def render(columns: list[list[str]]) -> str:
        if width < 2:
            # A lone empty field must be written '""', which only csv.writer knows to do.
            writer.writerows(zip(*columns, strict=True))
            return target.drain()
        lines = list(map(",".join, zip(*columns, strict=True)))
        for row in _quoted_rows(columns):
            writer.writerow([texts[row] for texts in columns])
            lines[row] = target.drain()[:-2]
        return "\r\n".join(lines) + "\r\n"

    for chunk in batches(table.rows, width):
        columns = _text_columns(chunk, convert, guard)
        stream.write(_encoded(render(columns), columns, bad, partial(render, columns)))
        stream.flush()
        counter.add(len(chunk))
    bad.report(options.warn)
    return counter.finish()


def write_tsv(table: ReportTable, stream: BinaryIO, options: ExportOptions) -> int:
    """Tab-separated, unquoted; tabs and line breaks inside values become spaces."""
    width = len(table.columns)
    convert = converters(table.columns, "csv", SiteClock(table.timezone))
    names = [column.heading.translate(_TSV_BLANKS) for column in table.columns]
    _header(stream, options, "\t".join(names) + "\n")
    counter = RowCounter(options.progress)
    bad = BadText(table.columns)
    guard = _guard_columns(table, options)

    def render(columns: list[list[str]]) -> str:
        return "\n".join(map("\t".join, zip(*columns, strict=True))) + "\n"

    for chunk in batches(table.rows, width):
        columns = [
            list(map(str.translate, texts, repeat(_TSV_BLANKS)))
            for texts in _text_columns(chunk, convert, guard)
        ]
        stream.write(_encoded(render(columns), columns, bad, partial(render, columns)))
        stream.flush()
        counter.add(len(chunk))
    bad.report(options.warn)
    return counter.finish()


def _json_rows(table: ReportTable, bad: BadText) -> Iterator[list[str]]:
    """Each chunk of rows as JSON object texts, keyed by column name."""
    names = [column.name for column in table.columns]
    apply = chunk_converter(converters(table.columns, "json", SiteClock(table.timezone)))
    encode: Callable[[Any], str] = json.JSONEncoder(
        ensure_ascii=False, separators=(",", ":"), allow_nan=False
    ).encode
    for chunk in batches(table.rows, len(names)):
        values = chunk if apply is None else apply(chunk)
        objects = [encode(dict(zip(names, row, strict=True))) for row in values]
        try:
            "".join(objects).encode("utf-8")
        except UnicodeEncodeError:
            # Only a chunk holding bad bytes pays for the cell-by-cell repair.
            objects = [encode(dict(zip(names, row, strict=True))) for row in bad.rows(values)]
        yield objects


def write_json(table: ReportTable, stream: BinaryIO, options: ExportOptions) -> int:
    """One JSON array of objects, written as it goes: the list is never built in memory."""
    counter = RowCounter(options.progress)
    bad = BadText(table.columns)
    separator = "[\n"
    for objects in _json_rows(table, bad):
        stream.write((separator + ",\n".join(objects)).encode("utf-8"))
        stream.flush()
        separator = ",\n"
        counter.add(len(objects))
    stream.write(b"[]\n" if separator == "[\n" else b"\n]\n")
    bad.report(options.warn)
    return counter.finish()


def write_jsonl(table: ReportTable, stream: BinaryIO, options: ExportOptions) -> int:
    """One JSON object per line (JSON Lines, also called NDJSON)."""
    counter = RowCounter(options.progress)
    bad = BadText(table.columns)
    for objects in _json_rows(table, bad):
        stream.write(("\n".join(objects) + "\n").encode("utf-8"))
        stream.flush()
        counter.add(len(objects))
    bad.report(options.warn)
    return counter.finish()
