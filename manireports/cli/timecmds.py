"""time sync|heartbeat|aggregate|rebuild: time tracking from the standard log and heartbeats.

Named timecmds, not time, so that it never reads as the standard library's module.
"""

from __future__ import annotations

from typing import Annotated

import typer

from manireports.cli.environment import env_of

time_app = typer.Typer(
    help="Time tracking from the standard log and heartbeats.", no_args_is_help=True
)


@time_app.command("sync")
def time_sync(ctx: typer.Context) -> None:
    """Read new standard-log events into sessions (incremental; re-running changes nothing).

    Example: manireports time sync
    """
    from manireports.timetrack import sync_log

    env = env_of(ctx)
    result = sync_log(env.app())
    env.detail(
        f"Read {result.events_read} events ({result.late_events} late, "
        f"{result.skipped_events} not counted): {result.sessions_closed} sessions closed, "
        f"{result.sessions_open} open, log watermark {result.watermark}."
    )


@time_app.command("heartbeat")
def time_heartbeat(ctx: typer.Context) -> None:
    """Apply heartbeats read as JSON lines on stdin: {"userid", "courseid", "timestamp"}.

    The batch is all or nothing (a bad line is named by its number); a batch sent again is
    recognised and not applied twice.

    Example: manireports time heartbeat < heartbeats.jsonl
    """
    from manireports.timetrack import apply_heartbeats

    env = env_of(ctx)
    result = apply_heartbeats(env.app(), env.stdin)
    if result.repeated:
        env.detail("This batch was applied before (a resend): nothing applied again.")
    env.detail(
        f"Applied {result.applied} of {result.lines} heartbeats ({result.ignored} ignored: "
        f"guest, not logged in or site-level); {result.sessions_open} heartbeat sessions open."
    )


@time_app.command("aggregate")
def time_aggregate(
    ctx: typer.Context,
    date_from: Annotated[str | None, typer.Option("--from", help="First day, YYYY-MM-DD.")] = None,
    date_to: Annotated[str | None, typer.Option("--to", help="Last day, YYYY-MM-DD.")] = None,
) -> None:
    """Fold closed sessions into daily totals per user, course and day (site timezone).

    Example: manireports time aggregate --from 2026-11-01 --to 2026-11-30
    """
    from manireports.timetrack import aggregate_daily

    env = env_of(ctx)
    result = aggregate_daily(env.app(), date_from=date_from, date_to=date_to)
    if result.date_from is None:
        env.detail("No closed session had changed since the last aggregation: nothing to do.")
    else:
        env.detail(
            f"Recomputed {result.days} days ({result.date_from} to {result.date_to}): "
            f"{result.rows} daily rows from {result.sessions} sessions."
        )


@time_app.command("rebuild")
def time_rebuild(
    ctx: typer.Context,
    date_from: Annotated[str | None, typer.Option("--from", help="First day, YYYY-MM-DD.")] = None,
) -> None:
    """Recompute sessions and daily totals from the log, after a settings change.

    Example: manireports time rebuild --from 2026-09-01
    """
    from manireports.timetrack import rebuild

    env = env_of(ctx)
    result = rebuild(env.app(), date_from=date_from)
    since = "the start of the log" if result.date_from is None else str(result.date_from)
    env.detail(
        f"Deleted {result.sessions_deleted} sessions from {since} and rebuilt them from the log: "
        f"{result.sync.events_read} events read, {result.aggregate.rows} daily rows."
    )
