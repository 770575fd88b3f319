"""What the tracked learners did in the engagement window, from the standard log.

Interactions are the learner's events in the course during the window, active days the local
days (site timezone) those events fall on. With daily time totals the database counts both per
(user, course), so it returns one row per learner instead of every event (a million on the large
demo): the local day of an event is `(timecreated + offset) / 86400`, where the offset is the
site timezone's UTC offset at that instant, written as a CASE over the few instants inside the
window where the offset changes (daylight saving), worked out here with zoneinfo. That is
exactly how Python dates a timestamp (`datetime.fromtimestamp(t, tz).date()`). One scan can
count several windows (a dashboard's two at-risk moments, see LogCounts).

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
import threading
import weakref
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
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
COUNTS_MARKER = "%%COUNTS%%"
SAMPLE_SECONDS = 3600
"""Offsets are sampled hourly and each change found to the second: no timezone has changed its
offset twice within an hour."""

IN_SQL_LIMIT = 1000
"""Course id lists up to this size go into the queries; longer ones filter in Python."""


def course_list(column: str, courses: Sequence[int]) -> str:
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


Span = tuple[int, int]
"""A window's first and last instant, both included."""


class Counts:
    """One window's (userid, courseid, interactions, active days), kept column by column as
    machine integers: a dashboard holds two windows of some 50,000 learners each while its other
    runs read."""

    __slots__ = ("columns",)

    def __init__(self) -> None:
        self.columns = tuple(array("q") for _ in range(4))

    def add(self, userid: int, courseid: int, interactions: int, active_days: int) -> None:
        users, courses, actions, days = self.columns
        users.append(userid)
        courses.append(courseid)
        actions.append(interactions)
        days.append(active_days)

    def __iter__(self) -> Iterator[tuple[int, int, int, int]]:
        return zip(*self.columns, strict=True)


def counts_sql(spans: Sequence[Span], day: str) -> str:
    """Two columns per window, in the order given: its interactions and its distinct local days.

    A window that is the whole range read counts every row; when one scan serves several
    windows, each of the others counts only the events inside it (the CASE), so its figures are
    those a query of its own range would give.
    """
    first, last = min(start for start, _ in spans), max(end for _, end in spans)
    columns = []
    for number, (start, end) in enumerate(spans):
        if start <= first and end >= last:
            columns += [
                f"COUNT(*) AS interactions{number}",
                f"COUNT(DISTINCT {day}) AS active_days{number}",
            ]
        else:
            inside = f"l.timecreated >= {int(start)} AND l.timecreated <= {int(end)}"
            columns += [
                f"SUM(CASE WHEN {inside} THEN 1 ELSE 0 END) AS interactions{number}",
                f"COUNT(DISTINCT CASE WHEN {inside} THEN {day} END) AS active_days{number}",
            ]
    return ",\n       ".join(columns)


def activity_sql(
    stretches: list[Stretch],
    origins: tuple[str, ...],
    courses: Sequence[int],
    spans: Sequence[Span] = (),
    *,
    mysql: bool = False,
) -> tuple[str, dict[str, str]]:
    """The log query with its markers filled in, and the origins' parameters. With `spans` it
    counts per learner and course for each of those windows (the `totals` form)."""
    named = {f"origin{number}": origin for number, origin in enumerate(origins)}
    counts = ""
    if spans:
        offset = offset_sql("l.timecreated", stretches)
        counts = counts_sql(spans, f"(l.timecreated + {offset}) {'DIV' if mysql else '/'} 86400")
    sql = (
        read_sql_file("analytics_activity")
        .replace(COURSES_MARKER, course_list("l.courseid", courses))
        .replace(ORIGINS_MARKER, ", ".join(f":{name}" for name in named))
        .replace(COUNTS_MARKER, counts)
    )
    return sql, named


def read_counts(
    app: App,
    spans: Sequence[Span],
    courseid: int | None,
    courses: Sequence[int],
    timezone: ZoneInfo,
    settings: TimeSettings,
) -> list[Counts] | None:
    """Each window's counts per (user, course) that acted in it, from one read of the log over
    the windows' whole range; None when the site's clocks go back across a midnight in that
    range (the counts then follow the per-event rule)."""
    moodle, site = app.moodle, app.site
    first, last = min(start for start, _ in spans), max(end for _, end in spans)
    stretches = offset_stretches(timezone, first, last)
    if not dates_never_go_back(stretches):
        return None
    mysql = moodle.engine_name == "mysql"
    sql, origins = activity_sql(stretches, settings.origins, courses, spans, mysql=mysql)
    flags = set(site.flags) | {moodle.engine_name, "totals"}
    params: dict[str, Any] = {
        "since": first,
        "now": last,
        "guest": log_source(app).guest,
        **origins,
    }
    if courseid is not None:
        flags.add(":courseid")
        params["courseid"] = courseid
    rendered = render_sql(sql, moodle.prefix, flags, site.table_aliases())
    found = [Counts() for _ in spans]
    with moodle.stream(rendered, params) as stream:
        for userid, course, *values in stream.rows:
            for number, counts in enumerate(found):
                interactions = values[2 * number]
                if interactions:
                    counts.add(
                        int(userid), int(course), int(interactions), int(values[2 * number + 1])
                    )
    return found


