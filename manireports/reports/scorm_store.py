"""`jobs scorm-summary`: keep manireports_scorm_summary equal to the scorm_summary report.

The table holds one row per (SCORM activity, user) for tools that read the state database
directly. It is computed by the scorm_summary report itself, as the shell operator, so the two
never disagree; the job replaces the whole table in one transaction, so re-running it changes
nothing and a reader never sees it half-written.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa

from manireports.app import App
from manireports.reports.run import ReportRequest, prepare_report
from manireports.reports.spec import Row
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
    prepared = prepare_report(app, ReportRequest("scorm_summary"))
    report = prepared.report
    names = [column.name for column in report.columns]
    now = app.now()
    count = 0
    with app.moodle.stream(prepared.sql, prepared.params) as stream, app.state.begin() as state:
        rows: Iterator[Row] = stream.rows
        if report.transform is not None:
            rows = report.transform(rows, prepared.context)
        state.execute(sa.delete(summary))
        batch: list[dict[str, Any]] = []
        for row in rows:
            batch.append(_stored(names, row, now))
            if len(batch) == BATCH:
                state.execute(sa.insert(summary), batch)
                count += len(batch)
                batch.clear()
        if batch:
            state.execute(sa.insert(summary), batch)
            count += len(batch)
    return count
