"""The reports a dashboard reads, all run as the same acting user through the report runner.

Nothing here queries Moodle: every figure is a report's rows, so what the acting user's scope
hides from `run-report` is hidden from their dashboard too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from manireports.app import App
from manireports.reports.collect import Record, collect_report
from manireports.reports.run import ReportRequest


@dataclass
class Sources:
    """Runs reports as one viewer; a report asked for twice with the same request runs once."""

    app: App
    as_user: str | None
    company: int | None
    as_of: str | None
    use_cache: bool
    _seen: dict[tuple[str, tuple[tuple[str, str], ...], str | None], list[Record]] = field(
        default_factory=dict
    )

    def rows(
        self, report: str, params: dict[str, str] | None = None, *, as_of: str | None = None
    ) -> list[Record]:
        moment = as_of or self.as_of
        key = (report, tuple(sorted((params or {}).items())), moment)
        if key not in self._seen:
            request = ReportRequest(
                report,
                params=params or {},
                as_of=moment,
                as_user=self.as_user,
                company=self.company,
                use_cache=self.use_cache,
            )
            self._seen[key] = collect_report(self.app, request)
        return self._seen[key]
