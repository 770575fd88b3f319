"""PDF read back with pypdf and pdftotext: layout, Unicode names, paging and the size limit."""

from __future__ import annotations

import io
import shutil
import subprocess
import zoneinfo
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from manireports.errors import InputError
from manireports.export import Column, ExportOptions, ReportTable, export

LONDON = zoneinfo.ZoneInfo("Europe/London")
NAMES = ["Zoë", "Łukasz", "田中", "Ольга", "Αλέξανδρος", "محمد"]
COLUMNS = [
    Column("userid", "int"),
    Column("fullname", title="Full name"),
    Column("enrolled", "timestamp", title="Enrolled"),
    Column("completed", "bool"),
    Column("comment"),
]
LONG = "This comment is far too long to fit in its column " * 6

pytestmark = pytest.mark.skipif(
    shutil.which("pdftotext") is None, reason="pdftotext (poppler-utils) is not installed"
)


def make_table(rows: list[tuple[Any, ...]], columns: list[Column] = COLUMNS) -> ReportTable:
    return ReportTable(
        title="Course completion",
        columns=columns,
        rows=iter(rows),
        parameters={"courseid": "7", "from": "2024-01-01"},
        generated_at=datetime(2024, 7, 2, 9, 30, tzinfo=LONDON),
        timezone=LONDON,
    )


def people(count: int) -> list[tuple[Any, ...]]:
    return [
        (number, NAMES[number % len(NAMES)], 1719835200, number % 2, "ok" if number else LONG)
        for number in range(count)
    ]


def pdftotext(path: Path, *extra: str) -> str:
    command = ["pdftotext", "-enc", "UTF-8", *extra, str(path), "-"]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("pdf") / "report.pdf"
    assert export(make_table(people(150)), "pdf", target).rows == 150
    return target


def test_title_parameters_and_generation_time(report: Path) -> None:
    first_page = pdftotext(report, "-l", "1")
    assert "Course completion" in first_page
    assert "courseid: 7" in first_page
    assert "Generated 2024-07-02 09:30:00 (Europe/London)" in first_page


def test_names_in_every_script_are_glyphs_not_question_marks(report: Path) -> None:
    # pypdf reads the CJK face's two-byte codes with a NUL before each glyph; poppler does not.
    by_pypdf = "\n".join(page.extract_text() for page in PdfReader(report).pages)
    extracted = [pdftotext(report), by_pypdf.replace("\x00", "")]
    for text in extracted:
        for name in ("Zoë", "Łukasz", "田中", "Ольга", "Αλέξανδρος"):
            assert name in text
        assert "?" not in text
    # Arabic is drawn right to left; a text extractor may give it in either order.
    assert "محمد" in extracted[0] or "دمحم" in extracted[0]


def test_header_repeats_on_every_page_with_page_numbers(report: Path) -> None:
    pages = PdfReader(report).pages
    assert len(pages) >= 3
    for number in range(1, len(pages) + 1):
        text = pdftotext(report, "-f", str(number), "-l", str(number))
        assert "Full name" in text and "Enrolled" in text
        assert f"Page {number} of {len(pages)}" in text


def test_a4_portrait_for_few_columns(report: Path) -> None:
    box = PdfReader(report).pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (595, 842)


def test_timestamps_in_site_time_and_long_values_wrapped(report: Path) -> None:
    text = pdftotext(report, "-l", "1")
    assert "2024-07-01 13:00:00" in text
    assert "…" not in text
    # The long comment wraps inside its cell: every word of it is on the page, in order.
    words = " ".join(text.split())
    assert "This comment is far too long" in words
    assert words.count("far too long") == 6


def test_landscape_when_columns_need_the_width(tmp_path: Path) -> None:
    columns = [Column(f"column_number_{index}") for index in range(12)]
    rows = [tuple(f"value {index} of row {number}" for index in range(12)) for number in range(5)]
    target = tmp_path / "wide.pdf"
    export(make_table(rows, columns), "pdf", target)
    box = PdfReader(target).pages[0].mediabox
    assert float(box.width) > float(box.height)
    assert "column_number_11"[:8] in pdftotext(target)


def test_too_many_rows_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    target = tmp_path / "out" / "big.pdf"
    target.parent.mkdir()
    with pytest.raises(InputError, match="more than 10 rows; PDF is for reading, use CSV or XLSX"):
        export(make_table(people(11)), "pdf", target, ExportOptions(pdf_max_rows=10))
    assert list(target.parent.iterdir()) == []
    stream = io.BytesIO()
    with pytest.raises(InputError):
        export(make_table(people(11)), "pdf", stream, ExportOptions(pdf_max_rows=10))
    assert stream.getvalue() == b""


def test_exactly_the_limit_is_fine() -> None:
    stream = io.BytesIO()
    assert export(make_table(people(10)), "pdf", stream, ExportOptions(pdf_max_rows=10)).rows == 10
    assert stream.getvalue().startswith(b"%PDF-")


def test_the_widest_value_of_a_column_is_not_cut(tmp_path: Path) -> None:
    # The column is as wide as its widest value plus padding; "abcdefghij" and a date once came
    # out a hair too wide for it after the padding was taken off again, and lost their ends.
    columns = [Column("D"), Column("Day", "date")]
    target = tmp_path / "narrow.pdf"
    export(make_table([("abcdefghij", "2026-04-01")], columns), "pdf", target)
    text = pdftotext(target)
    assert "abcdefghij" in text and "2026-04-01" in text and "…" not in text
