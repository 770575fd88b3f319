"""enrolment_trends and completion_trends: a count per calendar month, for the last 12 months.

Months are calendar months in the site timezone. SQL cannot convert timezones portably, so the
month boundaries are computed here with zoneinfo and bound as :bound0 .. :bound12; the query
counts every month in one scan and returns one row of twelve counts, which `rows_per_month` turns
into twelve (month, count) rows, oldest first, months without events included. What each report
counts is written down in its SQL file.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from manireports.errors import RunError
from manireports.localtime import midnight
from manireports.reports.catalogue import CATALOGUE
from manireports.reports.spec import BuiltinReport, ReportContext, Row
from manireports.reports.steps.company import refuse_company_filter_without_iomad

MONTHS = 12


@dataclass(frozen=True)
class Month:
    """One calendar month of a trend window: label 'YYYY-MM' and Unix bounds [start, end)."""

    label: str
    start: int
    end: int


def trend_months(now: int, timezone: ZoneInfo, count: int = MONTHS) -> list[Month]:
    """The `count` calendar months ending with the month that contains `now`, oldest first.

    Each month starts at local midnight on its first day in `timezone` (zoneinfo applies the
    offset in force then, daylight saving included) and ends where the next one starts. The
    current month ends just after `now`, not at its last day, so events dated later (a re-run with
    an earlier --as-of) are left out and the same --as-of always gives the same counts.
    """
    local = datetime.fromtimestamp(now, timezone)
    first = local.year * 12 + local.month - 1 - (count - 1)
    labels: list[str] = []
    starts: list[int] = []
    for index in range(first, first + count):
        year, month0 = divmod(index, 12)
        labels.append(f"{year:04d}-{month0 + 1:02d}")
        starts.append(midnight(date(year, month0 + 1, 1), timezone))
    ends = [*starts[1:], now + 1]
    return [Month(*month) for month in zip(labels, starts, ends, strict=True)]


def bind_month_bounds(context: ReportContext) -> dict[str, Any]:
    """:bound0 .. :bound12: the start of each month, then the end of the window."""
    refuse_company_filter_without_iomad(context)
    months = trend_months(context.now, context.timezone)
    bounds = {f"bound{index}": month.start for index, month in enumerate(months)}
    bounds[f"bound{len(months)}"] = months[-1].end
    return bounds


def rows_per_month(rows: Iterator[Row], context: ReportContext) -> Iterator[Row]:
    """Turn the query's one row of twelve counts into twelve (month, count) rows."""
    months = trend_months(context.now, context.timezone)
    counts = next(rows, None)
    # Read to the end, so the query's connection is finished rather than dropped half-read.
    if counts is None or len(counts) != len(months) or next(rows, None) is not None:
        raise RunError(
            "A trend query returned other than one row of twelve monthly counts; the "
            "installation is damaged."
        )
    for month, count in zip(months, counts, strict=True):
        yield (month.label, int(count or 0))


ENROLMENT_TRENDS = BuiltinReport.of(
    CATALOGUE["enrolment_trends"],
    bind=bind_month_bounds,
    transform=rows_per_month,
    scope_columns={"userid": "ue.userid", "courseid": "e.courseid"},
)

COMPLETION_TRENDS = BuiltinReport.of(
    CATALOGUE["completion_trends"],
    bind=bind_month_bounds,
    transform=rows_per_month,
    scope_columns={"userid": "cc.userid", "courseid": "cc.course"},
)
