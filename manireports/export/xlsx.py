"""XLSX for people who open reports in Excel or LibreOffice, in bounded memory.

xlsxwriter's constant_memory mode flushes each row as the next one starts, so a million rows cost
the same memory as ten. Its scratch files go to a private temporary directory that is removed
even when the export fails half-way. Values keep their types: numbers as numbers, timestamps as
real Excel date-times in site time (through the column's number format, so the cell itself needs
none), booleans as booleans. Text is never turned into formulas or links: a name that starts with
'=' is someone's name, not a spreadsheet formula to run.
"""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from typing import Any, BinaryIO

import xlsxwriter
from xlsxwriter.exceptions import FileCreateError

from manireports.export.model import Column, ExportOptions, ReportTable
from manireports.export.values import (
    BOOL_TEXT,
    CHUNK_ROWS,
    BadText,
    RowCounter,
    SiteClock,
    batches,
    converters,
    display_width,
    row_converter,
)

EXCEL_MAX_ROWS = 1_048_576
"""Rows per worksheet, header included; more data continues on another sheet."""

DATETIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
DATE_FORMAT = "yyyy-mm-dd"
WIDTH_SAMPLE_ROWS = CHUNK_ROWS
MIN_WIDTH = 6
MAX_WIDTH = 60
_SHEET_NAME_LIMIT = 31
_SHEET_NAME_FORBIDDEN = str.maketrans({char: " " for char in "[]:*?/\\"})


def sheet_base_name(name: str) -> str:
    """A name Excel accepts: no []:*?/\\, no leading or trailing apostrophe, 31 characters."""
    cleaned = " ".join(name.translate(_SHEET_NAME_FORBIDDEN).split()).strip("'")
    return cleaned[:_SHEET_NAME_LIMIT] or "Report"


def _sheet_name(base: str, number: int) -> str:
    if number == 1:
        return base
    suffix = f" {number}"
    return base[: _SHEET_NAME_LIMIT - len(suffix)].rstrip() + suffix


def _sample_width(column: Column, value: Any) -> int:
    if value is None:
        return 0
    if column.kind == "timestamp":
        return len(DATETIME_FORMAT)
    if column.kind == "date":
        return len(DATE_FORMAT)
    if column.kind == "bool":
        return len(BOOL_TEXT[value])
    return display_width(str(value))


def _clamped(widths: list[int]) -> list[int]:
    return [min(max(width, MIN_WIDTH), MAX_WIDTH) for width in widths]


def _abandon_zip_files(exc: BaseException) -> None:
    """Mark the zip files of a failed save closed, so their finalisers write nothing more."""
    traceback = exc.__context__.__traceback__ if exc.__context__ else exc.__traceback__
    while traceback is not None:
        for value in traceback.tb_frame.f_locals.values():
            if isinstance(value, zipfile.ZipFile):
                value.fp = None
        traceback = traceback.tb_next


def write_xlsx(
    table: ReportTable,
    stream: BinaryIO,
    options: ExportOptions,
    *,
    sheet_rows: int = EXCEL_MAX_ROWS,
) -> int:
    """Write the table as one workbook; `sheet_rows` is lowered by tests to exercise overflow."""
    columns = list(table.columns)
    clock = SiteClock(table.timezone)
    apply = row_converter(converters(columns, "xlsx", clock))
    labels = [column.label for column in columns]
    widths = _clamped([display_width(label) + 2 for label in labels])
    base = sheet_base_name(options.sheet_name or table.title)
    counter = RowCounter(options.progress)
    bad = BadText(columns)
    last_column = max(len(columns) - 1, 0)

    # The workbook is built in a scratch file and copied out whole: a reader that stops early
    # (`| head`) or a full disk then breaks a plain copy, not xlsxwriter's zip file half-way
    # through (whose finaliser would try to write again and print a traceback).
    with (
        tempfile.TemporaryDirectory(prefix="manireports-xlsx-") as scratch,
        tempfile.TemporaryFile(dir=scratch) as target,
    ):
        workbook = xlsxwriter.Workbook(
            target,
            {
                "constant_memory": True,
                "tmpdir": scratch,
                "strings_to_formulas": False,
                "strings_to_urls": False,
                "strings_to_numbers": False,
                "nan_inf_to_errors": True,
            },
        )
        workbook.set_properties({"title": table.title, "created": table.generated_at})
        header_format = workbook.add_format(
            {"bold": True, "bg_color": "#DCE6F1", "bottom": 1, "valign": "vcenter"}
        )
        kind_formats = {
            "timestamp": workbook.add_format({"num_format": DATETIME_FORMAT}),
            "date": workbook.add_format({"num_format": DATE_FORMAT}),
        }
        column_formats = [kind_formats.get(column.kind) for column in columns]
        sheets: list[Any] = []

        def new_sheet() -> Any:
            sheet = workbook.add_worksheet(_sheet_name(base, len(sheets) + 1))
            # Formats must be on the columns before rows are written; widths can follow later.
            for index, cell_format in enumerate(column_formats):
                sheet.set_column(index, index, widths[index], cell_format)
            sheet.write_row(0, 0, labels, header_format)
            sheet.freeze_panes(1, 0)
            sheets.append(sheet)
            return sheet

        def finish_sheet(sheet: Any, last_row: int) -> None:
            sheet.autofilter(0, 0, last_row, last_column)

        sheet = new_sheet()
        row_number = 1
        sampled = False
        for chunk in batches(table.rows, len(columns)):
            chunk = bad.rows(chunk)
            if not sampled:
                for row in chunk[:WIDTH_SAMPLE_ROWS]:
                    for index, column in enumerate(columns):
                        widths[index] = max(widths[index], _sample_width(column, row[index]) + 2)
                widths = _clamped(widths)
                for index, cell_format in enumerate(column_formats):
                    sheet.set_column(index, index, widths[index], cell_format)
                sampled = True
            for values in chunk if apply is None else map(apply, chunk):
                if row_number == sheet_rows:
                    finish_sheet(sheet, row_number - 1)
                    sheet = new_sheet()
                    row_number = 1
                sheet.write_row(row_number, 0, values)
                row_number += 1
            counter.add(len(chunk))
        finish_sheet(sheet, row_number - 1)
        try:
            workbook.close()
        except FileCreateError as exc:
            _abandon_zip_files(exc)
            cause = exc.__context__ if isinstance(exc.__context__, OSError) else None
            raise cause or OSError(str(exc)) from None
        target.seek(0)
        shutil.copyfileobj(target, stream)
    bad.report(options.warn)
    return counter.finish()
