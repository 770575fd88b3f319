"""health: checks for monitoring, with their own exit codes."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from manireports.cli.environment import env_of
from manireports.cli.output import write_text
from manireports.errors import InputError

HEALTH_FORMATS = ("table", "json", "prometheus")


def health_command(
    ctx: typer.Context,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            "-f",
            help="table, json or prometheus (node_exporter textfile). Default: table.",
        ),
    ] = None,
) -> None:
    """Check the databases, cron jobs, schedules, cloud jobs, runs, time tracking, cache and disk.

    Exit codes are health's own, as monitoring plugins use them: 0 OK, 1 WARNING, 2 CRITICAL,
    3 UNKNOWN (the worst check decides; CRITICAL before WARNING before UNKNOWN). Invalid options
    or configuration still exit 2 with a message.

    Example: manireports health --format prometheus > /var/lib/node_exporter/manireports.prom
    """
    from manireports.ops.health import as_document, overall, prometheus_text, run_checks

    chosen = fmt or "table"
    if chosen not in HEALTH_FORMATS:
        raise InputError(f"--format must be one of {', '.join(HEALTH_FORMATS)}, not {chosen!r}.")
    application = env_of(ctx).app()
    checks = run_checks(application)
    status = overall(checks)
    if chosen == "json":
        write_text(json.dumps(as_document(checks), indent=2, ensure_ascii=False) + "\n")
    elif chosen == "prometheus":
        write_text(prometheus_text(checks, application.now()))
    else:
        width = max(len(check.name) for check in checks)
        lines = [f"{'CHECK'.ljust(width)}  STATUS    MESSAGE"]
        lines += [
            f"{check.name.ljust(width)}  {check.status.name.ljust(8)}  {check.message}"
            for check in checks
        ]
        lines.append(f"{'overall'.ljust(width)}  {status.name}")
        write_text("\n".join(lines) + "\n")
    raise typer.Exit(int(status))
