"""Reminders to a course's learners: recipients, batches, submission, and the SMTP fallback.

Recipients are the learners of the `course_completion` report for that course, run through the
report layer so they are scoped exactly as the report would be for `--as-user` and `--company`, and
recorded as a run (`for: send-reminders`, a dry run's too). A course with more learners than
`[reports] max_rows` is refused rather than half reminded. Every batch becomes a job recorded before
it is handed over, so a crash between the two leaves a `pending` job to see rather than mail nobody
knows about.

Reminders go to the cloud when `[email] transport = "cloud"` and `[cloud] enabled` is on; with
transport "smtp" they are mailed directly (the cloud may still be enabled for certificates and
callbacks). When the cloud is disabled, each job is mailed over SMTP at once. When it is enabled but
unreachable (see submit.py), that job and every later job of the same run are mailed over SMTP:
after N failed attempts the next batch would only wait as long to fail the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from manireports.app import App
from manireports.cloud.contract import REMINDER, JobSpec, Recipient, batches, build_jobs
from manireports.cloud.fallback import MailTemplates, mail_each
from manireports.cloud.submit import (
    CloudRefusedError,
    CloudUnreachableError,
    Submitter,
    make_submitter,
)
from manireports.cloud.tracking import (
    finish_without_cloud,
    get_job,
    job_recipients,
    mark_submitted,
    payload_recipients,
    record_job,
)
from manireports.config import Config
from manireports.errors import ConfigError, InputError, RunError
from manireports.reports.run import OPERATOR, open_report
from manireports.reports.spec import ReportRequest
from manireports.sqltext import expand_tables
from manireports.state.audit import record_audit

DEFAULT_TEMPLATE = "course_reminder"
ONLY_CHOICES = ("not-completed",)
# Names are read in chunks so the IN list stays well below every engine's parameter limit.
_NAME_CHUNK = 500


@dataclass(frozen=True)
class ReminderRequest:
    courseid: int
    template: str = DEFAULT_TEMPLATE
    only: str | None = None
    as_user: str | None = None
    company: int | None = None


@dataclass
class DispatchOutcome:
    """What happened to each job of one send-reminders or retry."""

    jobs: list[str] = field(default_factory=list)
    recipients: int = 0
    submitted: int = 0
    fallback_jobs: int = 0
    mailed: int = 0
    mail_failed: int = 0
    fallback_reason: str | None = None
    skipped_without_email: int = 0


def _course(app: App, courseid: int) -> tuple[str, str]:
    rows = app.moodle.fetch_all(
        f"SELECT fullname, shortname FROM {app.moodle.table('course')} WHERE id = :id",
        {"id": courseid},
    )
    if not rows:
        raise InputError(f"There is no course with id {courseid}.")
    return str(rows[0][0]), str(rows[0][1])


def _tenant(app: App, courseid: int, company: int | None) -> int | None:
    """The IOMAD company the jobs are for: --company, else the one company owning the course."""
    if company is not None or not app.site.iomad:
        return company
    table = expand_tables("{company_course}", app.moodle.prefix, app.site.table_aliases())
    owners = app.moodle.fetch_all(
        f"SELECT DISTINCT companyid FROM {table} WHERE courseid = :id", {"id": courseid}
    )
    return int(owners[0][0]) if len(owners) == 1 else None


def _names(app: App, userids: Sequence[int]) -> dict[int, tuple[str, str]]:
    names: dict[int, tuple[str, str]] = {}
    for start in range(0, len(userids), _NAME_CHUNK):
        chunk = ", ".join(str(int(u)) for u in userids[start : start + _NAME_CHUNK])
        for userid, first, last in app.moodle.fetch_all(
            f"SELECT id, firstname, lastname FROM {app.moodle.table('user')} WHERE id IN ({chunk})"
        ):
            names[int(userid)] = (str(first or ""), str(last or ""))
    return names


def course_recipients(app: App, request: ReminderRequest) -> tuple[list[Recipient], int, int]:
    """The scoped learners to remind, the acting user (0: operator), and those without email."""
    if request.only is not None and request.only not in ONLY_CHOICES:
        raise InputError(f"--only must be {' or '.join(ONLY_CHOICES)}, not {request.only!r}.")
    learners = ReportRequest(
        "course_completion",
        params={"courseid": str(request.courseid)},
        as_user=request.as_user,
        company=request.company,
    )
    found: list[tuple[int, str]] = []
    without_email = 0
    with open_report(app, learners, purpose="send-reminders") as run:
        names = [column.name for column in run.columns]
        for values in run.rows:
            row = dict(zip(names, values, strict=True))
            if request.only == "not-completed" and row["completed"]:
                continue
            if not row["email"]:
                without_email += 1
                continue
            found.append((int(row["userid"]), str(row["email"])))
        if run.capped:
            raise RunError(
                f"The course {request.courseid} has more learners than [reports] max_rows; no "
                "reminder was sent. Raise max_rows, or remind them company by company."
            )
    people = _names(app, [userid for userid, _ in found])
    recipients = [Recipient(userid, email, *people[userid]) for userid, email in found]
    return recipients, run.prepared.scope.actor.userid or OPERATOR, without_email


def _check_cloud_settings(config: Config) -> None:
    if not config.settings.cloud.callback_url or not config.settings.cloud.callback_secret:
        raise ConfigError(
            "[cloud] enabled needs [cloud] callback_url and callback_secret, so the workers can "
            "report back; set them or set enabled = false to mail over SMTP."
        )


def dispatch(
    app: App,
    spec: JobSpec,
    recipients: list[Recipient],
) -> DispatchOutcome:
    """Record the batches as jobs, hand them to the cloud, and mail over SMTP where needed."""
    config, state = app.config, app.state
    templates = MailTemplates(config)
    templates.require(spec.template_id)
    enabled = config.settings.cloud.enabled
    by_cloud = enabled and config.settings.email.transport == "cloud"
    submitter: Submitter | None = None
    if by_cloud:
        _check_cloud_settings(config)
        submitter = make_submitter(config)
    outcome = DispatchOutcome(recipients=len(recipients))
    now = app.now()
    jobs = build_jobs(spec, recipients, config.settings.cloud.batch_size, now)
    with state.begin() as connection:
        for job in jobs:
            record_job(connection, job, now)
    outcome.jobs = [job["job_id"] for job in jobs]
    reason = None
    if not enabled:
        reason = "the cloud is disabled ([cloud] enabled = false)"
    elif not by_cloud:
        reason = 'mail goes over SMTP ([email] transport = "smtp")'

    for index, job in enumerate(jobs):
        jobid = job["job_id"]
        if submitter is not None and reason is None:
            try:
                submitter.submit(job)
            except CloudUnreachableError as exc:
                reason = str(exc)
            except CloudRefusedError as exc:
                _refused(app, jobs[index:], str(exc))
                raise
            else:
                mark_submitted(state, jobid, app.now())
                record_audit(
                    state,
                    userid=OPERATOR,
                    action="cloud_submit",
                    objecttype="cloud_job",
                    details=_details(job, where=submitter.where),
                )
                outcome.submitted += 1
                continue
        assert reason is not None
        people = [Recipient.from_json(entry) for entry in job["recipients"]]
        mailed = mail_each(config, templates, spec.template_id, people, spec.template_data)
        with state.begin() as connection:
            finish_without_cloud(connection, jobid, "fallback", reason, mailed, app.now())
            failed = sum(1 for failure in mailed.values() if failure is not None)
            record_audit(
                connection,
                userid=OPERATOR,
                action="cloud_fallback",
                objecttype="cloud_job",
                details={**_details(job), "reason": reason, "mailed": len(mailed) - failed,
                         "failed": failed},
            )  # fmt: skip
        outcome.fallback_jobs += 1
        outcome.mailed += len(mailed) - failed
        outcome.mail_failed += failed
    outcome.fallback_reason = reason
    return outcome


def _details(job: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "jobid": job["job_id"],
        "type": job["type"],
        "courseid": job["courseid"],
        "tenantid": job["tenant_id"],
        "recipients": len(job["recipients"]),
        **extra,
    }


def _refused(app: App, jobs: list[dict[str, Any]], reason: str) -> None:
    """The refused job and the ones after it fail whole, so `cloud retry` can send them later."""
    with app.state.begin() as connection:
        for job in jobs:
            failures: dict[int, str | None] = {int(r["userid"]): reason for r in job["recipients"]}
            finish_without_cloud(connection, job["job_id"], "failed", reason, failures, app.now())
            record_audit(
                connection,
                userid=OPERATOR,
                action="cloud_refused",
                objecttype="cloud_job",
                details={**_details(job), "reason": reason},
            )


def send_reminders(app: App, request: ReminderRequest) -> DispatchOutcome:
    """`cloud send-reminders`: one job per batch of the course's (scoped) learners."""
    fullname, shortname = _course(app, request.courseid)
    recipients, actor, without_email = course_recipients(app, request)
    spec = JobSpec(
        type=REMINDER,
        tenant_id=_tenant(app, request.courseid, request.company),
        courseid=request.courseid,
        created_by=actor,
        template_id=request.template,
        template_data={
            "course_name": fullname,
            "course_shortname": shortname,
            "courseid": request.courseid,
        },
        callback_url=app.settings.cloud.callback_url,
        email_provider=app.settings.cloud.email_provider,
    )
    outcome = dispatch(app, spec, recipients)
    outcome.skipped_without_email = without_email
    return outcome


