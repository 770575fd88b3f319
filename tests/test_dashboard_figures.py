"""Dashboard panels keep figures, not rows: what they make of rows streamed past them one by one
equals the widget's definition applied to the whole list of rows, for any rows.

The definitions below are the widgets' meaning written plainly over a list (sort everything,
take the first rows; group everything, combine each group); the panels must agree with them to
the last digit, ties and missing values included.
"""

from __future__ import annotations

from collections import defaultdict
from statistics import fmean
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from manireports.dashboard.builtin import AtRisk
from manireports.dashboard.custom import _figures
from manireports.dashboard.model import Chart, Kpi, Series, Table, Widget

Record = dict[str, Any]

# Few distinct values, so ties and repeated labels are common.
VALUES = st.one_of(
    st.none(),
    st.integers(-3, 3),
    st.sampled_from([0.5, 1.25, 2.0, -0.75, 1e-3, 33.33]),
    st.booleans(),
)
ROWS = st.lists(
    st.fixed_dictionaries(
        {"k": st.none() | st.integers(0, 4), "label": st.sampled_from(["a", "b", None, 3]),
         "v": VALUES, "w": st.none() | st.integers(-5, 5)}
    ),
    max_size=40,
)  # fmt: skip
COMMON = {"title": "w", "report": "r", "params": {}, "width": 6}


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) else 0.0


def table_over_list(rows: list[Record], config: dict[str, Any]) -> Table:
    columns = config["columns"] or (list(rows[0]) if rows else [])
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
        config["title"],
        columns,
        [[r[c] for c in columns] for r in ordered[:limit]],
        numeric,
        note=more or (None if rows else "No rows."),
        width=config["width"],
    )


def kpi_over_list(rows: list[Record], config: dict[str, Any]) -> Kpi:
    aggregate, name = config["aggregate"], config["column"]
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
        combined = {"sum": sum, "avg": fmean, "min": min, "max": max}[aggregate](numbers)
        value = round(combined, 1)
    return Kpi(config["title"], value, "number", previous=previous, note=note, width=6)


def chart_over_list(rows: list[Record], config: dict[str, Any]) -> Chart:
    x, ys, aggregate = config["x"], config["y"], config["aggregate"]
    groups: dict[str, list[Record]] = defaultdict(list)
    for row in rows:
        groups["" if row[x] is None else str(row[x])].append(row)
    labels = list(groups)[: config["limit"] or None]
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
        title=config["title"],
        chart=config["type"],
        labels=labels,
        series=series,
        description=(
            f"{config['title']}: {aggregate} of {', '.join(ys) or 'rows'} by {x}, "
            f"from the report {config['report']}."
        ),
        unit="number",
        width=config["width"],
    )


def streamed(rows: list[Record], config: dict[str, Any]) -> Widget:
    figures = _figures(config)
    for row in rows:
        figures.add(row)
    return figures.widget()


@settings(max_examples=300, deadline=None)
@given(
    rows=ROWS,
    sort=st.sampled_from([None, "k", "w"]),
    descending=st.booleans(),
    limit=st.integers(1, 7),
    columns=st.sampled_from([None, ["v", "k"], ["label"]]),
)
def test_a_table_of_streamed_rows_is_the_sorted_list_cut(
    rows: list[Record], sort: str | None, descending: bool, limit: int, columns: list[str] | None
) -> None:
    config = {**COMMON, "type": "table", "columns": columns, "sort": sort,
              "descending": descending, "limit": limit}  # fmt: skip
    assert streamed(rows, config) == table_over_list(rows, config)


@settings(max_examples=300, deadline=None)
@given(
    rows=ROWS,
    aggregate=st.sampled_from(
        ["count", "sum", "avg", "min", "max", "count_true", "distinct", "last"]
    ),
    column=st.sampled_from([None, "v", "w", "k"]),
)
def test_a_kpi_of_streamed_rows_is_the_kpi_of_the_list(
    rows: list[Record], aggregate: str, column: str | None
) -> None:
    column = column if aggregate == "count" else column or "v"
    config = {**COMMON, "type": "kpi", "column": column, "aggregate": aggregate}
    assert streamed(rows, config) == kpi_over_list(rows, config)


@settings(max_examples=300, deadline=None)
@given(
    rows=ROWS,
    kind=st.sampled_from(["line", "bar", "pie"]),
    x=st.sampled_from(["label", "k", "v"]),
    ys=st.sampled_from([[], ["v"], ["v", "w"]]),
    aggregate=st.sampled_from(["sum", "avg", "count"]),
    limit=st.none() | st.integers(1, 3),
)
def test_a_chart_of_streamed_rows_is_the_chart_of_the_list(
    rows: list[Record], kind: str, x: str, ys: list[str], aggregate: str, limit: int | None
) -> None:
    aggregate = aggregate if ys else "count"
    config = {**COMMON, "type": kind, "x": x, "y": ys, "aggregate": aggregate, "limit": limit}
    assert streamed(rows, config) == chart_over_list(rows, config)


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(
        st.fixed_dictionaries(
            {"at_risk": st.booleans(), "userid": st.integers(1, 6),
             "risk_score": st.none() | st.sampled_from([25, 50, 75.5, 100]),
             "username": st.sampled_from(["ann", "bob", "cat"])}
        ),
        max_size=120,
    )
)  # fmt: skip
def test_learners_at_risk_keep_the_first_rows_of_the_whole_sorted_list(rows: list[Record]) -> None:
    flagged = [row for row in rows if row["at_risk"]]
    everything = sorted(
        flagged, key=lambda row: (-float(row["risk_score"] or 0), str(row["username"]))
    )
    figures = AtRisk.of(iter(rows))
    assert figures.first == everything[:50]
    assert (figures.count, figures.learners) == (len(flagged), {r["userid"] for r in flagged})
