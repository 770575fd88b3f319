"""The `time_spent` report: daily time per user and course, from the state database.

Its rows live in manireports' own database, not Moodle's, so it cannot be one SQL query over
Moodle; it streams the daily rows in pages and adds usernames fetched from Moodle for the user
ids of each page (one query per page, cached across pages). Rows of users deleted in Moodle
are left out, as every report leaves them out; a user missing from Moodle keeps an empty
username.

Scoping is applied to the rows with the same grants as every other report:
users (ids, or Moodle subqueries resolved once into ids) and courses. Small id sets become part
of the state query; large ones filter the stream.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa

from manireports.app import App
from manireports.errors import InputError, PermissionDeniedError
from manireports.reports.catalogue import CATALOGUE
from manireports.scope import Scope
from manireports.sqltext import expand_tables
from manireports.state.tables import usertime_daily as daily
from manireports.timetrack.sessions import parse_date

# Defined once, in the catalogue, which lists the reports without loading this code.
TIME_SPENT_COLUMNS = CATALOGUE["time_spent"].columns
PAGE = 5000
NAMES_PER_QUERY = 1000
IN_SQL_LIMIT = 1000
"""Scope id sets up to this size go into the state query; larger ones filter in Python."""
NAME_CACHE = 200_000


class _Visible:
    """Which (user, course) rows a scope lets through."""

    def __init__(self, users: set[int] | None, courses: set[int], company: set[int] | None):
        self.users = users
        self.courses = courses
        self.company = company

    def allows(self, userid: int, courseid: int) -> bool:
        if self.company is not None and userid not in self.company:
            return False
        if self.users is None:
            return True
        return userid in self.users or courseid in self.courses


def _ids(app: App, subquery: str) -> set[int]:
    sql = expand_tables(subquery, app.moodle.prefix, app.site.table_aliases())
    return {int(row[0]) for row in app.moodle.fetch_all(sql)}


def _visible(app: App, scope: Scope | None) -> _Visible | None:
    if scope is None or not scope.restricted:
        return None
    users: set[int] | None = None
    courses: set[int] = set()
    if scope.grants is not None:
        usable = [grant for grant in scope.grants if grant.column in ("userid", "courseid")]
        if not usable:
            raise PermissionDeniedError(
                f"time_spent has no company column to limit it to what {scope.actor.username} "
                "may see, so it cannot be run as them."
            )
        users = set()
        for grant in usable:
            target = users if grant.column == "userid" else courses
            target.update(grant.values)
            if grant.subquery is not None:
                target.update(_ids(app, grant.subquery))
    company = None
    if scope.company is not None:
        company = _ids(
            app,
            f"SELECT cu.userid FROM {{company_users}} cu WHERE cu.companyid = {int(scope.company)}",
        )
    return _Visible(users, courses, company)


def time_spent_rows(
    app: App,
    *,
    userid: int | None = None,
    courseid: int | None = None,
    date_from: dt.date | str | None = None,
    date_to: dt.date | str | None = None,
    scope: Scope | None = None,
) -> Iterator[tuple[Any, ...]]:
    """Rows (userid, username, courseid, date, duration_seconds, sessions) by user, course, date.

    Dates are local days of the site timezone, given as dates or 'YYYY-MM-DD', both inclusive.
    Course 0 is time on the site itself (front page, dashboard, profile).
    """
    first = parse_date(date_from, "from")
    last = parse_date(date_to, "to")
    if first is not None and last is not None and first > last:
        raise InputError(f"The period runs backwards: from {first} is after to {last}.")
    visible = _visible(app, scope)
    conditions: list[Any] = []
    if userid is not None:
        conditions.append(daily.c.userid == int(userid))
    if courseid is not None:
        conditions.append(daily.c.courseid == int(courseid))
    # The rows are read in pages along the (userid, courseid, date) index. Offered the date
    # index as well, SQLite took it and sorted the whole period for every page (0.6 s a page,
    # 50 s for two months of a 30,000-user site); the dates are therefore compared through
    # lower(), the same text, which no index serves.
    day = sa.func.lower(daily.c.date)
    if first is not None:
        conditions.append(day >= first.isoformat())
    if last is not None:
        conditions.append(day <= last.isoformat())
    if (
        visible is not None
        and visible.users is not None
        and len(visible.users) + len(visible.courses) <= IN_SQL_LIMIT
    ):
        conditions.append(
            sa.or_(
                daily.c.userid.in_(sorted(visible.users)),
                daily.c.courseid.in_(sorted(visible.courses)),
            )
        )
    if visible is not None and visible.company is not None and len(visible.company) <= IN_SQL_LIMIT:
        conditions.append(daily.c.userid.in_(sorted(visible.company)))
    return _stream(app, conditions, visible)


def _stream(app: App, conditions: list[Any], visible: _Visible | None) -> Iterator[tuple[Any, ...]]:
    names: dict[int, str | None] = {}
    deleted: set[int] = set()
    columns = (
        daily.c.userid,
        daily.c.courseid,
        daily.c.date,
        daily.c.duration,
        daily.c.sessioncount,
    )
    order = (daily.c.userid, daily.c.courseid, daily.c.date)
    after: tuple[int, int, str] | None = None
    while True:
        query = sa.select(*columns).where(*conditions)
        if after is not None:
            query = query.where(sa.tuple_(*order) > sa.tuple_(*after))
        query = query.order_by(*order).limit(PAGE)
        with app.state.begin() as connection:
            # fetchall: one call for the page rather than a fetch per row.
            page = [
                (int(u), int(c), str(d), int(s), int(n))
                for u, c, d, s, n in connection.execute(query).fetchall()
            ]
        if not page:
            return
        complete = len(page) < PAGE
        after = (page[-1][0], page[-1][1], page[-1][2])
        if visible is not None:
            page = [row for row in page if visible.allows(row[0], row[1])]
        _fetch_names(app, {row[0] for row in page} - names.keys() - deleted, names, deleted)
        for user, course, day, seconds, count in page:
            if user in deleted:
                continue
            yield user, names.get(user), course, day, seconds, count
        if complete:
            return


def _fetch_names(
    app: App, wanted: set[int], names: dict[int, str | None], deleted: set[int]
) -> None:
    if not wanted:
        return
    if len(names) > NAME_CACHE:
        names.clear()
    ordered = sorted(wanted)
    table = app.moodle.table("user")
    for index in range(0, len(ordered), NAMES_PER_QUERY):
        chunk = ordered[index : index + NAMES_PER_QUERY]
        found = app.moodle.fetch_all(
            f"SELECT id, username, deleted FROM {table} "
            f"WHERE id IN ({', '.join(str(int(user)) for user in chunk)})"
        )
        for user, username, is_deleted in found:
            if int(is_deleted):
                deleted.add(int(user))
            else:
                names[int(user)] = str(username)
        for user in chunk:
            names.setdefault(user, None)
