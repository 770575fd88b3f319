"""cloud ...: bulk reminders handed to the cloud, its callbacks, certificates."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from manireports.cli.environment import Environment, env_of
from manireports.cli.options import AsUserOption, CompanyOption, FormatOption, OutputOption
from manireports.cli.output import export_small, write_text
from manireports.errors import InputError

cloud_app = typer.Typer(
    help="Hand bulk reminders to the cloud, take its callbacks, make certificates.",
    no_args_is_help=True,
)


def _say_dispatch(env: Environment, outcome: Any) -> None:
    env.say(
        f"{outcome.recipients} recipients in {len(outcome.jobs)} jobs: {outcome.submitted} "
        f"submitted to the cloud, {outcome.fallback_jobs} mailed over SMTP."
    )
    if outcome.fallback_reason and outcome.fallback_jobs:
        env.say(f"SMTP fallback because {outcome.fallback_reason.rstrip('.')}.")
    for jobid in outcome.jobs:
        write_text(jobid + "\n")
    if outcome.mail_failed:
        from manireports.errors import RunError

        raise RunError(
            f"{outcome.mail_failed} of the SMTP fallback mails could not be sent; "
            "`manireports cloud show JOBID` lists them and `cloud retry JOBID` sends them again."
        )


@cloud_app.command("send-reminders")
def cloud_send_reminders(
    ctx: typer.Context,
    course: Annotated[int, typer.Option("--course", help="The course id.")],
    template: Annotated[str, typer.Option(help="Mail template name.")] = "course_reminder",
    only: Annotated[
        str | None, typer.Option(help="not-completed: only learners who have not completed.")
    ] = None,
    as_user: AsUserOption = None,
    company: CompanyOption = None,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="List who would be mailed and in how many jobs; send none."),
    ] = False,
    fmt: FormatOption = None,
) -> None:
    """Remind a course's learners, in jobs of [cloud] batch_size; prints the job ids.

    Example: manireports cloud send-reminders --course 12 --only not-completed
    """
    from manireports.cloud.reminders import ReminderRequest, plan_reminders, send_reminders

    env = env_of(ctx)
    request = ReminderRequest(course, template, only, as_user, company)
    if dry_run:
        from manireports.export import Column

        plan = plan_reminders(env.app(), request)
        columns = [
            Column("userid", "int"),
            Column("email", "text"),
            Column("firstname", "text"),
            Column("lastname", "text"),
        ]
        rows = [(r.userid, r.email, r.firstname, r.lastname) for r in plan.recipients]
        export_small("Reminders (dry run)", columns, rows, fmt, ctx=ctx)
        if plan.skipped_without_email:
            env.say(f"{plan.skipped_without_email} learners have no email address.")
        env.say(
            f"Dry run: {len(plan.recipients)} recipients in {plan.jobs} jobs would be sent; "
            "nothing was recorded or sent."
        )
        return
    outcome = send_reminders(env.app(), request)
    if outcome.skipped_without_email:
        env.say(
            f"{outcome.skipped_without_email} learners have no email address and were left out."
        )
    _say_dispatch(env, outcome)


@cloud_app.command("serve-callbacks")
def cloud_serve_callbacks(
    ctx: typer.Context,
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="TCP port to listen on (0: any free port).")
    ] = 8765,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
) -> None:
    """Serve the workers' signed callbacks over HTTP until stopped (Ctrl-C or SIGTERM).

    Example: manireports cloud serve-callbacks --port 8765
    """
    from manireports.cloud.callbacks import callback_secret
    from manireports.cloud.server import open_callback_server

    env = env_of(ctx)
    application = env.app()
    secret = callback_secret(application.config)
    server = open_callback_server(
        application.state,
        secret,
        host,
        port,
        env.detail,
        warn=env.say,
        read_timeout=application.settings.cloud.callback_read_timeout_seconds,
        max_connections=application.settings.cloud.callback_max_connections,
    )

    env.say(f"Listening for callbacks on http://{host}:{server.server_address[1]}/")
    try:
        server.serve_forever()
    finally:
        server.server_close()


@cloud_app.command("callback")
def cloud_callback(
    ctx: typer.Context,
    body_file: Annotated[Path, typer.Option("--body-file", help="The raw callback body.")],
    signature: Annotated[str, typer.Option(help="The X-Signature value (hex HMAC-SHA256).")],
) -> None:
    """Apply one callback received some other way (exit 2 malformed or replayed, 3 unsigned).

    Example: manireports cloud callback --body-file body.json --signature 3f7a...
    """
    from manireports.cloud.callbacks import callback_secret, handle_callback

    env = env_of(ctx)
    application = env.app()
    try:
        body = body_file.read_bytes()
    except OSError as exc:
        raise InputError(f"Cannot read {body_file}: {exc.strerror}.") from None
    secret = callback_secret(application.config)
    outcome = handle_callback(application.state, secret, body, signature, application.now())
    env.say(
        f"Job {outcome.jobid}: {outcome.updated} recipients updated; {outcome.sent} sent, "
        f"{outcome.failed} failed of {outcome.total}; {outcome.status}."
    )


@cloud_app.command("jobs")
def cloud_jobs(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(help="Only jobs in this status.")] = None,
    fmt: FormatOption = None,
    output: OutputOption = None,
) -> None:
    """List cloud jobs, newest first, with their counts.

    Example: manireports cloud jobs --status failed
    """
    from manireports.cloud.tracking import list_jobs
    from manireports.export import Column

    jobs = list_jobs(env_of(ctx).app().state, status)
    columns = [
        Column("jobid", "text"), Column("type", "text"), Column("courseid", "int"),
        Column("tenantid", "int"), Column("status", "text"), Column("total", "int"),
        Column("sent", "int"), Column("failed", "int"), Column("pending", "int"),
        Column("created", "timestamp"), Column("completed", "timestamp"),
    ]  # fmt: skip
    rows = (
        (j.jobid, j.type, j.courseid, j.tenantid, j.status, j.total, j.sent, j.failed,
         j.pending, j.timecreated, j.timecompleted)
        for j in jobs
    )  # fmt: skip
    export_small("Cloud jobs", columns, rows, fmt, output=output, ctx=ctx)


@cloud_app.command("show")
def cloud_show(
    ctx: typer.Context,
    jobid: Annotated[str, typer.Argument(help="The job id (a UUID).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show a job's progress and counts, and its failed recipients with their errors.

    Example: manireports cloud show 550e8400-e29b-41d4-a716-446655440000
    """
    from manireports.cloud.tracking import get_job, job_recipients

    state = env_of(ctx).app().state
    job = get_job(state, jobid)
    failed = job_recipients(state, jobid, status="failed")
    if as_json:
        data = {
            "job_id": job.jobid, "type": job.type, "courseid": job.courseid,
            "tenant_id": job.tenantid, "status": job.status, "total": job.total,
            "sent": job.sent, "failed": job.failed, "pending": job.pending,
            "progress_percent": job.progress_percent, "error": job.error,
            "timecreated": job.timecreated, "timestarted": job.timestarted,
            "timecompleted": job.timecompleted,
            "failed_recipients": [
                {"userid": r.userid, "email": r.email, "attempts": r.attempts, "error": r.error}
                for r in failed
            ],
        }  # fmt: skip
        write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        return
    lines = [
        f"Job {job.jobid} ({job.type}, course {job.courseid}, tenant {job.tenantid})",
        f"Status: {job.status}",
        f"Progress: {job.sent + job.failed} of {job.total} done ({job.progress_percent}%): "
        f"{job.sent} sent, {job.failed} failed, {job.pending} pending",
    ]
    if job.error:
        lines.append(f"Note: {job.error}")
    for r in failed:
        lines.append(
            f"  failed: user {r.userid} <{r.email}> after {r.attempts} attempts: {r.error}"
        )
    write_text("\n".join(lines) + "\n")


@cloud_app.command("retry")
def cloud_retry(
    ctx: typer.Context, jobid: Annotated[str, typer.Argument(help="The job id (a UUID).")]
) -> None:
    """Send a job's failed recipients again, as a new job; prints the new job ids.

    Example: manireports cloud retry 550e8400-e29b-41d4-a716-446655440000
    """
    from manireports.cloud.reminders import retry_job

    env = env_of(ctx)
    _say_dispatch(env, retry_job(env.app(), jobid))


@cloud_app.command("certificate")
def cloud_certificate(
    ctx: typer.Context,
    user: Annotated[str, typer.Option("--user", help="Moodle user id or username.")],
    course: Annotated[int, typer.Option("--course", help="The course id.")],
    template: Annotated[
        str, typer.Option(help="Built-in layout name or a .toml layout file.")
    ] = "default",
    output: OutputOption = None,
) -> None:
    """Make a completion certificate PDF locally, with a verification code.

    Example: manireports cloud certificate --user malgorzata.wojcik --course 12 -o certificate.pdf
    """
    from manireports.cloud.certificate import make_certificate

    env = env_of(ctx)
    made = make_certificate(env.app(), user, course, template, output)
    env.say(f"Wrote {made.path} (verification code {made.verification_code}).")
