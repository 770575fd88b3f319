"""`manireports health`: one check per thing an operator watches, each with a status and figures.

Statuses follow the monitoring-plugin convention (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN), so
the command is a Nagios/Icinga check as it stands; the overall status is the worst one, where
CRITICAL outranks WARNING, which outranks UNKNOWN (a check that cannot tell is less urgent than
one that knows something is wrong). A check never raises: what it cannot find out makes it
UNKNOWN with the reason, so one unreachable database does not hide every other check.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from manireports.app import App
from manireports.config import HealthSection
from manireports.errors import ManiReportsError
from manireports.moodle.connection import MoodleDB
from manireports.moodle.detect import RELEASES, branch_of
from manireports.state.store import StateDB, head_revision, read_setting
from manireports.state.tables import (
    audit_logs,
    cache_summary,
    cloud_job_recipients,
    cloud_jobs,
    deliveries,
    job_alerts,
    job_runs,
    metadata,
    report_runs,
    schedules,
    usertime_sessions,
)

DAY = 86_400
# Every cron job in crontab.example.
JOBS = ("aggregate-time", "run-due", "build-cache", "scorm-summary", "cleanup")


def job_intervals(health: HealthSection) -> dict[str, int]:
    """Each job's `[health]` key: minutes allowed between its runs."""
    return {
        "aggregate-time": health.aggregate_time_minutes,
        "run-due": health.run_due_minutes,
        "build-cache": health.build_cache_minutes,
        "scorm-summary": health.scorm_summary_minutes,
        "cleanup": health.cleanup_minutes,
    }


# A job whose last success is this many intervals old is critical, not only late.
CRITICAL_INTERVALS = 3
# Tables whose growth over the last day is counted, by their creation-time column.
GROWTH_COLUMNS: dict[str, sa.Column[Any]] = {
    report_runs.name: report_runs.c.timestarted,
    audit_logs.name: audit_logs.c.timecreated,
    usertime_sessions.name: usertime_sessions.c.sessionstart,
    job_runs.name: job_runs.c.timestarted,
    cloud_jobs.name: cloud_jobs.c.timecreated,
}
WRITE_PRIVILEGES = (
    "ALL PRIVILEGES",
    "INSERT",
    "UPDATE",
    "DELETE",
    "CREATE",
    "DROP",
    "ALTER",
    "INDEX",
    "TRIGGER",
)


class Status(IntEnum):
    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3


Figure = int | float | str | None


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    message: str
    figures: dict[str, Figure] = field(default_factory=dict)


def overall(checks: list[Check]) -> Status:
    """The worst status: CRITICAL, then WARNING, then UNKNOWN, else OK."""
    found = {check.status for check in checks}
    for status in (Status.CRITICAL, Status.WARNING, Status.UNKNOWN):
        if status in found:
            return status
    return Status.OK


def run_checks(app: App, now: int | None = None) -> list[Check]:
    """Every check, in the order an operator reads them."""
    moment = app.now() if now is None else now
    checks = list(moodle_checks(app))
    state, state_checks = _state(app, moment)
    checks.extend(state_checks)
    if state is not None:
        checks.extend(_guarded("state.site", lambda: [site_check(app, state)]))
    for name, probe in _STATE_PROBES:
        if state is not None:
            checks.extend(_guarded(name, functools.partial(probe, app, state, moment)))
        elif name == "job":
            checks.extend(
                Check(f"job.{job}", Status.UNKNOWN, "the state database is not usable")
                for job in JOBS
            )
        else:
            checks.append(Check(name, Status.UNKNOWN, "the state database is not usable"))
    checks.extend(storage_checks(app, state))
    if state is not None:
        state.close()
    return checks


def _guarded(name: str, probe: Callable[[], list[Check]]) -> list[Check]:
    try:
        return probe()
    except (ManiReportsError, sa.exc.SQLAlchemyError, OSError) as exc:
        return [Check(name, Status.UNKNOWN, _first_line(exc))]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else exc.__class__.__name__


# -- Moodle -----------------------------------------------------------------------------------


