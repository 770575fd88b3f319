"""Config-built reports, the "GUI builder" (SPEC section 6): a JSON or TOML description turned
into SQL by manireports itself.

A report configuration names a source, the fields to show, filters, grouping, sorting and a limit:

    source = "enrolments"
    columns = ["course_shortname", { field = "enrol_method", label = "Method" }]
    group_by = ["course_shortname", "enrol_method"]
    aggregates = [{ fn = "count_distinct", field = "userid", as = "learners" }]
    filters = [{ field = "enrolled", op = ">=", value = "2026-01-01" },
               { field = "enrol_method", op = "in", values = ["manual", "self"] }]
    sort = [{ field = "learners", dir = "desc" }]
    limit = 20

Safe by construction: every table, join and column expression comes from the catalogue below, never
from the configuration; a field name only selects a catalogue entry, and a name that is not in the
catalogue is refused with the list of choices. Every filter value is a bound parameter (`:p0`,
`:p1`, ...). The only things from the configuration that reach the SQL text are the limit (checked
to be a whole number) and aggregate names (`as`), which must be lower-case identifiers and are
written double-quoted. The result is still checked by sqlcheck like any custom SQL, at creation and
at every run, so the [reports] deny and allow lists apply to config-built reports too.

Choices worth knowing (they belong in the user documentation):
- Deleted users are left out of every source; the users source also leaves out the guest account,
  the courses source the site front page. quiz_attempts leaves out teachers' previews.
- A Moodle time of 0 means "never" or "no limit" (an enrolment without end, a course not
  completed); such fields read as empty, so `timeend is null` finds enrolments without end and
  `timeend < 2026-01-01` does not.
- A date without a time on a time field means that whole day in the site timezone: `= 2026-01-31`
  is any time that day, `<= 2026-01-31` includes it, `> 2026-01-31` starts the next day, and
  `between [2026-01-01, 2026-01-31]` covers both days in full. "YYYY-MM-DD HH:MM[:SS]" is that
  moment; a whole number is a Unix time.
- `like` ignores case; `%` matches any text and `_` one character (there is no escape character
  that works the same on every database, so they cannot be searched for literally).
- Filters are combined with AND; they apply to rows before grouping.
- Empty values sort last, ascending or descending, on every database.
- The activities source has one row per activity and user with a completion record; an activity
  nobody has a completion record for has one row with empty user fields. `activity_completed`
  counts states 1 (complete) and 2 (complete, pass), as Moodle's course progress does.
- Config-built reports take no --param: every value is in the configuration. The scope of
  `--as-user` (SPEC section 7) is applied inside the query, before grouping and the limit, so a
  manager's counts count only the users they may see.
"""

from __future__ import annotations

import json
import re
import time
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from manireports.errors import InputError
from manireports.export import Column, ColumnKind
from manireports.moodle.connection import Engine
from manireports.reports.params import parse_moment
from manireports.reports.spec import BuiltinReport, ReportContext
from manireports.scope import ScopeColumn

if TYPE_CHECKING:
    from manireports.reports.custom import CustomReportRecord, SqlValidator

SCOPE_MARKER = "%%SCOPE%%"
MAX_LIMIT = 1_000_000
MAX_IN_VALUES = 1_000
CONFIG_KEYS = ("source", "columns", "filters", "group_by", "aggregates", "sort", "limit")
OPS = (
    "=",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "in",
    "not in",
    "like",
    "is null",
    "is not null",
    "between",
)
AGGREGATES = ("count", "count_distinct", "sum", "avg", "min", "max")

_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")
_BARE_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_INTEGER = re.compile(r"[+-]?\d+")
_OP_ALIASES = {"<>": "!=", "==": "="}
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


# -- the catalogue ------------------------------------------------------------------------------

Expression = str | Callable[[Engine], str]


@dataclass(frozen=True)
class Field:
    """A selectable field: its SQL expression over the source's aliases, its kind, and the
    optional joins it needs."""

    name: str
    expr: Expression
    kind: ColumnKind
    joins: tuple[str, ...] = ()

    def sql(self, engine: Engine) -> str:
        return self.expr if isinstance(self.expr, str) else self.expr(engine)


@dataclass(frozen=True)
class Join:
    """An optional LEFT JOIN on a unique key: it never changes the number of rows, so it is only
    written when a field used by the report needs it."""

    key: str
    sql: str
    needs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Source:
    name: str
    description: str
    base: str
    where: tuple[str, ...]
    fields: Mapping[str, Field]
    joins: tuple[Join, ...]
    scope: Mapping[ScopeColumn, str]


