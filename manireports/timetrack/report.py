"""The `time_spent` report: daily time per user and course, from the state database.

Its rows live in manireports' own database, not Moodle's, so it cannot be one SQL query over
Moodle; it streams the daily rows in pages and adds usernames fetched from Moodle for the user
ids of each page (one query per page, cached across pages). Rows of users deleted in Moodle
are left out, as every report leaves them out; a user missing from Moodle keeps an empty
username.

With `per="month"` the state database sums each page's days by user, course and month, so a
reader that wants monthly figures (the dashboards) gets a third of the rows and folds none.

Scoping is applied to the rows with the same grants as every other report:
users (ids, or Moodle subqueries resolved once into ids) and courses. Small id sets become part
of the state query; large ones filter the stream.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

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
PAGE = 20_000
"""Daily rows per state query: each page costs a state query and a Moodle query for its users'
names (two months of a 30,000-user site are 416,000 days: 21 pages, not 83)."""
NAMES_PER_QUERY = 1000
IN_SQL_LIMIT = 1000
"""Scope id sets up to this size go into the state query; larger ones filter in Python."""
NAME_CACHE = 200_000
Per = Literal["day", "month"]
PER: tuple[Per, ...] = ("day", "month")
"""What a row of time_spent covers: one local day (the stored rows) or one local month."""


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


def per_of(text: str) -> Per:
    """The `per` parameter's value, any case, from its text."""
    value = text.strip().lower()
    for per in PER:
        if value == per:
            return per
    raise InputError(f"The parameter per must be day or month, not {text!r}.")


def time_spent_rows(
    app: App,
    *,
    userid: int | None = None,
    courseid: int | None = None,
    date_from: dt.date | str | None = None,
    date_to: dt.date | str | None = None,
    scope: Scope | None = None,
    per: Per = "day",
) -> Iterator[tuple[Any, ...]]:
    """Rows (userid, username, courseid, date, duration_seconds, sessions) by user, course, date.

    Dates are local days of the site timezone, given as dates or 'YYYY-MM-DD', both inclusive.
    Course 0 is time on the site itself (front page, dashboard, profile). With `per="month"` a
    row is a user's course in one local month: `date` is the month's first day, and the seconds
    and sessions are the sums over its days inside the period (a period that cuts a month
    counts only its days inside).
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
    # 50 s for two months of a 30,000-user site); there the dates are therefore compared
    # through lower(), the same text, which no index serves. PostgreSQL and MariaDB weigh both
    # indexes by their statistics, which lower() would blind: PostgreSQL then expected a few
    # hundred rows in two months of a million and read the whole table for every page.
    on_sqlite = app.state.url.get_backend_name() == "sqlite"
    day = sa.func.lower(daily.c.date) if on_sqlite else daily.c.date
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
    return _stream(app, conditions, visible, _month_page if per == "month" else _day_page)


Key = tuple[int, int, str]
Page = tuple[list[tuple[int, int, str, int, int]], Key | None]
"""A page's rows (userid, courseid, date, seconds, sessions) and the key the next page starts
after, None when it was the last."""
ORDER = (daily.c.userid, daily.c.courseid, daily.c.date)


def _days(conditions: list[Any], after: Key | None) -> sa.Select[Any]:
    """The next page of daily rows after `after` in (userid, courseid, date) order."""
    query = sa.select(*ORDER, daily.c.duration, daily.c.sessioncount).where(*conditions)
    if after is not None:
        # MariaDB seeks no index on a row comparison; the bound on its first column lets it.
        query = query.where(daily.c.userid >= after[0], sa.tuple_(*ORDER) > sa.tuple_(*after))
    return query.order_by(*ORDER).limit(PAGE)


def _day_page(connection: sa.Connection, conditions: list[Any], after: Key | None) -> Page:
    # fetchall: one call for the page rather than a fetch per row.
    rows = [
        (int(u), int(c), str(d), int(s), int(n))
        for u, c, d, s, n in connection.execute(_days(conditions, after)).fetchall()
    ]
    return rows, rows[-1][:3] if len(rows) == PAGE else None


def _month_page(connection: sa.Connection, conditions: list[Any], after: Key | None) -> Page:
    """The next page of daily rows summed by (userid, courseid, month), in that order.

    Grouped whole, the rest of the period would be summed again for every page (SQLite groups
    every row before it applies the limit: 14 s for two months of a 30,000-user site, against
    1.6 s); grouped a page of days at a time, each page reads only its own days. A full page
    may end inside a month, which is then left to the next page: it starts after the last
    whole one. A month has at most 31 days, so a page of PAGE > 31 days always holds one.
    """
    chunk = _days(conditions, after).subquery("chunk")
    month = sa.func.substr(chunk.c.date, 1, 7)  # 'YYYY-MM': the same on the three engines
    keys = (chunk.c.userid, chunk.c.courseid, month)
    query = sa.select(
        *keys, sa.func.sum(chunk.c.duration), sa.func.sum(chunk.c.sessioncount), sa.func.count()
    )
    groups = connection.execute(query.group_by(*keys).order_by(*keys)).fetchall()
    full = sum(int(days) for *_, days in groups) == PAGE
    rows = [
        (int(u), int(c), f"{m}-01", int(s), int(n))
        for u, c, m, s, n, _count in (groups[:-1] if full else groups)
    ]
    # Every day of the last whole month sorts at or before its 31st.
    return rows, (rows[-1][0], rows[-1][1], rows[-1][2][:7] + "-31") if full else None


def _stream(
    app: App,
    conditions: list[Any],
    visible: _Visible | None,
    read: Callable[[sa.Connection, list[Any], Key | None], Page],
) -> Iterator[tuple[Any, ...]]:
    names: dict[int, str | None] = {}
    deleted: set[int] = set()
    for page in _pages(app, conditions, read):
        if visible is not None:
            page = [row for row in page if visible.allows(row[0], row[1])]
        _fetch_names(app, {row[0] for row in page} - names.keys() - deleted, names, deleted)
        for user, course, day, seconds, count in page:
            if user in deleted:
                continue
            yield user, names.get(user), course, day, seconds, count


def _pages(
    app: App,
    conditions: list[Any],
    read: Callable[[sa.Connection, list[Any], Key | None], Page],
) -> Iterator[list[tuple[int, int, str, int, int]]]:
    """The pages in order, each one read on a helper thread while the one before is being
    turned into rows. The state database's work (most of a page's time on SQLite, done with the
    interpreter released) then overlaps this thread's Python work instead of alternating with
    it. Each page is its own read transaction, as it would be read in turn; leaving early waits
    for the one page in flight, so no read outlives the report."""

    def fetch(after: Key | None) -> Page:
        with app.state.reading() as connection:
            return read(connection, conditions, after)

    with ThreadPoolExecutor(1, thread_name_prefix="time-spent-pages") as ahead:
        pending = ahead.submit(fetch, None)
        while True:
            page, after = pending.result()
            if after is not None:
                pending = ahead.submit(fetch, after)
            yield page
            if after is None:
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
