"""`jobs build-cache`: compute the pre-aggregated reports ahead of the people who read them.

Each report runs through `open_report` as the shell operator, unscoped and with its default
parameters, with the cache bypassed for reading, and is read to its last row: the fresh answer
replaces the entry, so the trends, company statistics and SCORM summary that `run-report` and
dashboards read are at most one build interval old. The site dashboard (the admin layout, as the
operator) is built last, from those fresh entries, so the dashboard operators open first answers
from the cache too; other dashboards are computed when first opened and kept for the dashboard TTL.
The computations are ordinary runs, recorded in the run history and the audit log with `cache:
refresh` and `for: build-cache` (the dashboard's own runs `for: dashboard`).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from manireports.app import App
from manireports.reports.builtin import BUILTIN_REPORTS
from manireports.reports.caching import CACHED_REPORTS
from manireports.reports.run import open_report
from manireports.reports.spec import ReportRequest


@dataclass(frozen=True)
class BuiltEntry:
    report: str
    # Rows stored (widgets, for the dashboard), or None when the site lacks what the report
    # needs (IOMAD, SCORM).
    rows: int | None


def build_cache(app: App) -> list[BuiltEntry]:
    """Refresh the cache entry of every pre-aggregated report this site can run."""
    built: list[BuiltEntry] = []
    flags = app.site.flags
    for name in CACHED_REPORTS:
        if BUILTIN_REPORTS[name].needs - flags:
            built.append(BuiltEntry(name, None))
            continue
        with open_report(app, ReportRequest(name, use_cache=False), purpose="build-cache") as run:
            # Read to the end, keeping nothing: the run stores the rows as they pass.
            deque(run.rows, maxlen=0)
        built.append(BuiltEntry(name, run.count))
    from manireports.dashboard import DashboardRequest, build_dashboard

    dashboard, _hit = build_dashboard(app, DashboardRequest(refresh=True))
    built.append(BuiltEntry("dashboard_admin", len(dashboard.widgets)))
    return built
