"""The standard log, written in time order as Moodle writes it.

Sessions (from the learning pass) are expanded one at a time into bursts of events a few
seconds to minutes apart: a login, the dashboard, course pages, the milestones themselves, some
browsing around them. Sessions overlap in time, so events wait in a small heap until no session
that starts later can precede them; only the events of currently open sessions are in memory,
whatever the size of the log. The pass also records each user's first and last access and
logins, which the user table must agree with.
"""

from __future__ import annotations

import heapq
import itertools
import json
import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from manireports.demo.courses import Activity
from manireports.demo.events import EventRows, Raw
from manireports.demo.ids import random_stream
from manireports.demo.replay import Milestone, Session
from manireports.demo.world import World


@dataclass
class AccessStats:
    """What Moodle keeps in user.firstaccess/lastaccess/lastlogin/currentlogin, user_lastaccess."""

    first: dict[int, int] = field(default_factory=dict)
    last: dict[int, int] = field(default_factory=dict)
    logins: dict[int, tuple[int, int]] = field(default_factory=dict)  # (previous, current)
    courses: dict[tuple[int, int], int] = field(default_factory=dict)
    mobile: set[int] = field(default_factory=set)

    def record(self, raw: Raw) -> None:
        time, code, user, course, _, _, _, _, origin, real, _ = raw
        if user <= 1 or real or origin not in ("web", "ws"):
            return
        if user not in self.first:
            self.first[user] = time
        self.last[user] = time
        if code == "login":
            self.logins[user] = (self.logins.get(user, (0, 0))[1], time)
        if course > 1:
            self.courses[(user, course)] = time
        if origin == "ws":
            self.mobile.add(user)


