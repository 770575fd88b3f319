"""The demo's course catalogue: categories, courses, sections, activities, quizzes and SCORM.

The shapes are chosen to exercise what reports get wrong on real sites: hidden and stealth
activities, activities being deleted, a disabled module type that still has completion data,
a course with completion enabled but no criteria, a hidden course, a course that has not started.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from manireports.demo.names import CATALOGUE
from manireports.demo.sizes import DAY, Clock

# Moodle installs its activity modules in alphabetical order; these ids follow that.
MODULES = (
    "assign", "bigbluebuttonbn", "book", "chat", "choice", "data", "feedback", "folder", "forum",
    "glossary", "h5pactivity", "imscp", "label", "lesson", "lti", "page", "qbank", "quiz",
    "resource", "scorm", "survey", "url", "wiki", "workshop",
)  # fmt: skip
# Switched off site-wide. Feedback was used before it was disabled, so it has completion data.
DISABLED_MODULES = frozenset({"chat", "survey", "feedback"})
MODULE_IDS = {name: index + 1 for index, name in enumerate(MODULES)}
GRADED_MODULES = ("quiz", "scorm", "assign")


class Contexts:
    """Hands out context ids in creation order, keeping Moodle's path and depth rules."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, int, int, str, int]] = [(1, 10, 0, "/1", 1)]
        self.paths = {1: "/1"}

    def add(self, level: int, instance: int, parent: int) -> int:
        context_id = len(self.rows) + 1
        path = f"{self.paths[parent]}/{context_id}"
        self.paths[context_id] = path
        self.rows.append((context_id, level, instance, path, path.count("/")))
        return context_id


@dataclass
class Category:
    id: int
    name: str
    parent: int
    path: str
    depth: int
    context: int
    visible: int = 1
    courses: int = 0


@dataclass
class Activity:
    """One course module; `instance` points into the module's own table."""

    id: int
    course: int
    module: str
    instance: int
    section: int
    name: str
    completion: int
    view: bool
    passgrade: bool
    visible: int
    on_page: int
    deleting: bool
    context: int
    added: int
    availability: str | None = None
    grade_item: int | None = None
    grademax: float = 0.0
    gradepass: float = 0.0
    grade_hidden: bool = False


@dataclass
class Quiz:
    id: int
    activity: Activity
    grade: float
    marks: tuple[float, ...]
    grademethod: int
    attempts: int
    timelimit: int
    precreate: bool

    @property
    def sumgrades(self) -> float:
        return round(sum(self.marks), 5)


@dataclass
class Scorm:
    id: int
    activity: Activity
    version: str
    grademethod: int
    whatgrade: int
    maxgrade: float
    maxattempt: int
    scos: tuple[int, ...]
    rows: list[dict[str, object]] = field(default_factory=list)


@dataclass
class Course:
    id: int
    category: int
    fullname: str
    shortname: str
    context: int
    visible: int
    startdate: int
    enddate: int
    enablecompletion: int
    timecreated: int
    sections: list[tuple[int, int, str | None, int]] = field(default_factory=list)
    activities: list[Activity] = field(default_factory=list)
    criteria: list[Activity] = field(default_factory=list)
    aggregation: int = 1
    criteria_ids: dict[int, int] = field(default_factory=dict)
    course_item: int = 0
    company: int | None = None


@dataclass
class Catalogue:
    categories: list[Category] = field(default_factory=list)
    courses: list[Course] = field(default_factory=list)
    quizzes: list[Quiz] = field(default_factory=list)
    scorms: list[Scorm] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)

    def next_id(self, table: str) -> int:
        self.counters[table] = self.counters.get(table, 0) + 1
        return self.counters[table]


def _course_names(count: int) -> list[tuple[tuple[str, ...], str]]:
    """Catalogue titles in a stable order; runs of the catalogue after the first get a level."""
    flat = [(path, title) for path, titles in CATALOGUE for title in titles]
    result = []
    for index in range(count):
        path, title = flat[index % len(flat)]
        round_number = index // len(flat)
        result.append((path, title if round_number == 0 else f"{title} – Level {round_number + 1}"))
    return result


def _shortname(title: str, index: int) -> str:
    letters = "".join(word[0] for word in title.split() if word[:1].isascii() and word[0].isalpha())
    return f"{(letters or 'C').upper()[:5]}{100 + index}"


