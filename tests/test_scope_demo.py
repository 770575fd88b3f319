"""No report leaks: on the demo, every acting user's rows are within what they may see.

For every manager, department manager and teacher of the demo, and a sample of learners, each
row report is run as that user and every row is checked against the set of users and courses
the user may see, computed here straight from the IOMAD and role tables (not with the scoping
code). Aggregate reports are checked to shrink, never grow.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from manireports.app import App
from manireports.config import load_config
from manireports.demo import build_demo
from manireports.errors import PermissionDeniedError
from manireports.state import StateDB
from tests.analytics_site import produce
from tests.conftest import fresh_database
from tests.reporting import report_rows

ROW_REPORTS = ("course_completion", "course_progress", "quiz_attempts", "scorm_summary")
ANALYTICS = ("at_risk", "user_engagement")
AS_OF = "2026-06-01"


@pytest.fixture(scope="module", params=("sqlite", "mariadb", "postgresql"))
def demo(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    for url in fresh_database(request.param, tmp_path_factory.mktemp("demo")):
        build_demo(url, size="small", seed=7, anchor=date(2026, 6, 1))
        yield url


def fetch(url: str, sql: str) -> list[tuple[Any, ...]]:
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        rows = [tuple(row) for row in connection.execute(sa.text(sql))]
    engine.dispose()
    return rows


class Visibility:
    """Who may see what, worked out from the tables with plain queries and Python."""

    def __init__(self, url: str) -> None:
        self.admins = {
            int(v)
            for (value,) in fetch(url, "SELECT value FROM mdl_config WHERE name = 'siteadmins'")
            for v in value.split(",")
        }
        self.memberships = fetch(
            url,
            "SELECT userid, companyid, departmentid, managertype, suspended FROM mdl_company_users",
        )
        self.parents = dict(fetch(url, "SELECT id, parent FROM mdl_department"))
        self.teaching = fetch(
            url,
            "SELECT ra.userid, ctx.instanceid FROM mdl_role_assignments ra "
            "JOIN mdl_context ctx ON ctx.id = ra.contextid AND ctx.contextlevel = 50 "
            "JOIN mdl_role r ON r.id = ra.roleid "
            "WHERE r.shortname IN ('editingteacher', 'teacher') "
            "OR r.archetype IN ('editingteacher', 'teacher')",
        )
        # Moodle's manager role: system context (10) sees everything; category (40) the courses
        # whose context path runs through the category's context.
        held = fetch(
            url,
            "SELECT ra.userid, ctx.contextlevel, ctx.path FROM mdl_role_assignments ra "
            "JOIN mdl_context ctx ON ctx.id = ra.contextid "
            "JOIN mdl_role r ON r.id = ra.roleid WHERE r.archetype = 'manager'",
        )
        self.site_managers = {int(u) for u, level, _p in held if int(level) == 10}
        course_paths = fetch(
            url, "SELECT instanceid, path FROM mdl_context WHERE contextlevel = 50"
        )
        self.category_courses: dict[int, set[int]] = {}
        for u, level, path in held:
            if int(level) == 40:
                self.category_courses.setdefault(int(u), set()).update(
                    int(c) for c, p in course_paths if p.startswith(path + "/")
                )
        self.active = {
            int(uid)
            for (uid,) in fetch(url, "SELECT id FROM mdl_user WHERE deleted = 0 AND suspended = 0")
        }

    def _under(self, department: int, roots: set[int]) -> bool:
        seen: set[int] = set()
        current: int | None = department
        while current and current not in seen:
            if current in roots:
                return True
            seen.add(current)
            current = self.parents.get(current)
        return False

    def users_of(self, userid: int) -> set[int]:
        companies = {
            c for u, c, _d, kind, s in self.memberships if u == userid and kind == 1 and not s
        }
        departments = {
            d for u, _c, d, kind, s in self.memberships if u == userid and kind == 2 and not s
        }
        seen = {u for u, c, _d, _k, _s in self.memberships if c in companies}
        seen |= {u for u, _c, d, _k, _s in self.memberships if self._under(d, departments)}
        return seen | {userid}

    def courses_of(self, userid: int) -> set[int]:
        taught = {int(course) for u, course in self.teaching if u == userid}
        return taught | self.category_courses.get(userid, set())

    def sees_all(self, userid: int) -> bool:
        return userid in self.site_managers

    def companies_of(self, userid: int) -> set[int]:
        return {c for u, c, _d, kind, s in self.memberships if u == userid and kind == 1 and not s}

    def acting_users(self) -> list[int]:
        managers = sorted(
            {u for u, *_rest, kind, s in self.memberships if kind in (1, 2) and not s}
        )
        teachers = sorted({int(u) for u, _c in self.teaching})
        teachers += sorted(self.site_managers | set(self.category_courses))
        learners = sorted({u for u, *_rest, kind, _s in self.memberships if kind == 0})[:6]
        chosen = dict.fromkeys([*managers, *teachers, *learners])
        return [u for u in chosen if u in self.active and u not in self.admins]


def key(row: dict[str, Any]) -> tuple[str, ...]:
    return tuple(str(value) for value in row.values())


def test_each_user_sees_exactly_the_rows_they_may(demo: str) -> None:
    """Scoped rows equal the operator's rows filtered by the independently computed rules."""
    rules = Visibility(demo)
    acting = rules.acting_users()
    assert len(acting) >= 8, "the demo should have managers, teachers and learners to act as"
    everything = {report: report_rows(demo, report, as_of=AS_OF) for report in ROW_REPORTS}
    compared = 0
    for userid in acting:
        users, courses = rules.users_of(userid), rules.courses_of(userid)
        for report in ROW_REPORTS:
            allowed = sorted(
                key(row)
                for row in everything[report]
                if rules.sees_all(userid) or row["userid"] in users or row["courseid"] in courses
            )
            scoped = sorted(
                key(row) for row in report_rows(demo, report, as_of=AS_OF, as_user=str(userid))
            )
            assert scoped == allowed, f"{report} as user {userid}"
            compared += len(allowed)
        if rules.sees_all(userid):
            assert report_rows(demo, "company_overview", as_of=AS_OF, as_user=str(userid))
        elif rules.companies_of(userid):
            overview = report_rows(demo, "company_overview", as_of=AS_OF, as_user=str(userid))
            assert {row["companyid"] for row in overview} <= rules.companies_of(userid)
        else:
            # Company figures include users outside the user's view: refused, not filtered.
            with pytest.raises(PermissionDeniedError):
                report_rows(demo, "company_overview", as_of=AS_OF, as_user=str(userid))
    assert compared > 0


