"""`time rebuild [--from DATE]`: recompute log sessions and daily rows after a settings change.

From a date (local midnight in the site timezone), or from the beginning: the log sessions that
ended on or after it are deleted, the watermark goes back to the first log event a deleted
session could hold, and an ordinary sync re-reads the log from there with today's settings; the
days touched (by deleted sessions and new ones) are then aggregated again. A session that ended
before the date is kept as it is.

A session running across the date (started before, ended after) is deleted whole and rebuilt
from its first event, so no session is cut in two. Re-reading from that point meets older events
of other pairs whose sessions were kept; the rebuild leaves the sync a filter so it skips them
rather than count them twice. Heartbeat sessions are not in the log and are left alone; they join
the rebuilt log sessions again when the days are aggregated.

The reset is one transaction and the re-read an ordinary, resumable sync: a rebuild that stops
half-way is finished by the next `time sync` (or `time rebuild` run again).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa

from manireports.app import App
from manireports.state import write_setting
from manireports.state.tables import usertime_sessions as sessions
from manireports.timetrack.aggregate import AggregateResult, aggregate_daily
from manireports.timetrack.engine import LATENESS
from manireports.timetrack.sessions import LOG, LocalDays, TimeSettings, parse_date
from manireports.timetrack.store import (
    LOG_FLOOR,
    LOG_HORIZON,
    LOG_MAXTIME,
    LOG_REBUILD,
    LOG_STAMP,
    LOG_WATERMARK,
    DirtyRange,
    locked,
    write_int,
)
from manireports.timetrack.sync import (
    RebuildFilter,
    SyncResult,
    log_source,
    max_log_id,
    sync_log,
)


@dataclass(frozen=True)
class RebuildResult:
    """What was deleted and reset, and the sync and aggregation that followed."""

    date_from: dt.date | None
    sessions_deleted: int
    watermark_reset: int
    sync: SyncResult
    aggregate: AggregateResult


def rebuild(
    app: App,
    *,
    date_from: dt.date | str | None = None,
    now: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> RebuildResult:
    """Delete log sessions from `date_from` (None: all), re-sync from the log, re-aggregate."""
    settings = TimeSettings.from_config(app.config)
    now = app.now() if now is None else int(now)
    day = parse_date(date_from, "--from")
    moodle = app.moodle
    source = log_source(app)
    upto = max_log_id(moodle, source)
    is_log = sessions.c.source == LOG
    with locked(app.state, now) as connection:
        if day is None:
            doomed = is_log
            cut = 0
            cuts: dict[tuple[int, int], int] = {}
        else:
            cut = LocalDays(app.timezone).start_of(day)
            doomed = sa.and_(is_log, sessions.c.lastupdated >= cut)
            cuts = {
                (int(u), int(c)): int(start)
                for u, c, start in connection.execute(
                    sa.select(
                        sessions.c.userid, sessions.c.courseid, sessions.c.sessionstart
                    ).where(doomed, sessions.c.sessionstart < cut)
                )
            }
        dirty = DirtyRange()
        low, high = connection.execute(
            sa.select(
                sa.func.min(sessions.c.sessionstart), sa.func.max(sessions.c.lastupdated)
            ).where(doomed, sessions.c.duration.is_not(None))
        ).one()
        if low is not None:
            dirty.add(int(low), int(high))
        deleted = connection.execute(sessions.delete().where(doomed)).rowcount
        earliest = min(cuts.values(), default=cut)
        if day is None:
            watermark = 0
        else:
            first = moodle.fetch_all(
                f"SELECT MIN(id) FROM {source.table} WHERE timecreated >= :since",
                {"since": earliest},
            )
            first_id = first[0][0] if first else None
            watermark = upto if first_id is None else min(int(first_id) - 1, upto)
        horizon = earliest - settings.session_timeout - LATENESS
        write_int(connection, LOG_WATERMARK, watermark, now)
        write_int(connection, LOG_MAXTIME, earliest, now)
        write_int(connection, LOG_HORIZON, horizon, now)
        write_int(connection, LOG_FLOOR, horizon, now)
        # A new stamp stops a sync that started before the reset at its next checkpoint.
        write_setting(connection, LOG_STAMP, uuid.uuid4().hex, now=now)
        rebuild_filter = None if day is None else RebuildFilter(upto, cut, cuts).to_json()
        write_setting(connection, LOG_REBUILD, rebuild_filter, now=now)
        dirty.merge_into_state(connection, now)
    synced = sync_log(app, now=now, progress=progress)
    aggregated = aggregate_daily(app, now=now)
    return RebuildResult(day, int(deleted or 0), watermark, synced, aggregated)
