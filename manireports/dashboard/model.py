"""What a dashboard is made of, independent of how it is drawn.

The data layer fills these; the HTML, PDF and terminal renderers only read them, so the three
outputs always show the same numbers. A dashboard turns into plain JSON and back because computed
dashboards are kept in the cache (dashboard widgets 1 h).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

Unit = Literal["count", "percent", "seconds", "number"]
ChartKind = Literal["line", "bar", "pie"]


@dataclass(frozen=True)
class Kpi:
    """A single figure; `previous` is the same figure for the previous period, when known."""

    title: str
    value: float | None
    unit: Unit = "count"
    previous: float | None = None
    # What is compared with what, e.g. "2026-05 against 2026-04".
    note: str = ""
    width: int = 3
    kind: Literal["kpi"] = "kpi"
    # Whether a rise is good news ("up", e.g. completions) or bad ("down", learners at risk).
    better: Literal["up", "down"] = "up"

    @property
    def delta(self) -> float | None:
        if self.value is None or self.previous is None:
            return None
        return round(self.value - self.previous, 1)


@dataclass(frozen=True)
class Series:
    name: str
    values: list[float]


@dataclass(frozen=True)
class Chart:
    """A chart and the data behind it, which every renderer also shows as a table."""

    title: str
    chart: ChartKind
    labels: list[str]
    series: list[Series]
    # One sentence saying what the chart shows, for screen readers and the PDF.
    description: str
    unit: Unit = "count"
    width: int = 6
    kind: Literal["chart"] = "chart"


@dataclass(frozen=True)
class Table:
    title: str
    columns: list[str]
    rows: list[list[Any]]
    numeric: list[bool]
    # Said under the table: rows left out, or why it is empty.
    note: str | None = None
    width: int = 12
    kind: Literal["table"] = "table"


Widget = Kpi | Chart | Table


@dataclass(frozen=True)
class Dashboard:
    title: str
    role: str
    # Who it is shown as: a username, or the shell operator.
    viewer: str
    company: int | None
    generated: str
    timezone: str
    widgets: list[Widget] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_json(data: dict[str, Any]) -> Dashboard:
        widgets: list[Widget] = []
        for stored in data["widgets"]:
            # An entry cached by another version may carry fields this one no longer has.
            shape: type[Kpi | Chart | Table] = {"kpi": Kpi, "chart": Chart}.get(
                stored["kind"], Table
            )
            known = {f.name for f in fields(shape)}
            item = {key: value for key, value in stored.items() if key in known}
            if item["kind"] == "kpi":
                widgets.append(Kpi(**item))
            elif item["kind"] == "chart":
                series = [Series(**s) for s in item["series"]]
                widgets.append(Chart(**{**item, "series": series}))
            else:
                widgets.append(Table(**item))
        top = {f.name for f in fields(Dashboard)} - {"widgets"}
        return Dashboard(**{key: data[key] for key in top if key in data}, widgets=widgets)
