"""db check|upgrade|rebind: whether the databases are usable, and the state's schema and site."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from manireports.cli.environment import env_of
from manireports.cli.output import write_text
from manireports.errors import DatabaseError

if TYPE_CHECKING:
    from manireports.app import App

db_app = typer.Typer(
    help="Check the databases and migrate the state database.", no_args_is_help=True
)


@db_app.command("check")
def db_check(ctx: typer.Context) -> None:
    """Connect to the Moodle and state databases and say whether they are usable.

    Prints engine and version, Moodle release, prefix, IOMAD, the SCORM schema and any table a
    report needs that is missing. Exit 0 when all is usable, 4 when not.

    Example: manireports db check
    """
    env = env_of(ctx)
    application = env.app()
    moodle = application.moodle
    site = application.site
    lines = [
        f"Moodle database: {moodle.engine_name} {moodle.server_version()} ({moodle.driver}) "
        f"at {moodle.describe_url()}",
        f"Moodle release: {site.release or 'unknown'} (version {site.version or 'unknown'})",
        f"Table prefix: {moodle.prefix}",
        f"IOMAD: {'yes (' + site.iomad + ' tables)' if site.iomad else 'no'}",
        f"SCORM schema: {_scorm_text(site.scorm)}",
        f"Site timezone: {application.timezone.key}",
    ]
    from manireports.state import StateDB
    from manireports.state.binding import refuse_moodle_database

    state = StateDB(application.settings.state.url)
    refuse_moodle_database(state, moodle)
    described = state.describe()
    current, head = described.revision, described.head
    lines.append(f"State database: {described.engine} {described.version} at {described.url}")
    lines.append(
        f"State schema: {'up to date' if current == head else 'behind'} "
        f"(revision {current or 'none'}, needs {head})"
    )
    problems: list[str] = []
    bound = _state_site(state, application, problems) if current == head else None
    lines.append(f"State belongs to: {bound.describe() if bound else 'no site yet'}")
    if site.missing_tables:
        lines.append("Missing Moodle tables: " + ", ".join(site.missing_tables))
        problems.append("Moodle tables are missing")
    if current != head:
        problems.append("the state database needs `manireports db upgrade`")
    write_text("\n".join(lines) + "\n")
    if problems:
        raise DatabaseError("Not usable yet: " + "; ".join(problems) + ".")


def _state_site(state: Any, application: App, problems: list[str]) -> Any:
    """The site the state is bound to; a state bound elsewhere is one of `problems`."""
    from manireports.state.binding import read_binding

    bound = read_binding(state)
    site = application.require_site_binding()
    if bound is not None and not bound.same_site(site):
        problems.append(
            f"the state database belongs to another Moodle site, not to {site.describe()} "
            "(`manireports db rebind` if it was restored or moved)"
        )
    return bound


def _scorm_text(layout: str | None) -> str:
    return {
        "43plus": "4.3+ (scorm_attempt, scorm_scoes_value, scorm_element)",
        "pre43": "before 4.3 (scorm_scoes_track)",
    }.get(layout or "", "none")


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Create or migrate the state database to this version's schema.

    Example: manireports db upgrade
    """
    env = env_of(ctx)
    from manireports.state import StateDB
    from manireports.state.binding import check_binding, refuse_moodle_database

    application = env.app()
    state = StateDB(application.settings.state.url, file_mode=application.config.file_mode())
    moodle = application.moodle if application.moodle_configured() else None
    refuse_moodle_database(state, moodle)
    before, after = state.upgrade()
    if before == after:
        env.say(f"The state database is already at revision {after}.")
    else:
        env.say(f"Upgraded the state database from {before or 'empty'} to revision {after}.")
    if moodle is not None:
        bound = check_binding(state, application.require_site_binding())
        env.say(f"The state database belongs to the Moodle site {bound.describe()}.")


@db_app.command("rebind")
def db_rebind(ctx: typer.Context) -> None:
    """Bind the state database to the configured Moodle site, for a restored or moved site.

    The state remembers the site it was made for and refuses any other. Run this only when the
    configured Moodle is that same site under a new identity (a restore or a reinstall); the
    cached report results are deleted, since they came from the site bound before.

    Example: manireports db rebind
    """
    env = env_of(ctx)
    from manireports.state import StateDB
    from manireports.state.binding import rebind, refuse_moodle_database

    application = env.app()
    state = StateDB(application.settings.state.url)
    refuse_moodle_database(state, application.moodle)
    state.require_current()
    site = application.require_site_binding()
    previous, cleared = rebind(state, site)
    was = "nothing" if previous is None else previous.describe()
    env.say(
        f"The state database now belongs to the Moodle site {site.describe()} "
        f"(was {was}); {cleared} cached results deleted."
    )
