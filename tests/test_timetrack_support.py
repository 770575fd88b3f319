"""Shared pieces of the time-tracking tests: a Moodle and a state database on one engine, log
rows written the way Moodle writes them, and the reference answer computed from the rules.

(No tests here; the other test_timetrack_* modules import from it.)
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from manireports.app import App
from manireports.config import load_config
from manireports.state import StateDB
from manireports.state.tables import settings, usertime_daily, usertime_sessions
from manireports.timetrack.sessions import is_closed, session_seconds, sessionize
from tests.conftest import ENGINES, fresh_database
from tests.moodle_site import MoodleSite

# 2026-01-14 12:00:00 UTC, a weekday far from any DST change.
T = 1_768_392_000
LONDON = "Europe/London"


@dataclass
class Tracking:
    """A hand-made Moodle site and an empty state database on the same engine."""

    kind: str
    site: MoodleSite
    state_url: str
    log_id: int = 0

    def app(self, timezone: str = "UTC", **time_tracking: Any) -> App:
        environ = {
            "MANIREPORTS_MOODLE_URL": self.site.url,
            "MANIREPORTS_STATE_URL": self.state_url,
            "MANIREPORTS_SITE_TIMEZONE": timezone,
        }
        for key, value in time_tracking.items():
            if isinstance(value, (list, tuple)):
                value = ",".join(value)
            elif isinstance(value, bool):
                value = "true" if value else "false"
            environ[f"MANIREPORTS_TIME_TRACKING_{key.upper()}"] = str(value)
        return App(load_config(environ=environ))

    def log(self, *events: Event | tuple[int, int, int]) -> None:
        """Append events to the standard log, in the order given (ids ascending)."""
        rows = []
        for event in events:
            if not isinstance(event, Event):
                event = Event(*event)
            self.log_id += 1
            rows.append(event.row(self.log_id))
        if rows:
            table = self.site.table("logstore_standard_log")
            with self.site.engine.begin() as connection:
                connection.execute(table.insert(), rows)

    def sessions(self) -> list[tuple[int, int, str, int, int, int, int | None]]:
        """(userid, courseid, source, start, end, events, duration), sorted."""
        t = usertime_sessions.c
        engine = sa.create_engine(self.state_url)
        try:
            with engine.connect() as connection:
                rows = connection.execute(
                    sa.select(
                        t.userid,
                        t.courseid,
                        t.source,
                        t.sessionstart,
                        t.lastupdated,
                        t.eventcount,
                        t.duration,
                    )
                ).all()
        finally:
            engine.dispose()
        return sorted(tuple(row) for row in rows)  # type: ignore[misc]  # fmt: skip

    def daily(self) -> list[tuple[int, int, str, int, int]]:
        """(userid, courseid, date, duration, sessioncount), sorted."""
        t = usertime_daily.c
        engine = sa.create_engine(self.state_url)
        try:
            with engine.connect() as connection:
                rows = connection.execute(
                    sa.select(t.userid, t.courseid, t.date, t.duration, t.sessioncount)
                ).all()
        finally:
            engine.dispose()
        return sorted(tuple(row) for row in rows)  # type: ignore[misc]

    def settings(self) -> dict[str, str | None]:
        engine = sa.create_engine(self.state_url)
        try:
            with engine.connect() as connection:
                rows = connection.execute(
                    sa.text("SELECT name, value FROM manireports_settings")
                ).all()
        finally:
            engine.dispose()
        return {name: value for name, value in rows}


@dataclass(frozen=True)
class Event:
    """One standard-log row; the defaults are a real user's web click in a course."""

    userid: int
    courseid: int
    time: int
    origin: str = "web"
    anonymous: int = 0
    realuserid: int | None = None
    eventname: str = "\\core\\event\\course_viewed"

    def row(self, log_id: int) -> dict[str, Any]:
        return {
            "id": log_id,
            "eventname": self.eventname,
            "component": "core",
            "action": "viewed",
            "target": "course",
            "crud": "r",
            "edulevel": 2,
            "contextid": 1,
            "contextlevel": 50,
            "contextinstanceid": self.courseid,
            "userid": self.userid,
            "courseid": self.courseid,
            "anonymous": self.anonymous,
            "timecreated": self.time,
            "origin": self.origin,
            "ip": "127.0.0.1",
            "realuserid": self.realuserid,
        }


_SHARED: dict[str, tuple[MoodleSite, str]] = {}


