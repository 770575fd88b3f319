"""`time heartbeat`: the plugin's rules, merging with log sessions, and all-or-nothing batches."""

from __future__ import annotations

import json

import pytest

from manireports.timetrack import (
    HeartbeatInputError,
    aggregate_daily,
    apply_heartbeats,
    sync_log,
)
from tests.test_timetrack_support import T, Tracking, close, sqlite_tracking, tracking

__all__ = ["sqlite_tracking", "tracking"]  # fixtures


def beat(userid: int, courseid: int, timestamp: int | float) -> str:
    return json.dumps({"userid": userid, "courseid": courseid, "timestamp": timestamp})


def test_a_heartbeat_within_five_minutes_extends_else_starts_a_session(tracking: Tracking) -> None:
    app = tracking.app()
    try:
        result = apply_heartbeats(
            app, [beat(3, 7, T), beat(3, 7, T + 300), beat(3, 7, T + 601)], now=T + 1202
        )
    finally:
        close(app)
    assert tracking.sessions() == [
        (3, 7, "heartbeat", T, T + 300, 2, 300),
        (3, 7, "heartbeat", T + 601, T + 601, 1, 0),
    ]
    assert (result.applied, result.sessions_closed, result.sessions_open) == (3, 2, 0)


def test_sessions_idle_over_ten_minutes_close(tracking: Tracking) -> None:
    app = tracking.app()
    try:
        apply_heartbeats(app, [beat(3, 7, T), beat(3, 7, T + 30)], now=T + 40)
        assert tracking.sessions() == [(3, 7, "heartbeat", T, T + 30, 2, None)]
        # Idle exactly ten minutes: still open. One second more: closed, even with no heartbeat.
        assert apply_heartbeats(app, [], now=T + 630).sessions_closed == 0
        assert apply_heartbeats(app, [], now=T + 631).sessions_closed == 1
    finally:
        close(app)
    assert tracking.sessions() == [(3, 7, "heartbeat", T, T + 30, 2, 30)]


def test_the_aggregation_closes_idle_heartbeat_sessions_too(sqlite_tracking: Tracking) -> None:
    app = sqlite_tracking.app()
    try:
        apply_heartbeats(app, [beat(3, 7, T), beat(3, 7, T + 30)], now=T + 40)
        result = aggregate_daily(app, now=T + 700)
    finally:
        close(app)
    assert result.heartbeat_sessions_closed == 1
    assert sqlite_tracking.daily() == [(3, 7, "2026-01-14", 30, 1)]


def test_a_long_read_with_heartbeats_and_no_clicks_counts(tracking: Tracking) -> None:
    # A click, 40 minutes of reading with a heartbeat every 30 s, a click: 41 minutes.
    tracking.log((3, 7, T), (3, 7, T + 2460))
    app = tracking.app()
    try:
        sync_log(app, now=T + 3100)
        apply_heartbeats(app, [beat(3, 7, T + s) for s in range(30, 2401, 30)], now=T + 3100)
        aggregate_daily(app, now=T + 3100)
    finally:
        close(app)
    assert tracking.sessions() == [
        (3, 7, "heartbeat", T + 30, T + 2400, 80, 2370),
        (3, 7, "log", T, T, 1, 0),
        (3, 7, "log", T + 2460, T + 2460, 1, 0),
    ]
    assert tracking.daily() == [(3, 7, "2026-01-14", 2460, 1)]


def test_without_the_heartbeats_the_same_clicks_are_two_lone_events(tracking: Tracking) -> None:
    tracking.log((3, 7, T), (3, 7, T + 2460))
    app = tracking.app()
    try:
        sync_log(app, now=T + 3100)
        aggregate_daily(app, now=T + 3100)
    finally:
        close(app)
    assert tracking.daily() == [(3, 7, "2026-01-14", 0, 2)]


def test_heartbeats_arriving_late_and_out_of_order_merge_exactly(tracking: Tracking) -> None:
    app = tracking.app()
    try:
        apply_heartbeats(app, [beat(3, 7, T + 600)], now=T + 610)
        apply_heartbeats(app, [beat(3, 7, T + 300)], now=T + 620)
        apply_heartbeats(app, [beat(3, 7, T), beat(3, 7, T + 900)], now=T + 2000)
    finally:
        close(app)
    assert tracking.sessions() == [(3, 7, "heartbeat", T, T + 900, 4, 900)]


