"""The demo's people: accounts, roles, enrolments, cohorts, groups and IOMAD companies.

Enrolment and role are kept apart on purpose, as in Moodle: some enrolled users hold no role,
some hold two enrolments in one course, enrolments are suspended, expired, not yet started or
on a disabled instance, and some learners were unenrolled or deleted after leaving completion
data behind. Each learner's stay in a course is a `Seat`; the learning pass works from those.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field

from manireports.demo.courses import Catalogue, Contexts, Course
from manireports.demo.ids import Row
from manireports.demo.names import (
    COHORTS,
    EMAIL_DOMAINS,
    LOCALES,
    Locale,
)
from manireports.demo.sizes import DAY, Clock, Size

ROLES = (
    # (shortname, name, archetype); standard roles have an empty name, as Moodle installs them.
    ("manager", "", "manager"),
    ("coursecreator", "", "coursecreator"),
    ("editingteacher", "", "editingteacher"),
    ("teacher", "", "teacher"),
    ("student", "", "student"),
    ("guest", "", "guest"),
    ("user", "", "user"),
    ("frontpage", "", "frontpage"),
)
IOMAD_ROLES = (
    ("companymanager", "Company Manager", ""),
    ("companydepartmentmanager", "Company Department Manager", ""),
    ("companycourseeditor", "Company Course Editor", "editingteacher"),
    ("companycoursenoneditor", "Company Course Non-editing Teacher", "teacher"),
    ("companyreporter", "Company Reporter", ""),
    ("clientadministrator", "Client Administrator", "manager"),
)


@dataclass
class Membership:
    company: int
    department: int
    managertype: int = 0
    educator: int = 0
    suspended: int = 0


@dataclass
class Person:
    id: int
    kind: str
    username: str
    firstname: str
    lastname: str
    email: str
    locale: Locale
    timecreated: int
    auth: str = "manual"
    confirmed: int = 1
    suspended_at: int = 0
    deleted_at: int = 0
    idnumber: str = ""
    timezone: str = "99"
    ip: str = ""
    context: int | None = None
    memberships: list[Membership] = field(default_factory=list)

    @property
    def active_until(self) -> int:
        """When the person stopped using the site (suspension or deletion), else 0."""
        stops = [time for time in (self.suspended_at, self.deleted_at) if time]
        return min(stops) if stops else 0


@dataclass
class Seat:
    """A learner's time in one course, whatever enrolment rows carry it."""

    user: int
    course: int
    start: int
    stop: int
    student: bool
    removed_at: int = 0


@dataclass
class Department:
    id: int
    company: int
    parent: int
    name: str
    shortname: str


@dataclass
class Company:
    id: int
    name: str
    shortname: str
    city: str
    country: str
    parent: int
    category: int = 0
    departments: list[Department] = field(default_factory=list)
    courses: list[tuple[int, int]] = field(default_factory=list)  # (course, department)

    @property
    def top(self) -> Department:
        return self.departments[0]


@dataclass
class Community:
    people: list[Person] = field(default_factory=list)
    roles: dict[str, int] = field(default_factory=dict)
    enrol: list[dict[str, object]] = field(default_factory=list)
    enrolments: list[dict[str, object]] = field(default_factory=list)
    removed: list[dict[str, object]] = field(default_factory=list)  # unenrolled since
    assignments: list[dict[str, object]] = field(default_factory=list)
    seats: dict[int, list[Seat]] = field(default_factory=dict)
    teachers: dict[int, list[tuple[int, str]]] = field(default_factory=dict)
    cohorts: list[dict[str, object]] = field(default_factory=list)
    cohort_members: list[dict[str, object]] = field(default_factory=list)
    groups: list[dict[str, object]] = field(default_factory=list)
    group_members: list[dict[str, object]] = field(default_factory=list)
    companies: list[Company] = field(default_factory=list)
    shared: dict[int, int] = field(default_factory=dict)  # course -> iomad_courses.shared
    licensed: set[int] = field(default_factory=set)

    def person(self, user_id: int) -> Person:
        return self.people[user_id - 1]


def _ip(rng: random.Random) -> str:
    if rng.random() < 0.1:
        return f"2001:db8:{rng.randrange(0x10000):x}::{rng.randrange(1, 0x10000):x}"
    network = rng.choice(("192.0.2", "198.51.100", "203.0.113", "10.20.30"))
    return f"{network}.{rng.randrange(1, 255)}"


