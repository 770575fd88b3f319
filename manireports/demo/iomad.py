"""IOMAD tenants for the demo: companies, department trees, members, managers and course links.

It reproduces what IOMAD itself writes: every company has a top department (parent 0) with
divisions and teams below it, managers of a parent company are also managers of its child
company, educators are staff rather than learners, and people can belong to several companies
or to several departments of one company.
"""

from __future__ import annotations

from manireports.demo.names import COMPANIES, DIVISIONS, TEAMS
from manireports.demo.people import CommunityBuilder, Company, Department, Membership, Person
from manireports.demo.sizes import DAY


def company_plan(count: int) -> list[Company]:
    """The companies, known before the catalogue so each can get its own category and course."""
    companies = []
    for index in range(count):
        name, shortname, city, country = COMPANIES[index % len(COMPANIES)]
        if index >= len(COMPANIES):
            name, shortname = f"{name} {index // len(COMPANIES) + 1}", f"{shortname}{index}"
        companies.append(Company(index + 1, name, shortname, city, country, parent=0))
    first = companies[0]
    companies.append(
        Company(count + 1, f"{first.name} Europe", f"{first.shortname}eu", "Rotterdam", "NL", 1)
    )
    return companies


def _departments(builder: CommunityBuilder, company: Company, next_id: int) -> int:
    rng = builder.rng

    def add(parent: int, name: str) -> Department:
        nonlocal next_id
        department = Department(next_id, company.id, parent, name, f"{company.shortname}{next_id}")
        next_id += 1
        company.departments.append(department)
        return department

    top = add(0, company.name)
    top.shortname = company.shortname
    for division_name in rng.sample(DIVISIONS, rng.randint(2, 4)):
        division = add(top.id, division_name)
        for team_name in rng.sample(TEAMS, rng.randint(0, 2)):
            team = add(division.id, f"{division_name} – {team_name}")
            if company.id == 1 and team_name == TEAMS[-1]:
                add(team.id, f"{team.name} – Relief pool")
    if len(company.departments) < 3 or all(d.parent == top.id for d in company.departments[1:]):
        add(company.departments[1].id, f"{company.departments[1].name} – Team A")
    return next_id


def _pick_department(builder: CommunityBuilder, company: Company) -> Department:
    rng = builder.rng
    if rng.random() < 0.2:
        return company.top
    return rng.choice(company.departments[1:])


def build_companies(builder: CommunityBuilder, companies: list[Company]) -> None:
    """Departments, memberships, manager roles and course links; call before the learners."""
    rng, out = builder.rng, builder.out
    out.companies = companies
    next_id = 1
    for company in companies:
        next_id = _departments(builder, company, next_id)
    weights = [len(companies) - index for index in range(len(companies))]
    for person in out.people:
        if person.kind != "learner" or rng.random() < 0.05:
            continue
        company = rng.choices(companies, weights)[0]
        member = Membership(company.id, _pick_department(builder, company).id)
        member.suspended = 1 if rng.random() < 0.015 else 0
        person.memberships.append(member)
        roll = rng.random()
        if roll < 0.03:
            other = companies[(company.id - 1 + rng.randrange(1, len(companies))) % len(companies)]
            person.memberships.append(Membership(other.id, other.top.id))
        elif roll < 0.05 and len(company.departments) > 2:
            second = _pick_department(builder, company)
            if second.id != member.department:
                person.memberships.append(Membership(company.id, second.id))
    _managers(builder, companies)
    _course_links(builder, companies)


def _managers(builder: CommunityBuilder, companies: list[Company]) -> None:
    rng = builder.rng
    managers = [p for p in builder.out.people if p.kind == "manager"][3:]
    for index, person in enumerate(managers):
        company = companies[index % len(companies)]
        when = person.timecreated + DAY
        if index < len(companies):
            person.memberships.append(Membership(company.id, company.top.id, managertype=1))
            builder.assign("companymanager", 1, person.id, when)
        elif index == len(managers) - 1:
            person.memberships.append(Membership(company.id, company.top.id, managertype=4))
            builder.assign("companyreporter", 1, person.id, when)
        else:
            department = rng.choice(company.departments[1:])
            person.memberships.append(Membership(company.id, department.id, managertype=2))
            builder.assign("companydepartmentmanager", 1, person.id, when)
    for child in companies:
        if not child.parent:
            continue
        for person in managers:
            if any(m.company == child.parent and m.managertype == 1 for m in person.memberships):
                person.memberships.append(Membership(child.id, child.top.id, managertype=1))


def _course_links(builder: CommunityBuilder, companies: list[Company]) -> None:
    rng, out = builder.rng, builder.out
    plain = [course for course in builder.catalogue.courses[1:] if course.company is None]
    for course in builder.catalogue.courses[1:]:
        if course.company is not None:
            company = companies[course.company - 1]
            company.courses.append((course.id, company.top.id))
    for index, course in enumerate(plain):
        if index == 0:
            out.shared[course.id] = 1  # open to every company
            continue
        if index == 1:
            out.shared[course.id] = 2  # closed-shared with a list of companies
        for company in rng.sample(companies, rng.randint(1, min(2, len(companies)))):
            department = company.top
            if rng.random() < 0.2 and len(company.departments) > 1:
                department = company.departments[1]
            company.courses.append((course.id, department.id))
    for company in companies:
        offered = {course for course, _ in company.courses}
        if len(offered) < 3:
            for course in plain[2:5]:
                if course.id not in offered:
                    company.courses.append((course.id, company.top.id))


def educators(builder: CommunityBuilder) -> None:
    """Teachers of a company's courses are members of it with educator = 1 (staff, not learners)."""
    out = builder.out
    owners: dict[int, list[int]] = {}
    for company in out.companies:
        for course, _ in company.courses:
            owners.setdefault(course, []).append(company.id)
    for course_id, staff in sorted(out.teachers.items()):
        for user, _ in staff:
            person = out.people[user - 1]
            for company_id in owners.get(course_id, [])[:1]:
                if not any(m.company == company_id for m in person.memberships):
                    company = out.companies[company_id - 1]
                    person.memberships.append(Membership(company_id, company.top.id, educator=1))


def manager_as_learner(builder: CommunityBuilder) -> Person:
    """A company manager who is also enrolled as a student in one of the company's courses."""
    out = builder.out
    manager = next(p for p in out.people if any(m.managertype == 1 for m in p.memberships))
    company = out.companies[manager.memberships[0].company - 1]
    course = builder.catalogue.courses[company.courses[0][0] - 1]
    builder.seat(manager, course, "manual", builder.enrolment_start(manager, course))
    return manager
