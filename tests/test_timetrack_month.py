"""`time_spent` with `per=month`: the daily rows summed by user, course and month in the state
database, on every engine.

The hand-made days (seconds/sessions) and their months, worked out by hand:
  alice, course 7: 01-30 100/1, 01-31 200/2 | 02-01 400/1, 02-28 800/3 | 03-01 1600/1, 03-02 3200/2
      -> January 300/3, February 1200/4, March 4800/3;
  alice, course 0: 02-10 50/1 | 03-01 25/1 -> February 50/1, March 25/1;
  bob, course 0: 01-31 7/1 -> January 7/1;
  bob, course 7: 02-14 60/2, 02-15 30/1 -> February 90/3.
From 2026-01-31 to 2026-03-01 cuts January and March: alice's course 7 keeps 01-31 (200/2) and
03-01 (1600/1) of them; the other months lie inside whole.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from manireports.errors import InputError
from manireports.scope import Actor, Grant, Scope
from manireports.state.tables import usertime_daily
from manireports.timetrack import per_of, time_spent_rows
from manireports.timetrack import report as report_module
from tests.test_timetrack_support import Tracking, close, sqlite_tracking, tracking

__all__ = ["sqlite_tracking", "tracking"]  # fixtures

GHOST = 99_999  # time tracked, no longer in Moodle: an empty username
DAYS = {
    "alice": {
        7: {
            "2026-01-30": (100, 1),
            "2026-01-31": (200, 2),
            "2026-02-01": (400, 1),
            "2026-02-28": (800, 3),
            "2026-03-01": (1600, 1),
            "2026-03-02": (3200, 2),
        },
        0: {"2026-02-10": (50, 1), "2026-03-01": (25, 1)},
    },
    "bob": {0: {"2026-01-31": (7, 1)}, 7: {"2026-02-14": (60, 2), "2026-02-15": (30, 1)}},
}


def store(tracking: Tracking, days: list[tuple[int, int, str, int, int]]) -> None:
    """The state's daily rows become exactly `days` (userid, courseid, date, seconds, sessions)."""
    engine = sa.create_engine(tracking.state_url)
    try:
        with engine.begin() as connection:
            connection.execute(usertime_daily.delete())
            if days:
                connection.execute(
                    usertime_daily.insert(),
                    [
                        {
                            "userid": userid,
                            "courseid": courseid,
                            "date": date,
                            "duration": seconds,
                            "sessioncount": sessions,
                            "lastupdated": 0,
                        }
                        for userid, courseid, date, seconds, sessions in days
                    ],
                )
    finally:
        engine.dispose()


def hand_made(tracking: Tracking) -> tuple[int, int]:
    ids = {name: tracking.site.user(name) for name in DAYS}
    store(
        tracking,
        [
            (ids[name], courseid, date, seconds, sessions)
            for name, courses in DAYS.items()
            for courseid, days in courses.items()
            for date, (seconds, sessions) in days.items()
        ],
    )
    return ids["alice"], ids["bob"]


def rows(tracking: Tracking, **filters: Any) -> list[tuple[Any, ...]]:
    app = tracking.app()
    try:
        return list(time_spent_rows(app, per="month", **filters))
    finally:
        close(app)


def test_months_by_hand(tracking: Tracking) -> None:
    alice, bob = hand_made(tracking)
    assert rows(tracking) == [
        (alice, "alice", 0, "2026-02-01", 50, 1),
        (alice, "alice", 0, "2026-03-01", 25, 1),
        (alice, "alice", 7, "2026-01-01", 300, 3),
        (alice, "alice", 7, "2026-02-01", 1200, 4),
        (alice, "alice", 7, "2026-03-01", 4800, 3),
        (bob, "bob", 0, "2026-01-01", 7, 1),
        (bob, "bob", 7, "2026-02-01", 90, 3),
    ]
    cut = {"date_from": "2026-01-31", "date_to": "2026-03-01"}
    assert rows(tracking, **cut) == [
        (alice, "alice", 0, "2026-02-01", 50, 1),
        (alice, "alice", 0, "2026-03-01", 25, 1),
        (alice, "alice", 7, "2026-01-01", 200, 2),
        (alice, "alice", 7, "2026-02-01", 1200, 4),
        (alice, "alice", 7, "2026-03-01", 1600, 1),
        (bob, "bob", 0, "2026-01-01", 7, 1),
        (bob, "bob", 7, "2026-02-01", 90, 3),
    ]
    assert rows(tracking, courseid=0, **cut) == [
        (alice, "alice", 0, "2026-02-01", 50, 1),
        (alice, "alice", 0, "2026-03-01", 25, 1),
        (bob, "bob", 0, "2026-01-01", 7, 1),
    ]


