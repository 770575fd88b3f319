"""The `time_spent` report's rows: usernames from Moodle, filters, scope, paging."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from manireports.errors import InputError, PermissionDeniedError
from manireports.scope import OPERATOR, Actor, Grant, Scope
from manireports.timetrack import TIME_SPENT_COLUMNS, aggregate_daily, sync_log, time_spent_rows
from manireports.timetrack import report as report_module
from tests.test_timetrack_support import Tracking, at, close, sqlite_tracking, tracking

__all__ = ["sqlite_tracking", "tracking"]  # fixtures

DAY1, DAY2 = "2026-01-14", "2026-01-15"
NOW = at(f"{DAY2} 23:00")
COMPANY_1_USERS = "SELECT cu.userid FROM {company_users} cu WHERE cu.companyid = 1"


def build(tracking: Tracking) -> dict[str, int]:
    site = tracking.site
    ids = {
        "alice": site.user("alice"),
        "bob": site.user("bob"),
        "zoe": site.user("zoe", deleted=1),
        "ghost": 99_999,  # in the log, no longer in Moodle
    }
    site.insert("company_users", companyid=1, userid=ids["bob"], departmentid=1)
    tracking.log(
        (ids["alice"], 7, at(f"{DAY1} 10:00")),
        (ids["alice"], 7, at(f"{DAY1} 10:05")),
        (ids["alice"], 8, at(f"{DAY2} 09:00")),
        (ids["alice"], 8, at(f"{DAY2} 09:01")),
        (ids["bob"], 7, at(f"{DAY2} 11:00")),
        (ids["bob"], 7, at(f"{DAY2} 11:09")),
        (ids["zoe"], 7, at(f"{DAY2} 12:00")),
        (ids["ghost"], 7, at(f"{DAY2} 13:00")),
    )
    app = tracking.app()
    try:
        sync_log(app, now=NOW)
        aggregate_daily(app, now=NOW)
    finally:
        close(app)
    return ids


def rows(tracking: Tracking, **filters: Any) -> list[tuple[Any, ...]]:
    app = tracking.app()
    try:
        return list(time_spent_rows(app, **filters))
    finally:
        close(app)


def test_rows_by_user_course_and_day_with_usernames(tracking: Tracking) -> None:
    ids = build(tracking)
    alice, bob = ids["alice"], ids["bob"]
    assert [column.name for column in TIME_SPENT_COLUMNS] == [
        "userid", "username", "courseid", "date", "duration_seconds", "sessions",
    ]  # fmt: skip
    # Deleted users are left out; a user gone from Moodle keeps an empty username.
    assert rows(tracking) == [
        (alice, "alice", 7, DAY1, 300, 1),
        (alice, "alice", 8, DAY2, 60, 1),
        (bob, "bob", 7, DAY2, 540, 1),
        (99_999, None, 7, DAY2, 0, 1),
    ]


def test_filters(sqlite_tracking: Tracking) -> None:
    ids = build(sqlite_tracking)
    alice, bob = ids["alice"], ids["bob"]
    assert rows(sqlite_tracking, userid=alice) == [
        (alice, "alice", 7, DAY1, 300, 1),
        (alice, "alice", 8, DAY2, 60, 1),
    ]
    assert rows(sqlite_tracking, courseid=7, date_from=DAY2) == [
        (bob, "bob", 7, DAY2, 540, 1),
        (99_999, None, 7, DAY2, 0, 1),
    ]
    assert rows(sqlite_tracking, date_to=DAY1) == [(alice, "alice", 7, DAY1, 300, 1)]
    with pytest.raises(InputError, match="backwards"):
        rows(sqlite_tracking, date_from=DAY2, date_to=DAY1)


@pytest.mark.parametrize("in_sql", [True, False])
def test_scope(sqlite_tracking: Tracking, monkeypatch: pytest.MonkeyPatch, in_sql: bool) -> None:
    if not in_sql:
        monkeypatch.setattr(report_module, "IN_SQL_LIMIT", 0)
    ids = build(sqlite_tracking)
    alice, bob = ids["alice"], ids["bob"]
    learner = Actor(alice, "alice", "user")
    own = Scope(learner, (Grant("userid", (alice,)),))
    assert [row[:3] for row in rows(sqlite_tracking, scope=own)] == [
        (alice, "alice", 7),
        (alice, "alice", 8),
    ]
    teacher = Scope(
        Actor(bob, "bob", "teacher"), (Grant("userid", (bob,)), Grant("courseid", (8,)))
    )
    assert [row[:3] for row in rows(sqlite_tracking, scope=teacher)] == [
        (alice, "alice", 8),
        (bob, "bob", 7),
    ]
    manager = Scope(
        Actor(2, "admin", "manager"),
        (Grant("userid", subquery=COMPANY_1_USERS),),
    )
    assert [row[:3] for row in rows(sqlite_tracking, scope=manager)] == [(bob, "bob", 7)]
    company = Scope(OPERATOR, None, company=1)
    assert [row[:3] for row in rows(sqlite_tracking, scope=company)] == [(bob, "bob", 7)]
    companies_only = Scope(learner, (Grant("companyid", (1,)),))
    with pytest.raises(PermissionDeniedError):
        rows(sqlite_tracking, scope=companies_only)


def test_pages(sqlite_tracking: Tracking, monkeypatch: pytest.MonkeyPatch) -> None:
    build(sqlite_tracking)
    everything = rows(sqlite_tracking)
    one_day = rows(sqlite_tracking, date_from=DAY2, date_to=DAY2)
    monkeypatch.setattr(report_module, "PAGE", 2)
    monkeypatch.setattr(report_module, "NAMES_PER_QUERY", 1)
    assert rows(sqlite_tracking) == everything
    assert rows(sqlite_tracking, date_from=DAY2, date_to=DAY2) == one_day
    assert [row[3] for row in one_day] == [DAY2] * 3


def test_a_report_left_early_leaves_no_page_read_behind(
    sqlite_tracking: Tracking, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pages are read one ahead on a helper thread; a reader that stops after the first row
    (--limit, a closed pipe) waits for the page in flight, so no state read outlives it."""
    build(sqlite_tracking)
    monkeypatch.setattr(report_module, "PAGE", 1)
    app = sqlite_tracking.app()
    try:
        produced = time_spent_rows(app)
        first = next(produced)
        assert any(t.name.startswith("time-spent-pages") for t in threading.enumerate())
        produced.close()
        assert first == rows(sqlite_tracking)[0]
        assert not any(t.name.startswith("time-spent-pages") for t in threading.enumerate())
        assert app.state.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    finally:
        close(app)


def test_privacy_export_and_delete(sqlite_tracking: Tracking) -> None:
    from manireports.timetrack.privacy import forget_user, user_time

    ids = build(sqlite_tracking)
    app = sqlite_tracking.app()
    try:
        held = user_time(app, ids["alice"])
        assert [(s["courseid"], s["duration"]) for s in held["sessions"]] == [(7, 300), (8, 60)]
        assert [(d["date"], d["duration"]) for d in held["daily"]] == [(DAY1, 300), (DAY2, 60)]
        assert forget_user(app, ids["alice"], now=NOW) == 4
        assert user_time(app, ids["alice"]) == {"sessions": [], "daily": []}
    finally:
        close(app)
    assert {row[0] for row in sqlite_tracking.sessions()} == {ids["bob"], ids["zoe"], 99_999}
