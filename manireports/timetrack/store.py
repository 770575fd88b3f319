"""Sessions and bookkeeping in the state database.

Every writer of time-tracking state (a sync checkpoint, a heartbeat batch, an aggregation, a
rebuild) runs in one transaction that first takes the time-tracking lock: an upsert of the
`timetracking.lock` setting, which holds that row until commit on MySQL/MariaDB and PostgreSQL
(SQLite's BEGIN IMMEDIATE already serialises writers). Writers are therefore serialised across
processes and hosts sharing the state database, and never deadlock on each other's rows.

A session row is found by (userid, courseid, source, sessionstart): sessions of one pair and
source never overlap, so no two share a start, and bulk inserts need not return ids. A changed
session is deleted and inserted again, which gives it a new id: nothing refers to one.

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


class SessionWriter:
    """Queues session writes of one source and runs them in bulk: one DELETE, one INSERT.

    It compares each session with the version the database holds and writes only what changed,
    records the dirty range for the aggregation and counts sessions that became closed.

    A changed session is deleted and inserted again rather than updated: nothing refers to a
    session row's id, and PyMySQL and mysqlclient send an executemany UPDATE as one statement
    per row, a round trip each (some 250 per hourly sync of 1,000 events, most of its time on a
    busy MariaDB). The stored keys go out in one DELETE, the new rows in one multi-row INSERT.
    """

    def __init__(self, connection: sa.Connection, source: str, settings: TimeSettings) -> None:
        self.connection = connection
        self.source = source
        self.single = settings.single_event_seconds
        self.dirty = DirtyRange()
        self.closed = 0
        # The rows to insert, by (userid, courseid, sessionstart): a session written twice
        # before a flush replaces its own pending row (no two sessions of a pair share a start).
        self._inserts: dict[tuple[int, int, int], InsertRow] = {}
        # The stored rows to delete, those removed and those about to be written anew, as
        # (userid, courseid, sessionstart, lastupdated).
        self._deletes: list[tuple[int, int, int, int]] = []

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
        if stored is not None:
            self._forget(pair, stored)
        self._inserts[(pair[0], pair[1], session.start)] = (
            pair[0],
            pair[1],
            session.start,
            session.end,
            duration,
            session.events,
        )

    def delete(self, pair: Pair, stored: Stored) -> None:
        if stored[3]:
            self.dirty.add(stored[0], stored[1])
        self._forget(pair, stored)

    def _forget(self, pair: Pair, stored: Stored) -> None:
        """Drop a session's stored version: its pending row, else its row in the database."""
        if self._inserts.pop((pair[0], pair[1], stored[0]), None) is None:
            self._deletes.append((pair[0], pair[1], stored[0], stored[1]))

    def flush(self) -> None:
        """Deletes first, so that a session written anew never meets its stored version."""
        if self._deletes:
            delete_keys(self.connection, self.source, self._deletes)
            self._deletes = []
        if self._inserts:
            insert_rows(self.connection, self.source, list(self._inserts.values()))
            self._inserts = {}


DELETE_BATCH = 250
"""Rows per DELETE: SQLite parses the OR-ed conditions as a tree one level deeper per row and
refuses one deeper than 1,000 levels (SQLITE_MAX_EXPR_DEPTH)."""


def delete_keys(
    connection: sa.Connection, source: str, keys: list[tuple[int, int, int, int]]
) -> None:
    """Delete stored sessions of a source, each named by (userid, courseid, start, end).

    The rows are OR-ed conditions with the numbers written into the statement, as in
    `insert_rows`. The end (`lastupdated`) is not needed to single a row out, but it lets the
    database read the few rows of the lastupdated index that match, where the (userid, courseid)
    index holds every session the pair ever had: on a state where the pairs had 66 sessions
    each, a DELETE of 250 sessions read 16,000 rows in 0.6 s that way on MariaDB, 418 rows in
    0.02 s this way. MariaDB and PostgreSQL (with statistics) choose it themselves; SQLite,
    without statistics, is kept off the pair index by the unary `+` it documents for that.

    A row the database no longer holds as this process last wrote it would leave the new
    version beside it, counted twice; that is an error here, and the checkpoint's transaction
    is rolled back.
    """
    for index in range(0, len(keys), DELETE_BATCH):
        chunk = keys[index : index + DELETE_BATCH]
        deleted = connection.exec_driver_sql(
            delete_sql(connection.dialect.name, source, chunk)
        ).rowcount
        if deleted != len(chunk):
            raise RunError(
                f"The state database held {deleted} of {len(chunk)} time-tracking sessions "
                "this run had stored or read; another process changed them meanwhile. Nothing "
                "was written: run the command again."
            )


def delete_sql(dialect: str, source: str, keys: list[tuple[int, int, int, int]]) -> str:
    if source not in (LOG, HEARTBEAT):  # pragma: no cover - callers pass the constants
        raise ValueError(f"unknown session source {source!r}")
    pair = "+" if dialect == "sqlite" else ""
    conditions = [
        f"(lastupdated = {int(end)} AND {pair}userid = {int(u)} "
        f"AND {pair}courseid = {int(c)} AND sessionstart = {int(start)})"
        for u, c, start, end in keys
    ]
    return f"DELETE FROM {sessions.name} WHERE source = '{source}' AND ({' OR '.join(conditions)})"


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