def test_a_heartbeat_joining_the_log_session_after_it_was_aggregated(tracking: Tracking) -> None:
    """The daily rows follow: a late heartbeat batch marks its days for re-aggregation."""
    tracking.log((3, 7, T), (3, 7, T + 1200))
    app = tracking.app()
    try:
        sync_log(app, now=T + 5000)
        aggregate_daily(app, now=T + 5000)
        assert tracking.daily() == [(3, 7, "2026-01-14", 0, 2)]
        # A heartbeat reaches 5 minutes: T+650 alone would leave the click at T+1200 apart.
        beats = [beat(3, 7, T + 400), beat(3, 7, T + 650), beat(3, 7, T + 900)]
        apply_heartbeats(app, beats, now=T + 5000)
        result = aggregate_daily(app, now=T + 5000)
    finally:
        close(app)
    assert result.days == 1
    assert tracking.daily() == [(3, 7, "2026-01-14", 1200, 1)]


def test_a_malformed_line_rejects_the_whole_batch_with_line_numbers(tracking: Tracking) -> None:
    lines = [
        beat(3, 7, T),
        "{not json",
        json.dumps({"userid": 3, "courseid": 7}),
        "[1, 2, 3]",
        "",
        json.dumps({"userid": "3", "courseid": 7, "timestamp": T}),
        beat(3, 7, T + 100_000),
        beat(-4, 7, T),
        json.dumps({"userid": 3, "courseid": 7, "timestamp": True}),
        beat(3, 7, T + 30),
    ]
    app = tracking.app()
    try:
        with pytest.raises(HeartbeatInputError) as raised:
            apply_heartbeats(app, lines, now=T + 60)
    finally:
        close(app)
    error = raised.value
    assert [number for number, _reason in error.errors] == [2, 3, 4, 6, 7, 8, 9]
    assert error.total == 7
    assert error.exit_code == 2
    assert "line 2: not JSON" in str(error)
    assert "line 3: missing 'timestamp'" in str(error)
    assert "(and 2 more)" in str(error)
    assert "future" in dict(error.errors)[7]
    assert tracking.sessions() == []


def test_guests_and_anonymous_visitors_are_ignored_not_errors(tracking: Tracking) -> None:
    lines = [beat(0, 7, T), beat(1, 7, T), beat(3, 1, T), beat(3, 0, T + 60), beat(3, 7, T)]
    app = tracking.app()
    try:
        result = apply_heartbeats(app, lines, now=T + 10_000)
    finally:
        close(app)
    assert (result.lines, result.applied, result.ignored) == (5, 3, 2)
    # The site course (1) is site time, course 0, like site-level log events.
    assert tracking.sessions() == [
        (3, 0, "heartbeat", T, T + 60, 2, 60),
        (3, 7, "heartbeat", T, T, 1, 0),
    ]


def test_site_heartbeats_are_ignored_when_site_time_is_off(sqlite_tracking: Tracking) -> None:
    app = sqlite_tracking.app(include_site_events=False)
    try:
        result = apply_heartbeats(app, [beat(3, 1, T), beat(3, 0, T)], now=T + 10)
    finally:
        close(app)
    assert (result.applied, result.ignored) == (0, 2)
    assert sqlite_tracking.sessions() == []


def test_a_fractional_timestamp_is_cut_to_the_second(sqlite_tracking: Tracking) -> None:
    app = sqlite_tracking.app()
    try:
        apply_heartbeats(app, [beat(3, 7, T + 0.9)], now=T + 10_000)
    finally:
        close(app)
    assert sqlite_tracking.sessions() == [(3, 7, "heartbeat", T, T, 1, 0)]


def test_raw_bytes_lines_are_read_as_utf8(sqlite_tracking: Tracking) -> None:
    app = sqlite_tracking.app()
    try:
        with pytest.raises(HeartbeatInputError) as raised:
            apply_heartbeats(app, [beat(3, 7, T).encode(), b"\xff\xfe{}\n"], now=T + 60)
        assert raised.value.errors == [(2, "not UTF-8 text")]
        apply_heartbeats(app, [beat(3, 7, T).encode() + b"\n", b"\n"], now=T + 60)
    finally:
        close(app)
    assert sqlite_tracking.sessions() == [(3, 7, "heartbeat", T, T, 1, None)]
