"""`time sync` on hand-made logs, with expectations worked out by hand, on every engine.

Times are offsets from T (2026-01-14 12:00 UTC); the session timeout is 10 minutes (600 s).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from manireports.errors import RunError
from manireports.timetrack import ConcurrentSyncError, aggregate_daily, sync_log
from tests.test_timetrack_support import (
    Event,
    T,
    Tracking,
    close,
    expected_sessions,
    sqlite_tracking,
    tracking,
)

__all__ = ["sqlite_tracking", "tracking"]  # fixtures


def test_gap_equal_to_the_timeout_is_one_session_one_second_more_is_two(
    tracking: Tracking,
) -> None:
    tracking.log((3, 7, T), (3, 7, T + 600), (3, 7, T + 1201))
    app = tracking.app()
    try:
        result = sync_log(app, now=T + 1201 + 601)
    finally:
        close(app)
    assert tracking.sessions() == [
        (3, 7, "log", T, T + 600, 2, 600),
        (3, 7, "log", T + 1201, T + 1201, 1, 0),
    ]
    assert (result.events_read, result.sessions_closed, result.sessions_open) == (3, 2, 0)
    assert result.watermark == 3


def test_an_open_session_is_kept_open_and_extended_by_the_next_sync(tracking: Tracking) -> None:
    tracking.log((3, 7, T), (3, 7, T + 300))
    app = tracking.app()
    try:
        # Idle exactly the timeout: still open, duration unknown.
        first = sync_log(app, now=T + 900)
        assert tracking.sessions() == [(3, 7, "log", T, T + 300, 2, None)]
        assert (first.sessions_open, first.sessions_closed) == (1, 0)
        tracking.log((3, 7, T + 880))
        second = sync_log(app, now=T + 1480)
        assert tracking.sessions() == [(3, 7, "log", T, T + 880, 3, None)]
        assert second.events_read == 1
        third = sync_log(app, now=T + 1481)
    finally:
        close(app)
    assert tracking.sessions() == [(3, 7, "log", T, T + 880, 3, 880)]
    assert (third.events_read, third.sessions_closed, third.sessions_open) == (0, 1, 0)


@pytest.mark.parametrize(("single", "lone"), [(0, 0), (60, 60)])
def test_a_one_event_session_counts_single_event_seconds(
    tracking: Tracking, single: int, lone: int
) -> None:
    tracking.log((3, 7, T), (3, 8, T), (3, 8, T + 10))
    app = tracking.app(single_event_seconds=single)
    try:
        sync_log(app, now=T + 2000)
        aggregate_daily(app, now=T + 2000)
    finally:
        close(app)
    assert tracking.sessions() == [
        (3, 7, "log", T, T, 1, lone),
        (3, 8, "log", T, T + 10, 2, 10),
    ]
    assert tracking.daily() == [(3, 7, "2026-01-14", lone, 1), (3, 8, "2026-01-14", 10, 1)]


NOISE = [
    Event(1, 7, T + 100),  # the guest
    Event(0, 7, T + 150),  # not logged in
    Event(3, 7, T + 200, anonymous=1),
    Event(3, 7, T + 250, realuserid=2),  # an admin 'logged in as' user 3
    Event(3, 7, T + 300, origin="cli"),
    Event(3, 7, T + 350, origin="ws"),
    Event(3, 7, T + 400, origin="restore"),
]


def test_noise_is_not_a_user_action(tracking: Tracking) -> None:
    tracking.log(Event(3, 7, T), *NOISE, Event(3, 7, T + 500))
    app = tracking.app()
    try:
        result = sync_log(app, now=T + 5000)
    finally:
        close(app)
    assert tracking.sessions() == [(3, 7, "log", T, T + 500, 2, 500)]
    assert result.events_read == 2
    assert result.watermark == 9


def test_configured_origins_count(tracking: Tracking) -> None:
    tracking.log(Event(3, 7, T), *NOISE, Event(3, 7, T + 500))
    app = tracking.app(origins=["web", "ws"])
    try:
        sync_log(app, now=T + 5000)
    finally:
        close(app)
    assert tracking.sessions() == [(3, 7, "log", T, T + 500, 3, 500)]


def test_site_events_count_as_course_zero(tracking: Tracking) -> None:
    # Course 0, the site course (id 1) and a course: site time is one session under course 0.
    tracking.log((3, 0, T), (3, 1, T + 60), (3, 7, T + 120))
    app = tracking.app()
    try:
        sync_log(app, now=T + 5000)
    finally:
        close(app)
    assert tracking.sessions() == [
        (3, 0, "log", T, T + 60, 2, 60),
        (3, 7, "log", T + 120, T + 120, 1, 0),
    ]


def test_site_events_can_be_left_out(tracking: Tracking) -> None:
    tracking.log((3, 0, T), (3, 1, T + 60), (3, 7, T + 120))
    app = tracking.app(include_site_events=False)
    try:
        sync_log(app, now=T + 5000)
    finally:
        close(app)
    assert tracking.sessions() == [(3, 7, "log", T + 120, T + 120, 1, 0)]


def test_a_user_alternating_between_two_courses(tracking: Tracking) -> None:
    # Course 7 (A): T, T+600 (same session), T+1500 (new), T+1800.
    # Course 8 (B): T+300, T+900, T+1300 (same session), T+2000 (new).
    # Sessions are per course: the other course's clicks in between do not bridge the gaps.
    tracking.log(
        (3, 7, T),
        (3, 8, T + 300),
        (3, 7, T + 600),
        (3, 8, T + 900),
        (3, 8, T + 1300),
        (3, 7, T + 1500),
        (3, 7, T + 1800),
        (3, 8, T + 2000),
    )
    app = tracking.app()
    try:
        sync_log(app, now=T + 2601)
        aggregate_daily(app, now=T + 2601)
    finally:
        close(app)
    assert tracking.sessions() == [
        (3, 7, "log", T, T + 600, 2, 600),
        (3, 7, "log", T + 1500, T + 1800, 2, 300),
        (3, 8, "log", T + 300, T + 1300, 3, 1000),
        (3, 8, "log", T + 2000, T + 2000, 1, 0),
    ]
    assert tracking.daily() == [(3, 7, "2026-01-14", 900, 2), (3, 8, "2026-01-14", 1000, 2)]


# Ids ascend in this order; times do not (Moodle writes a request's events when it ends).
SEQUENCE = [
    (3, 7, T),
    (3, 7, T + 200),
    (4, 7, T + 100),
    (3, 7, T + 900),  # 700 s after T+200: a new session...
    (3, 7, T + 650),  # ...until this late event bridges the two
    (3, 8, T + 50),
    (4, 7, T + 1500),
    (3, 7, T + 2000),
    (4, 7, T + 800),  # late: a session of its own between two of user 4's
    (3, 7, T + 1400),  # late: bridges T+900 and T+2000
    (3, 8, T - 3000),  # nearly an hour late
    (3, 7, T + 2600),
]
FINAL = T + 2600 + 601


def test_the_sequence_by_hand(tracking: Tracking) -> None:
    tracking.log(*SEQUENCE)
    app = tracking.app()
    try:
        result = sync_log(app, now=FINAL)
    finally:
        close(app)
    assert tracking.sessions() == [
        (3, 7, "log", T, T + 2600, 7, 2600),
        (3, 8, "log", T - 3000, T - 3000, 1, 0),
        (3, 8, "log", T + 50, T + 50, 1, 0),
        (4, 7, "log", T + 100, T + 100, 1, 0),
        (4, 7, "log", T + 800, T + 800, 1, 0),
        (4, 7, "log", T + 1500, T + 1500, 1, 0),
    ]
    assert result.events_read == len(SEQUENCE)


@pytest.mark.parametrize("split", range(len(SEQUENCE) + 1))
def test_a_sync_split_at_any_point_gives_what_one_sync_gives(
    tracking: Tracking, split: int
) -> None:
    first, rest = SEQUENCE[:split], SEQUENCE[split:]
    now = max((time for _u, _c, time in first), default=T) + 1
    app = tracking.app()
    try:
        tracking.log(*first)
        sync_log(app, now=now)
        assert tracking.sessions() == expected_sessions(first, now=now)
        tracking.log(*rest)
        sync_log(app, now=FINAL)
    finally:
        close(app)
    assert tracking.sessions() == expected_sessions(SEQUENCE, now=FINAL)


def test_small_chunks_and_checkpoints_give_the_same_sessions(sqlite_tracking: Tracking) -> None:
    sqlite_tracking.log(*SEQUENCE)
    app = sqlite_tracking.app()
    try:
        result = sync_log(app, now=FINAL, read_chunk=2, checkpoint_events=3)
    finally:
        close(app)
    assert sqlite_tracking.sessions() == expected_sessions(SEQUENCE, now=FINAL)
    assert result.checkpoints > 1
    assert result.late_events >= 2


def test_re_running_changes_nothing(tracking: Tracking) -> None:
    tracking.log(*SEQUENCE)
    app = tracking.app()
    try:
        sync_log(app, now=FINAL)
        aggregate_daily(app, now=FINAL)
        sessions, daily = tracking.sessions(), tracking.daily()
        again = sync_log(app, now=FINAL)
        nothing = aggregate_daily(app, now=FINAL)
        aggregate_daily(app, date_from="2026-01-14", date_to="2026-01-14", now=FINAL)
    finally:
        close(app)
    assert (again.events_read, again.sessions_closed) == (0, 0)
    assert nothing.days == 0
    assert tracking.sessions() == sessions
    assert tracking.daily() == daily


def test_a_second_sync_that_ran_meanwhile_stops_this_one(sqlite_tracking: Tracking) -> None:
    """Two hosts syncing at once: the one that commits second stops, and nothing is doubled."""
    sqlite_tracking.log(*SEQUENCE)
    app = sqlite_tracking.app()
    other = sqlite_tracking.app()

    def meanwhile(_events: int) -> None:
        if not sqlite_tracking.sessions():
            sync_log(other, now=FINAL)

    try:
        with pytest.raises(ConcurrentSyncError, match="run it again"):
            sync_log(app, now=FINAL, read_chunk=4, checkpoint_events=4, progress=meanwhile)
        assert sqlite_tracking.sessions() == expected_sessions(SEQUENCE, now=FINAL)
        assert sync_log(app, now=FINAL).events_read == 0
    finally:
        close(app)
        close(other)
    assert sqlite_tracking.sessions() == expected_sessions(SEQUENCE, now=FINAL)


def test_a_log_behind_the_watermark_asks_for_a_rebuild(sqlite_tracking: Tracking) -> None:
    tracking = sqlite_tracking
    tracking.log((3, 7, T), (3, 7, T + 10))
    app = tracking.app()
    try:
        sync_log(app, now=T + 5000)
        with tracking.site.engine.begin() as connection:
            connection.execute(tracking.site.table("logstore_standard_log").delete())
        with pytest.raises(RunError, match="time rebuild"):
            sync_log(app, now=T + 5000)
    finally:
        close(app)


def test_progress_is_reported_per_chunk(sqlite_tracking: Tracking) -> None:
    sqlite_tracking.log(*SEQUENCE)
    seen: list[int] = []
    app = sqlite_tracking.app()
    try:
        sync_log(app, now=FINAL, read_chunk=5, progress=seen.append)
    finally:
        close(app)
    assert seen == [5, 10, 12]


def test_the_reader_thread_hands_over_items_and_errors() -> None:
    from manireports.timetrack.sync import Prefetch

    def source() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("the Moodle database went away")

    seen: list[int] = []
    with pytest.raises(ValueError, match="went away"), Prefetch(source()) as items:
        for item in items:
            seen.append(item)
    assert seen == [1, 2]


def test_leaving_early_stops_the_reader_thread() -> None:
    from manireports.timetrack.sync import Prefetch

    closed: list[bool] = []

    def endless() -> Iterator[int]:
        try:
            number = 0
            while True:
                number += 1
                yield number
        finally:
            closed.append(True)

    prefetch = Prefetch(endless(), depth=1)
    with prefetch as items:
        assert next(items) == 1
    assert not prefetch._thread.is_alive()
    assert closed == [True]
