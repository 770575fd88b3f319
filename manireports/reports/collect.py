"""A report's rows as records (column name -> value), for the callers that combine reports
(dashboards).

The rows come from `open_report` itself: the run is scoped, cached, capped and recorded exactly
as `run-report` would, so a dashboard can never show what the acting user's scope hides or count
anything differently from the report a reader can run to check it. The values are those of the
JSON export, the machine form scripts read (timestamps as site-time text, numbers as JSON numbers,
booleans as booleans), converted row by row as they stream: no reader holds a report in memory
unless it keeps the records itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from operator import itemgetter
from typing import Any
from zoneinfo import ZoneInfo

from manireports.app import App
from manireports.errors import RunError
from manireports.export import Column
from manireports.export.values import (
    BOOL_JSON,
    BadText,
    SiteClock,
    batches,
    chunk_converter,
    converters,
)
from manireports.reports.run import open_report
from manireports.reports.spec import ReportRequest, Row

Record = dict[str, Any]


@contextmanager
def open_records(
    app: App,
    request: ReportRequest,
    *,
    purpose: str,
    columns: Sequence[str] | None = None,
    where: str | None = None,
) -> Iterator[Iterator[Record]]:
    """The rows of one report run, as records, while the block reads them (see open_report).
    The run itself counts and records every row, whatever `where` leaves out."""
    with open_report(app, request, purpose=purpose) as opened:
        yield records(opened.columns, opened.rows, app.timezone, only=columns, where=where)


def records(
    columns: Sequence[Column],
    rows: Iterator[Row],
    timezone: ZoneInfo,
    *,
    only: Sequence[str] | None = None,
    where: str | None = None,
) -> Iterator[Record]:
    """The rows with the JSON export's values, keyed by column name; with `only`, records of
    just those columns, the others never converted; with `where` (a boolean column), records of
    only the rows where it is true (the at-risk panel reads the flagged learners alone).

    Text that is not valid UTF-8 is repaired as the export repairs it, so a record holds what
    the JSON file would; the repair is paid only by a chunk that holds such text.
    """
    width = len(columns)
    keep: Callable[[Sequence[Any]], Any] | None = None
    if where is not None:
        position = next(
            (
                n
                for n, column in enumerate(columns)
                if (column.name, column.kind) == (where, "bool")
            ),
            None,
        )
        if position is None:
            raise RunError(f"The report has no yes/no column {where!r}.")

        def keep(row: Sequence[Any]) -> bool:
            # As the record would hold it: 'f' and '0' text from a database are false.
            return BOOL_JSON[row[position]] is True

    pick: Callable[[Sequence[Any]], tuple[Any, ...]] | None = None
    if only is not None:
        positions = {column.name: index for index, column in enumerate(columns)}
        unknown = [name for name in only if name not in positions]
        if unknown:
            raise RunError(f"The report has no column {unknown[0]!r}.")
        picked = [positions[name] for name in only]
        columns = [columns[index] for index in picked]
        # itemgetter of one index gives the value, not a tuple of it.
        pick = itemgetter(*picked) if len(picked) > 1 else lambda row: (row[picked[0]],)
    names = [column.name for column in columns]
    apply = chunk_converter(converters(columns, "json", SiteClock(timezone)))
    bad = BadText(columns)
    for chunk in batches(rows, width):
        if keep is not None:
            chunk = list(filter(keep, chunk))
            if not chunk:
                continue
        if pick is not None:
            chunk = list(map(pick, chunk))
        values = chunk if apply is None else apply(chunk)
        texts = [value for row in values for value in row if type(value) is str]
        try:
            "".join(texts).encode("utf-8")
        except UnicodeEncodeError:
            values = bad.rows(values)
        for row in values:
            yield dict(zip(names, row, strict=True))
