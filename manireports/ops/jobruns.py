"""Every cron job run recorded in the state database, and the alert mails that follow failures.

A run is written as 'running' before the job's work starts and finished when it ends, so a job
killed without unwinding stays visible as 'running' and `manireports health` can tell how long
ago each job last did its work. Interrupted runs (Ctrl-C, SIGTERM from a stopping system) count
neither as failures nor as successes: stopping a host is not a fault of the job.

Alerts go to `[alerts] recipients` once a job has failed `[alerts] after_failures` times in a
row, and once more when it next succeeds. Several cron hosts may share one state database and
run the same job; the per-job row in manireports_job_alerts is changed only by conditional
UPDATEs, and the one process whose UPDATE changed the row sends the mail, so an alert goes out
once whichever hosts saw the failures.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from manireports.app import App
from manireports.errors import ManiReportsError
from manireports.mail import compose, send
from manireports.state.store import now_seconds, transaction
from manireports.state.tables import job_alerts, job_runs

Notice = Callable[[str], None]
# The longest error text kept per run: enough for the message, not a whole traceback.
ERROR_CHARS = 2000


def start_job_run(app: App, job: str, *, now: int | None = None) -> int:
    """Record that `job` starts on this host now and return the run's id."""
    row = {
        "job": job,
        "host": socket.gethostname()[:255],
        "pid": os.getpid(),
        "status": "running",
        "timestarted": now_seconds(now),
    }
    with app.own_state.begin() as connection:
        key = connection.execute(sa.insert(job_runs).values(row)).inserted_primary_key
    assert key is not None
    return int(key[0])


def finish_job_run(
    app: App,
    runid: int,
    job: str,
    status: str,
    error: str | None = None,
    *,
    now: int | None = None,
) -> None:
    """Record how the run ended, and forget this job's runs older than [retention] runs_days
    (the job history keeps itself trimmed, so `jobs cleanup` failing cannot grow it)."""
    moment = now_seconds(now)
    values = {"status": status, "error": error and error[:ERROR_CHARS]}
    keep_days = app.settings.retention.runs_days
    with app.own_state.begin() as connection:
        connection.execute(
            sa.update(job_runs).where(job_runs.c.id == runid).values(**values, timefinished=moment)
        )
        if keep_days > 0:
            connection.execute(
                sa.delete(job_runs).where(
                    job_runs.c.job == job, job_runs.c.timestarted < moment - keep_days * 86_400
                )
            )


@contextmanager
def recorded_job(app: App, job: str, notice: Notice) -> Iterator[None]:
    """Record the run of the block as the job `job` and send the alerts its outcome calls for.

    What goes wrong while recording or alerting is told through `notice`, never raised: the
    job's own outcome (and exit code) must not be replaced by a problem of its bookkeeping.
    """
    runid = start_job_run(app, job)
    try:
        yield
    except KeyboardInterrupt:
        _finish_quietly(app, runid, job, "interrupted", "interrupted (Ctrl-C or SIGTERM)", notice)
        raise
    except BaseException as exc:
        error = str(exc) or exc.__class__.__name__
        if _finish_quietly(app, runid, job, "failed", error, notice):
            _alert_quietly(app, job, error, notice)
        raise
    if _finish_quietly(app, runid, job, "ok", None, notice):
        _alert_quietly(app, job, None, notice)


def _finish_quietly(
    app: App, runid: int, job: str, status: str, error: str | None, notice: Notice
) -> bool:
    try:
        finish_job_run(app, runid, job, status, error)
    except ManiReportsError as exc:
        notice(f"Could not record how the job ended: {exc}")
        return False
    return True


def _alert_quietly(app: App, job: str, error: str | None, notice: Notice) -> None:
    try:
        for line in note_outcome(app, job, error):
            notice(line)
    except ManiReportsError as exc:
        notice(f"Could not send the alert about {job}: {exc}")


def _ensure_alert_row(connection: sa.Connection, job: str, now: int) -> None:
    exists = connection.execute(sa.select(job_alerts.c.id).where(job_alerts.c.job == job)).first()
    if exists is not None:
        return
    try:
        with connection.begin_nested():
            connection.execute(sa.insert(job_alerts).values(job=job, timemodified=now))
    except sa.exc.IntegrityError:
        # Another host inserted it between the SELECT and the INSERT; its row serves.
        pass


