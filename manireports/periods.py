"""Named periods (`--period last-month`): a window of whole days in the site timezone.

Every period starts at midnight of its first day and ends at midnight after its last day, so a
window is [start, end) in Unix seconds, days are calendar days of the site timezone, and a day
with a daylight-saving change is 23 or 25 hours long. The `last-N-days` periods are the N whole
days before today (today, still in progress, is left out, so two runs on the same day agree);
`this-…` periods run to the end of the week, month, quarter or year (the part still ahead has no
events). Weeks start on Monday (ISO 8601).

How a period reaches a report is the report's own date window: its from/to parameters, the
%%STARTTIME%%/%%ENDTIME%% tokens of custom SQL, its start/end date parameters, or the moment the
trends and dashboards are computed as of. A report without one refuses --period.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from manireports.errors import InputError
from manireports.localtime import midnight
from manireports.reports.spec import BuiltinReport

RELATIVE = (
    "today",
    "yesterday",
    "last-7-days",
    "last-30-days",
    "last-90-days",
    "this-week",
    "last-week",
    "this-month",
    "last-month",
    "this-quarter",
    "this-year",
)
NAMES_TEXT = ", ".join(RELATIVE) + ", YYYY-MM (a month), YYYY-Qn (a quarter)"
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_QUARTER = re.compile(r"^(\d{4})-[Qq]([1-4])$")
_TOKENS = ("%%STARTTIME%%", "%%ENDTIME%%")


@dataclass(frozen=True)
class Period:
    """[start, end) in Unix seconds; first_day and last_day are calendar days, both included."""

    name: str
    first_day: date
    last_day: date
    start: int
    end: int


def _month_start(year: int, month: int) -> date:
    return date(year + (month - 1) // 12, (month - 1) % 12 + 1, 1)


def days(name: str, today: date) -> tuple[date, date]:
    """The first and last day of a named period, seen from `today`."""
    if name == "today":
        return today, today
    if name == "yesterday":
        return today - timedelta(days=1), today - timedelta(days=1)
    match = re.fullmatch(r"last-(7|30|90)-days", name)
    if match:
        return today - timedelta(days=int(match.group(1))), today - timedelta(days=1)
    monday = today - timedelta(days=today.weekday())
    if name == "this-week":
        return monday, monday + timedelta(days=6)
    if name == "last-week":
        return monday - timedelta(days=7), monday - timedelta(days=1)
    if name == "this-month":
        return _month(today.year, today.month)
    if name == "last-month":
        return _month(today.year, today.month - 1)
    if name == "this-quarter":
        return _quarter(today.year, (today.month - 1) // 3 + 1)
    if name == "this-year":
        return date(today.year, 1, 1), date(today.year, 12, 31)
    match = _MONTH.match(name)
    if match and 1 <= int(match.group(2)) <= 12:
        return _month(int(match.group(1)), int(match.group(2)))
    match = _QUARTER.match(name)
    if match:
        return _quarter(int(match.group(1)), int(match.group(2)))
    raise InputError(f"--period {name!r} is not a period; use one of: {NAMES_TEXT}.")


def _month(year: int, month: int) -> tuple[date, date]:
    first = _month_start(year, month)
    return first, _month_start(first.year, first.month + 1) - timedelta(days=1)


def _quarter(year: int, quarter: int) -> tuple[date, date]:
    first = date(year, 3 * quarter - 2, 1)
    return first, _month_start(year, 3 * quarter + 1) - timedelta(days=1)


def resolve_period(name: str, now: int, tz: ZoneInfo) -> Period:
    """The named period around the moment `now`, in the timezone `tz`."""
    given = name.strip().lower()
    first, last = days(given, datetime.fromtimestamp(now, tz).date())
    return Period(given, first, last, midnight(first, tz), midnight(last + timedelta(1), tz))


def is_fixed(name: str) -> bool:
    """YYYY-MM and YYYY-Qn name the same days whenever they are used."""
    return bool(_MONTH.match(name.strip()) or _QUARTER.match(name.strip()))


@dataclass(frozen=True)
class PeriodWindow:
    """What a period changes in a report request."""

    params: dict[str, str]
    span: tuple[int, int] | None
    as_of: str | None


def apply_period(
    report: BuiltinReport,
    period: Period,
    params: Mapping[str, str],
    tz: ZoneInfo,
    now: int,
) -> PeriodWindow:
    """Set the report's date window to the period, or refuse when it has none.

    A report's own window (from/to, start/end dates) takes the period's days; custom SQL's
    tokens take its bounds; the trends, which always show the twelve months up to the moment
    they are computed as of, are computed as of the period's end (or now, if that is sooner).
    """
    result = dict(params)
    names = {param.name: param for param in report.params}
    touched: list[str] = []
    if "from" in names and "to" in names:
        # Both kinds take days: a `to` date means up to the end of that day.
        touched = ["from", "to"]
        result["from"], result["to"] = period.first_day.isoformat(), period.last_day.isoformat()
    else:
        for name, param in names.items():
            if param.kind != "date":
                continue
            lowered = name.lower()
            if lowered.startswith(("start", "from", "since")):
                result[name] = period.first_day.isoformat()
                touched.append(name)
            elif lowered.startswith(("end", "to", "until")):
                # The moment the period ends: midnight after its last day.
                result[name] = (period.last_day + timedelta(days=1)).isoformat()
                touched.append(name)
    clash = [name for name in touched if name in params]
    if clash:
        raise InputError(
            f"--period sets {', '.join(clash)}; give either --period or --param {clash[0]}=..."
        )
    sql = report.sql_text or ""
    span = (period.start, period.end) if any(token in sql for token in _TOKENS) else None
    as_of = None
    if _is_trend(report):
        moment = min(period.end - 1, now)
        as_of = datetime.fromtimestamp(moment, tz).strftime("%Y-%m-%d %H:%M:%S")
    if not touched and span is None and as_of is None:
        raise InputError(
            f"The report {report.name} has no date window, so --period cannot apply to it "
            f"(periods: {NAMES_TEXT})."
        )
    return PeriodWindow(result, span, as_of)


def _is_trend(report: BuiltinReport) -> bool:
    from manireports.reports.steps.trends import bind_month_bounds

    return report.bind is bind_month_bounds


def dashboard_as_of(period: Period, tz: ZoneInfo, now: int) -> str:
    """A dashboard shows the last full month before the moment it is computed as of; with a
    period it is computed as of the period's end, so `--period 2026-03` shows March 2026."""
    moment = min(period.end, now)
    return datetime.fromtimestamp(moment, tz).strftime("%Y-%m-%d %H:%M:%S")
