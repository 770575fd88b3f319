"""The sources and fields a report configuration may name, as SQLAlchemy expressions.

A configuration never reaches the SQL by itself: it only picks entries of this catalogue, and every
table, join and expression comes from here. The Moodle tables are Moodle's own definitions
(manireports.moodle.schema) named with the site's prefix, so expressions carry Moodle's column
types and SQLAlchemy writes each engine's spelling (MySQL's CONCAT, the others' `||`).

Optional joins are LEFT JOINs on unique keys: they never change the number of rows, so a query
carries only those that a field of the report needs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.selectable import NamedFromClause

from manireports.export import ColumnKind
from manireports.moodle.schema import build_metadata
from manireports.scope import ScopeColumn

# The only tables a config-built report reads; none of them was renamed by IOMAD, so the prefix is
# all a site changes about their names.
CATALOGUE_TABLES = (
    "user",
    "course",
    "course_categories",
    "enrol",
    "user_enrolments",
    "user_lastaccess",
    "course_completions",
    "course_modules",
    "modules",
    "course_modules_completion",
    "quiz",
    "quiz_attempts",
    "logstore_standard_log",
)

# Constants of the catalogue are written into the SQL as they are; only configuration values are
# bound, so the parameters of a query are exactly the values its configuration gave.
ZERO = sa.literal_column("0", sa.Integer())
ONE = sa.literal_column("1", sa.Integer())
_TWO = sa.literal_column("2", sa.Integer())
_SPACE = sa.literal_column("' '", sa.String())


class Tables:
    """The catalogue's Moodle tables for one prefix, under the aliases the expressions use."""

    def __init__(self, prefix: str) -> None:
        metadata = build_metadata(prefix, CATALOGUE_TABLES, iomad=None)
        self.prefix = prefix

        def table(name: str, alias: str) -> NamedFromClause:
            return metadata.tables[prefix + name].alias(alias)

        self.u = table("user", "u")
        self.c = table("course", "c")
        self.cat = table("course_categories", "cat")
        self.e = table("enrol", "e")
        self.ue = table("user_enrolments", "ue")
        self.ula = table("user_lastaccess", "ula")
        self.ccomp = table("course_completions", "ccomp")
        self.cc = table("course_completions", "cc")
        self.cm = table("course_modules", "cm")
        self.m = table("modules", "m")
        self.cmc = table("course_modules_completion", "cmc")
        self.q = table("quiz", "q")
        self.qa = table("quiz_attempts", "qa")
        self.log = table("logstore_standard_log", "l")


@cache
def tables_for(prefix: str) -> Tables:
    return Tables(prefix)


Expression = sa.ColumnElement[Any]
Build = Callable[[Tables], Expression]


@dataclass(frozen=True)
class Field:
    """A field a configuration may name: its expression, its kind and the joins it needs."""

    name: str
    build: Build
    kind: ColumnKind
    joins: tuple[str, ...] = ()


@dataclass(frozen=True)
class Join:
    """An optional LEFT JOIN; `needs` names the joins it stands on."""

    key: str
    target: Callable[[Tables], NamedFromClause]
    on: Build
    needs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Source:
    name: str
    description: str
    base: Callable[[Tables], sa.FromClause]
    where: Callable[[Tables], Sequence[Expression]]
    fields: Mapping[str, Field]
    joins: tuple[Join, ...]
    scope: Mapping[ScopeColumn, Build]


def never(column: Expression) -> Expression:
    """A Moodle time where 0 means never or no limit, read as empty."""
    return sa.func.nullif(column, ZERO)


def _flag(condition: Expression) -> Expression:
    return sa.case((condition, ONE), else_=ZERO)


