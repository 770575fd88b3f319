"""The report cache on every engine: keys, TTL, counters, and run-report.

Times are fixed Unix seconds so freshness is worked out by hand: an entry written at T with a TTL
of S seconds is served while now < T + S and never from T + S on.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from manireports.app import App
from manireports.cache import ResultCache, cache_key
from manireports.config import load_config
from manireports.export import ExportOptions
from manireports.reports.caching import CacheSlot, data_fingerprint
from manireports.reports.run import ReportRequest, run_report
from manireports.state import StateDB, list_audit, list_runs
from tests.moodle_site import MoodleSite

T = 1_760_000_000


class ClockApp(App):
    """An App whose "now" the test sets, so TTLs can run out without waiting."""

    clock = T

    def now(self) -> int:
        return self.clock


def make_app(moodle_url: str, state_url: str, **settings: str) -> ClockApp:
    environ = {"MANIREPORTS_MOODLE_URL": moodle_url, "MANIREPORTS_STATE_URL": state_url}
    environ.update({f"MANIREPORTS_{key.upper()}": value for key, value in settings.items()})
    return ClockApp(load_config(environ=environ))


@pytest.fixture
def state_url(state_db_url: str) -> str:
    """The state database: a database of its own on the test's engine."""
    url = state_db_url
    StateDB(url).upgrade()
    return url


def test_keys_cover_every_filter() -> None:
    base = {"params": {"courseid": 3}, "grants": None, "company": None, "as_of": None}
    key = cache_key("enrolment_trends", None, base)
    assert key.startswith("enrolment_trends_0_") and len(key) == len("enrolment_trends_0_") + 64
    # The order of the filters does not matter; every value does.
    assert cache_key("enrolment_trends", None, dict(reversed(base.items()))) == key
    for change in ({"params": {"courseid": 4}}, {"company": 2}, {"as_of": T}, {"grants": []}):
        assert cache_key("enrolment_trends", None, base | change) != key
    assert cache_key("enrolment_trends", 7, base).startswith("enrolment_trends_7_")


def test_ttl_hits_misses_stats_and_clear(state_url: str) -> None:
    app = make_app("sqlite://", state_url, cache_ttl_trends_seconds="100")
    cache = ResultCache(app.state, app.config)
    computed: list[int] = []

    def compute() -> list[list[Any]]:
        computed.append(1)
        return [["2026-01", len(computed)]]

    def read(now: int) -> tuple[Any, bool]:
        slot = CacheSlot.open(cache, "trends", "enrolment_trends", None, {}, now=now, look=True)
        if slot.found is not None:
            return slot.found, True
        data = compute()
        slot.store(data)
        return data, False

    # T: miss (computed, stored with TTL 100). T+99: hit. T+100: stale, so a miss that computes
    # again. T+150: hit on the new entry (written at T+100, fresh until T+200).
    assert read(T) == ([["2026-01", 1]], False)
    assert read(T + 99) == ([["2026-01", 1]], True)
    assert read(T + 100) == ([["2026-01", 2]], False)
    assert read(T + 150) == ([["2026-01", 2]], True)
    assert len(computed) == 2
    # Another type, with the dashboard TTL (default 3600): one miss.
    CacheSlot.open(cache, "dashboard", "kpi", 5, {"x": 1}, now=T, look=True).store({"v": 1})
    stats = {s.reporttype: s for s in cache.stats(now=T + 160)}
    trends = stats["enrolment_trends"]
    # One entry, generated at T+100: 60 s old, fresh; 2 hits, 2 misses -> 50.0 %.
    assert (trends.entries, trends.fresh, trends.newest_age, trends.hits, trends.misses) == (
        1, 1, 60, 2, 2,
    )  # fmt: skip
    assert trends.hit_rate == 50.0
    # kpi: written at T, 160 s old; 0 hits of 1 read.
    assert (stats["kpi"].oldest_age, stats["kpi"].hit_rate) == (160, 0.0)
    assert cache.clear("kpi") == 1
    assert [s.reporttype for s in cache.stats(now=T)] == ["enrolment_trends"]
    assert cache.clear() == 1
    assert cache.stats(now=T) == []


def test_disabled_cache_neither_reads_nor_writes(state_url: str) -> None:
    app = make_app("sqlite://", state_url, cache_enabled="false")
    cache = ResultCache(app.state, app.config)
    for expected in (1, 2):
        slot = CacheSlot.open(cache, "trends", "t", None, {}, now=T, look=True)
        assert (slot.found, slot.outcome) == (None, "miss")
        slot.store(expected)
    assert cache.stats(now=T) == []


# --------------------------------------------------------------------------------------------
# run-report through the cache.

# T is 2025-10-09 08:53:20 UTC (20 370 days of 86 400 s = 1 759 968 000 is 2025-10-09 00:00,
# plus 32 000 s); its 12-month window is 2024-11 .. 2025-10.
ENROLLED = T - 86_400  # 2025-10-08 08:53:20, in the current month


@pytest.fixture
def site(db_url: str) -> Iterator[MoodleSite]:
    s = MoodleSite(db_url)
    course = s.course("A")
    for name in ("a", "b"):
        s.enrol(s.user(name), course, timecreated=ENROLLED, role=None)
    s.course_a = course  # type: ignore[attr-defined]
    yield s
    s.dispose()


