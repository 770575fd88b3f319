"""Which report runs and dashboards may answer from the cache, under which key, and how a miss
fills it: the one path to manireports_cache_summary.

Of the reports, only the pre-aggregated ones (trends, company statistics, the SCORM summary)
are cached. The filters hash holds every bound report parameter, the scope's grants and
`--company` (two users with the same grants see the same rows, so a site admin shares the
operator's entries), and the moment asked for:

- a run without `--as-of` answers "now": it shares one entry per filters, kept for the trends TTL
  (6 h by default, the interval at which `jobs build-cache` refreshes them);
- a run with `--as-of` in the past is keyed by that moment and kept for the historical TTL;
- a run with `--as-of` now or later never uses the cache, since its answer is still changing.

A miss is stored only when the whole result went through and its run ended well: a run cut by
`--limit`, stopped at `[reports] max_rows` or failed stores nothing.

A computed dashboard is kept under its layout, the viewer's grants and `--company`, for the
dashboard TTL, with the fingerprint of every probe (it reads all those reports); a dashboard
`--as-of` a moment is never cached.

Each entry carries a fingerprint of the Moodle data its report reads: the highest id of each table
(a new enrolment, completion record, SCORM track, company member) and the latest completion time
(a completion recorded on an existing row), all answered from an index in one query of a few
milliseconds. A different fingerprint, higher or lower (a site restored from an older backup), is a
miss. Changes no index shows (a row edited in place without a new completion time, a row deleted
other than the newest) still wait for the TTL.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, Self

from manireports.app import App
from manireports.cache import Kind, ResultCache, cache_key
from manireports.reports.spec import PreparedReport, ReportRequest, Row
from manireports.scope import Scope
from manireports.sqltext import expand_tables

CACHED_REPORTS = ("enrolment_trends", "completion_trends", "company_overview", "scorm_summary")

# (table, column, what the site needs to have the table) probed for each cached report. Every
# column is a primary key or indexed in Moodle's schema, so MAX() is one index lookup.
Probe = tuple[str, str, str | None]
_USERS: tuple[Probe, ...] = (("user", "id", None), ("company_users", "id", "iomad"))
_ENROLMENTS: tuple[Probe, ...] = (("user_enrolments", "id", None), ("enrol", "id", None))
_COMPLETIONS: tuple[Probe, ...] = (
    ("course_completions", "id", None),
    ("course_completions", "timecompleted", None),
)
PROBES: dict[str, tuple[Probe, ...]] = {
    "enrolment_trends": _ENROLMENTS + _USERS,
    "completion_trends": _COMPLETIONS + _USERS,
    "company_overview": _COMPLETIONS + _ENROLMENTS + _USERS + (("company", "id", "iomad"),),
    "scorm_summary": (
        ("scorm", "id", None),
        ("scorm_scoes", "id", None),
        ("scorm_attempt", "id", "43plus"),
        ("scorm_scoes_value", "id", "43plus"),
        ("scorm_scoes_track", "id", "pre43"),
        *_USERS,
    ),
}


# A dashboard reads all of them.
ALL_PROBES: tuple[Probe, ...] = tuple(dict.fromkeys(p for ps in PROBES.values() for p in ps))


def data_fingerprint(app: App, reporttype: str | None) -> str:
    """The probes of `reporttype`'s tables on this site (None: every probe, for a dashboard),
    as one short text (see the module docstring)."""
    site = app.site
    present = {None, site.iomad and "iomad", site.scorm}
    chosen = ALL_PROBES if reporttype is None else PROBES[reporttype]
    probes = [probe for probe in chosen if probe[2] in present]
    if not probes:
        return ""
    moodle = app.moodle
    aliases = site.table_aliases()
    selects = [
        f"(SELECT MAX({column}) FROM {expand_tables('{' + table + '}', moodle.prefix, aliases)})"
        for table, column, _needs in probes
    ]
    values = moodle.fetch_all("SELECT " + ", ".join(selects))[0]
    return ",".join("" if value is None else str(int(value)) for value in values)


@dataclass
class CacheSlot:
    """One computation's place in the cache: the fresh entry it found, or where what it computes
    is stored."""

    cache: ResultCache
    kind: Kind
    reporttype: str
    referenceid: int | None
    filters: dict[str, Any]
    # The moment the entry was looked for; what the computation stores is dated then.
    now: int
    # Whether the computation looked for an entry (False with --no-cache and for `jobs
    # build-cache`, which only refresh it).
    looked: bool
    # The Moodle data's fingerprint taken before the computation, stored with its result.
    fingerprint: str | None = None
    # The fresh entry's data; None when the computation runs (a miss, or not looked for).
    found: Any | None = None

    @classmethod
    def open(
        cls,
        cache: ResultCache,
        kind: Kind,
        reporttype: str,
        referenceid: int | None,
        filters: dict[str, Any],
        *,
        now: int,
        look: bool,
        fingerprint: str | None = None,
    ) -> Self:
        """The slot of these filters, with the fresh entry read when `look` (counting a hit)."""
        slot = cls(cache, kind, reporttype, referenceid, filters, now, look, fingerprint)
        if look:
            key = cache_key(reporttype, referenceid, filters)
            slot.found = cache.get(key, now=now, fingerprint=fingerprint)
        return slot

    @property
    def outcome(self) -> str:
        """For the run record and the audit log."""
        if self.found is not None:
            return "hit"
        return "miss" if self.looked else "refresh"

    def store(self, data: Any) -> None:
        """Keep what the computation produced as the entry, counting the miss it answers."""
        self.cache.put(
            self.kind,
            self.reporttype,
            self.referenceid,
            self.filters,
            data,
            now=self.now,
            missed=self.looked,
            fingerprint=self.fingerprint,
        )


@dataclass
class ReportCache(CacheSlot):
    """A report run's slot, whose rows are written through as they stream."""

    kept: list[list[Any]] | None = field(default=None, repr=False)

    @property
    def rows(self) -> list[Row] | None:
        """The fresh entry's rows; None when the run computes."""
        return None if self.found is None else [tuple(row) for row in self.found]

    def keep(self, rows: Iterator[Row]) -> Iterator[Row]:
        """Pass the rows on, keeping them; `kept` is set once the last one has gone through."""
        kept: list[list[Any]] = []
        for row in rows:
            kept.append(list(row))
            yield row
        self.kept = kept

    def store_kept(self) -> bool:
        """Store the rows if every one went through `keep`; whether they were."""
        if self.kept is None:
            return False
        self.store(self.kept)
        return True


