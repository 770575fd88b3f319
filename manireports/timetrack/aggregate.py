"""`time aggregate`: closed sessions folded into daily rows per user, course and local day.

Days are the site timezone's calendar days: a session crossing local midnight is split there,
and the days of a DST change are 23 or 25 hours long. Log and heartbeat sessions of a pair are
joined where their reaches touch (see `sessions.cluster_members`), so time is never counted
twice when both sources saw the same activity.

Each run recomputes whole days and replaces their rows, so re-running changes nothing. Without
dates it recomputes the days the syncs, heartbeats and rebuilds marked as changed since the last
aggregation (the dirty range, widened by the longest reach, since a new session can join
neighbours that far away); with dates, exactly those days.

A day's row holds the seconds of every session (or joined sessions) in that day, the number of
sessions that had time or an event in it (a session across midnight counts on both days), and
as `lastupdated` the last second of activity counted in it. Open sessions are not counted until
they close.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from manireports.app import App
from manireports.errors import InputError
from manireports.state.tables import usertime_daily as daily
from manireports.state.tables import usertime_sessions as sessions
from manireports.timetrack.heartbeat import close_idle_heartbeats
from manireports.timetrack.sessions import (
    LocalDays,
    Member,
    TimeSettings,
    cluster_members,
    parse_date,
)
from manireports.timetrack.store import (
    MAXSPAN,
    DirtyRange,
    clear_dirty,
    locked,
    read_dirty,
    read_int,
)

BATCH = 5000
"""Daily rows held before they are inserted."""


@dataclass(frozen=True)
class AggregateResult:
    """The days recomputed (None when nothing was to do) and what was read and written."""

    date_from: dt.date | None
    date_to: dt.date | None
    days: int
    rows: int
    sessions: int
    heartbeat_sessions_closed: int = 0


def _closed_in_window(low: int, high: int, span: int | None = None) -> Any:
    """Closed sessions that can contribute to [low, high): those within reach of it.

    With the longest session known, the range on `lastupdated` (the indexed column) is closed
    on both sides.
    """
    condition = sa.and_(
        sessions.c.duration.is_not(None),
        sessions.c.sessionstart < high,
        sessions.c.lastupdated >= low,
    )
    if span is not None:
        condition = sa.and_(condition, sessions.c.lastupdated <= high + span)
    return condition


def _extent(
    connection: sa.Connection, days: LocalDays, span: int | None
) -> tuple[dt.date, dt.date] | None:
    """The first and last local day any stored session touches (None: no sessions).

    Both ends come from the index on `lastupdated`: only sessions ending within the longest
    span of the earliest end can start earliest.
    """
    low, high = connection.execute(
        sa.select(sa.func.min(sessions.c.lastupdated), sa.func.max(sessions.c.lastupdated))
    ).one()
    if low is None:
        return None
    earliest = sa.select(sa.func.min(sessions.c.sessionstart))
    if span is not None:
        earliest = earliest.where(sessions.c.lastupdated <= int(low) + span)
    start = connection.execute(earliest).scalar_one()
    return days.date_of(int(start)), days.date_of(int(high))


def daily_rows(
    sessions_by_pair: Iterable[Any],
    settings: TimeSettings,
    days: LocalDays,
    first: dt.date,
    last: dt.date,
    counter: list[int],
) -> Iterator[list[dict[str, Any]]]:
    """The daily rows of the days first..last from closed sessions ordered by pair, in batches."""
    reaches = {source: settings.reach(source) for source in ("log", "heartbeat")}
    single = settings.single_event_seconds
    totals: dict[tuple[int, int, dt.date], list[int]] = {}

    def fold(pair: tuple[int, int], members: list[Member]) -> None:
        for span in cluster_members(members):
            if span.events == 1:
                day = days.date_of(span.start)
                if first <= day <= last:
                    _add(totals, (pair[0], pair[1], day), single, span.start)
                continue
            for day, seconds, moment in days.split(span.start, span.end):
                if first <= day <= last:
                    _add(totals, (pair[0], pair[1], day), seconds, moment)

    def batch() -> list[dict[str, Any]]:
        rows = [
            {
                "userid": userid,
                "courseid": courseid,
                "date": day.isoformat(),
                "duration": total[0],
                "sessioncount": total[1],
                "lastupdated": total[2],
            }
            for (userid, courseid, day), total in sorted(totals.items())
        ]
        totals.clear()
        return rows

    members: list[Member] = []
    current: tuple[int, int] | None = None
    for userid, courseid, start, end, events, source in sessions_by_pair:
        pair = (int(userid), int(courseid))
        if pair != current:
            if current is not None:
                fold(current, members)
                if len(totals) >= BATCH:
                    yield batch()
            current, members = pair, []
        reach = reaches.get(source, reaches["log"])
        members.append(Member(int(start), int(end), int(events), reach, source))
        counter[0] += 1
    if current is not None:
        fold(current, members)
    if totals:
        yield batch()


@contextmanager
def _reader(connection: sa.Connection) -> Iterator[sa.Connection]:
    """A connection to stream sessions on while `connection` writes daily rows.

    MySQL cannot run a statement on a connection with an unfinished streaming result, so it
    reads on a second connection (the time-tracking lock keeps writers out meanwhile); the
    others stream on the writing connection itself.
    """
    if connection.dialect.name not in ("mysql", "mariadb"):
        yield connection
        return
    with connection.engine.connect() as reader:
        try:
            yield reader
        finally:
            reader.rollback()


def _add(
    totals: dict[tuple[int, int, dt.date], list[int]], key: Any, seconds: int, moment: int
) -> None:
    found = totals.get(key)
    if found is None:
        totals[key] = [seconds, 1, moment]
    else:
        found[0] += seconds
        found[1] += 1
        if moment > found[2]:
            found[2] = moment


def aggregate_daily(
    app: App,
    *,
    date_from: dt.date | str | None = None,
    date_to: dt.date | str | None = None,
    now: int | None = None,
) -> AggregateResult:
    """Recompute the daily rows of the given days, or of the days changed since last time.

    First closes the heartbeat sessions idle for too long, so they count.
    """
    settings = TimeSettings.from_config(app.config)
    now = app.now() if now is None else int(now)
    first = parse_date(date_from, "--from")
    last = parse_date(date_to, "--to")
    if first is not None and last is not None and first > last:
        raise InputError(f"--from {first} is after --to {last}.")
    days = LocalDays(app.timezone)
    reach = settings.widest_reach
    # Committed first: on MySQL the sessions are read on a second connection, which would not
    # see sessions this transaction closed.
    with locked(app.state, now) as connection:
        dirty = DirtyRange()
        closed = close_idle_heartbeats(connection, settings, now=now, dirty=dirty)
        dirty.merge_into_state(connection, now)
    with locked(app.state, now) as connection:
        marked = read_dirty(connection)
        marked_days = (
            None
            if marked is None
            else (days.date_of(marked[0] - reach), days.date_of(marked[1] + reach))
        )
        longest = read_int(connection, MAXSPAN, -1)
        span = None if longest < 0 else longest
        extent = _extent(connection, days, span)
        if first is None and last is None:
            if marked_days is None:
                return AggregateResult(None, None, 0, 0, 0, closed)
            first, last = marked_days
        elif first is None or last is None:
            known = first or last
            assert known is not None
            bounds = extent or (known, known)
            first = first or min(bounds[0], known)
            last = last or max(bounds[1], known)
        assert first is not None and last is not None
        covers_marked = (
            marked_days is not None and first <= marked_days[0] <= marked_days[1] <= last
        )
        # Days before the earliest stored session are never recomputed: their sessions were
        # removed by retention (or their log by Moodle), and their rows are all that is left.
        if extent is not None and first < extent[0]:
            first = extent[0]
        if first > last:
            if covers_marked:
                clear_dirty(connection, now)
            return AggregateResult(None, None, 0, 0, 0, closed)
        connection.execute(
            daily.delete().where(
                daily.c.date >= first.isoformat(), daily.c.date <= last.isoformat()
            )
        )
        low = days.start_of(first) - reach
        high = days.start_of(last + dt.timedelta(days=1)) + reach
        query = (
            sa.select(
                sessions.c.userid,
                sessions.c.courseid,
                sessions.c.sessionstart,
                sessions.c.lastupdated,
                sessions.c.eventcount,
                sessions.c.source,
            )
            .where(_closed_in_window(low, high, span))
            .order_by(sessions.c.userid, sessions.c.courseid)
        )
        counter = [0]
        written = 0
        with _reader(connection) as reader:
            # Options on the statement: Connection.execution_options would change the
            # connection itself, and the inserts must not use a server-side cursor.
            found = reader.execute(query.execution_options(stream_results=True, yield_per=5000))
            for rows in daily_rows(found, settings, days, first, last, counter):
                connection.execute(daily.insert(), rows)
                written += len(rows)
        if covers_marked:
            clear_dirty(connection, now)
    return AggregateResult(first, last, (last - first).days + 1, written, counter[0], closed)
