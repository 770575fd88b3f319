"""The manireports command line: parse, call the library, render, map errors to exit codes.

Nothing here computes a report. Each command resolves its options, calls one library function and
hands the result to the export pipeline or to a small renderer. Every error the library raises is
turned into one or two sentences on stderr and its exit code (the table in the README); a
traceback only with --debug.
"""

from __future__ import annotations

import io
import json
import os
import signal
import sys
import traceback
from collections.abc import Iterable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, BinaryIO, NoReturn

import typer

import manireports
from manireports.config import Config, load_config, mask
from manireports.errors import DatabaseError, InputError, ManiReportsError, RunError, Terminated
from manireports.export import ExportOptions, ReportTable, register_writer, resolve_format

if TYPE_CHECKING:
    from manireports.app import App

# --------------------------------------------------------------------------------------------
# Environment: the streams and whether they are terminals, injectable for tests.


@dataclass
class Environment:
    """What a command needs to know about where it runs (httpie's idea)."""

    config_path: str | None = None
    quiet: bool = False
    verbose: bool = False
    debug: bool = False
    # Set while a cron job runs with `[jobs] log_file`: (file, job name).
    job_log: tuple[Path, str] | None = None

    @staticmethod
    def stdout_is_terminal() -> bool:
        return sys.stdout.isatty()

    @staticmethod
    def stderr_is_terminal() -> bool:
        return sys.stderr.isatty()

    @staticmethod
    def colour() -> bool:
        return (
            Environment.stderr_is_terminal()
            and "NO_COLOR" not in os.environ
            and os.environ.get("TERM") != "dumb"
        )

    def say(self, message: str) -> None:
        """Informational line on stderr, silenced by --quiet."""
        self.log(message)
        if not self.quiet:
            typer.echo(message, err=True)

    def warn(self, message: str) -> None:
        """A warning about the data written (bad bytes, missing glyphs), silenced by --quiet."""
        self.say(f"Warning: {message}")

    def detail(self, message: str) -> None:
        self.log(message)
        if self.verbose and not self.quiet:
            typer.echo(message, err=True)

    def log(self, message: str) -> None:
        """Append a line to the job log: every message of a job, -v or not, so cron can stay
        silent while the log says what each run did. Opened per line for logrotate's
        copytruncate; a log that cannot be written is said once on stderr, not fatal."""
        if self.job_log is None:
            return
        path, job = self.job_log
        stamp = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S %z")
        try:
            with path.open("a", encoding="utf-8") as out:
                out.write(f"{stamp} {job}[{os.getpid()}]: {message}\n")
        except OSError as exc:
            self.job_log = None
            typer.echo(f"Cannot write the job log {path}: {exc.strerror}.", err=True)

    def config(self) -> Config:
        return load_config(self.config_path)

    def app(self) -> App:
        from manireports.app import App

        notified: set[str] = set()

        def notice(message: str) -> None:
            if message not in notified:
                notified.add(message)
                self.say(message)

        return App(self.config(), notice=notice)


def env_of(ctx: typer.Context) -> Environment:
    obj = ctx.find_root().obj
    assert isinstance(obj, Environment)
    return obj


# --------------------------------------------------------------------------------------------
# Options defined once and reused.

FormatOption = Annotated[
    str | None,
    typer.Option(
        "--format",
        "-f",
        help="table, records, csv, tsv, json, jsonl, xlsx, pdf or html. Default: from -o's "
        "extension, else table on a terminal and csv when piped.",
    ),
]
OutputOption = Annotated[
    Path | None, typer.Option("--output", "-o", help="Write to this file (atomically).")
]
AsUserOption = Annotated[
    str | None,
    typer.Option("--as-user", help="Run as this Moodle user (id or username) would see it."),
]
CompanyOption = Annotated[
    int | None, typer.Option("--company", help="Only this IOMAD company (company id).")
]
ParamOption = Annotated[
    list[str] | None,
    typer.Option("--param", "-p", help="A report parameter as key=value; repeat as needed."),
]
PeriodOption = Annotated[
    str | None,
    typer.Option(
        "--period",
        help="A named period in the site timezone: today, yesterday, last-7-days, last-30-days, "
        "last-90-days, this-week, last-week, this-month, last-month, this-quarter, this-year, "
        "YYYY-MM or YYYY-Qn.",
    ),
]