def _fullname(engine: Engine) -> str:
    # MySQL reads || as OR; SQLite has CONCAT only from 3.44.
    if engine == "mysql":
        return "CONCAT(u.firstname, ' ', u.lastname)"
    return "u.firstname || ' ' || u.lastname"


def _never(column: str) -> str:
    """A Moodle time where 0 means never/none, read as NULL."""
    return f"NULLIF({column}, 0)"


def _user_fields(userid: str, joins: tuple[str, ...] = ()) -> list[Field]:
    return [
        Field("userid", userid, "int"),
        Field("username", "u.username", "text", joins),
        Field("firstname", "u.firstname", "text", joins),
        Field("lastname", "u.lastname", "text", joins),
        Field("fullname", _fullname, "text", joins),
        Field("email", "u.email", "text", joins),
        Field("user_idnumber", "u.idnumber", "text", joins),
        Field("institution", "u.institution", "text", joins),
        Field("department", "u.department", "text", joins),
        Field("city", "u.city", "text", joins),
        Field("country", "u.country", "text", joins),
        Field("auth", "u.auth", "text", joins),
        Field("user_suspended", "u.suspended", "bool", joins),
        Field("firstaccess", _never("u.firstaccess"), "timestamp", joins),
        Field("lastaccess", _never("u.lastaccess"), "timestamp", joins),
        Field("lastlogin", _never("u.lastlogin"), "timestamp", joins),
        Field("user_timecreated", _never("u.timecreated"), "timestamp", joins),
    ]


def _course_fields(courseid: str, joins: tuple[str, ...] = ()) -> list[Field]:
    category = (*joins, "category")
    return [
        Field("courseid", courseid, "int"),
        Field("course_shortname", "c.shortname", "text", joins),
        Field("course_fullname", "c.fullname", "text", joins),
        Field("course_idnumber", "c.idnumber", "text", joins),
        Field("categoryid", "c.category", "int", joins),
        Field("category_name", "cat.name", "text", category),
        Field("course_visible", "c.visible", "bool", joins),
        Field("course_format", "c.format", "text", joins),
        Field("course_startdate", _never("c.startdate"), "timestamp", joins),
        Field("course_enddate", _never("c.enddate"), "timestamp", joins),
        Field("course_timecreated", _never("c.timecreated"), "timestamp", joins),
        Field("completion_enabled", "c.enablecompletion", "bool", joins),
    ]


_CATEGORY = Join("category", "LEFT JOIN {course_categories} cat ON cat.id = c.category")


def _source(
    name: str,
    description: str,
    base: str,
    where: tuple[str, ...],
    fields: Sequence[Field],
    joins: tuple[Join, ...],
    scope: Mapping[ScopeColumn, str],
) -> Source:
    catalogue = {f.name: f for f in fields}
    assert len(catalogue) == len(fields), f"duplicate field in source {name}"
    return Source(name, description, base, where, catalogue, joins, scope)


