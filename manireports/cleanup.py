"""`jobs cleanup`: forget what `[retention]` says is old enough.

Each kind of data has its own retention in days; 0 keeps it for ever (the audit log's default,
so an audit trail is only ever shortened on purpose). Files of deleted runs are removed only when
they lie inside `[storage] dir`: a run's output path may be a file the operator wrote with
`run-report -o`, which is theirs, not manireports'.

A run killed outright (SIGKILL, a crash) leaves the hidden temporary file it was writing, full of
personal data. Those are removed whatever the retention says, once a day old (a report still
being computed has its temporary file open, untouched, for as long as its queries take): under
`[storage] dir`, and next to every output path a run recorded, but there only the temporary files
of that very name, so nothing else of the operator's is touched.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from manireports.app import App
from manireports.export.atomic import part_file_pattern
from manireports.state import record_audit
from manireports.state.tables import (
    audit_logs,
    cache_summary,
    callback_replay,
    cloud_jobs,
    report_runs,
    usertime_daily,
    usertime_sessions,
)
from manireports.timetrack.store import locked

DAY = 86_400
PART_FILE_AGE = DAY
REPLAY_KEEP_SECONDS = DAY
"""A callback is refused as stale 300 s after its own timestamp, and its timestamp may be at most
300 s ahead of its arrival, so a replay record older than 600 s can never refuse anything again;
a day leaves room for clocks that were wrong."""


@dataclass
class CleanupResult:
    """Rows deleted per kind, and run files removed or kept because they lie elsewhere."""

    deleted: dict[str, int] = field(default_factory=dict)
    files_removed: int = 0
    files_outside_storage: int = 0
    part_files_removed: int = 0


def inside(path: Path, directory: Path) -> bool:
    """Whether `path`, with every symbolic link resolved, is a file under `directory`."""
    real = Path(os.path.realpath(path))
    return real.is_file() and real.is_relative_to(Path(os.path.realpath(directory)))


def cutoff(days: int, now: int) -> int | None:
    """The time before which data kept `days` days is deleted; None when it is kept for ever."""
    return None if days <= 0 else now - days * DAY


def cleanup(app: App, *, now: int | None = None) -> CleanupResult:
    """Delete old sessions, daily rows, runs and their files, cache entries, audit entries and
    cloud jobs, each by its `[retention]` setting; the counts are also written to the audit log."""
    now = app.now() if now is None else int(now)
    state = app.state
    result = CleanupResult()
    sessions_before = cutoff(app.settings.retention.sessions_days, now)
    daily_before = cutoff(app.settings.retention.daily_days, now)
    with locked(state, now) as connection:
        if sessions_before is not None:
            # Open sessions (no duration yet) belong to the sync in progress, whatever their age.
            result.deleted["sessions"] = connection.execute(
                sa.delete(usertime_sessions).where(
                    usertime_sessions.c.duration.is_not(None),
                    usertime_sessions.c.lastupdated < sessions_before,
                )
            ).rowcount
        if daily_before is not None:
            # Daily rows are dated in the site timezone; without [site] timezone UTC is used,
            # as `audit list` does, so cleanup never needs the Moodle database.
            zone = ZoneInfo(app.settings.site.timezone or "UTC")
            first_kept = datetime.fromtimestamp(daily_before, zone).date().isoformat()
            result.deleted["daily"] = connection.execute(
                sa.delete(usertime_daily).where(usertime_daily.c.date < first_kept)
            ).rowcount
    runs_before = cutoff(app.settings.retention.runs_days, now)
    if runs_before is not None:
        storage = app.config.storage_dir()
        with state.begin() as connection:
            # A run still 'running' after the retention period crashed long ago.
            old = report_runs.c.timestarted < runs_before
            paths = (
                connection.execute(
                    sa.select(report_runs.c.outputpath).where(
                        old, report_runs.c.outputpath.is_not(None)
                    )
                )
                .scalars()
                .all()
            )
            for text in paths:
                if inside(Path(text), storage):
                    Path(os.path.realpath(text)).unlink()
                    result.files_removed += 1
                elif Path(text).exists():
                    result.files_outside_storage += 1
            result.deleted["runs"] = connection.execute(sa.delete(report_runs).where(old)).rowcount
    retention = app.settings.retention
    for name, days, table, column in (
        ("cache", retention.cache_days, cache_summary, cache_summary.c.lastgenerated),
        ("audit", retention.audit_days, audit_logs, audit_logs.c.timecreated),
        ("cloud_jobs", retention.cloud_jobs_days, cloud_jobs, cloud_jobs.c.timecreated),
    ):
        before = cutoff(days, now)
        if before is not None:
            with state.begin() as connection:
                deleted = connection.execute(sa.delete(table).where(column < before)).rowcount
            result.deleted[name] = deleted
    with state.begin() as connection:
        result.deleted["callback_replay"] = connection.execute(
            sa.delete(callback_replay).where(
                callback_replay.c.timereceived < now - REPLAY_KEEP_SECONDS
            )
        ).rowcount
    result.part_files_removed = remove_part_files(app, now)
    record_audit(
        state,
        userid=0,
        action="data_cleanup",
        objecttype="retention",
        details={
            **result.deleted,
            "files_removed": result.files_removed,
            "part_files_removed": result.part_files_removed,
        },
        now=now,
    )
    return result


def remove_part_files(app: App, now: int) -> int:
    """Remove the temporary files of killed runs that are over a day old; returns how many."""
    before = now - PART_FILE_AGE
    found: set[Path] = set()
    storage = app.config.storage_dir()
    if storage.is_dir():
        anything = part_file_pattern()
        found.update(p for p in storage.rglob(".*.part") if anything.fullmatch(p.name))
    for target in _recorded_outputs(app):
        pattern = part_file_pattern(target.name)
        try:
            entries = list(os.scandir(target.parent))
        except OSError:
            continue
        found.update(Path(e.path) for e in entries if pattern.fullmatch(e.name))
    removed = 0
    for path in sorted(found):
        try:
            status = path.lstat()
        except OSError:
            continue
        if stat.S_ISREG(status.st_mode) and status.st_mtime < before:
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def _recorded_outputs(app: App) -> set[Path]:
    """Every output path the run log knows, finished or not, with its links resolved (the
    temporary file lies beside the file a link names)."""
    query = sa.select(report_runs.c.outputpath, report_runs.c.paramsjson)
    with app.state.begin() as connection:
        rows = connection.execute(query).all()
    texts: set[str] = set()
    for outputpath, paramsjson in rows:
        if outputpath:
            texts.add(str(outputpath))
        try:
            params = json.loads(paramsjson or "{}")
        except ValueError:
            continue
        if isinstance(params, dict) and isinstance(params.get("output"), str):
            texts.add(params["output"])
    return {Path(os.path.realpath(text)) for text in texts}