def moodle_checks(app: App) -> Iterator[Check]:
    try:
        moodle = app.moodle
        version = _server_version(moodle)
    except ManiReportsError as exc:
        yield Check("moodle.reachable", Status.CRITICAL, f"unreachable: {_first_line(exc)}")
        for name in ("moodle.read_only", "moodle.release"):
            yield Check(name, Status.UNKNOWN, "the Moodle database is unreachable")
        return
    yield Check(
        "moodle.reachable",
        Status.OK,
        f"{moodle.engine_name} {version} at {moodle.describe_url()}",
        {"engine": moodle.engine_name, "server_version": version},
    )
    yield from _guarded("moodle.read_only", lambda: [read_only_check(moodle)])
    yield from _guarded("moodle.release", lambda: [release_check(app)])


def _server_version(moodle: MoodleDB) -> str:
    """The server's version from a real round trip (SQLite's is known without opening the
    file; PostgreSQL's SHOW cannot run in the server-side cursor queries use)."""
    query = {
        "sqlite": "SELECT sqlite_version()",
        "mysql": "SELECT VERSION()",
        "postgresql": "SELECT current_setting('server_version')",
    }[moodle.engine_name]
    return str(moodle.fetch_all(query)[0][0])


def read_only_check(moodle: MoodleDB) -> Check:
    """Whether the Moodle account could write, had a query slipped past validation."""
    name = "moodle.read_only"
    if moodle.engine_name == "sqlite":
        path = moodle.url.database or ""
        writable = bool(path) and os.access(path, os.W_OK)
        note = "the file is writable by this user" if writable else "the file is read-only"
        return Check(
            name,
            Status.OK,
            f"SQLite is opened read-only (mode=ro); {note}",
            {"write_grants": 0, "file_writable": int(writable)},
        )
    if moodle.engine_name == "mysql":
        grants = [str(row[0]) for row in moodle.fetch_all("SHOW GRANTS")]
        database = moodle.url.database or ""
        writes = [grant for grant in grants if _mysql_grant_writes(grant, database)]
        figures: dict[str, Figure] = {"write_grants": len(writes)}
        if writes:
            shown = re.sub(r"IDENTIFIED BY .*", "", writes[0]).strip()
            return Check(name, Status.WARNING, f"the account can write: {shown}", figures)
        return Check(name, Status.OK, "the account has no write grants", figures)
    rows = moodle.fetch_all(
        "SELECT "
        "(SELECT rolsuper FROM pg_roles WHERE rolname = current_user), "
        "has_database_privilege(current_database(), 'CREATE'), "
        "(SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        " WHERE c.relkind = 'r' AND n.nspname = current_schema() "
        " AND c.relname LIKE :pattern "
        " AND has_table_privilege(c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE'))",
        {"pattern": moodle.prefix.replace("_", "\\_") + "%"},
    )
    superuser, create, tables = rows[0]
    figures = {"write_grants": int(tables), "superuser": int(bool(superuser))}
    if superuser:
        return Check(name, Status.WARNING, "the account is a PostgreSQL superuser", figures)
    if tables:
        return Check(
            name, Status.WARNING, f"the account can write to {tables} Moodle tables", figures
        )
    if create:
        return Check(name, Status.WARNING, "the account may create schemas here", figures)
    return Check(name, Status.OK, "the account has no write privileges", figures)


def _mysql_grant_writes(grant: str, database: str) -> bool:
    match = re.match(r"GRANT (.+?) ON (\S+) TO ", grant, re.IGNORECASE)
    if match is None:
        return False
    privileges, target = match.group(1).upper(), match.group(2).replace("`", "")
    scope = target.split(".", 1)[0]
    if scope not in ("*", database) and not _wildcard_match(scope, database):
        return False
    named = [part.strip() for part in privileges.split(",")]
    return any(part.split("(")[0].strip() in WRITE_PRIVILEGES for part in named)


def _wildcard_match(pattern: str, database: str) -> bool:
    """MySQL database patterns in grants use % and _ (escaped as \\_)."""
    regex = ""
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and index + 1 < len(pattern):
            regex += re.escape(pattern[index + 1])
            index += 2
            continue
        regex += ".*" if char == "%" else "." if char == "_" else re.escape(char)
        index += 1
    return re.fullmatch(regex, database) is not None


def release_check(app: App) -> Check:
    site = app.site
    oldest, newest = RELEASES[0], RELEASES[-1]
    figures: dict[str, Figure] = {"version": site.version, "release": site.release}
    if site.version is None:
        return Check("moodle.release", Status.UNKNOWN, "the Moodle version is not recorded")
    if branch_of(site.version) is None:
        return Check(
            "moodle.release",
            Status.CRITICAL,
            f"Moodle {site.release or site.version} is older than {oldest[1]}, the oldest "
            "release supported",
            figures,
        )
    message = f"Moodle {site.release or site.branch} (branch {site.branch}) is supported"
    if site.version >= newest[0] and site.branch == newest[1]:
        message += f"; releases after {newest[1]} are not known to this manireports"
    return Check("moodle.release", Status.OK, message, figures)


