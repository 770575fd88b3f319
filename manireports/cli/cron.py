"""The cron jobs (jobs ...): each runs under its lock, writes the job log and is recorded."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from manireports.cli.environment import Environment, env_of
from manireports.errors import RunError

if TYPE_CHECKING:
    from manireports.app import App

jobs_app = typer.Typer(help="The cron jobs (see crontab.example).", no_args_is_help=True)

JobBody = Callable[[Environment, "App"], Iterator[None]]
Skip = Callable[[Environment, "App"], bool]


def cron_job(job: str, *, skip: Skip | None = None) -> Callable[[JobBody], Callable[..., None]]:
    """Make a cron job's command from its body, a generator of `(env, application)`.

    The body runs up to its `yield` under the job's lock, with the job log open and the run
    recorded (so its outcome is what health and the alerts see); after the `yield` it reports
    what the run did, once the lock is released. A run that finds the lock held says so and
    exits 0; `skip` may end the run before the lock is taken.
    """

    def decorate(body: JobBody) -> Callable[..., None]:
        def command(ctx: typer.Context) -> None:
            env = env_of(ctx)
            application = env.app()
            if skip is not None and skip(env, application):
                return
            lock = _locked_job(env, application, job)
            if lock is None:
                return
            steps = body(env, application)
            with lock:
                next(steps, None)
            next(steps, None)

        # Typer reads the help from the docstring and the options from `command` itself.
        command.__name__, command.__qualname__ = body.__name__, body.__qualname__
        command.__doc__ = body.__doc__
        return command

    return decorate


def _locked_job(env: Environment, application: App, job: str) -> ExitStack | None:
    """The job's lock, held until the stack closes; None (said on stderr) when already held."""
    from manireports.jobs.lock import JobAlreadyRunning, job_lock

    log_file = application.settings.jobs.log_file
    if log_file:
        env.job_log = (Path(log_file), job)
    stack = ExitStack()
    try:
        stack.enter_context(job_lock(application.config.lock_dir(), job))
    except JobAlreadyRunning:
        env.say(f"{job} is already running on this host; this run stops here.")
        return None
    from manireports.ops.jobruns import recorded_job

    try:
        stack.enter_context(recorded_job(application, job, env.say))
    except BaseException:
        stack.close()
        raise

    def finished(kind: type[BaseException] | None, error: BaseException | None, _tb: Any) -> None:
        env.log("finished" if kind is None else f"failed: {error or kind.__name__}")

    stack.push(finished)
    return stack


@jobs_app.command("aggregate-time")
@cron_job("aggregate-time")
def jobs_aggregate_time(env: Environment, application: App) -> Iterator[None]:
    """Cron job: time sync, then aggregate (hourly). Exits at once if a run is still going.

    Example: manireports jobs aggregate-time
    """
    from manireports.timetrack import aggregate_time

    synced, aggregated = aggregate_time(application)
    yield
    env.detail(f"Read {synced.events_read} events; recomputed {aggregated.days} days.")


def _cache_off(env: Environment, application: App) -> bool:
    if application.settings.cache.enabled:
        return False
    env.detail("The cache is off ([cache] enabled = false); nothing to build.")
    return True


@jobs_app.command("build-cache")
@cron_job("build-cache", skip=_cache_off)
def jobs_build_cache(env: Environment, application: App) -> Iterator[None]:
    """Cron job: pre-compute the trends, company statistics and SCORM summary (every 6 hours).

    Example: manireports jobs build-cache
    """
    from manireports.jobs.prebuild import build_cache

    built = build_cache(application)
    yield
    for entry in built:
        if entry.rows is None:
            env.detail(f"{entry.report}: skipped, this site lacks what it needs.")
        else:
            env.detail(f"{entry.report}: cached {entry.rows} rows.")


@jobs_app.command("scorm-summary")
@cron_job("scorm-summary")
def jobs_scorm_summary(env: Environment, application: App) -> Iterator[None]:
    """Cron job: refresh manireports_scorm_summary from the scorm_summary report (hourly).

    Example: manireports jobs scorm-summary
    """
    from manireports.jobs.scorm_store import refresh_scorm_summary

    count = refresh_scorm_summary(application)
    yield
    env.detail(f"manireports_scorm_summary now holds {count} rows.")


@jobs_app.command("cleanup")
@cron_job("cleanup")
def jobs_cleanup(env: Environment, application: App) -> Iterator[None]:
    """Cron job: delete data older than [retention] allows (daily); -v prints the counts.

    Example: manireports -v jobs cleanup
    """
    from manireports.cleanup import cleanup

    result = cleanup(application)
    yield
    for kind, count in result.deleted.items():
        env.detail(f"Deleted {count} {kind.replace('_', ' ')} rows.")
    env.detail(f"Removed {result.files_removed} run files from [storage] dir.")
    env.detail(f"Removed {result.part_files_removed} temporary files left by killed runs.")
    if result.files_outside_storage:
        env.detail(f"Kept {result.files_outside_storage} run files outside [storage] dir.")


@jobs_app.command("run-due")
@cron_job("run-due")
def jobs_run_due(env: Environment, application: App) -> Iterator[None]:
    """Cron job: run every due schedule once (every few minutes); exit 1 if one failed for good.

    Example: manireports jobs run-due
    """
    from manireports.schedule.due import run_due

    done = run_due(application)
    yield
    for line in done.delivered:
        env.detail(line)
    # Silent on success (cron mails what is printed): warnings go to the job log (and the audit
    # log, written by run_due); stderr gets them only when a schedule failed for good.
    warnings = done.retrying + done.lost + done.unconfirmed + done.refused
    for line in warnings:
        (env.say if done.failed else env.detail)(line)
    if done.failed:
        raise RunError(" ".join(done.failed) + " The owners were mailed.")
