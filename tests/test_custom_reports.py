"""Custom reports: storage on every state database engine, validation on
create, update and run, report_customsql's parameter and token conventions, and custom SQL run on a
hand-made Moodle site on every engine."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from manireports.config import load_config
from manireports.errors import ConfigError, InputError
from manireports.moodle.connection import MoodleDB
from manireports.moodle.detect import SiteInfo
from manireports.reports.operator.custom import (
    CustomReportRecord,
    custom_report_spec,
    delete_custom_report,
    fill_output_tokens,
    fill_tokens,
    get_custom_report,
    list_custom_reports,
    param_kind,
    report_spec,
    require_custom_report,
    save_custom_report,
    update_custom_report,
)
from manireports.reports.params import bind_params
from manireports.reports.spec import ReportContext
from manireports.sqlcheck import SqlPolicy, SQLRejectedError
from manireports.sqlcheck.site import (
    SCOPE_MARKER,
    SqlValidator,
    make_validator,
    site_tables,
    site_url,
)
from manireports.sqltext import expand_tables
from manireports.state import StateDB, list_audit
from manireports.state import tables as t
from tests.conftest import ENGINES, fresh_database
from tests.moodle_site import MoodleSite

NOW = 1_764_000_000
VALIDATOR = SqlValidator("sqlite", SqlPolicy())
SQL = "SELECT u.id AS userid, u.username FROM {user} u WHERE u.id = :userid"
CONFIG = {"source": "users", "columns": ["userid", "username"], "sort": ["username"]}


# -- state database -------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=ENGINES)
def state_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[StateDB]:
    databases = fresh_database(request.param, tmp_path_factory.mktemp("state"))
    url = next(databases)
    state = StateDB(url)
    try:
        state.upgrade()
        yield state
    finally:
        state.close()
        next(databases, None)  # drops the database


@pytest.fixture
def state(state_database: StateDB) -> Iterator[StateDB]:
    """The module's state database, emptied of what each test wrote."""
    try:
        yield state_database
    finally:
        with state_database.begin() as connection:
            for table in (t.schedules, t.customreports, t.audit_logs):
                connection.execute(sa.delete(table))


def _schedule(state: StateDB, report_id: int, name: str) -> int:
    row = {
        "reportid": report_id,
        "report": "x",
        "name": name,
        "frequency": "daily",
        "next_run": NOW,
        "createdby": 2,
        "timecreated": NOW,
        "timemodified": NOW,
    }
    with state.begin() as connection:
        key = connection.execute(sa.insert(t.schedules).values(row)).inserted_primary_key
    assert key is not None
    return int(key[0])


def _audit(state: StateDB, action: str) -> list[dict[str, Any]]:
    return [e for e in list_audit(state, action=action) if e["objecttype"] == "customreport"]


def _save(state: StateDB, name: str = "Learners", **values: Any) -> int:
    values.setdefault("sql", SQL)
    return save_custom_report(state, name=name, validator=VALIDATOR, now=NOW, **values)


def test_create_show_list_update_delete_round_trip(state: StateDB) -> None:
    report_id = save_custom_report(
        state,
        name="  Learners  ",
        sql=f"\n{SQL};\n",
        description="Who is who",
        createdby=7,
        validator=VALIDATOR,
        now=NOW,
    )
    record = get_custom_report(state, report_id)
    assert record == CustomReportRecord(
        id=report_id,
        name="Learners",
        type="sql",
        sql=f"{SQL};",
        configjson=None,
        description="Who is who",
        createdby=7,
        timecreated=NOW,
        timemodified=NOW,
    )
    assert record.parameters == ("userid",)
    assert get_custom_report(state, str(report_id)) == record
    assert get_custom_report(state, "LEARNERS") == record
    assert get_custom_report(state, "nobody") is None
    assert list_custom_reports(state) == [record]
    created = _audit(state, "report_created")
    assert len(created) == 1 and created[0]["objectid"] == report_id
    assert created[0]["userid"] == 7
    assert created[0]["details"]["name"] == "Learners"
    assert created[0]["details"]["sql"] == f"{SQL};"

    other = _save(state, "Another", description="b")
    updated = update_custom_report(
        state,
        report_id,
        name="Learners 2",
        sql="SELECT u.id AS userid FROM {user} u WHERE u.timecreated >= :fromdate",
        description="",
        validator=VALIDATOR,
        userid=3,
        now=NOW + 60,
    )
    assert (updated.name, updated.description, updated.timemodified) == (
        "Learners 2",
        None,
        NOW + 60,
    )
    assert updated.parameters == ("fromdate",) and updated.timecreated == NOW
    assert [r.name for r in list_custom_reports(state)] == ["Another", "Learners 2"]
    [entry] = _audit(state, "report_updated")
    assert entry["userid"] == 3 and entry["objectid"] == report_id
    assert entry["details"]["name"] == "Learners 2"
    assert entry["details"]["previous_name"] == "Learners"
    assert entry["details"]["changed"] == ["name", "sql", "description"]

    deleted = delete_custom_report(state, report_id, userid=3)
    assert deleted == updated
    assert get_custom_report(state, report_id) is None
    assert [r.id for r in list_custom_reports(state)] == [other]
    [entry] = _audit(state, "report_deleted")
    assert entry["details"]["name"] == "Learners 2" and "fromdate" in entry["details"]["sql"]


