"""The reports a dashboard reads, all run as the same acting user through the report runner.

Nothing here queries Moodle: every figure is a report's rows, so what the acting user's scope
hides from `run-report` is hidden from their dashboard too. Each report a dashboard reads is one
recorded run (see docs/dashboards.md), read once: its rows stream past the panels that need
them, which keep their figures and never the report.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TypeVar

from manireports.app import App
from manireports.reports.collect import Record, open_records
from manireports.reports.spec import ReportRequest

T = TypeVar("T")

# What a dashboard's runs are recorded for (the run record's and audit entry's "for").
PURPOSE = "dashboard"


@dataclass
class Sources:
    """Runs reports as one viewer."""

    app: App
    as_user: str | None
    company: int | None
    as_of: str | None
    use_cache: bool
    # The few reports of a dozen rows that several panels read (the 12-month trends), kept.
    _kept: dict[tuple[str, tuple[tuple[str, str], ...], str | None], list[Record]] = field(
        default_factory=dict
    )

    def open(
        self, report: str, params: dict[str, str] | None = None, *, as_of: str | None = None
    ) -> AbstractContextManager[Iterator[Record]]:
        """The report's records while the block reads them; the run ends with the block."""
        request = ReportRequest(
            report,
            params=params or {},
            as_of=as_of or self.as_of,
            as_user=self.as_user,
            company=self.company,
            use_cache=self.use_cache,
        )
        return open_records(self.app, request, purpose=PURPOSE)

    def fold(
        self,
        report: str,
        figures: Callable[[Iterator[Record]], T],
        params: dict[str, str] | None = None,
        *,
        as_of: str | None = None,
    ) -> T:
        """What `figures` makes of the report's records, read as they stream."""
        with self.open(report, params, as_of=as_of) as records:
            return figures(records)

    def rows(self, report: str, *, as_of: str | None = None) -> list[Record]:
        """Every record of a small report (one row per month, or a learner's own courses), run
        once however many panels ask for it."""
        key = (report, (), as_of or self.as_of)
        if key not in self._kept:
            self._kept[key] = self.fold(report, list, as_of=as_of)
        return self._kept[key]