app = typer.Typer(
    name="manireports",
    help="Reports, exports and analytics for Moodle and IOMAD sites.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
config_app = typer.Typer(help="Show the effective configuration.", no_args_is_help=True)
db_app = typer.Typer(
    help="Check the databases and migrate the state database.", no_args_is_help=True
)
demo_app = typer.Typer(help="Build the demo Moodle database.", no_args_is_help=True)
reports_app = typer.Typer(help="List, create, validate and change reports.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(db_app, name="db")
app.add_typer(demo_app, name="demo")
app.add_typer(reports_app, name="reports")
audit_app = typer.Typer(help="Read the audit log.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
time_app = typer.Typer(
    help="Time tracking from the standard log and heartbeats.", no_args_is_help=True
)
app.add_typer(time_app, name="time")
jobs_app = typer.Typer(help="The cron jobs (see crontab.example).", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")


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
    ctx.obj = Environment(config_path=config, quiet=quiet, verbose=verbose, debug=debug)


# --------------------------------------------------------------------------------------------
# config


@config_app.command("show")
def config_show(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of TOML.")] = False,
) -> None:
    """Print the effective configuration with secrets masked and where each value came from.

    Example: manireports config show
    """
    config = env_of(ctx).config()
    if as_json:
        data = {
            key: {
                "value": mask(s.value) if s.secret and s.value else s.value,
                "origin": s.origin,
            }
            for key, s in config.items()
        }
        _write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        return
    lines = [f"# configuration file: {config.path or 'none found'}"]
    section = None
    for key, setting in config.items():
        name, _, leaf = key.rpartition(".")
        if name != section:
            section = name
            lines.append(f"\n[{name}]")
        value = mask(setting.value) if setting.secret and setting.value else setting.value
        lines.append(f"{leaf} = {_toml_value(value)}  # {setting.origin}")
    _write_text("\n".join(lines) + "\n")


def _toml_value(value: Any) -> str:
    if value is None:
        return '""  # unset'.replace("  # unset", "")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(json.dumps(v, ensure_ascii=False) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)


# --------------------------------------------------------------------------------------------
# db


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
    _write_text("\n".join(lines) + "\n")
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


# --------------------------------------------------------------------------------------------
# demo


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
    StateDB(env.config().settings.state.url, file_mode=env.config().file_mode()).upgrade()
    total = sum(summary.rows.values())
    env.say(
        f"Built the {size} demo ({total:,} rows, {summary.rows.get('user', 0):,} users, "
        f"{summary.rows.get('logstore_standard_log', 0):,} log events) in "
        f"{summary.seconds:.1f} s at {mask(target)}."
    )
    if url:
        env.say(f"Point manireports at it with MANIREPORTS_MOODLE_URL={mask(url)}.")


# --------------------------------------------------------------------------------------------
# reports


@reports_app.command("list")
def reports_list(
    ctx: typer.Context,
    fmt: FormatOption = None,
    output: OutputOption = None,
) -> None:
    """List the built-in and custom reports with their parameters.

    Example: manireports reports list --format json
    """
    from manireports.export import Column
    from manireports.reports.builtin import BUILTIN_REPORTS

    rows: list[tuple[Any, ...]] = [
        (
            report.name,
            None,
            "built-in",
            report.description,
            ", ".join(f"{p.name} ({p.kind}): {p.help}" for p in report.params),
            ", ".join(c.name for c in report.columns),
        )
        for report in BUILTIN_REPORTS.values()
    ]
    state = env_of(ctx).app().state
    from manireports.reports.custom import list_custom_reports

    for record in list_custom_reports(state):
        rows.append(
            (
                record.name,
                record.id,
                f"custom {record.type}",
                record.description or "",
                ", ".join(record.parameters),
                "",
            )
        )
    columns = [
        Column("name"),
        Column("id", "int"),
        Column("type"),
        Column("description"),
        Column("parameters"),
        Column("columns"),
    ]
    _export_small("Reports", columns, rows, fmt, output=output, ctx=ctx)


SqlFileOption = Annotated[
    Path | None, typer.Option("--sql-file", help="SQL in Moodle's conventions ({table}, :param).")
]
ConfigFileOption = Annotated[
    Path | None,
    typer.Option("--config-file", help="A report built from a JSON or TOML description."),
]


def _read_definition(sql_file: Path | None, config_file: Path | None) -> tuple[str | None, Any]:
    from manireports.reports.configured import load_report_config

    if sql_file and config_file:
        raise InputError("Give either --sql-file or --config-file, not both.")
    if sql_file:
        try:
            return sql_file.read_text(encoding="utf-8"), None
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"Cannot read the SQL file {sql_file}: {exc}.") from None
    if config_file:
        return None, load_report_config(config_file)
    return None, None


@reports_app.command("create")
def reports_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Option("--name", help="A unique name for the report.")],
    sql_file: SqlFileOption = None,
    config_file: ConfigFileOption = None,
    description: Annotated[str | None, typer.Option(help="What the report is for.")] = None,
) -> None:
    """Create a custom report from SQL or from a JSON/TOML description, after validating it.

    Example: manireports reports create --name "Logins" --sql-file logins.sql
    """
    from manireports.reports.custom import make_validator, save_custom_report

    env = env_of(ctx)
    application = env.app()
    sql, config = _read_definition(sql_file, config_file)
    if sql is None and config is None:
        raise InputError("reports create needs --sql-file or --config-file.")
    report_id = save_custom_report(
        application.state,
        name=name,
        sql=sql,
        config=config,
        description=description,
        validator=make_validator(application.config, application.moodle, env.say),
    )
    env.say(f"Created the custom report {name!r} with id {report_id}.")
    _write_text(f"{report_id}\n")


@reports_app.command("validate")
def reports_validate(
    ctx: typer.Context,
    sql_file: SqlFileOption = None,
    config_file: ConfigFileOption = None,
) -> None:
    """Check custom SQL or a report description without saving it; exit 2 when it is refused.

    Example: manireports reports validate --sql-file logins.sql
    """
    from manireports.reports.custom import check_report_config, make_validator

    env = env_of(ctx)
    application = env.app()
    sql, config = _read_definition(sql_file, config_file)
    validator = make_validator(application.config, application.moodle, env.say)
    if sql is not None:
        checked = validator(sql)
        tables = ", ".join(sorted(checked.tables)) or "none"
        params = ", ".join(checked.parameters) or "none"
        _write_text(f"Valid. Tables: {tables}. Parameters: {params}.\n")
    elif config is not None:
        built = check_report_config(config, validator)
        _write_text(f"Valid. Columns: {', '.join(c.name for c in built.columns)}.\n")
    else:
        raise InputError("reports validate needs --sql-file or --config-file.")


@reports_app.command("show")
def reports_show(
    ctx: typer.Context,
    report: Annotated[str, typer.Argument(help="Custom report id or name.")],
) -> None:
    """Show a custom report: its SQL or description, parameters and dates.

    Example: manireports reports show 3
    """
    from manireports.reports.custom import require_custom_report

    state = env_of(ctx).app().state
    record = require_custom_report(state, report)
    data = {
        "id": record.id,
        "name": record.name,
        "type": record.type,
        "description": record.description,
        "parameters": list(record.parameters),
        "sql": record.sql,
        "config": record.config,
        "timecreated": record.timecreated,
        "timemodified": record.timemodified,
    }
    shown = _site_dates(data, env_of(ctx).app().timezone)
    _write_text(json.dumps(shown, indent=2, ensure_ascii=False) + "\n")


@reports_app.command("update")
def reports_update(
    ctx: typer.Context,
    report: Annotated[str, typer.Argument(help="Custom report id or name.")],
    name: Annotated[str | None, typer.Option("--name", help="A new name.")] = None,
    sql_file: SqlFileOption = None,
    config_file: ConfigFileOption = None,
    description: Annotated[str | None, typer.Option(help="A new description.")] = None,
) -> None:
    """Change a custom report's name, SQL, description or configuration (validated again).

    Example: manireports reports update 3 --sql-file logins-v2.sql
    """
    from manireports.reports.custom import (
        make_validator,
        require_custom_report,
        update_custom_report,
    )

    env = env_of(ctx)
    application = env.app()
    record = require_custom_report(application.state, report)
    sql, config = _read_definition(sql_file, config_file)
    update_custom_report(
        application.state,
        record.id,
        name=name,
        sql=sql,
        config=config,
        description=description,
        validator=make_validator(application.config, application.moodle, env.say),
    )
    env.say(f"Updated the custom report {record.id}.")


@reports_app.command("delete")
def reports_delete(
    ctx: typer.Context,
    report: Annotated[str, typer.Argument(help="Custom report id or name.")],
) -> None:
    """Delete a custom report (refused while a schedule uses it).

    Example: manireports reports delete 3
    """
    from manireports.reports.custom import delete_custom_report, require_custom_report

    env = env_of(ctx)
    state = env.app().state
    record = require_custom_report(state, report)
    delete_custom_report(state, record.id)
    env.say(f"Deleted the custom report {record.name!r} ({record.id}).")


# --------------------------------------------------------------------------------------------
# run-report


@app.command("run-report")
def run_report_command(
    ctx: typer.Context,
    report: Annotated[str, typer.Argument(help="Report name (see `reports list`).")],
    param: ParamOption = None,
    fmt: FormatOption = None,
    output: OutputOption = None,
    as_user: AsUserOption = None,
    company: CompanyOption = None,
    limit: Annotated[int | None, typer.Option(help="At most this many rows.")] = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help='Answer as of this moment, "YYYY-MM-DD HH:MM[:SS]" in the site timezone.',
        ),
    ] = None,
    bom: Annotated[
        bool, typer.Option("--bom", help="Start CSV/TSV with a UTF-8 BOM (Excel).")
    ] = False,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Recompute a cached report and refresh its entry.")
    ] = False,
    show_sql: Annotated[
        bool, typer.Option("--show-sql", help="Print the SQL and parameters; run nothing.")
    ] = False,
    period: PeriodOption = None,
) -> None:
    """Run a report and write it as a table, CSV, TSV, JSON, JSONL, XLSX, PDF or HTML.

    Example: manireports run-report course_completion --param courseid=3 -o completion.csv
    """
    from manireports.reports.params import parse_assignments
    from manireports.reports.run import ReportRequest, prepare_report, run_report

    env = env_of(ctx)
    application = env.app()
    params, span = parse_assignments(param or []), None
    if period is not None:
        window = _period_window(application, report, period, params, as_of)
        params, span, as_of = window.params, window.span, window.as_of or as_of
    request = ReportRequest(
        report=report,
        params=params,
        period=span,
        as_of=as_of,
        limit=limit,
        as_user=as_user,
        company=company,
        use_cache=not no_cache,
    )
    if show_sql:
        prepared = prepare_report(application, request)
        sql = prepared.sql.strip() or (
            f"-- {prepared.report.name} is computed by manireports, not one query over Moodle."
        )
        _write_text(sql + "\n-- parameters: " + json.dumps(prepared.params, sort_keys=True) + "\n")
        return
    fmt_name = resolve_format(fmt, str(output) if output else None, env.stdout_is_terminal())
    progress = _progress_printer(env)
    options = ExportOptions(
        bom=bom,
        pdf_max_rows=application.settings.reports.pdf_max_rows,
        progress=progress,
        formula_guard=output is not None and application.settings.export.csv_formula_guard,
        warn=env.warn,
        pdf_fonts=application.settings.export.pdf_fonts,
    )
    destination: Path | BinaryIO = output if output else sys.stdout.buffer
    sys.stdout.flush()
    try:
        outcome = run_report(
            application, request, fmt=fmt_name, destination=destination, options=options
        )
    finally:
        if progress:
            progress.finish()
    if outcome.rows == 0 and request.report == "time_spent":
        from manireports.reports.timespent import NOT_TRACKED_YET, time_tracking_has_run

        if not time_tracking_has_run(application):
            typer.echo(NOT_TRACKED_YET, err=True)
    if outcome.capped:
        typer.echo(
            f"Warning: the report stopped at [reports] max_rows "
            f"({application.settings.reports.max_rows} rows); the output is incomplete.",
            err=True,
        )
    if output:
        env.detail(f"Wrote {outcome.rows} rows to {output}.")


