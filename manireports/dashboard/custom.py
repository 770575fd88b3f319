"""Custom dashboards: a title and a list of widgets, each a KPI, chart or table over a report.

The file format (TOML or JSON) is documented in docs/dashboards.md. A definition is checked as a
whole before anything is stored, and every error names the widget and the key, so an operator can
fix the file in one go. Stored definitions live in manireports_dashboards (title, description,
company, the normalised definition as JSON) and manireports_dashboard_widgets (one row per widget,
in order); the widget rows are what is rendered.

Widgets read their report through the report runner as the viewer, like the built-in dashboards:
a custom dashboard cannot show more than `run-report` would show the same person.
"""

from __future__ import annotations

import json
import time
from array import array
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from statistics import fmean
from typing import Any

import sqlalchemy as sa

from manireports.dashboard.model import Chart, Kpi, Series, Table, Widget
from manireports.dashboard.sources import Sources
from manireports.documents import read_document, unknown_keys
from manireports.errors import InputError
from manireports.reports.builtin import BUILTIN_REPORTS
from manireports.reports.collect import Record
from manireports.reports.operator.custom import get_custom_report
from manireports.state.store import StateDB, transaction
from manireports.state.tables import dashboard_widgets, dashboards

WIDGET_TYPES = ("kpi", "line", "bar", "pie", "table")
KPI_AGGREGATES = ("count", "sum", "avg", "min", "max", "count_true", "distinct", "last")
CHART_AGGREGATES = ("sum", "avg", "count")
WIDTHS = (3, 4, 6, 8, 12)
DEFAULT_WIDTH = {"kpi": 3, "line": 6, "bar": 6, "pie": 6, "table": 12}
MAX_WIDGETS = 40
MAX_TABLE_ROWS = 1000
TOP_KEYS = ("title", "description", "company", "widgets")
KEYS = {
    "kpi": ("column", "aggregate"),
    "line": ("x", "y", "aggregate", "limit"),
    "bar": ("x", "y", "aggregate", "limit"),
    "pie": ("x", "y", "aggregate", "limit"),
    "table": ("columns", "sort", "descending", "limit"),
}
COMMON_KEYS = ("type", "title", "report", "params", "width")


@dataclass(frozen=True)
class DashboardDefinition:
    id: int
    title: str
    description: str | None
    company: int | None
    widgets: list[dict[str, Any]]
    timecreated: int
    timemodified: int


def load_definition(path: Path) -> dict[str, Any]:
    """A definition file (.toml or .json) as a dict, not yet checked."""
    return read_document(path, "dashboard definition", "a title and a list of widgets")


def check_definition(
    state: StateDB, document: Mapping[str, Any], source: Path | None = None
) -> dict[str, Any]:
    """The definition normalised (defaults filled in), or InputError listing every problem and
    naming the file it was read from (`source`)."""
    problems: list[str] = []
    unknown = unknown_keys(document, TOP_KEYS, "the definition")
    if unknown:
        problems.append(unknown)
    title = document.get("title")
    if not isinstance(title, str) or not title.strip():
        problems.append("`title` must be non-empty text")
    description = document.get("description")
    if description is not None and not isinstance(description, str):
        problems.append("`description` must be text")
    company = document.get("company")
    if company is not None and (not isinstance(company, int) or isinstance(company, bool)):
        problems.append("`company` must be a company id (a whole number)")
    widgets = document.get("widgets")
    checked: list[dict[str, Any]] = []
    if not isinstance(widgets, list) or not widgets:
        problems.append("`widgets` must be a non-empty list of widgets ([[widgets]] in TOML)")
    elif len(widgets) > MAX_WIDGETS:
        problems.append(f"at most {MAX_WIDGETS} widgets, not {len(widgets)}")
    else:
        for number, widget in enumerate(widgets, start=1):
            checked.append(_check_widget(state, widget, f"widget {number}", problems))
    if problems:
        named = "The dashboard definition" + (f" {source}" if source else "")
        raise InputError(f"{named} is refused: " + "; ".join(problems) + ".")
    assert isinstance(title, str)
    return {
        "title": title.strip(),
        "description": description,
        "company": company,
        "widgets": checked,
    }