SOURCES: dict[str, Source] = {
    source.name: source
    for source in (
        _source(
            "users",
            "One row per user (not deleted, not the guest account).",
            "FROM {user} u",
            ("u.deleted = 0", "u.username <> 'guest'"),
            _user_fields("u.id"),
            (),
            {"userid": "u.id"},
        ),
        _source(
            "courses",
            "One row per course (not the site front page).",
            "FROM {course} c",
            ("c.format <> 'site'",),
            _course_fields("c.id"),
            (_CATEGORY,),
            {"courseid": "c.id"},
        ),
        _source(
            "enrolments",
            "One row per enrolment of a user in a course (a user enrolled by two methods has two).",
            "FROM {user_enrolments} ue\n"
            "JOIN {enrol} e ON e.id = ue.enrolid\n"
            "JOIN {user} u ON u.id = ue.userid\n"
            "JOIN {course} c ON c.id = e.courseid",
            ("u.deleted = 0",),
            [
                *_user_fields("ue.userid"),
                *_course_fields("e.courseid"),
                Field("enrolmentid", "ue.id", "int"),
                Field("enrol_method", "e.enrol", "text"),
                Field("enrolment_status", "ue.status", "int"),
                Field("method_status", "e.status", "int"),
                Field(
                    "enrolment_active",
                    "CASE WHEN ue.status = 0 AND e.status = 0 AND ue.timestart <= :now "
                    "AND (ue.timeend = 0 OR ue.timeend > :now) THEN 1 ELSE 0 END",
                    "bool",
                ),
                Field("timestart", _never("ue.timestart"), "timestamp"),
                Field("timeend", _never("ue.timeend"), "timestamp"),
                Field("enrolled", _never("ue.timecreated"), "timestamp"),
                Field("course_lastaccess", _never("ula.timeaccess"), "timestamp", ("lastaccess",)),
                Field(
                    "completed",
                    "CASE WHEN ccomp.timecompleted > 0 THEN 1 ELSE 0 END",
                    "bool",
                    ("completion",),
                ),
                Field("timecompleted", _never("ccomp.timecompleted"), "timestamp", ("completion",)),
            ],
            (
                _CATEGORY,
                Join(
                    "lastaccess",
                    "LEFT JOIN {user_lastaccess} ula "
                    "ON ula.userid = ue.userid AND ula.courseid = e.courseid",
                ),
                Join(
                    "completion",
                    "LEFT JOIN {course_completions} ccomp "
                    "ON ccomp.userid = ue.userid AND ccomp.course = e.courseid",
                ),
            ),
            {"userid": "ue.userid", "courseid": "e.courseid"},
        ),
        _source(
            "completions",
            "One row per course completion record of a user.",
            "FROM {course_completions} cc\n"
            "JOIN {user} u ON u.id = cc.userid\n"
            "JOIN {course} c ON c.id = cc.course",
            ("u.deleted = 0",),
            [
                *_user_fields("cc.userid"),
                *_course_fields("cc.course"),
                Field("timeenrolled", _never("cc.timeenrolled"), "timestamp"),
                Field("timestarted", _never("cc.timestarted"), "timestamp"),
                Field("timecompleted", _never("cc.timecompleted"), "timestamp"),
                Field("completed", "CASE WHEN cc.timecompleted > 0 THEN 1 ELSE 0 END", "bool"),
            ],
            (_CATEGORY,),
            {"userid": "cc.userid", "courseid": "cc.course"},
        ),
        _source(
            "activities",
            "One row per activity and user with a completion record; an activity without any "
            "completion record has one row with empty user fields.",
            "FROM {course_modules} cm\n"
            "JOIN {modules} m ON m.id = cm.module\n"
            "JOIN {course} c ON c.id = cm.course\n"
            "LEFT JOIN {course_modules_completion} cmc ON cmc.coursemoduleid = cm.id\n"
            "LEFT JOIN {user} u ON u.id = cmc.userid",
            ("cm.deletioninprogress = 0", "(cmc.id IS NULL OR u.deleted = 0)"),
            [
                Field("activityid", "cm.id", "int"),
                Field("module", "m.name", "text"),
                Field("instanceid", "cm.instance", "int"),
                Field("sectionid", "cm.section", "int"),
                Field("activity_idnumber", "cm.idnumber", "text"),
                Field("activity_visible", "cm.visible", "bool"),
                Field("completion_tracking", "cm.completion", "int"),
                Field("completion_expected", _never("cm.completionexpected"), "timestamp"),
                Field("activity_added", _never("cm.added"), "timestamp"),
                Field("completionstate", "cmc.completionstate", "int"),
                Field(
                    "activity_completed",
                    "CASE WHEN cmc.completionstate IN (1, 2) THEN 1 ELSE 0 END",
                    "bool",
                ),
                Field("completion_time", _never("cmc.timemodified"), "timestamp"),
                *_user_fields("u.id"),
                *_course_fields("cm.course"),
            ],
            (_CATEGORY,),
            {"userid": "u.id", "courseid": "cm.course"},
        ),
        _source(
            "quiz_attempts",
            "One row per quiz attempt (previews left out).",
            "FROM {quiz_attempts} qa\n"
            "JOIN {quiz} q ON q.id = qa.quiz\n"
            "JOIN {course} c ON c.id = q.course\n"
            "JOIN {user} u ON u.id = qa.userid",
            ("qa.preview = 0", "u.deleted = 0"),
            [
                Field("attemptid", "qa.id", "int"),
                Field("quizid", "q.id", "int"),
                Field("quiz_name", "q.name", "text"),
                Field("attempt", "qa.attempt", "int"),
                Field("state", "qa.state", "text"),
                Field("timestart", _never("qa.timestart"), "timestamp"),
                Field("timefinish", _never("qa.timefinish"), "timestamp"),
                Field(
                    "time_taken_seconds",
                    "CASE WHEN qa.timefinish > 0 AND qa.timestart > 0 "
                    "THEN qa.timefinish - qa.timestart END",
                    "int",
                ),
                Field("sumgrades", "qa.sumgrades", "float"),
                Field(
                    "grade",
                    "CASE WHEN q.sumgrades > 0 THEN qa.sumgrades * q.grade / q.sumgrades END",
                    "float",
                ),
                Field("quiz_maxgrade", "q.grade", "float"),
                Field("quiz_timeclose", _never("q.timeclose"), "timestamp"),
                *_user_fields("qa.userid"),
                *_course_fields("q.course"),
            ],
            (_CATEGORY,),
            {"userid": "qa.userid", "courseid": "q.course"},
        ),
        _source(
            "logs",
            "One row per event of the standard log.",
            "FROM {logstore_standard_log} l",
            (),
            [
                Field("logid", "l.id", "int"),
                Field("timecreated", "l.timecreated", "timestamp"),
                Field("eventname", "l.eventname", "text"),
                Field("component", "l.component", "text"),
                Field("action", "l.action", "text"),
                Field("target", "l.target", "text"),
                Field("crud", "l.crud", "text"),
                Field("edulevel", "l.edulevel", "int"),
                Field("contextid", "l.contextid", "int"),
                Field("contextlevel", "l.contextlevel", "int"),
                Field("contextinstanceid", "l.contextinstanceid", "int"),
                Field("objecttable", "l.objecttable", "text"),
                Field("objectid", "l.objectid", "int"),
                Field("relateduserid", "l.relateduserid", "int"),
                Field("realuserid", "l.realuserid", "int"),
                Field("anonymous", "l.anonymous", "bool"),
                Field("origin", "l.origin", "text"),
                Field("ip", "l.ip", "text"),
                *_user_fields("l.userid", ("user",)),
                *_course_fields("l.courseid", ("course",)),
            ],
            (
                Join("user", "LEFT JOIN {user} u ON u.id = l.userid"),
                Join("course", "LEFT JOIN {course} c ON c.id = l.courseid"),
                Join(
                    "category",
                    "LEFT JOIN {course_categories} cat ON cat.id = c.category",
                    ("course",),
                ),
            ),
            {"userid": "l.userid", "courseid": "l.courseid"},
        ),
    )
}