def test_aggregates_shrink_under_a_scope(demo: str) -> None:
    rules = Visibility(demo)
    everyone = {r["month"]: r["count"] for r in report_rows(demo, "enrolment_trends", as_of=AS_OF)}
    for userid in rules.acting_users()[:6]:
        try:
            scoped = report_rows(demo, "enrolment_trends", as_of=AS_OF, as_user=str(userid))
        except PermissionDeniedError:
            continue
        for row in scoped:
            assert row["count"] <= everyone[row["month"]]


def test_every_manager_of_a_multi_company_user_sees_their_rows(demo: str) -> None:
    rules = Visibility(demo)
    companies_by_user: dict[int, set[int]] = {}
    for u, c, _d, _kind, _s in rules.memberships:
        companies_by_user.setdefault(u, set()).add(c)
    shared = {u for u, cs in companies_by_user.items() if len(cs) > 1 and u in rules.active}
    assert shared, "the demo should have users in several companies"
    rows = report_rows(demo, "course_completion", as_of=AS_OF)
    learner = next(row["userid"] for row in rows if row["userid"] in shared)
    expected = sorted(key(row) for row in rows if row["userid"] == learner)
    managers = {
        u
        for u, c, _d, kind, s in rules.memberships
        if c in companies_by_user[learner] and kind == 1 and not s and u in rules.active
    }
    assert len(managers) >= 2 or len(companies_by_user[learner]) >= 2
    for manager in managers:
        seen = report_rows(demo, "course_completion", as_of=AS_OF, as_user=str(manager))
        assert sorted(key(row) for row in seen if row["userid"] == learner) == expected


