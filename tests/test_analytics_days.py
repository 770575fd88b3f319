"""Interactions and active local days counted by the database (sites with daily time totals)
against the per-event rule in Python (the log fallback), across daylight-saving changes.

The hand-made site is in Europe/London around the end of summer time on 2026-10-25 (01:00 UTC:
02:00 BST becomes 01:00 GMT). Window: 3 days up to 2026-10-26 12:00 GMT (= 12:00 UTC), i.e.
from 2026-10-24 00:00 BST = 2026-10-23 23:00 UTC. Events in UTC, their local time and day:
  ann: 10-23 23:30 (24th 00:30 BST), 10-24 23:30 (25th 00:30 BST), 10-25 23:30 (25th 23:30 GMT)
       -> 3 interactions on the 24th and the 25th: 2 days (3 in UTC, and 3 with BST all along);
  ben: 10-25 00:59:59 (25th 01:59:59 BST), 10-25 01:00 (25th 01:00 GMT), 10-26 00:00 (26th 00:00
       GMT) -> 3 interactions, 2 days;
  cal: 10-23 22:59:59 (23rd 23:59:59 BST, before the window), 10-23 23:00 (24th 00:00 BST, the
       window's first second) -> 1 interaction, 1 day;
  dan: 10-24 22:59:59 (24th 23:59:59 BST), 10-24 23:00 (25th 00:00 BST), 10-26 12:00 (the moment
       of the run, inside), 10-26 12:00:01 (after it) -> 3 interactions, 3 days.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from manireports.analytics.activity import (
    active_days,
    activity_sql,
    dates_never_go_back,
    local_day,
    offset_stretches,
)
from manireports.analytics.inputs import read_ahead
from manireports.moodle.connection import MoodleDB
from manireports.reports.params import parse_moment
from manireports.sqltext import render_sql
from manireports.state import StateDB
from manireports.timetrack.sessions import LocalDays
from tests.analytics_site import AnalyticsSite, produce
from tests.conftest import ENGINES, fresh_database
from tests.moodle_site import MoodleSite
from tests.test_timetrack_support import Event, at

LONDON = "Europe/London"
ZONES = (
    "UTC",
    LONDON,
    "America/New_York",
    "America/Santiago",
    "Australia/Sydney",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "Asia/Kathmandu",
    "America/Goose_Bay",
)
HAND_MADE = {
    "ann": (["2026-10-23 23:30", "2026-10-24 23:30", "2026-10-25 23:30"], 3, 2),
    "ben": (["2026-10-25 00:59:59", "2026-10-25 01:00", "2026-10-26 00:00"], 3, 2),
    "cal": (["2026-10-23 22:59:59", "2026-10-23 23:00"], 1, 1),
    "dan": (
        ["2026-10-24 22:59:59", "2026-10-24 23:00", "2026-10-26 12:00", "2026-10-26 12:00:01"],
        3,
        3,
    ),
}


def test_offset_changes_are_found_to_the_second() -> None:
    london = ZoneInfo(LONDON)
    start = at("2026-10-01 00:00")
    assert offset_stretches(london, start, start + 40 * 86_400) == [
        (start, 3600),
        (at("2026-10-25 01:00"), 0),
    ]
    assert offset_stretches(london, at("2026-07-01 00:00"), at("2026-07-31 00:00")) == [
        (at("2026-07-01 00:00"), 3600)
    ]
    spring = offset_stretches(london, at("2026-03-01 00:00"), at("2026-04-01 00:00"))
    assert spring[1:] == [(at("2026-03-29 01:00"), 3600)]


def test_clocks_going_back_across_midnight_are_detected() -> None:
    # Goose Bay went back from 00:01 to 23:01 of the day before on 2010-11-07.
    goose_bay = ZoneInfo("America/Goose_Bay")
    start = at("2010-11-01 00:00")
    assert not dates_never_go_back(offset_stretches(goose_bay, start, start + 20 * 86_400))
    london = offset_stretches(ZoneInfo(LONDON), at("2026-10-01 00:00"), at("2026-11-01 00:00"))
    assert dates_never_go_back(london)


@settings(max_examples=300, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    start=st.integers(at("2009-01-01 00:00"), at("2030-01-01 00:00")),
    length=st.integers(0, 60 * 86_400),
    offsets=st.lists(st.integers(0, 60 * 86_400), max_size=30),
)
def test_local_day_is_the_local_date(
    zone: str, start: int, length: int, offsets: list[int]
) -> None:
    """(instant + offset of its stretch) // 86400 is Python's local date of the instant."""
    timezone = ZoneInfo(zone)
    stretches = offset_stretches(timezone, start, start + length)
    epoch = dt.date(1970, 1, 1)
    for offset in [0, length, *(o for o in offsets if o <= length)]:
        instant = start + offset
        expected = dt.datetime.fromtimestamp(instant, timezone).date()
        assert epoch + dt.timedelta(days=local_day(instant, stretches)) == expected


