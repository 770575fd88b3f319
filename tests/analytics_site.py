"""A hand-made site for the analytics tests, with every expected number worked out by hand.

NOW is 2026-01-20 12:00 UTC and the window is 10 days (window_days = 10): 2026-01-11 00:00 up to
NOW. The floors for a 10-day window are: time 360 s x 10 = 3600 s, active days 0.2 x 10 = 2,
interactions 2 x 10 = 20. References are max(90th percentile of the course, floor), where the
percentile of sorted values v0..v(n-1) is v[k] + f (v[k+1] - v[k]) with k + f = 0.9 (n - 1).
Weights are the defaults: time 0.3, login 0.2, completion 0.3, interaction 0.2.

Course A, four activities with completion, three learners and a teacher (tina); mona manages
the IOMAD company of bob and dave:
  alice: daily totals 7200 (01-12) + 3600 (01-15) = 10800 s, and 5000 s on 01-10 (outside);
         log: 2 events on each of 01-12..01-17, 5 minutes apart -> 12 interactions, 6 days;
         plus events that do not count (before the window, after NOW, 'logged in as',
         anonymous, origin cli); 2 of 4 activities done -> 50 %; last access NOW - 2 days.
  bob:   daily 1800 s (01-19); log 2 events on 01-19, 9 minutes apart -> 2, 1 day;
         1 of 4 done -> 25 %; last access NOW - 1 day.
  carol: nothing at all; 0 of 4 -> 0 %; never accessed.
  time:  [0, 1800, 10800]  p90 = 1800 + 0.8 x 9000 = 9000  ref 9000
  days:  [0, 1, 6]         p90 = 1 + 0.8 x 5 = 5          ref 5
  inter: [0, 2, 12]        p90 = 2 + 0.8 x 10 = 10        ref max(10, 20) = 20
  alice: 0.3 x 1 + 0.2 x 1 + 0.3 x 0.5 + 0.2 x 0.6 = 0.77 -> 77.0
  bob:   0.3 x 0.2 + 0.2 x 0.2 + 0.3 x 0.25 + 0.2 x 0.1 = 0.195 -> 19.5
  carol: 0.0
Course B, completion enabled but no activity tracks completion, one learner:
  dave: daily 1200 s (01-20); log 10:00, 10:10, 10:25 on 01-20 -> 3 interactions, 1 day;
        last access NOW - 1 hour.
  refs: time max(1200, 3600) = 3600 -> 1/3; days max(1, 2) = 2 -> 0.5; inter max(3, 20) -> 0.15
  completion unmeasured: its 0.3 is shared out, the rest weighs 0.7:
  (0.3 x 1/3 + 0.2 x 0.5 + 0.2 x 0.15) / 0.7 = 0.23 / 0.7 = 0.328571... -> 32.86
Course C has completion disabled: erin is enrolled there and is not scored (nobody tracked).
Course D, the access and time boundaries (daily totals; last access relative to NOW):
  frank 3599 s, NOW - 14 days + 1 s (13 whole days); gina 3600 s, NOW - 14 days (14);
  hugo 3601 s, NOW - 15 days (15).

Without daily totals (the log fallback, 10-minute session timeout, one-event sessions 0 s):
  alice 6 sessions of 300 s = 1800; bob one of 540; dave 10:00-10:10 = 600 plus a one-event
  session at 10:25 = 0 -> 600; carol 0.
  A time: [0, 540, 1800] p90 = 540 + 0.8 x 1260 = 1548 -> ref 3600; alice 0.5, bob 0.15
  alice: 0.15 + 0.2 + 0.15 + 0.12 = 0.62 -> 62.0     bob: 0.045 + 0.04 + 0.075 + 0.02 -> 18.0
  dave: (0.3 x 600/3600 + 0.1 + 0.03) / 0.7 = 0.18 / 0.7 = 0.257142... -> 25.71
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from manireports.app import App
from manireports.config import load_config
from manireports.reports.run import ReportRequest, prepare_report
from manireports.state import StateDB
from manireports.state.tables import usertime_daily
from tests.moodle_site import MoodleSite
from tests.test_timetrack_support import Event, at

NOW = at("2026-01-20 12:00")
AS_OF = "2026-01-20 12:00:00"
REQUEST_OPTIONS = ("params", "as_user", "company", "as_of")
DAY = 86_400


@dataclass
class AnalyticsSite:
    moodle: MoodleSite
    state_url: str
    users: dict[str, int] = field(default_factory=dict)
    courses: dict[str, int] = field(default_factory=dict)
    log_id: int = 0

    def environ(self, **settings: Any) -> dict[str, str]:
        environ = {
            "MANIREPORTS_MOODLE_URL": self.moodle.url,
            "MANIREPORTS_STATE_URL": self.state_url,
            "MANIREPORTS_SITE_TIMEZONE": "UTC",
            "MANIREPORTS_ANALYTICS_ENGAGEMENT_WINDOW_DAYS": "10",
        }
        environ.update({f"MANIREPORTS_{k.upper()}": str(v) for k, v in settings.items()})
        return environ

    def log(self, user: str, course: str, *times: str, **event: Any) -> None:
        rows = []
        for time in times:
            self.log_id += 1
            rows.append(
                Event(self.users[user], self.courses[course], at(time), **event).row(self.log_id)
            )
        self.moodle.insert_many("logstore_standard_log", rows)

    def daily(self, user: str, course: str, day: str, seconds: int) -> None:
        engine = sa.create_engine(self.state_url)
        try:
            with engine.begin() as connection:
                connection.execute(
                    usertime_daily.insert().values(
                        userid=self.users[user],
                        courseid=self.courses[course],
                        date=day,
                        duration=seconds,
                        sessioncount=1,
                        lastupdated=NOW,
                    )
                )
        finally:
            engine.dispose()

    def app(self, **settings: Any) -> App:
        return App(load_config(environ=self.environ(**settings)))

    def rows(self, report: str, **options: Any) -> list[dict[str, Any]]:
        """The report's rows through the library, as run-report would produce them: `params`,
        `as_user`, `company` and `as_of` make the request (see `produce`), the other options
        are settings."""
        request = {name: options.pop(name) for name in REQUEST_OPTIONS if name in options}
        app = self.app(**options)
        try:
            return produce(app, report, **request)
        finally:
            app.moodle.dispose()
            if "state" in app.__dict__:
                app.state.close()

    def by_name(self, rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        names = {v: k for k, v in self.users.items()}
        return {names[row["userid"]]: row for row in rows}


def produce(
    app: App,
    report: str,
    *,
    params: dict[str, str] | None = None,
    as_user: str | None = None,
    company: int | None = None,
    as_of: str = AS_OF,
) -> list[dict[str, Any]]:
    """The report's rows through the library with this app, as run-report would produce them."""
    request = ReportRequest(
        report, params=params or {}, as_of=as_of, as_user=as_user, company=company
    )
    prepared = prepare_report(app, request)
    assert prepared.report.produce is not None
    names = [c.name for c in prepared.report.run_columns(prepared.context)]
    produced = prepared.report.produce(app, prepared.context, prepared.scope)
    return [dict(zip(names, row, strict=True)) for row in produced]


