"""Sessions and bookkeeping in the state database.

Every writer of time-tracking state (a sync checkpoint, a heartbeat batch, an aggregation, a
rebuild) runs in one transaction that first takes the time-tracking lock: an upsert of the
`timetracking.lock` setting, which holds that row until commit on MySQL/MariaDB and PostgreSQL
(SQLite's BEGIN IMMEDIATE already serialises writers). Writers are therefore serialised across
processes and hosts sharing the state database, and never deadlock on each other's rows.

A session row is found by (userid, courseid, source, sessionstart): sessions of one pair and
source never overlap, so no two share a start, and bulk inserts need not return ids.

The "dirty" range records the span of every closed session written, changed or deleted since the
last aggregation, so `time aggregate` without dates recomputes exactly the days that can differ.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from operator import itemgetter
from typing import Any

import sqlalchemy as sa

from manireports.errors import RunError
from manireports.state import StateDB, read_setting, write_setting
from manireports.state.tables import usertime_sessions as sessions
from manireports.timetrack.sessions import HEARTBEAT, LOG, Pair, TimeSettings, session_seconds

LOCK = "timetracking.lock"
DIRTY = "timetracking.dirty"
# The standard-log sync: the last log id read, the newest event time seen (capped at the sync's
# "now"), the in-memory horizon, the load floor, a stamp changed by every commit, and the
# filter a rebuild leaves for the sync that re-reads the log.
LOG_WATERMARK = "timetracking.lastlogid"
LOG_MAXTIME = "timetracking.log.maxtime"
LOG_HORIZON = "timetracking.log.horizon"
LOG_FLOOR = "timetracking.log.floor"
LOG_STAMP = "timetracking.log.stamp"
LOG_REBUILD = "timetracking.log.rebuild"
HEARTBEAT_FLOOR = "timetracking.heartbeat.floor"
MAXSPAN = "timetracking.maxspan"

Stored = tuple[int, int, int, bool]
"""A session as the database holds it: (start, end, events, closed)."""

SessionRow = tuple[int, int, int, int, int, int | None]
"""(userid, courseid, sessionstart, lastupdated, eventcount, duration)."""

_LOCK_MARKERS = ("lock wait timeout", "database is locked", "lock timeout", "deadlock")


class Tracked:
    """A session being built, and the version of it the database holds (None: not stored)."""

    __slots__ = ("end", "events", "start", "stored")

    def __init__(self, start: int, end: int, events: int, stored: Stored | None = None) -> None:
        self.start = start
        self.end = end
        self.events = events
        self.stored = stored

    @classmethod
    def from_row(cls, row: SessionRow) -> Tracked:
        _u, _c, start, end, events, duration = row
        return cls(start, end, events, (start, end, events, duration is not None))

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"Tracked({self.start}, {self.end}, {self.events}, stored={self.stored})"


@contextmanager
def locked(state: StateDB, now: int) -> Iterator[sa.Connection]:
    """A state transaction holding the time-tracking lock, committed when the block ends."""
    try:
        with state.begin() as connection:
            write_setting(connection, LOCK, "locked", now=now)
            yield connection
    except sa.exc.OperationalError as exc:
        text = str(exc.orig).lower()
        if any(marker in text for marker in _LOCK_MARKERS):
            raise RunError(
                "Another time-tracking command (sync, heartbeat, aggregate or rebuild) held the "
                "state database too long; try again when it has finished."
            ) from None
        raise


def read_int(connection: sa.Connection, name: str, default: int) -> int:
    value = read_setting(connection, name)
    return default if value in (None, "") else int(value)


def write_int(connection: sa.Connection, name: str, value: int, now: int) -> None:
    write_setting(connection, name, str(int(value)), now=now)


class DirtyRange:
    """The time span whose daily rows may be out of date, and the longest closed session.

    The longest session bounds the aggregation's window query on both sides (a session that
    starts before a day ends also ends before that plus the longest span), so recomputing an old
    day reads that day's sessions, not every session since.
    """

    __slots__ = ("high", "low", "span")

    def __init__(self, low: int | None = None, high: int | None = None) -> None:
        self.low = low
        self.high = high
        self.span = 0

    def add(self, start: int, end: int) -> None:
        if self.low is None or start < self.low:
            self.low = start
        if self.high is None or end > self.high:
            self.high = end

    def closed(self, start: int, end: int) -> None:
        """A session written closed: its days are dirty and its length counts."""
        self.add(start, end)
        if end - start > self.span:
            self.span = end - start

    def merge_into_state(self, connection: sa.Connection, now: int) -> None:
        if self.span > read_int(connection, MAXSPAN, -1):
            write_int(connection, MAXSPAN, self.span, now)
        if self.low is None or self.high is None:
            return
        stored = read_dirty(connection)
        if stored is not None:
            self.add(*stored)
        assert self.low is not None and self.high is not None
        payload = json.dumps({"from": self.low, "to": self.high})
        write_setting(connection, DIRTY, payload, now=now)


def read_dirty(connection: sa.Connection) -> tuple[int, int] | None:
    value = read_setting(connection, DIRTY)
    if not value:
        return None
    data = json.loads(value)
    return int(data["from"]), int(data["to"])


def clear_dirty(connection: sa.Connection, now: int) -> None:
    write_setting(connection, DIRTY, None, now=now)


_KEY = sa.and_(
    sessions.c.userid == sa.bindparam("k_userid"),
    sessions.c.courseid == sa.bindparam("k_courseid"),
    sessions.c.source == sa.bindparam("k_source"),
    sessions.c.sessionstart == sa.bindparam("k_start"),
)
_UPDATE = (
    sessions.update()
    .where(_KEY)
    .values(
        sessionstart=sa.bindparam("v_start"),
        lastupdated=sa.bindparam("v_end"),
        eventcount=sa.bindparam("v_events"),
        duration=sa.bindparam("v_duration"),
    )
)
_DELETE = sessions.delete().where(_KEY)


class SessionWriter:
    """Queues session writes of one source and runs them in bulk: deletes, updates, inserts.

    It compares each session with the version the database holds and writes only what changed,
    records the dirty range for the aggregation and counts sessions that became closed.
    """

    def __init__(self, connection: sa.Connection, source: str, settings: TimeSettings) -> None:
        self.connection = connection
        self.source = source
        self.single = settings.single_event_seconds
        self.dirty = DirtyRange()
        self.closed = 0
        self._inserts: dict[tuple[int, int, int], InsertRow] = {}
        # Updates and deletes run in the order they were asked for (runs of one kind in bulk);
        # inserts last, when every update has moved its row out of the way.
        self._changes: list[tuple[sa.Executable, dict[str, Any]]] = []

    def _key(self, pair: Pair, start: int) -> dict[str, Any]:
        return {
            "k_userid": pair[0],
            "k_courseid": pair[1],
            "k_source": self.source,
            "k_start": start,
        }

    def write(self, pair: Pair, session: Tracked, closed: bool) -> None:
        stored = session.stored
        new: Stored = (session.start, session.end, session.events, closed)
        if stored == new:
            return
        duration = (
            session_seconds(session.start, session.end, session.events, self.single)
            if closed
            else None
        )
        if stored is not None and stored[3]:
            self.dirty.add(stored[0], stored[1])
        if closed:
            self.dirty.closed(session.start, session.end)
            if stored is None or not stored[3]:
                self.closed += 1
        session.stored = new
        pending = self._inserts.pop((pair[0], pair[1], stored[0]), None) if stored else None
        if stored is None or pending is not None:
            self._inserts[(pair[0], pair[1], session.start)] = (
                pair[0],
                pair[1],
                session.start,
                session.end,
                duration,
                session.events,
            )
            return
        self._changes.append(
            (
                _UPDATE,
                self._key(pair, stored[0])
                | {
                    "v_start": session.start,
                    "v_end": session.end,
                    "v_events": session.events,
                    "v_duration": duration,
                },
            )
        )

    def delete(self, pair: Pair, stored: Stored) -> None:
        if stored[3]:
            self.dirty.add(stored[0], stored[1])
        if self._inserts.pop((pair[0], pair[1], stored[0]), None) is None:
            self._changes.append((_DELETE, self._key(pair, stored[0])))

    def flush(self) -> None:
        index = 0
        changes = self._changes
        while index < len(changes):
            statement = changes[index][0]
            end = index
            while end < len(changes) and changes[end][0] is statement:
                end += 1
            self.connection.execute(statement, [params for _s, params in changes[index:end]])
            index = end
        self._changes = []
        if self._inserts:
            insert_rows(self.connection, self.source, list(self._inserts.values()))
            self._inserts = {}


INSERT_BATCH = 1000
InsertRow = tuple[int, int, int, int, int | None, int]
"""(userid, courseid, sessionstart, lastupdated, duration, eventcount)."""


def insert_rows(connection: sa.Connection, source: str, rows: list[InsertRow]) -> None:
    """Insert session rows as multi-row VALUES with the numbers written into the statement.

    Every value is an integer (or NULL) and the source one of two fixed words, so the text is
    safe to build; binding 7 parameters per row through the driver cost three times the
    database's own work on a first sync of a large log.
    """
    if source not in (LOG, HEARTBEAT):  # pragma: no cover - callers pass the constants
        raise ValueError(f"unknown session source {source!r}")
    head = (
        f"INSERT INTO {sessions.name} (userid, courseid, sessionstart, lastupdated, duration, "
        "eventcount, source) VALUES "
    )
    tail = f", '{source}')"
    for index in range(0, len(rows), INSERT_BATCH):
        values = [
            f"({int(u)}, {int(c)}, {int(start)}, {int(end)}, "
            f"{'NULL' if duration is None else int(duration)}, {int(events)}{tail}"
            for u, c, start, end, duration, events in rows[index : index + INSERT_BATCH]
        ]
        connection.exec_driver_sql(head + ", ".join(values))


_COLUMNS = (
    sessions.c.userid,
    sessions.c.courseid,
    sessions.c.sessionstart,
    sessions.c.lastupdated,
    sessions.c.eventcount,
    sessions.c.duration,
)


def _row(row: Any) -> SessionRow:
    return (
        int(row[0]),
        int(row[1]),
        int(row[2]),
        int(row[3]),
        int(row[4]),
        None if row[5] is None else int(row[5]),
    )


def load_recent(connection: sa.Connection, source: str, since: int) -> list[SessionRow]:
    """Sessions of a source that ended at or after `since`, by pair and start.

    They are sorted here, not by the database: asked for that order, SQLite walks the whole
    table along the (userid, courseid) index instead of the few recent rows of the lastupdated
    index, which made the hourly sync read every session ever stored (a tenth of a second on a
    site with 150,000 sessions, growing with the table).
    """
    query = sa.select(*_COLUMNS).where(sessions.c.source == source, sessions.c.lastupdated >= since)
    return sorted((_row(row) for row in connection.execute(query)), key=itemgetter(0, 1, 2))


PAIRS_PER_QUERY = 500


def load_pairs(
    connection: sa.Connection, source: str, since: Mapping[Pair, int]
) -> dict[Pair, list[SessionRow]]:
    """For each pair, its sessions of a source that ended at or after the pair's `since`.

    Pairs are read in groups; a group's query selects by user (the index's first column), so it
    also returns sessions of the same users in courses of other groups. Only the group's own
    pairs are kept from it: every pair belongs to exactly one group, so each stored session is
    loaded once, never twice (a session loaded twice is merged with itself: one copy deleted,
    the other updated, and its time lost).
    """
    found: dict[Pair, list[SessionRow]] = {pair: [] for pair in since}
    ordered = sorted(since, key=lambda pair: (since[pair], pair))
    for index in range(0, len(ordered), PAIRS_PER_QUERY):
        chunk = ordered[index : index + PAIRS_PER_QUERY]
        members = set(chunk)
        users = sorted({pair[0] for pair in chunk})
        query = (
            sa.select(*_COLUMNS)
            .where(
                sessions.c.source == source,
                sessions.c.userid.in_(users),
                sessions.c.lastupdated >= min(since[pair] for pair in chunk),
            )
            .order_by(sessions.c.userid, sessions.c.courseid, sessions.c.sessionstart)
        )
        for raw in connection.execute(query):
            row = _row(raw)
            pair = (row[0], row[1])
            if pair in members and row[3] >= since[pair]:
                found[pair].append(row)
    return found


def close_idle(
    connection: sa.Connection,
    source: str,
    settings: TimeSettings,
    *,
    floor: int,
    now: int,
    dirty: DirtyRange,
) -> int:
    """Close the open sessions of a source idle for longer than its close time; count them."""
    cut = now - settings.close_after(source)
    condition = sa.and_(
        sessions.c.source == source,
        sessions.c.duration.is_(None),
        sessions.c.lastupdated >= floor,
        sessions.c.lastupdated < cut,
    )
    count, low, high, span = connection.execute(
        sa.select(
            sa.func.count(),
            sa.func.min(sessions.c.sessionstart),
            sa.func.max(sessions.c.lastupdated),
            sa.func.max(sessions.c.lastupdated - sessions.c.sessionstart),
        ).where(condition)
    ).one()
    if not count:
        return 0
    dirty.add(int(low), int(high))
    dirty.closed(int(high) - int(span), int(high))
    duration = sa.case(
        (sessions.c.eventcount == 1, settings.single_event_seconds),
        else_=sessions.c.lastupdated - sessions.c.sessionstart,
    )
    connection.execute(sessions.update().where(condition).values(duration=duration))
    return int(count)


def count_open(connection: sa.Connection, source: str, floor: int) -> int:
    return int(
        connection.execute(
            sa.select(sa.func.count()).where(
                sessions.c.source == source,
                sessions.c.duration.is_(None),
                sessions.c.lastupdated >= floor,
            )
        ).scalar_one()
    )


def iter_pairs(rows: Iterable[SessionRow]) -> Iterator[tuple[Pair, list[SessionRow]]]:
    """Rows sorted by pair, grouped."""
    current: Pair | None = None
    group: list[SessionRow] = []
    for row in rows:
        pair = (row[0], row[1])
        if pair != current:
            if current is not None:
                yield current, group
            current, group = pair, []
        group.append(row)
    if current is not None:
        yield current, group