def test_config_reports_are_stored_as_json(state: StateDB) -> None:
    report_id = save_custom_report(state, name="People", config=CONFIG, validator=VALIDATOR)
    record = require_custom_report(state, "people")
    assert (record.id, record.type, record.sql) == (report_id, "config", None)
    assert record.config == CONFIG and record.parameters == ()
    [entry] = _audit(state, "report_created")
    assert entry["details"]["config"] == CONFIG and entry["details"]["type"] == "config"
    # Given SQL, it becomes an SQL report.
    changed = update_custom_report(state, report_id, sql=SQL, validator=VALIDATOR)
    assert (changed.type, changed.sql, changed.configjson) == ("sql", SQL, None)
    again = update_custom_report(state, report_id, config=CONFIG, validator=VALIDATOR)
    assert (again.type, again.sql, again.config) == ("config", None, CONFIG)


def test_a_bad_config_is_refused_on_create(state: StateDB) -> None:
    with pytest.raises(InputError, match="Unknown field 'password'"):
        save_custom_report(
            state,
            name="Bad",
            config={"source": "users", "columns": ["password"]},
            validator=VALIDATOR,
        )
    assert list_custom_reports(state) == [] and _audit(state, "report_created") == []


@pytest.mark.parametrize("other", ["Learners", "learners", " LEARNERS "])
def test_duplicate_names_are_refused(state: StateDB, other: str) -> None:
    first = _save(state, "Learners")
    with pytest.raises(InputError, match="already exists"):
        _save(state, other)
    second = _save(state, "Teachers")
    with pytest.raises(InputError, match=f"already exists \\(id {first}\\)"):
        update_custom_report(state, second, name=other, validator=VALIDATOR)
    assert len(list_custom_reports(state)) == 2
    # Renaming a report to itself in another case is fine.
    assert update_custom_report(state, first, name="LEARNERS", validator=VALIDATOR).name == (
        "LEARNERS"
    )


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "needs a name"),
        ("   ", "needs a name"),
        ("42", "is a number"),
        ("-x", "may not start with '-'"),
        ("course_completion", "built-in report"),
        ("At_Risk", "built-in report"),
        ("two\nlines", "control characters"),
        ("x" * 256, "at most 255"),
    ],
)
def test_bad_names_are_refused(state: StateDB, name: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        _save(state, name)
    assert list_custom_reports(state) == []


def test_delete_is_refused_while_a_schedule_uses_the_report(state: StateDB) -> None:
    report_id = _save(state)
    weekly = _schedule(state, report_id, "Weekly to HR")
    monthly = _schedule(state, report_id, "Monthly")
    with pytest.raises(InputError) as caught:
        delete_custom_report(state, report_id)
    message = str(caught.value)
    assert "'Learners' is used by the schedules" in message
    assert f"'Weekly to HR' (id {weekly})" in message and f"'Monthly' (id {monthly})" in message
    assert get_custom_report(state, report_id) is not None
    assert _audit(state, "report_deleted") == []
    with state.begin() as connection:
        connection.execute(sa.delete(t.schedules))
    delete_custom_report(state, report_id)
    assert get_custom_report(state, report_id) is None


def test_missing_reports_and_empty_updates_are_named(state: StateDB) -> None:
    with pytest.raises(InputError, match="There is no custom report 99"):
        update_custom_report(state, 99, name="x", validator=VALIDATOR)
    with pytest.raises(InputError, match="There is no custom report 99"):
        delete_custom_report(state, 99)
    with pytest.raises(InputError, match="There is no custom report 'ghost'"):
        require_custom_report(state, "ghost")
    report_id = _save(state)
    with pytest.raises(InputError, match="Nothing to update"):
        update_custom_report(state, report_id, validator=VALIDATOR)
    with pytest.raises(InputError, match="not both"):
        _save(state, "Both", config=CONFIG)
    with pytest.raises(InputError, match="needs SQL"):
        _save(state, "Neither", sql=None)


@pytest.mark.parametrize(
    ("sql", "rule"),
    [
        ("DELETE FROM {user} WHERE id = 3", "data-modifying statement"),
        ("UPDATE {user} SET suspended = 1", "data-modifying statement"),
        ("SELECT id FROM {sessions}", "denied table"),
        ("SELECT u.password FROM {user} u", "denied column"),
        ("SELECT id, username FROM mdl_user", "hard-coded prefix"),
        ("SELECT id FROM {user}; DROP TABLE {user}", "multiple statements"),
        ("SELECT id FROM {user} WHERE %%FLAGS%%", "unsupported token"),
        ("SELECT mdl_user.password FROM {user}", "denied column"),
        ("SELECT mdl_sessions.sid FROM {user}", "unresolved qualifier"),
        # In a literal it would still be where the runner puts the scope condition.
        ("SELECT id FROM {user} WHERE '%%SCOPE%%' <> ''", "unsupported token"),
    ],
)
def test_validation_on_create_and_update_names_the_rule(
    state: StateDB, sql: str, rule: str
) -> None:
    with pytest.raises(SQLRejectedError) as caught:
        _save(state, sql=sql)
    assert caught.value.rule == rule
    assert list_custom_reports(state) == [] and _audit(state, "report_created") == []
    report_id = _save(state)
    with pytest.raises(SQLRejectedError) as caught:
        update_custom_report(state, report_id, sql=sql, validator=VALIDATOR)
    assert caught.value.rule == rule
    assert require_custom_report(state, report_id).sql == SQL
    assert _audit(state, "report_updated") == []


def test_the_prefix_hint_names_the_braces() -> None:
    with pytest.raises(SQLRejectedError, match=r"Write \{user\} instead of mdl_user"):
        VALIDATOR("SELECT id FROM mdl_user")


def test_the_policy_of_the_run_applies_to_saved_reports(state: StateDB) -> None:
    sql_id = _save(state)
    config_id = _save(state, "People", sql=None, config=CONFIG)
    strict = SqlValidator("sqlite", SqlPolicy(denied_tables=frozenset({"user"})))
    for report_id in (sql_id, config_id):
        record = require_custom_report(state, report_id)
        assert report_spec(record, VALIDATOR).custom_id == report_id
        with pytest.raises(SQLRejectedError) as caught:
            report_spec(record, strict)
        assert caught.value.rule == "denied table"


# -- parameters and tokens --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("startdate", "date"),
        ("end_date", "date"),
        ("date", "date"),
        ("date_from", "date"),
        ("dateto", "date"),
        ("dated", "date"),  # report_customsql's rule: /^date|date$/
        ("startDate", "text"),  # and it is case-sensitive
        ("Date_from", "text"),
        ("updated", "text"),
        ("mydates", "text"),
        ("courseid", "text"),
    ],
)
def test_param_kind_follows_report_customsql(name: str, kind: str) -> None:
    assert param_kind(name) == kind


