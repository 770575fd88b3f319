"""backup and restore of definitions."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from manireports.cli.environment import env_of
from manireports.cli.options import OutputOption
from manireports.cli.output import write_text
from manireports.errors import InputError


def backup_command(ctx: typer.Context, output: OutputOption = None) -> None:
    """Write every definition (custom reports, schedules, custom dashboards, settings) as JSON.

    Caches, runs, time-tracking sessions and the audit log are not definitions and are left out.
    Moodle users are written by username, so the file can be restored on another site.

    Example: manireports backup -o manireports-backup.json
    """
    from manireports.export.atomic import atomic_output
    from manireports.ops.backup import make_backup, write_backup

    env = env_of(ctx)
    document = make_backup(env.app())
    text = write_backup(document)
    if output is None:
        write_text(text)
        return
    with atomic_output(output) as stream:
        stream.write(text.encode("utf-8"))
    counts = ", ".join(
        f"{len(document[key])} {key}" for key in ("reports", "schedules", "dashboards", "settings")
    )
    env.detail(f"Wrote {counts} to {output}.")


def restore_command(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="A file written by `manireports backup`.")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print what would change; change nothing.")
    ] = False,
    replace: Annotated[
        bool, typer.Option("--replace", help="Replace definitions that exist with the same name.")
    ] = False,
) -> None:
    """Load a backup: create what is missing, skip (or --replace) what exists by name.

    Prints one line per definition: created, updated, skipped or refused, and why. SQL and
    report configurations are validated again; a refused one is named and the exit code is 2.
    Restoring the same file twice creates nothing the second time.

    Example: manireports restore manireports-backup.json --dry-run
    """
    from manireports.ops.backup import read_backup, restore_backup

    document = read_backup(file)
    outcome = restore_backup(env_of(ctx).app(), document, dry_run=dry_run, replace=replace)
    verb = "would be " if dry_run else ""
    lines = [
        f"{kind} {name!r}: {verb}{action}" + (f" ({reason})" if reason else "")
        for kind, name, action, reason in outcome.items
    ]
    totals = ", ".join(
        f"{outcome.count(action)} {action}" for action in ("created", "updated", "skipped")
    )
    lines.append(f"{'Dry run, nothing changed: ' if dry_run else ''}{totals}.")
    write_text("\n".join(lines) + "\n")
    if outcome.refused:
        named = "; ".join(f"{kind} {name!r}" for kind, name, _a, _r in outcome.refused)
        raise InputError(f"Refused {len(outcome.refused)} definition(s): {named}.")
