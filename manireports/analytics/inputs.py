"""The inputs per (user, course) over the engagement window, gathered from both databases.

Who is scored: the learners Moodle's completion report tracks, exactly the population of the
course_progress report (active enrolment, a role counted in completion reports, completion
enabled in the course), read with that report's own SQL so completion percent and last access
follow the same Moodle rules. What they did comes from the standard log (actions and active
days) and from manireports' daily time totals; a site that has never aggregated time gets its
time computed from the same log rows by the time-tracking session rule.

References (the course's 90th percentiles) are computed over every tracked learner of a course,
whoever runs the report, so a learner's score is the same for the learner, their teacher and
their manager. The acting user's scope therefore decides which rows are shown (the scoped
population query) and which courses are read, not what the rows are compared with.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from manireports.analytics.scoring import Inputs
from manireports.app import App
from manireports.reports.spec import read_sql_file
from manireports.scope import Scope, scope_condition
from manireports.sqlcheck.site import SCOPE_MARKER
from manireports.sqltext import render_sql
from manireports.state.tables import usertime_daily as daily
from manireports.timetrack.sessions import LOG, LocalDays, TimeSettings, session_seconds, sessionize
from manireports.timetrack.sync import log_source

COURSES_MARKER = "%%COURSES%%"
IN_SQL_LIMIT = 1000
"""Course id lists up to this size go into the queries; longer ones filter in Python."""
DAILY = "daily totals"
LOG_FALLBACK = "log"


@dataclass
class Learner:
    userid: int
    username: str
    courseid: int
    completion_percent: float | None
    lastaccess: int | None
    # Moodle's course completion (timecompleted set by the moment of the run).
    completed: bool = False
    visible: bool = True
    time_seconds: int = 0
    active_days: int = 0
    interactions: int = 0

    def inputs(self) -> Inputs:
        return Inputs(
            self.time_seconds, self.active_days, self.completion_percent, self.interactions
        )


@dataclass(frozen=True)
class Window:
    """The last `days` local days of the site timezone, the day of the run included."""

    first_day: dt.date
    last_day: dt.date
    start: int
    end: int


def window_ending(now: int, days: LocalDays, length: int) -> Window:
    last = days.date_of(now)
    first = last - dt.timedelta(days=length - 1)
    return Window(first, last, days.start_of(first), now)


@dataclass(frozen=True)
class Gathered:
    learners: list[Learner]
    window: Window
    time_source: str


def gather(
    app: App, *, now: int, window_days: int, courseid: int | None, scope: Scope, what: str
) -> Gathered:
    """Every tracked learner of the courses the scope can see, with their window's inputs.

    Learners outside the scope are kept (with `visible` False) only because their course's
    references need them; the caller shows the visible ones.
    """
    days = LocalDays(app.timezone)
    window = window_ending(now, days, window_days)
    visible: set[tuple[int, int]] | None = None
    if scope.restricted:
        condition = scope_condition(scope, {"userid": "ue.userid", "courseid": "c.id"}, what)
        visible = {(row[0], row[2]) for row in _tracked(app, now, courseid, condition)}
        if not visible:
            return Gathered([], window, DAILY)
    courses = None if visible is None else {pair[1] for pair in visible}
    learners: dict[tuple[int, int], Learner] = {}
    for row in _tracked(app, now, courseid, None):
        userid, username, courseid_, percent, lastaccess, completed = row
        if courses is not None and courseid_ not in courses:
            continue
        learners[(userid, courseid_)] = Learner(
            userid=userid,
            username=username,
            courseid=courseid_,
            completion_percent=percent,
            lastaccess=lastaccess,
            completed=completed,
            visible=visible is None or (userid, courseid_) in visible,
        )
    if not learners:
        return Gathered([], window, DAILY)
    tracked_courses = sorted({learner.courseid for learner in learners.values()})
    settings = TimeSettings.from_config(app.config)
    has_daily = _has_daily_totals(app)
    _add_log_activity(app, learners, window, courseid, tracked_courses, days, settings, has_daily)
    if has_daily:
        for pair, seconds in _daily_totals(app, window, courseid, tracked_courses):
            learner = learners.get(pair)
            if learner is not None:
                learner.time_seconds = seconds
    ordered = sorted(learners.values(), key=lambda learner: (learner.courseid, learner.userid))
    return Gathered(ordered, window, DAILY if has_daily else LOG_FALLBACK)


def _tracked(
    app: App, now: int, courseid: int | None, condition: str | None
) -> Iterator[tuple[int, str, int, float | None, int | None, bool]]:
    """(userid, username, courseid, progress percent, last access, course completed) per tracked
    learner, from
    the course_progress report's SQL, limited by `condition` when given."""
    site, moodle = app.site, app.moodle
    sql = read_sql_file("course_progress").replace(SCOPE_MARKER, condition or "1 = 1")
    flags = set(site.flags) | {moodle.engine_name}
    params: dict[str, Any] = {"now": now}
    if courseid is not None:
        flags.add(":courseid")
        params["courseid"] = courseid
    rendered = render_sql(sql, moodle.prefix, flags, site.table_aliases())
    with moodle.stream(rendered, params) as stream:
        index = {name: position for position, name in enumerate(stream.columns)}
        for row in stream.rows:
            percent = row[index["progress_percent"]]
            lastaccess = row[index["lastaccess"]]
            yield (
                int(row[index["userid"]]),
                str(row[index["username"]]),
                int(row[index["courseid"]]),
                None if percent is None else float(percent),
                int(lastaccess) if lastaccess else None,
                bool(row[index["course_completed"]]),
            )


