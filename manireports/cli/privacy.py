"""privacy export|delete: what manireports holds about a user."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from manireports.cli.environment import env_of
from manireports.cli.output import site_dates, write_text

privacy_app = typer.Typer(
    help="Export or delete what manireports holds about a user.", no_args_is_help=True
)
UserIdOption = Annotated[int, typer.Option("--user", help="The Moodle user id.")]


@privacy_app.command("export")
def privacy_export(ctx: typer.Context, user: UserIdOption) -> None:
    """Print everything manireports holds about a Moodle user, as JSON.

    Example: manireports privacy export --user 42 > user42.json
    """
    from manireports.privacy import export_user

    application = env_of(ctx).app()
    found = site_dates(export_user(application, user), application.timezone)
    write_text(json.dumps(found, indent=2, ensure_ascii=False, sort_keys=True) + "\n")


@privacy_app.command("delete")
def privacy_delete(ctx: typer.Context, user: UserIdOption) -> None:
    """Delete what manireports holds about a Moodle user; the audit trail is pseudonymised.

    Example: manireports privacy delete --user 42
    """
    from manireports.privacy import delete_user

    env = env_of(ctx)
    counts = delete_user(env.app(), user)
    env.say(
        "Removed the user's data: "
        + ", ".join(f"{name.replace('_', ' ')} {count}" for name, count in counts.items())
        + "."
    )
