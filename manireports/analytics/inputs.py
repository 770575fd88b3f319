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
enrolments in scope) and which courses are read, not what the rows are compared with.
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from manireports.analytics.activity import IN_SQL_LIMIT, add_log_activity, course_list, log_counts
from manireports.analytics.settings import EngagementSettings
from manireports.app import App
from manireports.reports.spec import read_sql_file
from manireports.scope import Scope, scope_condition
from manireports.sqlcheck.site import SCOPE_MARKER
from manireports.sqltext import render_sql
from manireports.state.tables import usertime_daily as daily
from manireports.timetrack.sessions import LocalDays, TimeSettings

DAILY = "daily totals"
LOG_FALLBACK = "log"


@dataclass(slots=True)
class Learner:
    """A tracked learner of a course: who, Moodle's progress, and the window's inputs (the
    `scoring.Inputs` the score reads), filled in by the activity and the daily totals."""

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
    """Ordered by course, then user: the rows' order, and each course's learners together."""
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
        condition = scope_condition(scope, {"userid": "ue.userid", "courseid": "e.courseid"}, what)
        visible = _enrolments_in_scope(app, courseid, condition)
        if not visible:
            return Gathered([], window, DAILY)
    # Only the courses of enrolments in scope can hold a visible learner.
    candidates = None if visible is None else {pair[1] for pair in visible}
    tracked = list(_tracked(app, now, courseid, candidates))
    if visible is not None:
        visible &= {(learner.userid, learner.courseid) for learner in tracked}
        courses = {pair[1] for pair in visible}
        tracked = [learner for learner in tracked if learner.courseid in courses]
        for learner in tracked:
            learner.visible = (learner.userid, learner.courseid) in visible
    learners = {(learner.userid, learner.courseid): learner for learner in tracked}
    if not learners:
        return Gathered([], window, DAILY)
    tracked_courses = sorted({learner.courseid for learner in learners.values()})
    settings = TimeSettings.from_config(app.config)
    has_daily = _has_daily_totals(app)
    # The daily totals first: in a dashboard the log counts may still be being read ahead
    # (activity.LogCounts), and the state query then takes none of the time.
    if has_daily:
        for pair, seconds in _daily_totals(app, window, courseid, tracked_courses):
            found = learners.get(pair)
            if found is not None:
                found.time_seconds = seconds
    add_log_activity(app, learners, window, courseid, tracked_courses, days, settings, has_daily)
    ordered = sorted(learners.values(), key=operator.attrgetter("courseid", "userid"))
    return Gathered(ordered, window, DAILY if has_daily else LOG_FALLBACK)


def read_ahead(app: App, moments: Sequence[int]) -> None:
    """Start counting the engagement windows ending at these moments in one scan of the log,
    for the at-risk and engagement runs of this command that follow (see activity.LogCounts);
    returns at once, the scan going on in the background.

    The scan reads every course with completion enabled, since every tracked learner's course is
    one, whoever the runs are for. Without daily totals the runs read the log event by event,
    so there is nothing to read ahead.
    """
    if not _has_daily_totals(app):
        return
    days = LocalDays(app.timezone)
    length = EngagementSettings.from_config(app.config).window_days
    spans = sorted({(w.start, w.end) for w in (window_ending(m, days, length) for m in moments)})
    sql = render_sql(
        read_sql_file("analytics_courses"),
        app.moodle.prefix,
        set(app.site.flags),
        app.site.table_aliases(),
    )
    courses = [int(course) for (course,) in app.moodle.fetch_all(sql)]
    settings = TimeSettings.from_config(app.config)
    log_counts(app).start(app, spans, courses, days.timezone, settings)


def _enrolments_in_scope(
    app: App, courseid: int | None, condition: str | None
) -> set[tuple[int, int]]:
    """The (user, course) pairs of active enrolment rows that the scope condition admits.

    The condition depends on nothing but the user and course ids, so the tracked learners it
    admits are exactly the tracked ones among these pairs (every tracked learner has such an
    enrolment): one cheap query instead of the course_progress SQL a second time.
    """
    site, moodle = app.site, app.moodle
    sql = read_sql_file("analytics_scope").replace(SCOPE_MARKER, condition or "1 = 1")
    flags = set(site.flags) | {moodle.engine_name}
    params: dict[str, Any] = {}
    if courseid is not None:
        flags.add(":courseid")
        params["courseid"] = courseid
    rendered = render_sql(sql, moodle.prefix, flags, site.table_aliases())
    with moodle.stream(rendered, params) as stream:
        return {(int(userid), int(course)) for userid, course in stream.rows}


_TRACKED_COLUMNS = (
    "userid",
    "username",
    "courseid",
    "progress_percent",
    "lastaccess",
    "course_completed",
)
"""The course_progress columns a Learner is made of, in the order of its fields."""


def _tracked(
    app: App, now: int, courseid: int | None, courses: set[int] | None
) -> Iterator[Learner]:
    """Every tracked learner, from the course_progress report's SQL; only of `courses` when
    given (also when there are too many of them for the SQL to name).

    Every tracked learner of those courses is read, in scope or not (the course references need
    them all), but a teacher's few courses no longer cost the whole site's learners.

    Read for the whole site, this is the course_progress report's own query at the same moment:
    a dashboard reads that report just before and hands its rows over rather than sending the
    query a second time (MoodleDB.handing_over).
    """
    site, moodle = app.site, app.moodle
    only = "1 = 1" if courses is None else course_list("c.id", sorted(courses))
    sql = read_sql_file("course_progress").replace(SCOPE_MARKER, only)
    flags = set(site.flags) | {moodle.engine_name}
    params: dict[str, Any] = {"now": now}
    if courseid is not None:
        flags.add(":courseid")
        params["courseid"] = courseid
    rendered = render_sql(sql, moodle.prefix, flags, site.table_aliases())
    with moodle.stream(rendered, params) as stream:
        index = {name: position for position, name in enumerate(stream.columns)}
        columns = operator.itemgetter(*(index[name] for name in _TRACKED_COLUMNS))
        for row in stream.rows:
            userid, username, course, percent, lastaccess, completed = columns(row)
            course = int(course)
            if courses is not None and course not in courses:
                continue
            yield Learner(
                int(userid),
                str(username),
                course,
                None if percent is None else float(percent),
                int(lastaccess) if lastaccess else None,
                bool(completed),
            )


def _has_daily_totals(app: App) -> bool:
    """Whether time tracking has ever aggregated: then its daily totals are the time spent."""
    with app.state.reading() as connection:
        return connection.execute(sa.select(daily.c.id).limit(1)).first() is not None


def _daily_totals(
    app: App, window: Window, courseid: int | None, courses: list[int]
) -> Iterator[tuple[tuple[int, int], int]]:
    query = daily_totals_query(window, courseid, courses)
    with app.state.reading() as connection:
        found = [(int(u), int(c), int(s or 0)) for u, c, s in connection.execute(query)]
    for userid, course, total in found:
        yield (userid, course), total


def daily_totals_query(window: Window, courseid: int | None, courses: list[int]) -> sa.Select[Any]:
    """Each learner's seconds in the window, per course: read through the (courseid, date)
    index, so only the window's days of those courses, whatever the history kept."""
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
    return query
