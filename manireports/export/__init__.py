"""The one export pipeline every report goes through (formats).

A report produces a `ReportTable` of raw, streamed rows; `resolve_format` settles the format once
from the flag, the output file's extension and whether stdout is a terminal; `export` writes the
table to a file (atomically) or to a stream. The library ships csv, tsv, json, jsonl, xlsx, pdf
and html; the command-line layer registers the rich `table` writer with `register_writer`, which
keeps rich out of the library.

Every writer, and the atomic file output, is imported on first use: a command that writes nothing
(`--help`, `config show`) or one small table does not load what other formats need.
"""

from __future__ import annotations

from pathlib import Path, PurePath
from typing import BinaryIO

from manireports.errors import InputError
from manireports.export.model import (
    Column,
    ColumnKind,
    ExportOptions,
    ExportResult,
    ReportTable,
    Writer,
)

__all__ = [
    "TERMINAL_FORMAT",
    "Column",
    "ColumnKind",
    "ExportOptions",
    "ExportResult",
    "ReportTable",
    "Writer",
    "available_formats",
    "export",
    "register_writer",
    "resolve_format",
]

TERMINAL_FORMAT = "table"
"""What a terminal gets by default; its writer belongs to the command-line layer."""

EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".xlsx": "xlsx",
    ".pdf": "pdf",
    ".html": "html",
    ".htm": "html",
}


def _text_writer(fmt: str) -> Writer:
    def write(table: ReportTable, stream: BinaryIO, options: ExportOptions) -> int:
        from manireports.export import text

        writer: Writer = getattr(text, f"write_{fmt}")
        return writer(table, stream, options)

    return write


def _write_xlsx(table: ReportTable, stream: BinaryIO, options: ExportOptions) -> int:
    from manireports.export.xlsx import write_xlsx

    return write_xlsx(table, stream, options)


def _write_pdf(table: ReportTable, stream: BinaryIO, options: ExportOptions) -> int:
    from manireports.export.pdf import write_pdf

    return write_pdf(table, stream, options)


def _write_html(table: ReportTable, stream: BinaryIO, options: ExportOptions) -> int:
    from manireports.export.html import write_html

    return write_html(table, stream, options)


_WRITERS: dict[str, Writer] = {
    "csv": _text_writer("csv"),
    "tsv": _text_writer("tsv"),
    "json": _text_writer("json"),
    "jsonl": _text_writer("jsonl"),
    "xlsx": _write_xlsx,
    "pdf": _write_pdf,
    "html": _write_html,
}
_BINARY = {"xlsx", "pdf"}


def register_writer(fmt: str, writer: Writer, *, binary: bool = False) -> None:
    """Add or replace the writer of a format; `binary` ones refuse a terminal without -o."""
    name = fmt.lower()
    _WRITERS[name] = writer
    if binary:
        _BINARY.add(name)
    else:
        _BINARY.discard(name)


def available_formats() -> list[str]:
    """Every format name resolve_format accepts, sorted for messages and --help."""
    return sorted({*_WRITERS, TERMINAL_FORMAT})


def _choices() -> str:
    return ", ".join(available_formats())


def resolve_format(fmt: str | None, output: str | None, stdout_is_terminal: bool) -> str:
    """The format to write: explicit `fmt`, else the extension of `output`, else by terminal.

    Binary formats cannot go to a terminal, so without `output` they are refused there; a pipe
    may take them (`... --format xlsx | mail-tool`).
    """
    if output is not None and Path(output).is_dir():
        raise InputError(f"'{output}' is a directory; give -o a file name such as report.csv.")
    if fmt is not None:
        name = fmt.strip().lower()
        if name not in available_formats():
            raise InputError(f"Unknown format '{fmt}'; choose one of: {_choices()}.")
        suffix = PurePath(output).suffix.lower() if output is not None else ""
        if EXTENSIONS.get(suffix, name) != name:
            raise InputError(
                f"--format {name} does not match the file name '{output}', which says "
                f"{EXTENSIONS[suffix]}; give the file a .{name} name or leave out --format."
            )
    elif output is not None:
        suffix = PurePath(output).suffix.lower()
        if suffix not in EXTENSIONS:
            known = ", ".join(sorted(EXTENSIONS))
            shown = f"extension '{suffix}'" if suffix else "no extension"
            raise InputError(
                f"Cannot tell the format of '{output}' from {shown}; "
                f"use one of {known} or give --format ({_choices()})."
            )
        name = EXTENSIONS[suffix]
    else:
        name = TERMINAL_FORMAT if stdout_is_terminal else "csv"
    if output is None and stdout_is_terminal and name in _BINARY:
        raise InputError(
            f"Format {name} is binary and needs -o FILE; it is not written to a terminal."
        )
    return name


def export(
    table: ReportTable,
    fmt: str,
    destination: Path | str | BinaryIO,
    options: ExportOptions | None = None,
) -> ExportResult:
    """Write `table` as `fmt` to a file path (atomically) or an open binary stream.

    To a stream the data goes out as it is produced; a BrokenPipeError from a closed pipe is
    left to the caller, which knows whether it is a shell pipeline.
    """
    options = options or ExportOptions()
    writer = _WRITERS.get(fmt.lower())
    if writer is None:
        raise InputError(f"Unknown format '{fmt}'; choose one of: {_choices()}.")
    seen: set[str] = set()
    for column in table.columns:
        if column.name in seen:
            raise InputError(
                f"Report '{table.title}' has two columns named '{column.name}'; "
                "give them distinct names (SELECT ... AS other_name)."
            )
        seen.add(column.name)
    if isinstance(destination, str | Path):
        from manireports.export.atomic import atomic_output

        path = Path(destination)
        with atomic_output(path, mode=options.file_mode) as stream:
            rows = writer(table, stream, options)
        return ExportResult(rows=rows, path=path)
    rows = writer(table, destination, options)
    destination.flush()
    return ExportResult(rows=rows, path=None)
