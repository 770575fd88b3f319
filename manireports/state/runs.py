"""The report run history (manireports_report_runs): every run, by hand or by a schedule.

A run is recorded as 'running' before the first query and finished afterwards, so a run that
crashed or was killed stays visible as 'running' instead of vanishing. Parameters go through the
audit log's redaction: the run table is a log too, and a parameter may carry a token.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import sqlalchemy as sa

from manireports.state.audit import from_json, redact_text, to_json
from manireports.state.store import StateDB, now_seconds, transaction
from manireports.state.tables import report_runs

FinalStatus = Literal["completed", "failed"]


def start_run(
    state: StateDB | sa.Connection,
    *,
    report: str,
    reportid: int | None,
    userid: int,
    acting_userid: int | None,
    params: Mapping[str, Any],
    format: str | None,
    scheduleid: int | None = None,
    now: int | None = None,
) -> int:
    """Record a run as 'running' and return its id.

    `report` is the built-in report's name or the custom report's name (with `reportid` its id);
    `acting_userid` is the --as-user whose view the run produces, None when it is the operator's;
    `format` is the export's, None when the rows were read without being written (a dashboard).
    """
    row = {
        "report": report,
        "reportid": reportid,
        "scheduleid": scheduleid,
        "userid": userid,
        "actinguser": acting_userid,
        "status": "running",
        "paramsjson": to_json(params),
        "format": format,
        "timestarted": now_seconds(now),
    }
    with transaction(state) as connection:
        key = connection.execute(sa.insert(report_runs).values(row)).inserted_primary_key
    assert key is not None
    return int(key[0])


def finish_run(
    state: StateDB | sa.Connection,
    runid: int,
    *,
    status: FinalStatus,
    rowcount: int | None,
    error: str | None,
    outputpath: str | None = None,
    now: int | None = None,
) -> None:
    """Record how a run ended; the error text is kept with any credentials in it masked."""
    values = {
        "status": status,
        "rowcount": rowcount,
        "error": None if error is None else redact_text(error),
        "outputpath": outputpath,
        "timefinished": now_seconds(now),
    }
    with transaction(state) as connection:
        result = connection.execute(
            sa.update(report_runs).where(report_runs.c.id == runid).values(values)
        )
    if result.rowcount == 0:
        raise LookupError(f"There is no report run {runid} to finish.")


def attach_schedule(connection: sa.Connection, runid: int, scheduleid: int) -> None:
    """Mark a finished run as made for a schedule, so its deliveries can find it."""
    connection.execute(
        sa.update(report_runs).where(report_runs.c.id == runid).values(scheduleid=scheduleid)
    )


def _decoded(row: sa.RowMapping) -> dict[str, Any]:
    return {**row, "paramsjson": from_json(row["paramsjson"])}


def get_run(state: StateDB | sa.Connection, runid: int) -> dict[str, Any] | None:
    """One run with its parameters decoded, or None."""
    with transaction(state) as connection:
        query = sa.select(report_runs).where(report_runs.c.id == runid)
        row = connection.execute(query).mappings().one_or_none()
    return None if row is None else _decoded(row)


def list_runs(
    state: StateDB | sa.Connection,
    *,
    userid: int | None = None,
    report: str | None = None,
    scheduleid: int | None = None,
    status: str | None = None,
    since: int | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Runs, newest first, with `paramsjson` decoded; `since` (Unix time) is inclusive."""
    query = sa.select(report_runs).order_by(
        report_runs.c.timestarted.desc(), report_runs.c.id.desc()
    )
    filters = {
        report_runs.c.userid: userid,
        report_runs.c.report: report,
        report_runs.c.scheduleid: scheduleid,
        report_runs.c.status: status,
    }
    for column, wanted in filters.items():
        if wanted is not None:
            query = query.where(column == wanted)
    if since is not None:
        query = query.where(report_runs.c.timestarted >= since)
    if limit is not None:
        query = query.limit(limit)
    with transaction(state) as connection:
        rows = connection.execute(query).mappings().all()
    return [_decoded(row) for row in rows]
