"""Who sees what: the one scoping function every report passes through.

A scope is resolved once per run from the acting user and `--company`, as a set of grants: "rows
of these users", "rows of these courses", "rows of these companies". The grants become one SQL
condition over the report's own user, course and company columns, so the database filters the
rows; nothing is fetched and then dropped in Python. A report whose columns cannot carry the
acting user's grants is refused rather than shown unfiltered.

IOMAD rules (as IOMAD's own company::get_my_users): a company
manager (company_users.managertype 1) sees every user of that company; a department manager
(managertype 2) the users of their department and all its sub-departments; a manager of a parent
company does not see a child company's users through the parent. A department manager may pick
the company their department belongs to with --company, and sees their subtree within it.

Moodle's manager role (any role of archetype `manager`): held in the system context, its holder
sees what a site admin sees; held in a course category context, the courses of that category and
all its subcategories (courses whose context path runs through the category's context).
Teachers (an editingteacher or teacher role in a course context) see the courses they teach.
Everyone else sees their own rows. Grants add up: a manager who also teaches sees both.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from manireports.errors import InputError, PermissionDeniedError
from manireports.moodle.connection import MoodleDB
from manireports.moodle.detect import SiteInfo
from manireports.sqltext import expand_tables

ScopeColumn = Literal["userid", "courseid", "companyid"]
Role = Literal["operator", "siteadmin", "sitemanager", "manager", "teacher", "user"]

# Actors who see everything: the shell operator, site admins, and holders of Moodle's manager
# role in the system context.
UNRESTRICTED_ROLES = ("operator", "siteadmin", "sitemanager")

TEACHER_ROLES = ("editingteacher", "teacher")


@dataclass(frozen=True)
class Grant:
    """Rows whose `column` is in `values`, or in the ids `subquery` (Moodle SQL) returns."""

    column: ScopeColumn
    values: tuple[int, ...] = ()
    subquery: str | None = None

    def condition(self, expression: str) -> str:
        if self.subquery is not None:
            return f"{expression} IN ({self.subquery})"
        if not self.values:
            return "1 = 0"
        return f"{expression} IN ({', '.join(str(int(v)) for v in self.values)})"


@dataclass(frozen=True)
class Actor:
    """The Moodle user a report is run as; `userid` None is the trusted shell operator."""

    userid: int | None
    username: str
    role: Role
    companies: tuple[int, ...] = ()
    departments: tuple[int, ...] = ()
    courses: tuple[int, ...] = ()
    # Companies the managed departments belong to (the ones --company may name for them).
    department_companies: tuple[int, ...] = ()
    # Courses under the categories where the user holds Moodle's manager role.
    category_courses: tuple[int, ...] = ()

    @property
    def pickable_companies(self) -> tuple[int, ...]:
        """The companies --company may name: managed ones and those of managed departments."""
        return tuple(sorted(set(self.companies) | set(self.department_companies)))


@dataclass(frozen=True)
class Scope:
    """The grants of one run; `grants` None means unrestricted (then `company` may narrow)."""

    actor: Actor
    grants: tuple[Grant, ...] | None
    company: int | None = None

    @property
    def restricted(self) -> bool:
        return self.grants is not None or self.company is not None

    @property
    def visible_companies(self) -> tuple[int, ...] | None:
        """Companies the actor may pick with --company; None means any."""
        if self.grants is None:
            return None
        return self.actor.pickable_companies


OPERATOR = Actor(userid=None, username="(shell operator)", role="operator")


def _company_users(companies: tuple[int, ...]) -> str:
    ids = ", ".join(str(int(c)) for c in companies) or "NULL"
    return f"SELECT cu.userid FROM {{company_users}} cu WHERE cu.companyid IN ({ids})"


def _department_users(departments: tuple[int, ...]) -> str:
    ids = ", ".join(str(int(d)) for d in departments) or "NULL"
    return f"SELECT du.userid FROM {{company_users}} du WHERE du.departmentid IN ({ids})"


def _find_user(db: MoodleDB, who: str) -> tuple[int, str, int, int]:
    column = "id" if who.isdigit() else "username"
    value: int | str = int(who) if who.isdigit() else who
    rows = db.fetch_all(
        f"SELECT id, username, deleted, suspended FROM {db.table('user')} WHERE {column} = :who",
        {"who": value},
    )
    if not rows:
        raise InputError(f"There is no Moodle user {who!r} for --as-user.")
    userid, username, deleted, suspended = rows[0]
    return int(userid), str(username), int(deleted), int(suspended)


def _descendants(
    db: MoodleDB, site: SiteInfo, roots: set[int]
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """A department and all its sub-departments, walking the parent links from the roots, and
    the companies the roots belong to."""
    parent, company = ("parentid", "companyid") if site.iomad == "51plus" else ("parent", "company")
    table = expand_tables("{department}", db.prefix, site.table_aliases())
    children: dict[int, list[int]] = {}
    companies: set[int] = set()
    for dept_id, parent_id, company_id in db.fetch_all(
        f"SELECT id, {parent}, {company} FROM {table}"
    ):
        children.setdefault(int(parent_id or 0), []).append(int(dept_id))
        if int(dept_id) in roots:
            companies.add(int(company_id))
    found: set[int] = set()
    pending = list(roots)
    while pending:
        current = pending.pop()
        if current in found:
            continue
        found.add(current)
        pending.extend(children.get(current, ()))
    return tuple(sorted(found)), tuple(sorted(companies))


def _manager_role(db: MoodleDB, userid: int) -> tuple[bool, tuple[int, ...]]:
    """Moodle's manager role: (held in the system context, courses of the categories held in)."""
    held = db.fetch_all(
        f"SELECT ctx.contextlevel, ctx.path FROM {db.table('role_assignments')} ra "
        f"JOIN {db.table('context')} ctx ON ctx.id = ra.contextid "
        f"JOIN {db.table('role')} r ON r.id = ra.roleid "
        "WHERE ra.userid = :userid AND r.archetype = 'manager' AND ctx.contextlevel IN (10, 40)",
        {"userid": userid},
    )
    if any(int(level) == 10 for level, _path in held):
        return True, ()
    paths = sorted({str(path) for _level, path in held if path})
    if not paths:
        return False, ()
    under = " OR ".join(f"ctx.path LIKE :p{n}" for n in range(len(paths)))
    rows = db.fetch_all(
        f"SELECT DISTINCT ctx.instanceid FROM {db.table('context')} ctx "
        f"WHERE ctx.contextlevel = 50 AND ({under}) ORDER BY ctx.instanceid",
        {f"p{n}": f"{path.rstrip('/')}/%" for n, path in enumerate(paths)},
    )
    return False, tuple(int(row[0]) for row in rows)