@pytest.mark.parametrize("in_sql", [True, False])
def test_months_keep_the_scope(
    sqlite_tracking: Tracking, monkeypatch: pytest.MonkeyPatch, in_sql: bool
) -> None:
    if not in_sql:
        monkeypatch.setattr(report_module, "IN_SQL_LIMIT", 0)
    alice, bob = hand_made(sqlite_tracking)
    # Bob's own rows and everyone's in course 0.
    teacher = Scope(
        Actor(bob, "bob", "teacher"), (Grant("userid", (bob,)), Grant("courseid", (0,)))
    )
    assert rows(sqlite_tracking, scope=teacher) == [
        (alice, "alice", 0, "2026-02-01", 50, 1),
        (alice, "alice", 0, "2026-03-01", 25, 1),
        (bob, "bob", 0, "2026-01-01", 7, 1),
        (bob, "bob", 7, "2026-02-01", 90, 3),
    ]


def test_per_values() -> None:
    assert [per_of("day"), per_of(" Month ")] == ["day", "month"]
    with pytest.raises(InputError) as raised:
        per_of("week")
    assert str(raised.value) == "The parameter per must be day or month, not 'week'."


FIRST = dt.date(2025, 12, 20)  # generated days run over a new year and a short February
SPAN = 80
days = st.dictionaries(
    st.tuples(
        st.integers(0, 2),  # alice, bob, a user gone from Moodle (see `people`)
        st.sampled_from((0, 7, 12)),  # 12 sorts after 7 as a number, before it as text
        st.integers(0, SPAN - 1),
    ),
    st.tuples(st.integers(0, 200_000), st.integers(0, 9)),
    # More days than a page (see `people`), about ten in each user's course and month.
    min_size=33,
    max_size=250,
)
bound = st.one_of(st.none(), st.integers(-3, SPAN + 3))


@pytest.fixture
def people(tracking: Tracking, monkeypatch: pytest.MonkeyPatch) -> tuple[Tracking, dict[int, Any]]:
    """The engine's site with alice and bob, the users of generated days by index, with their
    usernames; pages of 32 days, so that pages end inside months."""
    monkeypatch.setattr(report_module, "PAGE", 32)
    return tracking, {
        tracking.site.user("alice"): "alice",
        tracking.site.user("bob"): "bob",
        GHOST: None,
    }


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(generated=days, start=bound, end=bound)
def test_months_are_the_days_summed(
    people: tuple[Tracking, dict[int, Any]],
    generated: dict[tuple[int, int, int], tuple[int, int]],
    start: int | None,
    end: int | None,
) -> None:
    """Whatever the days and the period, the month rows are the period's daily rows summed by
    (user, course, month), in that order."""
    tracking, names = people
    users = list(names)
    if start is not None and end is not None and start > end:
        start, end = end, start
    first = None if start is None else FIRST + dt.timedelta(days=start)
    last = None if end is None else FIRST + dt.timedelta(days=end)
    stored = sorted(
        (users[user], course, (FIRST + dt.timedelta(days=day)).isoformat(), *values)
        for (user, course, day), values in generated.items()
    )
    store(tracking, stored)
    inside = [
        row
        for row in stored
        if (first is None or row[2] >= first.isoformat())
        and (last is None or row[2] <= last.isoformat())
    ]
    summed: dict[tuple[int, int, str], list[int]] = defaultdict(lambda: [0, 0])
    for userid, courseid, date, seconds, sessions in inside:
        total = summed[(userid, courseid, date[:7] + "-01")]
        total[0] += seconds
        total[1] += sessions
    app = tracking.app()
    try:
        by_day = list(time_spent_rows(app, date_from=first, date_to=last))
        by_month = list(time_spent_rows(app, date_from=first, date_to=last, per="month"))
    finally:
        close(app)
    assert by_day == [(u, names[u], c, d, s, n) for u, c, d, s, n in inside]
    assert by_month == [
        (u, names[u], c, month, *total) for (u, c, month), total in sorted(summed.items())
    ]