@app.command("companies")
def companies_command(
    ctx: typer.Context,
    as_user: AsUserOption = None,
    fmt: FormatOption = None,
    output: OutputOption = None,
) -> None:
    """List the IOMAD companies and departments the acting user may see.

    Example: manireports companies --as-user deshawn.lee2
    """
    from manireports.export import Column
    from manireports.scope import visible_companies

    application = env_of(ctx).app()
    rows = visible_companies(application.moodle, application.site, as_user)
    columns = [
        Column("companyid", "int"),
        Column("company", "text"),
        Column("departmentid", "int"),
        Column("department", "text"),
        Column("parentid", "int"),
    ]
    _export_small("Companies", columns, rows, fmt, output=output, ctx=ctx)


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
    _export_small("Audit log", columns, rows, fmt, zone, output=output, ctx=ctx)


class _Progress:
    """Row counts on stderr while a long report runs, only when stderr is a terminal."""

    def __init__(self) -> None:
        self.shown = False

    def __call__(self, rows: int) -> None:
        self.shown = True
        sys.stderr.write(f"\r{rows:,} rows")
        sys.stderr.flush()

    def finish(self) -> None:
        if self.shown:
            sys.stderr.write("\n")


DateOption = Annotated[str | None, typer.Option(help="YYYY-MM-DD in the site timezone.")]


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
    result = apply_heartbeats(env.app(), sys.stdin.buffer)
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
def jobs_aggregate_time(ctx: typer.Context) -> None:
    """Cron job: time sync, then aggregate (hourly). Exits at once if a run is still going.

    Example: manireports jobs aggregate-time
    """
    from manireports.timetrack import aggregate_time

    env = env_of(ctx)
    application = env.app()
    lock = _locked_job(env, application, "aggregate-time")
    if lock is None:
        return
    with lock:
        synced, aggregated = aggregate_time(application)
    env.detail(f"Read {synced.events_read} events; recomputed {aggregated.days} days.")


# --------------------------------------------------------------------------------------------
# Cache, pre-aggregation, cleanup and privacy: jobs build-cache|scorm-summary|cleanup,
# cache stats|clear, privacy export|delete.

cache_app = typer.Typer(help="Inspect and clear the report cache.", no_args_is_help=True)
app.add_typer(cache_app, name="cache")
privacy_app = typer.Typer(
    help="Export or delete what manireports holds about a user.", no_args_is_help=True
)
app.add_typer(privacy_app, name="privacy")
UserIdOption = Annotated[int, typer.Option("--user", help="The Moodle user id.")]


@jobs_app.command("build-cache")
def jobs_build_cache(ctx: typer.Context) -> None:
    """Cron job: pre-compute the trends, company statistics and SCORM summary (every 6 hours).

    Example: manireports jobs build-cache
    """
    from manireports.reports.prebuild import build_cache

    env = env_of(ctx)
    application = env.app()
    if not application.settings.cache.enabled:
        env.detail("The cache is off ([cache] enabled = false); nothing to build.")
        return
    lock = _locked_job(env, application, "build-cache")
    if lock is None:
        return
    with lock:
        built = build_cache(application)
    for entry in built:
        if entry.rows is None:
            env.detail(f"{entry.report}: skipped, this site lacks what it needs.")
        else:
            env.detail(f"{entry.report}: cached {entry.rows} rows.")


@jobs_app.command("scorm-summary")
def jobs_scorm_summary(ctx: typer.Context) -> None:
    """Cron job: refresh manireports_scorm_summary from the scorm_summary report (hourly).

    Example: manireports jobs scorm-summary
    """
    from manireports.reports.scorm_store import refresh_scorm_summary

    env = env_of(ctx)
    application = env.app()
    lock = _locked_job(env, application, "scorm-summary")
    if lock is None:
        return
    with lock:
        count = refresh_scorm_summary(application)
    env.detail(f"manireports_scorm_summary now holds {count} rows.")


@jobs_app.command("cleanup")
def jobs_cleanup(ctx: typer.Context) -> None:
    """Cron job: delete data older than [retention] allows (daily); -v prints the counts.

    Example: manireports -v jobs cleanup
    """
    from manireports.cleanup import cleanup

    env = env_of(ctx)
    application = env.app()
    lock = _locked_job(env, application, "cleanup")
    if lock is None:
        return
    with lock:
        result = cleanup(application)
    for kind, count in result.deleted.items():
        env.detail(f"Deleted {count} {kind.replace('_', ' ')} rows.")
    env.detail(f"Removed {result.files_removed} run files from [storage] dir.")
    env.detail(f"Removed {result.part_files_removed} temporary files left by killed runs.")
    if result.files_outside_storage:
        env.detail(f"Kept {result.files_outside_storage} run files outside [storage] dir.")


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
    _export_small("Cache", columns, rows, fmt, output=output, ctx=ctx)


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


@privacy_app.command("export")
def privacy_export(ctx: typer.Context, user: UserIdOption) -> None:
    """Print everything manireports holds about a Moodle user, as JSON.

    Example: manireports privacy export --user 42 > user42.json
    """
    from manireports.privacy import export_user

    application = env_of(ctx).app()
    found = _site_dates(export_user(application, user), application.timezone)
    _write_text(json.dumps(found, indent=2, ensure_ascii=False, sort_keys=True) + "\n")


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


# analytics: the user_engagement and at_risk reports under their own commands.

analytics_app = typer.Typer(
    help="Engagement scores and learners at risk (see docs/analytics.md).", no_args_is_help=True
)
app.add_typer(analytics_app, name="analytics")
CourseOption = Annotated[int | None, typer.Option("--course", help="Only this course (id).")]
ExplainOption = Annotated[
    bool,
    typer.Option(
        "--explain",
        help="Add each input, its course reference, normalised value and weight, and each "
        "rule's threshold (on a terminal: one block per learner).",
    ),
]
AsOfOption = Annotated[
    str | None,
    typer.Option("--as-of", help='Answer as of "YYYY-MM-DD HH:MM[:SS]" in the site timezone.'),
]


