"""Log events that are not a learner studying: administration, cron, and the noise of a live site.

Reports have to filter these correctly, so each kind is present: the guest account (userid 1),
visitors who are not logged in (userid 0), anonymous events, "log in as" (realuserid set), and
events from the command line, web services and course restores.
"""

from __future__ import annotations

import json
import random
from typing import cast

from manireports.demo.events import Raw
from manireports.demo.ids import random_stream
from manireports.demo.sizes import DAY
from manireports.demo.world import World


class SiteEvents:
    def __init__(self, world: World, seed: int) -> None:
        self.world = world
        self.rng = random_stream(f"{seed}:site-events")
        self.clock = world.clock
        self.events: list[Raw] = []
        people = world.community.people
        self.managers = [*[p.id for p in people if p.kind == "manager"][:3], 2]
        self.methods = {cast(int, row["id"]): str(row["enrol"]) for row in world.community.enrol}
        self.enrol_course = {
            cast(int, r["id"]): cast(int, r["courseid"]) for r in world.community.enrol
        }

    def add(
        self,
        time: int,
        code: str,
        user: int,
        course: int = 0,
        cm: int = 0,
        objectid: int = 0,
        related: int = 0,
        other: object = None,
        origin: str = "web",
        real: int = 0,
        anonymous: int = 0,
    ) -> None:
        if self.clock.history_start <= time < self.clock.now:
            text = None if other is None else json.dumps(other)
            self.events.append(
                (time, code, user, course, cm, objectid, related, text, origin, real, anonymous)
            )

    def manager(self, rng: random.Random, when: int) -> int:
        """A site manager whose account existed at `when`; the admin otherwise."""
        actor = rng.choice(self.managers)
        return actor if self.world.community.person(actor).timecreated < when else 2

    def build(self) -> list[Raw]:
        self.enrolments()
        self.unenrolments()
        self.accounts()
        self.login_as()
        self.visitors()
        self.administration()
        return self.events

    def enrolments(self) -> None:
        rng = self.rng
        roles = {
            (cast(int, r["userid"]), cast(int, r["contextid"])): cast(int, r["id"])
            for r in self.world.community.assignments
        }
        student = self.world.community.roles["student"]
        for row in self.world.community.enrolments:
            when = cast(int, row["timecreated"])
            user, enrol = cast(int, row["userid"]), cast(int, row["enrolid"])
            method, course = self.methods[enrol], self.enrol_course[enrol]
            actor, origin = self.manager(rng, when), "web"
            if method == "self":
                actor = user
            elif method == "cohort":
                actor, origin = 2, "cli"
            self.add(
                when,
                "enrolled",
                actor,
                course,
                objectid=cast(int, row["id"]),
                related=user,
                other={"enrol": method},
                origin=origin,
            )
            context = self.world.course(course).context
            if (user, context) in roles:
                self.add(
                    when,
                    "role_assigned",
                    actor,
                    course,
                    objectid=student,
                    related=user,
                    other={"id": roles[(user, context)], "component": "", "itemid": 0},
                    origin=origin,
                )

    def unenrolments(self) -> None:
        for row in self.world.community.removed:
            user = cast(int, row["userid"])
            person = self.world.community.person(user)
            enrol = cast(int, row["enrolid"])
            seat = next(
                s for s in self.world.community.seats[user] if s.course == self.enrol_course[enrol]
            )
            if person.deleted_at:
                continue
            self.add(
                seat.removed_at,
                "unenrolled",
                self.manager(self.rng, seat.removed_at),
                self.enrol_course[enrol],
                objectid=cast(int, row["id"]),
                related=user,
                other={"userenrolment": row["id"], "enrol": self.methods[enrol]},
            )

    def accounts(self) -> None:
        rng = self.rng
        for person in self.world.community.people[3:]:
            if person.auth == "email":
                actor, origin = 0, "web"  # self-registration, before anyone is logged in
            else:
                actor, origin = 2, "cli" if rng.random() < 0.3 else "web"
            self.add(
                person.timecreated,
                "user_created",
                actor,
                objectid=person.id,
                related=person.id,
                origin=origin,
            )
            if person.deleted_at:
                self.add(
                    person.deleted_at,
                    "user_deleted",
                    2,
                    objectid=person.id,
                    related=person.id,
                    other={
                        "username": person.username,
                        "email": person.email,
                        "idnumber": "",
                        "picture": 0,
                        "mnethostid": 1,
                    },
                )

    def login_as(self) -> None:
        """The admin looks at the site through learners' eyes; those events carry realuserid."""
        rng = self.rng
        learners = [
            user
            for user, seats in sorted(self.world.community.seats.items())
            if any(not s.removed_at and s.student for s in seats)
        ]
        for _ in range(max(3, len(learners) // 150)):
            target = rng.choice(learners)
            person = self.world.community.person(target)
            if person.active_until:
                continue
            first = self.world.community.seats[target][0].start
            begin = max(self.clock.history_start, first)
            if begin >= self.clock.now - DAY:
                continue
            time = rng.randrange(begin, self.clock.now - DAY)
            self.add(time, "login", 2, objectid=2, other={"username": "admin"})
            time += rng.randint(30, 300)
            self.add(
                time,
                "loginas",
                2,
                objectid=target,
                related=target,
                other={"originalusername": "admin", "loggedinasusername": person.username},
            )
            time += rng.randint(5, 30)
            self.add(time, "dashboard", target, related=target, real=2)
            course = self.world.course(self.world.community.seats[target][0].course)
            time += rng.randint(10, 90)
            self.add(time, "course_viewed", target, course.id, real=2)
            for activity in course.activities[:2]:
                time += rng.randint(10, 120)
                self.add(
                    time,
                    f"view_{activity.module}",
                    target,
                    course.id,
                    activity.id,
                    activity.instance,
                    real=2,
                )

    def visitors(self) -> None:
        """Guests (userid 1) and visitors who are not logged in (userid 0)."""
        rng = self.rng
        users = len(self.world.community.people)
        guest_course = self.world.course(3)
        for _ in range(max(10, users // 6)):
            time = rng.randrange(self.clock.history_start, self.clock.now)
            if rng.random() < 0.5:
                self.add(time, "course_viewed", 0, 1)
                if rng.random() < 0.3:
                    name = rng.choice(("admin", "j.smith", "test", "Admin", "olga.ivanova"))
                    self.add(
                        time + rng.randint(5, 40),
                        "login_failed",
                        0,
                        other={"username": name, "reason": rng.choice((1, 2, 3))},
                    )
                continue
            self.add(time, "course_viewed", 1, 1)
            time += rng.randint(10, 120)
            self.add(time, "course_viewed", 1, guest_course.id)
            for activity in guest_course.activities[:3]:
                if activity.visible and not activity.deleting:
                    time += rng.randint(10, 300)
                    self.add(
                        time,
                        f"view_{activity.module}",
                        1,
                        guest_course.id,
                        activity.id,
                        activity.instance,
                    )

    def administration(self) -> None:
        rng, clock = self.rng, self.clock
        for index in range(8):
            time = rng.randrange(clock.history_start, clock.now)
            self.add(
                time,
                "config_changed",
                2,
                objectid=index + 1,
                other={
                    "name": rng.choice(("sessiontimeout", "enablecompletion", "theme")),
                    "oldvalue": "",
                    "value": "1",
                    "plugin": None,
                },
            )
        for manager in self.managers[:3]:
            created = self.world.community.person(manager).timecreated
            time = max(clock.history_start, created) + rng.randint(1, 6) * DAY
            while time < clock.now:
                course = rng.choice(self.world.catalogue.courses[1:])
                self.add(
                    time,
                    "login",
                    manager,
                    objectid=manager,
                    other={"username": self.world.community.person(manager).username},
                )
                self.add(time + 60, "log_report", manager, course.id)
                self.add(time + 200, "progress_report", manager, course.id)
                time += rng.randint(2, 9) * DAY + rng.randint(0, 3600)
        restored = self.world.catalogue.courses[-2]
        time = clock.days_ago(rng.randint(20, 150))
        for activity in restored.activities:
            time += rng.randint(1, 3)
            self.add(
                time,
                "cm_created",
                2,
                restored.id,
                activity.id,
                activity.id,
                other={
                    "modulename": activity.module,
                    "instanceid": activity.instance,
                    "name": activity.name,
                },
                origin="restore",
            )
        self.add(
            time + 5,
            "course_restored",
            2,
            restored.id,
            objectid=restored.id,
            other={
                "type": "course",
                "target": 2,
                "mode": 10,
                "operation": "restore",
                "samesite": True,
                "originalcourseid": restored.id,
            },
        )
        for course in self.world.catalogue.courses[1::4]:
            time = rng.randrange(clock.history_start, clock.now)
            self.add(
                time,
                "course_updated",
                self.manager(rng, time),
                course.id,
                objectid=course.id,
                other={"shortname": course.shortname, "fullname": course.fullname},
            )
