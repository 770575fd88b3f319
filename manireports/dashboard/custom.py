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
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
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
from manireports.reports.custom import get_custom_report
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
    return [_widget(sources, config) for config in definition.widgets]


def _require(rows: list[Record], names: list[str], config: Mapping[str, Any]) -> None:
    if rows:
        missing = [n for n in names if n and n not in rows[0]]
        if missing:
            raise InputError(
                f"The widget {config['title']!r} uses {', '.join(missing)}, which the report "
                f"{config['report']} does not return; fix the dashboard definition."
            )


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) else 0.0


def _widget(sources: Sources, config: Mapping[str, Any]) -> Widget:
    rows = sources.rows(config["report"], config["params"])
    kind, title, width = config["type"], config["title"], config["width"]
    if kind == "kpi":
        return _kpi(rows, config)
    if kind == "table":
        columns = config["columns"] or (list(rows[0]) if rows else [])
        _require(rows, [*columns, config["sort"] or ""], config)
        ordered = rows
        if config["sort"]:
            key = config["sort"]
            present = [r for r in rows if r[key] is not None]
            ordered = sorted(present, key=lambda r: r[key], reverse=config["descending"])
            ordered += [r for r in rows if r[key] is None]
        limit = config["limit"]
        numeric = [
            bool(rows)
            and all(
                isinstance(r[c], int | float) and not isinstance(r[c], bool)
                for r in rows
                if r[c] is not None
            )
            for c in columns
        ]
        more = f"The first {limit} of {len(rows)} rows." if len(rows) > limit else None
        return Table(
            title,
            columns,
            [[r[c] for c in columns] for r in ordered[:limit]],
            numeric,
            note=more or (None if rows else "No rows."),
            width=width,
        )
    x, ys, aggregate = config["x"], config["y"], config["aggregate"]
    _require(rows, [x, *ys], config)
    groups: dict[str, list[Record]] = defaultdict(list)
    for row in rows:
        groups["" if row[x] is None else str(row[x])].append(row)
    labels = list(groups)
    if config["limit"]:
        labels = labels[: config["limit"]]
    series = []
    for name in ys or ["rows"]:
        values = []
        for label in labels:
            members = groups[label]
            if aggregate == "count":
                values.append(float(len(members)))
            else:
                numbers = [_number(r[name]) for r in members]
                values.append(round(sum(numbers) if aggregate == "sum" else fmean(numbers), 2))
        series.append(Series(name, values))
    return Chart(
        title=title,
        chart=kind,
        labels=labels,
        series=series,
        description=(
            f"{title}: {aggregate} of {', '.join(ys) or 'rows'} by {x}, "
            f"from the report {config['report']}."
        ),
        unit="number",
        width=width,
    )


def _kpi(rows: list[Record], config: Mapping[str, Any]) -> Kpi:
    aggregate, name = config["aggregate"], config["column"]
    _require(rows, [name or ""], config)
    values = [r[name] for r in rows if r[name] is not None] if name else []
    numbers = [_number(v) for v in values]
    previous = None
    note = f"{aggregate} of {name or 'rows'} in {config['report']}"
    value: float | None
    if aggregate == "count":
        value = float(len(values) if name else len(rows))
    elif aggregate == "count_true":
        value = float(sum(1 for v in values if v is True))
    elif aggregate == "distinct":
        value = float(len(set(map(str, values))))
    elif not numbers:
        value = None
    elif aggregate == "last":
        value = numbers[-1]
        previous = numbers[-2] if len(numbers) > 1 else None
        note = f"the last row of {config['report']} against the row before"
    else:
        combined = {
            "sum": sum(numbers),
            "avg": fmean(numbers),
            "min": min(numbers),
            "max": max(numbers),
        }
        value = round(combined[aggregate], 1)
    return Kpi(
        config["title"], value, "number", previous=previous, note=note, width=config["width"]
    )
