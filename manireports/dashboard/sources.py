"""The reports a dashboard reads, all run as the same acting user through the report runner.

Nothing here queries Moodle: every figure is a report's rows, so what the acting user's scope
hides from `run-report` is hidden from their dashboard too. Each report a dashboard reads is one
recorded run (see docs/dashboards.md), read once: its rows stream past the panels that need
them, which keep their figures and never the report.

A dashboard waits mostly on the database (course progress and the at-risk inputs are seconds of
server work each on a large site, and little on this side), so `fold_all` reads up to
`[reports] dashboard_parallel_reports` reports at once, each run on its own connection and
recorded as usual; the figures come back in the order asked, whichever run ends first.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Generic, TypeVar

from manireports.app import App
from manireports.reports.collect import Record, open_records
from manireports.reports.spec import ReportRequest

T = TypeVar("T")

# What a dashboard's runs are recorded for (the run record's and audit entry's "for").
PURPOSE = "dashboard"


class Stopped(Exception):
    """Ends a report run whose figures are no longer wanted: another run of the same dashboard
    failed, or the command is being stopped. The run is recorded as failed with this reason."""


@dataclass(frozen=True)
class Ask(Generic[T]):
    """One report to read and what to make of its records.

    `columns` names the only columns `figures` reads: the others are not converted to record
    values at all (a panel counting 70,000 at-risk rows needs nine of their fourteen columns).
    `where` names a yes/no column: `figures` then sees only the rows where it is true.
    """

    report: str
    figures: Callable[[Iterator[Record]], T]
    params: dict[str, str] | None = None
    as_of: str | None = None
    columns: tuple[str, ...] | None = None
    where: str | None = None


@dataclass(frozen=True)
class Together:
    """Asks read one after the other by one worker, in this order, so that a later one can
    take rows an earlier one read for it (the at-risk learners, which are the course progress
    report's rows at the same moment; see MoodleDB.handing_over) instead of querying again."""

    asks: tuple[Ask[Any], ...]


@dataclass
class Sources:
    """Runs reports as one viewer."""

    app: App
    as_user: str | None
    company: int | None
    as_of: str | None
    use_cache: bool
    # The moment of every run not asked --as-of: one for the whole dashboard, so its panels agree.
    moment: int | None = None
    # The few reports of a dozen rows that several panels read (the 12-month trends), kept.
    _kept: dict[tuple[str, tuple[tuple[str, str], ...], str | None], list[Record]] = field(
        default_factory=dict
    )

    def open(
        self,
        report: str,
        params: dict[str, str] | None = None,
        *,
        as_of: str | None = None,
        columns: Sequence[str] | None = None,
        where: str | None = None,
    ) -> AbstractContextManager[Iterator[Record]]:
        """The report's records while the block reads them; the run ends with the block."""
        request = ReportRequest(
            report,
            params=params or {},
            as_of=as_of or self.as_of,
            moment=self.moment,
            as_user=self.as_user,
            company=self.company,
            use_cache=self.use_cache,
        )
        return open_records(self.app, request, purpose=PURPOSE, columns=columns, where=where)

    def fold(
        self,
        report: str,
        figures: Callable[[Iterator[Record]], T],
        params: dict[str, str] | None = None,
        *,
        as_of: str | None = None,
        columns: Sequence[str] | None = None,
        where: str | None = None,
    ) -> T:
        """What `figures` makes of the report's records, read as they stream."""
        with self.open(report, params, as_of=as_of, columns=columns, where=where) as records:
            return figures(records)

    def _fold_together(self, group: Together, stop: threading.Event | None = None) -> list[Any]:
        found = []
        with self.app.moodle.handing_over():
            for ask in group.asks:
                figures = ask.figures if stop is None else partial(_stoppable, ask.figures, stop)
                found.append(
                    self.fold(
                        ask.report,
                        figures,
                        ask.params,
                        as_of=ask.as_of,
                        columns=ask.columns,
                        where=ask.where,
                    )
                )
        return found

    def fold_all(self, asks: Sequence[Ask[Any] | Together]) -> list[Any]:
        """Each ask's figures, in the order asked (those of a `Together` in its place, one after
        the other), reading several reports at once.

        If one run fails, the queries of the others are cancelled (or they stop at their next
        row) and the first failure in the order asked is raised. If the command itself is
        stopped (Ctrl-C, SIGTERM), the runs in flight are stopped the same way and waited for,
        so each is recorded as failed rather than left running; a second signal does not wait.
        """
        groups = [ask if isinstance(ask, Together) else Together((ask,)) for ask in asks]
        workers = min(self.app.settings.reports.dashboard_parallel_reports, len(groups))
        if workers <= 1:
            return [found for group in groups for found in self._fold_together(group)]
        # Built here, once, rather than raced for by the threads.
        _ = (self.app.moodle, self.app.state, self.app.site)
        stop = threading.Event()
        results: list[list[Any]] = [[] for _ in groups]
        failures: list[tuple[bool, int, BaseException]] = []
        queue = iter(enumerate(groups))
        lock = threading.Lock()

        def work() -> None:
            while not stop.is_set():
                with lock:
                    item = next(queue, None)
                if item is None:
                    return
                index, group = item
                try:
                    results[index] = self._fold_together(group, stop)
                except BaseException as exc:  # handed to the caller's thread below
                    with lock:
                        # A run ended because another failed first is not the cause.
                        failures.append((stop.is_set(), index, exc))
                        first = not stop.is_set()
                        stop.set()
                    if first:
                        self.app.moodle.interrupt()
                    return

        threads = [
            threading.Thread(target=work, name=f"dashboard-report-{n}", daemon=True)
            for n in range(workers)
        ]
        for thread in threads:
            thread.start()
        try:
            for thread in threads:
                while thread.is_alive():
                    thread.join(0.1)  # wakes for signals, which only this thread receives
        except BaseException:
            stop.set()
            self.app.moodle.interrupt()
            for thread in threads:
                thread.join()
            raise
        if failures:
            raise min(failures, key=lambda failure: failure[:2])[2]
        return [found for group in results for found in group]

    def rows(self, report: str, *, as_of: str | None = None) -> list[Record]:
        """Every record of a small report (one row per month, or a learner's own courses), run
        once however many panels ask for it."""
        key = (report, (), as_of or self.as_of)
        if key not in self._kept:
            self._kept[key] = self.fold(report, list, as_of=as_of)
        return self._kept[key]

    def keep(self, report: str, records: list[Record]) -> None:
        """Records of a small report read alongside others (`fold_all` with `list`), for `rows`."""
        self._kept[(report, (), self.as_of)] = records


def _stoppable(
    figures: Callable[[Iterator[Record]], T], stop: threading.Event, rows: Iterator[Record]
) -> T:
    """`figures` over the rows, ended at the first row read after `stop` is set."""

    def until() -> Iterator[Record]:
        for row in rows:
            if stop.is_set():
                raise Stopped("stopped: the dashboard it was read for failed or was interrupted")
            yield row

    return figures(until())