@dataclass(frozen=True)
class ReminderPlan:
    """What `send-reminders` would do, for `--dry-run`: no job is recorded and nothing is sent
    (the read of the course's learners is a recorded report run, as for a real send)."""

    recipients: list[Recipient]
    jobs: int
    skipped_without_email: int


def plan_reminders(app: App, request: ReminderRequest) -> ReminderPlan:
    """The learners a send-reminders would mail, and in how many jobs, checked as a real run
    checks them (course, scope, template), without recording a job or sending anything."""
    _course(app, request.courseid)
    MailTemplates(app.config).require(request.template)
    recipients, _actor, without_email = course_recipients(app, request)
    jobs = sum(1 for _ in batches(recipients, app.settings.cloud.batch_size))
    return ReminderPlan(recipients, jobs, without_email)


def retry_job(app: App, jobid: str) -> DispatchOutcome:
    """`cloud retry`: the failed recipients of a job, sent again as a new job."""
    job = get_job(app.state, jobid)
    failed = job_recipients(app.state, jobid, status="failed")
    if not failed:
        raise InputError(f"The cloud job {jobid} has no failed recipients to retry.")
    payload = job.payload
    spec = JobSpec(
        type=payload["type"],
        tenant_id=payload["tenant_id"],
        courseid=payload["courseid"],
        created_by=OPERATOR,
        template_id=payload["template_id"],
        template_data=payload["template_data"],
        callback_url=app.settings.cloud.callback_url,
        email_provider=app.settings.cloud.email_provider,
        generate_certificate=bool(payload.get("generate_certificate")),
        certificate_template=payload.get("certificate_template"),
    )
    recipients = payload_recipients(job, [recipient.userid for recipient in failed])
    outcome = dispatch(app, spec, recipients)
    record_audit(
        app.state,
        userid=OPERATOR,
        action="cloud_retry",
        objecttype="cloud_job",
        details={"jobid": jobid, "new_jobs": outcome.jobs, "recipients": len(recipients)},
    )
    return outcome
