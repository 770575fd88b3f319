"""Which report runs may answer from the cache, under which key, and how a miss fills it.

Only the pre-aggregated reports (trends, company statistics, the SCORM summary)
are cached. The filters hash holds every bound report parameter, the scope's grants and
`--company` (two users with the same grants see the same rows, so a site admin shares the
operator's entries), and the moment asked for:

- a run without `--as-of` answers "now": it shares one entry per filters, kept for the trends TTL
  (6 h by default, the interval at which `jobs build-cache` refreshes them);
- a run with `--as-of` in the past is keyed by that moment and kept for the historical TTL;
- a run with `--as-of` now or later never uses the cache, since its answer is still changing.

A miss is stored only when the whole result went through: a run cut by `--limit` or stopped at
`[reports] max_rows` stores nothing.

Each entry carries a fingerprint of the Moodle data its report reads: the highest id of each table
(a new enrolment, completion record, SCORM track, company member) and the latest completion time
(a completion recorded on an existing row), all answered from an index in one query of a few
milliseconds. A different fingerprint, higher or lower (a site restored from an older backup), is a
miss. Changes no index shows (a row edited in place without a new completion time, a row deleted
other than the newest) still wait for the TTL.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from manireports.app import App
from manireports.cache import Kind, ResultCache, cache_key
from manireports.reports.spec import Row
from manireports.sqltext import expand_tables

if TYPE_CHECKING:
    from manireports.reports.run import PreparedReport, ReportRequest

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
    # The Moodle data's fingerprint taken before the run, stored with what it computes.
    fingerprint: str | None = None

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
            fingerprint=self.fingerprint,
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
    fingerprint = data_fingerprint(app, report.name)
    found = None
    if request.use_cache:
        key = cache_key(report.name, referenceid, filters)
        found = cache.get(key, now=now, fingerprint=fingerprint)
    rows = None if found is None else [tuple(row) for row in found]
    return ReportCache(
        cache, kind, report.name, referenceid, filters, rows, request.use_cache, fingerprint
    )
