"""open_report on every engine: the rows it yields, the cap, the column check, the run record and
its audit entry, and the cache it writes through and reads back.

The clock is fixed (T), so a cache entry written in a test stays fresh for the whole test.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
from collections.abc import Iterator
from itertools import count
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from manireports.app import App
from manireports.cache import ResultCache
from manireports.config import load_config
from manireports.errors import RunError
from manireports.export import Column, ExportOptions
from manireports.export.values import CHUNK_ROWS
from manireports.reports.builtin import BUILTIN_REPORTS
from manireports.reports.collect import Record, records
from manireports.reports.run import open_report, run_report
from manireports.reports.spec import ReportRequest
from manireports.reports.steps import completion
from manireports.state import StateDB, get_run, list_audit
from tests.moodle_site import MoodleSite

T = 1_760_000_000  # 2025-10-09 08:53:20 UTC; its 12-month window is 2024-11 .. 2025-10
DAY = 86_400


class ClockApp(App):
    """An App whose "now" is fixed, so cache entries written in a test stay fresh."""

    def now(self) -> int:
        return T


def make_app(moodle_url: str, state_url: str, **settings: str) -> ClockApp:
    environ = {
        "MANIREPORTS_MOODLE_URL": moodle_url,
        "MANIREPORTS_STATE_URL": state_url,
        "MANIREPORTS_SITE_TIMEZONE": "UTC",
    }
    environ.update({f"MANIREPORTS_{key.upper()}": value for key, value in settings.items()})
    return ClockApp(load_config(environ=environ))


@pytest.fixture
def state_url(state_db_url: str) -> str:
    StateDB(state_db_url).upgrade()
    return state_db_url


@pytest.fixture
def site(db_url: str) -> Iterator[MoodleSite]:
    """Three learners in course A, enrolled last month, one of whom completed it."""
    s = MoodleSite(db_url)
    course = s.course("A")
    learners = [s.user(name) for name in ("ann", "bob", "cat")]
    for learner in learners:
        s.enrol(learner, course, timecreated=T - 30 * DAY)
    s.complete(learners[0], course, T - 2 * DAY)
    yield s
    s.dispose()


def _last_run(app: App, action: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The run record of the newest audit entry with this action, and the entry."""
    entry = list_audit(app.state, action=action, limit=1)[0]
    run = get_run(app.state, entry["objectid"])
    assert run is not None
    return run, entry


def test_rows_stream_and_the_run_is_finished_when_the_block_ends(
    site: MoodleSite, state_url: str
) -> None:
    app = make_app(site.url, state_url)
    request = ReportRequest("course_completion")
    with open_report(app, request, purpose="a test") as opened:
        assert get_run(app.state, opened.runid)["status"] == "running"  # type: ignore[index]
        names = [column.name for column in opened.columns]
        users = sorted(dict(zip(names, row, strict=True))["username"] for row in opened.rows)
    assert users == ["ann", "bob", "cat"]
    assert (opened.count, opened.capped, opened.cache) == (3, False, None)
    run, entry = _last_run(app, "report_run")
    assert run["id"] == opened.runid
    assert (run["status"], run["rowcount"], run["error"], run["format"]) == (
        "completed", 3, None, None,
    )  # fmt: skip
    assert run["paramsjson"]["for"] == entry["details"]["for"] == "a test"
    assert (entry["details"]["rows"], entry["details"]["capped"]) == (3, False)
    # run_report is the same run written into an export: the same rows, the same record.
    out = io.BytesIO()
    outcome = run_report(app, request, fmt="json", destination=out, options=ExportOptions())
    assert sorted(row["username"] for row in json.loads(out.getvalue())) == users
    run, entry = _last_run(app, "report_run")
    assert (outcome.runid, outcome.rows, run["rowcount"]) == (run["id"], 3, 3)
    assert run["format"] == "json"
    assert "for" not in entry["details"]


