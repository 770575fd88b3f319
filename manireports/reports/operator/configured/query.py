"""Turning a report configuration into one SQLAlchemy Core query over the catalogue.

Only catalogue entries reach the statement: a configuration names fields, ops, aggregates and
formats, each looked up here and refused with the list of choices when unknown. Filter values
become bound parameters named p0, p1, ... in the order they appear, so the SQL never holds a
value and no value can be read as SQL, a table, a parameter or the scope marker.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from manireports.documents import refuse_unknown_keys
from manireports.errors import InputError
from manireports.export import Column, ColumnKind
from manireports.localtime import local_to_unix
from manireports.moodle.connection import Engine
from manireports.reports.operator.configured.buckets import split_bucket_name
from manireports.reports.operator.configured.buckets import tables_builder as bucket_builder
from manireports.reports.operator.configured.catalogue import (
    ONE,
    SOURCES,
    ZERO,
    Expression,
    Field,
    Join,
    Source,
    Tables,
    tables_for,
)
from manireports.reports.operator.configured.checks import (
    CONFIG_KEYS,
    describe,
    label_of,
    list_of,
)
from manireports.reports.operator.configured.formats import Format, parse_format
from manireports.reports.params import parse_moment
from manireports.scope import ScopeColumn
from manireports.sqlcheck.site import SCOPE_MARKER

MAX_LIMIT = 1_000_000
MAX_IN_VALUES = 1_000
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
AGGREGATES = ("count", "count_distinct", "sum", "avg", "min", "max", "percent")
# The and Moodle's words for the sources, accepted beside their names.
SOURCE_ALIASES = {
    "course_completions": "completions",
    "activity_completions": "activities",
    "log_events": "logs",
    "log": "logs",
    "standard_log": "logs",
}


@functools.cache
def _dialect(engine: Engine) -> sa.Dialect:
    """The dialect a configured query is compiled for, with `:name` parameters (the convention
    the runner and --show-sql read) and without the driver-specific casts some drivers add.
    Imported on first use: a command that only lists reports loads no dialect it does not use."""
    if engine == "mysql":
        from sqlalchemy.dialects.mysql.base import MySQLDialect

        return MySQLDialect(paramstyle="named")
    if engine == "postgresql":
        from sqlalchemy.dialects.postgresql.base import PGDialect

        return PGDialect(paramstyle="named")  # type: ignore[no-untyped-call]
    from sqlalchemy.dialects.sqlite.base import SQLiteDialect

    return SQLiteDialect(paramstyle="named")


_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")
_BARE_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# A day relative to the run: "today", "yesterday", "30 days ago", "2 weeks ago", "6 months ago".
_RELATIVE_DAY = re.compile(r"(today|yesterday|(\d+) +(day|week|month|year)s? +ago)", re.IGNORECASE)
_INTEGER = re.compile(r"[+-]?\d+")
_OP_ALIASES = {"<>": "!=", "==": "="}
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")
_PERCENT_FORMAT = Format("number", 1)


@dataclass(frozen=True)
class ConfiguredQuery:
    """A configuration compiled for one Moodle database.

    `sql` has the site's table names and `:p0`-style parameters whose values are in `params`;
    `columns` are the output, in order, with `formats` (None where the raw value is shown).
    With `scope_marker`, the WHERE clause holds `%%SCOPE%%` where the report runner puts the
    scope condition over the `scope_columns` expressions. `reads` lists the unprefixed
    `table.column` pairs the query touches, for the [reports] deny and allow lists.
    """

    sql: str
    params: dict[str, Any]
    columns: list[Column]
    formats: list[Format | None]
    source: str
    scope_columns: Mapping[ScopeColumn, str] = field(default_factory=dict)
    reads: frozenset[str] = frozenset()


def build_configured_sql(
    cfg: Mapping[str, Any],
    *,
    engine: Engine,
    prefix: str = "mdl_",
    timezone: ZoneInfo | None = None,
    now: int | None = None,
    scope_marker: bool = False,
) -> ConfiguredQuery:
    """Turn a report configuration into SQL for a Moodle database of `engine` and `prefix`.

    Dates in filters are read in `timezone` (UTC when not given); `now` (default: the current
    time) is the moment fields such as enrolment_active depend on. Any mistake in the
    configuration raises InputError naming the key and, for a name, the choices.
    """
    builder = _Builder(cfg, tables_for(prefix), timezone or ZoneInfo("UTC"), now)
    statement, built = builder.build(scope_marker)
    dialect = _dialect(engine)
    compiled = statement.compile(dialect=dialect)
    params = dict(compiled.params)
    if "now" in params:
        params["now"] = int(time.time()) if now is None else now
    scope = {
        name: str(build(builder.tables).compile(dialect=dialect))
        for name, build in builder.source.scope.items()
    }
    return ConfiguredQuery(
        sql=compiled.string,
        params=params,
        columns=[c for c, _f in built],
        formats=[f for _c, f in built],
        source=builder.source.name,
        scope_columns=scope,
        reads=_reads(statement, builder.tables.prefix),
    )


def _reads(statement: sa.Select[Any], prefix: str) -> frozenset[str]:
    found: set[str] = set()
    for element in sa.sql.visitors.iterate(statement):
        if isinstance(element, sa.Column) and isinstance(element.table, sa.Alias):
            table = element.table.element
            assert isinstance(table, sa.Table)
            found.add(f"{table.name.removeprefix(prefix)}.{element.name}")
    return frozenset(found)


@dataclass(frozen=True)
class _Moment:
    """A point in time, or a whole day [start, end) when the value was a date without time."""

    start: int
    end: int | None = None


@dataclass(frozen=True)
class _Aggregate:
    alias: str
    expression: Expression
    kind: ColumnKind
    label: str | None
    format: Format | None


class _Builder:
    def __init__(
        self, cfg: Mapping[str, Any], tables: Tables, timezone: ZoneInfo, now: int | None = None
    ) -> None:
        self.cfg = cfg
        self.tables = tables
        self.timezone = timezone
        self.now = int(time.time()) if now is None else now
        self.bound = 0
        self.joins: set[str] = set()
        self.source: Source = SOURCES["users"]
        # Time buckets made so far, so every use of one shares its bound slots.
        self.buckets: dict[str, Field] = {}

    # Parameters and fields --------------------------------------------------------------

    def bind(self, value: Any) -> sa.BindParameter[Any]:
        name = f"p{self.bound}"
        self.bound += 1
        return sa.bindparam(name, value)

    def field(self, name: Any, where: str) -> Field:
        if not isinstance(name, str) or not name:
            raise InputError(f"{where} must name a field, not {describe(name)}.")
        found = self.source.fields.get(name) or self._bucket_field(name)
        if found is None:
            raise InputError(
                f"Unknown field {name!r} in {where} for the source {self.source.name}; "
                f"choose one of: {', '.join(self.source.fields)}."
            )
        self.joins.update(found.joins)
        return found

    def _bucket_field(self, name: str) -> Field | None:
        """`<time field>_by_day|week|month`: the field's day, week or month (buckets.py)."""
        if name in self.buckets:
            return self.buckets[name]
        split = split_bucket_name(name)
        base = self.source.fields.get(split[0]) if split else None
        if split is None or base is None or base.kind != "timestamp":
            return None
        build = bucket_builder(base, split[1], self.bind, self.timezone)
        self.buckets[name] = Field(name, build, "text", base.joins)
        return self.buckets[name]

    def expr(self, found: Field) -> Expression:
        return found.build(self.tables)

    # The whole query ---------------------------------------------------------------------

    def build(
        self, scope_marker: bool
    ) -> tuple[sa.Select[Any], list[tuple[Column, Format | None]]]:
        cfg = self.cfg
        if not isinstance(cfg, Mapping):
            raise InputError(f"A report configuration is an object, not {describe(cfg)}.")
        refuse_unknown_keys(cfg, CONFIG_KEYS, "the report configuration")
        self.source = self._source(cfg.get("source"))
        group_by = [
            self.field(name, f"group_by[{index}]")
            for index, name in enumerate(list_of(cfg, "group_by"))
        ]
        if len({f.name for f in group_by}) != len(group_by):
            raise InputError("group_by names a field twice; name each field once.")
        aggregates = self._aggregates(list_of(cfg, "aggregates"))
        grouped = bool(group_by or aggregates)
        selected = self._columns(cfg.get("columns"), group_by, grouped)
        names = [f.name for f, _label, _format in selected] + [a.alias for a in aggregates]
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
        conditions: list[sa.ColumnElement[bool]] = list(self.source.where(self.tables))
        for index, item in enumerate(list_of(cfg, "filters")):
            conditions.append(self._filter(item, f"filters[{index}]"))
        if scope_marker:
            conditions.append(sa.text(SCOPE_MARKER))  # type: ignore[arg-type]
        order = self._sort(list_of(cfg, "sort"), aggregates, grouped, grouped_names)
        limit = self._limit(cfg.get("limit"))

        output = [self.expr(f).label(f.name) for f, _label, _format in selected]
        output += [a.expression.label(a.alias) for a in aggregates]
        statement = sa.select(*output).select_from(self._from()).where(*conditions)
        if group_by:
            statement = statement.group_by(*(self.expr(f) for f in group_by))
        if order:
            statement = statement.order_by(*order)
        if limit is not None:
            # A checked whole number; written as it is so --show-sql reads `LIMIT 20`.
            statement = statement.limit(sa.literal_column(str(limit), sa.Integer())).offset(ZERO)
        columns = [
            (Column(f.name, fmt.kind() if fmt else f.kind, label, label is not None), fmt)
            for f, label, fmt in selected
        ]
        columns += [
            (
                Column(
                    a.alias,
                    a.format.kind() if a.format else a.kind,
                    a.label,
                    a.label is not None,
                ),
                a.format,
            )
            for a in aggregates
        ]
        return statement, columns

    def _source(self, value: Any) -> Source:
        choices = ", ".join(SOURCES)
        if value is None:
            raise InputError(f"The report configuration needs a source; choose one of: {choices}.")
        if not isinstance(value, str):
            raise InputError(f"source must be a name, not {describe(value)}.")
        key = re.sub(r"[\s-]+", "_", value.strip().lower())
        source = SOURCES.get(SOURCE_ALIASES.get(key, key))
        if source is None:
            raise InputError(f"Unknown source {value!r}; choose one of: {choices}.")
        return source

    def _from(self) -> sa.FromClause:
        wanted = set(self.joins)
        for join in reversed(self.source.joins):
            if join.key in wanted:
                wanted.update(join.needs)
        joined = self.source.base(self.tables)
        needed: list[Join] = [join for join in self.source.joins if join.key in wanted]
        for join in needed:
            joined = joined.outerjoin(join.target(self.tables), join.on(self.tables))
        return joined

    def _columns(
        self, value: Any, group_by: list[Field], grouped: bool
    ) -> list[tuple[Field, str | None, Format | None]]:
        if value is None:
            return [(f, None, None) for f in group_by]
        if not isinstance(value, list):
            raise InputError(f"columns must be a list of field names, not {describe(value)}.")
        selected: list[tuple[Field, str | None, Format | None]] = []
        for index, item in enumerate(value):
            where = f"columns[{index}]"
            label: str | None = None
            fmt: Format | None = None
            if isinstance(item, Mapping):
                refuse_unknown_keys(item, ("field", "label", "format", "decimals"), where)
                found = self.field(item.get("field"), where)
                label = label_of(item.get("label"), where)
                fmt = parse_format(item, found.kind, found.name, where)
            else:
                found = self.field(item, where)
            if grouped and found.name not in {g.name for g in group_by}:
                raise InputError(
                    f"{where} shows {found.name}, which is not grouped; add it to group_by "
                    "or remove it from columns."
                )
            selected.append((found, label, fmt))
        return selected

    def _aggregates(self, items: list[Any]) -> list[_Aggregate]:
        result: list[_Aggregate] = []
        for index, item in enumerate(items):
            where = f"aggregates[{index}]"
            if not isinstance(item, Mapping):
                raise InputError(
                    f'{where} must be an object like {{fn = "count", field = "userid", '
                    f'as = "learners"}}, not {describe(item)}.'
                )
            refuse_unknown_keys(item, ("fn", "field", "as", "label", "format", "decimals"), where)
            fn = item.get("fn")
            if not isinstance(fn, str) or fn.strip().lower() not in AGGREGATES:
                raise InputError(
                    f"Unknown aggregate {fn!r} in {where}; choose one of: {', '.join(AGGREGATES)}."
                )
            fn = fn.strip().lower()
            name = item.get("field")
            found: Field | None = None
            if name is None:
                if fn != "count":
                    raise InputError(f"{where}: {fn} needs a field.")
                expression: Expression = sa.func.count()
                kind: ColumnKind = "int"
                default_alias = "count"
            else:
                found = self.field(name, where)
                expression, kind = _aggregate(fn, found, self.expr(found), where)
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
            fmt = parse_format(item, kind, alias, where)
            if fn == "percent":
                if fmt is not None and fmt.name == "percent":
                    raise InputError(
                        f"{where}: percent already counts in percent; use format number to "
                        "choose its decimals."
                    )
                fmt = fmt or _PERCENT_FORMAT
            label = label_of(item.get("label"), where)
            result.append(_Aggregate(alias, expression, kind, label, fmt))
        return result

    def _sort(
        self,
        items: list[Any],
        aggregates: list[_Aggregate],
        grouped: bool,
        grouped_names: set[str],
    ) -> list[sa.ColumnElement[Any]]:
        by_alias = {a.alias: a for a in aggregates}
        order: list[sa.ColumnElement[Any]] = []
        for index, item in enumerate(items):
            where = f"sort[{index}]"
            direction: Any = "asc"
            if isinstance(item, Mapping):
                refuse_unknown_keys(item, ("field", "dir"), where)
                name = item.get("field")
                direction = item.get("dir", "asc")
            else:
                name = item
            if not isinstance(direction, str) or direction.strip().lower() not in ("asc", "desc"):
                raise InputError(f"{where}: dir must be asc or desc, not {direction!r}.")
            if isinstance(name, str) and name in by_alias:
                expression = by_alias[name].expression
            elif isinstance(name, str) and (name in self.source.fields or name in grouped_names):
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
            order.append(sa.case((expression.is_(None), ONE), else_=ZERO))
            descending = direction.strip().lower() == "desc"
            order.append(expression.desc() if descending else expression.asc())
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

    def _filter(self, item: Any, where: str) -> sa.ColumnElement[bool]:
        if not isinstance(item, Mapping):
            raise InputError(
                f'{where} must be an object like {{field = "username", op = "=", '
                f'value = "alice"}}, not {describe(item)}.'
            )
        refuse_unknown_keys(item, ("field", "op", "value", "values"), where)
        found = self.field(item.get("field"), where)
        op = _op(item.get("op"), where)
        expression = self.expr(found)
        if op in ("is null", "is not null"):
            if "value" in item or "values" in item:
                raise InputError(f"{where}: {op} takes no value.")
            return expression.is_(None) if op == "is null" else expression.is_not(None)
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
                raise InputError(f"{what}: like needs text, not {describe(raw)}.")
            return sa.func.lower(expression).like(self.bind(raw.lower()))
        if kind == "timestamp":
            return self._time_filter(expression, op, raw, what)
        if op in ("in", "not in"):
            values = [self.bind(_coerce(kind, v, what)) for v in raw]
            return expression.in_(values) if op == "in" else expression.not_in(values)
        if op == "between":
            low, high = (self.bind(_coerce(kind, v, what)) for v in raw)
            return expression.between(low, high)
        return _compare(expression, op, self.bind(_coerce(kind, raw, what)))

    def _time_filter(
        self, expression: Expression, op: str, raw: Any, what: str
    ) -> sa.ColumnElement[bool]:
        if op in ("in", "not in"):
            moments = [self._moment(v, what) for v in raw]
            if any(m.end is not None for m in moments):
                raise InputError(
                    f"{what}: in and not in on a time field take exact moments; for days "
                    "use between or >= and <."
                )
            values = [self.bind(m.start) for m in moments]
            return expression.in_(values) if op == "in" else expression.not_in(values)
        if op == "between":
            low, high = (self._moment(v, what) for v in raw)
            lower = expression >= self.bind(low.start)
            if high.end is None:
                return sa.and_(lower, expression <= self.bind(high.start))
            return sa.and_(lower, expression < self.bind(high.end))
        moment = self._moment(raw, what)
        if moment.end is None:
            return _compare(expression, op, self.bind(moment.start))
        start, end = moment.start, moment.end
        if op == "=":
            return sa.and_(expression >= self.bind(start), expression < self.bind(end))
        if op == "!=":
            return sa.or_(expression < self.bind(start), expression >= self.bind(end))
        if op == "<":
            return expression < self.bind(start)
        if op == "<=":
            return expression < self.bind(end)
        if op == ">":
            return expression >= self.bind(end)
        assert op == ">=", op
        return expression >= self.bind(start)

    def _moment(self, value: Any, what: str) -> _Moment:
        if isinstance(value, bool):
            raise InputError(f"{what}: a time is a date or a Unix time, not {value!r}.")
        if isinstance(value, int):
            return _Moment(value)
        if isinstance(value, datetime):
            if value.tzinfo is None:
                return _Moment(local_to_unix(value, self.timezone))
            return _Moment(int(value.timestamp()))
        if isinstance(value, date):
            value = value.isoformat()
        if isinstance(value, str):
            text = value.strip()
            if _INTEGER.fullmatch(text):
                return _Moment(int(text))
            relative = _RELATIVE_DAY.fullmatch(text)
            if relative:
                text = _relative_day_of(relative, self.now, self.timezone).isoformat()
            start = parse_moment(text, self.timezone, what=what)
            if _BARE_DATE.fullmatch(text):
                return _Moment(start, parse_moment(text, self.timezone, end_of_day=True))
            return _Moment(start)
        raise InputError(
            f'{what}: a time is "YYYY-MM-DD", "YYYY-MM-DD HH:MM[:SS]" or a Unix time, '
            f"not {describe(value)}."
        )


