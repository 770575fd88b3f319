"""What a schedule's period means for each report, so a mail says exactly what it sends.

A run covers the period [start, end) of its occurrence (recurrence.period). Reports whose rows
are events in time are run for that period, through their own date parameters:

* course_completion: learners whose enrolment started or who completed the course in the period
  (its `from` and `to`, to the second);
* time_spent: the time spent on the days of the period (its `from` and `to` days);
* custom reports that use %%STARTTIME%% or %%ENDTIME%%: those tokens are the period's bounds.

Every other report describes a state (progress, attempts and grades so far, SCORM summaries,
company figures, engagement and risk) or a fixed window of its own (the 12-month trends): it is
run as of the occurrence and the mail says "as of" that moment, with no period. A schedule whose
parameters already set `from` or `to` keeps them, and is also mailed "as of".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from manireports.reports.spec import BuiltinReport

# Built-in report -> (how its period parameters are filled, what the period means).
PERIOD_REPORTS: dict[str, tuple[str, str]] = {
    "course_completion": ("moments", "enrolments started or courses completed in the period"),
    "time_spent": ("days", "time spent on the days of the period"),
}
_PERIOD_TOKENS = ("%%STARTTIME%%", "%%ENDTIME%%")


@dataclass(frozen=True)
class Coverage:
    """How one scheduled run is made and described: extra parameters, the as-of moment, and
    the words the mail uses ("for 2026-11-30 to 2026-12-06" or "as of 2026-12-07 06:00")."""

    params: dict[str, str] = field(default_factory=dict)
    as_of: str | None = None
    period: str = ""
    as_of_text: str = ""

    @property
    def words(self) -> str:
        return f"for {self.period}" if self.period else f"as of {self.as_of_text}"


def uses_period(report: BuiltinReport) -> bool:
    """Whether a run of `report` covers the schedule's period (else it is "as of")."""
    if report.custom_id is not None:
        return any(token in (report.sql_text or "") for token in _PERIOD_TOKENS)
    return report.name in PERIOD_REPORTS


def coverage(
    report: BuiltinReport,
    given: dict[str, str],
    span: tuple[int, int],
    occurrence: int,
    period_words: str,
    tz: ZoneInfo,
) -> Coverage:
    """The run of `report` for the occurrence; `period_words` is the period as the mail shows it."""
    moment = datetime.fromtimestamp(occurrence, tz).strftime("%Y-%m-%d %H:%M:%S")
    as_of = Coverage(as_of=moment, as_of_text=moment[:16])
    if not uses_period(report):
        return as_of
    if report.custom_id is not None:
        return Coverage(period=period_words)
    if "from" in given or "to" in given:
        return as_of
    how, _meaning = PERIOD_REPORTS[report.name]
    start, end = span
    if how == "days":
        first = datetime.fromtimestamp(start, tz).date()
        last = datetime.fromtimestamp(end - 1, tz).date()
        params = {"from": first.isoformat(), "to": last.isoformat()}
    else:
        params = {
            "from": datetime.fromtimestamp(start, tz).strftime("%Y-%m-%d %H:%M:%S"),
            "to": datetime.fromtimestamp(end, tz).strftime("%Y-%m-%d %H:%M:%S"),
        }
    return Coverage(params=params, period=period_words)
