"""Config-built reports against hand-written SQL on the demo site, on every engine.

Each configuration below is paired with a query written independently, straight from Moodle's
tables: the two must agree row for row. The demo's site timezone is Europe/London (its
`timezone` setting), so date filters are read there; the bounds the hand-written queries use are
worked out in the comments.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from manireports.demo import build_demo
from manireports.moodle.connection import MoodleDB
from manireports.reports.operator.configured import build_configured_sql
from manireports.reports.operator.configured.formats import row_formatter
from manireports.sqltext import render_sql
from tests.conftest import ENGINES, fresh_database

LONDON = ZoneInfo("Europe/London")


@pytest.fixture(scope="module", params=ENGINES)
def demo(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MoodleDB]:
    for url in fresh_database(request.param, tmp_path_factory.mktemp("demo")):
        build_demo(url, size="small", seed=7, anchor=date(2026, 6, 1))
        db = MoodleDB(url)
        try:
            yield db
        finally:
            db.dispose()


def _plain(value: Any) -> Any:
    """Numbers as the same Python value on every engine (Decimal, float, int)."""
    if isinstance(value, Decimal | float):
        number = round(float(value), 4)
        return int(number) if number.is_integer() else number
    return value


def built(db: MoodleDB, cfg: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    """The rows of a configuration as the runner writes them (formats applied)."""
    query = build_configured_sql(cfg, engine=db.engine_name, prefix=db.prefix, timezone=LONDON)
    rows: Iterator[tuple[Any, ...]] = iter(db.fetch_all(query.sql, query.params))
    formatter = row_formatter(query.formats)
    if formatter is not None:
        rows = formatter(rows, LONDON)
    return [tuple(_plain(v) for v in row) for row in rows]


def hand(db: MoodleDB, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
    rendered = render_sql(sql, db.prefix, {db.engine_name})
    return [tuple(_plain(v) for v in row) for row in db.fetch_all(rendered, params or {})]


def utc(*parts: int) -> int:
    return int(datetime(*parts, tzinfo=UTC).timestamp())


def test_plain_columns_with_filters(demo: MoodleDB) -> None:
    cfg = {
        "source": "users",
        "columns": ["username", "fullname", "city", "lastaccess"],
        "filters": [
            {"field": "auth", "op": "=", "value": "manual"},
            {"field": "lastaccess", "op": "is not null"},
            {"field": "username", "op": "like", "value": "%A%"},
            {"field": "user_suspended", "op": "=", "value": False},
        ],
        "sort": ["username"],
    }
    expected = hand(
        demo,
        """
        SELECT u.username,
               CONCAT(u.firstname, ' ', u.lastname),  -- if mysql
               u.firstname || ' ' || u.lastname,  -- if !mysql
               u.city, u.lastaccess
          FROM {user} u
         WHERE u.deleted = 0 AND u.username <> 'guest'
           AND u.auth = 'manual' AND u.lastaccess <> 0 AND u.suspended = 0
           AND LOWER(u.username) LIKE '%a%'
         ORDER BY u.username
        """,
    )
    assert len(expected) > 10
    assert built(demo, cfg) == expected


def test_grouping_with_every_aggregate(demo: MoodleDB) -> None:
    cfg = {
        "source": "enrolments",
        "group_by": ["course_shortname"],
        "aggregates": [
            {"fn": "count", "as": "enrolments"},
            {"fn": "count_distinct", "field": "userid", "as": "learners"},
            {"fn": "sum", "field": "completed", "as": "completed"},
            {"fn": "avg", "field": "completed", "as": "average"},
            {"fn": "min", "field": "enrolled", "as": "first"},
            {"fn": "max", "field": "course_lastaccess", "as": "last_access"},
            {"fn": "percent", "field": "completed", "as": "completion_rate"},
        ],
        "sort": ["course_shortname"],
    }
    expected = hand(
        demo,
        """
        SELECT c.shortname, COUNT(*), COUNT(DISTINCT ue.userid),
               SUM(CASE WHEN cc.timecompleted > 0 THEN 1 ELSE 0 END),
               AVG(CASE WHEN cc.timecompleted > 0 THEN 1 ELSE 0 END),
               MIN(CASE WHEN ue.timecreated <> 0 THEN ue.timecreated END),
               MAX(CASE WHEN ula.timeaccess <> 0 THEN ula.timeaccess END),
               ROUND(100.0 * SUM(CASE WHEN cc.timecompleted > 0 THEN 1 ELSE 0 END) / COUNT(*), 1)
          FROM {user_enrolments} ue
          JOIN {enrol} e ON e.id = ue.enrolid
          JOIN {user} u ON u.id = ue.userid
          JOIN {course} c ON c.id = e.courseid
          LEFT JOIN {course_completions} cc ON cc.userid = ue.userid AND cc.course = e.courseid
          LEFT JOIN {user_lastaccess} ula ON ula.userid = ue.userid AND ula.courseid = e.courseid
         WHERE u.deleted = 0
         GROUP BY c.shortname
         ORDER BY c.shortname
        """,
    )
    assert len(expected) == 15 and any(row[3] for row in expected)
    assert built(demo, cfg) == expected


def test_sorting_by_an_aggregate_and_limit(demo: MoodleDB) -> None:
    cfg = {
        "source": "quiz_attempts",
        "group_by": ["course_shortname", "quiz_name"],
        "aggregates": [
            {"fn": "avg", "field": "grade", "as": "average"},
            {"fn": "max", "field": "time_taken_seconds", "as": "longest"},
        ],
        "filters": [{"field": "state", "op": "in", "values": ["finished", "overdue"]}],
        "sort": [{"field": "average", "dir": "desc"}, "course_shortname", "quiz_name"],
        "limit": 7,
    }
    expected = hand(
        demo,
        """
        SELECT c.shortname, q.name,
               -- SQLite stores whole grades as integers and would divide them as integers.
               AVG(CASE WHEN q.sumgrades > 0 THEN  -- if !sqlite
                   qa.sumgrades * q.grade / q.sumgrades END) AS a,  -- if !sqlite
               AVG(CASE WHEN q.sumgrades > 0 THEN  -- if sqlite
                   CAST(qa.sumgrades AS REAL) * q.grade / q.sumgrades END) AS a,  -- if sqlite
               MAX(CASE WHEN qa.timefinish > 0 AND qa.timestart > 0
                        THEN qa.timefinish - qa.timestart END)
          FROM {quiz_attempts} qa
          JOIN {quiz} q ON q.id = qa.quiz
          JOIN {course} c ON c.id = q.course
          JOIN {user} u ON u.id = qa.userid
         WHERE qa.preview = 0 AND u.deleted = 0 AND qa.state IN ('finished', 'overdue')
         GROUP BY c.shortname, q.name
         ORDER BY CASE WHEN AVG(CASE WHEN q.sumgrades > 0 THEN qa.sumgrades END) IS NULL
                       THEN 1 ELSE 0 END,
                  a DESC, c.shortname, q.name
         LIMIT 7
        """,
    )
    assert len(expected) == 7
    assert built(demo, cfg) == expected


def test_a_month_of_enrolments_per_method_in_the_site_timezone(demo: MoodleDB) -> None:
    cfg = {
        "source": "enrolments",
        "group_by": ["enrol_method"],
        "aggregates": [{"fn": "count", "as": "enrolments"}],
        "filters": [{"field": "enrolled", "op": "between", "values": ["2026-03-01", "2026-03-31"]}],
        "sort": ["enrol_method"],
    }
    # London is on GMT (UTC+0) on 1 March and on BST (UTC+1) from 29 March 2026, so the month is
    # [2026-03-01 00:00 UTC, 2026-04-01 00:00 BST = 2026-03-31 23:00 UTC).
    bounds = {"start": utc(2026, 3, 1, 0, 0), "end": utc(2026, 3, 31, 23, 0)}
    expected = hand(
        demo,
        """
        SELECT e.enrol, COUNT(*)
          FROM {user_enrolments} ue
          JOIN {enrol} e ON e.id = ue.enrolid
          JOIN {user} u ON u.id = ue.userid
         WHERE u.deleted = 0 AND ue.timecreated >= :start AND ue.timecreated < :end
         GROUP BY e.enrol
         ORDER BY e.enrol
        """,
        bounds,
    )
    assert sum(row[1] for row in expected) > 10
    assert built(demo, cfg) == expected


def test_one_day_of_log_events_in_the_site_timezone(demo: MoodleDB) -> None:
    cfg = {
        "source": "logs",
        "group_by": ["component", "crud"],
        "aggregates": [
            {"fn": "count", "as": "events"},
            {"fn": "count_distinct", "field": "userid", "as": "users"},
        ],
        "filters": [
            {"field": "timecreated", "op": "=", "value": "2026-05-10"},
            {"field": "edulevel", "op": ">", "value": 0},
        ],
        "sort": [{"field": "events", "dir": "desc"}, "component", "crud"],
    }
    # 10 May 2026 in London (BST, UTC+1) is [2026-05-09 23:00 UTC, 2026-05-10 23:00 UTC).
    bounds = {"start": utc(2026, 5, 9, 23, 0), "end": utc(2026, 5, 10, 23, 0)}
    expected = hand(
        demo,
        """
        SELECT l.component, l.crud, COUNT(*) AS n, COUNT(DISTINCT l.userid)
          FROM {logstore_standard_log} l
         WHERE l.timecreated >= :start AND l.timecreated < :end AND l.edulevel > 0
         GROUP BY l.component, l.crud
         ORDER BY n DESC, l.component, l.crud
        """,
        bounds,
    )
    assert len(expected) > 3
    assert built(demo, cfg) == expected


def test_activity_completion_rate_per_module_type(demo: MoodleDB) -> None:
    cfg = {
        "source": "activity completions",
        "group_by": ["module"],
        "aggregates": [
            {"fn": "count_distinct", "field": "activityid", "as": "activities"},
            {
                "fn": "percent",
                "field": "activity_completed",
                "as": "done",
                "format": "number",
                "decimals": 2,
            },
        ],
        "filters": [{"field": "completion_tracking", "op": ">", "value": 0}],
        "sort": ["module"],
    }
    expected = hand(
        demo,
        """
        SELECT m.name, COUNT(DISTINCT cm.id),
               ROUND(100.0 * SUM(CASE WHEN cmc.completionstate IN (1, 2) THEN 1 ELSE 0 END)
                     / COUNT(*), 2)
          FROM {course_modules} cm
          JOIN {modules} m ON m.id = cm.module
          LEFT JOIN {course_modules_completion} cmc ON cmc.coursemoduleid = cm.id
          LEFT JOIN {user} u ON u.id = cmc.userid
         WHERE cm.deletioninprogress = 0 AND (cmc.id IS NULL OR u.deleted = 0)
           AND cm.completion > 0
         GROUP BY m.name
         ORDER BY m.name
        """,
    )
    assert len(expected) > 2
    assert built(demo, cfg) == expected
