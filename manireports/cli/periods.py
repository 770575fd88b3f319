"""Named periods (--period) for run-report, dashboard and schedule add."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from manireports.errors import InputError

if TYPE_CHECKING:
    from manireports.app import App


def _period_moment(application: App, as_of: str | None) -> int:
    from manireports.reports.params import parse_moment

    if as_of is None:
        return application.now()
    return parse_moment(as_of, application.timezone, what="--as-of")


def period_window(
    application: App, report: str, period: str, params: dict[str, str], as_of: str | None
) -> Any:
    from manireports.periods import apply_period, resolve_period
    from manireports.reports.run import find_report

    tz = application.timezone
    now = _period_moment(application, as_of)
    named = resolve_period(period, now, tz)
    return apply_period(find_report(application, report), named, params, tz, now)


def period_dashboard_as_of(application: App, period: str, as_of: str | None) -> str:
    from manireports.periods import dashboard_as_of, resolve_period

    tz = application.timezone
    now = _period_moment(application, as_of)
    return dashboard_as_of(resolve_period(period, now, tz), tz, now)


def period_schedule_params(
    application: App, report: str, period: str, params: dict[str, str]
) -> dict[str, str]:
    """A schedule's period follows its recurrence; --period can pin it to a fixed month or
    quarter through the report's date parameters."""
    from manireports.periods import is_fixed

    window = period_window(application, report, period, params, None)
    if not is_fixed(period) or window.span is not None or window.as_of is not None:
        raise InputError(
            f"--period {period} cannot be stored on a schedule of {report}: a schedule reports "
            "on the period of each run (set by --frequency); only YYYY-MM or YYYY-Qn can be "
            "pinned, and only for a report with from/to or start/end date parameters."
        )
    params_out: dict[str, str] = window.params
    return params_out