def test_max_rows_caps_the_rows_and_the_run_says_so(site: MoodleSite, state_url: str) -> None:
    app = make_app(site.url, state_url, reports_max_rows="2")
    # (--limit, rows read, capped): the cap stops a run only where --limit would not have.
    for limit, rows, capped in ((None, 2, True), (5, 2, True), (2, 2, False), (1, 1, False)):
        with open_report(app, ReportRequest("course_completion", limit=limit)) as opened:
            assert len(list(opened.rows)) == rows
        assert (opened.count, opened.capped) == (rows, capped)
        run, entry = _last_run(app, "report_run")
        assert (run["status"], run["rowcount"], entry["details"]["capped"]) == (
            "completed", rows, capped,
        )  # fmt: skip
        assert run["error"] == ("stopped at [reports] max_rows = 2 rows" if capped else None)


def test_an_error_in_the_block_fails_the_run_and_stores_nothing(
    site: MoodleSite, state_url: str
) -> None:
    app = make_app(site.url, state_url)
    cache = ResultCache(app.state, app.config)
    request = ReportRequest("enrolment_trends")
    with pytest.raises(ValueError, match="the reader broke"), open_report(app, request) as opened:
        assert len(list(opened.rows)) == 12
        raise ValueError("the reader broke")
    run, entry = _last_run(app, "report_failed")
    assert (run["id"], run["status"], run["rowcount"], run["error"]) == (
        opened.runid, "failed", None, "the reader broke",
    )  # fmt: skip
    assert entry["details"]["error"] == "the reader broke"
    # Every row had gone through, but the run failed: its rows are not kept.
    assert cache.stats(now=T) == []


def test_a_run_read_partly_is_counted_so_and_stores_nothing(
    site: MoodleSite, state_url: str
) -> None:
    app = make_app(site.url, state_url)
    cache = ResultCache(app.state, app.config)
    with open_report(app, ReportRequest("enrolment_trends")) as opened:
        for _row in zip(range(3), opened.rows, strict=False):
            pass
    run, _entry = _last_run(app, "report_run")
    assert (opened.cache, run["status"], run["rowcount"]) == ("miss", "completed", 3)
    assert cache.stats(now=T) == []
    # Read to the end, the next run stores its rows; the one after reads them.
    for outcome in ("miss", "hit"):
        with open_report(app, ReportRequest("enrolment_trends")) as opened:
            assert len(list(opened.rows)) == 12
        assert opened.cache == outcome
    # A miss is counted by the entry that answers it: the partly read run stored none.
    assert [(s.entries, s.hits, s.misses) for s in cache.stats(now=T)] == [(1, 1, 1)]