def _course_list(column: str, courses: list[int]) -> str:
    if len(courses) > IN_SQL_LIMIT:
        return "1 = 1"
    return f"{column} IN ({', '.join(str(int(course)) for course in courses)})"


def _add_log_activity(
    app: App,
    learners: dict[tuple[int, int], Learner],
    window: Window,
    courseid: int | None,
    courses: list[int],
    days: LocalDays,
    settings: TimeSettings,
    with_daily: bool,
) -> None:
    """Actions and active days from the log; time too when there are no daily totals."""
    moodle, site = app.moodle, app.site
    source = log_source(app)
    sql = read_sql_file("analytics_activity").replace(
        COURSES_MARKER, _course_list("l.courseid", courses)
    )
    flags = set(site.flags) | {moodle.engine_name}
    params: dict[str, Any] = {"since": window.start, "now": window.end, "guest": source.guest}
    if courseid is not None:
        flags.add(":courseid")
        params["courseid"] = courseid
    origins = set(settings.origins)
    reach, single = settings.reach(LOG), settings.single_event_seconds
    rendered = render_sql(sql, moodle.prefix, flags, site.table_aliases())
    with moodle.stream(rendered, params) as stream:
        for pair, times in _pairs(stream.rows, origins):
            learner = learners.get(pair)
            if learner is None:
                continue
            learner.interactions = len(times)
            learner.active_days = _active_days(times, days)
            if not with_daily:
                learner.time_seconds = sum(
                    session_seconds(span.start, span.end, span.events, single)
                    for span in sessionize(times, reach)
                )


def _active_days(times: list[int], days: LocalDays) -> int:
    """How many local days the (ascending) times fall on: a date is worked out only when a time
    passes the end of the day before, not once per event (a million events on the large demo)."""
    count = 0
    day_ends = -1
    for time in times:
        if time >= day_ends:
            count += 1
            day_ends = days.start_of(days.date_of(time) + dt.timedelta(days=1))
    return count


def _pairs(
    rows: Iterable[tuple[Any, ...]], origins: set[str]
) -> Iterator[tuple[tuple[int, int], list[int]]]:
    """The event times of each (user, course), from rows ordered by user, course and time."""
    current: tuple[int, int] | None = None
    times: list[int] = []
    for userid, courseid, time, origin in rows:
        if origin not in origins:
            continue
        pair = (int(userid), int(courseid))
        if pair != current:
            if current is not None:
                yield current, times
            current, times = pair, []
        times.append(int(time))
    if current is not None:
        yield current, times


def _has_daily_totals(app: App) -> bool:
    """Whether time tracking has ever aggregated: then its daily totals are the time spent."""
    with app.state.begin() as connection:
        return connection.execute(sa.select(daily.c.id).limit(1)).first() is not None


def _daily_totals(
    app: App, window: Window, courseid: int | None, courses: list[int]
) -> Iterator[tuple[tuple[int, int], int]]:
    seconds = sa.func.sum(daily.c.duration)
    query = (
        sa.select(daily.c.userid, daily.c.courseid, seconds)
        .where(
            daily.c.date >= window.first_day.isoformat(),
            daily.c.date <= window.last_day.isoformat(),
        )
        .group_by(daily.c.userid, daily.c.courseid)
    )
    if courseid is not None:
        query = query.where(daily.c.courseid == courseid)
    elif len(courses) <= IN_SQL_LIMIT:
        query = query.where(daily.c.courseid.in_(courses))
    with app.state.begin() as connection:
        found = [(int(u), int(c), int(s or 0)) for u, c, s in connection.execute(query)]
    for userid, course, total in found:
        yield (userid, course), total
