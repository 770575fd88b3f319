"""demo init: a realistic demo Moodle (IOMAD) database to try manireports on."""

from __future__ import annotations

from typing import Annotated

import typer

from manireports.cli.environment import env_of
from manireports.config import mask
from manireports.errors import InputError

demo_app = typer.Typer(help="Build the demo Moodle database.", no_args_is_help=True)


@demo_app.command("init")
def demo_init(
    ctx: typer.Context,
    size: Annotated[
        str, typer.Option(help="small (hundreds of users), medium, or large (benchmarks).")
    ] = "small",
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same data.")] = 1,
    url: Annotated[
        str | None,
        typer.Option(help="Load into this MySQL/MariaDB or PostgreSQL database instead of SQLite."),
    ] = None,
    no_iomad: Annotated[bool, typer.Option("--no-iomad", help="A plain Moodle, no IOMAD.")] = False,
    release: Annotated[str, typer.Option(help="Moodle release to imitate (4.1 to 5.1).")] = "4.5",
    anchor: Annotated[
        str | None, typer.Option(help="The 'today' of the history, YYYY-MM-DD (default: today).")
    ] = None,
) -> None:
    """Build a realistic demo Moodle (IOMAD) database and set up the state database.

    Example: manireports demo init --size small
    """
    from datetime import date

    from manireports.demo import build_demo
    from manireports.state import StateDB

    env = env_of(ctx)
    # Read first: a broken configuration is refused before a build of minutes, not after it.
    config = env.config()
    if size not in ("small", "medium", "large"):
        raise InputError(f"--size must be small, medium or large, not {size!r}.")
    anchor_date = None
    if anchor:
        try:
            anchor_date = date.fromisoformat(anchor)
        except ValueError:
            raise InputError(f"--anchor {anchor!r} is not a date (YYYY-MM-DD).") from None
    from manireports.app import demo_database_path

    target = url or f"sqlite:///{demo_database_path()}"
    if not url:
        demo_database_path().parent.mkdir(parents=True, exist_ok=True)
    summary = build_demo(
        target,
        size=size,
        seed=seed,
        iomad=not no_iomad,
        release=release,
        anchor=anchor_date,
        progress=env.detail,
    )
    StateDB(config.settings.state.url, file_mode=config.file_mode()).upgrade()
    total = sum(summary.rows.values())
    env.say(
        f"Built the {size} demo ({total:,} rows, {summary.rows.get('user', 0):,} users, "
        f"{summary.rows.get('logstore_standard_log', 0):,} log events) in "
        f"{summary.seconds:.1f} s at {mask(target)}."
    )
    if url:
        env.say(f"Point manireports at it with MANIREPORTS_MOODLE_URL={mask(url)}.")
