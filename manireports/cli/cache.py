"""cache stats|clear: the report cache."""

from __future__ import annotations

from typing import Annotated

import typer

from manireports.cli.environment import env_of
from manireports.cli.options import FormatOption, OutputOption
from manireports.cli.output import export_small
from manireports.errors import InputError

cache_app = typer.Typer(help="Inspect and clear the report cache.", no_args_is_help=True)


@cache_app.command("stats")
def cache_stats(ctx: typer.Context, fmt: FormatOption = None, output: OutputOption = None) -> None:
    """Entries per report type: how many, how many fresh, their ages and the hit rate.

    Misses count every read that computed afresh; invalidations, those of them whose entry was
    still within its TTL but computed from Moodle data that has changed since.

    Example: manireports cache stats
    """
    from manireports.cache import ResultCache
    from manireports.export import Column

    application = env_of(ctx).app()
    stats = ResultCache(application.state, application.config).stats(now=application.now())
    columns = [
        Column("reporttype"), Column("entries", "int"), Column("fresh", "int"),
        Column("newest_age_seconds", "int"), Column("oldest_age_seconds", "int"),
        Column("hits", "int"), Column("misses", "int"), Column("hit_rate_percent", "float"),
        Column("invalidations", "int"),
    ]  # fmt: skip
    rows = [
        (s.reporttype, s.entries, s.fresh, s.newest_age, s.oldest_age, s.hits, s.misses,
         s.hit_rate, s.invalidations)
        for s in stats
    ]  # fmt: skip
    export_small("Cache", columns, rows, fmt, output=output, ctx=ctx)


@cache_app.command("clear")
def cache_clear(
    ctx: typer.Context,
    kind: Annotated[
        str | None, typer.Option("--type", help="Only this report type (see cache stats).")
    ] = None,
) -> None:
    """Delete cached entries, all or one report type's; the next reads recompute them.

    Example: manireports cache clear --type company_overview
    """
    from manireports.cache import ResultCache
    from manireports.dashboard import ROLES
    from manireports.reports.caching import CACHED_REPORTS
    from manireports.state import record_audit

    known = (*CACHED_REPORTS, *(f"dashboard_{role}" for role in (*ROLES, "custom")))
    if kind is not None and kind.strip() and kind not in known:
        raise InputError(f"There is no cache type {kind!r}; the types are {', '.join(known)}.")
    env = env_of(ctx)
    application = env.app()
    deleted = ResultCache(application.state, application.config).clear(kind)
    record_audit(
        application.state,
        userid=0,
        action="cache_clear",
        objecttype="cache",
        details={"type": kind, "entries": deleted},
    )
    env.say(f"Deleted {deleted} cache entries.")