@pytest.fixture(scope="module")
def log_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MoodleSite]:
    site = MoodleSite(f"sqlite:///{tmp_path_factory.mktemp('days') / 'moodle.sqlite'}")
    yield site
    site.dispose()


events = st.lists(
    st.tuples(
        st.sampled_from((2, 2, 2, 3, 3, 3, 0, 1)),  # learners 2 and 3; no user; the guest
        st.sampled_from((2, 2, 3, 3, 4)),  # course 4 is not a tracked course
        st.integers(0, 41),  # a local day of the window or the day before (see below)
        # Seconds from that day's midnight: events cluster around midnights, where days part.
        st.lists(st.integers(-3 * 3600, 3 * 3600), min_size=1, max_size=4),
        st.sampled_from(("web", "web", "web", "ws", "cli")),
        st.sampled_from((0, 0, 0, 0, 1)),  # anonymous
        st.sampled_from((None, None, None, 0, 7)),  # realuserid
    ),
    max_size=30,
)


# A 10-day window over the end of summer time in London in 2026, its last day one hour long.
AT_THE_LONDON_CHANGE: dict[str, Any] = {
    "zone": LONDON,
    "year": 2026,
    "change": 1,
    "before": 5,
    "window_days": 10,
    "length": 3600,
    "origins": ("web",),
}


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    zone=st.sampled_from(ZONES),
    year=st.integers(2020, 2029),
    change=st.integers(0, 3),
    before=st.integers(0, 19),
    window_days=st.integers(1, 20),
    length=st.integers(0, 86_399),
    origins=st.sampled_from((("web",), ("web", "ws"))),
    rows=events,
    shift=st.sampled_from((None, None, -7, -1, 0, 2, 9)),
)
@example(
    **AT_THE_LONDON_CHANGE, rows=[(2, 2, 8, [-1800, 1800], "web", 0, None)], shift=None
)  # 23:30 GMT on 10-26 and 00:30 on 10-27: two days, one if BST were kept after the change
@example(
    **AT_THE_LONDON_CHANGE,
    rows=[(2, 2, 10, [3600, 3601], "web", 0, None), (3, 3, 3, [-1, 0], "web", 0, None)],
    shift=2,
)  # the same read with a window two days later: each window's first and last second, and the
# seconds just outside them, which the other window holds
def test_database_counts_equal_the_per_event_rule(
    log_site: MoodleSite,
    zone: str,
    year: int,
    change: int,
    before: int,
    window_days: int,
    length: int,
    origins: tuple[str, ...],
    rows: list[tuple[int, int, int, list[int], str, int, int | None]],
    shift: int | None,
) -> None:
    """The totals query on SQLite == filtering the events and counting them in Python, for its
    window alone and, read in the same scan, for a second window `shift` days away (a dashboard's
    two at-risk moments).

    The window holds one of the zone's offset changes of `year` (`before` days after its first
    day, when the window is that long), and the events cluster around local midnights.
    """
    days = LocalDays(ZoneInfo(zone))
    new_year = days.start_of(dt.date(year, 1, 1))
    changes = offset_stretches(days.timezone, new_year, new_year + 366 * 86_400)[1:]
    first_day = dt.date(year, 6, 1)
    if changes:
        changed = days.date_of(changes[change % len(changes)][0])
        first_day = changed - dt.timedelta(days=min(before, window_days - 1))
    since = days.start_of(first_day)
    now = days.start_of(first_day + dt.timedelta(days=window_days - 1)) + length
    spans = [(since, now)]
    if shift is not None:
        other = first_day + dt.timedelta(days=shift)
        spans.append(
            (
                days.start_of(other),
                days.start_of(other + dt.timedelta(days=window_days - 1)) + length,
            )
        )
    first, last = min(span[0] for span in spans), max(span[1] for span in spans)
    stretches = offset_stretches(days.timezone, first, last)
    assert dates_never_go_back(stretches)
    log = [
        Event(
            user,
            course,
            days.start_of(first_day + dt.timedelta(days=day % (window_days + 1) - 1)) + shift,
            origin=origin,
            anonymous=anon,
            realuserid=real,
        )
        for user, course, day, shifts, origin, anon, real in rows
        for shift in shifts
    ]
    with log_site.engine.begin() as connection:
        connection.execute(log_site.table("logstore_standard_log").delete())
    if log:
        log_site.insert_many("logstore_standard_log", [e.row(n + 1) for n, e in enumerate(log)])

    sql, named = activity_sql(stretches, origins, [2, 3], spans)
    rendered = render_sql(sql, "mdl_", {"sqlite", "totals"})
    found: list[dict[tuple[int, int], tuple[int, int]]] = [{} for _ in spans]
    with log_site.engine.connect() as connection:
        bound = {"since": first, "now": last, "guest": 1, **named}
        for u, c, *values in connection.execute(sa.text(rendered), bound):
            for number, counted in enumerate(found):
                if values[2 * number]:
                    counted[(u, c)] = (values[2 * number], values[2 * number + 1])

    for (start, end), counted in zip(spans, found, strict=True):
        kept: dict[tuple[int, int], list[int]] = {}
        for e in log:
            if (
                start <= e.time <= end
                and e.userid > 0
                and e.userid != 1
                and e.courseid in (2, 3)
                and e.origin in origins
                and e.anonymous == 0
                and not e.realuserid
            ):
                kept.setdefault((e.userid, e.courseid), []).append(e.time)
        expected = {pair: (len(t), active_days(sorted(t), days)) for pair, t in kept.items()}
        assert counted == expected


