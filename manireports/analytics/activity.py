"""What the tracked learners did in the engagement window, from the standard log.

Interactions are the learner's events in the course during the window, active days the local
days (site timezone) those events fall on. With daily time totals the database counts both per
(user, course), so it returns one row per learner instead of every event (a million on the large
demo): the local day of an event is `(timecreated + offset) / 86400`, where the offset is the
site timezone's UTC offset at that instant, written as a CASE over the few instants inside the
window where the offset changes (daylight saving), worked out here with zoneinfo. That is
exactly how Python dates a timestamp (`datetime.fromtimestamp(t, tz).date()`).

Without daily totals the time spent comes from the events themselves, by the time-tracking
session rule, so they are read in order and handled here one (user, course) at a time. They are
read too when the site's clocks go back across a midnight inside the window (no timezone does
so today): a later event can then fall on an earlier date, and the count follows the per-event
rule of `active_days` rather than counting distinct dates.
"""

from __future__ import annotations

import datetime as dt
import itertools
import operator
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from manireports.app import App
from manireports.reports.spec import read_sql_file
from manireports.sqltext import render_sql
from manireports.timetrack.sessions import LOG, LocalDays, TimeSettings, session_seconds, sessionize
from manireports.timetrack.sync import log_source

if TYPE_CHECKING:
    from manireports.analytics.inputs import Learner, Window

DAY_SECONDS = 86_400
COURSES_MARKER = "%%COURSES%%"
ORIGINS_MARKER = "%%ORIGINS%%"
OFFSET_MARKER = "%%OFFSET%%"
SAMPLE_SECONDS = 3600
"""Offsets are sampled hourly and each change found to the second: no timezone has changed its
offset twice within an hour."""

IN_SQL_LIMIT = 1000
"""Course id lists up to this size go into the queries; longer ones filter in Python."""


def course_list(column: str, courses: list[int]) -> str:
    """`column IN (...)` over the courses, so the database reads only their rows."""
    if len(courses) > IN_SQL_LIMIT:
        return "1 = 1"
    return f"{column} IN ({', '.join(str(int(course)) for course in courses)})"


Stretch = tuple[int, int]
"""(first instant, UTC offset in seconds) of a stretch of time with one offset."""


def offset_stretches(timezone: ZoneInfo, start: int, end: int) -> list[Stretch]:
    """The stretches of constant UTC offset covering [start, end], in time order."""

    def offset(instant: int) -> int:
        delta = dt.datetime.fromtimestamp(instant, timezone).utcoffset()
        return 0 if delta is None else int(delta.total_seconds())

    stretches = [(start, offset(start))]
    before = start
    while before < end:
        after = min(before + SAMPLE_SECONDS, end)
        current = stretches[-1][1]
        if offset(after) != current:
            low, high = before, after  # offset(low) is current, offset(high) is not
            while high - low > 1:
                middle = (low + high) // 2
                low, high = (middle, high) if offset(middle) == current else (low, middle)
            stretches.append((high, offset(high)))
        before = after
    return stretches


def local_day(instant: int, stretches: list[Stretch]) -> int:
    """The local day number of an instant of the stretches (days since 1970-01-01, local)."""
    offset = stretches[0][1]
    for first, stretch_offset in stretches:
        if instant >= first:
            offset = stretch_offset
    return (instant + offset) // DAY_SECONDS


def dates_never_go_back(stretches: list[Stretch]) -> bool:
    """Whether no offset change moves the local date backwards (clocks going back across a
    midnight), so counting distinct dates is what the per-event rule counts."""
    return all(
        (first - 1 + before) // DAY_SECONDS <= (first + after) // DAY_SECONDS
        for (_, before), (first, after) in itertools.pairwise(stretches)
    )


def offset_sql(column: str, stretches: list[Stretch]) -> str:
    """The UTC offset at `column` as SQL: a constant, or a CASE over the offset changes."""
    if len(stretches) == 1:
        return str(stretches[0][1])
    cases = " ".join(
        f"WHEN {column} < {int(first)} THEN {int(offset)}"
        for (_, offset), (first, _) in itertools.pairwise(stretches)
    )
    return f"CASE {cases} ELSE {int(stretches[-1][1])} END"


def activity_sql(
    stretches: list[Stretch], origins: tuple[str, ...], courses: list[int]
) -> tuple[str, dict[str, str]]:
    """The log query with its markers filled in, and the origins' parameters."""
    named = {f"origin{number}": origin for number, origin in enumerate(origins)}
    sql = (
        read_sql_file("analytics_activity")
        .replace(COURSES_MARKER, course_list("l.courseid", courses))
        .replace(ORIGINS_MARKER, ", ".join(f":{name}" for name in named))
        .replace(OFFSET_MARKER, offset_sql("l.timecreated", stretches))
    )
    return sql, named


def add_log_activity(
    app: App,
    learners: dict[tuple[int, int], Learner],
    window: Window,
    courseid: int | None,
    courses: list[int],
    days: LocalDays,
    settings: TimeSettings,
    with_daily: bool,
) -> None:
    """Interactions and active days from the log; time too when there are no daily totals."""
    moodle, site = app.moodle, app.site
    source = log_source(app)
    stretches = offset_stretches(days.timezone, window.start, window.end)
    totals = with_daily and dates_never_go_back(stretches)
    sql, origins = activity_sql(stretches, settings.origins, courses)
    flags = set(site.flags) | {moodle.engine_name} | ({"totals"} if totals else set())
    params: dict[str, Any] = {
        "since": window.start,
        "now": window.end,
        "guest": source.guest,
        **origins,
    }
    if courseid is not None:
        flags.add(":courseid")
        params["courseid"] = courseid
    rendered = render_sql(sql, moodle.prefix, flags, site.table_aliases())
    with moodle.stream(rendered, params) as stream:
        if totals:
            for userid, course, interactions, active in stream.rows:
                learner = learners.get((int(userid), int(course)))
                if learner is not None:
                    learner.interactions = int(interactions)
                    learner.active_days = int(active)
            return
        reach, single = settings.reach(LOG), settings.single_event_seconds
        for pair, times in _pairs(stream.rows):
            learner = learners.get(pair)
            if learner is None:
                continue
            learner.interactions = len(times)
            learner.active_days = active_days(times, days)
            if not with_daily:
                learner.time_seconds = sum(
                    session_seconds(span.start, span.end, span.events, single)
                    for span in sessionize(times, reach)
                )


def active_days(times: list[int], days: LocalDays) -> int:
    """How many local days the (ascending) times fall on: a date is worked out only when a time
    passes the end of the day before, not once per event."""
    count = 0
    day_ends = -1
    for time in times:
        if time >= day_ends:
            count += 1
            day_ends = days.start_of(days.date_of(time) + dt.timedelta(days=1))
    return count


def _pairs(rows: Iterable[tuple[Any, ...]]) -> Iterator[tuple[tuple[int, int], list[int]]]:
    """The event times of each (user, course), from rows ordered by user, course and time."""
    for (userid, courseid), group in itertools.groupby(rows, key=operator.itemgetter(0, 1)):
        yield (int(userid), int(courseid)), [int(row[2]) for row in group]
