"""The session rules as pure functions: gap rule, merging, durations, local days (no database)."""

from __future__ import annotations

import datetime as dt
import random
from zoneinfo import ZoneInfo

import pytest

from manireports.config import load_config
from manireports.errors import ConfigError, InputError
from manireports.timetrack.sessions import (
    LocalDays,
    Member,
    Span,
    TimeSettings,
    cluster_members,
    is_closed,
    merge_points,
    parse_date,
    session_seconds,
    sessionize,
)
from tests.test_timetrack_support import LONDON, at

T = 1_768_392_000


def test_a_gap_equal_to_the_timeout_stays_in_the_session() -> None:
    assert sessionize([T, T + 600], 600) == [Span(T, T + 600, 2)]


def test_one_second_over_the_timeout_starts_a_new_session() -> None:
    assert sessionize([T, T + 601], 600) == [Span(T, T, 1), Span(T + 601, T + 601, 1)]


def test_sessionize_ignores_arrival_order() -> None:
    times = [T + 1201, T, T + 600, T + 600]
    assert sessionize(times, 600) == [Span(T, T + 600, 3), Span(T + 1201, T + 1201, 1)]


def test_durations() -> None:
    assert session_seconds(T, T, 1, 0) == 0
    assert session_seconds(T, T, 1, 60) == 60
    # Two events in the same second are two events: not a one-event session.
    assert session_seconds(T, T, 2, 60) == 0
    assert session_seconds(T, T + 600, 2, 60) == 600


def test_a_session_idle_exactly_the_timeout_is_still_open() -> None:
    assert not is_closed(T, T + 600, 600)
    assert is_closed(T, T + 601, 600)


@pytest.mark.parametrize("seed", range(200))
def test_merging_points_in_any_batches_equals_sorting_them_all(seed: int) -> None:
    """The property the incremental sync relies on: order and batching do not matter."""
    rng = random.Random(seed)
    reach = rng.choice([60, 300, 600])
    times = [T + rng.randrange(0, 20 * reach) for _ in range(rng.randrange(1, 40))]
    rng.shuffle(times)
    spans: list[Span] = []
    position = 0
    while position < len(times):
        size = rng.randrange(1, 6)
        spans = merge_points(spans, times[position : position + size], reach)
        position += size
    assert spans == sessionize(times, reach)


def test_log_and_heartbeat_sessions_join_where_their_reaches_touch() -> None:
    # A click, heartbeats every 30 s for 40 minutes, a click: one session of 41 minutes.
    members = [
        Member(T, T, 1, 600, "log"),
        Member(T + 30, T + 2400, 80, 300, "heartbeat"),
        Member(T + 2460, T + 2460, 1, 600, "log"),
    ]
    assert list(cluster_members(members)) == [Span(T, T + 2460, 82)]
    # A heartbeat session reaches 5 minutes: a click 6 minutes after it is a new session.
    members = [Member(T, T + 60, 3, 300, "heartbeat"), Member(T + 421, T + 421, 1, 600, "log")]
    assert list(cluster_members(members)) == [Span(T, T + 60, 3), Span(T + 421, T + 421, 1)]


def test_sessions_of_one_source_are_never_joined_by_the_aggregation() -> None:
    """Log sessions 5 minutes apart were cut by an older, shorter timeout: they stay apart."""
    members = [Member(T, T, 1, 600, "log"), Member(T + 300, T + 300, 1, 600, "log")]
    assert list(cluster_members(members)) == [Span(T, T, 1), Span(T + 300, T + 300, 1)]
    # A heartbeat that reaches both joins all three, though it starts after the second.
    members.append(Member(T + 350, T + 350, 1, 300, "heartbeat"))
    assert list(cluster_members(members)) == [Span(T, T + 350, 3)]


@pytest.mark.parametrize("seed", range(100))
def test_joining_sources_equals_sessionizing_all_points(seed: int) -> None:
    """With consistent settings, joining stored sessions is the gap rule over all the points,
    each point reaching as far as its source allows."""
    rng = random.Random(seed)
    reaches = {"log": 600, "heartbeat": 300}
    points = [
        (T + rng.randrange(0, 20_000), source)
        for source in ("log", "heartbeat")
        for _ in range(rng.randrange(0, 25))
    ]
    members = [
        Member(span.start, span.end, span.events, reaches[source], source)
        for source in reaches
        for span in sessionize([t for t, s in points if s == source], reaches[source])
    ]
    expected: list[Span] = []
    cover = start = end = events = 0
    for time, source in sorted(points):
        if events and time <= cover:
            end, events, cover = time, events + 1, max(cover, time + reaches[source])
            continue
        if events:
            expected.append(Span(start, end, events))
        start = end = time
        events, cover = 1, time + reaches[source]
    if events:
        expected.append(Span(start, end, events))
    assert sorted(cluster_members(members), key=lambda s: s.start) == expected


def test_a_session_across_local_midnight_is_split_there() -> None:
    days = LocalDays(ZoneInfo("America/New_York"))
    start = at("2026-01-14 23:50", "America/New_York")
    end = at("2026-01-15 00:20", "America/New_York")
    assert list(days.split(start, end)) == [
        (dt.date(2026, 1, 14), 600, start + 599),
        (dt.date(2026, 1, 15), 1200, end),
    ]


@pytest.mark.parametrize(
    ("day", "hours"),
    [("2026-03-29", 23), ("2026-10-25", 25), ("2026-06-01", 24), ("2026-03-28", 24)],
)
def test_dst_days_are_23_or_25_hours_long(day: str, hours: int) -> None:
    days = LocalDays(ZoneInfo(LONDON))
    date = dt.date.fromisoformat(day)
    start = at(f"{day} 00:00", LONDON) - 1800
    end = days.start_of(date + dt.timedelta(days=1)) + 1800
    pieces = {piece[0]: piece[1] for piece in days.split(start, end)}
    assert pieces[date] == hours * 3600
    assert pieces[date - dt.timedelta(days=1)] == 1800


def test_a_session_ending_exactly_at_midnight_touches_the_next_day() -> None:
    days = LocalDays(ZoneInfo("UTC"))
    midnight = at("2026-01-15 00:00")
    assert list(days.split(midnight - 60, midnight)) == [
        (dt.date(2026, 1, 14), 60, midnight - 1),
        (dt.date(2026, 1, 15), 0, midnight),
    ]


def test_settings_are_read_in_seconds_and_checked() -> None:
    settings = TimeSettings.from_config(load_config(environ={}))
    assert settings.session_timeout == 600
    assert settings.heartbeat_extend == 300
    assert settings.close_after("log") == 600
    assert settings.close_after("heartbeat") == 600
    assert settings.origins == ("web",)
    bad = {"MANIREPORTS_TIME_TRACKING_SESSION_TIMEOUT_MINUTES": "0"}
    with pytest.raises(ConfigError, match="session_timeout_minutes"):
        TimeSettings.from_config(load_config(environ=bad))
    with pytest.raises(ConfigError, match="single_event_seconds"):
        TimeSettings.from_config(
            load_config(environ={"MANIREPORTS_TIME_TRACKING_SINGLE_EVENT_SECONDS": "-1"})
        )


def test_dates_are_parsed_or_refused_with_the_option_named() -> None:
    assert parse_date("2026-03-29", "--from") == dt.date(2026, 3, 29)
    assert parse_date(None, "--from") is None
    with pytest.raises(InputError, match="--to"):
        parse_date("29/03/2026", "--to")