def _user_fields(userid: Build, joins: tuple[str, ...] = ()) -> list[Field]:
    def column(name: str) -> Build:
        return lambda t: t.u.c[name]

    return [
        Field("userid", userid, "int"),
        Field("username", column("username"), "text", joins),
        Field("firstname", column("firstname"), "text", joins),
        Field("lastname", column("lastname"), "text", joins),
        Field("fullname", lambda t: t.u.c.firstname + _SPACE + t.u.c.lastname, "text", joins),
        Field("email", column("email"), "text", joins),
        Field("user_idnumber", column("idnumber"), "text", joins),
        Field("institution", column("institution"), "text", joins),
        Field("department", column("department"), "text", joins),
        Field("city", column("city"), "text", joins),
        Field("country", column("country"), "text", joins),
        Field("auth", column("auth"), "text", joins),
        Field("user_suspended", column("suspended"), "bool", joins),
        Field("firstaccess", lambda t: never(t.u.c.firstaccess), "timestamp", joins),
        Field("lastaccess", lambda t: never(t.u.c.lastaccess), "timestamp", joins),
        Field("lastlogin", lambda t: never(t.u.c.lastlogin), "timestamp", joins),
        Field("user_timecreated", lambda t: never(t.u.c.timecreated), "timestamp", joins),
    ]


def _course_fields(courseid: Build, joins: tuple[str, ...] = ()) -> list[Field]:
    category = (*joins, "category")
    return [
        Field("courseid", courseid, "int"),
        Field("course_shortname", lambda t: t.c.c.shortname, "text", joins),
        Field("course_fullname", lambda t: t.c.c.fullname, "text", joins),
        Field("course_idnumber", lambda t: t.c.c.idnumber, "text", joins),
        Field("categoryid", lambda t: t.c.c.category, "int", joins),
        Field("category_name", lambda t: t.cat.c.name, "text", category),
        Field("course_visible", lambda t: t.c.c.visible, "bool", joins),
        Field("course_format", lambda t: t.c.c.format, "text", joins),
        Field("course_startdate", lambda t: never(t.c.c.startdate), "timestamp", joins),
        Field("course_enddate", lambda t: never(t.c.c.enddate), "timestamp", joins),
        Field("course_timecreated", lambda t: never(t.c.c.timecreated), "timestamp", joins),
        Field("completion_enabled", lambda t: t.c.c.enablecompletion, "bool", joins),
    ]


_CATEGORY = Join("category", lambda t: t.cat, lambda t: t.cat.c.id == t.c.c.category)


def _source(
    name: str,
    description: str,
    base: Callable[[Tables], sa.FromClause],
    where: Callable[[Tables], Sequence[Expression]],
    fields: Sequence[Field],
    joins: tuple[Join, ...],
    scope: Mapping[ScopeColumn, Build],
) -> Source:
    catalogue = {f.name: f for f in fields}
    assert len(catalogue) == len(fields), f"duplicate field in source {name}"
    return Source(name, description, base, where, catalogue, joins, scope)


def _enrolments(t: Tables) -> sa.FromClause:
    return (
        t.ue.join(t.e, t.e.c.id == t.ue.c.enrolid)
        .join(t.u, t.u.c.id == t.ue.c.userid)
        .join(t.c, t.c.c.id == t.e.c.courseid)
    )


def _enrolment_active(t: Tables) -> Expression:
    # `now` is the moment of the run (--as-of), bound when the report runs.
    now = sa.bindparam("now", type_=sa.BigInteger())
    return _flag(
        sa.and_(
            t.ue.c.status == ZERO,
            t.e.c.status == ZERO,
            t.ue.c.timestart <= now,
            sa.or_(t.ue.c.timeend == ZERO, t.ue.c.timeend > now),
        )
    )


def _activities(t: Tables) -> sa.FromClause:
    return (
        t.cm.join(t.m, t.m.c.id == t.cm.c.module)
        .join(t.c, t.c.c.id == t.cm.c.course)
        .outerjoin(t.cmc, t.cmc.c.coursemoduleid == t.cm.c.id)
        .outerjoin(t.u, t.u.c.id == t.cmc.c.userid)
    )


def _quiz_attempts(t: Tables) -> sa.FromClause:
    return (
        t.qa.join(t.q, t.q.c.id == t.qa.c.quiz)
        .join(t.c, t.c.c.id == t.q.c.course)
        .join(t.u, t.u.c.id == t.qa.c.userid)
    )


def _log_field(name: str, kind: ColumnKind) -> Field:
    column = {"logid": "id"}.get(name, name)
    return Field(name, lambda t: t.log.c[column], kind)