def _analytics(
    ctx: typer.Context, report: str, course: int | None, explain: bool, **run: Any
) -> None:
    """Both commands are their report run through run-report, so runs are recorded alike.

    --explain adds some twenty columns; on a terminal they are shown as one block per learner
    (the `records` format) instead of a table too wide to read.
    """
    param = ([f"courseid={course}"] if course is not None else []) + [f"explain={explain}"]
    if explain and run["fmt"] is None and run["output"] is None:
        run["fmt"] = "records" if env_of(ctx).stdout_is_terminal() else None
    run_report_command(ctx, report, param=param, limit=None, bom=False, show_sql=False, **run)


def _write_records(table: ReportTable, stream: BinaryIO, options: ExportOptions) -> int:
    """The `records` format: each row as a block of `column  value` lines, like psql's \\x."""
    from manireports.export.values import (
        BadText,
        SiteClock,
        converters,
        row_converter,
        visible_text,
    )

    text = io.TextIOWrapper(stream, encoding="utf-8", write_through=True)
    convert = row_converter(converters(table.columns, "human", SiteClock(table.timezone)))
    width = max((len(column.name) for column in table.columns), default=0)
    count = 0
    bad = BadText(table.columns)
    for raw in table.rows:
        count += 1
        row = bad.rows([raw])[0]
        shown = convert(row) if convert else row
        text.write(f"-[ {visible_text(table.title)}: {count} ]-\n")
        for column, value in zip(table.columns, shown, strict=True):
            shown_value = "" if value is None else visible_text(str(value))
            text.write(f"{visible_text(column.name):<{width}}  {shown_value}\n")
        text.write("\n")
    if count == 0:
        text.write(f"{visible_text(table.title)}: no rows.\n")
    text.detach()
    bad.report(options.warn)
    if options.progress:
        options.progress(count)
    return count


register_writer("records", _write_records)


@analytics_app.command("engagement")
def analytics_engagement(
    ctx: typer.Context,
    course: CourseOption = None,
    explain: ExplainOption = False,
    as_user: AsUserOption = None,
    company: CompanyOption = None,
    as_of: AsOfOption = None,
    fmt: FormatOption = None,
    output: OutputOption = None,
) -> None:
    """Engagement score 0-100 per learner and course over the window (the user_engagement report).

    Example: manireports analytics engagement --course 3 --explain -o engagement.csv
    """
    _analytics(
        ctx, "user_engagement", course, explain,
        as_user=as_user, company=company, as_of=as_of, fmt=fmt, output=output,
    )  # fmt: skip


@analytics_app.command("at-risk")
def analytics_at_risk(
    ctx: typer.Context,
    course: CourseOption = None,
    explain: ExplainOption = False,
    as_user: AsUserOption = None,
    company: CompanyOption = None,
    as_of: AsOfOption = None,
    fmt: FormatOption = None,
    output: OutputOption = None,
) -> None:
    """Learners at risk: four rules of 25 points each, one column per rule (the at_risk report).

    Example: manireports analytics at-risk --course 3 --as-user jack.fitzgerald
    """
    _analytics(
        ctx, "at_risk", course, explain,
        as_user=as_user, company=company, as_of=as_of, fmt=fmt, output=output,
    )  # fmt: skip


# schedule and jobs run-due

schedule_app = typer.Typer(help="Scheduled reports mailed to people.", no_args_is_help=True)
app.add_typer(schedule_app, name="schedule")
ScheduleId = Annotated[int, typer.Argument(help="Schedule id (see `schedule list`).")]


@schedule_app.command("add")
def schedule_add(
    ctx: typer.Context,
    report: Annotated[str, typer.Option("--report", help="Report name or custom report id.")],
    name: Annotated[str, typer.Option("--name", help="What the schedule is called.")],
    frequency: Annotated[str, typer.Option(help="daily, weekly, monthly or cron.")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="csv, xlsx, pdf, ...")],
    recipient: Annotated[
        list[str], typer.Option(help="Moodle user id or username, or an email address; repeat.")
    ],
    cron: Annotated[
        str | None, typer.Option(help='With cron: "MIN HOUR DAY MONTH WEEKDAY".')
    ] = None,
    at: Annotated[str | None, typer.Option(help="HH:MM in the site timezone (06:00).")] = None,
    weekday: Annotated[str | None, typer.Option(help="With weekly: monday ... sunday.")] = None,
    day: Annotated[int | None, typer.Option(help="With monthly: 1-31 (31: last day).")] = None,
    start: Annotated[
        str | None, typer.Option(help='First run, "YYYY-MM-DD HH:MM" (site time).')
    ] = None,
    param: ParamOption = None,
    scope: Annotated[str, typer.Option(help="recipient (own view) or owner.")] = "recipient",
    owner: Annotated[
        str | None, typer.Option(help="Moodle user who owns it (default: the operator).")
    ] = None,
    skip_empty: Annotated[
        bool, typer.Option("--skip-empty", help="Mail nothing when the report has no rows.")
    ] = False,
    period: PeriodOption = None,
) -> None:
    """Schedule a report to be mailed; prints the new schedule's id.

    Example: manireports schedule add --report course_completion --name "Weekly completion"
    --frequency weekly --weekday monday --at 07:00 --format xlsx --recipient sian.taylor
    """
    from manireports.reports.params import parse_assignments
    from manireports.schedule.recurrence import make_recurrence
    from manireports.schedule.store import NewSchedule, add_schedule, get_schedule

    env = env_of(ctx)
    application = env.app()
    rule = make_recurrence(frequency, at=at, weekday=weekday, day=day, cron=cron)
    params = parse_assignments(param or [])
    if period is not None:
        params = _period_schedule_params(application, report, period, params)
    new = NewSchedule(
        report=report,
        name=name,
        rule=rule,
        format=fmt,
        recipients=recipient,
        params=params,
        scope=scope,
        owner=owner,
        start=start,
        skip_empty=skip_empty,
    )
    scheduleid = add_schedule(application, new)
    first = get_schedule(application.state, scheduleid).next_run
    env.say(f"Created schedule {scheduleid}; first run {_site_time(application, first)}.")
    _write_text(f"{scheduleid}\n")


def _site_time(application: App, moment: int | None) -> str:
    from datetime import datetime

    if moment is None:
        return ""
    return datetime.fromtimestamp(moment, application.timezone).strftime("%Y-%m-%d %H:%M %Z")


@schedule_app.command("list")
def schedule_list(
    ctx: typer.Context, fmt: FormatOption = None, output: OutputOption = None
) -> None:
    """List the schedules with their rule, next run and state.

    Example: manireports schedule list
    """
    from manireports.export import Column
    from manireports.schedule.recurrence import describe
    from manireports.schedule.store import list_schedules

    application = env_of(ctx).app()
    columns = [
        Column("id", "int"),
        Column("name", "text"),
        Column("report", "text"),
        Column("recurrence", "text"),
        Column("format", "text"),
        Column("recipients", "int"),
        Column("next_run", "timestamp"),
        Column("last_run", "timestamp"),
        Column("state", "text"),
    ]
    rows = [
        (
            s.id, s.name, s.report, describe(s.rule), s.format, len(s.recipients),
            s.retry_at or s.next_run, s.last_run,
            ("active" if s.active else "paused") + (f", retry {s.attempt}" if s.attempt else ""),
        )
        for s in list_schedules(application.state)
    ]  # fmt: skip
    _export_small("Schedules", columns, rows, fmt, application.timezone, output=output, ctx=ctx)


