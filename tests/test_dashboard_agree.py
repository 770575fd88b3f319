"""Dashboards agree with themselves: every figure shown twice on a page is the same number.

The small demo's dashboards are rendered to HTML by the real command line for each role (site
admin, company manager, teacher, student) and read back from the page itself: the KPI cards, the
data table of every chart and the tables. Figures that appear in two places are compared; the
completed courses are Moodle's course completions, read straight from the database.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from manireports.dashboard.html import render_html
from manireports.dashboard.model import Dashboard, Kpi
from tests.cli_runner import invoke
from tests.dashboard_support import build_dashboard_demo, fetch

AS_OF = "2026-06-01 00:00"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return build_dashboard_demo(tmp_path_factory.mktemp("dashboard-demo"))


AS_OF_EPOCH = 1_780_272_000  # 2026-06-01 00:00 UTC


class Page(HTMLParser):
    """The sections of a rendered dashboard: title -> KPI value and tone, or table rows."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: dict[str, dict[str, Any]] = {}
        self._section: dict[str, Any] | None = None
        self._field: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = (dict(attrs).get("class") or "").split()
        if tag == "section":
            self._section = {"kind": classes[1], "rows": [], "classes": []}
        elif self._section is None:
            return
        elif tag == "h2":
            self._field = "title"
        elif tag == "p" and "value" in classes:
            self._field = "value"
        elif tag == "p" and "note" in classes:
            self._field = "note"
        elif tag == "p" and "delta" in classes:
            self._section["classes"] = classes
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        elif self._field is not None and self._section is not None:
            self._section[self._field] = self._section.get(self._field, "") + data

    def handle_endtag(self, tag: str) -> None:
        if tag in ("h2", "p"):
            self._field = None
        elif tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None and self._section is not None:
            self._section["rows"].append(self._row)
            self._row = None
        elif tag == "section" and self._section is not None:
            # A KPI and a table may share a title: KPIs are filed as "kpi: TITLE".
            prefix = "kpi: " if self._section["kind"] == "kpi" else ""
            self.sections[prefix + self._section["title"]] = self._section
            self._section = None


def number(text: str) -> float | None:
    cleaned = re.sub(r"[^0-9.\-]", "", text)
    return float(cleaned) if cleaned else None


def table(page: Page, title: str) -> list[dict[str, str]]:
    header, *rows = page.sections[title]["rows"]
    return [dict(zip(header, row, strict=True)) for row in rows]


def kpi(page: Page, title: str) -> float | None:
    return number(page.sections["kpi: " + title]["value"])


def viewer(env: dict[str, str], role: str) -> list[str]:
    if role == "admin":
        return []
    staff_sql = (
        "SELECT ra.userid FROM mdl_role_assignments ra "
        "JOIN mdl_context ctx ON ctx.id = ra.contextid AND ctx.contextlevel = 50 "
        "JOIN mdl_role r ON r.id = ra.roleid WHERE r.shortname IN ('editingteacher', 'teacher')"
    )
    teachers = sorted(u for (u,) in fetch(env, staff_sql))
    managers = [
        u
        for (u,) in fetch(
            env,
            "SELECT userid FROM mdl_company_users WHERE managertype = 1 AND suspended = 0 "
            "ORDER BY companyid, userid",
        )
    ]
    staff = set(teachers) | {
        u for (u,) in fetch(env, "SELECT userid FROM mdl_company_users WHERE managertype > 0")
    }
    managing = (
        "SELECT userid FROM mdl_role_assignments ra JOIN mdl_role r ON r.id = ra.roleid "
        "WHERE r.archetype = 'manager'"
    )
    staff |= {u for (u,) in fetch(env, managing)}
    learners = sorted(
        u
        for (u,) in fetch(env, "SELECT DISTINCT userid FROM mdl_course_completions "
                               "WHERE timecompleted > 0")
        if u not in staff
    )  # fmt: skip
    chosen = {"manager": managers[0], "teacher": teachers[0], "student": learners[0]}[role]
    return ["--as-user", str(chosen)]


def page_of(env: dict[str, str], role: str, out: Path) -> Page:
    done = invoke("dashboard", "--as-of", AS_OF, *viewer(env, role), "-o", str(out), env=env)
    assert done.returncode == 0, done.stderr.decode()
    page = Page()
    page.feed(out.read_text(encoding="utf-8"))
    return page