def _london_site(moodle_url: str, state_url: str, seed: int | None) -> AnalyticsSite:
    """One course; the hand-made learners of the module docstring, or with a seed 5 learners
    with random events around the midnights of the London change."""
    StateDB(state_url).upgrade()
    m = MoodleSite(moodle_url, timezone=LONDON)
    s = AnalyticsSite(m, state_url)
    s.courses["A"] = m.course("A")
    names = list(HAND_MADE) if seed is None else [f"u{n}" for n in range(5)]
    for name in names:
        s.users[name] = m.user(name)
        m.enrol(s.users[name], s.courses["A"], timestart=at("2026-01-01 00:00"))
    if seed is None:
        for name, (times, _, _) in HAND_MADE.items():
            s.log(name, "A", *times)
        return s
    chance = random.Random(seed)
    # Within 3 hours of midnight UTC (BST midnight is 23:00 UTC), where days are told apart.
    base = at("2026-10-23 21:00")
    for name in names:
        count = chance.randrange(1, 40)
        times = sorted(
            chance.randrange(4) * 86_400 + chance.randrange(6 * 3600) for _ in range(count)
        )
        stamps = [dt.datetime.fromtimestamp(base + t, dt.UTC) for t in times]
        s.log(name, "A", *(x.strftime("%Y-%m-%d %H:%M:%S") for x in stamps))
    return s


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    moodle, state = fresh_database(request.param, tmp_path), fresh_database(request.param, tmp_path)
    yield next(moodle), next(state)
    state.close()
    moodle.close()


def _counts(site: AnalyticsSite, **settings: Any) -> dict[str, tuple[Any, Any, Any]]:
    rows = site.rows(
        "user_engagement",
        as_of="2026-10-26 12:00:00",
        site_timezone=LONDON,
        analytics_engagement_window_days=3,
        **settings,
    )
    named = site.by_name(rows)
    return {
        n: (r["interactions"], r["active_days"], r["time_spent_seconds"]) for n, r in named.items()
    }


