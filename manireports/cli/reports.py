"""reports list|create|validate|show|update|delete, run-report and companies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, BinaryIO

import typer

from manireports.cli.environment import env_of
from manireports.cli.options import (
    AsUserOption,
    CompanyOption,
    FormatOption,
    OutputOption,
    ParamOption,
    PeriodOption,
)
from manireports.cli.output import export_small, progress_printer, site_dates, write_text
from manireports.cli.periods import period_window
from manireports.errors import InputError
from manireports.export import ExportOptions, resolve_format

reports_app = typer.Typer(help="List, create, validate and change reports.", no_args_is_help=True)


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
    from manireports.reports.catalogue import CATALOGUE

    rows: list[tuple[Any, ...]] = [
        (
            report.name,
            None,
            "built-in",
            report.description,
            ", ".join(f"{p.name} ({p.kind}): {p.help}" for p in report.params),
            ", ".join(c.name for c in report.columns),
        )
        for report in CATALOGUE.values()
    ]
    state = env_of(ctx).app().state
    from manireports.reports.operator.custom import list_custom_reports

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
    export_small("Reports", columns, rows, fmt, output=output, ctx=ctx)


SqlFileOption = Annotated[
    Path | None, typer.Option("--sql-file", help="SQL in Moodle's conventions ({table}, :param).")
]
ConfigFileOption = Annotated[
    Path | None,
    typer.Option("--config-file", help="A report built from a JSON or TOML description."),
]


def _read_definition(sql_file: Path | None, config_file: Path | None) -> tuple[str | None, Any]:
    from manireports.reports.operator.configured import load_report_config

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
    from manireports.reports.operator.custom import save_custom_report
    from manireports.sqlcheck.site import make_validator

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
    write_text(f"{report_id}\n")


@reports_app.command("validate")
def reports_validate(
    ctx: typer.Context,
    sql_file: SqlFileOption = None,
    config_file: ConfigFileOption = None,
) -> None:
    """Check custom SQL or a report description without saving it; exit 2 when it is refused.

    Example: manireports reports validate --sql-file logins.sql
    """
    from manireports.reports.operator.custom import check_report_config
    from manireports.sqlcheck.site import make_validator

    env = env_of(ctx)
    application = env.app()
    sql, config = _read_definition(sql_file, config_file)
    validator = make_validator(application.config, application.moodle, env.say)
    if sql is not None:
        checked = validator(sql)
        tables = ", ".join(sorted(checked.tables)) or "none"
        params = ", ".join(checked.parameters) or "none"
        write_text(f"Valid. Tables: {tables}. Parameters: {params}.\n")
    elif config is not None:
        built = check_report_config(config, validator)
        write_text(f"Valid. Columns: {', '.join(c.name for c in built.columns)}.\n")
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
    from manireports.reports.operator.custom import require_custom_report

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
    shown = site_dates(data, env_of(ctx).app().timezone)
    write_text(json.dumps(shown, indent=2, ensure_ascii=False) + "\n")


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
    from manireports.reports.operator.custom import require_custom_report, update_custom_report
    from manireports.sqlcheck.site import make_validator

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
    from manireports.reports.operator.custom import delete_custom_report, require_custom_report

    env = env_of(ctx)
    state = env.app().state
    record = require_custom_report(state, report)
    delete_custom_report(state, record.id)
    env.say(f"Deleted the custom report {record.name!r} ({record.id}).")


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
        window = period_window(application, report, period, params, as_of)
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
        write_text(sql + "\n-- parameters: " + json.dumps(prepared.params, sort_keys=True) + "\n")
        return
    fmt_name = resolve_format(fmt, str(output) if output else None, env.stdout_is_terminal)
    progress = progress_printer(env)
    options = ExportOptions(
        bom=bom,
        pdf_max_rows=application.settings.reports.pdf_max_rows,
        progress=progress,
        formula_guard=output is not None and application.settings.export.csv_formula_guard,
        warn=env.warn,
        pdf_fonts=application.settings.export.pdf_fonts,
    )
    destination: Path | BinaryIO = output if output else env.stdout_binary
    env.stdout.flush()
    try:
        outcome = run_report(
            application, request, fmt=fmt_name, destination=destination, options=options
        )
    finally:
        if progress:
            progress.finish()
    if outcome.rows == 0 and request.report == "time_spent":
        from manireports.reports.steps.timespent import NOT_TRACKED_YET, time_tracking_has_run

        if not time_tracking_has_run(application):
            typer.echo(NOT_TRACKED_YET, file=env.stderr)
    if outcome.capped:
        typer.echo(
            f"Warning: the report stopped at [reports] max_rows "
            f"({application.settings.reports.max_rows} rows); the output is incomplete.",
            file=env.stderr,
        )
    if output:
        env.detail(f"Wrote {outcome.rows} rows to {output}.")


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
    export_small("Companies", columns, rows, fmt, output=output, ctx=ctx)