# -- loading ------------------------------------------------------------------------------------


def load_report_config(path: str | Path) -> dict[str, Any]:
    """A report configuration from a .json or .toml file, as a JSON-ready dict.

    TOML dates and date-times become 'YYYY-MM-DD' and 'YYYY-MM-DD HH:MM:SS' text (read in the
    site timezone when the report runs); a date-time with an offset becomes Unix time.
    """
    file = Path(path)
    suffix = file.suffix.lower()
    if suffix not in (".json", ".toml"):
        raise InputError(
            f"{file} is not a report configuration: the file must end in .json or .toml."
        )
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"Cannot read the report configuration {file} ({exc.strerror}).") from None
    except UnicodeDecodeError:
        raise InputError(f"The report configuration {file} is not UTF-8 text.") from None
    document: Any
    if suffix == ".json":
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(
                f"{file} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."
            ) from None
    else:
        try:
            document = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise InputError(f"{file} is not valid TOML: {exc}.") from None
    if not isinstance(document, dict):
        raise InputError(
            f"{file} must hold one object with the keys {', '.join(CONFIG_KEYS)}, "
            f"not {_describe(document)}."
        )
    plain = _plain(document, str(file))
    assert isinstance(plain, dict)
    return plain


def _plain(value: Any, where: str) -> Any:
    if isinstance(value, dict):
        return {str(key): _plain(item, where) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item, where) for item in value]
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            return int(value.timestamp())
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value != value:
        raise InputError(f"{where} holds nan, which is not a value a report can filter on.")
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise InputError(f"{where} holds {value!r}, which a report configuration cannot use.")