def test_fill_tokens_everywhere_strings_included() -> None:
    sql = (
        "SELECT '%%USERID%%' AS who FROM {log} WHERE timecreated BETWEEN %%STARTTIME%% "
        "AND %%ENDTIME%% AND userid = %%USERID%% -- %%ENDTIME%%"
    )
    filled = fill_tokens(sql, start=100, end=200, userid=7)
    assert filled == (
        "SELECT '7' AS who FROM {log} WHERE timecreated BETWEEN 100 AND 200 AND userid = 7 -- 200"
    )
    assert fill_tokens("%%STARTTIME%%-%%ENDTIME%%", start=None, end=None, userid=0, now=NOW) == (
        f"0-{NOW}"
    )
    assert fill_tokens("a-%%USERID%%", start=None, end=None, userid=-1, now=NOW) == "a-(-1)"
    assert fill_tokens("%%WWWROOT%% %%userid%%", start=1, end=2, userid=3) == (
        "%%WWWROOT%% %%userid%%"
    )


def _record(
    sql: str, name: str = "Mine", description: str | None = "Mine, all mine"
) -> CustomReportRecord:
    return CustomReportRecord(1, name, "sql", sql, None, description, 0, NOW, NOW)


def _context(params: dict[str, Any]) -> ReportContext:
    info = SiteInfo(None, None, None, None, None, None, ())
    return ReportContext(info, ZoneInfo("UTC"), NOW, "sqlite", {"now": NOW, **params})