class Expander:
    """Turns one session into its events; every random choice comes from the session's seed."""

    def __init__(self, world: World) -> None:
        self.now = world.clock.now
        self.usernames = {p.id: p.username for p in world.community.people}
        self.browsable: dict[int, list[Activity]] = {}
        for course in world.catalogue.courses:
            self.browsable[course.id] = [
                a
                for a in course.activities
                if a.visible and a.on_page and not a.deleting and a.module != "label"
            ]

    def expand(self, session: Session) -> list[Raw]:
        start, user, kind, seed, milestones, courses = session
        rng = random_stream(seed)
        origin = "ws" if kind == "ws" else "web"
        events: list[Raw] = []

        def add(
            time: int,
            code: str,
            course: int = 0,
            cm: int = 0,
            objectid: int = 0,
            related: int = 0,
            other: str | None = None,
            anonymous: int = 0,
            actor: int = 0,
            via: str = "",
        ) -> None:
            if time < self.now:
                events.append(
                    (
                        time,
                        code,
                        actor or user,
                        course,
                        cm,
                        objectid,
                        related,
                        other,
                        via or origin,
                        0,
                        anonymous,
                    )
                )

        time = start
        if origin == "web":
            add(time, "login", objectid=user, other=json.dumps({"username": self.usernames[user]}))
            time += _between(rng, 2, 25)
            add(time, "dashboard")
        if kind == "staff":
            time = self._teach(rng, add, time, courses)
        elif milestones:
            time = self._milestones(rng, add, time, user, milestones)
        else:
            for course in courses:
                time = self._browse(rng, add, time, course, _between(rng, 1, 8))
        if origin == "web" and rng.random() < 0.25:
            add(time + _between(rng, 20, 300), "logout", objectid=user)
        return events

    def _browse(
        self, rng: random.Random, add: Callable[..., None], time: int, course: int, pages: int
    ) -> int:
        time += _between(rng, 5, 90)
        add(time, "course_viewed", course)
        activities = self.browsable.get(course, [])
        for _ in range(pages if activities else 0):
            activity = activities[int(rng.random() * len(activities))]
            time += _between(rng, 20, 420)
            add(time, f"view_{activity.module}", course, activity.id, activity.instance)
            if activity.module == "forum" and rng.random() < 0.6:
                time += _between(rng, 10, 200)
                add(time, "forum_discussion", course, activity.id, _between(rng, 1, 5000))
            elif activity.module == "assign" and rng.random() < 0.5:
                time += _between(rng, 5, 60)
                add(time, "assign_status", course, activity.id, activity.instance)
        if rng.random() < 0.2:
            time += _between(rng, 20, 200)
            add(time, "grades_viewed", course)
        return time

    def _milestones(
        self,
        rng: random.Random,
        add: Callable[..., None],
        time: int,
        user: int,
        milestones: list[Milestone],
    ) -> int:
        current = 0
        for when, code, course, cm, objectid, related, other in milestones:
            if course != current:
                add(max(time, when - _between(rng, 5, 90)), "course_viewed", course)
                current = course
            if code == "course_completed_cron":
                # Cron runs as the admin account, from the command line.
                add(when, code, course, 0, objectid, user, actor=2, via="cli")
            elif code == "assign_graded":
                add(max(time, when - _between(rng, 30, 300)), "assign_table", course, cm, objectid)
                add(when, code, course, cm, objectid, related)
            elif code == "feedback_submitted":
                add(when, code, course, cm, objectid, anonymous=1)
            else:
                add(when, code, course, cm, objectid, related, other)
                if code == "quiz_started":
                    for page in range(_between(rng, 1, 3)):
                        add(
                            when + 40 * (page + 1) + _between(rng, 0, 30),
                            "quiz_viewed",
                            course,
                            cm,
                            objectid,
                            related,
                            other,
                        )
            time = max(time, when)
        if current and rng.random() < 0.5:
            time = self._browse(rng, add, time, current, _between(rng, 0, 3))
        return time

    def _teach(
        self, rng: random.Random, add: Callable[..., None], time: int, courses: tuple[int, ...]
    ) -> int:
        for course in rng.sample(courses, min(len(courses), _between(rng, 1, 2))):
            time = self._browse(rng, add, time, course, _between(rng, 0, 3))
            for code, chance in (
                ("participants", 0.3),
                ("grader_viewed", 0.5),
                ("progress_report", 0.2),
            ):
                if rng.random() < chance:
                    time += _between(rng, 15, 240)
                    add(time, code, course)
            for activity in self.browsable.get(course, []):
                if activity.module in ("quiz", "assign") and rng.random() < 0.25:
                    time += _between(rng, 15, 240)
                    code = "quiz_report" if activity.module == "quiz" else "assign_table"
                    add(time, code, course, activity.id, activity.instance)
        return time


def _between(rng: random.Random, low: int, high: int) -> int:
    """randint without its overhead; the log draws millions of these."""
    return low + int(rng.random() * (high - low + 1))


def ordered_events(world: World, sessions: list[Session], extra: Iterable[Raw]) -> Iterator[Raw]:
    """All events in time order (ties keep generation order), built lazily."""
    expander = Expander(world)
    sessions.sort(key=lambda session: (session[0], session[1]))
    pending: list[tuple[int, int, Raw]] = []
    counter = itertools.count()
    others = iter(sorted(extra, key=lambda raw: raw[0]))
    upcoming = next(others, None)
    for session in sessions:
        start = session[0]
        while upcoming is not None and upcoming[0] < start:
            heapq.heappush(pending, (upcoming[0], next(counter), upcoming))
            upcoming = next(others, None)
        while pending and pending[0][0] < start:
            yield heapq.heappop(pending)[2]
        for raw in expander.expand(session):
            heapq.heappush(pending, (raw[0], next(counter), raw))
    while upcoming is not None:
        heapq.heappush(pending, (upcoming[0], next(counter), upcoming))
        upcoming = next(others, None)
    while pending:
        yield heapq.heappop(pending)[2]


def log_rows(
    world: World, sessions: list[Session], extra: Iterable[Raw], stats: AccessStats
) -> Iterator[tuple[object, ...]]:
    """The log table's rows, numbered in time order; `stats` fills up as they are consumed."""
    rows = EventRows(world)
    record = stats.record
    for event_id, raw in enumerate(ordered_events(world, sessions, extra), start=1):
        record(raw)
        yield rows.row(event_id, raw)
