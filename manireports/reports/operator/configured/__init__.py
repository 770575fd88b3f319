"""Config-built reports, the "GUI builder": a JSON or TOML description turned
into one SQLAlchemy Core query by manireports itself. docs/config-reports.md is the reference.

A report configuration names a source, the fields to show, filters, grouping, sorting and a limit:

    source = "enrolments"
    columns = ["course_shortname", { field = "enrol_method", label = "Method" }]
    group_by = ["course_shortname", "enrol_method"]
    aggregates = [{ fn = "count_distinct", field = "userid", as = "learners" }]
    filters = [{ field = "enrolled", op = ">=", value = "2026-01-01" },
               { field = "enrol_method", op = "in", values = ["manual", "self"] }]
    sort = [{ field = "learners", dir = "desc" }]
    limit = 20

Safe by construction: every table, join and expression comes from the catalogue (catalogue.py),
built as SQLAlchemy expressions over Moodle's tables with the site's prefix, and compiled for the
Moodle database's dialect; a configuration only picks catalogue entries by name, and filter values
are bound parameters. The query is therefore not parsed like custom SQL, but the [reports] deny
and allow lists still apply to the tables and columns it reads (sqlcheck.site), at creation and
at every run.

Choices worth knowing (docs/config-reports.md says them to operators):
- Deleted users are left out of every source; the users source also leaves out the guest account,
  the courses source the site front page. quiz_attempts leaves out teachers' previews.
- A Moodle time of 0 means "never" or "no limit" (an enrolment without end, a course not
  completed); such fields read as empty, so `timeend is null` finds enrolments without end and
  `timeend < 2026-01-01` does not.
- A date without a time on a time field means that whole day in the site timezone: `= 2026-01-31`
  is any time that day, `<= 2026-01-31` includes it, `> 2026-01-31` starts the next day, and
  `between [2026-01-01, 2026-01-31]` covers both days in full. "YYYY-MM-DD HH:MM[:SS]" is that
  moment; a whole number is a Unix time.
- `like` ignores case; `%` matches any text and `_` one character (there is no escape character
  that works the same on every database, so they cannot be searched for literally).
- Filters are combined with AND; they apply to rows before grouping.
- Empty values sort last, ascending or descending, on every database.
- The activities source has one row per activity and user with a completion record; an activity
  nobody has a completion record for has one row with empty user fields. `activity_completed`
  counts states 1 (complete) and 2 (complete, pass), as Moodle's course progress does.
- `percent` is the share of a group's rows whose yes/no field is true, among the rows where it
  is not empty, from 0 to 100 with one decimal.
- Formats (formats.py) change values after the query, so sorting and grouping use raw values.
- Config-built reports take no --param: every value is in the configuration. The scope of
  `--as-user` is applied inside the query, before grouping and the limit, so a
  manager's counts count only the users they may see.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from manireports.reports.operator.configured.catalogue import SOURCES, Field, Source
from manireports.reports.operator.configured.checks import CONFIG_KEYS
from manireports.reports.operator.configured.formats import FORMATS, Format, row_formatter
from manireports.reports.operator.configured.loading import load_report_config
from manireports.reports.operator.configured.query import (
    AGGREGATES,
    MAX_LIMIT,
    OPS,
    SOURCE_ALIASES,
    ConfiguredQuery,
    build_configured_sql,
)
from manireports.reports.spec import BuiltinReport, ReportContext, Row
from manireports.sqlcheck.site import check_reads

if TYPE_CHECKING:
    from manireports.sqlcheck.site import SqlValidator

__all__ = [
    "AGGREGATES",
    "CONFIG_KEYS",
    "FORMATS",
    "MAX_LIMIT",
    "OPS",
    "SOURCES",
    "SOURCE_ALIASES",
    "ConfiguredQuery",
    "Field",
    "Format",
    "Source",
    "build_configured_sql",
    "check_configured",
    "configured_report_spec",
    "load_report_config",
]


def check_configured(
    cfg: Mapping[str, Any], validator: SqlValidator, *, scope_marker: bool = False
) -> ConfiguredQuery:
    """Build a configuration for the validator's Moodle database and hold it to the [reports]
    lists of this moment; raises InputError (SQLRejectedError for the lists) naming the key."""
    query = build_configured_sql(
        cfg, engine=validator.engine, prefix=validator.policy.prefix, scope_marker=scope_marker
    )
    check_reads(query.reads, f"source {query.source}", validator.policy, validator.known_tables())
    return query


def configured_report_spec(
    cfg: Mapping[str, Any],
    validator: SqlValidator,
    *,
    name: str | None = None,
    description: str | None = None,
    custom_id: int | None = None,
) -> BuiltinReport:
    """A config-built report as the report runner runs it (`custom_id` is its stored id).

    Checked against the [reports] lists of this run (they may have changed since it was saved),
    with `%%SCOPE%%` where the scope condition goes. The filter values are not Param defaults
    (they are not --param options): `bind` computes them when the report runs, so dates are read
    in the site timezone of that run and `now` is its --as-of.
    """
    title = name or "configured report"
    query = check_configured(cfg, validator, scope_marker=True)
    engine, prefix = validator.engine, validator.policy.prefix

    def bind(context: ReportContext) -> dict[str, Any]:
        return build_configured_sql(
            cfg, engine=engine, prefix=prefix, timezone=context.timezone, now=context.now
        ).params

    formatter = row_formatter(query.formats)

    def transform(rows: Iterator[Row], context: ReportContext) -> Iterator[Row]:
        assert formatter is not None
        return formatter(rows, context.timezone)

    return BuiltinReport(
        name=title,
        title=title,
        description=description or "",
        columns=tuple(query.columns),
        params=(),
        bind=bind,
        transform=None if formatter is None else transform,
        scope_columns=query.scope_columns,
        sql_text=query.sql,
        custom_id=custom_id,
    )