def _check_widget(state: StateDB, widget: Any, where: str, problems: list[str]) -> dict[str, Any]:
    if not isinstance(widget, dict):
        problems.append(f"{where} must be a table of keys, not {type(widget).__name__}")
        return {}
    kind = widget.get("type")
    if kind not in WIDGET_TYPES:
        problems.append(f"{where}: `type` must be one of {', '.join(WIDGET_TYPES)}")
        return {}
    unknown = unknown_keys(widget, (*COMMON_KEYS, *KEYS[kind]), f"{where}, a {kind} widget")
    if unknown:
        problems.append(unknown)
    report = widget.get("report")
    if not isinstance(report, str) or not report.strip():
        problems.append(f"{where}: `report` must name a report")
        return {}
    columns = _report_columns(state, report, where, problems)
    params = widget.get("params", {})
    if not isinstance(params, dict) or not all(
        isinstance(v, str | int | float) and not isinstance(v, bool) for v in params.values()
    ):
        problems.append(f"{where}: `params` must map parameter names to text or numbers")
        params = {}
    width = widget.get("width", DEFAULT_WIDTH[kind])
    if width not in WIDTHS:
        problems.append(f"{where}: `width` must be one of {', '.join(map(str, WIDTHS))} columns")
    title = widget.get("title", report)
    if not isinstance(title, str) or not title.strip():
        problems.append(f"{where}: `title` must be non-empty text")
    result: dict[str, Any] = {
        "type": kind,
        "title": str(title).strip(),
        "report": report,
        "params": {str(k): str(v) for k, v in params.items()},
        "width": width,
    }

    def column(key: str, value: Any) -> None:
        if not isinstance(value, str) or not value:
            problems.append(f"{where}: `{key}` must name a column of {report}")
        elif columns is not None and value not in columns:
            problems.append(
                f"{where}: {report} has no column {value!r} for `{key}` "
                f"(its columns: {', '.join(columns)})"
            )

    if kind == "kpi":
        aggregate = widget.get("aggregate", "count")
        if aggregate not in KPI_AGGREGATES:
            problems.append(f"{where}: `aggregate` must be one of {', '.join(KPI_AGGREGATES)}")
        if aggregate != "count" or "column" in widget:
            column("column", widget.get("column"))
        result |= {"aggregate": aggregate, "column": widget.get("column")}
    elif kind in ("line", "bar", "pie"):
        column("x", widget.get("x"))
        ys = widget.get("y", [])
        ys = [ys] if isinstance(ys, str) else ys
        if not isinstance(ys, list) or (kind == "pie" and len(ys) > 1):
            problems.append(
                f"{where}: `y` must be a column"
                + ("" if kind == "pie" else " or a list of columns")
            )
            ys = []
        for name in ys:
            column("y", name)
        aggregate = widget.get("aggregate", "sum" if ys else "count")
        if aggregate not in CHART_AGGREGATES or (aggregate != "count" and not ys):
            problems.append(
                f"{where}: `aggregate` must be one of {', '.join(CHART_AGGREGATES)}, and needs "
                "`y` unless it is count"
            )
        limit = _limit(widget, where, problems, default=None)
        result |= {"x": widget.get("x"), "y": ys, "aggregate": aggregate, "limit": limit}
    else:
        shown = widget.get("columns")
        if shown is not None:
            if not isinstance(shown, list) or not shown:
                problems.append(f"{where}: `columns` must be a non-empty list of columns")
                shown = None
            else:
                for name in shown:
                    column("columns", name)
        if "sort" in widget:
            column("sort", widget["sort"])
        descending = widget.get("descending", False)
        if not isinstance(descending, bool):
            problems.append(f"{where}: `descending` must be true or false")
        result |= {
            "columns": shown,
            "sort": widget.get("sort"),
            "descending": descending,
            "limit": _limit(widget, where, problems, default=50),
        }
    return result