def trend_run(app: App, **request: Any) -> tuple[int, str | None]:
    """The count of the last month of enrolment_trends, and the run's cache outcome."""
    out = io.BytesIO()
    outcome = run_report(
        app,
        ReportRequest("enrolment_trends", **request),
        fmt="json",
        destination=out,
        options=ExportOptions(),
    )
    rows = json.loads(out.getvalue())
    assert len(rows) == 12 and outcome.rows == 12
    audit = list_audit(app.state, action="report_run", limit=1)[0]
    run = list_runs(app.state, limit=1)[0]
    assert run["id"] == outcome.runid and run["paramsjson"]["cache"] == audit["details"]["cache"]
    return rows[-1]["count"], audit["details"]["cache"]


def test_run_report_reads_fresh_entries(site: MoodleSite, state_url: str) -> None:
    app = make_app(site.url, state_url, site_timezone="UTC")
    # Two enrolments this month: the first run computes, the second reads the entry.
    assert trend_run(app) == (2, "miss")
    assert trend_run(app) == (2, "hit")
    # A third enrolment raises the highest user_enrolments id: the entry no longer matches
    # Moodle's data, so the next run recomputes although the entry is within its TTL.
    site.enrol(site.user("c"), site.course_a, timecreated=ENROLLED, role=None)  # type: ignore[attr-defined]
    assert trend_run(app) == (3, "miss")
    assert trend_run(app) == (3, "hit")
    # An edit in place that no index probe sees (the first enrolment moved 400 days back, out of
    # the 12-month window) is not seen while the entry is fresh ...
    first = site.table("user_enrolments")
    with site.engine.begin() as connection:
        first_id = connection.execute(sa.select(sa.func.min(first.c.id))).scalar_one()
    site.update("user_enrolments", first_id, timecreated=T - 400 * 86_400)
    assert trend_run(app) == (3, "hit")
    # ... unless --no-cache, which recomputes and refreshes the entry for later readers.
    assert trend_run(app, use_cache=False) == (2, "refresh")
    assert trend_run(app) == (2, "hit")
    # Six hours later (trends TTL 21600 s) the entry is stale and never served.
    app.clock = T + 21_600
    assert trend_run(app) == (2, "miss")
    # A parameter changes the key; a --limit run computes but stores nothing.
    course = str(site.course_a)  # type: ignore[attr-defined]
    assert trend_run(app, params={"courseid": course}) == (2, "miss")
    out = io.BytesIO()
    run_report(
        app, ReportRequest("enrolment_trends", limit=5), fmt="json", destination=out,
        options=ExportOptions(),
    )  # fmt: skip
    stats = ResultCache(app.state, app.config).stats(now=app.clock)
    assert [s.entries for s in stats] == [2]
    # Reads that looked: miss, hit, miss (invalidated), hit, hit, hit (after the refresh, which
    # does not count), miss (TTL), miss (the new key), hit (--limit reads the fresh entry).
    assert (stats[0].hits, stats[0].misses, stats[0].invalidations) == (5, 4, 1)


def test_fingerprints_probe_the_tables_each_report_reads(site: MoodleSite, state_url: str) -> None:
    app = make_app(site.url, state_url)
    # Users guest 1, admin 2, a 3, b 4; two enrolments (ids 1, 2), each with its own instance
    # (ids 1, 2); no completion, company member or SCORM row yet (empty probes).
    assert data_fingerprint(app, "enrolment_trends") == "2,2,4,"
    assert data_fingerprint(app, "completion_trends") == ",,4,"
    assert data_fingerprint(app, "scorm_summary") == ",,,,4,"
    site.complete(3, site.course_a, 1_750_000_000)  # type: ignore[attr-defined]
    site.complete(4, site.course_a, 1_740_000_000)  # type: ignore[attr-defined]
    site.insert("company_users", companyid=1, userid=3, departmentid=0)
    # The latest completion time is the first row's, whatever the order of the ids.
    assert data_fingerprint(app, "completion_trends") == "2,1750000000,4,1"
    assert data_fingerprint(app, "company_overview") == "2,1750000000,2,2,4,1,"


def test_a_site_restored_from_an_older_backup_is_not_served_newer_rows(
    site: MoodleSite, state_url: str
) -> None:
    """Same site, older data: the fingerprint goes backwards, which is a change like any other."""
    app = make_app(site.url, state_url, site_timezone="UTC")
    assert trend_run(app) == (2, "miss")
    # The restore lacks the newest enrolment (the highest user_enrolments id).
    enrolments = site.table("user_enrolments")
    with site.engine.begin() as connection:
        newest = connection.execute(sa.select(sa.func.max(enrolments.c.id))).scalar_one()
        connection.execute(enrolments.delete().where(enrolments.c.id == newest))
    assert trend_run(app) == (1, "miss")
    assert trend_run(app) == (1, "hit")
    stats = ResultCache(app.state, app.config).stats(now=app.clock)
    assert [(s.hits, s.misses, s.invalidations) for s in stats] == [(1, 2, 1)]


def test_as_of_past_is_historical_and_future_bypasses(site: MoodleSite, state_url: str) -> None:
    app = make_app(site.url, state_url, site_timezone="UTC")
    # 2025-10-09 08:00 UTC is before "now" (T, 08:53:20): cached under that moment with the
    # 24 h historical TTL. Both enrolments (2025-10-08 08:53:20) are before it.
    past = "2025-10-09 08:00"
    assert trend_run(app, as_of=past) == (2, "miss")
    assert trend_run(app, as_of=past) == (2, "hit")
    app.clock = T + 86_399
    assert trend_run(app, as_of=past) == (2, "hit")
    app.clock = T + 86_400
    assert trend_run(app, as_of=past) == (2, "miss")
    # A moment after "now" is still changing: no cache at all.
    assert trend_run(app, as_of="2030-01-01 00:00") == (0, None)