# -- building -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConfiguredQuery:
    """A configuration turned into a query in Moodle's conventions (`{table}`, `:p0` params).

    `params` holds every value the SQL binds; `columns` the output, in order. With
    `scope_marker`, the WHERE clause holds `%%SCOPE%%` where the report runner puts the scope
    condition over the `scope_columns` expressions.
    """

    sql: str
    params: dict[str, Any]
    columns: list[Column]
    source: str
    scope_columns: Mapping[ScopeColumn, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Moment:
    """A point in time, or a whole day [start, end) when the value was a date without time."""

    start: int
    end: int | None = None


class _Builder:
    def __init__(
        self,
        cfg: Mapping[str, Any],
        engine: Engine,
        timezone: ZoneInfo,
        now: int | None,
    ) -> None:
        self.cfg = cfg
        self.engine = engine
        self.timezone = timezone
        self.now = now
        self.params: dict[str, Any] = {}
        self.joins: set[str] = set()

    # Parameters and fields --------------------------------------------------------------

    def bind(self, value: Any) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return f":{name}"

    def field(self, name: Any, where: str) -> Field:
        if not isinstance(name, str) or not name:
            raise InputError(f"{where} must name a field, not {_describe(name)}.")
        found = self.source.fields.get(name)
        if found is None:
            raise InputError(
                f"Unknown field {name!r} in {where} for the source {self.source.name}; "
                f"choose one of: {', '.join(self.source.fields)}."
            )
        self.joins.update(found.joins)
        return found

    def expr(self, found: Field) -> str:
        return found.sql(self.engine)

    # The whole query ---------------------------------------------------------------------

    def build(self, scope_marker: bool) -> ConfiguredQuery:
        cfg = self.cfg
        if not isinstance(cfg, Mapping):
            raise InputError(f"A report configuration is an object, not {_describe(cfg)}.")
        unknown = [key for key in cfg if key not in CONFIG_KEYS]
        if unknown:
            raise InputError(
                f"Unknown key {unknown[0]!r} in the report configuration; "
                f"the keys are: {', '.join(CONFIG_KEYS)}."
            )
        self.source = self._source(cfg.get("source"))
        group_by = [
            self.field(name, f"group_by[{index}]")
            for index, name in enumerate(_list(cfg, "group_by"))
        ]
        if len({f.name for f in group_by}) != len(group_by):
            raise InputError("group_by names a field twice; name each field once.")
        aggregates = self._aggregates(_list(cfg, "aggregates"))
        grouped = bool(group_by or aggregates)
        selected = self._columns(cfg.get("columns"), group_by, grouped)
        names = [f.name for f, _label in selected] + [a.alias for a in aggregates]
        duplicate = next((n for n in names if names.count(n) > 1), None)
        if duplicate is not None:
            raise InputError(
                f"The report would have two columns called {duplicate!r}; list each field "
                "once and give aggregates other names with 'as'."
            )
        if not names:
            raise InputError(
                "The report configuration selects nothing; list fields in 'columns' "
                "(or 'group_by' with 'aggregates')."
            )
        grouped_names = {f.name for f in group_by}
        conditions = [*self.source.where]
        for index, item in enumerate(_list(cfg, "filters")):
            conditions.append(self._filter(item, f"filters[{index}]"))
        if scope_marker:
            conditions.append(SCOPE_MARKER)
        order = self._sort(_list(cfg, "sort"), aggregates, grouped, grouped_names)
        limit = self._limit(cfg.get("limit"))

        select = [f'{self.expr(f)} AS "{f.name}"' for f, _label in selected]
        select += [f'{a.sql} AS "{a.alias}"' for a in aggregates]
        lines = ["SELECT " + ",\n       ".join(select), self.source.base]
        lines += [join.sql for join in self._joins()]
        if conditions:
            lines.append("WHERE " + "\n  AND ".join(conditions))
        if group_by:
            lines.append("GROUP BY " + ", ".join(self.expr(f) for f in group_by))
        if order:
            lines.append("ORDER BY " + ", ".join(order))
        if limit is not None:
            lines.append(f"LIMIT {limit}")
        sql = "\n".join(lines)
        if ":now" in sql:
            self.params["now"] = int(time.time()) if self.now is None else self.now
        columns = [Column(f.name, f.kind, label) for f, label in selected]
        columns += [Column(a.alias, a.kind, a.label) for a in aggregates]
        return ConfiguredQuery(sql, self.params, columns, self.source.name, self.source.scope)

    def _source(self, value: Any) -> Source:
        if value is None:
            raise InputError(
                f"The report configuration needs a source; choose one of: {', '.join(SOURCES)}."
            )
        if not isinstance(value, str):
            raise InputError(f"source must be a name, not {_describe(value)}.")
        key = re.sub(r"[\s-]+", "_", value.strip().lower())
        source = SOURCES.get(key)
        if source is None:
            raise InputError(f"Unknown source {value!r}; choose one of: {', '.join(SOURCES)}.")
        return source

    def _joins(self) -> list[Join]:
        wanted = set(self.joins)
        for join in reversed(self.source.joins):
            if join.key in wanted:
                wanted.update(join.needs)
        return [join for join in self.source.joins if join.key in wanted]

    def _columns(
        self, value: Any, group_by: list[Field], grouped: bool
    ) -> list[tuple[Field, str | None]]:
        if value is None:
            return [(f, None) for f in group_by]
        if not isinstance(value, list):
            raise InputError(f"columns must be a list of field names, not {_describe(value)}.")
        selected: list[tuple[Field, str | None]] = []
        for index, item in enumerate(value):
            where = f"columns[{index}]"
            label: str | None = None
            if isinstance(item, Mapping):
                _keys(item, ("field", "label"), where)
                name = item.get("field")
                label = _label(item.get("label"), where)
            else:
                name = item
            found = self.field(name, where)
            if grouped and found.name not in {g.name for g in group_by}:
                raise InputError(
                    f"{where} shows {found.name}, which is not grouped; add it to group_by "
                    "or remove it from columns."
                )
            selected.append((found, label))
        return selected

    def _aggregates(self, items: list[Any]) -> list[_Aggregate]:
        result: list[_Aggregate] = []
        for index, item in enumerate(items):
            where = f"aggregates[{index}]"
            if not isinstance(item, Mapping):
                raise InputError(
                    f'{where} must be an object like {{fn = "count", field = "userid", '
                    f'as = "learners"}}, not {_describe(item)}.'
                )
            _keys(item, ("fn", "field", "as", "label"), where)
            fn = item.get("fn")
            if not isinstance(fn, str) or fn.strip().lower() not in AGGREGATES:
                raise InputError(
                    f"Unknown aggregate {fn!r} in {where}; choose one of: {', '.join(AGGREGATES)}."
                )
            fn = fn.strip().lower()
            name = item.get("field")
            found: Field | None = None
            kind: ColumnKind
            if name is None:
                if fn != "count":
                    raise InputError(f"{where}: {fn} needs a field.")
                sql, kind = "COUNT(*)", "int"
                default_alias = "count"
            else:
                found = self.field(name, where)
                expression = self.expr(found)
                kind = _aggregate_kind(fn, found, where)
                if fn == "count_distinct":
                    sql = f"COUNT(DISTINCT {expression})"
                else:
                    sql = f"{fn.upper()}({expression})"
                default_alias = f"{fn}_{found.name}"
            alias = item.get("as", default_alias)
            if not isinstance(alias, str) or not _NAME.fullmatch(alias):
                raise InputError(
                    f"{where}: 'as' must be a lower-case name of letters, digits and _ that "
                    f"starts with a letter, not {alias!r}."
                )
            if alias in self.source.fields and (found is None or alias != found.name):
                raise InputError(
                    f"{where}: {alias!r} is a field of the source {self.source.name}; "
                    "give the aggregate another name with 'as'."
                )
            result.append(_Aggregate(alias, sql, kind, _label(item.get("label"), where)))
        return result

    def _sort(
        self,
        items: list[Any],
        aggregates: list[_Aggregate],
        grouped: bool,
        grouped_names: set[str],
    ) -> list[str]:
        by_alias = {a.alias: a for a in aggregates}
        order: list[str] = []
        for index, item in enumerate(items):
            where = f"sort[{index}]"
            direction: Any = "asc"
            if isinstance(item, Mapping):
                _keys(item, ("field", "dir"), where)
                name = item.get("field")
                direction = item.get("dir", "asc")
            else:
                name = item
            if not isinstance(direction, str) or direction.strip().lower() not in ("asc", "desc"):
                raise InputError(f"{where}: dir must be asc or desc, not {direction!r}.")
            direction = direction.strip().upper()
            if isinstance(name, str) and name in by_alias:
                expression = by_alias[name].sql
            elif isinstance(name, str) and name in self.source.fields:
                found = self.field(name, where)
                if grouped and found.name not in grouped_names:
                    raise InputError(
                        f"{where} sorts by {name}, which is not grouped; sort by a group_by "
                        "field or an aggregate."
                    )
                expression = self.expr(found)
            else:
                choices = [*by_alias, *(sorted(grouped_names) if grouped else self.source.fields)]
                raise InputError(
                    f"Unknown field {name!r} in {where} for the source {self.source.name}; "
                    f"choose one of: {', '.join(choices)}."
                )
            # Empty values last on every engine (PostgreSQL would put them first when descending).
            order.append(f"CASE WHEN {expression} IS NULL THEN 1 ELSE 0 END")
            order.append(f"{expression} {direction}")
        return order

    def _limit(self, value: Any) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_LIMIT:
            raise InputError(
                f"limit must be a whole number from 1 to {MAX_LIMIT}, not {value!r}; leave it "
                "out for all rows ([reports] max_rows still applies)."
            )
        return value

    # Filters ------------------------------------------------------------------------------

    def _filter(self, item: Any, where: str) -> str:
        if not isinstance(item, Mapping):
            raise InputError(
                f'{where} must be an object like {{field = "username", op = "=", '
                f'value = "alice"}}, not {_describe(item)}.'
            )
        _keys(item, ("field", "op", "value", "values"), where)
        found = self.field(item.get("field"), where)
        op = _op(item.get("op"), where)
        expression = self.expr(found)
        if op in ("is null", "is not null"):
            if "value" in item or "values" in item:
                raise InputError(f"{where}: {op} takes no value.")
            return f"{expression} {op.upper()}"
        if "value" in item and "values" in item:
            raise InputError(f"{where}: give either value or values, not both.")
        raw = item.get("values", item.get("value"))
        what = f"{where} ({found.name} {op})"
        kind = found.kind
        if op == "like" and kind != "text":
            raise InputError(f"{what}: like works on text fields only; {found.name} is {kind}.")
        if kind == "bool" and op not in ("=", "!="):
            raise InputError(f"{what}: {found.name} is yes/no; use =, !=, is null or is not null.")
        if op in ("in", "not in", "between"):
            if not isinstance(raw, list):
                raise InputError(f"{what} needs a list of values, e.g. values = [1, 2].")
            if op == "between" and len(raw) != 2:
                raise InputError(f"{what} needs exactly two values: [low, high].")
            if not raw or len(raw) > MAX_IN_VALUES:
                raise InputError(f"{what} needs from 1 to {MAX_IN_VALUES} values.")
        elif raw is None or isinstance(raw, list):
            hint = " use is null" if raw is None else " give one value"
            raise InputError(f"{what} needs a value;{hint}.")
        if op == "like":
            if not isinstance(raw, str):
                raise InputError(f"{what}: like needs text, not {_describe(raw)}.")
            return f"LOWER({expression}) LIKE {self.bind(raw.lower())}"
        if kind == "timestamp":
            return self._time_filter(expression, op, raw, what)
        if op in ("in", "not in"):
            values = ", ".join(self.bind(_coerce(kind, v, what)) for v in raw)
            return f"{expression} {op.upper()} ({values})"
        if op == "between":
            low, high = (self.bind(_coerce(kind, v, what)) for v in raw)
            return f"{expression} BETWEEN {low} AND {high}"
        sql_op = "<>" if op == "!=" else op
        return f"{expression} {sql_op} {self.bind(_coerce(kind, raw, what))}"

    def _time_filter(self, expression: str, op: str, raw: Any, what: str) -> str:
        if op in ("in", "not in"):
            moments = [self._moment(v, what) for v in raw]
            if any(m.end is not None for m in moments):
                raise InputError(
                    f"{what}: in and not in on a time field take exact moments; for days "
                    "use between or >= and <."
                )
            values = ", ".join(self.bind(m.start) for m in moments)
            return f"{expression} {op.upper()} ({values})"
        if op == "between":
            low, high = (self._moment(v, what) for v in raw)
            lower = f"{expression} >= {self.bind(low.start)}"
            if high.end is None:
                return f"{lower} AND {expression} <= {self.bind(high.start)}"
            return f"{lower} AND {expression} < {self.bind(high.end)}"
        moment = self._moment(raw, what)
        if moment.end is None:
            sql_op = "<>" if op == "!=" else op
            return f"{expression} {sql_op} {self.bind(moment.start)}"
        start, end = moment.start, moment.end
        if op == "=":
            return f"{expression} >= {self.bind(start)} AND {expression} < {self.bind(end)}"
        if op == "!=":
            return f"({expression} < {self.bind(start)} OR {expression} >= {self.bind(end)})"
        if op == "<":
            return f"{expression} < {self.bind(start)}"
        if op == "<=":
            return f"{expression} < {self.bind(end)}"
        if op == ">":
            return f"{expression} >= {self.bind(end)}"
        assert op == ">=", op
        return f"{expression} >= {self.bind(start)}"

    def _moment(self, value: Any, what: str) -> _Moment:
        if isinstance(value, bool):
            raise InputError(f"{what}: a time is a date or a Unix time, not {value!r}.")
        if isinstance(value, int):
            return _Moment(value)
        if isinstance(value, datetime):
            if value.tzinfo is None:
                value = value.replace(tzinfo=self.timezone)
            return _Moment(int(value.timestamp()))
        if isinstance(value, date):
            value = value.isoformat()
        if isinstance(value, str):
            text = value.strip()
            if _INTEGER.fullmatch(text):
                return _Moment(int(text))
            start = parse_moment(text, self.timezone, what=what)
            if _BARE_DATE.fullmatch(text):
                return _Moment(start, parse_moment(text, self.timezone, end_of_day=True))
            return _Moment(start)
        raise InputError(
            f'{what}: a time is "YYYY-MM-DD", "YYYY-MM-DD HH:MM[:SS]" or a Unix time, '
            f"not {_describe(value)}."
        )


@dataclass(frozen=True)
class _Aggregate:
    alias: str
    sql: str
    kind: ColumnKind
    label: str | None


def _aggregate_kind(fn: str, found: Field, where: str) -> ColumnKind:
    if fn in ("count", "count_distinct"):
        return "int"
    if fn in ("sum", "avg"):
        if found.kind not in ("int", "float", "bool"):
            raise InputError(
                f"{where}: {fn} needs a number or yes/no field; {found.name} is {found.kind}."
            )
        if fn == "avg" or found.kind == "float":
            return "float"
        return "int"
    if found.kind == "bool":
        return "int"
    return found.kind


def _op(value: Any, where: str) -> str:
    if isinstance(value, str):
        op = " ".join(value.lower().split())
        op = _OP_ALIASES.get(op, op)
        if op in OPS:
            return op
    raise InputError(f"Unknown op {value!r} in {where}; choose one of: {', '.join(OPS)}.")


def _coerce(kind: ColumnKind, value: Any, what: str) -> Any:
    """A filter value as the field's kind; anything else is refused, never passed through."""
    if kind == "bool":
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, int) and value in (0, 1):
            return value
        if isinstance(value, str) and value.strip().lower() in (*_TRUE, *_FALSE):
            return 1 if value.strip().lower() in _TRUE else 0
        raise InputError(f"{what}: a yes/no field takes true or false, not {value!r}.")
    if kind == "int":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
            return int(value)
        raise InputError(f"{what}: this field takes whole numbers, not {value!r}.")
    if kind == "float":
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise InputError(f"{what}: this field takes numbers, not {value!r}.")
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise InputError(f"{what}: this field takes text, not {value!r}.")


