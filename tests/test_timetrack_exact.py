"""The two reported losses, as plain tests: heartbeats sent in several batches, and late log
events for more (user, course) pairs than one stored-session query reads at a time.

Both compare the incremental state with the rules applied to the whole input (`expected_sessions`)
and with one run from scratch over the final input (`from_scratch`: one heartbeat batch, then
`time rebuild`), on every engine.
"""

from __future__ import annotations

import random

import pytest

from manireports.timetrack import aggregate_daily, apply_heartbeats, sync_log
from manireports.timetrack import store as store_module
from tests.test_timetrack_support import (
    Event,
    T,
    Tracking,
    close,
    expected_sessions,
    from_scratch,
    heartbeat_lines,
    reference_state,
    tracking,
)

__all__ = ["tracking"]  # fixtures

DAY = 86_400


def batched_heartbeats(seed: int) -> list[tuple[int, int, int]]:
    """20,000 heartbeats of 200 users x 5 courses, in time order: 20 per pair, mostly a minute
    apart, with gaps beyond the 5-minute reach now and then."""
    rng = random.Random(seed)
    beats = []
    for userid in range(3, 203):
        for courseid in range(10, 15):
            time = T + rng.randrange(0, 3600)
            for _ in range(20):
                beats.append((userid, courseid, time))
                time += rng.choice([30, 60, 60, 120, 300, 301, 900])
    beats.sort(key=lambda beat: (beat[2], beat[0], beat[1]))
    return beats


def test_heartbeats_in_twenty_batches_equal_one_batch(
    tracking: Tracking, request: pytest.FixtureRequest
) -> None:
    beats = batched_heartbeats(14)
    assert len(beats) == 20_000
    now = beats[-1][2] + 60
    app = tracking.app()
    try:
        for index in range(0, len(beats), 1000):
            apply_heartbeats(app, heartbeat_lines(beats[index : index + 1000]), now=now)
        aggregate_daily(app, now=now)
    finally:
        close(app)
    expected = expected_sessions(beats, reach=300, close_after=600, now=now, source="heartbeat")
    sessions = tracking.sessions()
    assert sessions == expected
    assert sum(row[5] for row in sessions) == 20_000
    reference = reference_state(tracking.kind, request)
    assert (sessions, tracking.daily()) == from_scratch(tracking, reference, beats, now)


def test_a_batch_sent_again_is_applied_once(
    tracking: Tracking, request: pytest.FixtureRequest
) -> None:
    """A resent batch (a producer's retry) is recognised and skipped; a different batch that
    repeats some heartbeats counts them again, as one batch holding both copies would."""
    beats = batched_heartbeats(15)[:4000]
    now = beats[-1][2] + 3600
    app = tracking.app()
    try:
        apply_heartbeats(app, heartbeat_lines(beats[:2000]), now=now)
        apply_heartbeats(app, heartbeat_lines(beats[2000:]), now=now)
        again = apply_heartbeats(app, heartbeat_lines(beats[:2000]), now=now)
        apply_heartbeats(app, heartbeat_lines(beats[1000:3000]), now=now)
        aggregate_daily(app, now=now)
    finally:
        close(app)
    assert again.repeated and again.applied == 0
    received = beats + beats[1000:3000]
    sessions = tracking.sessions()
    assert sessions == expected_sessions(
        received, reach=300, close_after=600, now=now, source="heartbeat"
    )
    assert sum(row[5] for row in sessions) == 6000
    reference = reference_state(tracking.kind, request)
    assert (sessions, tracking.daily()) == from_scratch(tracking, reference, received, now)


def test_late_log_events_across_more_pairs_than_one_query_reads(
    tracking: Tracking, request: pytest.FixtureRequest
) -> None:
    """150 users x 4 courses: a user's pairs fall into different groups of stored-session
    queries. Late events days older than the newest touch sessions already stored."""
    rng = random.Random(3)
    pairs = [(userid, courseid) for userid in range(3, 153) for courseid in (20, 21, 22, 23)]
    assert len(pairs) > store_module.PAIRS_PER_QUERY
    old: list[tuple[int, int, int]] = []
    new: list[tuple[int, int, int]] = []
    for userid, courseid in pairs:
        for base, target in ((T - 3 * DAY, old), (T, new)):
            time = base + rng.randrange(0, 7200)
            for _ in range(rng.randrange(2, 6)):
                target.append((userid, courseid, time))
                time += rng.choice([60, 300, 600, 601, 2000])
    now = T + DAY
    in_order = sorted(old + new, key=lambda point: point[2])
    late = [
        (userid, courseid, time + rng.choice([-700, -30, 30, 200, 599, 4000]))
        for userid, courseid, time in old
    ]
    rng.shuffle(late)
    app = tracking.app()
    try:
        tracking.log(*in_order)
        sync_log(app, now=now)
        tracking.log(*late)
        result = sync_log(app, now=now)
        aggregate_daily(app, now=now)
    finally:
        close(app)
    assert result.late_events == len(late)
    everything = in_order + late
    sessions = tracking.sessions()
    assert sessions == expected_sessions(everything, now=now)
    assert sum(row[5] for row in sessions) == len(everything)
    reference = reference_state(tracking.kind, request)
    assert (sessions, tracking.daily()) == from_scratch(tracking, reference, [], now)


def test_late_events_only_a_few_pairs_still_exact(tracking: Tracking) -> None:
    """A user with late events in two courses whose sessions fall in different query groups,
    even with tiny groups: each stored session is loaded once."""
    app = tracking.app()
    original = store_module.PAIRS_PER_QUERY
    store_module.PAIRS_PER_QUERY = 1
    try:
        tracking.log(Event(5, 7, T), Event(5, 7, T + 300), Event(5, 8, T + 100))
        tracking.log(Event(5, 8, T + 400), Event(5, 7, T + 20_000))
        sync_log(app, now=T + 30_000)
        tracking.log(Event(5, 7, T + 150), Event(5, 8, T + 200))
        sync_log(app, now=T + 30_000)
    finally:
        store_module.PAIRS_PER_QUERY = original
        close(app)
    # (5, 7): T..T+300 with 3 events; T+20000 alone. (5, 8): T+100..T+400 with 3 events.
    assert tracking.sessions() == [
        (5, 7, "log", T, T + 300, 3, 300),
        (5, 7, "log", T + 20_000, T + 20_000, 1, 0),
        (5, 8, "log", T + 100, T + 400, 3, 300),
    ]


def test_a_rebuild_counts_rows_older_than_the_first_by_id(tracking: Tracking) -> None:
    """A row written late with a time days before the log's first row by id is counted by a
    rebuild as by a sync: the log's first day is that of its oldest event by time."""
    from manireports.timetrack import rebuild

    tracking.log(Event(5, 7, T), Event(5, 7, T + 100), Event(5, 7, T - 2 * DAY))
    expected = [
        (5, 7, "log", T - 2 * DAY, T - 2 * DAY, 1, 0),
        (5, 7, "log", T, T + 100, 2, 100),
    ]
    app = tracking.app()
    try:
        result = rebuild(app, now=T + DAY)
        assert tracking.sessions() == expected
        assert result.sync.events_read == 3
        rebuild(app, now=T + DAY)
    finally:
        close(app)
    assert tracking.sessions() == expected
    assert [row[2:4] for row in tracking.daily()] == [
        ("2026-01-12", 0),
        ("2026-01-14", 100),
    ]
