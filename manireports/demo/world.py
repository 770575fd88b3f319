"""Everything about the demo site that is decided up front, before any learner acts."""

from __future__ import annotations

from dataclasses import dataclass, field

from manireports.demo import iomad as iomad_plan
from manireports.demo.courses import Catalogue, CatalogueBuilder, Contexts, Course
from manireports.demo.ids import random_stream
from manireports.demo.people import Community, CommunityBuilder, Company, Person
from manireports.demo.sizes import Clock, Release, Size


@dataclass(frozen=True)
class IomadNames:
    """IOMAD's table and column names, which the 2026 development head renamed."""

    company: str
    department: str
    company_users: str
    company_course: str
    iomad_courses: str
    shared_courses: str
    track: str
    company_category: str
    company_terminated: str
    department_company: str
    department_parent: str


IOMAD_NAMES = {
    "classic": IomadNames(
        "company",
        "department",
        "company_users",
        "company_course",
        "iomad_courses",
        "company_shared_courses",
        "local_iomad_track",
        "category",
        "companyterminated",
        "company",
        "parent",
    ),
    "51plus": IomadNames(
        "local_iomad_companies",
        "local_iomad_departments",
        "local_iomad_company_users",
        "local_iomad_company_courses",
        "local_iomad_courses",
        "local_iomad_company_shared_courses",
        "local_iomad_tracks",
        "coursecategoryid",
        "terminated",
        "companyid",
        "parentid",
    ),
}


@dataclass
class World:
    clock: Clock
    size: Size
    release: Release
    iomad: bool
    contexts: Contexts
    catalogue: Catalogue
    community: Community
    removed_contexts: set[int] = field(default_factory=set)

    @property
    def names(self) -> IomadNames:
        return IOMAD_NAMES[self.release.iomad_layout]

    def course(self, course_id: int) -> Course:
        return self.catalogue.courses[course_id - 1]

    def company_for(self, person: Person, course_id: int) -> Company | None:
        """The company through which the person takes the course, as IOMAD tracks it."""
        for membership in person.memberships:
            if membership.managertype or membership.educator:
                continue
            company = self.community.companies[membership.company - 1]
            if any(course == course_id for course, _ in company.courses):
                return company
        if person.memberships and self.community.shared.get(course_id) == 1:
            return self.community.companies[person.memberships[0].company - 1]
        return None


def _grade_items(catalogue: Catalogue) -> None:
    for course in catalogue.courses[1:]:
        course.course_item = catalogue.next_id("grade_items")
        for activity in course.activities:
            if activity.module in ("quiz", "scorm", "assign"):
                activity.grade_item = catalogue.next_id("grade_items")
                if activity.module == "assign":
                    activity.grademax = 100.0
        for activity in course.criteria:
            course.criteria_ids[activity.id] = catalogue.next_id("course_completion_criteria")


def build_world(seed: int, size: Size, clock: Clock, release: Release, iomad: bool) -> World:
    rng = random_stream(f"{seed}:site")
    contexts = Contexts()
    companies = iomad_plan.company_plan(size.companies) if iomad else []
    builder = CatalogueBuilder(rng, clock, contexts)
    catalogue = builder.build(size.courses, [(c.id, c.name) for c in companies])
    for company in companies:
        company.category = builder.category_ids[(company.name,)]
    _grade_items(catalogue)
    people = CommunityBuilder(rng, clock, size, contexts, catalogue, iomad)
    people.roles()
    people.people()
    if iomad:
        iomad_plan.build_companies(people, companies)
    people.instances()
    people.learners()
    people.cohorts()
    people.staff()
    if iomad:
        iomad_plan.educators(people)
        iomad_plan.manager_as_learner(people)
    people.groups()
    people.finalise()
    people.user_contexts()
    world = World(clock, size, release, iomad, contexts, catalogue, people.out)
    world.removed_contexts = {
        p.context for p in people.out.people if p.deleted_at and p.context is not None
    }
    people.scrub_deleted()
    return world
