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
from manireports.errors import InputError
from manireports.moodle.connection import ManiReportsQueryError
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
    LogSource,
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


def first_complete_day(app: App, source: LogSource, days: LocalDays, now: int) -> dt.date | None:
    """The first local day the standard log holds completely (None: the log is empty).

    Moodle deletes events older than `logstore_standard | loglifetime` days (0: never). When it
    has begun to (the oldest event is near that age) the oldest day is partial: its first
    sessions lost their first events, so the rebuild starts the day after.
    """
    moodle = app.moodle
    # The oldest event by time, not the first by id: a row written late (a restore, a queued
    # event) has a higher id than events newer than it, and a rebuild starting at the first
    # id's day would drop it while a sync counts it. The log's index on timecreated serves it.
    rows = moodle.fetch_all(f"SELECT MIN(timecreated) FROM {source.table}")
    if not rows or rows[0][0] is None:
        return None
    first = int(rows[0][0])
    day = days.date_of(first)
    try:
        setting = moodle.fetch_all(
            f"SELECT value FROM {moodle.table('config_plugins')} "
            "WHERE plugin = 'logstore_standard' AND name = 'loglifetime'"
        )
    except ManiReportsQueryError:  # no config_plugins table: nothing says Moodle purges
        setting = []
    value = str(setting[0][0]).strip() if setting else ""
    lifetime = int(value) if value.isdigit() else 0
    purging = lifetime > 0 and first < now - (lifetime - 1) * 86_400
    if purging and first > days.start_of(day):
        return day + dt.timedelta(days=1)
    return day


def rebuild(
    app: App,
    *,
    date_from: dt.date | str | None = None,
    now: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> RebuildResult:
    """Delete log sessions from `date_from`, re-sync from the log, re-aggregate.

    Without a date, or with one before the first day the log holds completely, from that day:
    sessions older than the log are kept (see `first_complete_day`).
    """
    settings = TimeSettings.from_config(app.config)
    now = app.now() if now is None else int(now)
    wanted = parse_date(date_from, "--from")
    moodle = app.moodle
    source = log_source(app)
    upto = max_log_id(moodle, source)
    days = LocalDays(app.timezone)
    first_day = first_complete_day(app, source, days, now)
    if first_day is None:
        raise InputError(
            f"The standard log ({source.table}) is empty, so there is nothing to rebuild from."
        )
    # The log cannot speak for days it no longer holds: sessions before them are kept.
    day = first_day if wanted is None or wanted < first_day else wanted
    is_log = sessions.c.source == LOG
    with locked(app.state, now) as connection:
        cut = days.start_of(day)
        doomed = sa.and_(is_log, sessions.c.lastupdated >= cut)
        cuts = {
            (int(u), int(c)): int(start)
            for u, c, start in connection.execute(
                sa.select(sessions.c.userid, sessions.c.courseid, sessions.c.sessionstart).where(
                    doomed, sessions.c.sessionstart < cut
                )
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
        write_setting(connection, LOG_REBUILD, RebuildFilter(upto, cut, cuts).to_json(), now=now)
        dirty.merge_into_state(connection, now)
    synced = sync_log(app, now=now, progress=progress)
    aggregated = aggregate_daily(app, now=now)
    return RebuildResult(day, int(deleted or 0), watermark, synced, aggregated)
