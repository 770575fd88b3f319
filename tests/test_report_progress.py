"""course_progress against hand-made sites on every engine, on Moodle 4.5 and on Moodle 5.0.

The expected numbers were worked out by hand from Moodle's rules (its course progress and the
completion report's tracked users, as noted in sql/course_progress.sql), not by running the query:
  * done = activity states 1 and 2 only (3 = complete-fail, 4 = fail-hidden, 0 or no row: not done);
  * the denominator = completion > 0, not being deleted, module type enabled; on 4.x hidden and
    stealth activities count, on 5.0+ they do not;
  * a completed course is 100 whatever the activities say; no counted activity is null.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from manireports.app import App
from manireports.config import load_config
from manireports.errors import InputError
from manireports.reports.run import ReportRequest, prepare_report
from tests.moodle_site import MoodleSite
from tests.reporting import report_rows

NOW = 1_800_000_000
AS_OF = datetime.fromtimestamp(NOW, UTC).strftime("%Y-%m-%d %H:%M:%S")
SEEN = NOW - 500


class Site:
    """A MoodleSite with the course ids and user ids the tests refer to."""

    def __init__(self, moodle: MoodleSite) -> None:
        self.moodle = moodle
        self.courses: dict[str, int] = {}
        self.users: dict[str, int] = {}
        self.cms: dict[str, int] = {}
        self.module_ids: dict[str, int] = {}

    def module(self, name: str, visible: int = 1) -> int:
        if name not in self.module_ids:
            self.module_ids[name] = self.moodle.insert("modules", name=name, visible=visible)
        return self.module_ids[name]

    def activity(self, key: str, course: str, modname: str, **values: Any) -> None:
        module = self.module(modname)
        self.cms[key] = self.moodle.insert(
            "course_modules", course=self.courses[course], module=module, instance=1, **values
        )

    def state(self, user: str, cm: str, completionstate: int) -> None:
        self.moodle.insert(
            "course_modules_completion",
            coursemoduleid=self.cms[cm],
            userid=self.users[user],
            completionstate=completionstate,
            timemodified=NOW - 1000,
        )


def build(url: str, release: str) -> Site:
    s = Site(MoodleSite(url, release=release))
    m = s.moodle
    s.module("chat", visible=0)  # a module type disabled site-wide
    for name, extra in (("P", {}), ("Q", {"enablecompletion": 0}), ("R", {}), ("S", {})):
        s.courses[name] = m.course(name, **extra)
    # Course P: the activities below, one per rule.
    s.activity("quiz", "P", "quiz", completion=2)
    s.activity("page", "P", "page", completion=1)
    s.activity("assign", "P", "assign", completion=2)
    s.activity("hidden", "P", "forum", completion=1, visible=0)
    s.activity("stealth", "P", "url", completion=1, visibleoncoursepage=0)
    s.activity("notracking", "P", "label", completion=0)
    s.activity("deleting", "P", "resource", completion=1, deletioninprogress=1)
    s.activity("disabledtype", "P", "chat", completion=1)
    # So in P the denominator is quiz, page, assign, hidden, stealth = 5 on 4.5,
    # and quiz, page, assign = 3 on 5.0 (hidden and stealth drop out).
    # Course R: nothing with completion.  Course S: one hidden activity with completion.
    s.activity("r_label", "R", "label", completion=0)
    s.activity("s_hidden", "S", "forum", completion=1, visible=0)
    for name in (
        "alice", "bob", "carol", "dave", "erin", "teacher", "frank", "grace", "hank", "gone",
    ):  # fmt: skip
        s.users[name] = m.user(name, deleted=1 if name == "gone" else 0)
    for name in ("alice", "bob", "carol", "dave", "erin", "gone"):
        m.enrol(s.users[name], s.courses["P"], timestart=NOW - 10_000)
    m.enrol(s.users["teacher"], s.courses["P"], role="editingteacher")
    m.enrol(s.users["alice"], s.courses["Q"])
    m.enrol(s.users["frank"], s.courses["R"])
    m.enrol(s.users["grace"], s.courses["R"])
    m.enrol(s.users["hank"], s.courses["S"])

    # alice: quiz 1, page 2, assign 3 (fail), hidden 1, stealth 0, and states on activities that
    # never count (no tracking, being deleted, disabled type).
    #   4.5: done quiz, page, hidden = 3 of 5 -> 60.00
    #   5.0: done quiz, page = 2 of 3 -> 66.67
    for cm, state in (
        ("quiz", 1), ("page", 2), ("assign", 3), ("hidden", 1), ("stealth", 0),
        ("notracking", 1), ("deleting", 1), ("disabledtype", 1),
    ):  # fmt: skip
        s.state("alice", cm, state)
    m.insert("user_lastaccess", userid=s.users["alice"], courseid=s.courses["P"], timeaccess=SEEN)
    # bob: quiz 4 (fail on a hidden grade), page has no row, assign 2, stealth 1.
    #   4.5: done assign, stealth = 2 of 5 -> 40.00
    #   5.0: done assign = 1 of 3 -> 33.33
    for cm, state in (("quiz", 4), ("assign", 2), ("stealth", 1)):
        s.state("bob", cm, state)
    m.insert("user_lastaccess", userid=s.users["bob"], courseid=s.courses["P"], timeaccess=0)
    # carol: no completion rows -> 0 of 5 / 0 of 3 -> 0.00
    # dave: the course is complete -> 100 whatever the activities say (only quiz is done);
    #   activities_completed is reported as the total: 5 (4.5) or 3 (5.0).
    s.state("dave", "quiz", 1)
    m.complete(s.users["dave"], s.courses["P"], NOW - 100)
    # erin: a course_completions row that is not complete (timecompleted NULL); quiz done.
    #   4.5: 1 of 5 -> 20.00     5.0: 1 of 3 -> 33.33
    s.state("erin", "quiz", 1)
    m.complete(s.users["erin"], s.courses["P"], None)
    # gone is deleted, teacher is not tracked: not listed. alice in Q: completion off, not listed.
    # frank in R: no activity counts -> total 0, progress null.
    # grace in R: completed with no activity -> 100 (the course check comes first), total 0.
    m.complete(s.users["grace"], s.courses["R"], NOW - 100)
    # hank in S: 4.5: 1 of 1 -> 100.00 (not a completed course)   5.0: nothing counts -> null.
    s.state("hank", "s_hidden", 1)
    return s


@pytest.fixture(params=["4.5", "5.0"])
def site(request: pytest.FixtureRequest, db_url: str) -> Iterator[Site]:
    s = build(db_url, request.param)
    s.release = request.param  # type: ignore[attr-defined]
    yield s
    s.moodle.dispose()


def run(site: Site, **params: str) -> dict[tuple[str, str], dict[str, Any]]:
    rows = report_rows(site.moodle.url, "course_progress", as_of=AS_OF, params=params)
    by_key = {}
    names = {v: k for k, v in site.users.items()}
    courses = {v: k for k, v in site.courses.items()}
    for row in rows:
        key = (names[int(row["userid"])], courses[int(row["courseid"])])
        assert key not in by_key, f"{key} listed twice"
        by_key[key] = row
    return by_key


def summary(row: dict[str, Any]) -> tuple[int, int, float | None]:
    percent = row["progress_percent"]
    return (
        int(row["activities_total"]),
        int(row["activities_completed"]),
        None if percent is None else round(float(percent), 2),
    )


EXPECTED = {
    "4.5": {
        ("alice", "P"): (5, 3, 60.0),
        ("bob", "P"): (5, 2, 40.0),
        ("carol", "P"): (5, 0, 0.0),
        ("dave", "P"): (5, 5, 100.0),
        ("erin", "P"): (5, 1, 20.0),
        ("frank", "R"): (0, 0, None),
        ("grace", "R"): (0, 0, 100.0),
        ("hank", "S"): (1, 1, 100.0),
    },
    "5.0": {
        ("alice", "P"): (3, 2, 66.67),
        ("bob", "P"): (3, 1, 33.33),
        ("carol", "P"): (3, 0, 0.0),
        ("dave", "P"): (3, 3, 100.0),
        ("erin", "P"): (3, 1, 33.33),
        ("frank", "R"): (0, 0, None),
        ("grace", "R"): (0, 0, 100.0),
        ("hank", "S"): (0, 0, None),
    },
}


def test_progress_by_moodles_rules_for_the_sites_version(site: Site) -> None:
    rows = run(site)
    release = site.release  # type: ignore[attr-defined]
    assert {key: summary(row) for key, row in rows.items()} == EXPECTED[release]
    alice = rows[("alice", "P")]
    assert alice["username"] == "alice"
    assert alice["fullname"] == "Alice Tester"
    assert alice["course_shortname"] == "P"
    assert int(alice["lastaccess"]) == SEEN
    # A user_lastaccess of 0 and no row at all both read as never.
    assert rows[("bob", "P")]["lastaccess"] is None
    assert rows[("carol", "P")]["lastaccess"] is None
    assert int(rows[("dave", "P")]["course_completed"]) == 1
    assert int(rows[("erin", "P")]["course_completed"]) == 0


def test_course_and_company_filters(site: Site) -> None:
    assert set(run(site, courseid=str(site.courses["R"]))) == {("frank", "R"), ("grace", "R")}
    assert run(site, courseid="999999") == {}
    m = site.moodle
    acme = m.insert("company", name="Acme", shortname="acme", city="", country="")
    m.insert("company_users", companyid=acme, userid=site.users["bob"], departmentid=0)
    m.insert("company_users", companyid=acme, userid=site.users["hank"], departmentid=0)
    rows = run(site, companyid=str(acme))
    assert set(rows) == {("bob", "P"), ("hank", "S")}
    # The filter changes who is listed, never their numbers.
    release = site.release  # type: ignore[attr-defined]
    assert summary(rows[("bob", "P")]) == EXPECTED[release][("bob", "P")]


def scoped_keys(site: Site, as_user: str | None = None, company: int | None = None) -> set[Any]:
    app = App(load_config(environ={"MANIREPORTS_MOODLE_URL": site.moodle.url}))
    names = {v: k for k, v in site.users.items()}
    courses = {v: k for k, v in site.courses.items()}
    try:
        request = ReportRequest("course_progress", as_of=AS_OF, as_user=as_user, company=company)
        prepared = prepare_report(app, request)
        with app.moodle.stream(prepared.sql, prepared.params) as stream:
            return {(names[int(row[0])], courses[int(row[3])]) for row in stream.rows}
    finally:
        app.moodle.dispose()


def test_scope(site: Site) -> None:
    release = site.release  # type: ignore[attr-defined]
    in_p = {key for key in EXPECTED[release] if key[1] == "P"}
    # The teacher of P sees P's learners (and their own rows: none, they are not tracked).
    assert scoped_keys(site, as_user="teacher") == in_p
    # A learner sees their own rows only.
    assert scoped_keys(site, as_user="alice") == {("alice", "P")}
    m = site.moodle
    acme = m.insert("company", name="Acme", shortname="acme", city="", country="")
    m.insert("company_users", companyid=acme, userid=site.users["hank"], departmentid=0)
    assert scoped_keys(site, company=acme) == {("hank", "S")}


def test_site_wide_completion_off_shows_no_progress(sqlite_url: str) -> None:
    s = build(sqlite_url, "4.5")
    try:
        s.moodle.insert("config", name="enablecompletion", value="0")
        rows = run(s)
        # The same learners, and no progress for anyone, not even a completed course.
        assert set(rows) == set(EXPECTED["4.5"])
        assert {row["progress_percent"] for row in rows.values()} == {None}
    finally:
        s.moodle.dispose()


@pytest.mark.parametrize(("release", "expected"), [("4.1", 60.0), ("5.1", 66.67)])
def test_other_releases_follow_their_branch(sqlite_url: str, release: str, expected: float) -> None:
    s = build(sqlite_url, release)
    try:
        assert summary(run(s)[("alice", "P")])[2] == expected
    finally:
        s.moodle.dispose()


def test_company_filter_refused_without_iomad(sqlite_url: str) -> None:
    m = MoodleSite(sqlite_url, iomad=False)
    try:
        with pytest.raises(InputError, match="IOMAD"):
            report_rows(sqlite_url, "course_progress", as_of=AS_OF, params={"companyid": "1"})
        assert report_rows(sqlite_url, "course_progress", as_of=AS_OF) == []
    finally:
        m.dispose()


def test_as_of_counts_only_completions_made_by_then(site: Site) -> None:
    """Re-run at an earlier moment: completions made after it had not happened yet."""
    release = site.release  # type: ignore[attr-defined]

    def at(moment: int) -> dict[tuple[str, str], dict[str, Any]]:
        text = datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%d %H:%M:%S")
        rows = report_rows(site.moodle.url, "course_progress", as_of=text)
        names = {v: k for k, v in site.users.items()}
        courses = {v: k for k, v in site.courses.items()}
        return {(names[int(r["userid"])], courses[int(r["courseid"])]): r for r in rows}

    # NOW - 200: dave's course completion (NOW - 100) is still ahead, his quiz (NOW - 1000) done:
    # 4.5: 1 of 5 -> 20.00; 5.0: 1 of 3 -> 33.33, exactly erin's figures.
    dave = at(NOW - 200)[("dave", "P")]
    assert int(dave["course_completed"]) == 0
    assert float(dave["progress_percent"]) == (20.0 if release == "4.5" else 33.33)
    # NOW - 2000: no activity completion (all made at NOW - 1000) had happened: alice 0.00.
    assert float(at(NOW - 2000)[("alice", "P")]["progress_percent"]) == 0.0
