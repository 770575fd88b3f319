"""`time aggregate`: daily rows in the site timezone, midnight and DST splits, idempotency."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from manireports.errors import InputError
from manireports.timetrack import aggregate_daily, apply_heartbeats, sync_log
from tests.test_timetrack_support import LONDON, T, Tracking, at, close, sqlite_tracking, tracking

__all__ = ["sqlite_tracking", "tracking"]  # fixtures

NEW_YORK = "America/New_York"


def midnight_session(tracking: Tracking) -> None:
    # 23:50 to 00:20 New York time (04:50 to 05:20 UTC), gaps of 6 to 9 minutes.
    tracking.log(
        *[
            (3, 7, at(moment, NEW_YORK))
            for moment in (
                "2026-01-14 23:50",
                "2026-01-14 23:58",
                "2026-01-15 00:05",
                "2026-01-15 00:14",
                "2026-01-15 00:20",
            )
        ]
    )


def test_a_session_across_local_midnight_is_split_at_it(tracking: Tracking) -> None:
    midnight_session(tracking)
    app = tracking.app(timezone=NEW_YORK)
    try:
        sync_log(app, now=T + 86_400)
        result = aggregate_daily(app, now=T + 86_400)
    finally:
        close(app)
    assert tracking.daily() == [(3, 7, "2026-01-14", 600, 1), (3, 7, "2026-01-15", 1200, 1)]
    assert (result.rows, result.sessions) == (2, 1)


def test_the_same_session_is_one_day_in_utc(tracking: Tracking) -> None:
    midnight_session(tracking)
    app = tracking.app(timezone="UTC")
    try:
        sync_log(app, now=T + 86_400)
        aggregate_daily(app, now=T + 86_400)
    finally:
        close(app)
    assert tracking.daily() == [(3, 7, "2026-01-15", 1800, 1)]


@pytest.mark.parametrize(
    ("before", "day", "after", "hours"),
    [
        ("2026-03-28", "2026-03-29", "2026-03-30", 23),
        ("2026-10-24", "2026-10-25", "2026-10-26", 25),
    ],
)
def test_a_dst_day_holds_23_or_25_hours(
    tracking: Tracking, before: str, day: str, after: str, hours: int
) -> None:
    # One unbroken session, an event every 10 minutes, from 23:00 before to 01:00 after.
    start = at(f"{before} 23:00", LONDON)
    end = at(f"{after} 01:00", LONDON)
    tracking.log(*[(3, 7, time) for time in range(start, end + 1, 600)])
    app = tracking.app(timezone=LONDON)
    try:
        sync_log(app, now=end + 3600)
        aggregate_daily(app, now=end + 3600)
    finally:
        close(app)
    assert tracking.daily() == [
        (3, 7, before, 3600, 1),
        (3, 7, day, hours * 3600, 1),
        (3, 7, after, 3600, 1),
    ]


def test_open_sessions_wait_until_they_close(tracking: Tracking) -> None:
    tracking.log((3, 7, T), (3, 7, T + 100), (3, 8, T), (3, 8, T + 50))
    app = tracking.app()
    try:
        sync_log(app, now=T + 660)  # course 8 idle 610 s: closed; course 7 idle 560 s: open
        aggregate_daily(app, now=T + 660)
        assert tracking.daily() == [(3, 8, "2026-01-14", 50, 1)]
        sync_log(app, now=T + 701)
        aggregate_daily(app, now=T + 701)
    finally:
        close(app)
    assert tracking.daily() == [(3, 7, "2026-01-14", 100, 1), (3, 8, "2026-01-14", 50, 1)]


def test_given_days_are_recomputed_and_replaced(tracking: Tracking) -> None:
    day1 = at("2026-01-14 10:00")
    day2 = at("2026-01-15 10:00")
    tracking.log((3, 7, day1), (3, 7, day1 + 300), (3, 7, day2), (3, 7, day2 + 120))
    app = tracking.app()
    try:
        sync_log(app, now=day2 + 5000)
        aggregate_daily(app, now=day2 + 5000)
        expected = [(3, 7, "2026-01-14", 300, 1), (3, 7, "2026-01-15", 120, 1)]
        assert tracking.daily() == expected
        # Nothing changed since: nothing to do; the days given: recomputed to the same rows.
        assert aggregate_daily(app, now=day2 + 5000).days == 0
        again = aggregate_daily(app, date_from="2026-01-15", date_to="2026-01-15", now=day2 + 5000)
        assert (again.days, again.rows) == (1, 1)
        assert tracking.daily() == expected
        # Only --from: to the last day with sessions (and not before the first).
        since = aggregate_daily(app, date_from="2026-01-10", now=day2 + 5000)
        assert (str(since.date_from), str(since.date_to)) == ("2026-01-14", "2026-01-15")
        assert tracking.daily() == expected
        with pytest.raises(InputError, match="after"):
            aggregate_daily(app, date_from="2026-01-15", date_to="2026-01-14")
    finally:
        close(app)


def test_a_day_with_sessions_gone_loses_its_row(sqlite_tracking: Tracking) -> None:
    """Replacing whole days: a row left from an earlier aggregation disappears when recomputed."""
    sqlite_tracking.log((3, 7, T))
    app = sqlite_tracking.app()
    try:
        sync_log(app, now=T + 5000)
        aggregate_daily(app, now=T + 5000)
        assert len(sqlite_tracking.daily()) == 1
        engine = sa.create_engine(sqlite_tracking.state_url)
        with engine.begin() as connection:
            connection.execute(sa.text("DELETE FROM manireports_usertime_sessions"))
        engine.dispose()
        aggregate_daily(app, date_from="2026-01-14", date_to="2026-01-14", now=T + 5000)
    finally:
        close(app)
    assert sqlite_tracking.daily() == []


def test_recomputing_a_day_inside_a_long_session(tracking: Tracking) -> None:
    """The window query is bounded by the longest session: a three-hour heartbeat session
    closed by the idle sweep must widen it, though the only log session is 10 s long."""
    start = at("2026-01-14 22:30")
    tracking.log((3, 7, start - 7200), (3, 7, start - 7190))
    app = tracking.app()
    try:
        sync_log(app, now=start)
        beats = [
            json.dumps({"userid": 3, "courseid": 8, "timestamp": start + minute * 60})
            for minute in range(181)
        ]
        apply_heartbeats(app, beats, now=start + 180 * 60)
        aggregate_daily(app, now=start + 200 * 60)  # closes the heartbeat session
        expected = [
            (3, 7, "2026-01-14", 10, 1),
            (3, 8, "2026-01-14", 5400, 1),
            (3, 8, "2026-01-15", 5400, 1),
        ]
        assert tracking.daily() == expected
        aggregate_daily(app, date_from="2026-01-15", date_to="2026-01-15", now=start + 200 * 60)
    finally:
        close(app)
    assert tracking.daily() == expected
    assert tracking.settings()["timetracking.maxspan"] == str(3 * 3600)


def test_days_whose_sessions_were_removed_keep_their_rows(tracking: Tracking) -> None:
    """Retention deletes old sessions but keeps daily rows longer: recomputing those days
    would wipe the only record left, so days before the earliest session are not recomputed."""
    days = [at(f"2026-01-{day} 10:00") for day in (14, 15, 16)]
    tracking.log(*[(3, 7, time + offset) for time in days for offset in (0, 300)])
    app = tracking.app()
    try:
        sync_log(app, now=days[-1] + 5000)
        aggregate_daily(app, now=days[-1] + 5000)
        expected = [(3, 7, f"2026-01-{day}", 300, 1) for day in (14, 15, 16)]
        assert tracking.daily() == expected
        engine = sa.create_engine(tracking.state_url)
        with engine.begin() as connection:
            connection.execute(
                sa.text("DELETE FROM manireports_usertime_sessions WHERE lastupdated < :cut"),
                {"cut": at("2026-01-15 00:00")},
            )
        engine.dispose()
        result = aggregate_daily(
            app, date_from="2026-01-01", date_to="2026-01-16", now=days[-1] + 5000
        )
    finally:
        close(app)
    assert (str(result.date_from), result.days) == ("2026-01-15", 2)
    assert tracking.daily() == expected
