"""Column formats of config-built reports, shown by every export format, on every engine.

Two quiz attempts on a hand-made site, read in Europe/London:
- ana's attempt starts 2026-03-29 00:30 UTC (00:30 GMT, so that day) and takes 3725 s
  (1:02:05); it ends 01:32:05 UTC, after the clocks went forward at 01:00 UTC: 02:32:05 BST.
  Its grade is 7.25 / 10 * 100 = 72.5.
- ben's (suspended) starts 2026-03-31 23:30 UTC = 2026-04-01 00:30 BST, so the next day in
  London, and takes 90061 s = 25 h 1 min 1 s (25:01:01). Its grade is 8 / 10 * 100 = 80.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from pypdf import PdfReader

from manireports.export import ExportOptions, ReportTable, export
from manireports.moodle.connection import MoodleDB
from manireports.reports.operator.configured import build_configured_sql
from manireports.reports.operator.configured.formats import row_formatter
from tests.moodle_site import MoodleSite

LONDON = ZoneInfo("Europe/London")
ANA_START = int(datetime(2026, 3, 29, 0, 30, tzinfo=UTC).timestamp())
BEN_START = int(datetime(2026, 3, 31, 23, 30, tzinfo=UTC).timestamp())

ROWS = {
    "source": "quiz_attempts",
    "columns": [
        "username",
        {"field": "timestart", "label": "Day", "format": "date"},
        {"field": "timefinish", "label": "Finished", "format": "datetime"},
        {"field": "time_taken_seconds", "label": "Time", "format": "duration"},
        {"field": "grade", "label": "Grade", "format": "number", "decimals": 1},
    ],
    "sort": ["username"],
}
GROUPED = {
    "source": "quiz_attempts",
    "group_by": ["quiz_name"],
    "aggregates": [
        # 3725 + 90061 = 93786 s = 26:03:06
        {"fn": "sum", "field": "time_taken_seconds", "as": "total", "format": "duration"},
        # (72.5 + 80) / 2 = 76.25, no decimals: 76
        {"fn": "avg", "field": "grade", "as": "mean", "format": "number", "decimals": 0},
        # one suspended of two: 0.5 as a percent is 50.0
        {"fn": "avg", "field": "user_suspended", "as": "suspended", "format": "percent"},
        # the percent aggregate says the same without a format
        {"fn": "percent", "field": "user_suspended", "as": "suspended_share"},
    ],
}


@pytest.fixture
def db(db_url: str) -> Iterator[MoodleDB]:
    site = MoodleSite(db_url)
    ana = site.user("ana")
    ben = site.user("ben", suspended=1)
    course = site.course("F1")
    quiz = site.insert("quiz", course=course, name="Formats", sumgrades=10, grade=100)
    for number, (user, start, taken, sumgrades) in enumerate(
        ((ana, ANA_START, 3725, Decimal("7.25")), (ben, BEN_START, 90061, 8)), start=1
    ):
        site.insert(
            "quiz_attempts",
            quiz=quiz,
            userid=user,
            attempt=1,
            uniqueid=number,
            layout="",
            state="finished",
            sumgrades=sumgrades,
            timestart=start,
            timefinish=start + taken,
        )
    site.dispose()
    moodle = MoodleDB(db_url)
    yield moodle
    moodle.dispose()


def _table(db: MoodleDB, cfg: dict[str, Any]) -> ReportTable:
    query = build_configured_sql(cfg, engine=db.engine_name, prefix=db.prefix, timezone=LONDON)
    formatter = row_formatter(query.formats)
    assert formatter is not None
    rows = formatter(iter(db.fetch_all(query.sql, query.params)), LONDON)
    return ReportTable(
        title="Formats",
        columns=query.columns,
        rows=list(rows),
        parameters={},
        generated_at=datetime(2026, 6, 1, tzinfo=LONDON),
        timezone=LONDON,
    )


def _export(table: ReportTable, fmt: str) -> bytes:
    out = io.BytesIO()
    export(table, fmt, out, ExportOptions())
    return out.getvalue()


def test_formats_in_text_exports(db: MoodleDB) -> None:
    table = _table(db, ROWS)
    assert [c.kind for c in table.columns] == ["text", "date", "timestamp", "text", "float"]
    expected = [
        ["ana", "2026-03-29", "2026-03-29 02:32:05", "1:02:05", "72.5"],
        ["ben", "2026-04-01", "2026-04-02 01:31:01", "25:01:01", "80"],
    ]
    for fmt, delimiter in (("csv", ","), ("tsv", "\t")):
        text = _export(table, fmt).decode()
        assert list(csv.reader(io.StringIO(text), delimiter=delimiter))[1:] == expected
    objects = json.loads(_export(table, "json"))
    assert [list(o.values()) for o in objects] == [
        ["ana", "2026-03-29", "2026-03-29 02:32:05", "1:02:05", 72.5],
        ["ben", "2026-04-01", "2026-04-02 01:31:01", "25:01:01", 80.0],
    ]
    lines = _export(table, "jsonl").decode().splitlines()
    assert [json.loads(line) for line in lines] == objects
    html = _export(table, "html").decode()
    for cell in ("2026-04-01", "2026-03-29 02:32:05", "25:01:01", "72.5"):
        assert cell in html


def test_formats_in_xlsx_and_pdf(db: MoodleDB) -> None:
    table = _table(db, ROWS)
    sheet = openpyxl.load_workbook(io.BytesIO(_export(table, "xlsx"))).active
    assert sheet is not None
    cells = [[cell.value for cell in row] for row in sheet.iter_rows(min_row=2)]
    assert cells == [
        ["ana", datetime(2026, 3, 29), datetime(2026, 3, 29, 2, 32, 5), "1:02:05", 72.5],
        ["ben", datetime(2026, 4, 1), datetime(2026, 4, 2, 1, 31, 1), "25:01:01", 80],
    ]
    table = _table(db, ROWS)
    text = "".join(
        page.extract_text() for page in PdfReader(io.BytesIO(_export(table, "pdf"))).pages
    )
    for cell in ("2026-04-01", "2026-03-29 02:32:05", "25:01:01", "72.5"):
        assert cell in text


def test_formats_of_aggregates(db: MoodleDB) -> None:
    table = _table(db, GROUPED)
    assert [c.kind for c in table.columns] == ["text", "text", "int", "float", "float"]
    assert list(table.rows) == [("Formats", "26:03:06", 76, 50.0, 50.0)]
    table = _table(db, GROUPED)
    assert json.loads(_export(table, "json")) == [
        {
            "quiz_name": "Formats",
            "total": "26:03:06",
            "mean": 76,
            "suspended": 50.0,
            "suspended_share": 50.0,
        }
    ]
