"""Report SQL files share parts through `-- include NAME` lines, read from sql/include/."""

from __future__ import annotations

from pathlib import Path

import pytest

import manireports
from manireports.errors import RunError
from manireports.reports.spec import read_sql_file


def test_both_learner_reports_carry_the_one_tracked_learner_rule() -> None:
    shared = read_sql_file("include/tracked_learner").strip()
    for name in ("course_completion", "course_progress"):
        sql = read_sql_file(name)
        assert sql.count(shared) == 1
        assert "-- include" not in sql
        assert "moodle/course:isincompletionreports" in sql


def test_an_include_is_written_in_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "sql" / "include").mkdir(parents=True)
    (tmp_path / "sql" / "include" / "part.sql").write_text("   AND b = 2\n", encoding="utf-8")
    (tmp_path / "sql" / "demo.sql").write_text(
        "SELECT 1\n WHERE a = 1\n   -- include part\n ORDER BY 1\n", encoding="utf-8"
    )
    monkeypatch.setattr(manireports, "__path__", [str(tmp_path)])
    assert read_sql_file("demo") == "SELECT 1\n WHERE a = 1\n   AND b = 2\n ORDER BY 1"


def test_a_missing_include_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "sql").mkdir()
    (tmp_path / "sql" / "demo.sql").write_text("SELECT 1\n-- include nothere\n", encoding="utf-8")
    monkeypatch.setattr(manireports, "__path__", [str(tmp_path)])
    with pytest.raises(RunError, match=r"include/nothere\.sql is missing"):
        read_sql_file("demo")