def note_outcome(app: App, job: str, error: str | None, *, now: int | None = None) -> list[str]:
    """Count a failure (error given) or a success of `job`; mail an alert or recovery when this
    process is the one that crosses the threshold. Returns lines for the operator."""
    moment = now_seconds(now)
    threshold = max(1, app.settings.alerts.after_failures)
    row = job_alerts.c
    with app.own_state.begin() as connection:
        _ensure_alert_row(connection, job, moment)
        if error is not None:
            connection.execute(
                sa.update(job_alerts)
                .where(row.job == job)
                .values(failures=row.failures + 1, timemodified=moment)
            )
            won = connection.execute(
                sa.update(job_alerts)
                .where(row.job == job, row.alerting == 0, row.failures >= threshold)
                .values(alerting=1)
            ).rowcount
        else:
            won = connection.execute(
                sa.update(job_alerts)
                .where(row.job == job, row.alerting == 1)
                .values(alerting=0, failures=0, timemodified=moment)
            ).rowcount
            connection.execute(sa.update(job_alerts).where(row.job == job).values(failures=0))
    if won != 1:
        return []
    if error is not None:
        return _send_alert(app, job, _failure_mail(app, job, error, threshold, moment))
    return _send_alert(app, job, _recovery_mail(job, moment, app), recovery=True)


def _zone(app: App) -> ZoneInfo:
    """The site timezone for the mail's times; UTC when finding it needs an unreachable Moodle."""
    try:
        return app.timezone
    except ManiReportsError:
        return ZoneInfo("UTC")


def _failure_mail(app: App, job: str, error: str, threshold: int, now: int) -> tuple[str, str]:
    host = socket.gethostname()
    when = datetime.fromtimestamp(now, _zone(app)).strftime("%Y-%m-%d %H:%M %Z")
    subject = f"manireports: jobs {job} failed {threshold} times in a row"
    body = (
        f"The cron job `manireports jobs {job}` has failed {threshold} times in a row.\n\n"
        f"Last failure: {when} on {host}\n"
        f"Error: {error}\n\n"
        "You will get one more mail when it succeeds again, and none in between.\n"
        "`manireports health` shows every job's last run.\n"
    )
    return subject, body


def _recovery_mail(job: str, now: int, app: App) -> tuple[str, str]:
    host = socket.gethostname()
    when = datetime.fromtimestamp(now, _zone(app)).strftime("%Y-%m-%d %H:%M %Z")
    subject = f"manireports: jobs {job} works again"
    body = f"The cron job `manireports jobs {job}` succeeded at {when} on {host}.\n"
    return subject, body


def _send_alert(app: App, job: str, mail: tuple[str, str], *, recovery: bool = False) -> list[str]:
    addresses, problems = alert_addresses(app)
    if not addresses:
        return [*problems, f"No alert about {job} was sent: [alerts] recipients names nobody."]
    subject, body = mail
    try:
        send(app.config, compose(app.config, to=addresses, subject=subject, body=body))
    except ManiReportsError as exc:
        if not recovery:
            # Give the next failing run the chance to send it.
            with transaction(app.own_state) as connection:
                connection.execute(
                    sa.update(job_alerts).where(job_alerts.c.job == job).values(alerting=0)
                )
        return [*problems, f"The alert about {job} could not be sent: {exc}"]
    return [*problems, f"Mailed {', '.join(addresses)}: {subject}."]


def alert_addresses(app: App) -> tuple[list[str], list[str]]:
    """[alerts] recipients as addresses: usernames looked up in Moodle. A failing job may be
    failing because Moodle is down, so an unresolvable username is reported, not fatal."""
    addresses: list[str] = []
    problems: list[str] = []
    usernames: list[str] = []
    for entry in app.settings.alerts.recipients:
        entry = entry.strip()
        if "@" in entry:
            addresses.append(entry)
        elif entry:
            usernames.append(entry)
    if usernames:
        try:
            moodle = app.moodle
            rows = moodle.fetch_all(
                f"SELECT username, email FROM {moodle.table('user')} "
                "WHERE deleted = 0 AND username IN ("
                + ", ".join(f":u{i}" for i in range(len(usernames)))
                + ")",
                {f"u{i}": name for i, name in enumerate(usernames)},
            )
        except ManiReportsError as exc:
            problems.append(f"The alert skips {', '.join(usernames)}: {exc}")
        else:
            found = {str(name): str(mail) for name, mail in rows if mail}
            for name in usernames:
                if name in found:
                    addresses.append(found[name])
                else:
                    problems.append(f"[alerts] recipients: no Moodle user {name!r} with an email.")
    return list(dict.fromkeys(addresses)), problems