# -- the state database ------------------------------------------------------------------------


def _state(app: App, now: int) -> tuple[StateDB | None, list[Check]]:
    try:
        state = StateDB(app.settings.state.url)
        revision = state.current_revision()
    except ManiReportsError as exc:
        return None, [
            Check("state.reachable", Status.CRITICAL, f"unreachable: {_first_line(exc)}"),
            Check("state.schema", Status.UNKNOWN, "the state database is unreachable"),
        ]
    described = state.describe()
    checks = [
        Check(
            "state.reachable",
            Status.OK,
            f"{described.engine} {described.version} at {described.url}",
            {"engine": described.engine},
        )
    ]
    head = head_revision()
    if revision != head:
        checks.append(
            Check(
                "state.schema",
                Status.CRITICAL,
                f"at revision {revision or 'none'}, needs {head}: run `manireports db upgrade`",
                {"revision": revision},
            )
        )
        return None, checks
    checks.append(Check("state.schema", Status.OK, f"current ({head})", {"revision": head}))
    checks.extend(_guarded("state.tables", lambda: [table_sizes(state, now)]))
    return state, checks


def site_check(app: App, state: StateDB) -> Check:
    """Whether this state database belongs to the configured Moodle site: a state bound to
    another site would answer this site's reports with the other one's caches and sessions."""
    from manireports.state.binding import read_binding, site_of

    name = "state.site"
    bound = read_binding(state)
    if bound is None:
        return Check(name, Status.WARNING, "not bound to a site yet: run `manireports db upgrade`")
    try:
        site = site_of(app.moodle, app.wwwroot)
    except ManiReportsError as exc:
        return Check(name, Status.UNKNOWN, f"bound to {bound.describe()}; {_first_line(exc)}")
    figures: dict[str, Figure] = {"siteidentifier": bound.siteidentifier}
    if site is None:
        return Check(name, Status.UNKNOWN, f"bound to {bound.describe()}; Moodle has no config")
    if not bound.same_site(site):
        return Check(
            name,
            Status.CRITICAL,
            f"bound to {bound.describe()}, not to {site.describe()}: give this site its own "
            "state database, or run `manireports db rebind` for a restored or moved site",
            figures,
        )
    return Check(name, Status.OK, f"bound to {bound.describe()}", figures)


def table_sizes(state: StateDB, now: int) -> Check:
    figures: dict[str, Figure] = {}
    total = 0
    with state.begin() as connection:
        for table in metadata.sorted_tables:
            short = table.name.removeprefix("manireports_")
            count = int(
                connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
            )
            figures[f"rows_{short}"] = count
            total += count
            column = GROWTH_COLUMNS.get(table.name)
            if column is not None:
                added = connection.execute(
                    sa.select(sa.func.count()).where(column >= now - DAY)
                ).scalar_one()
                figures[f"added_24h_{short}"] = int(added)
    return Check("state.tables", Status.OK, f"{total} rows in manireports' tables", figures)


# -- cron jobs ---------------------------------------------------------------------------------


def job_checks(app: App, state: StateDB, now: int) -> list[Check]:
    c = job_runs.c
    threshold_failures = max(1, app.settings.alerts.after_failures)
    with state.begin() as connection:
        newest = sa.select(c.job, sa.func.max(c.id).label("id")).group_by(c.job).subquery()
        last = {
            row["job"]: row
            for row in connection.execute(
                sa.select(job_runs).join(newest, newest.c.id == c.id)
            ).mappings()
        }
        succeeded = dict(
            connection.execute(
                sa.select(c.job, sa.func.max(c.timefinished))
                .where(c.status == "ok")
                .group_by(c.job)
            ).all()
        )
        in_a_row = dict(
            connection.execute(sa.select(job_alerts.c.job, job_alerts.c.failures)).all()
        )
    checks = []
    for job, minutes in job_intervals(app.settings.health).items():
        checks.append(
            _job_check(
                job,
                last.get(job),
                succeeded.get(job),
                int(in_a_row.get(job) or 0),
                minutes * 60,
                threshold_failures,
                now,
            )
        )
    return checks


