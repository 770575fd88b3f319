"""The time-tracking invariant as a property: however the input is split and ordered, the state
equals one run from scratch over the final input.

A scenario is a log and a heartbeat stream, fed as a random sequence of steps: a batch of log
rows appended (in an arrival order where some rows are minutes, hours or days late) then
`sync_log` with random chunk and checkpoint sizes; a batch of heartbeats; a heartbeat batch sent
again; an aggregation. At the end one more sync, heartbeat run and aggregation at the final time.
The sessions and daily rows must equal those of an empty state given every heartbeat received in
one batch and then `rebuild` (which syncs the whole log and aggregates).

Hypothesis draws scenarios on SQLite here; the same scenario builder, driven by a seeded random
generator, runs a fixed seed set on MariaDB and PostgreSQL in test_timetrack_random.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from manireports.state import StateDB
from manireports.timetrack import aggregate_daily, apply_heartbeats, sync_log
from manireports.timetrack import store as store_module
from tests.moodle_site import MoodleSite
from tests.test_timetrack_support import (
    Event,
    T,
    Tracking,
    close,
    from_scratch,
    heartbeat_lines,
    reset,
)

Draw = Callable[[int, int], int]
"""An integer between the two bounds, inclusive: from hypothesis or from a seeded generator."""

PAIRS = [(3, 7), (3, 8), (3, 0), (4, 7), (4, 9), (5, 8)]
DELAYS = [0, 0, 0, 0, 0, 30, 700, 4000, 3 * 86_400]
NOISE = [
    Event(1, 7, T + 100),
    Event(0, 7, T + 100),
    Event(3, 7, T + 100, anonymous=1),
    Event(3, 7, T + 100, realuserid=2),
    Event(3, 7, T + 100, origin="cli"),
]


@dataclass
class Step:
    kind: str  # "log", "beats", "again", "aggregate"
    now: int
    log: list[Event] = field(default_factory=list)
    beats: list[tuple[int, int, int]] = field(default_factory=list)
    read_chunk: int = 1
    checkpoint_events: int = 1


@dataclass
class Scenario:
    steps: list[Step]
    final_now: int
    pairs_per_query: int


def points(draw: Draw, count: int) -> list[tuple[int, int, int]]:
    """Points on a 100-second grid plus 0 or 1, so gaps of exactly the reach and one second
    more are common; over 11 hours, so most pairs have several sessions."""
    return [
        (*PAIRS[draw(0, len(PAIRS) - 1)], T + 100 * draw(0, 400) + draw(0, 1)) for _ in range(count)
    ]


def arrival(draw: Draw, items: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """Time order, then each item delayed by a random lateness."""
    delayed = [
        (item[2] + DELAYS[draw(0, len(DELAYS) - 1)], index, item)
        for index, item in enumerate(sorted(items, key=lambda item: item[2]))
    ]
    return [item for _t, _i, item in sorted(delayed)]


def scenario(draw: Draw) -> Scenario:
    log = [Event(*point) for point in arrival(draw, points(draw, draw(0, 40)))]
    for _ in range(draw(0, 2)):
        log.insert(draw(0, len(log)), NOISE[draw(0, len(NOISE) - 1)])
    beats = arrival(draw, points(draw, draw(0, 40)))
    steps: list[Step] = []
    sent: list[list[tuple[int, int, int]]] = []
    now = T
    newest = T
    while log or beats:
        kind = ("log", "beats", "again", "aggregate")[draw(0, 3)]
        if kind == "log" and log:
            size = draw(1, 15)
            batch, log = log[:size], log[size:]
            newest = max([newest, *(event.time for event in batch)])
            now = max(now, newest) + 400 * draw(0, 3)
            steps.append(
                Step(kind, now, log=batch, read_chunk=draw(1, 20), checkpoint_events=draw(1, 40))
            )
        elif kind == "beats" and beats:
            size = draw(1, 15)
            chosen, beats = beats[:size], beats[size:]
            newest = max([newest, *(time for _u, _c, time in chosen)])
            now = max(now, newest) + 400 * draw(0, 3)
            sent.append(chosen)
            steps.append(Step(kind, now, beats=chosen))
        elif kind == "again" and sent:
            steps.append(Step(kind, now, beats=sent[draw(0, len(sent) - 1)]))
        elif kind == "aggregate":
            steps.append(Step(kind, now))
    final_now = max(now, newest) + (0, 300, 5000)[draw(0, 2)]
    return Scenario(steps, final_now, (1, 2, 500)[draw(0, 2)])


def run_scenario(tracking: Tracking, reference_url: str, case: Scenario) -> None:
    reset(tracking.site, tracking.state_url)
    tracking.log_id = 0
    original = store_module.PAIRS_PER_QUERY, store_module.DELETE_BATCH
    # The same small sizes split the stored-session reads and the DELETEs of changed sessions.
    store_module.PAIRS_PER_QUERY = store_module.DELETE_BATCH = case.pairs_per_query
    received: list[tuple[int, int, int]] = []
    app = tracking.app()
    try:
        for step in case.steps:
            if step.kind == "log":
                tracking.log(*step.log)
                sync_log(
                    app,
                    now=step.now,
                    read_chunk=step.read_chunk,
                    checkpoint_events=step.checkpoint_events,
                )
            elif step.kind in ("beats", "again"):
                result = apply_heartbeats(app, heartbeat_lines(step.beats), now=step.now)
                # A batch sent again is recognised and skipped (a new batch can only be
                # taken for one sent before when it holds the very same heartbeats).
                assert result.repeated or step.kind == "beats"
                if not result.repeated:
                    received += step.beats
            else:
                aggregate_daily(app, now=step.now)
        if tracking.log_id:
            sync_log(app, now=case.final_now)
        apply_heartbeats(app, [], now=case.final_now)
        aggregate_daily(app, now=case.final_now)
        incremental = (tracking.sessions(), tracking.daily())
        expected = from_scratch(tracking, reference_url, received, case.final_now)
    finally:
        store_module.PAIRS_PER_QUERY, store_module.DELETE_BATCH = original
        close(app)
    assert incremental == expected


@pytest.fixture(scope="module")
def sqlite_pair() -> Iterator[tuple[Tracking, str]]:
    """A Moodle and two state databases in SQLite files in memory-backed storage where there is
    one (the checks run hundreds of short transactions; a disk's fsync would dominate)."""
    shm = Path("/dev/shm")
    with tempfile.TemporaryDirectory(dir=shm if shm.is_dir() else None) as folder:
        site = MoodleSite(f"sqlite:///{folder}/moodle.sqlite", timezone="UTC")
        urls = [f"sqlite:///{folder}/{name}.sqlite" for name in ("state", "reference")]
        for url in urls:
            StateDB(url).upgrade()
        try:
            yield Tracking("sqlite", site, urls[0]), urls[1]
        finally:
            site.dispose()


@settings(
    max_examples=int(os.environ.get("MANIREPORTS_TEST_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_incremental_equals_from_scratch(
    sqlite_pair: tuple[Tracking, str], data: st.DataObject
) -> None:
    def draw(low: int, high: int) -> int:
        return data.draw(st.integers(low, high))

    tracking, reference_url = sqlite_pair
    run_scenario(tracking, reference_url, scenario(draw))
