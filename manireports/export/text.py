"""CSV, TSV, JSON and JSON Lines: the formats scripts read, streamed a chunk of rows at a time.

Speed matters here (a million-row CSV should cost about what a bare csv.writer loop costs, although
every timestamp is formatted), so each chunk is turned into columns of strings with C-level
map() calls and the lines are joined in one go. The csv module quotes; most rows need no quoting,
and for those its output is exactly the fields joined by commas, so a chunk whose joined text
shows no quote, comma, CR or LF inside a field is written as joined. Rows that do need quoting go
through csv.writer, one by one. `tests/test_export_text.py` checks the two paths give identical
bytes.

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
from functools import partial
from itertools import repeat
from typing import Any, BinaryIO

from manireports.export.model import ExportOptions, ReportTable
from manireports.export.values import (
    BadText,
    Convert,
    RowCounter,
    SiteClock,
    batches,
    converters,
    number_text,
    plain_text,
    row_converter,
)

UTF8_BOM = b"\xef\xbb\xbf"
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
            # A comprehension, not map(str, ...): CPython 3.11 specialises str(x) in bytecode
            # but not through map, which makes this three times faster. Floats are inlined
            # (100.0 reads 100, as 100 and Decimal('100.000') do), being the next most common.
            texts = [
                value if type(value) is str
                else str(value) if type(value) is int
                else (
                    text if "e" not in (text := repr(value)) else number_text(value)
                ) if type(value) is float and not value.is_integer()
                else plain_text(value)
                for value in values
            ]  # fmt: skip
        if guard and guard[index] and _FORMULA_CELL.search("\n".join(texts)):
            # Only a chunk where some cell might start like a formula is checked cell by cell.
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
# A cell starting with one of _FORMULA_START, found in a column's texts joined by newlines (a
# newline inside a text can only add a false alarm, which the cell-by-cell check then clears).
_FORMULA_CELL = re.compile("^[=+@\t\r-]", re.M)
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


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


def _plain(text: str, lines: int, width: int) -> bool:
    """True when `lines` joined CSV lines hold no character that csv.writer would quote."""
    breaks = lines - 1
    return (
        '"' not in text
        and text.count(",") == lines * (width - 1)
        and text.count("\n") == breaks
        and text.count("\r") == breaks
    )


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
        text = "\r\n".join(lines)
        if _plain(text, len(lines), width):
            return text + "\r\n"
        for line, fields in zip(lines, zip(*columns, strict=True), strict=True):
            if _plain(line, 1, width):
                target.write(line + "\r\n")
            else:
                writer.writerow(fields)
        return target.drain()

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
    apply = row_converter(converters(table.columns, "json", SiteClock(table.timezone)))
    encode: Callable[[Any], str] = json.JSONEncoder(
        ensure_ascii=False, separators=(",", ":"), allow_nan=False
    ).encode
    for chunk in batches(table.rows, len(names)):
        values = list(chunk if apply is None else map(apply, chunk))
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