def _limit(
    widget: Mapping[str, Any], where: str, problems: list[str], default: int | None
) -> int | None:
    limit = widget.get("limit", default)
    if limit is not None and (
        not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_TABLE_ROWS
    ):
        problems.append(f"{where}: `limit` must be a whole number from 1 to {MAX_TABLE_ROWS}")
        return default
    return limit


def _report_columns(
    state: StateDB, report: str, where: str, problems: list[str]
) -> list[str] | None:
    """The report's columns, None when they are known only when it runs (custom SQL)."""
    builtin = BUILTIN_REPORTS.get(report)
    if builtin is not None:
        return [c.name for c in builtin.columns]
    if get_custom_report(state, report) is None:
        problems.append(
            f"{where}: there is no report called {report!r} (`manireports reports list`)"
        )
    return None


# --------------------------------------------------------------------------------------------
# Storage.


def save_dashboard(state: StateDB, definition: Mapping[str, Any], *, createdby: int = 0) -> int:
    now = int(time.time())
    with transaction(state) as connection:
        inserted = connection.execute(
            sa.insert(dashboards).values(
                name=definition["title"],
                description=definition["description"],
                scope="company" if definition["company"] is not None else "global",
                companyid=definition["company"],
                layoutjson=json.dumps(definition, ensure_ascii=False),
                createdby=createdby,
                timecreated=now,
                timemodified=now,
            )
        )
        key = inserted.inserted_primary_key
        assert key is not None
        dashboard_id = int(key[0])
        store_widgets(connection, dashboard_id, definition)
    return dashboard_id


def store_widgets(connection: sa.Connection, dashboard_id: int, definition: Any) -> None:
    """One row per widget, in the definition's order, beside the stored layout."""
    connection.execute(
        sa.insert(dashboard_widgets),
        [
            {
                "dashboardid": dashboard_id,
                "widgettype": widget["type"],
                "title": widget["title"],
                "position": position,
                "configjson": json.dumps(widget, ensure_ascii=False),
            }
            for position, widget in enumerate(definition["widgets"])
        ],
    )


def list_dashboards(state: StateDB) -> list[tuple[int, str, int | None, int, int]]:
    """(id, title, company, widgets, timemodified) of every custom dashboard, by id."""
    count = (
        sa.select(sa.func.count())
        .where(dashboard_widgets.c.dashboardid == dashboards.c.id)
        .scalar_subquery()
    )
    query = sa.select(
        dashboards.c.id,
        dashboards.c.name,
        dashboards.c.companyid,
        count,
        dashboards.c.timemodified,
    ).order_by(dashboards.c.id)
    with transaction(state) as connection:
        return [
            (int(i), str(n), None if c is None else int(c), int(w), int(t))
            for i, n, c, w, t in connection.execute(query)
        ]


def require_dashboard(state: StateDB, dashboard_id: int) -> DashboardDefinition:
    with transaction(state) as connection:
        row = (
            connection.execute(sa.select(dashboards).where(dashboards.c.id == dashboard_id))
            .mappings()
            .first()
        )
        widgets = connection.execute(
            sa.select(dashboard_widgets.c.configjson)
            .where(dashboard_widgets.c.dashboardid == dashboard_id)
            .order_by(dashboard_widgets.c.position)
        ).scalars()
        configs = [json.loads(text) for text in widgets]
    if row is None:
        raise InputError(
            f"There is no custom dashboard {dashboard_id}; `manireports dashboard list` shows them."
        )
    return DashboardDefinition(
        id=int(row["id"]),
        title=str(row["name"]),
        description=row["description"],
        company=None if row["companyid"] is None else int(row["companyid"]),
        widgets=configs,
        timecreated=int(row["timecreated"]),
        timemodified=int(row["timemodified"]),
    )


# --------------------------------------------------------------------------------------------
# Computing the widgets.


