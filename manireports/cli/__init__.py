"""The manireports command line: parse, call the library, render, map errors to exit codes.

Nothing here computes a report. Each command resolves its options, calls one library function and
hands the result to the export pipeline or to a small renderer. Every error the library raises is
turned into one or two sentences on stderr and its exit code (the table in the README); a
traceback only with --debug.

One module per command group; each imports `environment` (and the shared options, output and
period helpers), never another group, and this module puts them together. Heavy imports stay
inside the command functions, so `--help` and a quick command start fast.
"""

from __future__ import annotations

import sys
from typing import Annotated, NoReturn

import typer

import manireports
from manireports.cli.analytics import analytics_app
from manireports.cli.audit import audit_app
from manireports.cli.backup import backup_command, restore_command
from manireports.cli.cache import cache_app
from manireports.cli.cloud import cloud_app
from manireports.cli.config import config_app
from manireports.cli.cron import jobs_app
from manireports.cli.dashboard import dashboard_app
from manireports.cli.db import db_app
from manireports.cli.demo import demo_app
from manireports.cli.environment import Environment, handle_signals, pause_collection, run
from manireports.cli.health import health_command
from manireports.cli.privacy import privacy_app
from manireports.cli.reports import companies_command, reports_app, run_report_command
from manireports.cli.schedule import schedule_app
from manireports.cli.timecmds import time_app

app = typer.Typer(
    name="manireports",
    help="Reports, exports and analytics for Moodle and IOMAD sites.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"manireports {manireports.__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    config: Annotated[
        str | None,
        typer.Option(
            "--config",
            "-c",
            help=(
                "Configuration file (default: $MANIREPORTS_CONFIG, ./manireports.toml, then "
                "~/.config/manireports/config.toml)."
            ),
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only errors on stderr.")] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="More detail on stderr.")
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Reports, exports and analytics for Moodle and IOMAD sites.

    Example: manireports run-report course_completion --param courseid=3 -o completion.xlsx
    """
    # A run in-process brings its own environment (streams); the process's own otherwise.
    env = ctx.obj if isinstance(ctx.obj, Environment) else Environment()
    env.config_path, env.quiet, env.verbose, env.debug = config, quiet, verbose, debug
    ctx.obj = env


# The order of the help's command list: top-level commands first, then the groups.
app.command("run-report")(run_report_command)
app.command("companies")(companies_command)
app.command("health")(health_command)
app.command("backup")(backup_command)
app.command("restore")(restore_command)
app.add_typer(config_app, name="config")
app.add_typer(db_app, name="db")
app.add_typer(demo_app, name="demo")
app.add_typer(reports_app, name="reports")
app.add_typer(audit_app, name="audit")
app.add_typer(time_app, name="time")
app.add_typer(jobs_app, name="jobs")
app.add_typer(cache_app, name="cache")
app.add_typer(privacy_app, name="privacy")
app.add_typer(analytics_app, name="analytics")
app.add_typer(schedule_app, name="schedule")
app.add_typer(cloud_app, name="cloud")
app.add_typer(dashboard_app, name="dashboard")


def main(argv: list[str] | None = None) -> NoReturn:
    """Run the command line as the process: its streams, its signals, its exit code."""
    args = list(argv if argv is not None else sys.argv[1:])
    pause_collection()
    handle_signals()
    sys.exit(run(app, args, Environment()))
