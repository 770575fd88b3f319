"""Time tracking: sessions from the standard log and heartbeats, daily totals.

- `sync_log`: `time sync`, the standard log read incrementally into sessions;
- `apply_heartbeats`: `time heartbeat`, a batch of JSON-line heartbeats;
- `aggregate_daily`: `time aggregate`, closed sessions into daily rows in the site timezone;
- `rebuild`: `time rebuild`, recompute from the log after a settings change;
- `aggregate_time`: the `jobs aggregate-time` job (sync, then aggregate);
- `time_spent_rows`: the rows of the `time_spent` report, by day or month (`per_of`).

The rules themselves are pure functions in `sessions`; how the sync stays exact while reading
the log in id order is explained in `engine`.
"""

from __future__ import annotations

from manireports.timetrack.aggregate import AggregateResult, aggregate_daily
from manireports.timetrack.heartbeat import HeartbeatInputError, HeartbeatResult, apply_heartbeats
from manireports.timetrack.jobs import aggregate_time
from manireports.timetrack.rebuild import RebuildResult, rebuild
from manireports.timetrack.report import TIME_SPENT_COLUMNS, per_of, time_spent_rows
from manireports.timetrack.sessions import TimeSettings
from manireports.timetrack.sync import ConcurrentSyncError, SyncResult, sync_log

__all__ = [
    "TIME_SPENT_COLUMNS",
    "AggregateResult",
    "ConcurrentSyncError",
    "HeartbeatInputError",
    "HeartbeatResult",
    "RebuildResult",
    "SyncResult",
    "TimeSettings",
    "aggregate_daily",
    "aggregate_time",
    "apply_heartbeats",
    "per_of",
    "rebuild",
    "sync_log",
    "time_spent_rows",
]
