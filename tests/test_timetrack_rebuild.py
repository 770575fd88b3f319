"""`time rebuild`: recompute log sessions and days after a settings change, from a date or all."""

from __future__ import annotations

import json

from manireports.timetrack import aggregate_daily, apply_heartbeats, rebuild, sync_log
from tests.test_timetrack_support import Tracking, at, close, sqlite_tracking, tracking

__all__ = ["sqlite_tracking", "tracking"]  # fixtures

DAY1, DAY2 = "2026-01-14", "2026-01-15"
NOW = at(f"{DAY2} 18:00")


def build(tracking: Tracking) -> None:
    """Sessions made with the default 10-minute timeout, and a heartbeat session."""
    tracking.log(
        (3, 7, at(f"{DAY1} 10:00")),
        (3, 7, at(f"{DAY1} 10:15")),  # 15 minutes: a new session at 10, one at 20
        (5, 7, at(f"{DAY1} 23:55")),  # runs across midnight...
        (4, 7, at(f"{DAY1} 23:57")),  # (a session that ends before midnight)
        (4, 7, at(f"{DAY1} 23:59")),
        (5, 7, at(f"{DAY2} 00:04")),  # ...to here
        (5, 7, at(f"{DAY2} 00:20")),  # 16 minutes: new at 10, the same at 20
        (3, 7, at(f"{DAY2} 10:00")),
        (3, 7, at(f"{DAY2} 10:15")),
    )
    app = tracking.app()
    try:
        sync_log(app, now=NOW)
        beat = {"userid": 3, "courseid": 8, "timestamp": at(f"{DAY2} 11:00")}
        apply_heartbeats(app, [json.dumps(beat)], now=NOW)
        aggregate_daily(app, now=NOW)
    finally:
        close(app)
    assert tracking.daily() == [
        (3, 7, DAY1, 0, 2),
        (3, 7, DAY2, 0, 2),
        (3, 8, DAY2, 0, 1),
        (4, 7, DAY1, 120, 1),
        (5, 7, DAY1, 300, 1),
        (5, 7, DAY2, 240, 2),
    ]


def test_rebuild_from_a_date_recomputes_from_that_date(tracking: Tracking) -> None:
    build(tracking)
    app = tracking.app(session_timeout_minutes=20)
    try:
        result = rebuild(app, date_from=DAY2, now=NOW)
    finally:
        close(app)
    # Before the date: kept as built (two sessions of user 3 on day 1). From it: 20 minutes.
    # The session across midnight is rebuilt whole; user 4's session before midnight is not
    # counted twice although the re-read starts before it; the heartbeat session stays.
    assert tracking.daily() == [
        (3, 7, DAY1, 0, 2),
        (3, 7, DAY2, 900, 1),
        (3, 8, DAY2, 0, 1),
        (4, 7, DAY1, 120, 1),
        (5, 7, DAY1, 300, 1),
        (5, 7, DAY2, 1200, 1),
    ]
    sessions = tracking.sessions()
    assert [s for s in sessions if s[0] == 4] == [
        (4, 7, "log", at(f"{DAY1} 23:57"), at(f"{DAY1} 23:59"), 2, 120)
    ]
    assert [s for s in sessions if s[0] == 5] == [
        (5, 7, "log", at(f"{DAY1} 23:55"), at(f"{DAY2} 00:20"), 3, 1500)
    ]
    assert result.sessions_deleted == 4
    assert result.sync.skipped_events == 2  # user 4's two events before midnight
    assert "timetracking.log.rebuild" in tracking.settings()
    assert tracking.settings()["timetracking.log.rebuild"] is None


def test_rebuild_of_everything(tracking: Tracking) -> None:
    build(tracking)
    app = tracking.app(session_timeout_minutes=20)
    try:
        result = rebuild(app, now=NOW)
        # The state is an ordinary one afterwards: the next sync finds nothing to do.
        assert sync_log(app, now=NOW).events_read == 0
    finally:
        close(app)
    assert result.sessions_deleted == 7
    assert result.sync.events_read == 9
    assert tracking.daily() == [
        (3, 7, DAY1, 900, 1),
        (3, 7, DAY2, 900, 1),
        (3, 8, DAY2, 0, 1),
        (4, 7, DAY1, 120, 1),
        (5, 7, DAY1, 300, 1),
        (5, 7, DAY2, 1200, 1),
    ]


def test_rebuild_with_unchanged_settings_changes_nothing(sqlite_tracking: Tracking) -> None:
    build(sqlite_tracking)
    sessions, daily = sqlite_tracking.sessions(), sqlite_tracking.daily()
    app = sqlite_tracking.app()
    try:
        rebuild(app, date_from=DAY2, now=NOW)
        assert (sqlite_tracking.sessions(), sqlite_tracking.daily()) == (sessions, daily)
        rebuild(app, now=NOW)
    finally:
        close(app)
    assert (sqlite_tracking.sessions(), sqlite_tracking.daily()) == (sessions, daily)


def test_rebuild_after_leaving_site_time_out(sqlite_tracking: Tracking) -> None:
    sqlite_tracking.log((3, 0, at(f"{DAY2} 09:00")), (3, 0, at(f"{DAY2} 09:05")))
    app = sqlite_tracking.app()
    try:
        sync_log(app, now=NOW)
        aggregate_daily(app, now=NOW)
    finally:
        close(app)
    assert sqlite_tracking.daily() == [(3, 0, DAY2, 300, 1)]
    app = sqlite_tracking.app(include_site_events=False)
    try:
        rebuild(app, date_from=DAY1, now=NOW)
    finally:
        close(app)
    assert sqlite_tracking.daily() == []
    assert sqlite_tracking.sessions() == []


def test_rebuild_keeps_what_moodle_purged_from_the_log(tracking: Tracking) -> None:
    """With loglifetime set and old events deleted by Moodle, the rebuild starts at the first
    day the log still holds completely and keeps the sessions and rows of the days before."""
    tracking.site.insert(
        "config_plugins", plugin="logstore_standard", name="loglifetime", value="30"
    )
    day3 = "2026-01-16"
    times = [at(f"{day} {moment}") for day in (DAY1, DAY2, day3) for moment in ("10:00", "10:15")]
    tracking.log(*[(3, 7, time) for time in times])
    now = at("2026-02-25 12:00")  # the oldest event is older than 29 days: Moodle purges
    app = tracking.app()
    try:
        sync_log(app, now=now)
        aggregate_daily(app, now=now)
    finally:
        close(app)
    before = [(3, 7, day, 0, 2) for day in (DAY1, DAY2, day3)]
    assert tracking.daily() == before
    # Moodle's cleanup deleted day 1 and the first event of day 2: day 2 is partial.
    with tracking.site.engine.begin() as connection:
        table = tracking.site.table("logstore_standard_log")
        connection.execute(table.delete().where(table.c.timecreated < times[3]))
    app = tracking.app(session_timeout_minutes=20)
    try:
        result = rebuild(app, now=now)
    finally:
        close(app)
    assert str(result.date_from) == day3
    assert tracking.daily() == [*before[:2], (3, 7, day3, 900, 1)]
    assert len(tracking.sessions()) == 5
