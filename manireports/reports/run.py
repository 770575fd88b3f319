"""Running a report: resolve it, bind its parameters, stream its rows, record the run.

Every path that reads report rows (the command line, schedules, dashboards, `jobs build-cache`,
`jobs scorm-summary`, reminders) goes through `open_report`, so every run is bound, scoped,
cached and capped the same way and recorded in manireports_report_runs and the audit log whether
it succeeds or fails. `run_report` is `open_report` written into an export.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from operator import itemgetter
from pathlib import Path
from typing import Any, BinaryIO

from manireports.app import App
from manireports.errors import InputError, PermissionDeniedError, RunError
from manireports.export import Column, ColumnKind, ExportOptions, ReportTable, export
from manireports.reports.builtin import BUILTIN_REPORTS
from manireports.reports.caching import ReportCache, report_cache
from manireports.reports.operator.custom import fill_tokens, get_custom_report, report_spec
from manireports.reports.params import bind_params, parse_moment
from manireports.reports.spec import (
    BuiltinReport,
    PreparedReport,
    ReportContext,
    ReportRequest,
    Row,
    RunOutcome,
)
from manireports.scope import Scope, ScopeColumn, resolve_scope, scope_condition, wrap_query
from manireports.sqlcheck import SQLRejectedError
from manireports.sqlcheck.site import SCOPE_MARKER, make_validator
from manireports.sqltext import expand_tables, render_sql
from manireports.state import finish_run, record_audit, start_run

# The shell operator is trusted as a site admin; runs record them as user 0.
OPERATOR = 0


__all__ = [
    "OPERATOR",
    "PreparedReport",
    "ReportRequest",
    "ReportRows",
    "RunOutcome",
    "open_report",
    "prepare_report",
    "run_report",
]


def find_report(app: App, name: str) -> BuiltinReport:
    """A built-in report by name, else a custom report by id or name (validated again now)."""
    report = BUILTIN_REPORTS.get(name)
    if report is not None:
        return report
    record = get_custom_report(app.state, name)
    if record is None:
        raise InputError(
            f"There is no report called {name!r}; `manireports reports list` shows the reports."
        )
    return report_spec(record, make_validator(app.config, app.moodle, app.notice))


def prepare_report(app: App, request: ReportRequest) -> PreparedReport:
    """Check the request against the report and the site, and render its SQL."""
    report = find_report(app, request.report)
    site = app.site
    missing = sorted(report.needs - site.flags)
    if missing:
        raise InputError(
            f"The report {report.name} needs {', '.join(missing)}, which this Moodle lacks."
        )
    tz = app.timezone
    now = app.now() if request.moment is None else request.moment
    if request.as_of is not None:
        now = parse_moment(request.as_of, tz, what="--as-of")
    if request.limit is not None and request.limit < 0:
        raise InputError("--limit must be zero or a positive number of rows.")
    params = bind_params(report.params, request.params, tz, report.name)
    params["now"] = now
    engine = app.moodle.engine_name
    context = ReportContext(site=site, timezone=tz, now=now, engine=engine, params=params)
    if report.bind is not None:
        params.update(report.bind(context))
    scope = resolve_scope(app.moodle, site, request.as_user, request.company)
    prefix, aliases = app.moodle.prefix, site.table_aliases()
    if report.produce is not None:
        sql = ""
    elif report.custom_id is None:
        sql = apply_scope(report.sql(), report, scope, [c.name for c in report.columns])
        flags = set(site.flags) | {engine} | {f":{name}" for name in request.params}
        sql = render_sql(sql, prefix, flags, aliases)
    else:
        # Custom SQL was validated as written: its tokens are filled and its tables prefixed, but
        # no `-- if` line of it is touched, so what runs is what was checked.
        start, end = request.period if request.period else (None, None)
        actor = scope.actor.userid or 0
        sql = fill_tokens(report.sql(), start=start, end=end, userid=actor, now=now)
        names = [c.name for c in report.columns]
        if scope.restricted and not report.scope_columns and not names:
            names = app.moodle.column_names(expand_tables(sql, prefix, aliases), params)
        sql = apply_scope(sql, report, scope, names, engine, app.notice)
        sql = expand_tables(sql, prefix, aliases)
    return PreparedReport(report, sql, params, dict(request.params), now, context, scope)


def apply_scope(
    sql: str,
    report: BuiltinReport,
    scope: Scope,
    output: list[str],
    engine: str | None = None,
    notice: Callable[[str], None] | None = None,
) -> str:
    """Put the scope condition where the report's SQL asks for it, or wrap the whole query.

    Only reports that name their scope expressions use the marker; any other query (custom SQL
    above all) is wrapped, so text in it can never stand in for the condition.
    """
    what = f"The report {report.name}"
    if report.scope_columns:
        condition = scope_condition(scope, report.scope_columns, what)
        return sql.replace(SCOPE_MARKER, condition or "1 = 1")
    carried = [name for name in ("userid", "courseid", "companyid") if name in output]
    columns: dict[ScopeColumn, str] = {name: f"r.{name}" for name in carried}
    return wrap_query(sql, scope_condition(scope, columns, what), output, engine, notice)


@dataclass
class ReportRows:
    """An open report run: its columns and its rows, to be read inside `open_report`'s block.

    `count` and `capped` are known once the block has ended: the rows the reader took, and
    whether more were left at `[reports] max_rows`.
    """

    prepared: PreparedReport
    runid: int
    columns: tuple[Column, ...]
    rows: Iterator[Row]
    # The cache outcome recorded with the run: hit, miss, refresh, or None (not cached).
    cache: str | None
    count: int = 0
    capped: bool = False
    # Where an export wrote the rows, recorded with the run.
    outputpath: Path | None = None


@contextmanager
def open_report(
    app: App,
    request: ReportRequest,
    *,
    fmt: str | None = None,
    output: Path | None = None,
    purpose: str | None = None,
) -> Iterator[ReportRows]:
    """Run one report and yield its columns and rows; record the run and its audit entry.

    The rows stream from Moodle (or Python, or a fresh cache entry) as the block reads them; a
    cached report's rows are kept as they pass and stored when the block ends after reading them
    all. At most `--limit` and `[reports] max_rows` rows come out. The run is recorded as it
    starts and finished when the block ends: completed with the rows read, or failed with the
    error that ended it, which is raised again.

    `fmt` and `output` say where an export writes the rows; `purpose` names what else reads
    them (a dashboard, a job), for the run record and the audit log.
    """
    state = app.state
    details: dict[str, Any] = {"report": request.report, "params": dict(request.params)}
    details.update({"format": fmt, "as_of": request.as_of, "as_user": request.as_user})
    details["company"] = request.company
    if purpose is not None:
        details["for"] = purpose
    try:
        prepared = prepare_report(app, request)
    except (PermissionDeniedError, SQLRejectedError) as refusal:
        record_audit(
            state,
            userid=OPERATOR,
            action="report_refused",
            objecttype="report",
            details={**details, "reason": str(refusal)},
        )
        raise
    report = prepared.report
    cache = report_cache(app, prepared, request)
    details["cache"] = None if cache is None else cache.outcome
    runid = start_run(
        state,
        report=report.name,
        reportid=report.custom_id,
        userid=OPERATOR,
        acting_userid=prepared.scope.actor.userid,
        # Where the file goes, known before it is written: `jobs cleanup` finds the temporary
        # file of a run that was killed there.
        params=details if output is None else {**details, "output": str(output)},
        format=fmt,
    )
    cap = app.settings.reports.max_rows
    take = cap if request.limit is None else min(cap, request.limit)
    # Whether a row left over means the cap stopped the run (rather than --limit).
    check = request.limit is None or request.limit > cap
    # Counted in C as the rows pass: a report of millions of rows pays nothing per row for it.
    counter = itertools.count()
    try:
        with _report_rows(app, prepared, cache) as (columns, source):
            opened = ReportRows(prepared, runid, columns, iter(()), details["cache"])
            taken = map(itemgetter(0), zip(itertools.islice(source, take), counter, strict=False))

            def rows() -> Iterator[Row]:
                yield from taken
                if check:
                    opened.capped = next(source, None) is not None

            opened.rows = rows()
            yield opened
        if cache is not None:
            cache.store_kept()
    except (Exception, KeyboardInterrupt) as exc:
        message = str(exc) or exc.__class__.__name__
        finish_run(state, runid, status="failed", rowcount=None, error=message)
        refused = isinstance(exc, PermissionDeniedError)
        record_audit(
            state,
            userid=OPERATOR,
            action="report_refused" if refused else "report_failed",
            objecttype="report",
            objectid=runid,
            details={**details, "error": message},
        )
        raise
    opened.count = next(counter)
    error = f"stopped at [reports] max_rows = {cap} rows" if opened.capped else None
    path = opened.outputpath
    finish_run(
        state,
        runid,
        status="completed",
        rowcount=opened.count,
        error=error,
        outputpath=None if path is None else str(path),
    )
    record_audit(
        state,
        userid=OPERATOR,
        action="report_run",
        objecttype="report",
        objectid=runid,
        details={**details, "rows": opened.count, "capped": opened.capped},
    )


def run_report(
    app: App,
    request: ReportRequest,
    *,
    fmt: str,
    destination: Path | BinaryIO,
    options: ExportOptions,
) -> RunOutcome:
    """Run one report into one destination and record it; the caller maps errors to exits."""
    output = destination if isinstance(destination, Path) else None
    with open_report(app, request, fmt=fmt, output=output) as opened:
        prepared = opened.prepared
        table = ReportTable(
            title=prepared.report.title,
            columns=opened.columns,
            rows=opened.rows,
            parameters=_display_parameters(prepared, app),
            generated_at=datetime.fromtimestamp(app.now(), app.timezone),
            timezone=app.timezone,
        )
        result = export(table, fmt, destination, options)
        opened.outputpath = result.path
    return RunOutcome(rows=opened.count, path=result.path, runid=opened.runid, capped=opened.capped)


@contextmanager
def _report_rows(
    app: App, prepared: PreparedReport, cache: ReportCache | None
) -> Iterator[tuple[tuple[Column, ...], Iterator[Row]]]:
    """The report's columns and rows: from a fresh cache entry, produced in Python, or streamed
    from Moodle (and kept for the cache when the report is cached)."""
    report = prepared.report
    if cache is not None and cache.rows is not None:
        yield report.columns, iter(cache.rows)
        return
    if report.produce is not None:
        columns = report.run_columns(prepared.context)
        yield columns, report.produce(app, prepared.context, prepared.scope)
        return
    # The rows may be what the next reader asks for (the at-risk learners a viewer sees are
    # course_progress's rows as that viewer): inside a handing_over block they are kept for it.
    with app.moodle.stream(prepared.sql, prepared.params, keep=True) as stream:
        source: Iterator[Row] = stream.rows
        columns = report.columns
        if report.transform is not None:
            source = report.transform(source, prepared.context)
        if not columns:
            columns, source = discover_columns(stream.columns, source)
        elif report.transform is None and stream.columns != [column.name for column in columns]:
            raise RunError(
                f"The SQL of {report.name} returns {stream.columns}, not the documented "
                f"columns {[column.name for column in columns]}; the installation is damaged."
            )
        if cache is not None:
            source = cache.keep(source)
        yield columns, source


def discover_columns(
    names: list[str], rows: Iterator[tuple[Any, ...]]
) -> tuple[tuple[Column, ...], Iterator[tuple[Any, ...]]]:
    """Columns of a custom report, typed from its first row: numbers stay numbers in XLSX/JSON.

    Unix times cannot be told from other integers, so custom report times come out as numbers;
    their SQL can format them (FROM_UNIXTIME, to_timestamp) where a date is wanted.
    """
    first = next(rows, None)
    kinds: list[ColumnKind] = []
    for index, _name in enumerate(names):
        value = None if first is None else first[index]
        if isinstance(value, bool):
            kinds.append("bool")
        elif isinstance(value, int):
            kinds.append("int")
        elif isinstance(value, (float, Decimal)):
            kinds.append("float")
        else:
            kinds.append("text")
    columns = tuple(Column(name, kind) for name, kind in zip(names, kinds, strict=True))
    if first is None:
        return columns, rows
    return columns, itertools.chain([first], rows)


def _display_parameters(prepared: PreparedReport, app: App) -> dict[str, str]:
    shown = dict(prepared.given)
    shown["as of"] = datetime.fromtimestamp(prepared.now, app.timezone).strftime(
        "%Y-%m-%d %H:%M:%S %Z"
    )
    return shown