def test_custom_report_spec() -> None:
    sql = (
        "-- learners\nSELECT u.id AS userid FROM {user} u WHERE u.timecreated >= :startdate "
        "AND u.username <> :who AND u.timecreated < :end_date AND u.id <> %%USERID%% "
        "AND u.timecreated <= :now AND u.username <> :who;"
    )
    record = _record(sql)
    checked = VALIDATOR(sql)
    spec = custom_report_spec(record, checked)
    assert (spec.name, spec.title, spec.description) == ("Mine", "Mine", "Mine, all mine")
    assert spec.columns == () and spec.custom_id == 1
    assert spec.sql_text == checked.sql and spec.sql() == checked.sql
    assert "%%USERID%%" in spec.sql() and SCOPE_MARKER not in spec.sql()
    assert [(p.name, p.kind, p.default) for p in spec.params] == [
        ("startdate", "date", None),
        ("who", "text", None),
        ("end_date", "date", None),
    ]
    assert spec.bind is not None
    with pytest.raises(InputError) as caught:
        spec.bind(_context({"who": "x"}))
    message = str(caught.value)
    assert "needs --param startdate=... --param end_date=..." in message and "who" not in message
    assert spec.bind(_context({"who": "x", "startdate": 1, "end_date": 2})) == {}


# -- on a Moodle site ---------------------------------------------------------------------------


@dataclass
class Moodle:
    db: MoodleDB
    ids: dict[str, int]


def _ts(text: str) -> int:
    return int(datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=UTC).timestamp())


@pytest.fixture(scope="module", params=ENGINES)
def moodle(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Moodle]:
    databases = fresh_database(request.param, tmp_path_factory.mktemp("moodle"))
    url = next(databases)
    site = MoodleSite(url)
    ids = {name: site.user(name) for name in ("alice", "bob", "carol")}
    ids["c1"] = site.course("C1")
    ids["c2"] = site.course("C2")
    site.enrol(ids["alice"], ids["c1"], timecreated=_ts("2024-01-10 10:00"))
    site.enrol(ids["bob"], ids["c1"], timecreated=_ts("2024-01-20 10:00"))
    site.enrol(ids["carol"], ids["c1"], timecreated=_ts("2024-01-30 10:00"))
    site.enrol(ids["carol"], ids["c2"], timecreated=_ts("2024-01-30 10:00"))
    site.dispose()
    db = MoodleDB(url)
    try:
        yield Moodle(db, ids)
    finally:
        db.dispose()
        next(databases, None)


RUNNABLE = """
-- Learners enrolled from a date, in a course given by id, leaving out the acting user.
SELECT u.id AS userid, u.username, c.shortname, '%%USERID%%' AS asked_by
  FROM {user_enrolments} ue
  JOIN {enrol} e ON e.id = ue.enrolid
  JOIN {user} u ON u.id = ue.userid
  JOIN {course} c ON c.id = e.courseid
 WHERE ue.timecreated >= :fromdate
   AND c.id = :courseid
   AND u.id <> %%USERID%%
   AND ue.timecreated BETWEEN %%STARTTIME%% AND %%ENDTIME%%
 ORDER BY u.username;
"""


def test_a_custom_report_runs_on_every_engine(moodle: Moodle, tmp_path: Path) -> None:
    config = load_config(environ={})
    validator = make_validator(config, moodle.db)
    assert validator.engine == moodle.db.engine_name
    assert (
        validator.dialect
        == {"mysql": "mysql", "postgresql": "postgres", "sqlite": "sqlite"}[moodle.db.engine_name]
    )
    spec = custom_report_spec(_record(RUNNABLE), validator(RUNNABLE))
    assert [(p.name, p.kind) for p in spec.params] == [("fromdate", "date"), ("courseid", "text")]
    tz = ZoneInfo("Europe/Paris")
    # Text parameters are bound as text, as report_customsql does; every engine compares them.
    given = {"fromdate": "2024-01-15", "courseid": str(moodle.ids["c1"])}
    params = bind_params(spec.params, given, tz, spec.name)
    assert params["fromdate"] == int(datetime(2024, 1, 15, tzinfo=tz).timestamp())
    alice, bob, carol = (moodle.ids[n] for n in ("alice", "bob", "carol"))
    sql = fill_tokens(spec.sql(), start=None, end=None, userid=bob, now=_ts("2024-06-01 00:00"))
    rows = moodle.db.fetch_all(expand_tables(sql, moodle.db.prefix), params)
    # alice enrolled before the date; bob is the acting user.
    assert rows == [(carol, "carol", "C1", str(bob))]
    period = fill_tokens(
        spec.sql(), start=_ts("2024-01-01 00:00"), end=_ts("2024-01-25 00:00"), userid=alice
    )
    rows = moodle.db.fetch_all(expand_tables(period, moodle.db.prefix), params)
    assert rows == [(bob, "bob", "C1", str(alice))]


