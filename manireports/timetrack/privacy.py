"""What time tracking holds about one user, for `privacy export` and `privacy delete`."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa

from manireports.app import App
from manireports.state import write_setting
from manireports.state.tables import usertime_daily as daily
from manireports.state.tables import usertime_sessions as sessions
from manireports.timetrack.store import LOG_STAMP, locked


def user_time(app: App, userid: int) -> dict[str, list[dict[str, Any]]]:
    """A user's sessions and daily rows, as plain data."""
    with app.state.begin() as connection:
        found = {
            "sessions": [
                dict(row._mapping)
                for row in connection.execute(
                    sa.select(sessions)
                    .where(sessions.c.userid == int(userid))
                    .order_by(sessions.c.sessionstart, sessions.c.source)
                )
            ],
            "daily": [
                dict(row._mapping)
                for row in connection.execute(
                    sa.select(daily)
                    .where(daily.c.userid == int(userid))
                    .order_by(daily.c.date, daily.c.courseid)
                )
            ],
        }
    return found


def forget_user(app: App, userid: int, *, now: int | None = None) -> int:
    """Delete a user's sessions and daily rows; returns the number of rows deleted.

    Runs under the time-tracking lock and changes the sync stamp, so a sync running meanwhile
    (which may hold the user's newest sessions in memory) stops at its next checkpoint instead
    of writing them back. The log itself is Moodle's: a rebuild over a period in which the user
    still has log events brings their sessions back.
    """
    now = app.now() if now is None else int(now)
    with locked(app.state, now) as connection:
        removed = connection.execute(
            sessions.delete().where(sessions.c.userid == int(userid))
        ).rowcount
        removed += connection.execute(daily.delete().where(daily.c.userid == int(userid))).rowcount
        write_setting(connection, LOG_STAMP, uuid.uuid4().hex, now=now)
    return int(removed or 0)