def resolve_actor(db: MoodleDB, site: SiteInfo, who: str | None) -> Actor:
    """Who the report runs as, with their companies, departments and courses."""
    if who is None:
        return OPERATOR
    userid, username, deleted, suspended = _find_user(db, who)
    if deleted:
        raise PermissionDeniedError(f"The Moodle user {who} is deleted and cannot run reports.")
    if suspended:
        raise PermissionDeniedError(
            f"The Moodle user {username} is suspended and cannot run reports."
        )
    if userid in site.siteadmins:
        return Actor(userid, username, "siteadmin")
    system_manager, category_courses = _manager_role(db, userid)
    if system_manager:
        return Actor(userid, username, "sitemanager")
    companies: tuple[int, ...] = ()
    departments: tuple[int, ...] = ()
    department_companies: tuple[int, ...] = ()
    if site.iomad:
        table = expand_tables("{company_users}", db.prefix, site.table_aliases())
        memberships = db.fetch_all(
            f"SELECT companyid, departmentid, managertype FROM {table} "
            "WHERE userid = :userid AND suspended = 0",
            {"userid": userid},
        )
        companies = tuple(sorted({int(c) for c, _d, kind in memberships if int(kind) == 1}))
        managed = {int(d) for _c, d, kind in memberships if int(kind) == 2}
        if managed:
            departments, department_companies = _descendants(db, site, managed)
    courses = tuple(
        int(row[0])
        for row in db.fetch_all(
            f"SELECT DISTINCT ctx.instanceid FROM {db.table('role_assignments')} ra "
            f"JOIN {db.table('context')} ctx ON ctx.id = ra.contextid AND ctx.contextlevel = 50 "
            f"JOIN {db.table('role')} r ON r.id = ra.roleid "
            "WHERE ra.userid = :userid AND (r.shortname IN ('editingteacher', 'teacher') "
            "OR r.archetype IN ('editingteacher', 'teacher')) ORDER BY ctx.instanceid",
            {"userid": userid},
        )
    )
    role: Role = (
        "manager"
        if companies or departments or category_courses
        else "teacher"
        if courses
        else "user"
    )
    return Actor(
        userid, username, role, companies, departments, courses, department_companies,
        category_courses,
    )  # fmt: skip


def resolve_scope(
    db: MoodleDB, site: SiteInfo, who: str | None = None, company: int | None = None
) -> Scope:
    """The scope of a run as `who` (None: the shell operator), narrowed to `company`."""
    if company is not None and not site.iomad:
        raise InputError("--company needs IOMAD, and this Moodle has no IOMAD tables.")
    if company is not None:
        _require_company(db, site, company)
    actor = resolve_actor(db, site, who)
    if actor.role in UNRESTRICTED_ROLES:
        return Scope(actor, None, company)
    grants: list[Grant] = [Grant("userid", (actor.userid,))] if actor.userid else []
    if actor.companies:
        grants.append(Grant("userid", subquery=_company_users(actor.companies)))
        grants.append(Grant("companyid", actor.companies))
    if actor.departments:
        grants.append(Grant("userid", subquery=_department_users(actor.departments)))
    if actor.courses:
        grants.append(Grant("courseid", actor.courses))
    if actor.category_courses:
        grants.append(Grant("courseid", actor.category_courses))
    pickable = actor.pickable_companies
    if company is not None and company not in pickable:
        raise PermissionDeniedError(
            f"{actor.username} may not see company {company}: they manage "
            + (f"companies {', '.join(map(str, pickable))}." if pickable else "none.")
        )
    return Scope(actor, tuple(grants), company)


