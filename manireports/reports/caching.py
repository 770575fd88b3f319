"""Which report runs may answer from the cache, under which key, and how a miss fills it.

Only the pre-aggregated reports (SPEC section 11: trends, company statistics, the SCORM summary)
are cached. The filters hash holds every bound report parameter, the scope's grants and
`--company` (two users with the same grants see the same rows, so a site admin shares the
operator's entries), and the moment asked for:

- a run without `--as-of` answers "now": it shares one entry per filters, kept for the trends TTL
  (6 h by default, the interval at which `jobs build-cache` refreshes them);
- a run with `--as-of` in the past is keyed by that moment and kept for the historical TTL;
- a run with `--as-of` now or later never uses the cache, since its answer is still changing.

A miss is stored only when the whole result went through: a run cut by `--limit` or stopped at
`[reports] max_rows` stores nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from manireports.app import App
from manireports.cache import Kind, ResultCache, cache_key
from manireports.reports.spec import Row

if TYPE_CHECKING:
    from manireports.reports.run import PreparedReport, ReportRequest

CACHED_REPORTS = ("enrolment_trends", "completion_trends", "company_overview", "scorm_summary")


@dataclass
class ReportCache:
    """The cache as one run sees it: the entry it found, or how to store what it computes."""

    cache: ResultCache
    kind: Kind
    reporttype: str
    referenceid: int | None
    filters: dict[str, Any]
    # The fresh entry's rows; None when the run computes (a miss, or --no-cache).
    rows: list[Row] | None
    # Whether the run looked for an entry (False with --no-cache, which only refreshes it).
    looked: bool

    @property
    def outcome(self) -> str:
        """For the run record and the audit log."""
        if self.rows is not None:
            return "hit"
        return "miss" if self.looked else "refresh"

    def keep(self, rows: Iterator[Row], now: int) -> Iterator[Row]:
        """Pass the rows on and store them once the last one has gone through."""
        kept: list[list[Any]] = []
        for row in rows:
            kept.append(list(row))
            yield row
        self.cache.put(
            self.kind,
            self.reporttype,
            self.referenceid,
            self.filters,
            kept,
            now=now,
            missed=self.looked,
        )


def report_cache(app: App, prepared: PreparedReport, request: ReportRequest) -> ReportCache | None:
    """The cache of one run, or None when the run may not use it (see the module docstring)."""
    report = prepared.report
    cache = ResultCache(app.state, app.config)
    if report.custom_id is not None or report.name not in CACHED_REPORTS or not cache.enabled:
        return None
    now = app.now()
    kind: Kind = "trends"
    if request.as_of is not None:
        if prepared.now >= now:
            return None
        kind = "historical"
    scope = prepared.scope
    filters = {
        "params": {param.name: prepared.params.get(param.name) for param in report.params},
        "grants": None if scope.grants is None else [asdict(grant) for grant in scope.grants],
        "company": scope.company,
        "as_of": None if request.as_of is None else prepared.now,
    }
    referenceid = prepared.params.get("companyid") or scope.company
    found = None
    if request.use_cache:
        found = cache.get(cache_key(report.name, referenceid, filters), now=now)
    rows = None if found is None else [tuple(row) for row in found]
    return ReportCache(cache, kind, report.name, referenceid, filters, rows, request.use_cache)