@pytest.mark.parametrize("daily", [True, False])
def test_active_days_across_the_change_worked_out_by_hand(
    engine: tuple[str, str], daily: bool
) -> None:
    site = _london_site(*engine, seed=None)
    try:
        if daily:
            site.daily("ann", "A", "2026-10-25", 600)
        counts = _counts(site)
        assert {n: c[:2] for n, c in counts.items()} == {
            name: (interactions, days) for name, (_, interactions, days) in HAND_MADE.items()
        }
    finally:
        site.moodle.dispose()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_database_counts_equal_the_log_fallback(engine: tuple[str, str], seed: int) -> None:
    """Fixed seeds on every engine: the totals query agrees with the per-event Python path."""
    site = _london_site(*engine, seed=seed)
    try:
        from_events = _counts(site)
        site.daily("u0", "A", "2026-10-25", 600)
        from_database = _counts(site)
        assert {n: c[:2] for n, c in from_database.items()} == {
            n: c[:2] for n, c in from_events.items()
        }
        assert from_database["u0"][2] == 600
    finally:
        site.moodle.dispose()


@pytest.mark.parametrize("seed", [1, 2])
def test_counts_read_ahead_for_two_moments_equal_each_run_reading_its_own(
    engine: tuple[str, str], seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A dashboard counts the windows of its two at-risk moments in one scan of the log
    (read_ahead); each run then takes its window's counts instead of reading the log itself, and
    its rows are those it would have read alone. Two 3-day windows a day and a half apart, with
    the London change between them: each run reads the log once on its own, and the pair reads
    it once in all with the read-ahead."""
    site = _london_site(*engine, seed=seed)
    moments = ("2026-10-26 12:00:00", "2026-10-25 00:00:00")
    settings: dict[str, Any] = {"site_timezone": LONDON, "analytics_engagement_window_days": 3}
    log_reads: list[str] = []
    stream = MoodleDB.stream

    def counted(self: MoodleDB, sql: str, *args: Any, **kwargs: Any) -> Any:
        if "logstore_standard_log" in sql:
            log_reads.append(sql)
        return stream(self, sql, *args, **kwargs)

    monkeypatch.setattr(MoodleDB, "stream", counted)
    try:
        site.daily("u0", "A", "2026-10-25", 600)
        alone = [site.rows("user_engagement", as_of=moment, **settings) for moment in moments]
        assert len(log_reads) == 2
        log_reads.clear()
        app = site.app(**settings)
        try:
            read_ahead(app, [parse_moment(moment, ZoneInfo(LONDON)) for moment in moments])
            together = [produce(app, "user_engagement", as_of=moment) for moment in moments]
        finally:
            app.moodle.dispose()
            app.state.close()
        assert len(log_reads) == 1
        assert together == alone
        assert {row["interactions"] for rows in alone for row in rows} != {0}
    finally:
        site.moodle.dispose()


def test_the_window_of_daily_totals_is_read_through_the_course_and_day_index(
    tmp_path: Path,
) -> None:
    """SQLite keeps no statistics on the state: offered an index on the course alone it read
    every day of the courses' whole history. The (courseid, date) index reads only the window.
    Hand-made: user 5 in course 7 has 60 s on 2026-11-30 and 30 s on 2026-12-01 inside the
    window, and a day of 2024 and one after the window outside it."""
    from manireports.analytics.inputs import Window, daily_totals_query
    from manireports.state.tables import usertime_daily

    state = StateDB(f"sqlite:///{tmp_path / 'state.db'}")
    state.upgrade()
    rows = [
        (5, 7, "2024-12-01", 1000),
        (5, 7, "2026-11-30", 60),
        (5, 7, "2026-12-01", 30),
        (5, 7, "2026-12-08", 500),
        (5, 8, "2026-12-01", 45),
        (6, 9, "2026-12-01", 99),
    ]
    with state.begin() as connection:
        connection.execute(
            sa.insert(usertime_daily),
            [
                {"userid": u, "courseid": c, "date": d, "duration": s, "lastupdated": 0}
                for u, c, d, s in rows
            ],
        )
    window = Window(dt.date(2026, 11, 8), dt.date(2026, 12, 7), 0, 0)
    query = daily_totals_query(window, None, [7, 8])
    with state.begin() as connection:
        totals = sorted(tuple(row) for row in connection.execute(query))
        compiled = query.compile(connection, compile_kwargs={"literal_binds": True})
        plan = " ".join(
            str(row) for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}")
        )
    state.close()
    assert totals == [(5, 7, 90), (5, 8, 45)]
    assert "ix_manireports_usertime_daily_courseid_date (courseid=? AND date>? AND date<?)" in plan
