"""XLSX read back with openpyxl: types, header styling, filters, widths and sheet overflow."""

from __future__ import annotations

import io
import zoneinfo
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from manireports.export import Column, ExportOptions, ReportTable, export
from manireports.export.xlsx import sheet_base_name, write_xlsx

LONDON = zoneinfo.ZoneInfo("Europe/London")
COLUMNS = [
    Column("userid", "int"),
    Column("fullname", title="Full name"),
    Column("enrolled", "timestamp", title="Enrolled"),
    Column("completed", "bool"),
    Column("score", "float"),
    Column("enroldate", "date"),
    Column("note"),
]
ROWS: list[tuple[Any, ...]] = [
    (1, "Zoë Ångström", 1711929600, 1, Decimal("85.50"), "2024-03-05", '=HYPERLINK("x")'),
    (2, "田中 太郎", 0, 0, None, None, "http://example.com"),
    (3, "Ольга", 1719835200, True, 12.25, "2024-12-31", "a" * 200),
]


def make_table(rows: list[tuple[Any, ...]] = ROWS, title: str = "Course completion") -> ReportTable:
    return ReportTable(
        title=title,
        columns=COLUMNS,
        rows=iter(rows),
        parameters={},
        generated_at=datetime(2024, 7, 2, 9, 30, tzinfo=LONDON),
        timezone=LONDON,
    )


@pytest.fixture
def workbook(tmp_path: Path) -> Any:
    target = tmp_path / "report.xlsx"
    assert export(make_table(), "xlsx", target).rows == 3
    return openpyxl.load_workbook(target)


def test_header_is_bold_filled_frozen_and_filtered(workbook: Any) -> None:
    sheet = workbook.active
    assert sheet.title == "Course completion"
    labels = [cell.value for cell in sheet[1]]
    assert labels == ["userid", "Full name", "Enrolled", "completed", "score", "enroldate", "note"]
    assert all(cell.font.b for cell in sheet[1])
    assert sheet["A1"].fill.fgColor.rgb.endswith("DCE6F1")
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == "A1:G4"


def test_values_keep_their_types(workbook: Any) -> None:
    sheet = workbook.active
    first, never, third = (next(sheet.iter_rows(min_row=row, max_row=row)) for row in (2, 3, 4))
    assert first[0].value == 1 and first[0].data_type == "n"
    assert first[4].value == 85.5 and first[4].data_type == "n"
    assert first[2].value == datetime(2024, 4, 1, 1, 0)  # 00:00 UTC is 01:00 BST
    assert first[2].number_format == "yyyy-mm-dd hh:mm:ss"
    assert first[5].value == datetime(2024, 3, 5)
    assert first[5].number_format == "yyyy-mm-dd"
    assert first[3].value is True and third[3].value is True and never[3].value is False
    assert third[2].value == datetime(2024, 7, 1, 13, 0)
    assert never[2].value is None and never[4].value is None


def test_text_is_never_a_formula_or_a_link(workbook: Any) -> None:
    sheet = workbook.active
    assert sheet["G2"].value == '=HYPERLINK("x")' and sheet["G2"].data_type == "s"
    assert sheet["G3"].value == "http://example.com" and sheet["G3"].hyperlink is None


def test_widths_fit_the_content_within_bounds(workbook: Any) -> None:
    widths = {letter: workbook.active.column_dimensions[letter].width for letter in "ABCG"}
    assert widths["C"] >= 19  # a full date-time
    assert widths["B"] > widths["A"]
    assert widths["G"] <= 61  # 200 characters are clamped


def test_rows_past_the_sheet_limit_continue_on_new_sheets() -> None:
    rows = [(number, f"user {number}", 0, 0, number, None, "") for number in range(7)]
    stream = io.BytesIO()
    count = write_xlsx(make_table(rows), stream, ExportOptions(), sheet_rows=3)
    assert count == 7
    workbook = openpyxl.load_workbook(io.BytesIO(stream.getvalue()))
    names = ["Course completion"] + [f"Course completion {number}" for number in (2, 3, 4)]
    assert workbook.sheetnames == names
    ids = []
    for sheet in workbook.worksheets:
        assert sheet["B1"].value == "Full name"
        assert sheet.freeze_panes == "A2"
        assert sheet.auto_filter.ref == f"A1:G{sheet.max_row}"
        ids += [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert ids == list(range(7))


def test_sheet_names_follow_excel_rules() -> None:
    assert sheet_base_name("Report: 2024/25 [draft]?") == "Report 2024 25 draft"
    assert len(sheet_base_name("x" * 50)) == 31
    assert sheet_base_name("'''") == "Report"


def test_sheet_name_option(tmp_path: Path) -> None:
    target = tmp_path / "named.xlsx"
    export(make_table(), "xlsx", target, ExportOptions(sheet_name="Completions"))
    assert openpyxl.load_workbook(target).sheetnames == ["Completions"]


def test_empty_report_has_a_header(tmp_path: Path) -> None:
    target = tmp_path / "empty.xlsx"
    assert export(make_table([]), "xlsx", target).rows == 0
    sheet = openpyxl.load_workbook(target).active
    assert sheet["A1"].value == "userid" and sheet.max_row == 1


def test_stream_destination() -> None:
    stream = io.BytesIO()
    assert export(make_table(), "xlsx", stream).path is None
    assert stream.getvalue().startswith(b"PK")
