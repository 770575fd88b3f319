"""company_overview against a hand-made IOMAD site on every engine; refused on plain Moodle.

NOW is the moment of the run (--as-of). The expected figures were counted by hand from the rules
in sql/company_overview.sql: users are the company's non-deleted users (any department, once
each, company-suspended included); enrolments are their (user, course) pairs with an active
enrolment at NOW in any course; completions are those pairs with a completed course; the rate is
completions / enrolments * 100 to 1 decimal, null without enrolments.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from manireports.app import App
from manireports.config import load_config
from manireports.errors import InputError, PermissionDeniedError
from manireports.moodle.schema import IOMAD_TABLES, create_moodle_tables
from manireports.reports.run import ReportRequest, prepare_report
from tests.moodle_site import MoodleSite
from tests.reporting import report_rows

NOW = 1_800_000_000
AS_OF = datetime.fromtimestamp(NOW, UTC).strftime("%Y-%m-%d %H:%M:%S")
DONE = NOW - 86_400


@pytest.fixture
def site(db_url: str) -> Iterator[MoodleSite]:
    s = MoodleSite(db_url)
    c1, c2, c3, c4, c5, c6 = (s.course(f"C{n}") for n in range(1, 7))
    company = {
        name: s.insert("company", name=name, shortname=name.lower(), city="", country="")
        for name in ("Gamma", "Beta", "Alpha", "Empty")
    }

    def member(user: int, name: str, department: int = 0, **extra: Any) -> None:
        s.insert(
            "company_users", companyid=company[name], userid=user, departmentid=department, **extra
        )

    # both: in Alpha twice (two departments) and in Beta; active in C1 (completed) and C2.
    both = s.user("both")
    member(both, "Alpha", 1)
    member(both, "Alpha", 2)
    member(both, "Beta")
    s.enrol(both, c1)
    s.complete(both, c1, DONE)
    s.enrol(both, c2)
    # alpha: Alpha only. C1 by two methods (one pair, not completed); C3 ended before NOW although
    # completed, C4 suspended, C5 by a disabled method, C6 starting after NOW: none of them active.
    alpha = s.user("alpha")
    member(alpha, "Alpha")
    s.enrol(alpha, c1)
    s.enrol(alpha, c1, method="self")
    s.enrol(alpha, c3, timeend=NOW - 1)
    s.complete(alpha, c3, DONE)
    s.enrol(alpha, c4, status=1)
    s.enrol(alpha, c5, instance=s.enrol_instance(c5, "self", status=1))
    s.enrol(alpha, c6, timestart=NOW + 10)
    # held: suspended in Alpha and on the site, still one of its users; C2 active and completed.
    held = s.user("held", suspended=1)
    member(held, "Alpha", suspended=1)
    s.enrol(held, c2)
    s.complete(held, c2, DONE)
    # gone: deleted, in Alpha and Gamma with an active completed enrolment: counted nowhere.
    gone = s.user("gone", deleted=1)
    member(gone, "Alpha")
    member(gone, "Gamma")
    s.enrol(gone, c1)
    s.complete(gone, c1, DONE)
    # Beta's own: idle (no enrolment) and beta3 (C2 active, not completed).
    idle = s.user("idle")
    member(idle, "Beta")
    beta3 = s.user("beta3")
    member(beta3, "Beta")
    s.enrol(beta3, c2)
    # outsider: in no company.
    outsider = s.user("outsider")
    s.enrol(outsider, c1)
    s.complete(outsider, c1, DONE)
    s.company = company  # type: ignore[attr-defined]
    yield s
    s.dispose()


def overview(site: MoodleSite, **params: str) -> list[tuple[Any, ...]]:
    as_of = params.pop("as_of", AS_OF)
    rows = report_rows(site.url, "company_overview", as_of=as_of, params=params)
    return [
        (
            row["company"],
            int(row["users"]),
            int(row["enrolments"]),
            int(row["completions"]),
            None if row["completion_rate"] is None else float(row["completion_rate"]),
        )
        for row in rows
    ]


def test_companies_by_hand(site: MoodleSite) -> None:
    assert overview(site) == [
        # users both, alpha, held = 3; pairs both-C1, both-C2, alpha-C1, held-C2 = 4;
        # completed both-C1, held-C2 = 2; 2 / 4 * 100 = 50.0
        ("Alpha", 3, 4, 2, 50.0),
        # users both, idle, beta3 = 3; pairs both-C1, both-C2, beta3-C2 = 3; completed both-C1
        # = 1; 1 / 3 * 100 = 33.33... -> 33.3
        ("Beta", 3, 3, 1, 33.3),
        ("Empty", 0, 0, 0, None),
        # Only a deleted user: nothing, and no rate.
        ("Gamma", 0, 0, 0, None),
    ]
    ids = {row["company"]: int(row["companyid"]) for row in report_rows(
        site.url, "company_overview", as_of=AS_OF
    )}  # fmt: skip
    assert ids == site.company  # type: ignore[attr-defined]


def test_company_filter_and_as_of(site: MoodleSite) -> None:
    beta = site.company["Beta"]  # type: ignore[attr-defined]
    assert overview(site, companyid=str(beta)) == [("Beta", 3, 3, 1, 33.3)]
    # 100 s later alpha's C6 enrolment has started: Alpha has 5 pairs, 2 / 5 * 100 = 40.0.
    later = datetime.fromtimestamp(NOW + 100, UTC).strftime("%Y-%m-%d %H:%M:%S")
    assert overview(site, as_of=later)[0] == ("Alpha", 3, 5, 2, 40.0)


def test_refused_on_plain_moodle(sqlite_url: str) -> None:
    s = MoodleSite(sqlite_url, iomad=False)
    try:
        with pytest.raises(InputError, match="iomad"):
            report_rows(sqlite_url, "company_overview", as_of=AS_OF)
    finally:
        s.dispose()


def scoped(site: MoodleSite, as_user: str | None = None, company: int | None = None) -> list[str]:
    """The companies listed when run as `as_user` and/or narrowed with --company."""
    app = App(load_config(environ={"MANIREPORTS_MOODLE_URL": site.url}))
    try:
        request = ReportRequest("company_overview", as_of=AS_OF, as_user=as_user, company=company)
        prepared = prepare_report(app, request)
        with app.moodle.stream(prepared.sql, prepared.params) as stream:
            return [str(row[1]) for row in stream.rows]
    finally:
        app.moodle.dispose()


def test_scope_by_company(site: MoodleSite) -> None:
    company = site.company  # type: ignore[attr-defined]
    # --company narrows the operator's run to that company's row.
    assert scoped(site, company=company["Beta"]) == ["Beta"]
    # A company manager of Alpha sees Alpha only (and, as a user of Alpha, is counted in it).
    boss = site.user("boss")
    site.insert(
        "company_users", companyid=company["Alpha"], userid=boss, departmentid=0, managertype=1
    )
    assert scoped(site, as_user="boss") == ["Alpha"]
    assert overview(site)[0] == ("Alpha", 4, 4, 2, 50.0)
    # A learner has no company grant: the overview cannot be limited to them, so it is refused.
    with pytest.raises(PermissionDeniedError):
        scoped(site, as_user="alpha")


def test_renamed_iomad_tables(db_url: str) -> None:
    """IOMAD's 2026 layout (local_iomad_* tables) gives the same overview."""
    s = MoodleSite(db_url, iomad=False)
    try:
        tables = create_moodle_tables(s.engine, s.prefix, IOMAD_TABLES["51plus"], iomad="51plus")
        companies = tables.tables[s.prefix + "local_iomad_companies"]
        members = tables.tables[s.prefix + "local_iomad_company_users"]
        course = s.course("C1")
        learner = s.user("learner")
        s.enrol(learner, course)
        s.complete(learner, course, DONE)
        with s.engine.begin() as connection:
            connection.execute(
                companies.insert().values(
                    id=7, name="Renamed", shortname="renamed", city="", country="", theme=""
                )
            )
            connection.execute(members.insert().values(companyid=7, userid=learner, departmentid=0))
        # One user, one active enrolment, completed: 1 / 1 * 100 = 100.0
        assert overview(s) == [("Renamed", 1, 1, 1, 100.0)]
    finally:
        s.dispose()
