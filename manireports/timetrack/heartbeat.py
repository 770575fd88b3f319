"""`time heartbeat`: the plugin's page heartbeats, as JSON lines.

Each line is `{"userid": N, "courseid": N, "timestamp": N}` (Unix seconds; a fraction is
dropped; other keys are ignored). A heartbeat continues its (user, course)'s heartbeat session
when it comes at most `heartbeat_extend_minutes` after the previous heartbeat, else it starts a
new one; heartbeat sessions idle for longer than `heartbeat_idle_minutes` close (the plugin's
rules). Heartbeats are merged exactly like log events, in any order, so a batch that arrives
late or out of order gives the sessions it would have given in time.

Heartbeat sessions are stored beside the log sessions (source 'heartbeat') and joined with them
when days are aggregated: a heartbeat within reach of a log session continues it and the other
way round, so a long read with heartbeats and no clicks counts in full, and `time rebuild`
(which recomputes log sessions from the log) leaves the heartbeats, which are in no log, alone.

A batch is all or nothing: when any line is malformed, nothing is applied and the error names
every bad line (up to a limit), so a producer can fix and resend the whole batch. The input is
read as a stream (validated heartbeats are spooled to a temporary file), so a batch of millions
of lines runs in bounded memory. A batch sent again (the same heartbeats in the same order, as a
producer's retry sends it) is recognised and not applied twice; heartbeats that arrive again in
a different batch are counted again (each counts as one more event; the seconds only change for
a one-heartbeat session, which then holds two heartbeats at one second and lasts 0 seconds).
Heartbeats of users not logged in (0) or the guest (1) are ignored, as are site-level heartbeats
(course 0 or 1) when `include_site_events` is false; those are not errors.
"""

from __future__ import annotations

import hashlib
import json
import math
import tempfile
from array import array
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

import sqlalchemy as sa

from manireports.app import App
from manireports.errors import InputError
from manireports.state import read_setting, write_setting
from manireports.timetrack.engine import merge_late
from manireports.timetrack.sessions import HEARTBEAT, SITE_COURSE, Pair, TimeSettings
from manireports.timetrack.store import (
    HEARTBEAT_FLOOR,
    DirtyRange,
    SessionWriter,
    close_idle,
    count_open,
    load_pairs,
    locked,
    read_int,
    write_int,
)

GUEST = 1
SITE_COURSE_ID = 1
FUTURE_TOLERANCE = 300
"""Seconds a heartbeat may be ahead of this host's clock (clock skew) before it is refused."""
MAX_ERRORS = 1000
"""Malformed lines remembered; the rest are counted."""
APPLY_CHUNK = 200_000
"""Heartbeats merged per round: bounds the memory of a batch of any size."""
BATCHES_KEPT = 500
"""Digests of the latest batches remembered, to recognise a batch sent again."""
BATCHES = "timetracking.heartbeat.batches"
_PACK = array("q").itemsize * 3
"""Bytes of one spooled heartbeat."""


class HeartbeatInputError(InputError):
    """A heartbeat batch had malformed lines; nothing of it was applied."""

    def __init__(self, errors: list[tuple[int, str]], total: int) -> None:
        shown = "; ".join(f"line {number}: {reason}" for number, reason in errors[:5])
        more = f" (and {total - 5} more)" if total > 5 else ""
        super().__init__(
            f"{total} heartbeat line{'s' if total != 1 else ''} malformed, so none of the "
            f"batch was applied: {shown}{more}. Each line must be a JSON object like "
            '{"userid": 5, "courseid": 3, "timestamp": 1764000000}.'
        )
        self.errors = errors
        self.total = total


@dataclass(frozen=True)
class HeartbeatResult:
    """What one batch did."""

    lines: int
    applied: int
    ignored: int
    sessions_closed: int
    sessions_open: int
    pairs: int = 0
    repeated: bool = False


def _integer(value: object, name: str, *, fraction: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f'"{name}" must be a number')
    if isinstance(value, float):
        if not math.isfinite(value) or (not fraction and not value.is_integer()):
            raise ValueError(f'"{name}" must be a whole number')
        return math.floor(value)
    return value


def parse_heartbeat(line: str, *, now: int) -> tuple[int, int, int]:
    """(userid, courseid, timestamp) of one line; ValueError says what is wrong."""
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    missing = [key for key in ("userid", "courseid", "timestamp") if key not in data]
    if missing:
        raise ValueError(f"missing {', '.join(repr(key) for key in missing)}")
    userid = _integer(data["userid"], "userid")
    courseid = _integer(data["courseid"], "courseid")
    timestamp = _integer(data["timestamp"], "timestamp", fraction=True)
    if userid < 0 or courseid < 0:
        raise ValueError("userid and courseid cannot be negative")
    if timestamp <= 0:
        raise ValueError('"timestamp" must be Unix seconds')
    if timestamp > now + FUTURE_TOLERANCE:
        raise ValueError(f"timestamp {timestamp} is in the future (now is {now})")
    return userid, courseid, timestamp