def test_make_validator_reads_the_site_and_the_configuration(moodle: Moodle) -> None:
    config = load_config(environ={"MANIREPORTS_REPORTS_DENIED_TABLES": "course,sessions"})
    validator = make_validator(config, moodle.db)
    with pytest.raises(SQLRejectedError) as caught:
        validator("SELECT id FROM {course}")
    assert caught.value.rule == "denied table"
    with pytest.raises(SQLRejectedError) as caught:
        validator("SELECT id FROM {local_nothing}")
    assert caught.value.rule == "unknown table"
    assert validator("SELECT id FROM {enrol}").tables == frozenset({"enrol"})
    allowed = load_config(environ={"MANIREPORTS_REPORTS_ALLOWED_TABLES": "user"})
    with pytest.raises(SQLRejectedError) as caught:
        make_validator(allowed, moodle.db)("SELECT id FROM {enrol}")
    assert caught.value.rule == "table not allowed"


class _Tables:
    """A Moodle database that only knows its tables, and counts how often it was asked."""

    engine_name = "postgresql"
    prefix = "mdl_"

    def __init__(self, tables: set[str]) -> None:
        self.tables = tables
        self.asked = 0

    def table_names(self) -> set[str]:
        self.asked += 1
        return self.tables


def test_the_validator_reads_the_tables_once_and_knows_renamed_iomad_tables() -> None:
    db = _Tables({"user", "local_iomad_companies", "local_iomad_company_users"})
    assert site_tables(db) >= {"company", "company_users", "local_iomad_companies", "user"}  # type: ignore[arg-type]
    validator = make_validator(load_config(environ={}), db)  # type: ignore[arg-type]
    assert db.asked == 1  # site_tables above; the validator has not asked yet
    assert validator.dialect == "postgres"
    validator("SELECT c.id FROM {company} c JOIN {company_users} cu ON cu.companyid = c.id")
    validator("SELECT id FROM {user}")
    assert db.asked == 2


# -- output tokens ------------------------------------------------------------------------------


def test_output_tokens_are_filled_in_text_values_only() -> None:
    rows = iter(
        [
            ("%%WWWROOT%%/course/view.php%%Q%%id=2", 2, None, b"%%Q%%"),
            ("a%%C%%b%%S%% %%FLAGS%% %%q%%", 3, 1.5, b""),
        ]
    )
    assert list(fill_output_tokens(rows, "https://lms.test")) == [
        ("https://lms.test/course/view.php?id=2", 2, None, b"%%Q%%"),
        ("a:b; %%FLAGS%% %%q%%", 3, 1.5, b""),
    ]


def test_a_report_with_wwwroot_needs_the_site_url() -> None:
    sql = "SELECT CONCAT('%%WWWROOT%%/user/profile.php%%Q%%id=', u.id) AS link FROM {user} u"
    record = _record(sql=sql)
    with pytest.raises(ConfigError, match=r"\[moodle\] wwwroot"):
        report_spec(record, SqlValidator("sqlite", SqlPolicy()))
    known = SqlValidator("sqlite", SqlPolicy(), site_url=lambda: "https://lms.test")
    spec = report_spec(record, known)
    assert spec.transform is not None
    # Without %%WWWROOT%%, no site URL is needed; %%Q%% alone is still filled.
    assert report_spec(_record(sql="SELECT 'a%%Q%%b' AS x FROM {user}"), VALIDATOR).transform


def test_site_url_from_the_setting_or_config_php(tmp_path: Path) -> None:
    php = tmp_path / "config.php"
    php.write_text(
        "<?php\n$CFG = new stdClass();\n$CFG->dbtype = 'pgsql';\n$CFG->dbhost = 'localhost';\n"
        "$CFG->dbname = 'moodle';\n$CFG->dbuser = 'm';\n$CFG->dbpass = 'p';\n"
        "$CFG->prefix = 'mdl_';\n$CFG->wwwroot = 'https://school.test/moodle/';\n",
        encoding="utf-8",
    )
    assert site_url(load_config(environ={})) is None
    from_php = load_config(environ={"MANIREPORTS_MOODLE_CONFIG_PHP": str(php)})
    assert site_url(from_php) == "https://school.test/moodle"
    both = load_config(
        environ={
            "MANIREPORTS_MOODLE_CONFIG_PHP": str(php),
            "MANIREPORTS_MOODLE_WWWROOT": "https://reports.test",
        }
    )
    assert site_url(both) == "https://reports.test"