def test_sql_that_returns_other_columns_fails_the_run(
    site: MoodleSite, state_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = BUILTIN_REPORTS["course_completion"]
    damaged = dataclasses.replace(report, columns=report.columns[:-1])
    monkeypatch.setattr(completion, "COURSE_COMPLETION", damaged)
    app = make_app(site.url, state_url)
    request = ReportRequest("course_completion")
    with pytest.raises(RunError, match="installation is damaged"), open_report(app, request) as run:
        list(run.rows)
    run, _entry = _last_run(app, "report_failed")
    assert run["status"] == "failed" and "not the documented columns" in run["error"]


# --------------------------------------------------------------------------------------------
# The cache, written through as the rows stream, gives back what Moodle gave.

CACHED = ("enrolment_trends", "completion_trends", "company_overview")
# Moments around the 12-month window: before it, inside it, in the current month.
MOMENTS = st.sampled_from([T - 500 * DAY, T - 200 * DAY, T - 40 * DAY, T - 3 * DAY, T - 60])
Learner = tuple[int, int, int, int | None, int | None]
# Usernames stay unique across examples, which share one site.
_NAMES = count()


def _learners() -> st.SearchStrategy[list[Learner]]:
    """(course 0-1, company 0-2 or none, enrolled at, completed at or never, suspended?) each."""
    return st.lists(
        st.tuples(
            st.integers(0, 1),
            st.integers(-1, 2),
            MOMENTS,
            st.none() | MOMENTS,
            st.none() | st.just(1),
        ),
        max_size=6,
    )


def _read(app: App, request: ReportRequest) -> tuple[str | None, list[Record]]:
    """The cache outcome and the rows as a reader gets them (the JSON export's values)."""
    with open_report(app, request) as opened:
        rows = list(records(opened.columns, opened.rows, app.timezone))
    return opened.cache, rows


@pytest.fixture
def hand_made(db_url: str) -> Iterator[tuple[MoodleSite, list[int], list[int]]]:
    s = MoodleSite(db_url)
    courses = [s.course(name) for name in ("A", "B")]
    companies = [
        s.insert("company", name=name, shortname=name.lower(), city="", country="")
        for name in ("Alpha", "Beta", "Gamma")
    ]
    yield s, courses, companies
    s.dispose()


@settings(
    max_examples=int(os.environ.get("MANIREPORTS_TEST_EXAMPLES", "10")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(learners=_learners())
def test_cached_rows_equal_the_rows_computed_without_the_cache(
    hand_made: tuple[MoodleSite, list[int], list[int]],
    state_url: str,
    learners: list[Learner],
) -> None:
    # Each example adds its learners to the same site, so the sites grow example by example.
    site, courses, companies = hand_made
    for course, company, enrolled, completed, suspended in learners:
        user = site.user(f"u{next(_NAMES)}", suspended=suspended or 0)
        site.enrol(user, courses[course], timecreated=enrolled, role=None)
        if completed is not None:
            site.complete(user, courses[course], completed)
        if company >= 0:
            site.insert("company_users", companyid=companies[company], userid=user, departmentid=0)
    cached = make_app(site.url, state_url)
    uncached = make_app(site.url, state_url, cache_enabled="false")
    for report in CACHED:
        expected = _read(uncached, ReportRequest(report))
        assert expected[0] is None
        # Computed afresh and written through as it streams, then read back from the entry.
        assert _read(cached, ReportRequest(report, use_cache=False)) == ("refresh", expected[1])
        assert _read(cached, ReportRequest(report)) == ("hit", expected[1])


_CELLS = {
    "int": st.none() | st.integers(-(2**40), 2**40),
    "float": st.none() | st.floats(allow_nan=False, allow_infinity=False) | st.integers(-99, 99),
    "text": st.none() | st.text(max_size=5),
    "bool": st.none() | st.booleans(),
    "timestamp": st.none() | st.integers(0, 2**31),
}
_KINDS = list(_CELLS)


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_records_of_some_columns_are_the_full_records_cut_down(data: st.DataObject) -> None:
    """A dashboard panel asks for the few columns it reads; what it gets must be exactly those
    values of the full records, whatever the kinds and their order."""
    kinds = data.draw(st.lists(st.sampled_from(_KINDS), min_size=1, max_size=6))
    columns = tuple(Column(f"c{index}", kind) for index, kind in enumerate(kinds))
    rows = data.draw(
        st.lists(st.tuples(*(_CELLS[kind] for kind in kinds)), max_size=CHUNK_ROWS + 3)
    )
    only = data.draw(st.lists(st.sampled_from([c.name for c in columns]), min_size=1, unique=True))
    yes_no = [column.name for column in columns if column.kind == "bool"]
    where = data.draw(st.none() | st.sampled_from(yes_no)) if yes_no else None
    timezone = ZoneInfo("Europe/London")
    full = [
        record
        for record in records(columns, iter(rows), timezone)
        if where is None or record[where] is True
    ]
    cut = list(records(columns, iter(rows), timezone, only=only, where=where))
    assert cut == [{name: record[name] for name in only} for record in full]
    # Booleans and integers compare equal in Python; the types must agree too.
    assert [list(map(type, r.values())) for r in cut] == [
        [type(record[name]) for name in only] for record in full
    ]


def test_records_where_a_column_is_true_follow_its_converted_value() -> None:
    """Worked out by hand: a yes/no column from a database may hold 1/0, booleans or text; the
    rows kept are those whose record says true ('f' and '0' text are false), NULL is not true."""
    columns = (Column("id", "int"), Column("flag", "bool"))
    rows = [(1, 1), (2, 0), (3, True), (4, None), (5, "f"), (6, "t"), (7, "0"), (8, "yes")]
    kept = records(columns, iter(rows), ZoneInfo("UTC"), where="flag")
    assert [record["id"] for record in kept] == [1, 3, 6, 8]
    with pytest.raises(RunError, match="no yes/no column 'id'"):
        list(records(columns, iter(rows), ZoneInfo("UTC"), where="id"))


def test_records_of_a_column_the_report_lacks_is_a_run_error() -> None:
    with pytest.raises(RunError, match="no column 'nope'"):
        list(records((Column("a", "int"),), iter([(1,)]), ZoneInfo("UTC"), only=["nope"]))