def _list(cfg: Mapping[str, Any], key: str) -> list[Any]:
    value = cfg.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise InputError(f"{key} must be a list, not {_describe(value)}.")
    return value


def _keys(item: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
    unknown = [key for key in item if key not in allowed]
    if unknown:
        raise InputError(
            f"Unknown key {unknown[0]!r} in {where}; the keys are: {', '.join(allowed)}."
        )


def _label(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > 255:
        raise InputError(f"{where}: label must be text of 1 to 255 characters.")
    return value


def _describe(value: Any) -> str:
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def build_configured_sql(
    cfg: Mapping[str, Any],
    *,
    engine: Engine,
    timezone: ZoneInfo | None = None,
    now: int | None = None,
    scope_marker: bool = False,
) -> ConfiguredQuery:
    """Turn a report configuration into SQL for a Moodle database of `engine`.

    Dates in filters are read in `timezone` (UTC when not given); `now` (default: the current
    time) fills `:now` for fields that depend on it (enrolment_active). Any mistake in the
    configuration raises InputError naming the key and, for a name, the choices.
    """
    builder = _Builder(cfg, engine, timezone or ZoneInfo("UTC"), now)
    return builder.build(scope_marker)


def configured_report_spec(
    record_or_cfg: CustomReportRecord | Mapping[str, Any],
    validator: SqlValidator,
    *,
    name: str | None = None,
    description: str | None = None,
) -> BuiltinReport:
    """A config-built report as the report runner runs it.

    The SQL is checked by `validator` (so [reports] deny lists changed since the report was
    saved apply now) and written with `%%SCOPE%%` where the scope condition goes. The filter
    values are not Param defaults (they are not --param options): `bind` computes them when the
    report runs, so dates are read in the site timezone of that run and `:now` is its --as-of.
    """
    if isinstance(record_or_cfg, Mapping):
        cfg: Mapping[str, Any] = record_or_cfg
        title = name or "configured report"
        report_id: int | None = None
    else:
        if record_or_cfg.config is None:
            raise InputError(f"The custom report {record_or_cfg.name} is not config-built.")
        cfg = record_or_cfg.config
        title = record_or_cfg.name
        report_id = record_or_cfg.id
        if description is None:
            description = record_or_cfg.description
    engine = validator.engine
    validator(build_configured_sql(cfg, engine=engine).sql)
    query = build_configured_sql(cfg, engine=engine, scope_marker=True)

    def bind(context: ReportContext) -> dict[str, Any]:
        return build_configured_sql(
            cfg, engine=engine, timezone=context.timezone, now=context.now
        ).params

    return BuiltinReport(
        name=title,
        title=title,
        description=description or "",
        columns=tuple(query.columns),
        params=(),
        bind=bind,
        scope_columns=query.scope_columns,
        sql_text=query.sql,
        custom_id=report_id,
    )