def build(moodle_url: str, state_url: str, *, daily: bool = True) -> AnalyticsSite:
    StateDB(state_url).upgrade()
    m = MoodleSite(moodle_url, timezone="UTC")
    s = AnalyticsSite(m, state_url)
    for name, extra in (("A", {}), ("B", {}), ("C", {"enablecompletion": 0}), ("D", {})):
        s.courses[name] = m.course(name, **extra)
    for name in ("alice", "bob", "carol", "dave", "erin", "frank", "gina", "hugo", "tina", "mona"):
        s.users[name] = m.user(name)
    # IOMAD company 1: mona manages it, bob and dave belong to it.
    m.insert("company", name="Acme", shortname="acme", code="A", city="", country="")
    for name, managertype in (("mona", 1), ("bob", 0), ("dave", 0)):
        m.insert(
            "company_users",
            companyid=1,
            userid=s.users[name],
            departmentid=1,
            managertype=managertype,
        )
    start = at("2025-12-01 00:00")
    for name in ("alice", "bob", "carol"):
        m.enrol(s.users[name], s.courses["A"], timestart=start)
    m.enrol(s.users["tina"], s.courses["A"], role="editingteacher")
    m.enrol(s.users["dave"], s.courses["B"], timestart=start)
    m.enrol(s.users["erin"], s.courses["C"], timestart=start)
    for name in ("frank", "gina", "hugo"):
        m.enrol(s.users[name], s.courses["D"], timestart=start)

    page = m.insert("modules", name="page", visible=1)
    activities = [
        m.insert("course_modules", course=s.courses["A"], module=page, instance=n, completion=1)
        for n in range(4)
    ]
    m.insert("course_modules", course=s.courses["B"], module=page, instance=9, completion=0)
    for user, done in (("alice", activities[:2]), ("bob", activities[:1])):
        for cm in done:
            m.insert(
                "course_modules_completion",
                coursemoduleid=cm,
                userid=s.users[user],
                completionstate=1,
                timemodified=NOW - DAY,
            )
    for user, course, seen in (
        ("alice", "A", NOW - 2 * DAY),
        ("bob", "A", NOW - DAY),
        ("dave", "B", NOW - 3600),
        ("frank", "D", NOW - 14 * DAY + 1),
        ("gina", "D", NOW - 14 * DAY),
        ("hugo", "D", NOW - 15 * DAY),
    ):
        m.insert(
            "user_lastaccess", userid=s.users[user], courseid=s.courses[course], timeaccess=seen
        )

    for day in range(12, 18):
        s.log("alice", "A", f"2026-01-{day} 09:00", f"2026-01-{day} 09:05")
    s.log("alice", "A", "2026-01-10 23:59", "2026-01-20 12:00:01")  # outside the window
    s.log("alice", "A", "2026-01-18 10:00", realuserid=s.users["tina"])  # 'logged in as'
    s.log("alice", "A", "2026-01-18 10:01", anonymous=1)
    s.log("alice", "A", "2026-01-18 10:02", origin="cli")
    s.log("bob", "A", "2026-01-19 10:00", "2026-01-19 10:09")
    s.log("dave", "B", "2026-01-20 10:00", "2026-01-20 10:10", "2026-01-20 10:25")
    s.log("erin", "C", "2026-01-19 10:00")
    s.log("tina", "A", "2026-01-19 11:00")
    if daily:
        for user, course, day, seconds in (
            ("alice", "A", "2026-01-10", 5000),
            ("alice", "A", "2026-01-12", 7200),
            ("alice", "A", "2026-01-15", 3600),
            ("bob", "A", "2026-01-19", 1800),
            ("dave", "B", "2026-01-20", 1200),
            ("frank", "D", "2026-01-19", 3599),
            ("gina", "D", "2026-01-19", 3600),
            ("hugo", "D", "2026-01-19", 3601),
        ):
            s.daily(user, course, day, seconds)
    return s


def window_days() -> tuple[dt.date, dt.date]:
    return dt.date(2026, 1, 11), dt.date(2026, 1, 20)