def custom_widgets(sources: Sources, definition: DashboardDefinition) -> list[Widget]:
    """The widgets in order. Widgets over the same report and parameters share one run: the
    first of them runs it, and its rows stream past every one of them."""
    figures = [_figures(config) for config in definition.widgets]
    readers: dict[tuple[str, tuple[tuple[str, str], ...]], list[Figures]] = defaultdict(list)
    for config, figure in zip(definition.widgets, figures, strict=True):
        readers[(config["report"], tuple(sorted(config["params"].items())))].append(figure)
    widgets: list[Widget] = []
    for config, figure in zip(definition.widgets, figures, strict=True):
        key = (config["report"], tuple(sorted(config["params"].items())))
        sharing = readers.pop(key, None)
        if sharing is not None:
            sources.fold(config["report"], partial(_feed, sharing), config["params"])
        widgets.append(figure.widget())
    return widgets


def _feed(figures: list[Figures], rows: Iterator[Record]) -> None:
    for row in rows:
        for figure in figures:
            figure.add(row)


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) else 0.0


class Figures:
    """What one widget keeps of its report's rows as they stream, and the widget it makes.

    The columns a widget names are checked against the first row; a missing one is reported
    when the widget is made, in the order of the definition, as it always was.
    """

    def __init__(self, config: Mapping[str, Any], needs: list[str]) -> None:
        self.config = config
        self.needs = needs
        self.rows = 0
        self.missing: list[str] = []

    def add(self, row: Record) -> None:
        if self.rows == 0:
            self.first(row)
            self.missing = [n for n in self.needs if n and n not in row]
        self.rows += 1
        if not self.missing:
            self.take(row)

    def first(self, row: Record) -> None:
        """Learn what the first row says (a table's default columns)."""

    def take(self, row: Record) -> None:
        raise NotImplementedError

    def widget(self) -> Widget:
        if self.missing:
            raise InputError(
                f"The widget {self.config['title']!r} uses {', '.join(self.missing)}, which the "
                f"report {self.config['report']} does not return; fix the dashboard definition."
            )
        return self.make()

    def make(self) -> Widget:
        raise NotImplementedError


def _figures(config: Mapping[str, Any]) -> Figures:
    kind = config["type"]
    if kind == "kpi":
        return KpiFigures(config)
    if kind == "table":
        return TableFigures(config)
    return ChartFigures(config)


class KpiFigures(Figures):
    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config, [config["column"] or ""])
        self.name = config["column"]
        self.aggregate = config["aggregate"]
        self.values = 0
        self.true = 0
        self.distinct: set[str] = set()
        # The numbers a sum or mean combines (8 bytes each), or the last two for `last`.
        self.numbers = array("d")
        self.low: float | None = None
        self.high: float | None = None

    def take(self, row: Record) -> None:
        if not self.name:
            return
        value = row[self.name]
        if value is None:
            return
        self.values += 1
        aggregate = self.aggregate
        if aggregate == "count_true":
            self.true += value is True
        elif aggregate == "distinct":
            self.distinct.add(str(value))
        elif aggregate in ("sum", "avg", "last"):
            self.numbers.append(_number(value))
            if aggregate == "last" and len(self.numbers) > 2:
                del self.numbers[0]
        elif aggregate in ("min", "max"):
            number = _number(value)
            # As min() and max() do: the first of equal values stays.
            if self.low is None or number < self.low:
                self.low = number
            if self.high is None or number > self.high:
                self.high = number

    def make(self) -> Widget:
        config, aggregate, name = self.config, self.aggregate, self.name
        previous = None
        note = f"{aggregate} of {name or 'rows'} in {config['report']}"
        value: float | None
        if aggregate == "count":
            value = float(self.values if name else self.rows)
        elif aggregate == "count_true":
            value = float(self.true)
        elif aggregate == "distinct":
            value = float(len(self.distinct))
        elif aggregate in ("min", "max"):
            found = self.low if aggregate == "min" else self.high
            value = None if found is None else round(found, 1)
        elif not self.numbers:
            value = None
        elif aggregate == "last":
            value = self.numbers[-1]
            previous = self.numbers[-2] if len(self.numbers) > 1 else None
            note = f"the last row of {config['report']} against the row before"
        else:
            total = sum(self.numbers) if aggregate == "sum" else fmean(self.numbers)
            value = round(total, 1)
        return Kpi(
            config["title"], value, "number", previous=previous, note=note, width=config["width"]
        )


