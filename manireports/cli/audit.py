"""audit list: the audit log, newest first."""

from __future__ import annotations

from typing import Annotated

import typer

from manireports.cli.environment import env_of
from manireports.cli.options import FormatOption, OutputOption
from manireports.cli.output import export_small

audit_app = typer.Typer(help="Read the audit log.", no_args_is_help=True)


@audit_app.command("list")
def audit_list(
    ctx: typer.Context,
    since: Annotated[
        str | None, typer.Option(help='Entries from this date, "YYYY-MM-DD[ HH:MM]" (site time).')
    ] = None,
    action: Annotated[str | None, typer.Option(help="Only this action (report_run).")] = None,
    user: Annotated[
        int | None, typer.Option(help="Only entries by this user id (0: shell).")
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many entries, newest first.")] = 100,
    fmt: FormatOption = None,
    output: OutputOption = None,
) -> None:
    """List audit log entries, newest first: report runs, refusals, changes.

    Example: manireports audit list --action report_refused --since 2026-11-01
    """

    from manireports.export import Column
    from manireports.reports.params import parse_moment
    from manireports.state import list_audit

    application = env_of(ctx).app()
    zone = application.timezone
    start = parse_moment(since, zone, what="--since") if since else None
    entries = list_audit(application.state, since=start, action=action, userid=user, limit=limit)
    columns = [
        Column("id", "int"),
        Column("time", "timestamp"),
        Column("userid", "int"),
        Column("action", "text"),
        Column("objecttype", "text"),
        Column("objectid", "int"),
        Column("details", "text"),
    ]
    rows = (
        (
            e["id"], e["timecreated"], e["userid"], e["action"], e["objecttype"], e["objectid"],
            e["details"],
        )
        for e in entries
    )  # fmt: skip
    export_small("Audit log", columns, rows, fmt, zone, output=output, ctx=ctx)