def _require_company(db: MoodleDB, site: SiteInfo, company: int) -> None:
    """--company must name a company that exists, rather than give an empty report."""
    table = expand_tables("{company}", db.prefix, site.table_aliases())
    if not db.fetch_all(f"SELECT id FROM {table} WHERE id = :id", {"id": int(company)}):
        raise InputError(
            f"There is no IOMAD company {company}; `manireports companies` lists the companies."
        )


def scope_condition(scope: Scope, columns: Mapping[ScopeColumn, str], what: str) -> str | None:
    """The SQL condition limiting a report to the scope, over its column expressions.

    `columns` maps userid/courseid/companyid to the expressions that carry them in the report
    (for a wrapped query `r.userid`; inside a built-in report's SQL e.g. `ue.userid`). None when
    nothing is restricted.
    """
    if not scope.restricted:
        return None
    parts: list[str] = []
    if scope.grants is not None:
        usable = [g.condition(columns[g.column]) for g in scope.grants if g.column in columns]
        if not usable:
            needed = sorted({g.column for g in scope.grants})
            raise PermissionDeniedError(
                f"{what} has no {' or '.join(needed)} column to limit it to what "
                f"{scope.actor.username} may see, so it cannot be run as them."
            )
        parts.append("(" + " OR ".join(usable) + ")")
    if scope.company is not None:
        if "userid" in columns:
            parts.append(f"{columns['userid']} IN ({_company_users((scope.company,))})")
        elif "companyid" in columns:
            parts.append(f"{columns['companyid']} = {int(scope.company)}")
        else:
            raise PermissionDeniedError(
                f"{what} has no userid or companyid column, so --company cannot narrow it."
            )
    return " AND ".join(parts)


def wrap_query(
    sql: str,
    condition: str | None,
    output: Sequence[str] = (),
    engine: str | None = None,
    notice: Callable[[str], None] | None = None,
) -> str:
    """Wrap a whole query (custom SQL) in the scope condition over its output columns `r.*`.

    The query's ORDER BY is kept outside, since an engine may drop the order of a derived table
    (MariaDB does): over `output` (its column names) and, given the Moodle `engine`, over hidden
    sort columns for terms that are no output column (see sqlorder). An order that cannot be kept
    is said through `notice`, so rows in another order are never a surprise.
    """
    if condition is None:
        return sql
    # The parser is imported only when custom SQL is scoped: every other command starts faster.
    from manireports.sqlorder import keep_order, outer_order, quote

    body = sql.rstrip().rstrip(";")
    if engine is None:
        order = outer_order(body, output)
        wrapped = f"SELECT r.* FROM (\n{body}\n) r\nWHERE {condition}"
        return wrapped if order is None else f"{wrapped}\nORDER BY {order}"
    kept = keep_order(body, output, engine)
    if kept.lost is not None and notice is not None:
        notice(
            f"Note: for a restricted user this report's ORDER BY cannot be kept ({kept.lost}); "
            "its rows come in the database's order."
        )
    columns = ", ".join(f"r.{quote(name, engine)}" for name in output) if kept.hidden else "r.*"
    wrapped = f"SELECT {columns} FROM (\n{kept.inner}\n) r\nWHERE {condition}"
    return wrapped if kept.order is None else f"{wrapped}\nORDER BY {kept.order}"


def visible_companies(
    db: MoodleDB, site: SiteInfo, who: str | None
) -> list[tuple[int, str, int | None, str | None, int | None]]:
    """The company selector: (company, department) rows the acting user may pick from.

    Site admins and the operator see every company and department; a company manager their
    companies with all departments; a department manager their department subtrees; anyone else
    nothing. Without IOMAD this is an input error, as `--company` is.
    """
    if not site.iomad:
        raise InputError("This Moodle has no IOMAD tables, so there are no companies to list.")
    actor = resolve_actor(db, site, who)
    aliases = site.table_aliases()
    company_col, parent_col = (
        ("companyid", "parentid")
        if site.iomad == "51plus"
        else (
            "company",
            "parent",
        )
    )
    sql = expand_tables(
        f"SELECT co.id, co.name, d.id, d.name, d.{parent_col} FROM {{company}} co "
        f"LEFT JOIN {{department}} d ON d.{company_col} = co.id ORDER BY co.name, co.id, d.id",
        db.prefix,
        aliases,
    )
    rows = [
        (int(c), str(n), None if d is None else int(d), dn, None if p is None else int(p))
        for c, n, d, dn, p in db.fetch_all(sql)
    ]
    if actor.role in UNRESTRICTED_ROLES:
        return rows
    return [
        row
        for row in rows
        if row[0] in actor.companies or (row[2] is not None and row[2] in actor.departments)
    ]
