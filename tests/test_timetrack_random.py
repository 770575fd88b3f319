"""The incremental code against the reference rules on random and realistic data.

Random logs arrive out of time order (some events minutes late, some more than the builder's
in-memory hour), in random batches, synced with random chunk sizes and checkpoints; every state
must equal the reference: all events so far sorted and cut by the gap rule. Daily rows are
checked against a second-by-second count in the site timezone across a DST change.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections import defaultdict
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from manireports.app import App
from manireports.config import load_config
from manireports.state import StateDB
from manireports.state.tables import usertime_daily, usertime_sessions
from manireports.timetrack import aggregate_daily, apply_heartbeats, sync_log
from tests.conftest import fresh_database
from tests.test_timetrack_invariant import run_scenario, scenario
from tests.test_timetrack_support import (
    LONDON,
    Event,
    T,
    Tracking,
    at,
    close,
    expected_sessions,
    make_tracking,
    reference_state,
    sqlite_tracking,
    tracking,
)

__all__ = ["sqlite_tracking", "tracking"]  # fixtures

PAIRS = [(3, 7), (3, 8), (4, 7), (5, 0)]


def random_log(rng: random.Random, start: int) -> list[Event]:
    """Bursts of clicks per pair, in id order that is only roughly time order, with noise."""
    events: list[Event] = []
    for userid, courseid in PAIRS:
        time = start + rng.randrange(0, 600)
        for _ in range(rng.randrange(5, 40)):
            time += rng.choice([5, 30, 120, 400, 599, 600, 601, 900, 3000])
            events.append(Event(userid, courseid, time))
    events.sort(key=lambda e: e.time)
    arrival = []
    for index, event in enumerate(events):
        delay = rng.choice([0, 0, 0, 0, 3, 40, 700, 5000]) if rng.random() < 0.3 else 0
        arrival.append((event.time + delay, index, event))
    arrival.sort()
    ordered = [event for _t, _i, event in arrival]
    for _ in range(rng.randrange(0, 6)):
        ordered.insert(
            rng.randrange(0, len(ordered) + 1),
            rng.choice(
                [
                    Event(1, 7, start + 100),
                    Event(0, 7, start + 100),
                    Event(3, 7, start + 100, anonymous=1),
                    Event(3, 7, start + 100, realuserid=2),
                    Event(3, 7, start + 100, origin="cli"),
                ]
            ),
        )
    return ordered


def real(events: list[Event]) -> list[tuple[int, int, int]]:
    return [
        (e.userid, e.courseid, e.time)
        for e in events
        if e.userid > 1 and e.origin == "web" and not e.anonymous and not e.realuserid
    ]


def check_random_log(tracking: Tracking, seed: int) -> None:
    rng = random.Random(seed)
    events = random_log(rng, T)
    app = tracking.app()
    try:
        position = 0
        now = T
        while position < len(events):
            size = rng.randrange(1, 15)
            batch = events[position : position + size]
            position += size
            tracking.log(*batch)
            now = max([now, *(e.time for e in batch)]) + rng.randrange(0, 700)
            sync_log(
                app,
                now=now,
                read_chunk=rng.randrange(1, 12),
                checkpoint_events=rng.randrange(1, 25),
            )
            assert tracking.sessions() == expected_sessions(real(events[:position]), now=now)
        final = now + 5000
        sync_log(app, now=final)
    finally:
        close(app)
    assert tracking.sessions() == expected_sessions(real(events), now=final)


@pytest.mark.parametrize("seed", range(25))
def test_random_logs_in_random_batches(sqlite_tracking: Tracking, seed: int) -> None:
    check_random_log(sqlite_tracking, seed)


@pytest.mark.parametrize("seed", range(2))
def test_random_logs_on_every_engine(tracking: Tracking, seed: int) -> None:
    check_random_log(tracking, 1000 + seed)


@pytest.mark.parametrize("seed", range(15))
def test_random_heartbeat_batches(sqlite_tracking: Tracking, seed: int) -> None:
    rng = random.Random(seed)
    points = [
        (userid, courseid, T + rng.randrange(0, 6000))
        for userid, courseid in PAIRS
        for _ in range(rng.randrange(1, 30))
    ]
    rng.shuffle(points)
    app = sqlite_tracking.app()
    try:
        position, now = 0, T
        while position < len(points):
            size = rng.randrange(1, 20)
            batch = points[position : position + size]
            position += size
            now = max([now, *(time for _u, _c, time in batch)]) + rng.randrange(0, 400)
            lines = [json.dumps({"userid": u, "courseid": c, "timestamp": t}) for u, c, t in batch]
            apply_heartbeats(app, lines, now=now)
            assert sqlite_tracking.sessions() == expected_sessions(
                points[:position], reach=300, close_after=600, now=now, source="heartbeat"
            )
    finally:
        close(app)


def brute_force_daily(
    log: list[tuple[int, int, int]],
    beats: list[tuple[int, int, int]],
    timezone: ZoneInfo,
) -> list[tuple[int, int, str, int, int]]:
    """Every point with its reach, cut by the gap rule, each second counted on its own day."""
    points: dict[tuple[int, int], list[tuple[int, int]]] = defaultdict(list)
    for userid, courseid, time in log:
        points[(userid, courseid)].append((time, 600))
    for userid, courseid, time in beats:
        points[(userid, courseid)].append((time, 300))
    totals: dict[tuple[int, int, str], list[int]] = defaultdict(lambda: [0, 0])

    def day(second: int) -> str:
        return dt.datetime.fromtimestamp(second, timezone).date().isoformat()

    for (userid, courseid), items in points.items():
        spans: list[list[int]] = []
        for time, reach in sorted(items):
            if spans and time <= spans[-1][3]:
                spans[-1][1] = time
                spans[-1][2] += 1
                spans[-1][3] = max(spans[-1][3], time + reach)
            else:
                spans.append([time, time, 1, time + reach])
        for start, end, events, _cover in spans:
            seconds: dict[str, int] = defaultdict(int)
            for second in range(start, end):
                seconds[day(second)] += 1
            touched = set(seconds) | {day(start), day(end)}
            for name in touched:
                totals[(userid, courseid, name)][0] += seconds.get(name, 0)
                totals[(userid, courseid, name)][1] += 1
            if events == 1:
                assert touched == {day(start)}
    return sorted((u, c, d, total[0], total[1]) for (u, c, d), total in totals.items())


@pytest.mark.parametrize("seed", range(8))
def test_random_days_across_a_dst_change(sqlite_tracking: Tracking, seed: int) -> None:
    rng = random.Random(seed)
    begin = at("2026-03-28 20:00", LONDON)
    log: list[tuple[int, int, int]] = []
    beats: list[tuple[int, int, int]] = []
    for userid, courseid in PAIRS:
        for _ in range(rng.randrange(2, 10)):
            time = begin + rng.randrange(0, 36 * 3600)
            for _ in range(rng.randrange(1, 12)):
                time += rng.choice([10, 60, 250, 300, 301, 590, 601, 800])
                (log if rng.random() < 0.5 else beats).append((userid, courseid, time))
    now = max(t for _u, _c, t in log + beats) + 3600
    sqlite_tracking.log(*sorted(log, key=lambda p: p[2]))
    app = sqlite_tracking.app(timezone=LONDON)
    try:
        sync_log(app, now=now)
        lines = [json.dumps({"userid": u, "courseid": c, "timestamp": t}) for u, c, t in beats]
        apply_heartbeats(app, lines, now=now)
        aggregate_daily(app, now=now)
    finally:
        close(app)
    assert sqlite_tracking.daily() == brute_force_daily(log, beats, ZoneInfo(LONDON))


@pytest.mark.slow
def test_the_demo_log(tmp_path: Path) -> None:
    """A realistic log (the demo's 65,000 events): chunked, checkpointed, equal to the rules."""
    from manireports.demo import build_demo

    moodle_url = f"sqlite:///{tmp_path / 'demo.sqlite'}"
    build_demo(moodle_url, size="small", seed=3, anchor=dt.date(2026, 3, 1))
    state = fresh_database("sqlite", tmp_path)
    state_url = next(state)
    StateDB(state_url).upgrade()
    environ = {
        "MANIREPORTS_MOODLE_URL": moodle_url,
        "MANIREPORTS_STATE_URL": state_url,
        "MANIREPORTS_SITE_TIMEZONE": LONDON,
    }
    engine = sa.create_engine(moodle_url)
    with engine.connect() as connection:
        raw = connection.execute(
            sa.text(
                "SELECT userid, courseid, timecreated, origin, anonymous, realuserid "
                "FROM mdl_logstore_standard_log ORDER BY id"
            )
        ).all()
    engine.dispose()
    points = [
        (userid, 0 if courseid in (None, 0, 1) else courseid, time)
        for userid, courseid, time, origin, anonymous, realuserid in raw
        if userid > 1 and origin == "web" and not anonymous and not realuserid
    ]
    now = max(time for _u, _c, time in points) + 60
    app = App(load_config(environ=environ))
    try:
        result = sync_log(app, now=now, read_chunk=3000, checkpoint_events=10_000)
        aggregate_daily(app, now=now)
        with app.state.begin() as connection:
            stored = sorted(
                tuple(row)
                for row in connection.execute(
                    sa.select(
                        usertime_sessions.c.userid,
                        usertime_sessions.c.courseid,
                        usertime_sessions.c.source,
                        usertime_sessions.c.sessionstart,
                        usertime_sessions.c.lastupdated,
                        usertime_sessions.c.eventcount,
                        usertime_sessions.c.duration,
                    )
                )
            )
            daily_total = connection.execute(
                sa.select(sa.func.sum(usertime_daily.c.duration))
            ).scalar_one()
    finally:
        close(app)
        state.close()
    expected = expected_sessions(points, now=now)
    assert stored == expected
    assert result.events_read == len(points)
    assert result.checkpoints > 3
    assert daily_total == sum(row[6] or 0 for row in expected)


@pytest.mark.parametrize("kind", ["mariadb", "postgresql"])
@pytest.mark.parametrize("seed", range(6))
def test_incremental_equals_from_scratch_on_servers(
    kind: str, seed: int, request: pytest.FixtureRequest
) -> None:
    rng = random.Random(seed)
    tracking = make_tracking(kind, request)
    reference = reference_state(kind, request)
    run_scenario(tracking, reference, scenario(rng.randint))
