"""Time fields grouped by day, week or month of the site timezone, the same on every engine.

`enrolled_by_month` (any time field, then `_by_day`, `_by_week` or `_by_month`) is the calendar
day (YYYY-MM-DD), the Monday starting the ISO week (YYYY-MM-DD) or the month (YYYY-MM) in the
site timezone. SQLite has no time zones and MariaDB only when its zone tables are loaded, so the
UTC offset is computed by the query itself: a CASE over the zone's offset changes, whose times
and offsets are bound parameters. The SQL is the same for every zone (a fixed number of slots,
unused ones pointing past the end of time) because a report's SQL is checked once and bound at
each run in that run's timezone. The slots cover 1990-2059, two changes a year on average: 140
changes, enough for every zone but four (Gaza, Hebron, Azores, Chisinau), whose changes after
the 140th are not applied; outside those years the nearest offset holds.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from manireports.reports.operator.configured.catalogue import Field, Tables

UNITS = ("day", "week", "month")
FIRST_YEAR, END_YEAR = 1990, 2060
SLOTS = 2 * (END_YEAR - FIRST_YEAR)
# Later than any Unix time a Moodle stores: a slot that never applies.
NEVER = 2**62
DAY = 86_400


@functools.cache
def offset_changes(zone: ZoneInfo) -> tuple[int, tuple[tuple[int, int], ...]]:
    """The zone's UTC offset at the start of FIRST_YEAR, then (moment, new offset) per change."""

    def offset(moment: int) -> int:
        delta = datetime.fromtimestamp(moment, zone).utcoffset()
        return int(delta.total_seconds()) if delta else 0

    start = int(datetime(FIRST_YEAR, 1, 1, tzinfo=UTC).timestamp())
    end = int(datetime(END_YEAR, 1, 1, tzinfo=UTC).timestamp())
    first = current = offset(start)
    changes: list[tuple[int, int]] = []
    step = 6 * 3600
    moment = start
    while moment < end:
        following = moment + step
        if offset(following) != current:
            low, high = moment, following
            while high - low > 1:
                middle = (low + high) // 2
                if offset(middle) == current:
                    low = middle
                else:
                    high = middle
            current = offset(high)
            changes.append((high, current))
        moment = following
    return first, tuple(changes)


def slot_values(zone: ZoneInfo) -> list[int]:
    """[first offset, moment 1, offset 1, ..., moment SLOTS, offset SLOTS] for the bound slots."""
    first, changes = offset_changes(zone)
    kept = list(changes[:SLOTS])
    last = kept[-1][1] if kept else first
    kept += [(NEVER, last)] * (SLOTS - len(kept))
    values = [first]
    for moment, offset in kept:
        values += [moment, offset]
    return values


class _EpochDate(FunctionElement[str]):
    """The calendar date (YYYY-MM-DD text) of a number of seconds after 1970-01-01 00:00."""

    type = sa.String()
    name = "epoch_date"
    inherit_cache = True


@compiles(_EpochDate, "sqlite")
def _sqlite(element: _EpochDate, compiler: SQLCompiler, **kw: Any) -> str:
    return f"date({compiler.process(element.clauses, **kw)}, 'unixepoch')"


@compiles(_EpochDate, "postgresql")
def _postgresql(element: _EpochDate, compiler: SQLCompiler, **kw: Any) -> str:
    seconds = compiler.process(element.clauses, **kw)
    return f"CAST(CAST(to_timestamp({seconds}) AT TIME ZONE 'UTC' AS DATE) AS TEXT)"


@compiles(_EpochDate, "mysql")
def _mysql(element: _EpochDate, compiler: SQLCompiler, **kw: Any) -> str:
    seconds = compiler.process(element.clauses, **kw)
    return f"CAST(DATE(DATE_ADD('1970-01-01', INTERVAL {seconds} SECOND)) AS CHAR(10))"


def tables_builder(
    base: Field, unit: str, bind: Callable[[Any], sa.BindParameter[Any]], zone: ZoneInfo
) -> Callable[[Tables], Any]:
    """The bucket of the time field `base` as a catalogue build function; its slots are bound
    now through `bind`, so every use of the field (columns, grouping, sorting) shares them."""
    params = [bind(value) for value in slot_values(zone)]

    def build(tables: Tables) -> Any:
        seconds = sa.cast(base.build(tables), sa.BigInteger())
        whens = [(seconds < params[1 + 2 * index], params[2 * index]) for index in range(SLOTS)]
        local = seconds + sa.case(*whens, else_=params[-1])
        if unit == "week":
            # Literals, not parameters: PostgreSQL must see the grouped expression as the same
            # text in SELECT and GROUP BY.
            day, three, seven = (sa.literal_column(str(n), sa.BigInteger()) for n in (DAY, 3, 7))
            days = local // day
            local = (days - (days + three) % seven) * day
        text = _EpochDate(local)
        if unit == "month":
            return sa.func.substr(text, sa.literal_column("1"), sa.literal_column("7"))
        return text

    return build


def split_bucket_name(name: str) -> tuple[str, str] | None:
    """('enrolled', 'month') for 'enrolled_by_month'; None for any other name."""
    base, sep, unit = name.rpartition("_by_")
    return (base, unit) if sep and base and unit in UNITS else None