def _grants(scope: Scope) -> list[dict[str, Any]] | None:
    return None if scope.grants is None else [asdict(grant) for grant in scope.grants]


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
        "grants": _grants(scope),
        "company": scope.company,
        "as_of": None if request.as_of is None else prepared.now,
    }
    referenceid = prepared.params.get("companyid") or scope.company
    fingerprint = data_fingerprint(app, report.name)
    return ReportCache.open(
        cache,
        kind,
        report.name,
        referenceid,
        filters,
        now=now,
        look=request.use_cache,
        fingerprint=fingerprint,
    )


def dashboard_cache(
    app: App,
    *,
    reporttype: str,
    role: str,
    scope: Scope,
    company: int | None,
    layout: tuple[int, int] | None,
    as_of: str | None,
    now: int,
    look: bool,
) -> CacheSlot | None:
    """The cache of one dashboard, or None when it may not use it (see the module docstring).

    `layout` is a custom dashboard's id and modification time, so an edited one is recomputed.
    """
    cache = ResultCache(app.state, app.config)
    if as_of is not None or not cache.enabled:
        return None
    filters: dict[str, Any] = {
        "role": role,
        "grants": _grants(scope),
        "company": company,
        "dashboard": None if layout is None else list(layout),
    }
    return CacheSlot.open(
        cache,
        "dashboard",
        reporttype,
        company,
        filters,
        now=now,
        look=look,
        fingerprint=data_fingerprint(app, None),
    )