def test_manager_roles_are_in_the_demo(demo: str) -> None:
    rules = Visibility(demo)
    assert rules.site_managers, "the demo should have a manager in the system context"
    assert any(rules.category_courses.values()), "and one in a category with courses"


def test_department_managers_pick_their_company(demo: str) -> None:
    """A department manager's --company is their department's company; rows stay their subtree."""
    rules = Visibility(demo)
    company_of_department = dict(fetch(demo, "SELECT id, company FROM mdl_department"))
    managers = [
        (u, c)
        for u, c, _d, kind, s in rules.memberships
        if kind == 2 and not s and u in rules.active and u not in rules.admins
        and not rules.companies_of(u) and not rules.sees_all(u)
    ]  # fmt: skip
    assert managers, "the demo should have department managers"
    everything = report_rows(demo, "course_completion", as_of=AS_OF)
    members = {(u, c) for u, c, *_rest in rules.memberships}
    for userid, company in managers[:3]:
        users, courses = rules.users_of(userid), rules.courses_of(userid)
        expected = sorted(
            key(row)
            for row in everything
            if (row["userid"] in users or row["courseid"] in courses)
            and (row["userid"], company) in members
        )
        got = report_rows(
            demo, "course_completion", as_of=AS_OF, as_user=str(userid), company=company
        )
        assert sorted(key(row) for row in got) == expected
        others = set(company_of_department.values()) - {company} - rules.companies_of(userid)
        departments_elsewhere = {
            c for u, c, _d, kind, _s in rules.memberships if u == userid and kind == 2
        }
        for other in sorted(others - departments_elsewhere)[:1]:
            with pytest.raises(PermissionDeniedError):
                report_rows(
                    demo, "course_completion", as_of=AS_OF, as_user=str(userid), company=other
                )


def test_companies_lists_a_department_managers_company(demo: str) -> None:
    import json

    from tests.cli_runner import invoke

    rules = Visibility(demo)
    userid, company, department = next(
        (u, c, d)
        for u, c, d, kind, s in rules.memberships
        if kind == 2 and not s and u in rules.active and not rules.companies_of(u)
    )
    result = invoke(
        "companies", "--as-user", str(userid), "--format", "json",
        env={"MANIREPORTS_MOODLE_URL": demo, "MANIREPORTS_STATE_URL": "sqlite://"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr.decode()
    listed = json.loads(result.stdout)
    assert {row["companyid"] for row in listed} >= {company}
    assert department in {row["departmentid"] for row in listed}


def test_analytics_as_a_viewer_are_the_sites_rows_of_their_learners(
    demo: str, tmp_path: Path
) -> None:
    """at_risk and user_engagement (with --explain, so the course references are compared too)
    as each acting user are the operator's rows of the learners that user's course_progress
    shows: a learner is measured against their whole course, whoever asks."""
    state_url = f"sqlite:///{tmp_path / 'state.sqlite'}"
    StateDB(state_url).upgrade()
    app = App(
        load_config(environ={"MANIREPORTS_MOODLE_URL": demo, "MANIREPORTS_STATE_URL": state_url})
    )
    try:
        explain = {"explain": "true"}
        everything = {
            report: produce(app, report, params=explain, as_of=AS_OF) for report in ANALYTICS
        }
        compared = 0
        for userid in Visibility(demo).acting_users():
            shown = {
                (row["userid"], row["courseid"])
                for row in report_rows(demo, "course_progress", as_of=AS_OF, as_user=str(userid))
            }
            for report in ANALYTICS:
                scoped = produce(app, report, params=explain, as_of=AS_OF, as_user=str(userid))
                expected = [r for r in everything[report] if (r["userid"], r["courseid"]) in shown]
                assert scoped == expected, f"{report} as user {userid}"
                compared += len(expected)
        assert compared > 0
    finally:
        app.moodle.dispose()
        app.state.close()
