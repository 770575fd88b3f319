"""`jobs scorm-summary`: keep manireports_scorm_summary equal to the scorm_summary report.

The table holds one row per (SCORM activity, user) for tools that read the state database
directly. It is computed by the scorm_summary report itself, as the shell operator, so the two
never disagree: a run recorded like any other (`for: scorm-summary`), answered from a fresh cache
entry when there is one. The job replaces the whole table in one transaction, so re-running it
changes nothing and a reader never sees it half-written; a report stopped at `[reports] max_rows`
leaves the table as it was.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from manireports.app import App
from manireports.errors import RunError
from manireports.reports.run import open_report
from manireports.reports.spec import ReportRequest, Row
from manireports.state.tables import scorm_summary as summary

BATCH = 1000


def _stored(names: list[str], row: Row, now: int) -> dict[str, Any]:
    value = dict(zip(names, row, strict=True))
    score = value["score"]
    return {
        "scormid": int(value["scormid"]),
        "courseid": value["courseid"],
        "userid": int(value["userid"]),
        "attempts": int(value["attempts"] or 0),
        "completed": 1 if value["completed"] else 0,
        "totaltime": int(value["totaltime"] or 0),
        "score": None if score is None else round(float(score), 2),
        "lastaccess": value["lastaccess"],
        "lastupdated": now,
    }


def refresh_scorm_summary(app: App) -> int:
    """Replace the table's rows with the report's; returns how many rows it now holds."""
    now = app.now()
    count = 0
    request = ReportRequest("scorm_summary")
    # The run ends after the transaction: a cache entry it stores is written once the table's
    # write lock (SQLite) is released.
    with open_report(app, request, purpose="scorm-summary") as run, app.state.begin() as state:
        names = [column.name for column in run.columns]
        state.execute(sa.delete(summary))
        batch: list[dict[str, Any]] = []
        for row in run.rows:
            batch.append(_stored(names, row, now))
            if len(batch) == BATCH:
                state.execute(sa.insert(summary), batch)
                count += len(batch)
                batch.clear()
        if batch:
            state.execute(sa.insert(summary), batch)
            count += len(batch)
        if run.capped:
            raise RunError(
                f"The scorm_summary report has more than [reports] max_rows = {count} rows; "
                "manireports_scorm_summary was left as it was. Raise max_rows to refresh it."
            )
    return count
