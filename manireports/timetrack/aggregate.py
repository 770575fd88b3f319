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
from collections.abc import Iterator
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
from manireports.timetrack.store import DirtyRange, clear_dirty, locked, read_dirty

USERS_PER_QUERY = 500


@dataclass(frozen=True)
class AggregateResult:
    """The days recomputed (None when nothing was to do) and what was read and written."""

    date_from: dt.date | None
    date_to: dt.date | None
    days: int
    rows: int
    sessions: int
    heartbeat_sessions_closed: int = 0


def _closed_in_window(low: int, high: int) -> Any:
    """Closed sessions that can contribute to [low, high): those within reach of it."""
    return sa.and_(
        sessions.c.duration.is_not(None),
        sessions.c.sessionstart < high,
        sessions.c.lastupdated >= low,
    )


def _bounds(connection: sa.Connection, days: LocalDays) -> tuple[dt.date, dt.date] | None:
    low, high = connection.execute(
        sa.select(sa.func.min(sessions.c.sessionstart), sa.func.max(sessions.c.lastupdated)).where(
            sessions.c.duration.is_not(None)
        )
    ).one()
    if low is None:
        return None
    return days.date_of(int(low)), days.date_of(int(high))


def daily_rows(
    connection: sa.Connection,
    settings: TimeSettings,
    days: LocalDays,
    first: dt.date,
    last: dt.date,
    counter: list[int],
) -> Iterator[list[dict[str, Any]]]:
    """The daily rows of the days first..last, a batch of users at a time."""
    reach = settings.widest_reach
    low = days.start_of(first) - reach
    high = days.start_of(last + dt.timedelta(days=1)) + reach
    window = _closed_in_window(low, high)
    users = [
        int(row[0])
        for row in connection.execute(
            sa.select(sessions.c.userid).where(window).distinct().order_by(sessions.c.userid)
        )
    ]
    reaches = {source: settings.reach(source) for source in ("log", "heartbeat")}
    single = settings.single_event_seconds
    for index in range(0, len(users), USERS_PER_QUERY):
        chunk = users[index : index + USERS_PER_QUERY]
        query = (
            sa.select(
                sessions.c.userid,
                sessions.c.courseid,
                sessions.c.sessionstart,
                sessions.c.lastupdated,
                sessions.c.eventcount,
                sessions.c.source,
            )
            .where(window, sessions.c.userid.between(chunk[0], chunk[-1]))
            .order_by(sessions.c.userid, sessions.c.courseid)
        )
        totals: dict[tuple[int, int, dt.date], list[int]] = {}
        members: list[Member] = []
        current: tuple[int, int] | None = None

        def fold(
            pair: tuple[int, int], members: list[Member], totals: dict[Any, list[int]]
        ) -> None:
            for span in cluster_members(members):
                if span.events == 1:
                    day = days.date_of(span.start)
                    if first <= day <= last:
                        _add(totals, (pair[0], pair[1], day), single, span.start)
                    continue
                for day, seconds, moment in days.split(span.start, span.end):
                    if first <= day <= last:
                        _add(totals, (pair[0], pair[1], day), seconds, moment)

        for userid, courseid, start, end, events, source in connection.execute(query):
            pair = (int(userid), int(courseid))
            if pair != current:
                if current is not None:
                    fold(current, members, totals)
                current, members = pair, []
            members.append(
                Member(
                    int(start), int(end), int(events), reaches.get(source, reaches["log"]), source
                )
            )
            counter[0] += 1
        if current is not None:
            fold(current, members, totals)
        yield [
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
    with locked(app.state, now) as connection:
        dirty = DirtyRange()
        closed = close_idle_heartbeats(connection, settings, now=now, dirty=dirty)
        dirty.merge_into_state(connection, now)
        marked = read_dirty(connection)
        marked_days = (
            None
            if marked is None
            else (days.date_of(marked[0] - reach), days.date_of(marked[1] + reach))
        )
        if first is None and last is None:
            if marked_days is None:
                return AggregateResult(None, None, 0, 0, 0, closed)
            first, last = marked_days
        elif first is None or last is None:
            bounds = _bounds(connection, days)
            known = first or last
            assert known is not None
            if bounds is None:
                bounds = (known, known)
            first = first or min(bounds[0], known)
            last = last or max(bounds[1], known)
        assert first is not None and last is not None
        connection.execute(
            daily.delete().where(
                daily.c.date >= first.isoformat(), daily.c.date <= last.isoformat()
            )
        )
        counter = [0]
        written = 0
        for batch in daily_rows(connection, settings, days, first, last, counter):
            if batch:
                connection.execute(daily.insert(), batch)
                written += len(batch)
        if marked_days is not None and first <= marked_days[0] and marked_days[1] <= last:
            clear_dirty(connection, now)
    return AggregateResult(first, last, (last - first).days + 1, written, counter[0], closed)