def apply_heartbeats(
    app: App,
    lines: Iterable[str | bytes],
    *,
    now: int | None = None,
    chunk: int = APPLY_CHUNK,
) -> HeartbeatResult:
    """Validate a whole batch as it streams in, then merge it in one transaction.

    Lines may be text or bytes (UTF-8), so a command can pass its raw standard input and a
    line that is not UTF-8 is reported like any other malformed line. Raises
    HeartbeatInputError, applying nothing, when any line is malformed. Also closes the
    heartbeat sessions that have been idle too long, heartbeats or not.

    Valid heartbeats are spooled to a temporary file as packed integers while the input is read,
    so memory stays bounded whatever the batch's size and the lock is not held while a slow
    producer writes. The spool is then merged `chunk` heartbeats at a time inside one
    transaction: merging is exact in any grouping (see `sessions`), and the transaction makes
    the batch all or nothing, also when the run is interrupted.

    A batch identical to one of the latest `BATCHES_KEPT` applied (the same heartbeats in the
    same order: a producer's retry, or a resend after a run was stopped) is recognised by its
    digest and not applied again, so resending is always safe.
    """
    settings = TimeSettings.from_config(app.config)
    now = app.now() if now is None else int(now)
    with tempfile.TemporaryFile() as spool:
        read = _spool(lines, spool, settings, now)
        if read.total_errors:
            raise HeartbeatInputError(read.errors, read.total_errors)
        spool.seek(0)
        reach = settings.reach(HEARTBEAT)
        close_after = settings.close_after(HEARTBEAT)
        pairs: set[Pair] = set()
        with locked(app.state, now) as connection:
            writer = SessionWriter(connection, HEARTBEAT, settings)
            seen = json.loads(read_setting(connection, BATCHES) or "[]")
            repeated = read.digest in seen
            if read.applied and not repeated:
                seen = [*seen, read.digest][-BATCHES_KEPT:]
                write_setting(connection, BATCHES, json.dumps(seen), now=now)
            for points in [] if repeated else _chunks(spool, chunk):
                pairs.update(points)
                since = {pair: min(times) - reach for pair, times in points.items()}
                stored = load_pairs(connection, HEARTBEAT, since)
                for pair, times in points.items():
                    merge_late(
                        writer,
                        pair,
                        stored[pair],
                        times,
                        reach=reach,
                        now=now,
                        close_after=close_after,
                    )
                writer.flush()
            idle = close_idle_heartbeats(connection, settings, now=now, dirty=writer.dirty)
            writer.dirty.merge_into_state(connection, now)
            still_open = count_open(connection, HEARTBEAT, now - close_after)
    return HeartbeatResult(
        lines=read.lines,
        applied=0 if repeated else read.applied,
        ignored=read.ignored,
        sessions_closed=writer.closed + idle,
        sessions_open=still_open,
        pairs=len(pairs),
        repeated=repeated,
    )


@dataclass
class _Read:
    lines: int = 0
    applied: int = 0
    ignored: int = 0
    total_errors: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)
    digest: str = ""


def _spool(
    lines: Iterable[str | bytes], spool: BinaryIO, settings: TimeSettings, now: int
) -> _Read:
    """Validate every line; write the heartbeats to keep as (user, course, time) triples."""
    read = _Read()
    buffer = array("q")
    digest = hashlib.sha256()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        read.lines += 1
        try:
            if isinstance(line, bytes):
                try:
                    line = line.decode("utf-8")
                except UnicodeDecodeError:
                    raise ValueError("not UTF-8 text") from None
            userid, courseid, timestamp = parse_heartbeat(line, now=now)
        except ValueError as exc:
            read.total_errors += 1
            if len(read.errors) < MAX_ERRORS:
                read.errors.append((number, str(exc)))
            continue
        if courseid == SITE_COURSE_ID:
            courseid = SITE_COURSE
        if userid in (0, GUEST) or (courseid == SITE_COURSE and not settings.include_site_events):
            read.ignored += 1
            continue
        read.applied += 1
        if read.total_errors:
            continue  # the batch is rejected anyway: only validate the rest
        buffer.extend((userid, courseid, timestamp))
        if len(buffer) >= 3 * 8192:
            digest.update(buffer.tobytes())
            buffer.tofile(spool)
            del buffer[:]
    if buffer and not read.total_errors:
        digest.update(buffer.tobytes())
        buffer.tofile(spool)
    read.digest = digest.hexdigest()[:32]
    return read


def _chunks(spool: BinaryIO, size: int) -> Iterator[dict[Pair, list[int]]]:
    """The spooled heartbeats, `size` at a time, grouped by pair."""
    while True:
        data = spool.read(size * _PACK)
        if not data:
            return
        values = array("q")
        values.frombytes(data)
        points: dict[Pair, list[int]] = defaultdict(list)
        for index in range(0, len(values), 3):
            points[(values[index], values[index + 1])].append(values[index + 2])
        del values
        yield points


def close_idle_heartbeats(
    connection: sa.Connection, settings: TimeSettings, *, now: int, dirty: DirtyRange
) -> int:
    """Close heartbeat sessions idle for too long, as the plugin's hourly task does; every
    batch and every aggregation runs it. Call it holding the time-tracking lock."""
    idle = close_idle(
        connection,
        HEARTBEAT,
        settings,
        floor=read_int(connection, HEARTBEAT_FLOOR, 0),
        now=now,
        dirty=dirty,
    )
    # Every heartbeat session still open now ended within its close time.
    write_int(connection, HEARTBEAT_FLOOR, now - settings.close_after(HEARTBEAT), now)
    return idle
