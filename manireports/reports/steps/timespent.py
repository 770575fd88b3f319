"""The `time_spent` built-in report: manireports' own daily totals, not a query over Moodle.

The rows come from `manireports_usertime_daily`, filled by `time aggregate` (or `jobs
aggregate-time`); a site that has never aggregated gets no rows, not an error, because an empty
table is a true answer about what has been tracked so far. `--as-of` ends the period on the day
of that moment in the site timezone: days after it are not reported.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa

from manireports.app import App
from manireports.reports.catalogue import CATALOGUE
from manireports.reports.spec import BuiltinReport, ReportContext, Row
from manireports.scope import Scope
from manireports.state import read_setting
from manireports.state.tables import usertime_daily, usertime_sessions
from manireports.timetrack import TIME_SPENT_COLUMNS, per_of, time_spent_rows
from manireports.timetrack.store import LOG_WATERMARK

NOT_TRACKED_YET = (
    "Time tracking has not run yet, so there is no time to report. Run `manireports time sync` "
    "and `manireports time aggregate` (or put `manireports jobs aggregate-time` in cron, as in "
    "crontab.example), then run the report again."
)


def time_tracking_has_run(app: App) -> bool:
    """Whether the log was ever read, or any time recorded (heartbeats, aggregated days):
    an empty time_spent before that says nothing about the learners."""
    with app.state.begin() as connection:
        if read_setting(connection, LOG_WATERMARK) not in (None, ""):
            return True
        for table in (usertime_daily, usertime_sessions):
            if connection.execute(sa.select(sa.literal(1)).select_from(table).limit(1)).first():
                return True
    return False


def _bind_per(context: ReportContext) -> dict[str, Any]:
    # Checked before the run starts, as a malformed day is.
    return {"per": per_of(context.params.get("per", "day"))}


def _produce(app: App, context: ReportContext, scope: Scope) -> Iterator[Row]:
    params = context.params
    today = dt.datetime.fromtimestamp(context.now, context.timezone).date()
    first: dt.date | None = params.get("from")
    last: dt.date = params.get("to") or today
    if first is not None and first > today and first <= last:
        # The whole period lies after the --as-of moment: nothing had been spent yet.
        return iter(())
    return time_spent_rows(
        app,
        userid=params.get("userid"),
        courseid=params.get("courseid"),
        date_from=first,
        date_to=min(last, today),
        scope=scope,
        per=params["per"],
    )


TIME_SPENT = BuiltinReport.of(
    CATALOGUE["time_spent"], columns=TIME_SPENT_COLUMNS, bind=_bind_per, produce=_produce
)
