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
from collections.abc import Callable, Iterator, Sequence
from itertools import repeat
from typing import Any, BinaryIO

from manireports.export.model import ExportOptions, ReportTable
from manireports.export.values import (
    Convert,
    RowCounter,
    SiteClock,
    batches,
    converters,
    row_converter,
)

UTF8_BOM = b"\xef\xbb\xbf"
_TSV_BLANKS = str.maketrans({"\t": " ", "\r": " ", "\n": " "})


def _text_columns(chunk: list[Sequence[Any]], convert: Sequence[Convert | None]) -> list[list[str]]:
    """The chunk as columns of strings, NULL as ''; what csv.writer would write unquoted."""
    columns: list[list[str]] = []
    for values, function in zip(zip(*chunk, strict=True), convert, strict=True):
        if function is not None:
            # The csv-target converters (timestamps, booleans) already return text.
            columns.append(list(map(function, values)))
        else:
            # A comprehension, not map(str, ...): CPython 3.11 specialises str(x) in bytecode
            # but not through map, which makes this three times faster.
            columns.append(["" if value is None else str(value) for value in values])
    return columns


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
    writer.writerow([column.name for column in table.columns])
    _header(stream, options, target.drain())
    apply = row_converter(convert)
    counter = RowCounter(options.progress)
    for chunk in batches(table.rows, width):
        if width < 2:
            # A lone empty field must be written '""', which only csv.writer knows to do.
            writer.writerows(chunk if apply is None else map(apply, chunk))
            text = target.drain()
        else:
            columns = _text_columns(chunk, convert)
            lines = list(map(",".join, zip(*columns, strict=True)))
            text = "\r\n".join(lines)
            if _plain(text, len(lines), width):
                text += "\r\n"
            else:
                for line, fields in zip(lines, zip(*columns, strict=True), strict=True):
                    if _plain(line, 1, width):
                        target.write(line + "\r\n")
                    else:
                        writer.writerow(fields)
                text = target.drain()
        stream.write(text.encode("utf-8"))
        stream.flush()
        counter.add(len(chunk))
    return counter.finish()


def write_tsv(table: ReportTable, stream: BinaryIO, options: ExportOptions) -> int:
    """Tab-separated, unquoted; tabs and line breaks inside values become spaces."""
    width = len(table.columns)
    convert = converters(table.columns, "csv", SiteClock(table.timezone))
    names = [column.name.translate(_TSV_BLANKS) for column in table.columns]
    _header(stream, options, "\t".join(names) + "\n")
    counter = RowCounter(options.progress)
    for chunk in batches(table.rows, width):
        columns = [
            list(map(str.translate, texts, repeat(_TSV_BLANKS)))
            for texts in _text_columns(chunk, convert)
        ]
        text = "\n".join(map("\t".join, zip(*columns, strict=True))) + "\n"
        stream.write(text.encode("utf-8"))
        stream.flush()
        counter.add(len(chunk))
    return counter.finish()


def _json_rows(table: ReportTable) -> Iterator[list[str]]:
    """Each chunk of rows as JSON object texts, keyed by column name."""
    names = [column.name for column in table.columns]
    apply = row_converter(converters(table.columns, "json", SiteClock(table.timezone)))
    encode: Callable[[Any], str] = json.JSONEncoder(
        ensure_ascii=False, separators=(",", ":"), allow_nan=False
    ).encode
    for chunk in batches(table.rows, len(names)):
        values = chunk if apply is None else map(apply, chunk)
        yield [encode(dict(zip(names, row, strict=True))) for row in values]


def write_json(table: ReportTable, stream: BinaryIO, options: ExportOptions) -> int:
    """One JSON array of objects, written as it goes: the list is never built in memory."""
    counter = RowCounter(options.progress)
    separator = "[\n"
    for objects in _json_rows(table):
        stream.write((separator + ",\n".join(objects)).encode("utf-8"))
        stream.flush()
        separator = ",\n"
        counter.add(len(objects))
    stream.write(b"[]\n" if separator == "[\n" else b"\n]\n")
    return counter.finish()


def write_jsonl(table: ReportTable, stream: BinaryIO, options: ExportOptions) -> int:
    """One JSON object per line (JSON Lines, also called NDJSON)."""
    counter = RowCounter(options.progress)
    for objects in _json_rows(table):
        stream.write(("\n".join(objects) + "\n").encode("utf-8"))
        stream.flush()
        counter.add(len(objects))
    return counter.finish()