def _job_check(
    job: str,
    last: Any,
    succeeded: int | None,
    failures: int,
    interval: int,
    after_failures: int,
    now: int,
) -> Check:
    name = f"job.{job}"
    figures: dict[str, Figure] = {
        "interval_seconds": interval,
        "failures_in_a_row": failures,
    }
    if last is None:
        if interval == 0:
            return Check(name, Status.OK, "never ran; not checked ([health] interval 0)", figures)
        return Check(name, Status.UNKNOWN, "never ran against this state database", figures)
    started, finished = int(last["timestarted"]), last["timefinished"]
    figures.update(
        {
            "last_run": started,
            "last_status": last["status"],
            "age_seconds": now - started,
            "duration_seconds": None if finished is None else int(finished) - started,
            "last_success": succeeded,
        }
    )
    when = _ago(now - started)
    if last["status"] == "failed":
        status = Status.CRITICAL if failures >= after_failures else Status.WARNING
        return Check(
            name,
            status,
            f"failed {failures} time(s) in a row, last {when} on {last['host']}: "
            f"{_first_line(Exception(last['error'] or 'no reason recorded'))}",
            figures,
        )
    if interval == 0:
        return Check(name, Status.OK, f"last ran {when} ({last['status']}); not checked", figures)
    if last["status"] == "running" and now - started > interval:
        return Check(name, Status.WARNING, f"running since {when} on {last['host']}", figures)
    age = now - (int(succeeded) if succeeded is not None else started)
    if age > CRITICAL_INTERVALS * interval:
        status = Status.CRITICAL
    elif age > interval:
        status = Status.WARNING
    else:
        status = Status.OK
    ended = "ok" if last["status"] == "ok" else last["status"]
    took = "" if figures["duration_seconds"] is None else f", took {figures['duration_seconds']} s"
    return Check(
        name,
        status,
        f"last ran {when} ({ended}{took}); expected every {interval // 60} min",
        figures,
    )