SOURCES: dict[str, Source] = {
    source.name: source
    for source in (
        _source(
            "users",
            "One row per user (not deleted, not the guest account).",
            lambda t: t.u,
            lambda t: (t.u.c.deleted == ZERO, t.u.c.username != sa.literal_column("'guest'")),
            _user_fields(lambda t: t.u.c.id),
            (),
            {"userid": lambda t: t.u.c.id},
        ),
        _source(
            "courses",
            "One row per course (not the site front page).",
            lambda t: t.c,
            lambda t: (t.c.c.format != sa.literal_column("'site'"),),
            _course_fields(lambda t: t.c.c.id),
            (_CATEGORY,),
            {"courseid": lambda t: t.c.c.id},
        ),
        _source(
            "enrolments",
            "One row per enrolment of a user in a course (a user enrolled by two methods has two).",
            _enrolments,
            lambda t: (t.u.c.deleted == ZERO,),
            [
                *_user_fields(lambda t: t.ue.c.userid),
                *_course_fields(lambda t: t.e.c.courseid),
                Field("enrolmentid", lambda t: t.ue.c.id, "int"),
                Field("enrol_method", lambda t: t.e.c.enrol, "text"),
                Field("enrolment_status", lambda t: t.ue.c.status, "int"),
                Field("method_status", lambda t: t.e.c.status, "int"),
                Field("enrolment_active", _enrolment_active, "bool"),
                Field("timestart", lambda t: never(t.ue.c.timestart), "timestamp"),
                Field("timeend", lambda t: never(t.ue.c.timeend), "timestamp"),
                Field("enrolled", lambda t: never(t.ue.c.timecreated), "timestamp"),
                Field(
                    "course_lastaccess",
                    lambda t: never(t.ula.c.timeaccess),
                    "timestamp",
                    ("lastaccess",),
                ),
                Field(
                    "completed",
                    lambda t: _flag(t.ccomp.c.timecompleted > ZERO),
                    "bool",
                    ("completion",),
                ),
                Field(
                    "timecompleted",
                    lambda t: never(t.ccomp.c.timecompleted),
                    "timestamp",
                    ("completion",),
                ),
            ],
            (
                _CATEGORY,
                Join(
                    "lastaccess",
                    lambda t: t.ula,
                    lambda t: sa.and_(
                        t.ula.c.userid == t.ue.c.userid, t.ula.c.courseid == t.e.c.courseid
                    ),
                ),
                Join(
                    "completion",
                    lambda t: t.ccomp,
                    lambda t: sa.and_(
                        t.ccomp.c.userid == t.ue.c.userid, t.ccomp.c.course == t.e.c.courseid
                    ),
                ),
            ),
            {"userid": lambda t: t.ue.c.userid, "courseid": lambda t: t.e.c.courseid},
        ),
        _source(
            "completions",
            "One row per course completion record of a user.",
            lambda t: t.cc.join(t.u, t.u.c.id == t.cc.c.userid).join(
                t.c, t.c.c.id == t.cc.c.course
            ),
            lambda t: (t.u.c.deleted == ZERO,),
            [
                *_user_fields(lambda t: t.cc.c.userid),
                *_course_fields(lambda t: t.cc.c.course),
                Field("timeenrolled", lambda t: never(t.cc.c.timeenrolled), "timestamp"),
                Field("timestarted", lambda t: never(t.cc.c.timestarted), "timestamp"),
                Field("timecompleted", lambda t: never(t.cc.c.timecompleted), "timestamp"),
                Field("completed", lambda t: _flag(t.cc.c.timecompleted > ZERO), "bool"),
            ],
            (_CATEGORY,),
            {"userid": lambda t: t.cc.c.userid, "courseid": lambda t: t.cc.c.course},
        ),
        _source(
            "activities",
            "One row per activity and user with a completion record; an activity without any "
            "completion record has one row with empty user fields.",
            _activities,
            lambda t: (
                t.cm.c.deletioninprogress == ZERO,
                sa.or_(t.cmc.c.id.is_(None), t.u.c.deleted == ZERO),
            ),
            [
                Field("activityid", lambda t: t.cm.c.id, "int"),
                Field("module", lambda t: t.m.c.name, "text"),
                Field("instanceid", lambda t: t.cm.c.instance, "int"),
                Field("sectionid", lambda t: t.cm.c.section, "int"),
                Field("activity_idnumber", lambda t: t.cm.c.idnumber, "text"),
                Field("activity_visible", lambda t: t.cm.c.visible, "bool"),
                Field("completion_tracking", lambda t: t.cm.c.completion, "int"),
                Field(
                    "completion_expected",
                    lambda t: never(t.cm.c.completionexpected),
                    "timestamp",
                ),
                Field("activity_added", lambda t: never(t.cm.c.added), "timestamp"),
                Field("completionstate", lambda t: t.cmc.c.completionstate, "int"),
                Field(
                    "activity_completed",
                    # States 1 (complete) and 2 (complete, pass) count, as course progress does.
                    lambda t: _flag(t.cmc.c.completionstate.in_([ONE, _TWO])),
                    "bool",
                ),
                Field("completion_time", lambda t: never(t.cmc.c.timemodified), "timestamp"),
                *_user_fields(lambda t: t.u.c.id),
                *_course_fields(lambda t: t.cm.c.course),
            ],
            (_CATEGORY,),
            {"userid": lambda t: t.u.c.id, "courseid": lambda t: t.cm.c.course},
        ),
        _source(
            "quiz_attempts",
            "One row per quiz attempt (previews left out).",
            _quiz_attempts,
            lambda t: (t.qa.c.preview == ZERO, t.u.c.deleted == ZERO),
            [
                Field("attemptid", lambda t: t.qa.c.id, "int"),
                Field("quizid", lambda t: t.q.c.id, "int"),
                Field("quiz_name", lambda t: t.q.c.name, "text"),
                Field("attempt", lambda t: t.qa.c.attempt, "int"),
                Field("state", lambda t: t.qa.c.state, "text"),
                Field("timestart", lambda t: never(t.qa.c.timestart), "timestamp"),
                Field("timefinish", lambda t: never(t.qa.c.timefinish), "timestamp"),
                Field(
                    "time_taken_seconds",
                    lambda t: sa.case(
                        (
                            sa.and_(t.qa.c.timefinish > ZERO, t.qa.c.timestart > ZERO),
                            t.qa.c.timefinish - t.qa.c.timestart,
                        )
                    ),
                    "int",
                ),
                Field("sumgrades", lambda t: t.qa.c.sumgrades, "float"),
                Field(
                    "grade",
                    # Scaled to the quiz's maximum grade, as the gradebook shows it.
                    lambda t: sa.case(
                        (
                            t.q.c.sumgrades > ZERO,
                            t.qa.c.sumgrades * t.q.c.grade / t.q.c.sumgrades,
                        )
                    ),
                    "float",
                ),
                Field("quiz_maxgrade", lambda t: t.q.c.grade, "float"),
                Field("quiz_timeclose", lambda t: never(t.q.c.timeclose), "timestamp"),
                *_user_fields(lambda t: t.qa.c.userid),
                *_course_fields(lambda t: t.q.c.course),
            ],
            (_CATEGORY,),
            {"userid": lambda t: t.qa.c.userid, "courseid": lambda t: t.q.c.course},
        ),
        _source(
            "logs",
            "One row per event of the standard log.",
            lambda t: t.log,
            lambda t: (),
            [
                _log_field("logid", "int"),
                _log_field("timecreated", "timestamp"),
                _log_field("eventname", "text"),
                _log_field("component", "text"),
                _log_field("action", "text"),
                _log_field("target", "text"),
                _log_field("crud", "text"),
                _log_field("edulevel", "int"),
                _log_field("contextid", "int"),
                _log_field("contextlevel", "int"),
                _log_field("contextinstanceid", "int"),
                _log_field("objecttable", "text"),
                _log_field("objectid", "int"),
                _log_field("relateduserid", "int"),
                _log_field("realuserid", "int"),
                _log_field("anonymous", "bool"),
                _log_field("origin", "text"),
                _log_field("ip", "text"),
                *_user_fields(lambda t: t.log.c.userid, ("user",)),
                *_course_fields(lambda t: t.log.c.courseid, ("course",)),
            ],
            (
                Join("user", lambda t: t.u, lambda t: t.u.c.id == t.log.c.userid),
                Join("course", lambda t: t.c, lambda t: t.c.c.id == t.log.c.courseid),
                Join(
                    "category",
                    lambda t: t.cat,
                    lambda t: t.cat.c.id == t.c.c.category,
                    ("course",),
                ),
            ),
            {"userid": lambda t: t.log.c.userid, "courseid": lambda t: t.log.c.courseid},
        ),
    )
}
