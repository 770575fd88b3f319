"""How changed sessions are written: their stored versions deleted in batches, then inserted again.

A sync that changes many sessions at once (extended, started earlier, merged, closed) must leave
what the rules give for the whole log and what `time rebuild` gives from scratch, on every
engine, with more changed sessions than one DELETE names.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from manireports.errors import RunError
from manireports.state import StateDB
from manireports.timetrack import aggregate_daily, sync_log
from manireports.timetrack import store as store_module
from manireports.timetrack.sessions import LOG
from tests.test_timetrack_support import (
    T,
    Tracking,
    close,
    expected_sessions,
    from_scratch,
    reference_state,
    tracking,
)

__all__ = ["tracking"]  # fixtures

PAIRS = [(userid, courseid) for userid in range(3, 103) for courseid in (20, 21, 22)]


def first_and_second_batch() -> tuple[list[tuple[int, int, int]], list[tuple[int, int, int]]]:
    """Per pair, by its number: a session extended later, one whose start moves earlier (a late
    event), or two sessions that a late event between them merges into one."""
    first: list[tuple[int, int, int]] = []
    second: list[tuple[int, int, int]] = []
    for number, (userid, courseid) in enumerate(PAIRS):
        base = T + 10 * number
        if number % 3 == 0:
            first += [(userid, courseid, base), (userid, courseid, base + 300)]
            second += [(userid, courseid, base + 800)]
        elif number % 3 == 1:
            first += [(userid, courseid, base + 1000), (userid, courseid, base + 1200)]
            second += [(userid, courseid, base + 500)]
        else:
            first += [(userid, courseid, base), (userid, courseid, base + 1100)]
            second += [(userid, courseid, base + 550)]
    return first, second


def test_many_sessions_changed_in_one_sync_equal_a_rebuild(
    tracking: Tracking, request: pytest.FixtureRequest
) -> None:
    first, second = first_and_second_batch()
    # Every pair's sessions change (the merged ones lose one), in more than one DELETE.
    assert len(PAIRS) + len(PAIRS) // 3 > store_module.DELETE_BATCH
    app = tracking.app()
    try:
        tracking.log(*sorted(first, key=lambda point: point[2]))
        sync_log(app, now=T + 4000)
        # Late and new events, out of time order; the sessions left open are closed too.
        tracking.log(*second)
        result = sync_log(app, now=T + 10_000)
        aggregate_daily(app, now=T + 10_000)
    finally:
        close(app)
    everything = first + second
    sessions = tracking.sessions()
    assert sessions == expected_sessions(everything, now=T + 10_000)
    assert len(sessions) == len(PAIRS)
    assert result.sessions_open == 0
    reference = reference_state(tracking.kind, request)
    assert (sessions, tracking.daily()) == from_scratch(tracking, reference, [], T + 10_000)


def test_a_session_whose_start_moves_earlier_keeps_one_row(tracking: Tracking) -> None:
    app = tracking.app()
    try:
        tracking.log((5, 7, T + 1000), (5, 7, T + 1200))
        sync_log(app, now=T + 1300)
        tracking.log((5, 7, T + 700))
        sync_log(app, now=T + 1300)
        tracking.log((5, 7, T + 150))
        sync_log(app, now=T + 2000)
    finally:
        close(app)
    assert tracking.sessions() == [(5, 7, "log", T + 150, T + 1200, 4, 1050)]


def test_a_stored_session_changed_behind_the_writer_fails_the_checkpoint(
    tracking: Tracking,
) -> None:
    """Deleting a stored version the database no longer holds would leave the new version beside
    the changed row: counted twice. The transaction is rolled back instead."""
    tracking.log((5, 7, T), (5, 7, T + 100))
    app = tracking.app()
    try:
        sync_log(app, now=T + 200)
    finally:
        close(app)
    before = tracking.sessions()
    state = StateDB(tracking.state_url)
    try:
        with (
            pytest.raises(RunError, match="another process changed them"),
            state.begin() as connection,
        ):
            store_module.delete_keys(connection, LOG, [(5, 7, T, T + 100), (5, 7, T, T + 99)])
    finally:
        state.close()
    assert tracking.sessions() == before


def test_stored_versions_are_deleted_through_an_index(tracking: Tracking) -> None:
    """Every engine can read the DELETE's rows through an index; SQLite, which has no statistics
    to choose by, is kept to the lastupdated one, off the pair index that holds every session a
    pair ever had."""
    tracking.log((5, 7, T), (5, 8, T + 100))
    app = tracking.app()
    try:
        sync_log(app, now=T + 200)
    finally:
        close(app)
    keys = [(5, 7, T, T), (5, 8, T + 100, T + 100)]
    engine = sa.create_engine(tracking.state_url)
    try:
        with engine.connect() as connection:
            delete = store_module.delete_sql(connection.dialect.name, LOG, keys)
            if tracking.kind == "postgresql":
                connection.exec_driver_sql("SET enable_seqscan = off")
            explain = "EXPLAIN QUERY PLAN" if tracking.kind == "sqlite" else "EXPLAIN"
            plan = " ".join(str(row) for row in connection.exec_driver_sql(f"{explain} {delete}"))
    finally:
        engine.dispose()
    if tracking.kind == "sqlite":
        assert "USING INDEX ix_manireports_usertime_sessions_lastupdated" in plan, plan
        assert "userid_courseid" not in plan, plan
    else:
        assert "ix_manireports_usertime_sessions" in plan, plan