def completed_pairs(env: dict[str, str]) -> set[tuple[str, str]]:
    """(username, course shortname) of Moodle's course completions up to the moment."""
    return set(
        fetch(
            env,
            "SELECT u.username, c.shortname FROM mdl_course_completions cc "
            "JOIN mdl_user u ON u.id = cc.userid JOIN mdl_course c ON c.id = cc.course "
            f"WHERE cc.timecompleted > 0 AND cc.timecompleted <= {AS_OF_EPOCH}",
        )
    )


@pytest.mark.parametrize("role", ["admin", "manager", "teacher"])
def test_staff_figures_shown_twice_agree(demo: dict[str, str], role: str, tmp_path: Path) -> None:
    page = page_of(demo, role, tmp_path / "d.html")
    courses = table(page, "Courses")
    assert courses, "the viewer should see courses"
    assert "first" not in page.sections["Courses"].get("note", ""), "all courses are listed"
    status = {row["Status"]: number(row["Learners in courses"]) for row in
              table(page, "Status breakdown")}  # fmt: skip
    # The pie's completed learners are the courses table's completed learners, and the pie's
    # learners are the table's learners.
    assert status["Completed"] == sum(number(r["Completed"]) or 0 for r in courses)
    assert sum(v or 0 for v in status.values()) == sum(number(r["Learners"]) or 0 for r in courses)
    # Completion by course: each bar is that course's completion rate in the table.
    rates = {r["Course"]: number(r["Completion rate (%)"]) for r in courses}
    bars = table(page, "Completion by course")
    assert bars
    for bar in bars:
        assert number(bar["Completed (%)"]) == (rates[bar["Label"]] or 0.0), bar
    # The KPIs of the last full month are the trend chart's values for that month.
    trends = {r["Label"]: r for r in table(page, "Enrolments and completions, last 12 months")}
    month = "2026-05"
    assert kpi(page, "Enrolments") == number(trends[month]["Enrolments"])
    assert kpi(page, "Completions") == number(trends[month]["Completions"])
    # Learners at risk: the KPI counts the learners listed, none in a course they completed.
    at_risk = table(page, "Learners at risk")
    learners = len({r["Learner"] for r in at_risk})
    if "first" in page.sections["Learners at risk"].get("note", ""):
        assert len(at_risk) == 50 and kpi(page, "Learners at risk") >= learners
    else:
        assert kpi(page, "Learners at risk") == learners
    done = completed_pairs(demo)
    assert not {(r["Learner"], r["Course"]) for r in at_risk} & done
    # A rise in learners at risk is a change for the worse.
    classes = page.sections["kpi: Learners at risk"]["classes"]
    if "up" in classes:
        assert "bad" in classes
    if "down" in classes:
        assert "good" in classes


def test_student_figures_shown_twice_agree(demo: dict[str, str], tmp_path: Path) -> None:
    page = page_of(demo, "student", tmp_path / "d.html")
    mine = table(page, "My courses")
    status = {row["Status"]: number(row["Learners in courses"]) for row in
              table(page, "Status breakdown")}  # fmt: skip
    completed = sum(1 for r in mine if r["Completed"] == "yes")
    assert completed >= 1, "the chosen learner completed a course"
    assert kpi(page, "Courses completed") == status["Completed"] == completed
    assert kpi(page, "My courses") == len(mine) == sum(v or 0 for v in status.values())
    progress = [number(r["Progress (%)"]) for r in mine if r["Progress (%)"]]
    assert kpi(page, "Average progress") == round(sum(progress) / len(progress), 1)  # type: ignore[arg-type]
    bars = {r["Label"]: number(r["Progress (%)"]) for r in table(page, "Progress by course")}
    assert bars == {r["Course"]: number(r["Progress (%)"]) or 0.0 for r in mine}


def test_a_rise_in_learners_at_risk_is_red() -> None:
    def card(**values: Any) -> list[str]:
        dashboard = Dashboard("t", "admin", "x", None, "2026-06-01", "UTC", [Kpi(**values)])
        page = Page()
        page.feed(render_html(dashboard))
        return page.sections["kpi: " + values["title"]]["classes"]

    assert card(title="Learners at risk", value=7, previous=5, better="down") == [
        "delta", "up", "bad"
    ]  # fmt: skip
    assert card(title="Learners at risk", value=3, previous=5, better="down")[1:] == [
        "down",
        "good",
    ]
    assert card(title="Completions", value=7, previous=5)[1:] == ["up", "good"]
    assert card(title="Completions", value=3, previous=5)[1:] == ["down", "bad"]
    assert card(title="Completions", value=5, previous=5)[1:] == ["flat", "flat"]
