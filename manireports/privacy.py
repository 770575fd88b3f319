"""`privacy export` and `privacy delete`: what manireports holds about one user.

manireports holds a Moodle user's data in its time tracking, its SCORM summary, the runs they
made or that were made as them (and those runs' files and deliveries), the schedules they own or
receive, the reports, dashboards and cloud jobs they created, the cloud jobs that mail them, and
the audit log. Deleting keeps what others rely on but unlinks it from the person:

- their sessions, daily rows, SCORM summary rows, runs (with files under `[storage] dir` and
  deliveries), delivery and recipient rows, cloud job recipient rows, owned schedules and
  personal dashboards are deleted;
- custom reports, shared dashboards and cloud jobs they created, and schedules they created for
  someone else, are handed to the shell operator (user 0);
- audit entries stay, so the trail of what happened and when is unbroken, but are pseudonymised:
  an entry by them is attributed to ERASED_USER, and the details of every entry about them
  (which name them, their runs or their username) are removed;
- the cache is cleared, since cached rows may hold them and are recomputed on demand.

The deletion is audited with counts only, nothing that identifies the person.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from manireports.app import App
from manireports.cleanup import inside
from manireports.state import record_audit
from manireports.state.audit import from_json
from manireports.state.tables import (
    audit_logs,
    cache_summary,
    cloud_job_recipients,
    cloud_jobs,
    customreports,
    dashboards,
    deliveries,
    report_runs,
    schedule_recipients,
    schedules,
    scorm_summary,
)
from manireports.timetrack.privacy import forget_user, user_time

# Stands in for an erased user in the audit log (Moodle user ids are positive, 0 is the shell).
ERASED_USER = -1
OPERATOR = 0


def _rows(connection: sa.Connection, query: sa.Select[Any]) -> list[dict[str, Any]]:
    found = []
    for row in connection.execute(query).mappings():
        record = dict(row)
        for key in ("paramsjson", "details", "configjson", "layoutjson", "payload_json"):
            if isinstance(record.get(key), str):
                record[key] = from_json(record[key])
        found.append(record)
    return found


def _about(userid: int, runids: list[int]) -> sa.ColumnElement[bool]:
    """Audit entries by the user, about them, about their runs, or naming them as --as-user."""
    return sa.or_(
        audit_logs.c.userid == userid,
        sa.and_(audit_logs.c.objecttype == "user", audit_logs.c.objectid == userid),
        sa.and_(audit_logs.c.objecttype == "report", audit_logs.c.objectid.in_(runids)),
        audit_logs.c.details.like(f'%"as_user": {json.dumps(str(userid))}%'),
    )


def _their_runs(userid: int) -> sa.ColumnElement[bool]:
    return sa.or_(report_runs.c.userid == userid, report_runs.c.actinguser == userid)


def export_user(app: App, userid: int) -> dict[str, Any]:
    """Everything manireports holds about `userid`, as JSON-ready data; the export is audited."""
    userid = int(userid)
    found: dict[str, Any] = {"userid": userid, "time_tracking": user_time(app, userid)}
    with app.state.begin() as connection:
        runs = _rows(connection, sa.select(report_runs).where(_their_runs(userid)))
        runids = [run["id"] for run in runs]
        owned = sa.or_(schedules.c.ownerid == userid, schedules.c.createdby == userid)
        received = sa.select(schedule_recipients.c.scheduleid).where(
            schedule_recipients.c.userid == userid
        )
        tables: dict[str, sa.Select[Any]] = {
            "deliveries": sa.select(deliveries).where(deliveries.c.userid == userid),
            "schedules": sa.select(schedules).where(owned),
            "schedules_received": sa.select(schedules).where(schedules.c.id.in_(received)),
            "custom_reports": sa.select(customreports).where(customreports.c.createdby == userid),
            "dashboards": sa.select(dashboards).where(dashboards.c.createdby == userid),
            "cloud_jobs": sa.select(cloud_jobs).where(cloud_jobs.c.createdby == userid),
            "cloud_job_recipients": sa.select(cloud_job_recipients).where(
                cloud_job_recipients.c.userid == userid
            ),
            "scorm_summary": sa.select(scorm_summary).where(scorm_summary.c.userid == userid),
            "audit_logs": sa.select(audit_logs).where(_about(userid, runids)),
        }
        found["report_runs"] = runs
        for name, query in tables.items():
            found[name] = _rows(connection, query.order_by(sa.text("id")))
        record_audit(
            connection, userid=OPERATOR, action="privacy_export", objecttype="user", objectid=userid
        )
    return found


def delete_user(app: App, userid: int) -> dict[str, int]:
    """Remove or unlink everything held about `userid` (see the module docstring); counts."""
    userid = int(userid)
    counts: dict[str, int] = {"time_tracking": forget_user(app, userid)}
    storage = app.config.storage_dir()
    with app.state.begin() as connection:

        def run(statement: sa.Executable) -> int:
            return int(connection.execute(statement).rowcount or 0)

        runs = connection.execute(
            sa.select(report_runs.c.id, report_runs.c.outputpath).where(_their_runs(userid))
        ).all()
        runids = [int(row.id) for row in runs]
        files = 0
        for row in runs:
            if row.outputpath and inside(Path(row.outputpath), storage):
                Path(os.path.realpath(row.outputpath)).unlink()
                files += 1
        counts["run_files"] = files
        audit = _about(userid, runids)
        counts["audit_logs"] = run(
            sa.update(audit_logs)
            .where(audit)
            .values(
                userid=sa.case(
                    (audit_logs.c.userid == userid, ERASED_USER), else_=audit_logs.c.userid
                ),
                objectid=sa.case(
                    (
                        sa.and_(audit_logs.c.objecttype == "user", audit_logs.c.objectid == userid),
                        None,
                    ),
                    else_=audit_logs.c.objectid,
                ),
                details=None,
            )
        )
        counts["report_runs"] = run(sa.delete(report_runs).where(_their_runs(userid)))
        counts["deliveries"] = run(sa.delete(deliveries).where(deliveries.c.userid == userid))
        counts["schedule_recipients"] = run(
            sa.delete(schedule_recipients).where(schedule_recipients.c.userid == userid)
        )
        counts["schedules"] = run(sa.delete(schedules).where(schedules.c.ownerid == userid))
        counts["schedules_handed_over"] = run(
            sa.update(schedules).where(schedules.c.createdby == userid).values(createdby=OPERATOR)
        )
        counts["custom_reports_handed_over"] = run(
            sa.update(customreports)
            .where(customreports.c.createdby == userid)
            .values(createdby=OPERATOR)
        )
        mine = sa.and_(dashboards.c.createdby == userid, dashboards.c.scope == "personal")
        counts["dashboards"] = run(sa.delete(dashboards).where(mine))
        counts["dashboards_handed_over"] = run(
            sa.update(dashboards).where(dashboards.c.createdby == userid).values(createdby=OPERATOR)
        )
        counts["cloud_job_payloads"] = _forget_in_payloads(connection, userid)
        counts["cloud_job_recipients"] = run(
            sa.delete(cloud_job_recipients).where(cloud_job_recipients.c.userid == userid)
        )
        counts["cloud_jobs_handed_over"] = run(
            sa.update(cloud_jobs).where(cloud_jobs.c.createdby == userid).values(createdby=OPERATOR)
        )
        counts["scorm_summary"] = run(
            sa.delete(scorm_summary).where(scorm_summary.c.userid == userid)
        )
        counts["cache_entries"] = run(sa.delete(cache_summary))
        record_audit(
            connection, userid=OPERATOR, action="privacy_delete", objecttype="user", details=counts
        )
    return counts


def _forget_in_payloads(connection: sa.Connection, userid: int) -> int:
    """Take the user's entry (name, email, template data) out of the submitted job contracts
    kept with their cloud jobs, so the deletion does not wait for `[retention] cloud_jobs_days`."""
    jobids = sa.select(cloud_job_recipients.c.jobid).where(cloud_job_recipients.c.userid == userid)
    found = connection.execute(
        sa.select(cloud_jobs.c.id, cloud_jobs.c.payload_json).where(cloud_jobs.c.jobid.in_(jobids))
    ).all()
    for rowid, text in found:
        payload = json.loads(text)
        payload["recipients"] = [
            entry
            for entry in payload.get("recipients", [])
            if int(entry.get("userid", 0)) != userid
        ]
        connection.execute(
            sa.update(cloud_jobs)
            .where(cloud_jobs.c.id == rowid)
            .values(payload_json=json.dumps(payload, ensure_ascii=False, sort_keys=True))
        )
    return len(found)
