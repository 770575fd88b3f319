"""What a report is made of (columns, parameters, SQL file, optional Python steps), what a run
of one is asked for, and what it came to.

The request and outcome types live here, beside the report they name, so the cache and the
runner can both use them without importing each other.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import manireports
from manireports.errors import RunError
from manireports.export import Column
from manireports.moodle.detect import SiteInfo
from manireports.reports.params import Param
from manireports.scope import Scope, ScopeColumn

if TYPE_CHECKING:
    from manireports.app import App
    from manireports.reports.catalogue import ReportInfo


@dataclass(frozen=True)
class ReportContext:
    """What a report's Python steps may depend on: the site, its timezone and the moment."""

    site: SiteInfo
    timezone: ZoneInfo
    now: int
    engine: str
    params: dict[str, Any]


Row = tuple[Any, ...]
Producer = Callable[["App", ReportContext, Scope], Iterator[Row]]


@dataclass(frozen=True)
class BuiltinReport:
    """A built-in report.

    Most reports are their SQL alone. Two optional Python steps exist for what SQL cannot say
    portably: `bind` adds parameters computed in Python (month boundaries in the site timezone),
    and `transform` turns the streamed SQL rows into the report's rows (SCORM time formats and
    grading rules); a transform must itself stream, holding at most one group of rows.

    A few reports are not one query over Moodle at all (time_spent reads manireports' own daily
    totals, the analytics reports combine both databases): they have no SQL file and a `produce`
    step that streams their rows and applies the scope it is given itself.

    Scoping needs the user, course or company of each row. Row reports get it
    from their output columns; aggregates and transformed reports put `%%SCOPE%%` in their SQL
    where the condition belongs and say which expressions carry those values.
    """

    name: str
    title: str
    description: str
    columns: tuple[Column, ...]
    params: tuple[Param, ...] = ()
    needs: frozenset[str] = field(default_factory=frozenset)
    bind: Callable[[ReportContext], dict[str, Any]] | None = None
    transform: Callable[[Iterator[Row], ReportContext], Iterator[Row]] | None = None
    # Where the scope condition goes: SQL that writes `%%SCOPE%%` names here the expressions
    # carrying the user, course and company; other reports are wrapped over their output columns.
    scope_columns: Mapping[ScopeColumn, str] = field(default_factory=dict)
    # Custom reports carry their SQL here instead of a file in sql/, and their id; their columns
    # are left empty and discovered from the result at run time.
    sql_text: str | None = None
    custom_id: int | None = None
    produce: Producer | None = None
    # Reports whose columns depend on a parameter (analytics' --explain) choose them per run.
    columns_for: Callable[[ReportContext], tuple[Column, ...]] | None = None

    @classmethod
    def of(
        cls,
        info: ReportInfo,
        *,
        columns: tuple[Column, ...] | None = None,
        bind: Callable[[ReportContext], dict[str, Any]] | None = None,
        transform: Callable[[Iterator[Row], ReportContext], Iterator[Row]] | None = None,
        scope_columns: Mapping[ScopeColumn, str] | None = None,
        produce: Producer | None = None,
        columns_for: Callable[[ReportContext], tuple[Column, ...]] | None = None,
    ) -> BuiltinReport:
        """The built-in report the catalogue describes as `info`, with its Python steps.

        `columns` is given by the reports whose rows another module builds (analytics, time
        tracking), which owns their columns; the catalogue's copy must equal them.
        """
        return cls(
            name=info.name,
            title=info.title,
            description=info.description,
            columns=info.columns if columns is None else columns,
            params=info.params,
            needs=info.needs,
            bind=bind,
            transform=transform,
            scope_columns=scope_columns or {},
            produce=produce,
            columns_for=columns_for,
        )

    def run_columns(self, context: ReportContext) -> tuple[Column, ...]:
        return self.columns_for(context) if self.columns_for is not None else self.columns

    def sql(self) -> str:
        return self.sql_text if self.sql_text is not None else read_sql_file(self.name)


# A line `-- include NAME` in a report file stands for sql/include/NAME.sql, so a rule several
# reports apply (who counts as a tracked learner) is written once.
_INCLUDE = re.compile(r"^[ \t]*--[ \t]*include[ \t]+([a-z][a-z0-9_]*)[ \t]*$", re.M)


def read_sql_file(name: str) -> str:
    """A built-in report's SQL from sql/, its includes written in."""
    return _INCLUDE.sub(lambda match: _read_part(f"include/{match.group(1)}"), _read_part(name))


def _read_part(name: str) -> str:
    """A file of sql/: beside the package in a checkout, inside it installed."""
    for base in manireports.__path__:
        path = Path(base) / "sql" / f"{name}.sql"
        if path.is_file():
            return path.read_text(encoding="utf-8").rstrip("\n")
    raise RunError(f"The SQL file {name}.sql is missing from this installation.")


@dataclass(frozen=True)
class ReportRequest:
    report: str
    params: Mapping[str, str] = field(default_factory=dict)
    as_of: str | None = None
    # The moment of a run without --as-of when the caller has fixed it: a dashboard's runs are
    # all as of the moment the dashboard was asked for. None is the clock at the run's start.
    moment: int | None = None
    limit: int | None = None
    as_user: str | None = None
    company: int | None = None
    # The reporting period of a scheduled run, for %%STARTTIME%% and %%ENDTIME%%.
    period: tuple[int, int] | None = None
    # False (--no-cache) recomputes a cached report and refreshes its entry.
    use_cache: bool = True


@dataclass(frozen=True)
class PreparedReport:
    """A report ready to run: the SQL the database will see and its bound parameters."""

    report: BuiltinReport
    sql: str
    params: dict[str, Any]
    given: dict[str, str]
    now: int
    context: ReportContext
    scope: Scope


@dataclass
class RunOutcome:
    rows: int
    path: Path | None
    runid: int
    capped: bool = False
