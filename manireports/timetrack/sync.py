"""`time sync`: sessions from Moodle's standard log, incrementally.

The log is the largest table of a Moodle database and its only index that serves an
incremental read is the primary key, so the sync reads `id > watermark` in id order, in chunks
of a bounded number of rows. Each chunk is its own short read-only statement, which keeps the
statement timeout meaningful and never holds one snapshot open on a busy Moodle for the length
of a first sync. Noise (guests, users not logged in, anonymous events, 'logged in as' events,
origins not configured) is filtered by the database; the rows that remain are
(id, user, course, time) and go through the session builder (see `engine`).

The upper bound of a run is the largest log id when it starts: events logged meanwhile are the
next run's. Progress is committed in checkpoints: each checkpoint writes, in one transaction
under the time-tracking lock, every session changed so far (open ones with a NULL duration),
the watermark and the builder's horizon, so a run that dies loses nothing but the work since
its last checkpoint and the next run resumes from there. A stamp written by every checkpoint
detects a second sync (or a rebuild) that ran meanwhile on another host; the later one to
commit then stops instead of counting the same events twice.
"""

from __future__ import annotations

import gc
import json
import queue
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import nullcontext, suppress
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import sqlalchemy as sa

from manireports.app import App
from manireports.errors import DatabaseError, RunError
from manireports.moodle.connection import MoodleDB
from manireports.state import read_setting, write_setting
from manireports.timetrack.engine import LATENESS, SessionBuilder
from manireports.timetrack.sessions import LOG, TimeSettings
from manireports.timetrack.store import (
    LOG_FLOOR,
    LOG_HORIZON,
    LOG_MAXTIME,
    LOG_REBUILD,
    LOG_STAMP,
    LOG_WATERMARK,
    SessionWriter,
    count_open,
    load_recent,
    locked,
    read_int,
    write_int,
)

T = TypeVar("T")

READ_CHUNK = 100_000
"""Log rows per statement."""
CHECKPOINT_EVENTS = 500_000
"""Events between checkpoints: bounds the memory of pending sessions and the work a crash loses."""
LATE_LIMIT = 50_000
"""Late events held before a checkpoint merges them."""


class ConcurrentSyncError(RunError):
    """Another sync or rebuild committed while this sync ran."""


@dataclass(frozen=True)
class SyncResult:
    """What one `time sync` did."""

    events_read: int
    sessions_closed: int
    sessions_open: int
    watermark: int
    late_events: int = 0
    skipped_events: int = 0
    checkpoints: int = 0


@dataclass(frozen=True)
class LogSource:
    """Where the standard log is and which ids mean the guest user and the site course."""

    table: str
    guest: int
    siteid: int


@dataclass(frozen=True)
class RebuildFilter:
    """Left by `time rebuild`: events up to `until` older than their pair's cut were kept in
    the sessions a rebuild did not delete, so the re-reading sync skips them."""

    until: int
    start: int
    cuts: dict[tuple[int, int], int]

    def to_json(self) -> str:
        cuts = [[u, c, t] for (u, c), t in sorted(self.cuts.items())]
        return json.dumps({"until": self.until, "start": self.start, "cuts": cuts})

    @classmethod
    def from_json(cls, text: str | None) -> RebuildFilter | None:
        if not text:
            return None
        data = json.loads(text)
        cuts = {(int(u), int(c)): int(t) for u, c, t in data["cuts"]}
        return cls(int(data["until"]), int(data["start"]), cuts)


@dataclass(frozen=True)
class SyncState:
    watermark: int
    maxtime: int
    horizon: int
    floor: int
    stamp: str | None
    rebuild: RebuildFilter | None


def read_sync_state(connection: sa.Connection, settings: TimeSettings) -> SyncState:
    maxtime = read_int(connection, LOG_MAXTIME, 0)
    horizon = read_int(connection, LOG_HORIZON, maxtime - settings.session_timeout - LATENESS)
    return SyncState(
        watermark=read_int(connection, LOG_WATERMARK, 0),
        maxtime=maxtime,
        horizon=horizon,
        floor=read_int(connection, LOG_FLOOR, horizon),
        stamp=read_setting(connection, LOG_STAMP),
        rebuild=RebuildFilter.from_json(read_setting(connection, LOG_REBUILD)),
    )