class CatalogueBuilder:
    """Builds the catalogue with one random stream, so equal seeds give equal sites."""

    def __init__(self, rng: random.Random, clock: Clock, contexts: Contexts) -> None:
        self.rng = rng
        self.clock = clock
        self.contexts = contexts
        self.cat = Catalogue()
        self.category_ids: dict[tuple[str, ...], int] = {}
        self.site_created = clock.days_ago(3 * 365)

    def category(self, path: tuple[str, ...], visible: int = 1) -> int:
        if path in self.category_ids:
            return self.category_ids[path]
        parent = self.category(path[:-1]) if len(path) > 1 else 0
        parent_row = self.cat.categories[parent - 1] if parent else None
        category_id = self.cat.next_id("course_categories")
        context = self.contexts.add(40, category_id, parent_row.context if parent_row else 1)
        self.cat.categories.append(
            Category(
                id=category_id,
                name=path[-1],
                parent=parent,
                path=(parent_row.path if parent_row else "") + f"/{category_id}",
                depth=len(path),
                context=context,
                visible=visible,
            )
        )
        self.category_ids[path] = category_id
        return category_id

    def site_course(self) -> Course:
        course_id = self.cat.next_id("course")
        context = self.contexts.add(50, course_id, 1)
        site = Course(
            id=course_id,
            category=0,
            fullname="Northwind Learning Hub",
            shortname="Northwind",
            context=context,
            visible=1,
            startdate=0,
            enddate=0,
            enablecompletion=0,
            timecreated=self.site_created,
        )
        section = self.cat.next_id("course_sections")
        site.sections.append((section, 0, None, 1))
        self._activity(site, "forum", "Site announcements", section, completion=0)
        self.cat.courses.append(site)
        return site

    def build(self, count: int, company_names: list[tuple[int, str]]) -> Catalogue:
        """`company_names` adds one induction course per IOMAD company, in its own category."""
        self.site_course()
        plain = count - len(company_names)
        for index, (path, title) in enumerate(_course_names(plain)):
            self.course(self.category(path), title, index)
        for offset, (company_id, name) in enumerate(company_names):
            category = self.category((name,))
            course = self.course(category, f"{name}: Induction", plain + offset)
            course.company = company_id
        self._special_cases()
        return self.cat

    def course(self, category: int, title: str, index: int) -> Course:
        rng = self.rng
        course_id = self.cat.next_id("course")
        created = self.site_created + rng.randrange(0, 700) * DAY + rng.randrange(DAY)
        start = min(created + rng.randrange(0, 30) * DAY, self.clock.days_ago(90))
        start -= start % DAY
        course = Course(
            id=course_id,
            category=category,
            fullname=title,
            shortname=_shortname(title, index),
            context=self.contexts.add(50, course_id, self.cat.categories[category - 1].context),
            visible=1,
            startdate=start,
            enddate=start + 365 * DAY if rng.random() < 0.7 else 0,
            enablecompletion=1,
            timecreated=created,
            aggregation=1 if rng.random() < 0.75 else 2,
        )
        self.cat.categories[category - 1].courses += 1
        self.cat.courses.append(course)
        self._sections(course)
        return course

    def _sections(self, course: Course) -> None:
        rng = self.rng
        general = self.cat.next_id("course_sections")
        course.sections.append((general, 0, None, 1))
        self._activity(course, "forum", "Announcements", general, completion=0)
        if rng.random() < 0.5:
            self._activity(course, "label", "Welcome", general, completion=0)
        for number in range(1, rng.randint(3, 5) + 1):
            section = self.cat.next_id("course_sections")
            name = f"Topic {number}" if rng.random() < 0.5 else None
            course.sections.append((section, number, name, 0 if number == 4 else 1))
            manual = rng.random() < 0.3  # ticked off by the learner rather than on viewing
            self._activity(course, "page", f"Reading {number}", section, 1 if manual else 2, True)
            kind = rng.choice(("url", "resource", "assign", "forum", "quiz"))
            self._content(course, kind, number, section)
            if number == 2 or rng.random() < 0.3:
                self._content(course, "quiz", number, section)
            if number == 3 and rng.random() < 0.6:
                self._content(course, "scorm", number, section)
        if rng.random() < 0.35:
            self._content(course, "feedback", 9, general)

    def _content(self, course: Course, kind: str, number: int, section: int) -> None:
        rng = self.rng
        if kind in ("url", "resource"):
            completion = 2 if rng.random() < 0.7 else 0
            self._activity(course, kind, f"Further reading {number}", section, completion, True)
        elif kind == "assign":
            self._graded(course, "assign", f"Assignment {number}", section, passgrade=False)
        elif kind == "forum":
            completion = 2 if rng.random() < 0.6 else 0
            self._activity(course, "forum", f"Discussion {number}", section, completion)
        elif kind == "feedback":
            self._activity(course, "feedback", "Course feedback", section, completion=2)
        elif kind == "quiz":
            activity = self._graded(
                course, "quiz", f"Quiz {number}", section, passgrade=rng.random() < 0.6
            )
            self._quiz(activity)
        else:
            activity = self._graded(course, "scorm", f"E-learning package {number}", section, False)
            self._scorm(activity)

    def _activity(
        self,
        course: Course,
        module: str,
        name: str,
        section: int,
        completion: int,
        view: bool = False,
    ) -> Activity:
        activity_id = self.cat.next_id("course_modules")
        activity = Activity(
            id=activity_id,
            course=course.id,
            module=module,
            instance=self.cat.next_id(module),
            section=section,
            name=name,
            completion=completion,
            view=view and completion == 2,
            passgrade=False,
            visible=1,
            on_page=1,
            deleting=False,
            context=self.contexts.add(70, activity_id, course.context),
            added=course.timecreated + (len(course.activities) + 1) * 600,
        )
        course.activities.append(activity)
        return activity

    def _graded(
        self, course: Course, module: str, name: str, section: int, passgrade: bool
    ) -> Activity:
        activity = self._activity(course, module, name, section, completion=2)
        activity.passgrade = passgrade
        activity.view = module == "quiz" and self.rng.random() < 0.3
        return activity

    def _quiz(self, activity: Activity) -> None:
        rng = self.rng
        marks = tuple(rng.choice((1.0, 1.0, 1.0, 2.0, 2.0, 5.0)) for _ in range(rng.randint(3, 10)))
        quiz = Quiz(
            id=activity.instance,
            activity=activity,
            grade=rng.choice((10.0, 100.0)),
            marks=marks,
            grademethod=rng.choices((1, 2, 3, 4), (5, 2, 1, 2))[0],
            attempts=rng.choices((0, 1, 2, 3), (4, 2, 2, 2))[0],
            timelimit=rng.choice((0, 0, 1200, 1800)),
            precreate=rng.random() < 0.3,
        )
        activity.grademax = quiz.grade
        activity.gradepass = round(quiz.grade * 0.6, 5) if activity.passgrade else 0.0
        self.cat.quizzes.append(quiz)

    def _scorm(self, activity: Activity) -> None:
        rng = self.rng
        sco_count = rng.choice((1, 1, 1, 2, 3))
        grademethod = rng.choice((0, 1, 1, 2, 3))
        scorm = Scorm(
            id=activity.instance,
            activity=activity,
            version=rng.choice(("SCORM_1.2", "SCORM_13")),
            grademethod=grademethod,
            whatgrade=rng.choice((0, 0, 1, 2, 3)),
            maxgrade=float(sco_count if grademethod == 0 else 100),
            maxattempt=rng.choice((0, 0, 1, 2, 3)),
            scos=(),
        )
        organization = f"ORG-{scorm.id}"
        scorm.rows.append(self._scoe(scorm, organization, "/", "", "", f"{activity.name}", 1))
        scos = []
        for number in range(1, sco_count + 1):
            row = self._scoe(
                scorm,
                f"ITEM-{number}",
                organization,
                "sco",
                f"content/sco{number}/index.html",
                f"Lesson {number}",
                number + 1,
            )
            scorm.rows.append(row)
            scos.append(int(str(row["id"])))
        if rng.random() < 0.4:
            scorm.rows.append(
                self._scoe(
                    scorm,
                    "RESOURCE-1",
                    organization,
                    "asset",
                    "content/glossary.pdf",
                    "Glossary",
                    sco_count + 2,
                )
            )
        scorm.scos = tuple(scos)
        activity.grademax = scorm.maxgrade
        self.cat.scorms.append(scorm)

    def _scoe(
        self,
        scorm: Scorm,
        identifier: str,
        parent: str,
        kind: str,
        launch: str,
        title: str,
        sortorder: int,
    ) -> dict[str, object]:
        return {
            "id": self.cat.next_id("scorm_scoes"),
            "scorm": scorm.id,
            "manifest": f"MANIFEST-{scorm.id}",
            "organization": "" if parent == "/" else parent,
            "parent": parent,
            "identifier": identifier,
            "launch": launch,
            "scormtype": kind,
            "title": title,
            "sortorder": sortorder,
        }

    def _special_cases(self) -> None:
        """The edge cases reports must survive, placed deterministically."""
        courses = self.cat.courses[1:]
        rng = self.rng
        courses[-1].visible = 0  # a hidden course
        courses[2].criteria = []  # completion on, criteria never set
        no_completion = courses[4]
        no_completion.enablecompletion = 0
        for activity in no_completion.activities:
            activity.completion, activity.view, activity.passgrade = 0, False, False
        future = courses[5]
        future.startdate = self.clock.now + 14 * DAY
        future.enddate = future.startdate + 120 * DAY
        for index, course in enumerate(courses):
            tracked = [a for a in course.activities if a.completion > 0]
            if not tracked:
                continue
            if index % 3 == 0:
                hidden = tracked[-1]
                hidden.visible = hidden.on_page = 0
            if index % 4 == 1 and len(tracked) > 2:
                tracked[1].on_page = 0  # stealth: available, not shown on the course page
            if index % 7 == 3:
                tracked[0].deleting = True
            if index % 5 == 2 and len(tracked) > 1:
                gate = tracked[0]
                tracked[1].availability = (
                    f'{{"op":"&","c":[{{"type":"completion","cm":{gate.id},"e":1}}],'
                    '"showc":[true]}'
                )
            if course.enablecompletion and index != 2:
                usable = [a for a in tracked if not a.deleting and a.module != "feedback"]
                size = max(1, min(len(usable), rng.randint(2, 4)))
                course.criteria = sorted(rng.sample(usable, size), key=lambda a: a.id)
        for quiz in self.cat.quizzes[1::6]:
            quiz.activity.grade_hidden = True