class CommunityBuilder:
    def __init__(
        self,
        rng: random.Random,
        clock: Clock,
        size: Size,
        contexts: Contexts,
        catalogue: Catalogue,
        iomad: bool,
    ) -> None:
        self.rng = rng
        self.clock = clock
        self.size = size
        self.contexts = contexts
        self.catalogue = catalogue
        self.iomad = iomad
        self.out = Community()
        self.usernames: set[str] = set()
        self.suffixes: dict[str, int] = {}
        self.offers: dict[int, list[Course]] = {}
        self.enrol_ids: dict[tuple[int, str], int] = {}
        self.disabled: dict[int, int] = {}  # enrol id -> time it was disabled

    # -- accounts ----------------------------------------------------------------------------------

    def people(self) -> None:
        rng, clock = self.rng, self.clock
        courses = len(self.catalogue.courses) - 1
        teachers = max(4, courses * 4 // 5)
        managers = 3 + (3 * self.size.companies + 1 if self.iomad else 0)
        kinds = ["teacher"] * teachers + ["manager"] * managers
        kinds += ["learner"] * (self.size.users - 3 - len(kinds))
        rng.shuffle(kinds)
        created = sorted(
            rng.randrange(clock.days_ago(3 * 365 - 2), clock.days_ago(5)) for _ in kinds
        )
        first = clock.days_ago(3 * 365)
        english = LOCALES[0]
        self._add("guest", "guest", "Guest user", " ", "root@localhost", english, first)
        self._add("admin", "admin", "Admin", "User", "admin@example.com", english, first + 60)
        self._add(
            "admin", "sysadmin", "Priya", "Raman", "sysadmin@example.com", english, first + 90
        )
        weights = [locale.weight for locale in LOCALES]
        for kind, timecreated in zip(kinds, created, strict=True):
            locale = rng.choices(LOCALES, weights)[0]
            (first_name, first_ascii) = rng.choice(locale.first_names)
            (last_name, last_ascii) = rng.choice(locale.last_names)
            username = self._username(f"{first_ascii}.{last_ascii}")
            email = f"{username}@{rng.choice(EMAIL_DOMAINS)}"
            person = self._add(kind, username, first_name, last_name, email, locale, timecreated)
            self._vary(person)

    def _username(self, base: str) -> str:
        """base, base2, base3, ...: common names repeat thousands of times on a large site."""
        number = self.suffixes.get(base, 0)
        candidate = base if number == 0 else f"{base}{number + 1}"
        while candidate in self.usernames:
            number += 1
            candidate = f"{base}{number + 1}"
        self.suffixes[base] = number + 1
        self.usernames.add(candidate)
        return candidate

    def _add(
        self,
        kind: str,
        username: str,
        first: str,
        last: str,
        email: str,
        locale: Locale,
        timecreated: int,
    ) -> Person:
        self.usernames.add(username)
        person = Person(
            id=len(self.out.people) + 1,
            kind=kind,
            username=username,
            firstname=first,
            lastname=last,
            email=email,
            locale=locale,
            timecreated=timecreated,
            ip=_ip(self.rng),
        )
        self.out.people.append(person)
        return person

    def _vary(self, person: Person) -> None:
        """Sprinkle the account states Moodle reports must handle."""
        rng, clock = self.rng, self.clock
        person.idnumber = f"EMP{10000 + person.id}" if rng.random() < 0.8 else ""
        person.timezone = person.locale.timezone if rng.random() < 0.4 else "99"
        if person.kind != "learner":
            return
        roll = rng.random()
        if roll < 0.06:
            person.auth, person.confirmed = "email", 0
        elif roll < 0.15:
            person.auth = "email"
        elif roll < 0.165:
            person.auth = "nologin"
        roll = rng.random()
        recent = max(person.timecreated, clock.history_start) + DAY
        if person.confirmed and roll < 0.03 and recent < clock.days_ago(2):
            person.suspended_at = rng.randrange(recent, clock.days_ago(1))
        elif person.confirmed and roll < 0.05 and recent < clock.days_ago(2):
            person.deleted_at = rng.randrange(recent, clock.days_ago(1))

    def scrub_deleted(self) -> None:
        """Moodle keeps a deleted account's row but rewrites its identity (delete_user())."""
        for person in self.out.people:
            if person.deleted_at:
                old_username = person.username
                person.username = f"{person.email}.{person.deleted_at}"
                person.email = hashlib.md5(old_username.encode(), usedforsecurity=False).hexdigest()
                person.idnumber = ""

    # -- roles and contexts ------------------------------------------------------------------------

    def roles(self) -> None:
        for shortname, _, _ in ROLES + (IOMAD_ROLES if self.iomad else ()):
            self.out.roles[shortname] = len(self.out.roles) + 1

    def user_contexts(self) -> None:
        """Every account gets a context; deleting an account later removes it again."""
        for person in self.out.people:
            person.context = self.contexts.add(30, person.id, 1)

    def assign(
        self, role: str, context: int, user: int, when: int, component: str = "", item: int = 0
    ) -> None:
        self.out.assignments.append(
            {
                "roleid": self.out.roles[role],
                "contextid": context,
                "userid": user,
                "timemodified": when,
                "modifierid": 2,
                "component": component,
                "itemid": item,
            }
        )

    # -- enrolment instances -----------------------------------------------------------------------

    def instances(self) -> None:
        rng = self.rng
        student = self.out.roles["student"]
        for course in self.catalogue.courses[1:]:
            methods = ["manual", "guest"]
            if rng.random() < 0.6:
                methods.append("self")
            if self.iomad and rng.random() < 0.25 and course.company is None:
                methods.append("license")
                self.out.licensed.add(course.id)
            for sortorder, method in enumerate(methods):
                enrol_id = len(self.out.enrol) + 1
                status = 1 if method == "guest" and course.id != 3 else 0
                if method == "self" and rng.random() < 0.3:
                    status = 1
                    self.disabled[enrol_id] = self.clock.days_ago(rng.randint(10, 90))
                self.enrol_ids[(course.id, method)] = enrol_id
                self.out.enrol.append(
                    {
                        "id": enrol_id,
                        "enrol": method,
                        "status": status,
                        "courseid": course.id,
                        "sortorder": sortorder,
                        "roleid": 0 if method == "guest" else student,
                        "customint6": 1 if method == "self" else None,
                        "timecreated": course.timecreated,
                        "timemodified": self.disabled.get(enrol_id, course.timecreated),
                    }
                )

    def _cohort_instance(self, course: Course, cohort: int) -> int:
        enrol_id = len(self.out.enrol) + 1
        self.enrol_ids[(course.id, "cohort")] = enrol_id
        self.out.enrol.append(
            {
                "id": enrol_id,
                "enrol": "cohort",
                "status": 0,
                "courseid": course.id,
                "sortorder": 9,
                "roleid": self.out.roles["student"],
                "customint1": cohort,
                "customint2": 0,
                "timecreated": course.timecreated + DAY,
                "timemodified": course.timecreated + DAY,
            }
        )
        return enrol_id

    # -- learners ----------------------------------------------------------------------------------

    def enrolment_start(self, person: Person, course: Course) -> int:
        rng, clock = self.rng, self.clock
        earliest = max(person.timecreated, course.timecreated) + 3600
        if course.startdate > clock.now:
            return course.startdate
        if rng.random() < 0.03:
            return clock.now + rng.randint(1, 30) * DAY  # booked onto a future start
        window_start = max(earliest, clock.history_start)
        if rng.random() < 0.65 and window_start < clock.days_ago(3):
            return rng.randrange(window_start, clock.days_ago(3))
        return rng.randrange(earliest, max(earliest + 1, clock.days_ago(3)))

    def learner_courses(self, person: Person) -> list[Course]:
        rng = self.rng
        pool = self.catalogue.courses[1:]
        if self.iomad and person.memberships:
            pool = self._offer(self.company_of(person))
        count = min(len(pool), rng.choices((1, 2, 3, 4, 5, 6), (3, 5, 5, 4, 2, 1))[0])
        return sorted(rng.sample(pool, count), key=lambda course: course.id)

    def _offer(self, company: Company) -> list[Course]:
        """The courses a company's learners can take: its own, and those open to everyone."""
        if company.id not in self.offers:
            offered = {course for course, _ in company.courses}
            offered |= {course for course, shared in self.out.shared.items() if shared == 1}
            courses = self.catalogue.courses[1:]
            self.offers[company.id] = [course for course in courses if course.id in offered]
        return self.offers[company.id]

    def company_of(self, person: Person) -> Company:
        return self.out.companies[person.memberships[0].company - 1]

    def seat(self, person: Person, course: Course, method: str, start: int) -> None:
        """One learner in one course: the enrolment rows, the role, and the resulting seat."""
        rng, clock = self.rng, self.clock
        if person.deleted_at and start >= person.deleted_at:
            return
        if (course.id, method) not in self.enrol_ids:
            method = "manual"
        enrol_id = self.enrol_ids[(course.id, method)]
        status, timeend = 0, 0
        stop = min(clock.now, person.active_until or clock.now)
        roll = rng.random()
        if start < clock.now and roll < 0.04:
            status = 1
            stop = min(stop, rng.randrange(start, max(start + 1, clock.now)))
        elif start < clock.now and roll < 0.09:
            timeend = rng.randrange(start + DAY, start + 120 * DAY)
            stop = min(stop, timeend)
        elif roll < 0.13:
            timeend = clock.now + rng.randint(20, 200) * DAY
        if enrol_id in self.disabled:
            stop = min(stop, self.disabled[enrol_id])
        removed_at = 0
        if person.deleted_at:
            removed_at = person.deleted_at
        elif start < clock.days_ago(5) and rng.random() < 0.03:
            removed_at = rng.randrange(max(start, clock.history_start) + DAY, clock.days_ago(1))
            stop = min(stop, removed_at)
        student = removed_at != 0 or rng.random() > 0.02
        seat = Seat(person.id, course.id, start, max(start, stop), student, removed_at)
        self.out.seats.setdefault(person.id, []).append(seat)
        if removed_at:
            self.out.removed.append(self._row(person.id, enrol_id, status, start, timeend))
            return
        self._enrol(person.id, enrol_id, status, start, timeend)
        if student:
            component = "enrol_cohort" if method == "cohort" else ""
            self.assign(
                "student", course.context, person.id, start, component, enrol_id if component else 0
            )
        other = "self" if method != "self" else "manual"
        if rng.random() < 0.04 and (course.id, other) in self.enrol_ids:
            self._enrol(person.id, self.enrol_ids[(course.id, other)], 0, start + 600, 0)

    def _row(self, user: int, enrol_id: int, status: int, start: int, timeend: int) -> Row:
        created = min(start, self.clock.now - 60)
        return {
            "status": status,
            "enrolid": enrol_id,
            "userid": user,
            "timestart": start,
            "timeend": timeend,
            "modifierid": 2,
            "timecreated": created,
            "timemodified": created,
        }

    def _enrol(self, user: int, enrol_id: int, status: int, start: int, timeend: int) -> None:
        self.out.enrolments.append(self._row(user, enrol_id, status, start, timeend))

    def finalise(self) -> None:
        """Number enrolments and role assignments in the order they were made, as Moodle does.

        Enrolments that were later removed take their id too, leaving the gaps a real table has.
        """
        rows = sorted(
            self.out.enrolments + self.out.removed,
            key=lambda r: (r["timecreated"], r["userid"], r["enrolid"]),
        )
        for number, row in enumerate(rows, start=1):
            row["id"] = number
        self.out.assignments.sort(
            key=lambda r: (r["timemodified"], r["userid"], r["contextid"], r["roleid"])
        )
        for number, row in enumerate(self.out.assignments, start=1):
            row["id"] = number

    def learners(self) -> None:
        for person in self.out.people:
            if person.kind != "learner" or not person.confirmed:
                continue
            for course in self.learner_courses(person):
                method = "license" if course.id in self.out.licensed else "manual"
                if method == "manual" and self.rng.random() < 0.25:
                    method = "self"
                self.seat(person, course, method, self.enrolment_start(person, course))

    def cohorts(self) -> None:
        rng = self.rng
        learners = [p for p in self.out.people if p.kind == "learner" and p.confirmed]
        courses = self.catalogue.courses[1:]
        for index, name in enumerate(COHORTS[: 3 + self.size.companies // 3]):
            cohort_id = index + 1
            category = self.catalogue.categories[0]
            context = category.context if index == 2 else 1
            self.out.cohorts.append(
                {
                    "id": cohort_id,
                    "contextid": context,
                    "name": name,
                    "idnumber": f"COH{cohort_id:03d}",
                    "description": "",
                    "descriptionformat": 1,
                    "visible": 1,
                    "component": "",
                    "timecreated": self.clock.days_ago(400),
                    "timemodified": self.clock.days_ago(400),
                }
            )
            members = rng.sample(learners, max(3, len(learners) // 12))
            for person in sorted(members, key=lambda p: p.id):
                if person.deleted_at:
                    continue
                added = max(person.timecreated, self.clock.days_ago(400)) + DAY
                self.out.cohort_members.append(
                    {"cohortid": cohort_id, "userid": person.id, "timeadded": added}
                )
            if index < 2:
                course = courses[1 + index * 3]
                self._cohort_instance(course, cohort_id)
                seated = {
                    seat.user
                    for seats in self.out.seats.values()
                    for seat in seats
                    if seat.course == course.id
                }
                for person in sorted(members, key=lambda p: p.id):
                    if person.id not in seated and not person.deleted_at:
                        start = max(person.timecreated, course.timecreated) + 2 * DAY
                        self.seat(person, course, "cohort", min(start, self.clock.days_ago(2)))

    # -- staff -------------------------------------------------------------------------------------

    def staff(self) -> None:
        rng, clock = self.rng, self.clock
        teachers = [p for p in self.out.people if p.kind == "teacher"]
        managers = [p for p in self.out.people if p.kind == "manager"]
        for index, course in enumerate(self.catalogue.courses[1:]):
            chosen = [(teachers[index % len(teachers)], "editingteacher")]
            if rng.random() < 0.5:
                chosen.append((teachers[(index * 7 + 3) % len(teachers)], "teacher"))
            for person, role in chosen:
                if any(user == person.id for user, _ in self.out.teachers.get(course.id, [])):
                    continue
                if self.iomad and course.company is not None:
                    role = (
                        "companycourseeditor"
                        if role == "editingteacher"
                        else "companycoursenoneditor"
                    )
                start = max(course.timecreated, person.timecreated) + DAY
                self._enrol(person.id, self.enrol_ids[(course.id, "manual")], 0, start, 0)
                self.assign(role, course.context, person.id, start)
                self.out.teachers.setdefault(course.id, []).append((person.id, role))
        # A teacher who is also a learner in a course they do not teach.
        teacher = teachers[0]
        taught = {
            c for c, staff in self.out.teachers.items() if any(u == teacher.id for u, _ in staff)
        }
        course = next(c for c in self.catalogue.courses[1:] if c.id not in taught and c.visible)
        self.seat(teacher, course, "manual", self.enrolment_start(teacher, course))
        # Site-level and category-level roles.
        self.assign("manager", 1, managers[0].id, managers[0].timecreated + DAY)
        categories = self.catalogue.categories
        self.assign("manager", categories[0].context, managers[1].id, managers[1].timecreated + DAY)
        self.assign("coursecreator", categories[-1].context, managers[2].id, clock.days_ago(200))

    # -- groups ------------------------------------------------------------------------------------

    def groups(self) -> None:
        rng = self.rng
        by_course: dict[int, list[int]] = {}
        for seats in self.out.seats.values():
            for seat in seats:
                if not seat.removed_at:
                    by_course.setdefault(seat.course, []).append(seat.user)
        for course in self.catalogue.courses[1:]:
            users = sorted(set(by_course.get(course.id, [])))
            if len(users) < 6:
                continue
            for number in range(1, rng.randint(1, 3) + 1):
                group_id = len(self.out.groups) + 1
                self.out.groups.append(
                    {
                        "id": group_id,
                        "courseid": course.id,
                        "idnumber": "",
                        "name": f"Group {chr(64 + number)}",
                        "description": None,
                        "timecreated": course.timecreated + DAY,
                        "timemodified": course.timecreated + DAY,
                    }
                )
                for user in sorted(rng.sample(users, max(1, len(users) // 3))):
                    self.out.group_members.append(
                        {
                            "groupid": group_id,
                            "userid": user,
                            "timeadded": course.timecreated,
                            "component": "",
                            "itemid": 0,
                        }
                    )
