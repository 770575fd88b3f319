"""Claiming a schedule occurrence, so that it runs exactly once however many run-due processes
race for it, on one host or on several sharing the state database.

A claim is one conditional UPDATE: it sets `claimed_by` to a token unique to the process and
`claimed_until` to now plus `[schedule] claim_timeout_seconds`, only where the schedule is due and
no live claim holds it. The database applies the condition to the row's latest committed version
under the row's write lock (InnoDB's locking read, PostgreSQL's re-check after a concurrent
update, SQLite's single writer), so of several racing UPDATEs exactly one sees the row unclaimed
and reports one changed row; the others change nothing. Every later write of the holder is
conditional on its token too, and the holder renews the claim before each mail: a process that
was killed leaves a claim that expires and another process takes over, and a process that lost its
claim stops before mailing anyone.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Set
from typing import Any

import sqlalchemy as sa

from manireports.state.store import StateDB
from manireports.state.tables import schedules

_DUE_AT = sa.func.coalesce(schedules.c.retry_at, schedules.c.next_run)


def new_token() -> str:
    """Names the claiming process in the table, for an operator looking at a stuck schedule."""
    return f"{socket.gethostname()[:180]}:{os.getpid()}:{uuid.uuid4().hex}"


def _unclaimed(now: int) -> sa.ColumnElement[bool]:
    return sa.or_(schedules.c.claimed_until.is_(None), schedules.c.claimed_until < now)


def _due(now: int) -> sa.ColumnElement[bool]:
    return sa.and_(schedules.c.active == 1, _DUE_AT.op("<=")(now))


def claim_next_due(
    state: StateDB, token: str, now: int, timeout: int, *, skip: Set[int] = frozenset()
) -> int | None:
    """Claim the longest-waiting due schedule not in `skip` and return its id; None when none
    is left."""
    while True:
        query = (
            sa.select(schedules.c.id)
            .where(_due(now), _unclaimed(now), schedules.c.id.not_in(list(skip)))
            .order_by(_DUE_AT, schedules.c.id)
            .limit(20)
        )
        with state.begin() as connection:
            candidates = [int(row[0]) for row in connection.execute(query)]
        if not candidates:
            return None
        for scheduleid in candidates:
            if _claim(state, scheduleid, token, now, timeout, _due(now)):
                return scheduleid


def claim_now(state: StateDB, scheduleid: int, token: str, now: int, timeout: int) -> bool:
    """Claim a schedule whether due or not (`schedule run`); False while another process runs it."""
    return _claim(state, scheduleid, token, now, timeout, sa.true())


def _claim(
    state: StateDB,
    scheduleid: int,
    token: str,
    now: int,
    timeout: int,
    condition: sa.ColumnElement[bool],
) -> bool:
    statement = (
        sa.update(schedules)
        .where(schedules.c.id == scheduleid, condition, _unclaimed(now))
        .values(claimed_by=token, claimed_until=now + timeout)
    )
    with state.begin() as connection:
        return connection.execute(statement).rowcount == 1


def renew_claim(state: StateDB, scheduleid: int, token: str, now: int, timeout: int) -> bool:
    """Push the claim's expiry forward; False when this process no longer holds it."""
    return update_claimed(state, scheduleid, token, claimed_until=now + timeout)


def update_claimed(state: StateDB, scheduleid: int, token: str, **values: Any) -> bool:
    """Change the schedule only if this process still holds its claim."""
    statement = (
        sa.update(schedules)
        .where(schedules.c.id == scheduleid, schedules.c.claimed_by == token)
        .values(**values)
    )
    with state.begin() as connection:
        return connection.execute(statement).rowcount == 1


def release(state: StateDB, scheduleid: int, token: str, **values: Any) -> bool:
    """Write the outcome and give the claim up in one statement."""
    return update_claimed(state, scheduleid, token, claimed_by=None, claimed_until=None, **values)