def _ago(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    if seconds < 2 * DAY:
        return f"{seconds // 3600} h ago"
    return f"{seconds // DAY} days ago"


# -- schedules, cloud jobs, report runs --------------------------------------------------------


def schedule_check(app: App, state: StateDB, now: int) -> list[Check]:
    """Overdue: due longer ago than run-due's interval allows and not waiting for a retry."""
    grace = max(app.settings.health.run_due_minutes, 15) * 60
    s, d, r = schedules.c, deliveries.c, report_runs.c
    with state.begin() as connection:
        active = connection.execute(sa.select(sa.func.count()).where(s.active == 1)).scalar_one()
        overdue = connection.execute(
            sa.select(sa.func.count()).where(
                s.active == 1, s.retry_at.is_(None), s.next_run < now - grace
            )
        ).scalar_one()
        retrying = connection.execute(
            sa.select(sa.func.count()).where(s.active == 1, s.retry_at.is_not(None))
        ).scalar_one()
        recent = sa.select(d.status, sa.func.count()).join(report_runs, r.id == d.runid)
        by_status: dict[str, int] = dict(
            connection.execute(recent.where(r.timestarted >= now - DAY).group_by(d.status)).all()
        )
    figures: dict[str, Figure] = {
        "active": int(active),
        "overdue": int(overdue),
        "retries_pending": int(retrying),
        "deliveries_failed_24h": int(by_status.get("failed", 0)),
        "deliveries_pending_24h": int(by_status.get("pending", 0)),
        "deliveries_sent_24h": int(by_status.get("sent", 0)),
    }
    problems = []
    if overdue:
        problems.append(f"{overdue} overdue")
    if figures["deliveries_failed_24h"]:
        problems.append(f"{figures['deliveries_failed_24h']} deliveries failed in 24 h")
    if retrying:
        problems.append(f"{retrying} waiting for a retry")
    status = Status.WARNING if overdue or figures["deliveries_failed_24h"] else Status.OK
    message = "; ".join(problems) or f"{active} active, none overdue"
    return [Check("schedules", status, message, figures)]


def cloud_check(app: App, state: StateDB, now: int) -> list[Check]:
    j, rc = cloud_jobs.c, cloud_job_recipients.c
    open_statuses = ("pending", "submitted", "in_progress")
    with state.begin() as connection:
        oldest = connection.execute(
            sa.select(sa.func.min(j.timecreated)).where(j.status.in_(open_statuses))
        ).scalar_one_or_none()
        failed_jobs = connection.execute(
            sa.select(sa.func.count()).where(j.status == "failed", j.timecreated >= now - DAY)
        ).scalar_one()
        failed_recipients = connection.execute(
            sa.select(sa.func.count())
            .select_from(cloud_job_recipients.join(cloud_jobs, j.jobid == rc.jobid))
            .where(rc.status == "failed", j.timecreated >= now - DAY)
        ).scalar_one()
    age = None if oldest is None else now - int(oldest)
    figures: dict[str, Figure] = {
        "failed_jobs_24h": int(failed_jobs),
        "failed_recipients_24h": int(failed_recipients),
        "oldest_open_age_seconds": age,
    }
    problems = []
    if failed_jobs:
        problems.append(f"{failed_jobs} jobs failed in 24 h")
    if failed_recipients:
        problems.append(f"{failed_recipients} recipients failed in 24 h")
    if age is not None and age > DAY:
        problems.append(f"the oldest open job is {_ago(age)}")
    if not app.settings.cloud.enabled and not problems and age is None:
        return [Check("cloud", Status.OK, "cloud offload is off", figures)]
    message = "; ".join(problems) or (
        "nothing open" if age is None else f"oldest open job {_ago(age)}"
    )
    return [Check("cloud", Status.WARNING if problems else Status.OK, message, figures)]


def report_run_check(app: App, state: StateDB, now: int) -> list[Check]:
    r = report_runs.c
    with state.begin() as connection:
        recent = connection.execute(
            sa.select(r.status, r.error).where(r.timestarted >= now - DAY)
        ).all()
    failed = [error or "" for status, error in recent if status == "failed"]
    timeouts = sum(1 for error in failed if "timeout_seconds" in error)
    figures: dict[str, Figure] = {
        "runs_24h": len(recent),
        "failed_24h": len(failed),
        "timeouts_24h": timeouts,
    }
    if failed:
        return [
            Check(
                "report_runs",
                Status.WARNING,
                f"{len(failed)} of {len(recent)} runs failed in 24 h ({timeouts} timed out)",
                figures,
            )
        ]
    return [Check("report_runs", Status.OK, f"{len(recent)} runs in 24 h, none failed", figures)]


def time_tracking_check(app: App, state: StateDB, now: int) -> list[Check]:
    """Lag: how far the newest log row is ahead of the last one read into sessions."""
    from manireports.timetrack.store import LOG_WATERMARK

    warning = app.settings.health.time_lag_warning_minutes * 60
    critical = app.settings.health.time_lag_critical_minutes * 60
    watermark = read_setting(state, LOG_WATERMARK)
    try:
        moodle = app.moodle
        log = moodle.table("logstore_standard_log")
        newest = moodle.fetch_all(f"SELECT MAX(id), MAX(timecreated) FROM {log}")[0]
        read = None
        if watermark is not None:
            rows = moodle.fetch_all(
                f"SELECT MAX(timecreated) FROM {log} WHERE id <= :id", {"id": int(watermark)}
            )
            read = rows[0][0]
    except ManiReportsError as exc:
        return [Check("time_tracking", Status.UNKNOWN, _first_line(exc))]
    newest_id, newest_time = newest
    figures: dict[str, Figure] = {
        "log_newest_id": newest_id,
        "watermark_id": None if watermark is None else int(watermark),
    }
    if newest_id is None:
        return [Check("time_tracking", Status.OK, "the standard log is empty", figures)]
    if watermark is None:
        return [Check("time_tracking", Status.WARNING, "the log was never read", figures)]
    lag = 0 if read is None else max(0, int(newest_time) - int(read))
    if int(watermark) >= int(newest_id):
        lag = 0
    figures["lag_seconds"] = lag
    figures["rows_behind"] = max(0, int(newest_id) - int(watermark))
    status = Status.OK
    if lag > critical:
        status = Status.CRITICAL
    elif lag > warning:
        status = Status.WARNING
    return [
        Check(
            "time_tracking",
            status,
            f"{figures['rows_behind']} log rows ({lag // 60} min) behind the newest",
            figures,
        )
    ]


def cache_check(app: App, state: StateDB, now: int) -> list[Check]:
    """Hit rate and invalidations (entries recomputed because Moodle's data changed within
    their TTL) of the entries generated in the last day, per report."""
    c = cache_summary.c
    with state.begin() as connection:
        rows = connection.execute(
            sa.select(
                c.reporttype,
                sa.func.sum(c.hits),
                sa.func.sum(c.misses),
                sa.func.sum(c.invalidations),
            )
            .where(c.lastgenerated >= now - DAY)
            .group_by(c.reporttype)
            .order_by(c.reporttype)
        ).all()
    figures: dict[str, Figure] = {}
    parts = []
    for report, hits, misses, invalidations in rows:
        hits, misses = int(hits or 0), int(misses or 0)
        rate = hits / (hits + misses) if hits + misses else None
        figures[f"hit_rate_{report}"] = None if rate is None else round(rate, 4)
        figures[f"hits_{report}"] = hits
        figures[f"misses_{report}"] = misses
        figures[f"invalidations_{report}"] = int(invalidations or 0)
        changed = f", {int(invalidations)} invalidated" if invalidations else ""
        parts.append(f"{report} {'-' if rate is None else f'{rate:.0%}'}{changed}")
    if not app.settings.cache.enabled:
        return [Check("cache", Status.OK, "the cache is off", figures)]
    message = "hit rate " + ", ".join(parts) if parts else "no entries generated in 24 h"
    return [Check("cache", Status.OK, message, figures)]


_STATE_PROBES: list[tuple[str, Callable[[App, StateDB, int], list[Check]]]] = [
    ("job", job_checks),
    ("schedules", schedule_check),
    ("cloud", cloud_check),
    ("report_runs", report_run_check),
    ("time_tracking", time_tracking_check),
    ("cache", cache_check),
]


# -- storage -----------------------------------------------------------------------------------


def storage_checks(app: App, state: StateDB | None) -> list[Check]:
    checks = [_free_space(app, "storage.reports", app.config.storage_dir())]
    url = state.url if state is not None else _state_url(app)
    if url is not None and url.get_backend_name() == "sqlite" and url.database:
        checks.append(_free_space(app, "storage.state", Path(url.database)))
    else:
        checks.append(
            Check("storage.state", Status.OK, "the state lives on a database server; not measured")
        )
    return checks


def _state_url(app: App) -> sa.URL | None:
    try:
        return StateDB(app.settings.state.url).url
    except ManiReportsError:
        return None


def _free_space(app: App, name: str, path: Path) -> Check:
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    try:
        usage = shutil.disk_usage(existing)
    except OSError as exc:
        return Check(name, Status.UNKNOWN, f"{path}: {exc.strerror}")
    free_mb = usage.free // (1024 * 1024)
    figures: dict[str, Figure] = {
        "free_bytes": usage.free,
        "total_bytes": usage.total,
        "path": str(path),
    }
    status = Status.OK
    if free_mb < app.settings.health.free_space_critical_mb:
        status = Status.CRITICAL
    elif free_mb < app.settings.health.free_space_warning_mb:
        status = Status.WARNING
    return Check(name, status, f"{free_mb} MB free at {path}", figures)


# -- output ------------------------------------------------------------------------------------


def as_document(checks: list[Check]) -> dict[str, Any]:
    status = overall(checks)
    return {
        "status": status.name,
        "exit_code": int(status),
        "checks": [
            {
                "name": check.name,
                "status": check.status.name,
                "message": check.message,
                "figures": check.figures,
            }
            for check in checks
        ],
    }


def prometheus_text(checks: list[Check], now: int) -> str:
    """The text exposition format: one status gauge per check, one gauge per numeric figure.

    Text figures (engine names, paths, statuses) are left out: Prometheus keeps numbers.
    """
    lines = [
        "# HELP manireports_health_status Check status: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.",
        "# TYPE manireports_health_status gauge",
    ]
    for check in checks:
        label = _label(check.name)
        lines.append(f'manireports_health_status{{check="{label}"}} {int(check.status)}')
    by_metric: dict[str, list[str]] = {}
    for check in checks:
        for figure, value in check.figures.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            metric = "manireports_" + re.sub(r"[^a-zA-Z0-9_]", "_", figure)
            by_metric.setdefault(metric, []).append(
                f'{metric}{{check="{_label(check.name)}"}} {value}'
            )
    for metric in sorted(by_metric):
        lines.append(f"# TYPE {metric} gauge")
        lines.extend(by_metric[metric])
    lines.append("# TYPE manireports_health_timestamp_seconds gauge")
    lines.append(f"manireports_health_timestamp_seconds {now}")
    return "\n".join(lines) + "\n"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
