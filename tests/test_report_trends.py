"""enrolment_trends and completion_trends on every engine, with events on month boundaries.

Each event below is written as a wall-clock time in the site timezone together with the month
it must land in, worked out by hand: calendar months are the site's, so 23:30 on the last day
of a month is that month and 00:30 on the first day is the next one, whichever side of UTC the
zone lies (Europe/Berlin and Pacific/Auckland are ahead of UTC, America/Los_Angeles behind, so a
UTC month would misplace one kind of event or the other). --as-of is 2026-03-15 12:00 local, so
the window is 2025-04 .. 2026-03 and the current month counts only up to that moment.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from manireports.app import App
from manireports.config import load_config
from manireports.errors import InputError
from manireports.reports.run import ReportRequest, prepare_report
from manireports.reports.steps.trends import trend_months
from tests.moodle_site import MoodleSite
from tests.reporting import report_rows

AS_OF = "2026-03-15 12:00:00"
WINDOW = [
    "2025-04", "2025-05", "2025-06", "2025-07", "2025-08", "2025-09",
    "2025-10", "2025-11", "2025-12", "2026-01", "2026-02", "2026-03",
]  # fmt: skip

# (local wall time, the month it belongs to, or None when it is outside the window)
EVENTS = [
    ("2025-03-31 23:30:00", None),  # the day before the window opens
    ("2025-04-01 00:30:00", "2025-04"),  # first half hour of the window
    ("2025-10-31 23:30:00", "2025-10"),  # last day of October (Berlin is back on CET)
    ("2025-11-01 00:30:00", "2025-11"),
    ("2026-01-31 23:30:00", "2026-01"),
    ("2026-02-28 23:59:59", "2026-02"),  # last second of February
    ("2026-03-01 00:00:00", "2026-03"),  # first second of March
    ("2026-03-15 11:59:59", "2026-03"),
    ("2026-03-15 12:00:00", "2026-03"),  # exactly --as-of: already happened
    ("2026-03-15 12:00:01", None),  # after --as-of
    ("2026-03-31 23:30:00", None),  # later in the current month
]
# Per month, from the list above: 2025-04: 1, 2025-10: 1, 2025-11: 1, 2026-01: 1, 2026-02: 1,
# 2026-03: 3; every other month 0. Total 8 of the 11 events.
EXPECTED = dict.fromkeys(WINDOW, 0) | {
    "2025-04": 1, "2025-10": 1, "2025-11": 1, "2026-01": 1, "2026-02": 1, "2026-03": 3,
}  # fmt: skip
ZONES = ["Europe/Berlin", "Pacific/Auckland", "America/Los_Angeles"]


def moment(local: str, zone: str) -> int:
    return int(datetime.fromisoformat(local).replace(tzinfo=ZoneInfo(zone)).timestamp())


def test_local_times_by_hand() -> None:
    # 2026-01-01 00:00 UTC is 1767225600; + 30 days + 23.5 h = 2026-01-31 23:30 UTC = 1769902200,
    # which is 00:30 on 1 February in Berlin (CET, UTC+1), and 12:30 on 1 February in Auckland
    # (NZDT, UTC+13).
    assert moment("2026-02-01 00:30:00", "Europe/Berlin") == 1_769_902_200
    assert moment("2026-02-01 12:30:00", "Pacific/Auckland") == 1_769_902_200


def test_months_are_the_sites_calendar_months() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    months = trend_months(moment(AS_OF, "Europe/Berlin"), berlin)
    assert [m.label for m in months] == WINDOW
    # April 2025 starts at 00:00 CEST (UTC+2) = 2025-03-31 22:00 UTC; 2025-04-01 00:00 UTC is
    # 1743465600, so 2 h earlier: 1743458400. Each month ends where the next starts.
    assert months[0].start == 1_743_458_400
    assert all(a.end == b.start for a, b in pairwise(months))
    assert months[-1].end == moment(AS_OF, "Europe/Berlin") + 1


def counts(url: str, report: str, as_of: str = AS_OF, **params: str) -> dict[str, int]:
    rows = report_rows(url, report, as_of=as_of, params=params)
    assert [set(row) for row in rows] == [{"month", "count"}] * 12
    months = [row["month"] for row in rows]
    assert months == sorted(months)
    return {row["month"]: int(row["count"]) for row in rows}


@pytest.fixture(params=ZONES)
def zone(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def enrolments(db_url: str, zone: str) -> Iterator[MoodleSite]:
    s = MoodleSite(db_url, timezone=zone)
    course = s.course("A")
    other = s.course("B")
    learner = s.user("learner")
    for local, _month in EVENTS:
        s.enrol(learner, course, timecreated=moment(local, zone), role=None)
    # Counted: a suspended enrolment and one by a disabled method are still enrolments made in
    # 2026-02; so is one in another course (only without the course filter).
    t = moment("2026-02-10 10:00:00", zone)
    s.enrol(learner, course, status=1, timecreated=t, role=None)
    s.enrol(learner, course, instance=s.enrol_instance(course, status=1), timecreated=t, role=None)
    other_user = s.user("other")
    s.enrol(other_user, other, timecreated=t, role=None)
    # Not counted: a deleted user's enrolment.
    gone = s.user("gone", deleted=1)
    s.enrol(gone, course, timecreated=t, role=None)
    s.company = s.insert(  # type: ignore[attr-defined]
        "company", name="Acme", shortname="acme", city="", country=""
    )
    s.insert("company_users", companyid=s.company, userid=other_user, departmentid=0)  # type: ignore[attr-defined]
    s.course_a = course  # type: ignore[attr-defined]
    yield s
    s.dispose()


def test_enrolments_per_local_month(enrolments: MoodleSite) -> None:
    result = counts(enrolments.url, "enrolment_trends")
    # EXPECTED plus, in 2026-02, the suspended, disabled-method and other-course enrolments.
    assert result == EXPECTED | {"2026-02": EXPECTED["2026-02"] + 3}
    course_only = counts(enrolments.url, "enrolment_trends", courseid=str(enrolments.course_a))  # type: ignore[attr-defined]
    assert course_only == EXPECTED | {"2026-02": EXPECTED["2026-02"] + 2}
    company = counts(enrolments.url, "enrolment_trends", companyid=str(enrolments.company))  # type: ignore[attr-defined]
    assert company == dict.fromkeys(WINDOW, 0) | {"2026-02": 1}


def test_as_of_moves_the_window(enrolments: MoodleSite, zone: str) -> None:
    result = counts(enrolments.url, "enrolment_trends", as_of="2026-04-02 00:00:00")
    # Window 2025-05 .. 2026-04: 2025-04 drops out; the two later March events (12:00:01 and
    # 31 March 23:30) now count: March 3 + 2 = 5; April has none.
    assert list(result) == [*WINDOW[1:], "2026-04"]
    assert result == {m: EXPECTED.get(m, 0) for m in result} | {
        "2026-02": EXPECTED["2026-02"] + 3,
        "2026-03": 5,
    }
    # A year later nothing is left: twelve zero months.
    assert set(counts(enrolments.url, "enrolment_trends", as_of="2027-06-01").values()) == {0}


def scoped_counts(
    site: MoodleSite, report: str, as_user: str | None = None, company: int | None = None
) -> dict[str, int]:
    app = App(load_config(environ={"MANIREPORTS_MOODLE_URL": site.url}))
    try:
        request = ReportRequest(report, as_of=AS_OF, as_user=as_user, company=company)
        prepared = prepare_report(app, request)
        assert prepared.report.transform is not None
        with app.moodle.stream(prepared.sql, prepared.params) as stream:
            rows = list(prepared.report.transform(stream.rows, prepared.context))
        return {str(month): int(count) for month, count in rows}
    finally:
        app.moodle.dispose()


def test_enrolments_scoped_to_what_the_user_may_see(enrolments: MoodleSite) -> None:
    course_a = enrolments.course_a  # type: ignore[attr-defined]
    # A teacher of course A sees the enrolments in A (and their own, none): the courseid count.
    teacher = enrolments.user("teach")
    enrolments.assign(teacher, enrolments.course_context(course_a), "editingteacher")
    assert scoped_counts(enrolments, "enrolment_trends", as_user="teach") == EXPECTED | {
        "2026-02": EXPECTED["2026-02"] + 2
    }
    # --company narrows the operator's run to the company's users, as the companyid parameter.
    company = enrolments.company  # type: ignore[attr-defined]
    assert scoped_counts(enrolments, "enrolment_trends", company=company) == dict.fromkeys(
        WINDOW, 0
    ) | {"2026-02": 1}


@pytest.fixture
def completions(db_url: str, zone: str) -> Iterator[MoodleSite]:
    s = MoodleSite(db_url, timezone=zone)
    course = s.course("A")
    other = s.course("B")
    for index, (local, _month) in enumerate(EVENTS):
        s.complete(s.user(f"u{index}"), course, moment(local, zone))
    t = moment("2026-02-10 10:00:00", zone)
    # Counted without the course filter: a completion in another course.
    s.complete(s.user("other"), other, t)
    # Not counted: a row that is not complete, and a deleted user's completion.
    s.complete(s.user("started"), course, None)
    s.complete(s.user("gone", deleted=1), course, t)
    s.course_a = course  # type: ignore[attr-defined]
    yield s
    s.dispose()


def test_completions_per_local_month(completions: MoodleSite) -> None:
    result = counts(completions.url, "completion_trends")
    assert result == EXPECTED | {"2026-02": EXPECTED["2026-02"] + 1}
    course_only = counts(completions.url, "completion_trends", courseid=str(completions.course_a))  # type: ignore[attr-defined]
    assert course_only == EXPECTED


@pytest.mark.parametrize("report", ["enrolment_trends", "completion_trends"])
def test_empty_site_gives_twelve_zero_months(sqlite_url: str, report: str) -> None:
    s = MoodleSite(sqlite_url, timezone="Pacific/Auckland")
    try:
        assert counts(sqlite_url, report) == dict.fromkeys(WINDOW, 0)
    finally:
        s.dispose()


@pytest.mark.parametrize("report", ["enrolment_trends", "completion_trends"])
def test_company_filter_refused_without_iomad(sqlite_url: str, report: str) -> None:
    s = MoodleSite(sqlite_url, iomad=False)
    try:
        with pytest.raises(InputError, match="IOMAD"):
            report_rows(sqlite_url, report, as_of=AS_OF, params={"companyid": "1"})
    finally:
        s.dispose()