def log_source(app: App) -> LogSource:
    """The log table, refusing a Moodle without it, and the guest and site course ids."""
    moodle = app.moodle
    if "logstore_standard_log" in app.site.missing_tables:
        raise DatabaseError(
            f"The Moodle database has no {moodle.table('logstore_standard_log')} table, so there "
            "is no log to track time from; enable the standard log store in Moodle."
        )
    guest = moodle.fetch_all(f"SELECT value FROM {moodle.table('config')} WHERE name = 'siteguest'")
    site = moodle.fetch_all(f"SELECT MIN(id) FROM {moodle.table('course')} WHERE format = 'site'")
    guest_id = int(guest[0][0]) if guest and str(guest[0][0]).strip().isdigit() else 1
    site_id = int(site[0][0]) if site and site[0][0] is not None else 1
    return LogSource(moodle.table("logstore_standard_log"), guest_id, site_id)


def events_sql(
    source: LogSource, settings: TimeSettings, *, limit: int
) -> tuple[str, dict[str, Any]]:
    """The chunk query: real user actions after an id, up to a bound, in id order.

    Site-level events (course 0, NULL or the site course) come out as course 0.
    """
    origins = {f"origin{number}": origin for number, origin in enumerate(settings.origins)}
    site = "courseid IS NULL OR courseid = 0 OR courseid = :siteid"
    lines = [
        f"SELECT id, userid, CASE WHEN {site} THEN 0 ELSE courseid END AS courseid, timecreated",
        f"FROM {source.table}",
        "WHERE id > :after AND id <= :upto",
        "AND anonymous = 0 AND (realuserid IS NULL OR realuserid = 0)",
        "AND userid > 0 AND userid <> :guest",
        f"AND origin IN ({', '.join(':' + name for name in origins)})",
    ]
    if not settings.include_site_events:
        lines.append("AND courseid IS NOT NULL AND courseid <> 0 AND courseid <> :siteid")
    lines.append(f"ORDER BY id LIMIT {int(limit)}")
    params: dict[str, Any] = {"guest": source.guest, "siteid": source.siteid, **origins}
    return "\n".join(lines), params


Row = tuple[Any, ...]


def read_chunks(
    moodle: MoodleDB, sql: str, params: dict[str, Any], *, after: int, upto: int, size: int
) -> Iterator[tuple[list[Row], int]]:
    """The chunks of rows after `after` up to `upto`, each with the id read up to."""
    while after < upto:
        with moodle.stream(sql, {**params, "after": after, "upto": upto}) as stream:
            rows = list(stream.rows)
        # A short chunk means every row up to the bound has been seen.
        after = upto if len(rows) < size else int(rows[-1][0])
        yield rows, after


PREFETCH = True
"""Read the next chunk from Moodle while this one is sessionized and written."""


class Prefetch(Generic[T]):
    """Runs an iterator in a thread, a bounded number of items ahead of the consumer.

    Reading the log waits on the Moodle server; sessionizing and checkpointing waits on Python
    and the state database; overlapping the two shortens a first sync. Errors in the thread
    reach the consumer; leaving the block early stops the thread.
    """

    _END = object()

    def __init__(self, source: Iterator[T], depth: int = 2) -> None:
        self._source = source
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="manireports-log-reader", daemon=True
        )

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            for item in self._source:
                if not self._put(item):
                    break
            else:
                self._put(self._END)
        except BaseException as exc:
            self._put(_Failure(exc))
        finally:
            close = getattr(self._source, "close", None)
            if close is not None:
                close()

    def __enter__(self) -> Iterator[T]:
        self._thread.start()
        return self._items()

    def _items(self) -> Iterator[T]:
        while True:
            item = self._queue.get()
            if item is self._END:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        while self._thread.is_alive():
            with suppress(queue.Empty):
                self._queue.get(timeout=0.1)
        self._thread.join()


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def max_log_id(moodle: MoodleDB, source: LogSource) -> int:
    rows = moodle.fetch_all(f"SELECT MAX(id) FROM {source.table}")
    return int(rows[0][0]) if rows and rows[0][0] is not None else 0


