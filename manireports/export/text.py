"""CSV, TSV, JSON and JSON Lines: the formats scripts read, streamed row by row.

Rows are rendered a chunk at a time into a list of strings and written to the binary stream as one
UTF-8 block. That is faster than a TextIOWrapper taking one write per row, which is what pays for
the timestamp conversion and keeps a million-row CSV close to a bare csv.writer loop.

TSV follows the IANA text/tab-separated-values rules rather than CSV's: there is no quoting, so a
tab, carriage return or newline inside a value is replaced by a space, and lines end with '\\n'
because TSV is read by cut, awk and sort, where a '\\r' would cling to the last field.
"""

from __future__ import annotations

import csv
import json
from itertools import islice
from collections.abc import Callable, Iterator, Sequence
from typing import Any, BinaryIO

from manireports.export.model import ExportOptions, ReportTable
from manireports.export.values import (
    CHUNK_ROWS,
    Convert,
    RowCounter,
    SiteClock,
    batches,
    converters,
    row_converter,
)

UTF8_BOM = b"\xef\xbb\xbf"
_TSV_BLANKS = str.maketrans({"\t": " ", "\r": " ", "\n": " "})


class _Lines:
    """A file-like target for csv.writer that keeps each rendered row as a string."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.write = self.lines.append

    def drain(self) -> bytes:
        data = "".join(self.lines).encode("utf-8")
        self.lines.clear()
        return data


def _write_delimited(
    table: ReportTable,
    stream: BinaryIO,
    options: ExportOptions,
    convert: Sequence[Convert | None],
    header: list[str],
    **dialect: Any,
) -> int:
    target = _Lines()
    writer = csv.writer(target, **dialect)
    if options.bom:
        stream.write(UTF8_BOM)
    writer.writerow(header)
    stream.write(target.drain())
    apply = row_converter(convert)
    counter = RowCounter(options.progress)
    rows = iter(table.rows)
    while True:
        # csv.writer calls write() once per row, so the rendered lines count the chunk's rows.
        chunk = islice(rows, CHUNK_ROWS)
        writer.writerows(chunk if apply is None else map(apply, chunk))
        written = len(target.lines)
        if not written:
            break
        stream.write(target.drain())
        stream.flush()
        counter.add(written)
    return counter.finish()


def write_csv(table: ReportTable, stream: BinaryIO, options: ExportOptions) -> int:
    """RFC 4180: comma, double quotes only where needed, CRLF line ends, header first."""
    clock = SiteClock(table.timezone)
    return _write_delimited(
        table,
        stream,
        options,
        converters(table.columns, "csv", clock),
        [column.name for column in table.columns],
        lineterminator="\r\n",
    )


def _tsv_field(convert: Convert | None) -> Convert:
    def field(value: Any) -> Any:
        if convert is not None:
            value = convert(value)
        if value is None:
            return ""
        text = value if isinstance(value, str) else str(value)
        return text.translate(_TSV_BLANKS)

    return field


def write_tsv(table: ReportTable, stream: BinaryIO, options: ExportOptions) -> int:
    """Tab-separated, unquoted; tabs and line breaks inside values become spaces."""
    clock = SiteClock(table.timezone)
    convert: list[Convert | None] = []
    for column, base in zip(table.columns, converters(table.columns, "csv", clock), strict=True):
        # Numbers, booleans and formatted times cannot hold a tab; only text needs the scan.
        convert.append(_tsv_field(base) if column.kind in ("text", "date") else base)
    return _write_delimited(
        table,
        stream,
        options,
        convert,
        [column.name.translate(_TSV_BLANKS) for column in table.columns],
        delimiter="\t",
        quoting=csv.QUOTE_NONE,
        quotechar=None,
        lineterminator="\n",
    )


def _json_rows(table: ReportTable, options: ExportOptions) -> Iterator[tuple[list[str], int]]:
    """Each chunk of rows as JSON object texts, keyed by column name."""
    clock = SiteClock(table.timezone)
    names = [column.name for column in table.columns]
    apply = row_converter(converters(table.columns, "json", clock))
    encode: Callable[[Any], str] = json.JSONEncoder(
        ensure_ascii=False, separators=(",", ":"), allow_nan=False
    ).encode
    for chunk in batches(table.rows):
        values = chunk if apply is None else map(apply, chunk)
        yield [encode(dict(zip(names, row, strict=True))) for row in values], len(chunk)


def write_json(table: ReportTable, stream: BinaryIO, options: ExportOptions) -> int:
    """One JSON array of objects, written as it goes: the list is never built in memory."""
    counter = RowCounter(options.progress)
    separator = "[\n"
    for objects, count in _json_rows(table, options):
        stream.write((separator + ",\n".join(objects)).encode("utf-8"))
        stream.flush()
        separator = ",\n"
        counter.add(count)
    stream.write(b"[]\n" if separator == "[\n" else b"\n]\n")
    return counter.finish()


def write_jsonl(table: ReportTable, stream: BinaryIO, options: ExportOptions) -> int:
    """One JSON object per line (JSON Lines / NDJSON)."""
    counter = RowCounter(options.progress)
    for objects, count in _json_rows(table, options):
        stream.write(("\n".join(objects) + "\n").encode("utf-8"))
        stream.flush()
        counter.add(count)
    return counter.finish()