@schedule_app.command("show")
def schedule_show(ctx: typer.Context, scheduleid: ScheduleId) -> None:
    """Show one schedule as JSON: report, rule, recipients, next run, retry state.

    Example: manireports schedule show 3
    """
    from manireports.schedule.store import get_schedule

    application = env_of(ctx).app()
    found = get_schedule(application.state, scheduleid)
    data = {
        **found.summary(),
        "active": found.active,
        "next_run": _site_time(application, found.next_run),
        "retry_at": _site_time(application, found.retry_at),
        "failed_attempts": found.attempt,
        "last_run": _site_time(application, found.last_run),
    }
    _write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


@schedule_app.command("pause")
def schedule_pause(ctx: typer.Context, scheduleid: ScheduleId) -> None:
    """Stop a schedule from running until it is resumed.

    Example: manireports schedule pause 3
    """
    from manireports.schedule.store import set_active

    env = env_of(ctx)
    set_active(env.app(), scheduleid, active=False)
    env.say(f"Paused schedule {scheduleid}.")


@schedule_app.command("resume")
def schedule_resume(ctx: typer.Context, scheduleid: ScheduleId) -> None:
    """Resume a paused schedule; runs missed while paused are not caught up.

    Example: manireports schedule resume 3
    """
    from manireports.schedule.store import set_active

    env = env_of(ctx)
    application = env.app()
    resumed = set_active(application, scheduleid, active=True)
    env.say(f"Resumed schedule {scheduleid}; next run {_site_time(application, resumed.next_run)}.")


@schedule_app.command("delete")
def schedule_delete(ctx: typer.Context, scheduleid: ScheduleId) -> None:
    """Delete a schedule; its past runs stay in the run history.

    Example: manireports schedule delete 3
    """
    from manireports.schedule.store import delete_schedule

    env = env_of(ctx)
    deleted = delete_schedule(env.app().state, scheduleid)
    env.say(f"Deleted schedule {scheduleid} ({deleted.name}).")


@schedule_app.command("run")
def schedule_run(ctx: typer.Context, scheduleid: ScheduleId) -> None:
    """Run one schedule now, for the period ending now, and mail it; exit 1 if a mail failed.

    Example: manireports schedule run 3
    """
    from manireports.schedule.due import run_now

    env = env_of(ctx)
    outcome = run_now(env.app(), scheduleid)
    env.say(
        f"Schedule {scheduleid}: {len(outcome.sent)} mail(s) sent, {len(outcome.skipped)} skipped."
    )


@jobs_app.command("run-due")
def jobs_run_due(ctx: typer.Context) -> None:
    """Cron job: run every due schedule once (every few minutes); exit 1 if one failed for good.

    Example: manireports jobs run-due
    """
    from manireports.schedule.due import run_due

    env = env_of(ctx)
    application = env.app()
    lock = _locked_job(env, application, "run-due")
    if lock is None:
        return
    with lock:
        done = run_due(application)
    for line in done.delivered:
        env.detail(line)
    # Silent on success (cron mails what is printed): warnings go to the job log (and the audit
    # log, written by run_due); stderr gets them only when a schedule failed for good.
    warnings = done.retrying + done.lost + done.unconfirmed + done.refused
    for line in warnings:
        (env.say if done.failed else env.detail)(line)
    if done.failed:
        raise RunError(" ".join(done.failed) + " The owners were mailed.")


# --------------------------------------------------------------------------------------------
# cloud

cloud_app = typer.Typer(
    help="Hand bulk reminders to the cloud, take its callbacks, make certificates.",
    no_args_is_help=True,
)
app.add_typer(cloud_app, name="cloud")


def _say_dispatch(env: Environment, outcome: Any) -> None:
    env.say(
        f"{outcome.recipients} recipients in {len(outcome.jobs)} jobs: {outcome.submitted} "
        f"submitted to the cloud, {outcome.fallback_jobs} mailed over SMTP."
    )
    if outcome.fallback_reason and outcome.fallback_jobs:
        env.say(f"SMTP fallback because {outcome.fallback_reason.rstrip('.')}.")
    for jobid in outcome.jobs:
        _write_text(jobid + "\n")
    if outcome.mail_failed:
        from manireports.errors import RunError

        raise RunError(
            f"{outcome.mail_failed} of the SMTP fallback mails could not be sent; "
            "`manireports cloud show JOBID` lists them and `cloud retry JOBID` sends them again."
        )


@cloud_app.command("send-reminders")
def cloud_send_reminders(
    ctx: typer.Context,
    course: Annotated[int, typer.Option("--course", help="The course id.")],
    template: Annotated[str, typer.Option(help="Mail template name.")] = "course_reminder",
    only: Annotated[
        str | None, typer.Option(help="not-completed: only learners who have not completed.")
    ] = None,
    as_user: AsUserOption = None,
    company: CompanyOption = None,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="List who would be mailed and in how many jobs; send none."),
    ] = False,
    fmt: FormatOption = None,
) -> None:
    """Remind a course's learners, in jobs of [cloud] batch_size; prints the job ids.

    Example: manireports cloud send-reminders --course 12 --only not-completed
    """
    from manireports.cloud.reminders import ReminderRequest, plan_reminders, send_reminders

    env = env_of(ctx)
    request = ReminderRequest(course, template, only, as_user, company)
    if dry_run:
        from manireports.export import Column

        plan = plan_reminders(env.app(), request)
        columns = [
            Column("userid", "int"),
            Column("email", "text"),
            Column("firstname", "text"),
            Column("lastname", "text"),
        ]
        rows = [(r.userid, r.email, r.firstname, r.lastname) for r in plan.recipients]
        _export_small("Reminders (dry run)", columns, rows, fmt, ctx=ctx)
        if plan.skipped_without_email:
            env.say(f"{plan.skipped_without_email} learners have no email address.")
        env.say(
            f"Dry run: {len(plan.recipients)} recipients in {plan.jobs} jobs would be sent; "
            "nothing was recorded or sent."
        )
        return
    outcome = send_reminders(env.app(), request)
    if outcome.skipped_without_email:
        env.say(
            f"{outcome.skipped_without_email} learners have no email address and were left out."
        )
    _say_dispatch(env, outcome)


@cloud_app.command("serve-callbacks")
def cloud_serve_callbacks(
    ctx: typer.Context,
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="TCP port to listen on (0: any free port).")
    ] = 8765,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
) -> None:
    """Serve the workers' signed callbacks over HTTP until stopped (Ctrl-C or SIGTERM).

    Example: manireports cloud serve-callbacks --port 8765
    """
    from manireports.cloud.callbacks import callback_secret
    from manireports.cloud.server import open_callback_server

    env = env_of(ctx)
    application = env.app()
    secret = callback_secret(application.config)
    server = open_callback_server(
        application.state,
        secret,
        host,
        port,
        env.detail,
        warn=env.say,
        read_timeout=application.settings.cloud.callback_read_timeout_seconds,
        max_connections=application.settings.cloud.callback_max_connections,
    )

    env.say(f"Listening for callbacks on http://{host}:{server.server_address[1]}/")
    try:
        server.serve_forever()
    finally:
        server.server_close()


@cloud_app.command("callback")
def cloud_callback(
    ctx: typer.Context,
    body_file: Annotated[Path, typer.Option("--body-file", help="The raw callback body.")],
    signature: Annotated[str, typer.Option(help="The X-Signature value (hex HMAC-SHA256).")],
) -> None:
    """Apply one callback received some other way (exit 2 malformed or replayed, 3 unsigned).

    Example: manireports cloud callback --body-file body.json --signature 3f7a...
    """
    from manireports.cloud.callbacks import callback_secret, handle_callback

    env = env_of(ctx)
    application = env.app()
    try:
        body = body_file.read_bytes()
    except OSError as exc:
        raise InputError(f"Cannot read {body_file}: {exc.strerror}.") from None
    secret = callback_secret(application.config)
    outcome = handle_callback(application.state, secret, body, signature, application.now())
    env.say(
        f"Job {outcome.jobid}: {outcome.updated} recipients updated; {outcome.sent} sent, "
        f"{outcome.failed} failed of {outcome.total}; {outcome.status}."
    )


