"""The manireports command line: parse, call the library, render, map errors to exit codes.

Nothing here computes a report. Each command resolves its options, calls one library function and
hands the result to the export pipeline or to a small renderer. Every error the library raises is
turned into one or two sentences on stderr and the exit code of SPEC section 15; a traceback only
with --debug.
"""

from __future__ import annotations

import io
import json
import os
import sys
import traceback
from collections.abc import Iterable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, BinaryIO, NoReturn

import typer

import manireports
from manireports.config import Config, load_config, mask
from manireports.errors import DatabaseError, InputError, ManiReportsError
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
        if not self.quiet:
            typer.echo(message, err=True)

    def detail(self, message: str) -> None:
        if self.verbose and not self.quiet:
            typer.echo(message, err=True)

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
        help="table, csv, tsv, json, jsonl, xlsx, pdf or html. Default: from -o's extension, "
        "else table on a terminal and csv when piped.",
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
        typer.Option("--config", "-c", help="Configuration file (default: see SPEC section 4)."),
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

    described = StateDB(application.config.get_opt_str("state.url")).describe()
    current, head = described.revision, described.head
    lines.append(f"State database: {described.engine} {described.version} at {described.url}")
    lines.append(
        f"State schema: {'up to date' if current == head else 'behind'} "
        f"(revision {current or 'none'}, needs {head})"
    )
    problems = []
    if site.missing_tables:
        lines.append("Missing Moodle tables: " + ", ".join(site.missing_tables))
        problems.append("Moodle tables are missing")
    if current != head:
        problems.append("the state database needs `manireports db upgrade`")
    _write_text("\n".join(lines) + "\n")
    if problems:
        raise DatabaseError("Not usable yet: " + "; ".join(problems) + ".")


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

    state = StateDB(env.config().get_opt_str("state.url"))
    before, after = state.upgrade()
    if before == after:
        env.say(f"The state database is already at revision {after}.")
    else:
        env.say(f"Upgraded the state database from {before or 'empty'} to revision {after}.")


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
    StateDB(env.config().get_opt_str("state.url")).upgrade()
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
) -> None:
    """List the built-in and custom reports with their parameters.

    Example: manireports reports list --format json
    """
    from manireports.export import Column
    from manireports.reports.builtin import BUILTIN_REPORTS
    from manireports.state import StateDB

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
    state = StateDB(env_of(ctx).config().get_opt_str("state.url"))
    state.require_current()
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
    _export_small("Reports", columns, rows, fmt)


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
        validator=make_validator(application.config, application.moodle),
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
    validator = make_validator(application.config, application.moodle)
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
    from manireports.state import StateDB

    state = StateDB(env_of(ctx).config().get_opt_str("state.url"))
    state.require_current()
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
    _write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


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
        validator=make_validator(application.config, application.moodle),
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
    from manireports.state import StateDB

    env = env_of(ctx)
    state = StateDB(env.config().get_opt_str("state.url"))
    state.require_current()
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
) -> None:
    """Run a report and write it as a table, CSV, TSV, JSON, JSONL, XLSX, PDF or HTML.

    Example: manireports run-report course_completion --param courseid=3 -o completion.csv
    """
    from manireports.reports.params import parse_assignments
    from manireports.reports.run import ReportRequest, prepare_report, run_report

    env = env_of(ctx)
    application = env.app()
    request = ReportRequest(
        report=report,
        params=parse_assignments(param or []),
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
        pdf_max_rows=application.config.get_int("reports.pdf_max_rows"),
        progress=progress,
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
    if outcome.capped:
        typer.echo(
            f"Warning: the report stopped at [reports] max_rows "
            f"({application.config.get_int('reports.max_rows')} rows); the output is incomplete.",
            err=True,
        )
    if output:
        env.detail(f"Wrote {outcome.rows} rows to {output}.")


@app.command("companies")
def companies_command(
    ctx: typer.Context,
    as_user: AsUserOption = None,
    fmt: FormatOption = None,
) -> None:
    """List the IOMAD companies and departments the acting user may see.

    Example: manireports companies --as-user jsmith
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
    _export_small("Companies", columns, rows, fmt)


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
) -> None:
    """List audit log entries, newest first: report runs, refusals, changes.

    Example: manireports audit list --action report_refused --since 2026-11-01
    """
    from zoneinfo import ZoneInfo

    from manireports.export import Column
    from manireports.reports.params import parse_moment
    from manireports.state import list_audit

    application = env_of(ctx).app()
    zone_name = application.config.get_opt_str("site.timezone")
    zone = ZoneInfo(zone_name) if zone_name else ZoneInfo("UTC")
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
            json.dumps(e["details"], ensure_ascii=False, sort_keys=True),
        )
        for e in entries
    )  # fmt: skip
    _export_small("Audit log", columns, rows, fmt, zone)


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
        f"Read {result.events_read} events: {result.sessions_closed} sessions closed, "
        f"{result.sessions_open} open, log watermark {result.watermark}."
    )


@time_app.command("heartbeat")
def time_heartbeat(ctx: typer.Context) -> None:
    """Apply heartbeats read as JSON lines on stdin: {"userid", "courseid", "timestamp"}.

    Example: manireports time heartbeat < heartbeats.jsonl
    """
    from manireports.timetrack import apply_heartbeats

    env = env_of(ctx)
    result = apply_heartbeats(env.app(), sys.stdin.buffer)
    env.detail(f"Applied {result.applied} of {result.lines} heartbeats.")


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
    env.detail(f"Recomputed {result.days} days: {result.rows} daily rows.")


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
    env.detail(f"Deleted {result.sessions_deleted} sessions and rebuilt them from the log.")


@jobs_app.command("aggregate-time")
def jobs_aggregate_time(ctx: typer.Context) -> None:
    """Cron job: time sync, then aggregate (hourly). Exits at once if a run is still going.

    Example: manireports jobs aggregate-time
    """
    from manireports.jobs.lock import JobAlreadyRunning, job_lock

    from manireports.timetrack import aggregate_time

    env = env_of(ctx)
    application = env.app()
    try:
        with job_lock(application.config.lock_dir(), "aggregate-time"):
            synced, aggregated = aggregate_time(application)
    except JobAlreadyRunning:
        env.say("aggregate-time is already running; this run stops here.")
        return
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


def _locked_job(env: Environment, application: App, job: str) -> ExitStack | None:
    """The job's lock, held until the stack closes; None (said on stderr) when already held."""
    from manireports.jobs.lock import JobAlreadyRunning, job_lock

    stack = ExitStack()
    try:
        stack.enter_context(job_lock(application.config.lock_dir(), job))
    except JobAlreadyRunning:
        env.say(f"{job} is already running; this run stops here.")
        return None
    return stack


@jobs_app.command("build-cache")
def jobs_build_cache(ctx: typer.Context) -> None:
    """Cron job: pre-compute the trends, company statistics and SCORM summary (every 6 hours).

    Example: manireports jobs build-cache
    """
    from manireports.reports.prebuild import build_cache

    env = env_of(ctx)
    application = env.app()
    if not application.config.get_bool("cache.enabled"):
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
    if result.files_outside_storage:
        env.detail(f"Kept {result.files_outside_storage} run files outside [storage] dir.")


@cache_app.command("stats")
def cache_stats(ctx: typer.Context, fmt: FormatOption = None) -> None:
    """Entries per report type: how many, how many fresh, their ages and the hit rate.

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
    ]  # fmt: skip
    rows = [
        (s.reporttype, s.entries, s.fresh, s.newest_age, s.oldest_age, s.hits, s.misses,
         s.hit_rate)
        for s in stats
    ]  # fmt: skip
    _export_small("Cache", columns, rows, fmt)


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
    from manireports.state import record_audit

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

    found = export_user(env_of(ctx).app(), user)
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


# --------------------------------------------------------------------------------------------
# Dashboards (SPEC section 12): dashboard [--role|--as-user|--company|--id], dashboard
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
) -> None:
    """Show the dashboard of a role: KPIs, trends, completion by course, courses, learners at risk.

    Example: manireports dashboard --as-user jsmith -o dashboard.html
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
    from rich.columns import Columns
    from rich.console import Console
    from rich.panel import Panel
    from rich.table import Table

    from manireports.dashboard.text import cell_text, delta_text, figure_text

    console = Console(file=stream, no_color=not colour, width=100, highlight=False)
    company = "" if dashboard.company is None else f", company {dashboard.company}"
    console.print(Panel(
        f"For {dashboard.viewer} ({dashboard.role}){company}. Generated {dashboard.generated} "
        f"({dashboard.timezone}).", title=dashboard.title, border_style="blue",
    ))  # fmt: skip
    for notice in dashboard.notices:
        console.print(f"[yellow]Note:[/] {notice}")
    cards = [
        Panel(
            ("Not available" if w.unavailable else f"[bold]{figure_text(w.value, w.unit)}[/]")
            + f"\n[dim]{delta_text(w)}[/]",
            title=w.title, width=32,
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
            console.print(Panel(widget.unavailable or body, title=widget.title))
        elif widget.kind == "table":
            if widget.unavailable:
                console.print(Panel(widget.unavailable, title=widget.title))
                continue
            grid = Table(title=widget.title)
            for name, numeric in zip(widget.columns, widget.numeric, strict=True):
                grid.add_column(name, justify="right" if numeric else "left")
            for row in widget.rows:
                grid.add_row(*(cell_text(value) for value in row))
            console.print(grid)
            if widget.note:
                console.print(f"[dim]{widget.note}[/]")


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
    definition = check_definition(application.state, load_definition(file))
    dashboard_id = save_dashboard(application.state, definition)
    record_audit(application.state, userid=0, action="dashboard_create", objecttype="dashboard",
                 objectid=dashboard_id, details={"title": definition["title"]})  # fmt: skip
    env.say(f"Created the dashboard {definition['title']!r} with id {dashboard_id}.")
    _write_text(f"{dashboard_id}\n")


@dashboard_app.command("list")
def dashboard_list(ctx: typer.Context, fmt: FormatOption = None) -> None:
    """List the custom dashboards.

    Example: manireports dashboard list
    """
    from manireports.dashboard.custom import list_dashboards
    from manireports.export import Column

    application = env_of(ctx).app()
    columns = [Column("id", "int"), Column("title"), Column("company", "int"),
               Column("widgets", "int"), Column("modified", "timestamp")]  # fmt: skip
    _export_small("Dashboards", columns, list_dashboards(application.state), fmt)


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
# Output helpers.


def _write_text(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def _export_small(
    title: str,
    columns: list[Any],
    rows: Iterable[tuple[Any, ...]],
    fmt: str | None,
    zone: Any = None,
) -> None:
    """Listings go through the same export pipeline as reports."""
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from manireports.export import export

    fmt_name = resolve_format(fmt, None, Environment.stdout_is_terminal())
    table = ReportTable(
        title=title,
        columns=columns,
        rows=rows,
        parameters={},
        generated_at=datetime.now(UTC),
        timezone=zone or ZoneInfo("UTC"),
    )
    sys.stdout.flush()
    export(table, fmt_name, sys.stdout.buffer, ExportOptions())


def _write_rich_table(table: ReportTable, stream: BinaryIO, options: ExportOptions) -> int:
    """The `table` format: rich tables on the terminal, in pages so memory stays bounded."""
    from rich.console import Console
    from rich.table import Table

    from manireports.export.values import SiteClock, converters, row_converter

    text = io.TextIOWrapper(stream, encoding="utf-8", write_through=True)
    console = Console(file=text, no_color=not Environment.colour(), soft_wrap=False)
    convert = row_converter(converters(table.columns, "human", SiteClock(table.timezone)))
    count = 0
    page: list[Any] = []

    def flush(title: str | None) -> None:
        grid = Table(title=title)
        for column in table.columns:
            numeric = column.kind in ("int", "float")
            grid.add_column(column.name, justify="right" if numeric else "left")
        for row in page:
            shown = convert(row) if convert else row
            grid.add_row(*("" if value is None else str(value) for value in shown))
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
    if options.progress:
        options.progress(count)
    return count


TABLE_PAGE_ROWS = 500
register_writer("table", _write_rich_table)


# --------------------------------------------------------------------------------------------
# Entry point and the one error table.


def main(argv: list[str] | None = None) -> NoReturn:
    """Run the command line; every exit code comes from here (SPEC section 15)."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        code = app(args=argv, prog_name="manireports", standalone_mode=False)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        typer.echo("Interrupted.", err=True)
        sys.exit(1)
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
    except KeyboardInterrupt:
        typer.echo("Interrupted.", err=True)
        sys.exit(1)
    except Exception as exc:
        if debug:
            traceback.print_exc()
        typer.echo(
            f"Error: unexpected {exc.__class__.__name__}: {exc}. Run again with --debug for "
            "the traceback.",
            err=True,
        )
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
