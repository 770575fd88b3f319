"""course_completion against a hand-made site on every engine: Moodle's tracking rules, by hand.

NOW is the moment of the run (bound with --as-of). Each user below is one rule of who Moodle's
completion report tracks (completion_info::get_tracked_users); the expected rows were worked out by
reading those rules, not by running the query.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.moodle_site import MoodleSite
from tests.reporting import report_rows

NOW = 1_800_000_000
AS_OF = datetime.fromtimestamp(NOW, UTC).strftime("%Y-%m-%d %H:%M:%S")
DONE_AT = NOW - 86_400


@pytest.fixture
def site(db_url: str) -> Iterator[MoodleSite]:
    s = MoodleSite(db_url)
    a = s.course("A")
    b = s.course("B", enablecompletion=0)
    users = {}
    for name in (
        "active", "done", "suspendeduser", "deleted", "uesuspended", "instanceoff", "future",
        "startsnow", "expired", "endsnow", "norole", "teacher", "two", "sysrole", "inb",
        "unenrolleddone",
    ):  # fmt: skip
        extra: dict[str, Any] = {}
        if name == "suspendeduser":
            extra["suspended"] = 1
        if name == "deleted":
            extra["deleted"] = 1
        users[name] = s.user(name, **extra)
    s.enrol(users["active"], a, timestart=NOW - 1000)
    s.enrol(users["done"], a, timestart=NOW - 5000)
    s.complete(users["done"], a, DONE_AT)
    s.enrol(users["suspendeduser"], a)
    s.enrol(users["deleted"], a)
    s.enrol(users["uesuspended"], a, status=1)
    s.enrol(users["instanceoff"], a, instance=s.enrol_instance(a, "self", status=1))
    s.enrol(users["future"], a, timestart=NOW + 10)
    s.enrol(users["startsnow"], a, timestart=NOW)
    s.enrol(users["expired"], a, timeend=NOW - 1)
    s.enrol(users["endsnow"], a, timeend=NOW)
    s.enrol(users["norole"], a, role=None)
    s.enrol(users["teacher"], a, role="editingteacher")
    first = s.enrol(users["two"], a, timestart=NOW - 300)
    s.enrol(users["two"], a, method="self", timestart=NOW - 9000, role=None)
    assert first
    s.enrol(users["sysrole"], a, role=None, timecreated=NOW - 42)
    s.assign(users["sysrole"], s.system_context, "student")
    s.enrol(users["inb"], b)
    s.complete(users["unenrolleddone"], a, DONE_AT)
    alpha = s.insert("company", name="Alpha", shortname="alpha", code="A", city="", country="")
    beta = s.insert("company", name="Beta", shortname="beta", code="B", city="", country="")
    s.insert("company_users", companyid=beta, userid=users["done"], departmentid=0)
    s.insert("company_users", companyid=alpha, userid=users["done"], departmentid=0)
    s.insert("company_users", companyid=alpha, userid=users["active"], departmentid=0)
    s.users = users  # type: ignore[attr-defined]
    s.course_a = a  # type: ignore[attr-defined]
    yield s
    s.dispose()


def run(site: MoodleSite, **params: str) -> list[dict[str, Any]]:
    as_of = params.pop("as_of", AS_OF)
    return report_rows(site.url, "course_completion", as_of=as_of, params=params)


def test_tracked_learners_by_moodles_rules(site: MoodleSite) -> None:
    rows = run(site)
    names = sorted(row["username"] for row in rows)
    assert names == ["active", "done", "suspendeduser", "sysrole", "two"]
    by_name = {row["username"]: row for row in rows}
    assert int(by_name["done"]["completed"]) == 1
    assert int(by_name["done"]["timecompleted"]) == DONE_AT
    assert int(by_name["active"]["completed"]) == 0
    assert by_name["active"]["timecompleted"] is None
    # The first enrolment method (lowest id) gives the enrolment date, not the earliest start.
    assert int(by_name["two"]["enrolled"]) == NOW - 300
    # No start date: the enrolment's creation time.
    assert int(by_name["sysrole"]["enrolled"]) == NOW - 42
    assert by_name["done"]["company"] == "Alpha, Beta"
    assert by_name["active"]["company"] == "Alpha"
    assert by_name["two"]["company"] is None
    assert by_name["active"]["fullname"] == "Active Tester"


def test_as_of_moves_now(site: MoodleSite) -> None:
    later = datetime.fromtimestamp(NOW + 100, UTC).strftime("%Y-%m-%d %H:%M:%S")
    names = sorted(row["username"] for row in run(site, as_of=later))
    # "future" and "startsnow" have started by then; "endsnow" has ended.
    assert names == ["active", "done", "future", "startsnow", "suspendeduser", "sysrole", "two"]


def test_completion_after_the_moment_had_not_happened(site: MoodleSite) -> None:
    # --as-of re-runs a past moment with the answer it had then. "active" completes an hour
    # after NOW: as of NOW not completed, an hour later completed.
    site.complete(site.users["active"], site.course_a, NOW + 3600)  # type: ignore[attr-defined]
    now_rows = {row["username"]: row for row in run(site)}
    assert int(now_rows["active"]["completed"]) == 0
    assert now_rows["active"]["timecompleted"] is None
    later = datetime.fromtimestamp(NOW + 3600, UTC).strftime("%Y-%m-%d %H:%M:%S")
    later_rows = {row["username"]: row for row in run(site, as_of=later)}
    assert int(later_rows["active"]["completed"]) == 1
    assert int(later_rows["active"]["timecompleted"]) == NOW + 3600


def test_course_company_and_period_filters(site: MoodleSite) -> None:
    assert run(site, courseid="999999") == []
    alpha_rows = run(site, companyid="1")
    assert sorted(r["username"] for r in alpha_rows) == ["active", "done"]
    assert {r["company"] for r in alpha_rows} == {"Alpha"}
    day = datetime.fromtimestamp(DONE_AT, UTC).strftime("%Y-%m-%d")
    # Completed on that day (enrolled earlier): included by completion time.
    in_period = run(site, **{"from": day, "to": day})
    assert [r["username"] for r in in_period] == ["done"]