@cloud_app.command("jobs")
def cloud_jobs(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(help="Only jobs in this status.")] = None,
    fmt: FormatOption = None,
    output: OutputOption = None,
) -> None:
    """List cloud jobs, newest first, with their counts.

    Example: manireports cloud jobs --status failed
    """
    from manireports.cloud.tracking import list_jobs
    from manireports.export import Column

    jobs = list_jobs(env_of(ctx).app().state, status)
    columns = [
        Column("jobid", "text"), Column("type", "text"), Column("courseid", "int"),
        Column("tenantid", "int"), Column("status", "text"), Column("total", "int"),
        Column("sent", "int"), Column("failed", "int"), Column("pending", "int"),
        Column("created", "timestamp"), Column("completed", "timestamp"),
    ]  # fmt: skip
    rows = (
        (j.jobid, j.type, j.courseid, j.tenantid, j.status, j.total, j.sent, j.failed,
         j.pending, j.timecreated, j.timecompleted)
        for j in jobs
    )  # fmt: skip
    _export_small("Cloud jobs", columns, rows, fmt, output=output, ctx=ctx)


@cloud_app.command("show")
def cloud_show(
    ctx: typer.Context,
    jobid: Annotated[str, typer.Argument(help="The job id (a UUID).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show a job's progress and counts, and its failed recipients with their errors.

    Example: manireports cloud show 550e8400-e29b-41d4-a716-446655440000
    """
    from manireports.cloud.tracking import get_job, job_recipients

    state = env_of(ctx).app().state
    job = get_job(state, jobid)
    failed = job_recipients(state, jobid, status="failed")
    if as_json:
        data = {
            "job_id": job.jobid, "type": job.type, "courseid": job.courseid,
            "tenant_id": job.tenantid, "status": job.status, "total": job.total,
            "sent": job.sent, "failed": job.failed, "pending": job.pending,
            "progress_percent": job.progress_percent, "error": job.error,
            "timecreated": job.timecreated, "timestarted": job.timestarted,
            "timecompleted": job.timecompleted,
            "failed_recipients": [
                {"userid": r.userid, "email": r.email, "attempts": r.attempts, "error": r.error}
                for r in failed
            ],
        }  # fmt: skip
        _write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        return
    lines = [
        f"Job {job.jobid} ({job.type}, course {job.courseid}, tenant {job.tenantid})",
        f"Status: {job.status}",
        f"Progress: {job.sent + job.failed} of {job.total} done ({job.progress_percent}%): "
        f"{job.sent} sent, {job.failed} failed, {job.pending} pending",
    ]
    if job.error:
        lines.append(f"Note: {job.error}")
    for r in failed:
        lines.append(
            f"  failed: user {r.userid} <{r.email}> after {r.attempts} attempts: {r.error}"
        )
    _write_text("\n".join(lines) + "\n")


@cloud_app.command("retry")
def cloud_retry(
    ctx: typer.Context, jobid: Annotated[str, typer.Argument(help="The job id (a UUID).")]
) -> None:
    """Send a job's failed recipients again, as a new job; prints the new job ids.

    Example: manireports cloud retry 550e8400-e29b-41d4-a716-446655440000
    """
    from manireports.cloud.reminders import retry_job

    env = env_of(ctx)
    _say_dispatch(env, retry_job(env.app(), jobid))


@cloud_app.command("certificate")
def cloud_certificate(
    ctx: typer.Context,
    user: Annotated[str, typer.Option("--user", help="Moodle user id or username.")],
    course: Annotated[int, typer.Option("--course", help="The course id.")],
    template: Annotated[
        str, typer.Option(help="Built-in layout name or a .toml layout file.")
    ] = "default",
    output: OutputOption = None,
) -> None:
    """Make a completion certificate PDF locally, with a verification code.

    Example: manireports cloud certificate --user malgorzata.wojcik --course 12 -o certificate.pdf
    """
    from manireports.cloud.certificate import make_certificate

    env = env_of(ctx)
    made = make_certificate(env.app(), user, course, template, output)
    env.say(f"Wrote {made.path} (verification code {made.verification_code}).")


# --------------------------------------------------------------------------------------------
# Dashboards: dashboard [--role|--as-user|--company|--id], dashboard
# create|list|show; the terminal rendering (rich panels and sparklines) lives here.

dashboard_app = typer.Typer(
    help="Dashboards per role, and custom dashboards from a file.", invoke_without_command=True
)
app.add_typer(dashboard_app, name="dashboard")
DASHBOARD_FORMATS = {".html": "html", ".htm": "html", ".pdf": "pdf", ".txt": "terminal"}


@dashboard_app.callback()
def dashboard_command(
    ctx: typer.Context,
    role: Annotated[
        str | None,
        typer.Option(help="admin, manager, teacher or student; with --as-user, their role."),
    ] = None,
    as_user: AsUserOption = None,
    company: CompanyOption = None,
    dashboard_id: Annotated[
        int | None, typer.Option("--id", help="A custom dashboard (see `dashboard list`).")
    ] = None,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format", "-f", help="html, pdf or terminal. Default: from -o, else terminal."
        ),
    ] = None,
    output: OutputOption = None,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help='As of this moment, "YYYY-MM-DD HH:MM[:SS]" (site time).'),
    ] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Recompute instead of reading cached entries.")
    ] = False,
    period: PeriodOption = None,
) -> None:
    """Show the dashboard of a role: KPIs, trends, completion by course, courses, learners at risk.

    Example: manireports dashboard --as-user sian.taylor -o dashboard.html
    """
    if ctx.invoked_subcommand is not None:
        return
    from manireports.dashboard import DashboardRequest, build_dashboard
    from manireports.export.atomic import atomic_output

    if fmt is None:
        suffix = output.suffix.lower() if output else ""
        if output and suffix not in DASHBOARD_FORMATS:
            raise InputError(
                f"Cannot tell the format of '{output}'; use .html, .pdf or .txt, or give --format."
            )
        fmt = DASHBOARD_FORMATS[suffix] if output else "terminal"
    if fmt not in ("html", "pdf", "terminal"):
        raise InputError(f"--format must be html, pdf or terminal, not {fmt!r}.")
    if fmt == "pdf" and output is None and Environment.stdout_is_terminal():
        raise InputError("A PDF dashboard is binary and needs -o FILE.")
    application = env_of(ctx).app()
    if period is not None:
        as_of = _period_dashboard_as_of(application, period, as_of)
    request = DashboardRequest(role, as_user, company, dashboard_id, as_of, not no_cache)
    dashboard, _hit = build_dashboard(application, request)
    if fmt == "html":
        from manireports.dashboard.html import render_html

        data = render_html(dashboard).encode("utf-8")
    elif fmt == "pdf":
        from manireports.dashboard.pdf import render_pdf

        data = render_pdf(dashboard)
    else:
        buffer = io.StringIO()
        _print_dashboard(dashboard, buffer, colour=output is None and Environment.colour())
        data = buffer.getvalue().encode("utf-8")
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    with atomic_output(output) as stream:
        stream.write(data)
    env_of(ctx).detail(f"Wrote the dashboard to {output}.")


SPARK_BLOCKS = "▁▂▃▄▅▆▇█"


def _sparkline(values: list[float]) -> str:
    top = max(values, default=0) or 1
    return "".join(SPARK_BLOCKS[min(7, int(v / top * 7.999))] for v in values)


def _print_dashboard(dashboard: Any, stream: io.StringIO, *, colour: bool) -> None:
    """The dashboard as terminal panels. Names, titles and values are data, never markup, and
    their control characters are shown escaped, exactly as in the `table` format."""
    from rich.columns import Columns
    from rich.console import Console
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    from manireports.dashboard.text import cell_text, delta_text, figure_text, tone
    from manireports.export.values import visible_text

    def text(value: Any, style: str = "") -> Text:
        return Text(visible_text(str(value)), style=style)

    shade = {"good": "green", "bad": "red", "flat": "dim"}
    console = Console(
        file=stream, no_color=not colour, width=100, highlight=False, markup=False, emoji=False
    )
    company = "" if dashboard.company is None else f", company {dashboard.company}"
    console.print(Panel(
        text(f"For {dashboard.viewer} ({dashboard.role}){company}. Generated "
             f"{dashboard.generated} ({dashboard.timezone})."),
        title=text(dashboard.title), border_style="blue",
    ))  # fmt: skip
    cards = [
        Panel(
            Text.assemble(
                text(figure_text(w.value, w.unit), "bold"), "\n",
                text(delta_text(w), shade[tone(w)]),
            ),
            title=text(w.title), width=32,
        )
        for w in dashboard.widgets
        if w.kind == "kpi"
    ]  # fmt: skip
    console.print(Columns(cards))
    for widget in dashboard.widgets:
        if widget.kind == "chart":
            lines = []
            if widget.chart == "line":
                lines.append(f"{widget.labels[0]} … {widget.labels[-1]}" if widget.labels else "")
                for series in widget.series:
                    last = figure_text(series.values[-1], "number") if series.values else "–"
                    lines.append(f"{series.name:<14} {_sparkline(series.values)}  last {last}")
            else:
                values = widget.series[0].values if widget.series else []
                top = max(values, default=0) or 1
                for label, value in zip(widget.labels, values, strict=True):
                    bar = "█" * round(value / top * 30)
                    lines.append(f"{label[:20]:<20} {bar} {figure_text(value, 'number')}")
            body = "\n".join(lines) or "No data"
            console.print(Panel(text(body), title=text(widget.title)))
        elif widget.kind == "table":
            grid = Table(title=text(widget.title))
            for name, numeric in zip(widget.columns, widget.numeric, strict=True):
                grid.add_column(text(name), justify="right" if numeric else "left")
            for row in widget.rows:
                grid.add_row(*(text(cell_text(value)) for value in row))
            console.print(grid)
            if widget.note:
                console.print(text(widget.note, "dim"))


DashboardFileOption = Annotated[
    Path, typer.Option("--file", help="A dashboard definition (.toml or .json).")
]


@dashboard_app.command("create")
def dashboard_create(ctx: typer.Context, file: DashboardFileOption) -> None:
    """Store a custom dashboard from a TOML or JSON file, after checking it; prints its id.

    Example: manireports dashboard create --file examples/dashboards/completion.toml
    """
    from manireports.dashboard.custom import check_definition, load_definition, save_dashboard
    from manireports.state import record_audit

    env = env_of(ctx)
    application = env.app()
    definition = check_definition(application.state, load_definition(file), file)
    dashboard_id = save_dashboard(application.state, definition)
    record_audit(application.state, userid=0, action="dashboard_create", objecttype="dashboard",
                 objectid=dashboard_id, details={"title": definition["title"]})  # fmt: skip
    env.say(f"Created the dashboard {definition['title']!r} with id {dashboard_id}.")
    _write_text(f"{dashboard_id}\n")


@dashboard_app.command("list")
def dashboard_list(
    ctx: typer.Context, fmt: FormatOption = None, output: OutputOption = None
) -> None:
    """List the custom dashboards.

    Example: manireports dashboard list
    """
    from manireports.dashboard.custom import list_dashboards
    from manireports.export import Column

    application = env_of(ctx).app()
    columns = [Column("id", "int"), Column("title"), Column("company", "int"),
               Column("widgets", "int"), Column("modified", "timestamp")]  # fmt: skip
    _export_small(
        "Dashboards", columns, list_dashboards(application.state), fmt, output=output, ctx=ctx
    )


@dashboard_app.command("show")
def dashboard_show(
    ctx: typer.Context,
    dashboard_id: Annotated[int, typer.Argument(help="The custom dashboard's id.")],
) -> None:
    """Print a custom dashboard's definition as JSON.

    Example: manireports dashboard show 2
    """
    from dataclasses import asdict

    from manireports.dashboard.custom import require_dashboard

    found = require_dashboard(env_of(ctx).app().state, dashboard_id)
    _write_text(json.dumps(asdict(found), indent=2, ensure_ascii=False) + "\n")


def _progress_printer(env: Environment) -> _Progress | None:
    if env.quiet or not env.stderr_is_terminal():
        return None
    return _Progress()


# --------------------------------------------------------------------------------------------
# health: checks for monitoring, with their own exit codes.

HEALTH_FORMATS = ("table", "json", "prometheus")


@app.command("health")
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
        _write_text(json.dumps(as_document(checks), indent=2, ensure_ascii=False) + "\n")
    elif chosen == "prometheus":
        _write_text(prometheus_text(checks, application.now()))
    else:
        width = max(len(check.name) for check in checks)
        lines = [f"{'CHECK'.ljust(width)}  STATUS    MESSAGE"]
        lines += [
            f"{check.name.ljust(width)}  {check.status.name.ljust(8)}  {check.message}"
            for check in checks
        ]
        lines.append(f"{'overall'.ljust(width)}  {status.name}")
        _write_text("\n".join(lines) + "\n")
    raise typer.Exit(int(status))


# --------------------------------------------------------------------------------------------
# backup and restore of definitions.


@app.command("backup")
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
        _write_text(text)
        return
    with atomic_output(output) as stream:
        stream.write(text.encode("utf-8"))
    counts = ", ".join(
        f"{len(document[key])} {key}" for key in ("reports", "schedules", "dashboards", "settings")
    )
    env.detail(f"Wrote {counts} to {output}.")


@app.command("restore")
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
    _write_text("\n".join(lines) + "\n")
    if outcome.refused:
        named = "; ".join(f"{kind} {name!r}" for kind, name, _a, _r in outcome.refused)
        raise InputError(f"Refused {len(outcome.refused)} definition(s): {named}.")


# --------------------------------------------------------------------------------------------
# Named periods (--period) for run-report, dashboard and schedule add.


def _period_moment(application: App, as_of: str | None) -> int:
    from manireports.reports.params import parse_moment

    if as_of is None:
        return application.now()
    return parse_moment(as_of, application.timezone, what="--as-of")


def _period_window(
    application: App, report: str, period: str, params: dict[str, str], as_of: str | None
) -> Any:
    from manireports.periods import apply_period, resolve_period
    from manireports.reports.run import find_report

    tz = application.timezone
    now = _period_moment(application, as_of)
    named = resolve_period(period, now, tz)
    return apply_period(find_report(application, report), named, params, tz, now)


def _period_dashboard_as_of(application: App, period: str, as_of: str | None) -> str:
    from manireports.periods import dashboard_as_of, resolve_period

    tz = application.timezone
    now = _period_moment(application, as_of)
    return dashboard_as_of(resolve_period(period, now, tz), tz, now)


def _period_schedule_params(
    application: App, report: str, period: str, params: dict[str, str]
) -> dict[str, str]:
    """A schedule's period follows its recurrence; --period can pin it to a fixed month or
    quarter through the report's date parameters."""
    from manireports.periods import is_fixed

    window = _period_window(application, report, period, params, None)
    if not is_fixed(period) or window.span is not None or window.as_of is not None:
        raise InputError(
            f"--period {period} cannot be stored on a schedule of {report}: a schedule reports "
            "on the period of each run (set by --frequency); only YYYY-MM or YYYY-Qn can be "
            "pinned, and only for a report with from/to or start/end date parameters."
        )
    params_out: dict[str, str] = window.params
    return params_out


# --------------------------------------------------------------------------------------------
# Output helpers.


_TIME_KEYS = frozenset({
    "timecreated", "timemodified", "timecompleted", "timefinished", "timereceived", "timesent",
    "timestarted", "at_time", "claimed_until", "last_run", "next_run", "lastaccess",
    "lastgenerated", "lastupdated", "occurrence", "retry_at", "sessionstart",
})  # fmt: skip
"""Keys of manireports' own records that hold Unix times (durations like totaltime do not)."""


def _site_dates(data: Any, zone: Any) -> Any:
    """The JSON document with its Unix times as site-local 'YYYY-MM-DD HH:MM:SS', as every
    other output shows them; 0 and null stay what they are (never)."""
    if isinstance(data, list):
        return [_site_dates(item, zone) for item in data]
    if not isinstance(data, dict):
        return data
    shown: dict[str, Any] = {}
    for key, value in data.items():
        if key in _TIME_KEYS and type(value) is int and value > 0:
            shown[key] = datetime.fromtimestamp(value, zone).strftime("%Y-%m-%d %H:%M:%S")
        else:
            shown[key] = _site_dates(value, zone)
    return shown


def _write_text(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def _export_small(
    title: str,
    columns: list[Any],
    rows: Iterable[tuple[Any, ...]],
    fmt: str | None,
    zone: Any = None,
    *,
    output: Path | None = None,
    ctx: typer.Context,
) -> None:
    """Listings go through the same export pipeline as reports, to stdout or to -o FILE."""
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from manireports.export import export

    env = env_of(ctx)
    target = str(output) if output else None
    fmt_name = resolve_format(fmt, target, Environment.stdout_is_terminal())
    table = ReportTable(
        title=title,
        columns=columns,
        rows=rows,
        parameters={},
        generated_at=datetime.now(UTC),
        timezone=zone or ZoneInfo("UTC"),
    )
    options = ExportOptions(
        formula_guard=output is not None and env.config().settings.export.csv_formula_guard,
        warn=env.warn,
    )
    sys.stdout.flush()
    result = export(table, fmt_name, output if output else sys.stdout.buffer, options)
    if output:
        env.detail(f"Wrote {result.rows} rows to {output}.")


def _write_rich_table(table: ReportTable, stream: BinaryIO, options: ExportOptions) -> int:
    """The `table` format: rich tables on the terminal, in pages so memory stays bounded."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from manireports.export.values import (
        BadText,
        SiteClock,
        converters,
        row_converter,
        visible_text,
    )

    text = io.TextIOWrapper(stream, encoding="utf-8", write_through=True)
    bad = BadText(table.columns)
    # Values are data, never markup: `[old] Induction` is shown as written, and an ESC in a
    # name is shown as \x1b (rich.Text is not parsed for markup or emoji).
    console = Console(
        file=text,
        no_color=not Environment.colour(),
        soft_wrap=False,
        markup=False,
        emoji=False,
        highlight=False,
    )
    convert = row_converter(converters(table.columns, "human", SiteClock(table.timezone)))
    count = 0
    page: list[Any] = []

    def cell(value: Any) -> Text:
        return Text("" if value is None else visible_text(str(value)))

    def flush(title: str | None) -> None:
        grid = Table(title=cell(title) if title is not None else None)
        for column in table.columns:
            numeric = column.kind in ("int", "float")
            grid.add_column(cell(column.label), justify="right" if numeric else "left")
        for row in bad.rows(page):
            shown = convert(row) if convert else row
            grid.add_row(*map(cell, shown))
        console.print(grid)
        page.clear()

    for row in table.rows:
        page.append(row)
        count += 1
        if len(page) >= TABLE_PAGE_ROWS:
            flush(table.title if count == TABLE_PAGE_ROWS else None)
    if page or count == 0:
        flush(table.title if count <= TABLE_PAGE_ROWS else None)
    text.detach()
    bad.report(options.warn)
    if options.progress:
        options.progress(count)
    return count


TABLE_PAGE_ROWS = 500
register_writer("table", _write_rich_table)


# --------------------------------------------------------------------------------------------
# Entry point and the one error table.


_SIGNALLED: list[int] = []
"""Signals received; Typer turns the KeyboardInterrupt they raise into a silent return of 130."""


def _terminate(_signum: int, _frame: Any) -> None:
    """SIGTERM unwinds like Ctrl-C: transactions roll back, claims, locks and temporary files go."""
    _SIGNALLED.append(signal.SIGTERM)
    raise Terminated


def _interrupt(_signum: int, _frame: Any) -> None:
    _SIGNALLED.append(signal.SIGINT)
    raise KeyboardInterrupt


_GLOBAL_FLAGS = frozenset({"-v", "--verbose", "-q", "--quiet", "--debug"})


def _globals_first(args: list[str]) -> list[str]:
    """`manireports run-report x -v` means `manireports -v run-report x`: the flags that take
    no value are accepted anywhere before a `--`, as operators type them."""
    end = args.index("--") if "--" in args else len(args)
    flags = [arg for arg in args[:end] if arg in _GLOBAL_FLAGS]
    rest = [arg for arg in args[:end] if arg not in _GLOBAL_FLAGS]
    return flags + rest + args[end:]


def main(argv: list[str] | None = None) -> NoReturn:
    """Run the command line; every exit code comes from here (the table in the README)."""
    argv = _globals_first(list(argv if argv is not None else sys.argv[1:]))
    debug = "--debug" in argv
    signal.signal(signal.SIGTERM, _terminate)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _interrupt)
    try:
        code = app(args=argv, prog_name="manireports", standalone_mode=False)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        typer.echo("Interrupted.", err=True)
        sys.exit(130)
    except typer.TyperException as exc:
        # Usage errors of the parser (unknown option, missing argument): exit 2 like click.
        exc.show()  # type: ignore[attr-defined]
        sys.exit(getattr(exc, "exit_code", 2))
    except ManiReportsError as exc:
        if debug:
            traceback.print_exc()
        typer.echo(f"Error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except BrokenPipeError:
        # The reader (e.g. `| head`) went away: stop quietly, as the Python docs advise.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(1)
    except OSError as exc:
        # Output that cannot be written (a full disk, a device that refuses it): one sentence.
        if debug:
            traceback.print_exc()
        where = f" ({exc.filename})" if exc.filename else ""
        typer.echo(f"Error: cannot write the output{where}: {exc.strerror or exc}.", err=True)
        sys.exit(1)
    except Terminated:
        typer.echo("Stopped by SIGTERM.", err=True)
        sys.exit(143)
    except KeyboardInterrupt:
        typer.echo("Interrupted.", err=True)
        sys.exit(130)
    except Exception as exc:
        if debug:
            traceback.print_exc()
        typer.echo(
            f"Error: unexpected {exc.__class__.__name__}: {exc}. Run again with --debug for "
            "the traceback.",
            err=True,
        )
        sys.exit(1)
    if code == 130 and _SIGNALLED:
        stopped_by_term = _SIGNALLED[0] == signal.SIGTERM
        typer.echo("Stopped by SIGTERM." if stopped_by_term else "Interrupted.", err=True)
        sys.exit(143 if stopped_by_term else 130)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