def sync_log(
    app: App,
    *,
    now: int | None = None,
    progress: Callable[[int], None] | None = None,
    read_chunk: int = READ_CHUNK,
    checkpoint_events: int = CHECKPOINT_EVENTS,
    upto: int | None = None,
) -> SyncResult:
    """Read the standard log from the watermark on and bring the log sessions up to date.

    `now` (default: the clock) decides which sessions are closed: those idle for longer than the
    session timeout. `progress` is called with the number of events read after each chunk.
    `upto` stops at that log id instead of the largest (a run that saw only part of the log, as
    an earlier run did: benchmarks and tests prepare an incremental state with it).
    """
    # The builder holds up to a checkpoint's worth of small session objects and creates no
    # reference cycles; the cyclic collector rescanning them tripled the cost of a first sync.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _sync_log(app, now, progress, read_chunk, checkpoint_events, upto)
    finally:
        if collecting:
            gc.enable()


def _sync_log(
    app: App,
    now: int | None,
    progress: Callable[[int], None] | None,
    read_chunk: int,
    checkpoint_events: int,
    limit: int | None,
) -> SyncResult:
    settings = TimeSettings.from_config(app.config)
    now = app.now() if now is None else int(now)
    source = log_source(app)
    state = app.state
    with state.begin() as connection:
        start = read_sync_state(connection, settings)
        stored = load_recent(connection, LOG, start.floor)
    upto = max_log_id(app.moodle, source)
    if limit is not None:
        upto = max(min(upto, limit), start.watermark)
    if upto < start.watermark:
        raise RunError(
            f"The standard log's largest id ({upto}) is below the time-tracking watermark "
            f"({start.watermark}): the log was emptied or restored from a backup. Run "
            "`manireports time rebuild` to recompute sessions from the log as it is now."
        )
    builder = SessionBuilder(settings, LOG, now=now, horizon=start.horizon, maxtime=start.maxtime)
    builder.load(stored)
    del stored
    rebuild = start.rebuild
    expected = start.stamp
    totals = {"closed": 0, "checkpoints": 0, "open": 0}

    def checkpoint(watermark: int, *, final: bool) -> None:
        nonlocal expected, rebuild
        stamp = uuid.uuid4().hex
        with locked(state, now) as connection:
            if read_setting(connection, LOG_STAMP) != expected:
                raise ConcurrentSyncError(
                    "Another time sync or rebuild changed the time-tracking state while this "
                    "sync ran, so this one stopped (its work since the last checkpoint is "
                    "discarded and nothing was counted twice); run it again."
                )
            writer = SessionWriter(connection, LOG, settings)
            builder.write(writer)
            writer.dirty.merge_into_state(connection, now)
            write_int(connection, LOG_WATERMARK, watermark, now)
            write_int(connection, LOG_MAXTIME, builder.maxtime, now)
            write_int(connection, LOG_HORIZON, builder.horizon, now)
            write_int(connection, LOG_FLOOR, builder.floor, now)
            write_setting(connection, LOG_STAMP, stamp, now=now)
            if rebuild is not None and watermark >= rebuild.until:
                write_setting(connection, LOG_REBUILD, None, now=now)
                rebuild = None
            if final:
                totals["open"] = count_open(connection, LOG, builder.floor)
        expected = stamp
        totals["closed"] += writer.closed
        totals["checkpoints"] += 1

    sql, params = events_sql(source, settings, limit=read_chunk)
    after = start.watermark
    events = skipped = since_checkpoint = 0
    add = builder.add
    chunks = read_chunks(app.moodle, sql, params, after=after, upto=upto, size=read_chunk)
    with Prefetch(chunks) if PREFETCH else nullcontext(chunks) as prefetched:
        for rows, after in prefetched:
            if rebuild is None:
                for _id, userid, courseid, time in rows:
                    add((userid, courseid), time)
            else:
                until, cuts, cut = rebuild.until, rebuild.cuts, rebuild.start
                for log_id, userid, courseid, time in rows:
                    pair = (userid, courseid)
                    if log_id <= until and time < cuts.get(pair, cut):
                        skipped += 1
                        continue
                    add(pair, time)
            events += len(rows)
            since_checkpoint += len(rows)
            if progress is not None:
                progress(events)
            if after < upto and (
                since_checkpoint >= checkpoint_events or len(builder.late) >= LATE_LIMIT
            ):
                checkpoint(after, final=False)
                since_checkpoint = 0
    checkpoint(max(after, start.watermark), final=True)
    return SyncResult(
        events_read=events - skipped,
        sessions_closed=totals["closed"],
        sessions_open=totals["open"],
        watermark=max(after, start.watermark),
        late_events=builder.late_total,
        skipped_events=skipped,
        checkpoints=totals["checkpoints"],
    )
