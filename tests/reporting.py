"""Run a built-in report through the library and get its rows as dicts (tests of report rules)."""

from __future__ import annotations

from typing import Any

from manireports.app import App
from manireports.config import load_config
from manireports.reports.run import ReportRequest, prepare_report


def report_rows(
    url: str,
    report: str,
    *,
    as_of: str | None = None,
    timezone: str | None = None,
    params: dict[str, str] | None = None,
    as_user: str | None = None,
    company: int | None = None,
) -> list[dict[str, Any]]:
    """The rows `run-report` would export, before formatting, with raw database values."""
    environ = {"MANIREPORTS_MOODLE_URL": url}
    if timezone:
        environ["MANIREPORTS_SITE_TIMEZONE"] = timezone
    app = App(load_config(environ=environ))
    try:
        request = ReportRequest(
            report, params=params or {}, as_of=as_of, as_user=as_user, company=company
        )
        prepared = prepare_report(app, request)
        names = [column.name for column in prepared.report.columns]
        with app.moodle.stream(prepared.sql, prepared.params) as stream:
            rows = stream.rows
            if prepared.report.transform is not None:
                rows = prepared.report.transform(rows, prepared.context)
            return [dict(zip(names, row, strict=True)) for row in rows]
    finally:
        app.moodle.dispose()