class ChartFigures(Figures):
    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config, [config["x"], *config["y"]])
        self.x = config["x"]
        self.ys = config["y"]
        self.aggregate = config["aggregate"]
        self.limit = config["limit"]
        # label -> rows with it, and the numbers of each y column (labels past the limit are
        # not shown, so not kept).
        self.counts: dict[str, int] = {}
        self.numbers: dict[str, list[array[float]]] = {}

    def take(self, row: Record) -> None:
        value = row[self.x]
        label = "" if value is None else str(value)
        if label not in self.counts:
            if self.limit and len(self.counts) >= self.limit:
                return
            self.counts[label] = 0
            self.numbers[label] = [array("d") for _ in self.ys]
        self.counts[label] += 1
        if self.aggregate != "count":
            for numbers, name in zip(self.numbers[label], self.ys, strict=True):
                numbers.append(_number(row[name]))

    def make(self) -> Widget:
        config, title, aggregate, x, ys = (
            self.config,
            self.config["title"],
            self.aggregate,
            self.x,
            self.ys,
        )
        labels = list(self.counts)
        series = []
        for index, name in enumerate(ys or ["rows"]):
            values = []
            for label in labels:
                if aggregate == "count":
                    values.append(float(self.counts[label]))
                else:
                    numbers = self.numbers[label][index]
                    values.append(round(sum(numbers) if aggregate == "sum" else fmean(numbers), 2))
            series.append(Series(name, values))
        return Chart(
            title=title,
            chart=config["type"],
            labels=labels,
            series=series,
            description=(
                f"{title}: {aggregate} of {', '.join(ys) or 'rows'} by {x}, "
                f"from the report {config['report']}."
            ),
            unit="number",
            width=config["width"],
        )


class TableFigures(Figures):
    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config, [*(config["columns"] or []), config["sort"] or ""])
        self.columns: list[str] = list(config["columns"] or [])
        self.sort = config["sort"]
        self.descending = config["descending"]
        self.limit = config["limit"]
        # Per column: whether every value so far is a number (booleans are not).
        self.numeric = [True] * len(self.columns)
        # The rows that may still be shown, at most twice the limit between trims; and, when
        # sorting, the first rows without a sort value (they come after the others).
        self.kept: list[Record] = []
        self.unsorted: list[Record] = []

    def first(self, row: Record) -> None:
        if not self.columns:
            self.columns = list(row)
            self.needs = [*self.columns, self.sort or ""]
            self.numeric = [True] * len(self.columns)

    def take(self, row: Record) -> None:
        for index, column in enumerate(self.columns):
            value = row[column]
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                self.numeric[index] = False
        if not self.sort:
            if len(self.kept) < self.limit:
                self.kept.append(row)
            return
        if row[self.sort] is None:
            if len(self.unsorted) < self.limit:
                self.unsorted.append(row)
            return
        self.kept.append(row)
        if len(self.kept) >= 2 * self.limit:
            self._trim()

    def _trim(self) -> None:
        """Keep the first `limit` rows of the sorted order: a row `limit` others come before
        never will be shown. The sort is stable, descending too, and the rows kept stay ahead of
        the rows that came after them, so equal values keep the report's order."""
        key = self.sort
        self.kept.sort(key=lambda row: row[key], reverse=self.descending)
        del self.kept[self.limit :]

    def make(self) -> Widget:
        config, limit = self.config, self.limit
        if self.sort:
            self._trim()
        ordered = list(self.kept)
        if self.sort:
            ordered += self.unsorted[: limit - len(ordered)]
        more = f"The first {limit} of {self.rows} rows." if self.rows > limit else None
        return Table(
            config["title"],
            self.columns,
            [[r[c] for c in self.columns] for r in ordered[:limit]],
            [bool(self.rows) and numeric for numeric in self.numeric],
            note=more or (None if self.rows else "No rows."),
            width=config["width"],
        )
