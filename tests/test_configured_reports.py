"""Config-built reports (the "GUI builder") on a hand-made site on every engine.

The site below is small enough to work every expected row out by hand; the comments say why each
row is in or out. Every built query also passes the custom-SQL check, so the builder can never
produce SQL that a hand-written report could not be saved with.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from manireports.errors import InputError
from manireports.export import Column
from manireports.moodle.connection import Engine, MoodleDB
from manireports.moodle.detect import SiteInfo
from manireports.reports.operator.configured import (
    AGGREGATES,
    MAX_LIMIT,
    OPS,
    SOURCES,
    ConfiguredQuery,
    build_configured_sql,
    configured_report_spec,
    load_report_config,
)
from manireports.reports.spec import ReportContext
from manireports.scope import Actor, Grant, Scope, scope_condition
from manireports.sqlcheck import SqlPolicy, SQLRejectedError
from manireports.sqlcheck.site import SCOPE_MARKER, SqlValidator, check_reads
from manireports.sqltext import render_sql
from tests.conftest import ENGINES, fresh_database
from tests.moodle_site import MoodleSite

UTC_ZONE = ZoneInfo("UTC")
AUCKLAND = ZoneInfo("Pacific/Auckland")


def ts(text: str) -> int:
    """'YYYY-MM-DD HH:MM' in UTC as Unix time."""
    return int(datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=UTC).timestamp())


@dataclass
class Site:
    db: MoodleDB
    ids: dict[str, int]

    @property
    def engine(self) -> Engine:
        return self.db.engine_name

    def build(self, cfg: Mapping[str, Any], **options: Any) -> ConfiguredQuery:
        return build_configured_sql(cfg, engine=self.engine, **options)

    def run(self, cfg: Mapping[str, Any], **options: Any) -> list[tuple[Any, ...]]:
        query = self.build(cfg, **options)
        return [
            tuple(_plain(v) for v in row)
            for row in self.db.fetch_all(render_sql(query.sql, self.db.prefix), query.params)
        ]

    def column(self, cfg: Mapping[str, Any], **options: Any) -> list[Any]:
        return [row[0] for row in self.run(cfg, **options)]


def _plain(value: Any) -> Any:
    """Numbers as the same Python value on every engine (Decimal, float, int)."""
    if isinstance(value, Decimal | float):
        number = round(float(value), 4)
        return int(number) if number.is_integer() else number
    return value


def _build_site(url: str) -> dict[str, int]:
    site = MoodleSite(url)
    try:
        ids: dict[str, int] = {}
        site.insert("course_categories", name="Misc", path="/1", depth=1)
        people = {
            # username: (firstname, lastname, city, suspended, deleted, lastaccess)
            "alice": ("Alice", "Archer", "Paris", 0, 0, ts("2024-05-01 09:00")),
            "bob": ("Bob", "Baker", "Berlin", 1, 0, 0),
            "carol": ("Carol", "O'Neil", "Paris", 0, 0, ts("2024-05-01 23:00")),
            "dave": ("Dave", "Deleted", "Rome", 0, 1, ts("2024-05-03 10:00")),
            "zoe": ("Zoë", "Łukasz", "Oslo", 0, 0, ts("2024-04-30 12:00")),
        }
        for username, (first, last, city, suspended, deleted, lastaccess) in people.items():
            ids[username] = site.user(
                username,
                firstname=first,
                lastname=last,
                city=city,
                suspended=suspended,
                deleted=deleted,
                lastaccess=lastaccess,
                password="$2y$10$secrethash",
            )
        ids["c1"] = site.course("C1", fullname="Course one", startdate=ts("2024-01-01 00:00"))
        ids["c2"] = site.course("C2", fullname="Course two", visible=0)
        c1, c2 = ids["c1"], ids["c2"]
        site.enrol(ids["alice"], c1, timecreated=ts("2024-01-10 10:00"))
        site.enrol(ids["alice"], c2, method="self", timecreated=ts("2024-02-01 10:00"))
        site.enrol(
            ids["bob"], c1, timecreated=ts("2024-01-20 08:00"), timeend=ts("2024-06-01 00:00")
        )
        site.enrol(ids["carol"], c1, status=1, timecreated=ts("2024-03-05 12:00"))
        site.enrol(ids["dave"], c1, timecreated=ts("2024-03-06 12:00"))
        site.enrol(ids["zoe"], c2, timecreated=ts("2024-01-31 23:30"))
        site.complete(ids["alice"], c1, ts("2024-02-15 12:00"))
        site.complete(ids["bob"], c1, None)
        site.complete(ids["dave"], c1, ts("2024-03-10 12:00"))

        quiz_module = site.insert("modules", name="quiz", visible=1)
        page_module = site.insert("modules", name="page", visible=1)
        ids["quiz"] = site.insert(
            "quiz", course=c1, name="Quiz one", sumgrades=10, grade=100, timeclose=0
        )
        ids["cm_quiz"] = site.insert(
            "course_modules", course=c1, module=quiz_module, instance=ids["quiz"], completion=2
        )
        ids["cm_page"] = site.insert(
            "course_modules", course=c1, module=page_module, instance=1, completion=1
        )
        ids["cm_untouched"] = site.insert(
            "course_modules", course=c2, module=page_module, instance=2, completion=1
        )
        site.insert(
            "course_modules", course=c1, module=page_module, instance=3, deletioninprogress=1
        )
        for user, cm, state in (
            ("alice", "cm_quiz", 1),
            ("alice", "cm_page", 2),
            ("bob", "cm_quiz", 3),  # complete, fail: not completed
            ("dave", "cm_quiz", 1),  # deleted user: left out
        ):
            site.insert(
                "course_modules_completion",
                coursemoduleid=ids[cm],
                userid=ids[user],
                completionstate=state,
                timemodified=ts("2024-02-10 10:00"),
            )
        unique = iter(range(1, 100))
        for user, attempt, quiz_state, sumgrades, start, finish, preview in (
            ("alice", 1, "finished", 5, ts("2024-02-01 10:00"), ts("2024-02-01 10:10"), 0),
            ("alice", 2, "finished", 8, ts("2024-02-02 10:00"), ts("2024-02-02 10:20"), 0),
            ("bob", 1, "inprogress", None, ts("2024-02-03 10:00"), 0, 0),
            ("admin", 1, "finished", 10, ts("2024-02-03 10:00"), ts("2024-02-03 10:01"), 1),
        ):
            site.insert(
                "quiz_attempts",
                quiz=ids["quiz"],
                userid=ids[user] if user != "admin" else 2,
                attempt=attempt,
                uniqueid=next(unique),
                layout="",
                state=quiz_state,
                sumgrades=sumgrades,
                timestart=start,
                timefinish=finish,
                preview=preview,
            )
        for user, course, event, moment in (
            ("alice", c1, "\\core\\event\\course_viewed", "2024-02-01 10:00"),
            ("alice", c1, "\\core\\event\\course_viewed", "2024-02-02 10:00"),
            ("bob", c1, "\\core\\event\\course_viewed", "2024-02-03 10:00"),
            ("alice", 0, "\\core\\event\\user_loggedin", "2024-02-01 09:59"),
        ):
            site.insert(
                "logstore_standard_log",
                eventname=event,
                component="core",
                action="viewed" if "viewed" in event else "loggedin",
                target="course" if "viewed" in event else "user",
                crud="r",
                edulevel=2,
                contextid=1,
                contextlevel=50,
                contextinstanceid=course,
                userid=ids[user],
                courseid=course,
                anonymous=0,
                timecreated=ts(moment),
                origin="web",
                ip="10.0.0.1",
            )
        return ids
    finally:
        site.dispose()


@pytest.fixture(scope="module", params=ENGINES)
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Site]:
    databases = fresh_database(request.param, tmp_path_factory.mktemp("configured"))
    url = next(databases)
    ids = _build_site(url)
    db = MoodleDB(url)
    try:
        yield Site(db, ids)
    finally:
        db.dispose()
        next(databases, None)  # drops the database


def _all_fields(source: str) -> dict[str, Any]:
    return {"source": source, "columns": list(SOURCES[source].fields)}


# -- every source, every field, every engine ---------------------------------------------------


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_every_source_runs_with_every_field(site: Site, source: str) -> None:
    cfg = {**_all_fields(source), "sort": [next(iter(SOURCES[source].fields))]}
    query = site.build(cfg)
    rows = site.run(cfg)
    assert rows, source
    assert [c.name for c in query.columns] == list(SOURCES[source].fields)
    assert all(len(row) == len(query.columns) for row in rows)


@pytest.mark.parametrize("engine", ["mysql", "postgresql", "sqlite"])
@pytest.mark.parametrize("source", sorted(SOURCES))
def test_every_built_query_binds_its_values_and_names_prefixed_tables(
    engine: Engine, source: str
) -> None:
    fields = SOURCES[source].fields
    text_field = next(name for name, f in fields.items() if f.kind == "text")
    time_field = next(name for name, f in fields.items() if f.kind == "timestamp")
    id_field = "userid" if "userid" in fields else "courseid"
    cfg = {
        **_all_fields(source),
        "filters": [
            {"field": text_field, "op": "like", "value": "%a%"},
            {"field": time_field, "op": "between", "values": ["2024-01-01", "2024-12-31"]},
            {"field": id_field, "op": "in", "values": [1, 2, 3]},
            {"field": id_field, "op": "is not null"},
        ],
        "sort": [{"field": text_field, "dir": "desc"}],
        "limit": 10,
    }
    query = build_configured_sql(cfg, engine=engine, prefix="zz_", now=1)
    # like: 1 value; between two days: 2 bounds; in: 3 values -> p0 .. p5.
    assert sorted(n for n in query.params if n != "now") == ["p0", "p1", "p2", "p3", "p4", "p5"]
    assert "%a%" not in query.sql and "{" not in query.sql
    tables = re.findall(r"(?:FROM|JOIN) (\w+)", query.sql)
    assert tables and all(name.startswith("zz_") for name in tables), tables
    grouped = {
        "source": source,
        "group_by": [text_field],
        "aggregates": [
            {"fn": fn, "field": id_field, "as": f"a_{fn}"} for fn in AGGREGATES if fn != "percent"
        ],
        "sort": [{"field": "a_count", "dir": "desc"}],
    }
    assert build_configured_sql(grouped, engine=engine).params == {}


def test_no_catalogue_reaches_a_secret() -> None:
    for name in SOURCES:
        query = build_configured_sql(_all_fields(name), engine="sqlite")
        assert not any("password" in read or "secret" in read for read in query.reads), name
        # The strictest reading: the deny list of the configuration refuses any reach to them.
        policy = SqlPolicy(denied_columns=frozenset({"user.password", "user.secret"}))
        check_reads(query.reads, f"source {query.source}", policy, None)


# -- sources ------------------------------------------------------------------------------------


def test_users_leave_out_deleted_users_and_guest(site: Site) -> None:
    cfg = {"source": "users", "columns": ["username", "fullname"], "sort": ["username"]}
    assert site.run(cfg) == [
        ("admin", "Admin Tester"),
        ("alice", "Alice Archer"),
        ("bob", "Bob Baker"),
        ("carol", "Carol O'Neil"),
        ("zoe", "Zoë Łukasz"),
    ]


def test_courses_leave_out_the_front_page_and_join_the_category(site: Site) -> None:
    cfg = {
        "source": "courses",
        "columns": ["course_shortname", "category_name", "course_visible", "course_startdate"],
        "sort": ["course_shortname"],
    }
    assert site.run(cfg) == [("C1", "Misc", 1, ts("2024-01-01 00:00")), ("C2", "Misc", 0, None)]


def test_enrolments_with_completion_and_activity_state(site: Site) -> None:
    cfg = {
        "source": "enrolments",
        "columns": ["username", "course_shortname", "enrol_method", "completed", "timecompleted"],
        "sort": ["course_shortname", "username"],
    }
    # dave is deleted; bob has a completion record without a completion time.
    assert site.run(cfg) == [
        ("alice", "C1", "manual", 1, ts("2024-02-15 12:00")),
        ("bob", "C1", "manual", 0, None),
        ("carol", "C1", "manual", 0, None),
        ("alice", "C2", "self", 0, None),
        ("zoe", "C2", "manual", 0, None),
    ]


@pytest.mark.parametrize(
    ("now", "active"),
    [
        (ts("2024-03-01 00:00"), ["alice", "alice", "bob", "zoe"]),
        # bob's enrolment ended on 2024-06-01; carol's is suspended at all times.
        (ts("2024-07-01 00:00"), ["alice", "alice", "zoe"]),
    ],
)
def test_enrolment_active_depends_on_now(site: Site, now: int, active: list[str]) -> None:
    cfg = {
        "source": "enrolments",
        "columns": ["username"],
        "filters": [{"field": "enrolment_active", "op": "=", "value": True}],
        "sort": ["username"],
    }
    assert site.column(cfg, now=now) == active


def test_completions(site: Site) -> None:
    cfg = {
        "source": "completions",
        "columns": ["username", "course_shortname", "completed", "timecompleted"],
        "sort": ["username"],
    }
    assert site.run(cfg) == [
        ("alice", "C1", 1, ts("2024-02-15 12:00")),
        ("bob", "C1", 0, None),
    ]


def test_activities_one_row_per_activity_and_user(site: Site) -> None:
    ids = site.ids
    cfg = {
        "source": "activities",
        "columns": ["activityid", "module", "username", "completionstate", "activity_completed"],
        "sort": ["activityid", "username"],
    }
    # The activity being deleted is left out; the untouched one has one row without a user.
    assert site.run(cfg) == [
        (ids["cm_quiz"], "quiz", "alice", 1, 1),
        (ids["cm_quiz"], "quiz", "bob", 3, 0),
        (ids["cm_page"], "page", "alice", 2, 1),
        (ids["cm_untouched"], "page", None, None, 0),
    ]


def test_quiz_attempts_scale_the_grade_and_leave_out_previews(site: Site) -> None:
    cfg = {
        "source": "quiz_attempts",
        "columns": ["username", "attempt", "state", "grade", "time_taken_seconds"],
        "sort": ["username", "attempt"],
    }
    assert site.run(cfg) == [
        ("alice", 1, "finished", 50, 600),
        ("alice", 2, "finished", 80, 1200),
        ("bob", 1, "inprogress", None, None),
    ]


def test_logs_join_users_and_courses_only_when_asked(site: Site) -> None:
    plain = {"source": "logs", "columns": ["eventname", "userid", "courseid"]}
    assert "{user}" not in site.build(plain).sql and "{course}" not in site.build(plain).sql
    cfg = {
        "source": "logs",
        "group_by": ["username", "course_shortname"],
        "aggregates": [{"fn": "count", "as": "events"}],
        "sort": ["username", "course_shortname"],
    }
    assert "{course_categories}" not in site.build(cfg).sql
    assert site.run(cfg) == [("alice", "C1", 2), ("alice", None, 1), ("bob", "C1", 1)]


# -- filters ------------------------------------------------------------------------------------

USERS = ["admin", "alice", "bob", "carol", "zoe"]


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"field": "username", "op": "=", "value": "alice"}, ["alice"]),
        ({"field": "username", "op": "!=", "value": "alice"}, ["admin", "bob", "carol", "zoe"]),
        ({"field": "username", "op": "<>", "value": "alice"}, ["admin", "bob", "carol", "zoe"]),
        ({"field": "username", "op": "<", "value": "b"}, ["admin", "alice"]),
        ({"field": "username", "op": "<=", "value": "bob"}, ["admin", "alice", "bob"]),
        ({"field": "username", "op": ">", "value": "bob"}, ["carol", "zoe"]),
        ({"field": "username", "op": ">=", "value": "bob"}, ["bob", "carol", "zoe"]),
        ({"field": "username", "op": "in", "values": ["zoe", "alice", "x"]}, ["alice", "zoe"]),
        (
            {"field": "username", "op": "NOT IN", "value": ["zoe", "alice"]},
            ["admin", "bob", "carol"],
        ),
        ({"field": "lastname", "op": "like", "value": "%E%"}, ["admin", "alice", "bob", "carol"]),
        ({"field": "lastname", "op": "like", "value": "o'n%"}, ["carol"]),
        ({"field": "city", "op": "like", "value": "_aris"}, ["alice", "carol"]),
        ({"field": "lastaccess", "op": "is null"}, ["admin", "bob"]),
        ({"field": "lastaccess", "op": "is not null"}, ["alice", "carol", "zoe"]),
        ({"field": "userid", "op": "between", "values": [3, 4]}, ["alice", "bob"]),
        ({"field": "userid", "op": ">", "value": "4"}, ["carol", "zoe"]),
        ({"field": "user_suspended", "op": "=", "value": True}, ["bob"]),
        (
            {"field": "user_suspended", "op": "!=", "value": "yes"},
            ["admin", "alice", "carol", "zoe"],
        ),
        # A date alone is the whole day (UTC here): alice at 09:00 and carol at 23:00.
        ({"field": "lastaccess", "op": "=", "value": "2024-05-01"}, ["alice", "carol"]),
        ({"field": "lastaccess", "op": "!=", "value": "2024-05-01"}, ["zoe"]),
        ({"field": "lastaccess", "op": "<", "value": "2024-05-01"}, ["zoe"]),
        ({"field": "lastaccess", "op": "<=", "value": "2024-05-01"}, ["alice", "carol", "zoe"]),
        ({"field": "lastaccess", "op": ">", "value": "2024-04-30"}, ["alice", "carol"]),
        ({"field": "lastaccess", "op": ">=", "value": "2024-05-01 10:00"}, ["carol"]),
        ({"field": "lastaccess", "op": "=", "value": ts("2024-05-01 09:00")}, ["alice"]),
        (
            {"field": "lastaccess", "op": "between", "values": ["2024-04-30", "2024-05-01 12:00"]},
            ["alice", "zoe"],
        ),
        (
            {"field": "lastaccess", "op": "in", "values": [ts("2024-05-01 23:00"), 5]},
            ["carol"],
        ),
    ],
)
def test_filter_ops(site: Site, condition: dict[str, Any], expected: list[str]) -> None:
    cfg = {"source": "users", "columns": ["username"], "filters": [condition], "sort": ["username"]}
    assert site.column(cfg) == expected


def test_every_op_is_tested() -> None:
    assert set(OPS) == {
        "=", "!=", "<", "<=", ">", ">=", "in", "not in", "like", "is null", "is not null",
        "between",
    }  # fmt: skip


def test_filters_add_up(site: Site) -> None:
    cfg = {
        "source": "users",
        "columns": ["username"],
        "filters": [
            {"field": "city", "op": "=", "value": "Paris"},
            {"field": "lastaccess", "op": ">=", "value": "2024-05-01 12:00"},
        ],
    }
    assert site.column(cfg) == ["carol"]


@pytest.mark.parametrize(
    ("timezone", "expected"),
    [
        # zoe enrolled at 23:30 UTC on 31 January, which is 12:30 on 1 February in Auckland.
        (UTC_ZONE, ["alice"]),
        (AUCKLAND, ["alice", "zoe"]),
    ],
)
def test_dates_are_days_in_the_site_timezone(
    site: Site, timezone: ZoneInfo, expected: list[str]
) -> None:
    cfg = {
        "source": "enrolments",
        "columns": ["username"],
        "filters": [{"field": "enrolled", "op": "=", "value": "2024-02-01"}],
        "sort": ["username"],
    }
    assert site.column(cfg, timezone=timezone) == expected
    query = site.build(cfg, timezone=timezone)
    start = int(datetime(2024, 2, 1, tzinfo=timezone).timestamp())
    assert list(query.params.values()) == [start, start + 86_400]


def test_enrolled_between_two_days_includes_both(site: Site) -> None:
    cfg = {
        "source": "enrolments",
        "columns": ["username"],
        "filters": [{"field": "enrolled", "op": "between", "values": ["2024-01-10", "2024-01-20"]}],
        "sort": ["username"],
    }
    assert site.column(cfg) == ["alice", "bob"]


def test_a_quote_in_a_value_stays_a_value(site: Site) -> None:
    hostile = "x' OR '1'='1"
    cfg = {
        "source": "users",
        "columns": ["username"],
        "filters": [{"field": "username", "op": "=", "value": hostile}],
    }
    query = site.build(cfg)
    assert hostile not in query.sql and "'1'" not in query.sql
    assert query.params == {"p0": hostile}
    assert site.run(cfg) == []
    for op in ("like", "in", "!="):
        value: Any = [hostile] if op == "in" else hostile
        rows = site.column({**cfg, "filters": [{"field": "lastname", "op": op, "value": value}]})
        assert rows == ([] if op != "!=" else USERS)


# -- grouping, sorting, limit -------------------------------------------------------------------


def test_grouping_with_every_aggregate(site: Site) -> None:
    cfg = {
        "source": "enrolments",
        "columns": [{"field": "course_shortname", "label": "Course"}],
        "group_by": ["course_shortname"],
        "aggregates": [
            {"fn": "count", "as": "enrolments"},
            {"fn": "count_distinct", "field": "userid", "as": "learners", "label": "Learners"},
            {"fn": "sum", "field": "completed", "as": "completed"},
            {"fn": "avg", "field": "completed"},
            {"fn": "min", "field": "enrolled", "as": "first_enrolled"},
            {"fn": "max", "field": "username", "as": "last_username"},
        ],
        "sort": [{"field": "course_shortname"}],
    }
    query = site.build(cfg)
    assert query.columns == [
        Column("course_shortname", "text", "Course", labelled=True),
        Column("enrolments", "int"),
        Column("learners", "int", "Learners", labelled=True),
        Column("completed", "int"),
        Column("avg_completed", "float"),
        Column("first_enrolled", "timestamp"),
        Column("last_username", "text"),
    ]
    assert site.run(cfg) == [
        ("C1", 3, 3, 1, 0.3333, ts("2024-01-10 10:00"), "carol"),
        ("C2", 2, 2, 0, 0, ts("2024-01-31 23:30"), "zoe"),
    ]


def test_aggregates_without_groups_make_one_row(site: Site) -> None:
    cfg = {
        "source": "quiz_attempts",
        "aggregates": [
            {"fn": "avg", "field": "grade", "as": "average"},
            {"fn": "count", "field": "timefinish", "as": "finished"},
            {"fn": "sum", "field": "time_taken_seconds", "as": "seconds"},
        ],
    }
    assert site.run(cfg) == [(65, 2, 1800)]


def test_sorting_puts_empty_values_last_both_ways(site: Site) -> None:
    base = {"source": "users", "columns": ["username"]}
    ascending = {**base, "sort": [{"field": "lastaccess", "dir": "asc"}, "username"]}
    descending = {**base, "sort": [{"field": "lastaccess", "dir": "DESC"}, "username"]}
    assert site.column(ascending) == ["zoe", "alice", "carol", "admin", "bob"]
    assert site.column(descending) == ["carol", "alice", "zoe", "admin", "bob"]


def test_sorting_by_an_aggregate_and_limit(site: Site) -> None:
    cfg = {
        "source": "enrolments",
        "group_by": ["username"],
        "aggregates": [{"fn": "count", "as": "courses"}],
        "sort": [{"field": "courses", "dir": "desc"}, {"field": "username", "dir": "desc"}],
        "limit": 2,
    }
    assert site.run(cfg) == [("alice", 2), ("zoe", 1)]
    # The limit is written into the SQL, not bound: MySQL spells it `LIMIT offset, count`.
    assert site.build(cfg).sql.endswith(("LIMIT 2 OFFSET 0", "LIMIT 0, 2"))
    assert site.build(cfg).params == {}


# -- mistakes -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        ({"columns": ["username"]}, "needs a source; choose one of: users, courses"),
        ({"source": "grades", "columns": ["x"]}, "Unknown source 'grades'; choose one of: users"),
        ({"source": "users", "columns": ["password"]}, "Unknown field 'password' in columns[0]"),
        ({"source": "users", "columns": ["u.password"]}, "choose one of: userid, username"),
        ({"source": "users"}, "selects nothing"),
        ({"source": "users", "columns": ["username"], "colour": "red"}, "Unknown key 'colour'"),
        (
            {"source": "users", "columns": ["username"], "filters": [{"field": "x", "op": "="}]},
            "Unknown field 'x' in filters[0]",
        ),
        (
            {
                "source": "users",
                "columns": ["username"],
                "filters": [{"field": "username", "op": "~", "value": "a"}],
            },
            "Unknown op '~' in filters[0]; choose one of: =, !=, <, <=, >, >=, in, not in, like",
        ),
        (
            {
                "source": "users",
                "columns": ["username"],
                "filters": [{"field": "username", "op": "=", "value": None}],
            },
            "use is null",
        ),
        (
            {
                "source": "users",
                "columns": ["username"],
                "filters": [{"field": "userid", "op": "=", "value": "1 OR 1=1"}],
            },
            "takes whole numbers",
        ),
        (
            {
                "source": "users",
                "columns": ["username"],
                "filters": [{"field": "userid", "op": "like", "value": "1%"}],
            },
            "like works on text fields only",
        ),
        (
            {
                "source": "users",
                "columns": ["username"],
                "filters": [{"field": "lastaccess", "op": "in", "values": ["2024-05-01"]}],
            },
            "take exact moments",
        ),
        (
            {
                "source": "users",
                "columns": ["username"],
                "filters": [{"field": "lastaccess", "op": ">", "value": "last tuesday"}],
            },
            "is not a date",
        ),
        (
            {
                "source": "users",
                "columns": ["username"],
                "filters": [{"field": "userid", "op": "between", "values": [1]}],
            },
            "exactly two values",
        ),
        (
            {
                "source": "users",
                "columns": ["username"],
                "filters": [{"field": "userid", "op": "in", "values": []}],
            },
            "from 1 to",
        ),
        (
            {"source": "users", "columns": ["username"], "group_by": ["city"]},
            "columns[0] shows username, which is not grouped",
        ),
        (
            {
                "source": "users",
                "group_by": ["city"],
                "aggregates": [{"fn": "median", "field": "userid"}],
            },
            "Unknown aggregate 'median' in aggregates[0]; choose one of: count, count_distinct",
        ),
        (
            {"source": "users", "aggregates": [{"fn": "sum", "field": "username"}]},
            "sum needs a number or yes/no field",
        ),
        (
            {"source": "users", "aggregates": [{"fn": "count", "as": 'x" FROM {user} --'}]},
            "'as' must be a lower-case name",
        ),
        (
            {"source": "users", "aggregates": [{"fn": "count", "as": "username"}]},
            "is a field of the source users",
        ),
        (
            {"source": "users", "columns": ["username"], "sort": ["nothing"]},
            "Unknown field 'nothing' in sort[0]",
        ),
        (
            {
                "source": "users",
                "columns": ["username"],
                "sort": [{"field": "username", "dir": "up"}],
            },
            "dir must be asc or desc",
        ),
        (
            {"source": "users", "group_by": ["city"], "sort": ["username"]},
            "sorts by username, which is not grouped",
        ),
        ({"source": "users", "columns": ["username"], "limit": 0}, "limit must be a whole number"),
        ({"source": "users", "columns": ["username"], "limit": "10; DROP"}, "limit must be"),
        ({"source": "users", "columns": ["username"], "limit": MAX_LIMIT + 1}, str(MAX_LIMIT)),
        ({"source": "users", "columns": "username"}, "columns must be a list"),
        (
            {"source": "users", "columns": ["username", {"field": "username", "label": "Login"}]},
            "two columns called 'username'",
        ),
    ],
)
def test_mistakes_are_named(cfg: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError) as caught:
        build_configured_sql(cfg, engine="sqlite")
    assert message in str(caught.value)


def test_source_names_are_forgiving_about_spelling() -> None:
    query = build_configured_sql(
        {"source": "Quiz attempts", "columns": ["attemptid"]}, engine="sqlite"
    )
    assert query.source == "quiz_attempts"


# -- files --------------------------------------------------------------------------------------

TOML = """
source = "enrolments"
columns = ["username", { field = "course_shortname", label = "Course" }]
filters = [
  { field = "enrolled", op = ">=", value = 2024-01-15 },
  { field = "enrolled", op = "<", value = 2024-03-01T00:00:00 },
]
sort = [{ field = "username", dir = "desc" }]
limit = 10
"""


def test_toml_and_json_files_describe_the_same_report(site: Site, tmp_path: Path) -> None:
    toml_file = tmp_path / "report.toml"
    toml_file.write_text(TOML, encoding="utf-8")
    from_toml = load_report_config(toml_file)
    assert from_toml["filters"][0]["value"] == "2024-01-15"
    assert from_toml["filters"][1]["value"] == "2024-03-01 00:00:00"
    json_file = tmp_path / "report.json"
    json_file.write_text(json.dumps(from_toml), encoding="utf-8")
    assert load_report_config(json_file) == from_toml
    assert site.run(from_toml) == [("zoe", "C2"), ("bob", "C1"), ("alice", "C2")]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "r.json",
            '{"source": "users",\n "columns": [}',
            "is not valid JSON: Expecting value (line 2",
        ),
        ("r.toml", 'source = "users"\ncolumns = [', "is not valid TOML"),
        ("r.json", '["users"]', "must hold one object"),
        ("r.yaml", "source: users", "must end in .json or .toml"),
    ],
)
def test_bad_files_are_named(tmp_path: Path, name: str, content: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_report_config(path)
    assert str(path) in str(caught.value) and message in str(caught.value)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"Cannot read the report configuration .*nothing\.json"):
        load_report_config(tmp_path / "nothing.json")


# -- as the runner runs it -----------------------------------------------------------------------

GROUPED = {
    "source": "enrolments",
    "group_by": ["course_shortname"],
    "aggregates": [{"fn": "count_distinct", "field": "userid", "as": "learners"}],
    "filters": [{"field": "enrolled", "op": ">=", "value": "2024-01-01"}],
    "sort": ["course_shortname"],
    "limit": 1,
}


def _context(site: Site, timezone: ZoneInfo, now: int) -> ReportContext:
    info = SiteInfo(None, None, None, None, None, None, ())
    return ReportContext(info, timezone, now, site.engine, {"now": now})


def test_spec_scopes_inside_the_query_before_grouping_and_limit(site: Site) -> None:
    validator = SqlValidator(site.engine, SqlPolicy(), site.db.table_names)
    spec = configured_report_spec(GROUPED, validator, name="Learners per course")
    assert spec.name == spec.title == "Learners per course"
    assert spec.params == () and spec.custom_id is None
    assert [c.name for c in spec.columns] == ["course_shortname", "learners"]
    assert spec.scope_columns == {"userid": "ue.userid", "courseid": "e.courseid"}
    assert spec.sql_text is not None and SCOPE_MARKER in spec.sql_text
    assert spec.bind is not None
    params = spec.bind(_context(site, AUCKLAND, 1_800_000_000))
    assert params == {"p0": int(datetime(2024, 1, 1, tzinfo=AUCKLAND).timestamp())}

    def rows(scope: Scope) -> list[tuple[Any, ...]]:
        assert spec.sql_text is not None
        condition = scope_condition(scope, spec.scope_columns, spec.name)
        sql = spec.sql_text.replace(SCOPE_MARKER, condition or "1 = 1")
        return [tuple(map(_plain, r)) for r in site.db.fetch_all(render_sql(sql, "mdl_"), params)]

    operator = Actor(None, "(shell operator)", "operator")
    assert rows(Scope(operator, None)) == [("C1", 3)]
    # zoe sees only her own enrolment, counted and limited after the scope applies.
    zoe = Actor(site.ids["zoe"], "zoe", "user")
    assert rows(Scope(zoe, (Grant("userid", (site.ids["zoe"],)),))) == [("C2", 1)]


def test_spec_is_checked_against_the_policy_of_the_run(site: Site) -> None:
    strict = SqlValidator(site.engine, SqlPolicy(denied_tables=frozenset({"user_enrolments"})))
    with pytest.raises(SQLRejectedError) as caught:
        configured_report_spec(GROUPED, strict, name="Learners")
    assert caught.value.rule == "denied table"
    only_users = SqlValidator(site.engine, SqlPolicy(allowed_tables=frozenset({"user"})))
    with pytest.raises(SQLRejectedError) as caught:
        configured_report_spec(GROUPED, only_users, name="Learners")
    assert caught.value.rule == "table not allowed"
