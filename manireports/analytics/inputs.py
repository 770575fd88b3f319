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
from manireports.reports.builtin import BUILTIN_REPORTS
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
    if scope.restricted:
        tracked = _tracked_in_scope(app, now, courseid, scope, what)
    else:
        tracked = list(_tracked(app, now, courseid, "1 = 1"))
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


def _tracked_in_scope(
    app: App, now: int, courseid: int | None, scope: Scope, what: str
) -> list[Learner]:
    """The tracked learners the scope admits, then the other tracked learners of their
    courses, not visible: only their course's references need them.

    The visible ones are the course_progress report's own rows for this viewer, its SQL under
    its own scope condition: a dashboard has just run that report at the same moment and hands
    the rows over instead of querying again (MoodleDB.handing_over). The others are read as bare
    (user, course) pairs, which costs the database the tracked-learner rule alone rather than
    the progress, completion and last-access columns of every learner of those courses.
    """
    columns = BUILTIN_REPORTS["course_progress"].scope_columns
    condition = scope_condition(scope, columns, what) or "1 = 1"
    visible = list(_tracked(app, now, courseid, condition))
    if not visible:
        return []
    seen = {(learner.userid, learner.courseid) for learner in visible}
    courses = {course for _, course in seen}
    others = [
        Learner(userid, "", course, None, None, visible=False)
        for userid, course in _tracked_pairs(app, now, courseid, courses)
        if (userid, course) not in seen
    ]
    return visible + others


def _rendered(
    app: App, name: str, condition: str, courseid: int | None
) -> tuple[str, dict[str, Any]]:
    """A file of sql/ with `condition` for its SCOPE marker, rendered as its report would be
    (the same text and values, so a dashboard's kept rows of it are found)."""
    site, moodle = app.site, app.moodle
    sql = read_sql_file(name).replace(SCOPE_MARKER, condition)
    flags = set(site.flags) | {moodle.engine_name}
    params: dict[str, Any] = {}
    if courseid is not None:
        flags.add(":courseid")
        params["courseid"] = courseid
    return render_sql(sql, moodle.prefix, flags, site.table_aliases()), params


_TRACKED_COLUMNS = (
    "userid",
    "username",
    "courseid",
    "progress_percent",
    "lastaccess",
    "course_completed",
)
"""The course_progress columns a Learner is made of, in the order of its fields."""


def _tracked(app: App, now: int, courseid: int | None, condition: str) -> Iterator[Learner]:
    """The tracked learners that `condition` admits, from the course_progress report's SQL.

    For the whole site (`1 = 1`) or a viewer's scope, this is the report's own query at the
    same moment: a dashboard reads that report just before and hands its rows over rather than
    sending the query a second time (MoodleDB.handing_over).
    """
    sql, params = _rendered(app, "course_progress", condition, courseid)
    with app.moodle.stream(sql, {**params, "now": now}) as stream:
        index = {name: position for position, name in enumerate(stream.columns)}
        columns = operator.itemgetter(*(index[name] for name in _TRACKED_COLUMNS))
        for row in stream.rows:
            userid, username, course, percent, lastaccess, completed = columns(row)
            yield Learner(
                int(userid),
                str(username),
                int(course),
                None if percent is None else float(percent),
                int(lastaccess) if lastaccess else None,
                bool(completed),
            )


def _tracked_pairs(
    app: App, now: int, courseid: int | None, courses: set[int]
) -> Iterator[tuple[int, int]]:
    """(user, course) of every tracked learner of `courses` (named in the SQL while they are
    few enough, and always checked here)."""
    condition = course_list("c.id", sorted(courses))
    sql, params = _rendered(app, "analytics_learners", condition, courseid)
    with app.moodle.stream(sql, {**params, "now": now}) as stream:
        for userid, course in stream.rows:
            if int(course) in courses:
                yield int(userid), int(course)


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