def _relative_day_of(match: re.Match[str], now: int, timezone: ZoneInfo) -> date:
    """The calendar day a relative value names, counted back from the run's day."""
    from dateutil.relativedelta import relativedelta

    today = datetime.fromtimestamp(now, timezone).date()
    word = match.group(1).lower()
    if word == "today":
        return today
    if word == "yesterday":
        return today - relativedelta(days=1)
    count, unit = int(match.group(2)), match.group(3).lower()
    steps = {
        "day": relativedelta(days=count),
        "week": relativedelta(weeks=count),
        "month": relativedelta(months=count),
        "year": relativedelta(years=count),
    }
    return today - steps[unit]


def _compare(
    expression: Expression, op: str, value: sa.BindParameter[Any]
) -> sa.ColumnElement[bool]:
    if op == "=":
        return expression == value
    if op == "!=":
        return expression != value
    if op == "<":
        return expression < value
    if op == "<=":
        return expression <= value
    if op == ">":
        return expression > value
    assert op == ">=", op
    return expression >= value


def _aggregate(
    fn: str, found: Field, expression: Expression, where: str
) -> tuple[Expression, ColumnKind]:
    """The aggregate's expression and the kind of its result."""
    if fn == "count":
        return sa.func.count(expression), "int"
    if fn == "count_distinct":
        return sa.func.count(sa.distinct(expression)), "int"
    if fn == "percent":
        if found.kind != "bool":
            raise InputError(
                f"{where}: percent needs a yes/no field; {found.name} is {found.kind}."
            )
        # The share of the group's rows where the field is true, among those where it is not
        # empty, in percent; rounded when the rows are written (see formats).
        hundred = sa.case(
            (expression == ZERO, sa.literal_column("0.0")),
            (expression.is_not(None), sa.literal_column("100.0")),
        )
        return sa.func.avg(hundred), "float"
    if fn in ("sum", "avg"):
        if found.kind not in ("int", "float", "bool"):
            raise InputError(
                f"{where}: {fn} needs a number or yes/no field; {found.name} is {found.kind}."
            )
        kind: ColumnKind = "float" if fn == "avg" or found.kind == "float" else "int"
        return getattr(sa.func, fn)(expression), kind
    return getattr(sa.func, fn)(expression), "int" if found.kind == "bool" else found.kind


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
