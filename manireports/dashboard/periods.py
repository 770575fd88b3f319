"""The periods a dashboard compares: the last full calendar month and the month before it.

Months are calendar months in the site timezone, the trend reports' own months, so the
enrolment and completion cards equal two rows of `enrolment_trends` and `completion_trends`.
A whole month is compared with a whole month: the month in progress would always look smaller
than the one before it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from manireports.reports.steps.trends import Month, trend_months


@dataclass(frozen=True)
class Periods:
    current: Month
    previous: Month
    timezone: ZoneInfo

    def first_day(self, month: Month) -> date:
        return datetime.fromtimestamp(month.start, self.timezone).date()

    def last_day(self, month: Month) -> date:
        return datetime.fromtimestamp(month.end - 1, self.timezone).date()

    def end_moment(self, month: Month) -> str:
        """The last second of the month, as an --as-of text in the site timezone."""
        return datetime.fromtimestamp(month.end - 1, self.timezone).strftime("%Y-%m-%d %H:%M:%S")

    @property
    def note(self) -> str:
        return f"{self.current.label} against {self.previous.label}"


def dashboard_periods(now: int, timezone: ZoneInfo) -> Periods:
    """The last full month before the one containing `now`, and the month before that."""
    previous, current, _in_progress = trend_months(now, timezone, 3)
    return Periods(current, previous, timezone)