class LogCounts:
    """Window counts read ahead, in one scan, for the runs of this command that will ask for them.

    A dashboard reads at_risk now and as of the end of last month: two windows of the same length
    that share most of their days. Each run reading its own window scans the log twice (on
    MariaDB the whole table each time, its planner preferring that to either log index); one scan
    counting both windows costs little more than one (`counts_sql`). The dashboard starts it
    before its reports (`start`), in a thread of its own beside the course progress runs, and
    each at-risk run takes its window's counts when it gets there (`take`), waiting for the scan
    if it is still going. The scan is registered before `start` returns and its thread is
    already running, so a run that waits for it never waits for something that will not come.

    Counts are taken once, only by a run whose window is one of the scan's and whose courses the
    scan read (it reads every course with completion enabled, a superset of any run's tracked
    courses; a run applies only the rows of its own learners). A scan that failed or was
    cancelled (the dashboard stopped) leaves its runs to read for themselves: a fault that is
    theirs too is then reported by their own runs.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._scans: list[_Scan] = []

    def start(
        self,
        app: App,
        spans: Sequence[Span],
        courses: Sequence[int],
        timezone: ZoneInfo,
        settings: TimeSettings,
    ) -> None:
        """Count the windows in one scan, in the background, for the runs that `take` them."""
        scan = _Scan(tuple(spans), frozenset(courses))
        with self._lock:
            self._scans.append(scan)

        def read() -> None:
            try:
                found = read_counts(app, spans, None, courses, timezone, settings)
                if found is not None:
                    scan.found = dict(zip(spans, found, strict=True))
            except Exception:  # noqa: S110 - the runs then read the log themselves (see above)
                pass
            finally:
                scan.done.set()

        threading.Thread(target=read, name="log-counts", daemon=True).start()

    def settle(self) -> None:
        """Wait for the scans still reading and drop what no run took, so no read outlives the
        runs it was for (a connection still open would keep the database busy after them)."""
        with self._lock:
            scans, self._scans = self._scans, []
        for scan in scans:
            scan.done.wait()

    def take(self, span: Span, courses: Sequence[int]) -> Counts | None:
        """The counts of this window over these courses, if a scan read them and no run has
        taken them yet; None otherwise."""
        with self._lock:
            scan = next(
                (
                    scan
                    for scan in self._scans
                    if span in scan.spans and scan.courses.issuperset(courses)
                ),
                None,
            )
        if scan is None:
            return None
        scan.done.wait()
        with self._lock:
            return scan.found.pop(span, None)


_AHEAD: weakref.WeakKeyDictionary[App, LogCounts] = weakref.WeakKeyDictionary()
_AHEAD_LOCK = threading.Lock()


def log_counts(app: App) -> LogCounts:
    """The counts read ahead for this command's runs (one store per App, so per command; it
    goes with the App)."""
    with _AHEAD_LOCK:
        found = _AHEAD.get(app)
        if found is None:
            found = _AHEAD[app] = LogCounts()
        return found


@dataclass
class _Scan:
    spans: tuple[Span, ...]
    courses: frozenset[int]
    found: dict[Span, Counts] = field(default_factory=dict)
    done: threading.Event = field(default_factory=threading.Event)


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
    if with_daily:
        span = (window.start, window.end)
        counts = log_counts(app).take(span, courses)
        if counts is None:
            read = read_counts(app, [span], courseid, courses, days.timezone, settings)
            counts = None if read is None else read[0]
        if counts is not None:
            for userid, course, interactions, active in counts:
                learner = learners.get((userid, course))
                if learner is not None:
                    learner.interactions = interactions
                    learner.active_days = active
            return
    moodle, site = app.moodle, app.site
    sql, origins = activity_sql([], settings.origins, courses)
    flags = set(site.flags) | {moodle.engine_name}
    params: dict[str, Any] = {
        "since": window.start,
        "now": window.end,
        "guest": log_source(app).guest,
        **origins,
    }
    if courseid is not None:
        flags.add(":courseid")
        params["courseid"] = courseid
    rendered = render_sql(sql, moodle.prefix, flags, site.table_aliases())
    with moodle.stream(rendered, params) as stream:
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
