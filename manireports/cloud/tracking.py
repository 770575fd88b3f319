"""The jobs and recipients tables: what was handed to the cloud and what became of each mail.

Job status: `pending` (recorded, not yet handed over), `submitted` (the cloud accepted it),
`in_progress` (some callbacks arrived), `completed` (every recipient has a final status),
`failed` (the cloud refused the job), `fallback` (mailed over SMTP instead). Recipient status:
`pending`, `sent`, `failed`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from manireports.cloud.contract import Recipient
from manireports.errors import InputError
from manireports.state.store import StateDB, transaction
from manireports.state.tables import cloud_job_recipients as recipients_table
from manireports.state.tables import cloud_jobs as jobs_table

JOB_STATUSES = ("pending", "submitted", "in_progress", "completed", "failed", "fallback")
RECIPIENT_STATUSES = ("pending", "sent", "failed")


@dataclass(frozen=True)
class JobRecipient:
    userid: int
    email: str
    status: str
    attempts: int
    error: str | None
    certificate_url: str | None
    timesent: int | None


@dataclass(frozen=True)
class JobRecord:
    jobid: str
    type: str
    tenantid: int | None
    courseid: int | None
    status: str
    total: int
    sent: int
    failed: int
    createdby: int
    timecreated: int
    timestarted: int | None
    timecompleted: int | None
    error: str | None
    payload: dict[str, Any]

    @property
    def pending(self) -> int:
        return self.total - self.sent - self.failed

    @property
    def progress_percent(self) -> float:
        """Recipients with a final status, in percent of all of them."""
        return 100.0 if self.total == 0 else round(100 * (self.sent + self.failed) / self.total, 1)


def _record(row: sa.RowMapping) -> JobRecord:
    return JobRecord(
        jobid=row["jobid"],
        type=row["type"],
        tenantid=row["tenantid"],
        courseid=row["courseid"],
        status=row["status"],
        total=int(row["total_recipients"]),
        sent=int(row["completed_recipients"]),
        failed=int(row["failed_recipients"]),
        createdby=int(row["createdby"]),
        timecreated=int(row["timecreated"]),
        timestarted=row["timestarted"],
        timecompleted=row["timecompleted"],
        error=row["error_message"],
        payload=json.loads(row["payload_json"]),
    )


def record_job(connection: sa.Connection, job: Mapping[str, Any], now: int) -> None:
    """Store a job and its recipients as pending, before it is handed over."""
    connection.execute(
        sa.insert(jobs_table).values(
            jobid=job["job_id"],
            tenantid=job["tenant_id"],
            type=job["type"],
            courseid=job["courseid"],
            status="pending",
            total_recipients=len(job["recipients"]),
            payload_json=json.dumps(job, ensure_ascii=False, sort_keys=True),
            createdby=job["created_by"],
            timecreated=now,
        )
    )
    connection.execute(
        sa.insert(recipients_table),
        [
            {"jobid": job["job_id"], "userid": r["userid"], "email": r["email"]}
            for r in job["recipients"]
        ],
    )


def mark_submitted(state: StateDB, jobid: str, now: int) -> None:
    with state.begin() as connection:
        connection.execute(
            sa.update(jobs_table)
            .where(jobs_table.c.jobid == jobid)
            .values(status="submitted", timestarted=now)
        )


def finish_without_cloud(
    connection: sa.Connection,
    jobid: str,
    status: str,
    error: str,
    outcomes: Mapping[int, str | None],
    now: int,
) -> None:
    """Close a job the cloud never processed: each recipient sent (None) or failed (error)."""
    for userid, failure in outcomes.items():
        connection.execute(
            sa.update(recipients_table)
            .where(recipients_table.c.jobid == jobid, recipients_table.c.userid == userid)
            .values(
                status="sent" if failure is None else "failed",
                error_message=failure,
                timesent=now if failure is None else None,
                attempts=recipients_table.c.attempts + 1,
            )
        )
    failed = sum(1 for failure in outcomes.values() if failure is not None)
    connection.execute(
        sa.update(jobs_table)
        .where(jobs_table.c.jobid == jobid)
        .values(
            status=status,
            error_message=error,
            completed_recipients=len(outcomes) - failed,
            failed_recipients=failed,
            timecompleted=now,
        )
    )


def get_job(state: StateDB | sa.Connection, jobid: str) -> JobRecord:
    with transaction(state) as connection:
        row = (
            connection.execute(sa.select(jobs_table).where(jobs_table.c.jobid == jobid))
            .mappings()
            .first()
        )
    if row is None:
        raise InputError(f"There is no cloud job {jobid!r}; `manireports cloud jobs` lists them.")
    return _record(row)


def list_jobs(state: StateDB, status: str | None = None) -> list[JobRecord]:
    """Jobs, newest first."""
    if status is not None and status not in JOB_STATUSES:
        raise InputError(f"--status must be one of {', '.join(JOB_STATUSES)}, not {status!r}.")
    query = sa.select(jobs_table).order_by(jobs_table.c.timecreated.desc(), jobs_table.c.id.desc())
    if status is not None:
        query = query.where(jobs_table.c.status == status)
    with state.begin() as connection:
        return [_record(row) for row in connection.execute(query).mappings()]


def job_recipients(
    state: StateDB | sa.Connection, jobid: str, status: str | None = None
) -> list[JobRecipient]:
    query = (
        sa.select(recipients_table)
        .where(recipients_table.c.jobid == jobid)
        .order_by(recipients_table.c.userid)
    )
    if status is not None:
        query = query.where(recipients_table.c.status == status)
    with transaction(state) as connection:
        return [
            JobRecipient(
                userid=int(row["userid"]),
                email=row["email"],
                status=row["status"],
                attempts=int(row["attempts"]),
                error=row["error_message"],
                certificate_url=row["certificate_url"],
                timesent=row["timesent"],
            )
            for row in connection.execute(query).mappings()
        ]


def payload_recipients(job: JobRecord, userids: Sequence[int]) -> list[Recipient]:
    """The contract entries of these users in a job, in the job's order."""
    wanted = set(userids)
    return [
        Recipient.from_json(entry)
        for entry in job.payload["recipients"]
        if int(entry["userid"]) in wanted
    ]