def _shared_databases(kind: str, config: pytest.Config, tmp_path: Path) -> tuple[MoodleSite, str]:
    """One Moodle and one state database per engine for the whole run, dropped at its end.

    Building Moodle's tables and migrating a state database takes seconds on a server; the time
    tracking tests only touch the log, users and the time-tracking tables, which `reset` empties.
    """
    if kind not in _SHARED:
        moodle = fresh_database(kind, tmp_path)
        state = fresh_database(kind, tmp_path)
        site = MoodleSite(next(moodle), timezone="UTC")
        state_url = next(state)
        StateDB(state_url).upgrade()

        def drop() -> None:
            site.dispose()
            state.close()
            moodle.close()

        config.add_cleanup(drop)
        _SHARED[kind] = (site, state_url)
    return _SHARED[kind]


def reset(site: MoodleSite, state_url: str) -> None:
    with site.engine.begin() as connection:
        connection.execute(site.table("logstore_standard_log").delete())
        connection.execute(site.table("company_users").delete())
        connection.execute(site.table("config_plugins").delete())
        connection.execute(site.table("user").delete().where(site.table("user").c.id > 2))
    engine = sa.create_engine(state_url)
    try:
        with engine.begin() as connection:
            for table in (usertime_sessions, usertime_daily, settings):
                connection.execute(table.delete())
    finally:
        engine.dispose()


def make_tracking(kind: str, request: pytest.FixtureRequest) -> Tracking:
    base = request.getfixturevalue("tmp_path_factory").mktemp(f"timetrack_{kind}")
    site, state_url = _shared_databases(kind, request.config, base)
    reset(site, state_url)
    return Tracking(kind, site, state_url)


@pytest.fixture(params=ENGINES)
def tracking(request: pytest.FixtureRequest) -> Tracking:
    """A Moodle site and a state database on each engine in turn, emptied for each test."""
    return make_tracking(request.param, request)


@pytest.fixture
def sqlite_tracking(request: pytest.FixtureRequest) -> Tracking:
    return make_tracking("sqlite", request)


def close(app: App) -> None:
    if "moodle" in app.__dict__:
        app.moodle.dispose()
    if "state" in app.__dict__:
        app.state.close()


def expected_sessions(
    points: Iterable[tuple[int, int, int]],
    *,
    reach: int = 600,
    close_after: int = 600,
    now: int,
    single: int = 0,
    source: str = "log",
) -> list[tuple[int, int, str, int, int, int, int | None]]:
    """The reference answer: every pair's points sorted and cut by the gap rule."""
    by_pair: dict[tuple[int, int], list[int]] = defaultdict(list)
    for userid, courseid, time in points:
        by_pair[(userid, courseid)].append(time)
    result = []
    for (userid, courseid), times in by_pair.items():
        spans = sessionize(times, reach)
        for number, span in enumerate(spans):
            closed = number < len(spans) - 1 or is_closed(span.end, now, close_after)
            duration = (
                session_seconds(span.start, span.end, span.events, single) if closed else None
            )
            result.append((userid, courseid, source, span.start, span.end, span.events, duration))
    return sorted(result)


def at(text: str, timezone: str = "UTC") -> int:
    """Unix seconds of a local 'YYYY-MM-DD HH:MM[:SS]'."""
    return int(dt.datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(timezone)).timestamp())


_REFERENCE: dict[str, str] = {}


def reference_state(kind: str, request: pytest.FixtureRequest) -> str:
    """A second state database per engine, for the from-scratch answer beside the incremental
    one (both read the same Moodle log)."""
    if kind not in _REFERENCE:
        folder = request.getfixturevalue("tmp_path_factory").mktemp(f"reference_{kind}")
        state = fresh_database(kind, folder)
        url = next(state)
        StateDB(url).upgrade()
        request.config.add_cleanup(state.close)
        _REFERENCE[kind] = url
    return _REFERENCE[kind]


def empty_state(state_url: str) -> None:
    engine = sa.create_engine(state_url)
    try:
        with engine.begin() as connection:
            for table in (usertime_sessions, usertime_daily, settings):
                connection.execute(table.delete())
    finally:
        engine.dispose()


def heartbeat_lines(beats: Iterable[tuple[int, int, int]]) -> list[str]:
    return [f'{{"userid": {u}, "courseid": {c}, "timestamp": {t}}}' for u, c, t in beats]


def from_scratch(
    tracking: Tracking, reference_url: str, beats: list[tuple[int, int, int]], now: int
) -> tuple[list[Any], list[Any]]:
    """(sessions, daily rows) of one run from scratch over the final input: every heartbeat in
    one batch into an empty state, then `time rebuild` (sync of the whole log, aggregation)."""
    from manireports.timetrack import apply_heartbeats, rebuild

    empty_state(reference_url)
    reference = Tracking(tracking.kind, tracking.site, reference_url, tracking.log_id)
    app = reference.app()
    try:
        apply_heartbeats(app, heartbeat_lines(beats), now=now)
        if tracking.log_id:
            rebuild(app, now=now)
        else:
            from manireports.timetrack import aggregate_daily

            aggregate_daily(app, now=now)
    finally:
        close(app)
    return reference.sessions(), reference.daily()
