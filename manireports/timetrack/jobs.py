"""The `jobs aggregate-time` job: sync the log, then aggregate the days that changed."""

from __future__ import annotations

from collections.abc import Callable

from manireports.app import App
from manireports.timetrack.aggregate import AggregateResult, aggregate_daily
from manireports.timetrack.sync import SyncResult, sync_log


def aggregate_time(
    app: App, *, now: int | None = None, progress: Callable[[int], None] | None = None
) -> tuple[SyncResult, AggregateResult]:
    """`time sync` then `time aggregate` (the dirty days), with one "now" for both."""
    now = app.now() if now is None else int(now)
    synced = sync_log(app, now=now, progress=progress)
    return synced, aggregate_daily(app, now=now)
