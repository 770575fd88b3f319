"""The state database: migrations on every engine, the audit log, the run history, settings."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from manireports.config import data_dir
from manireports.errors import ConfigError, DatabaseError, SchemaBehindError
from manireports.state import (
    StateDB,
    finish_run,
    get_run,
    head_revision,
    list_audit,
    list_runs,
    read_setting,
    record_audit,
    start_run,
    write_setting,
)
from manireports.state import store as store_module
from manireports.state import tables as t
from manireports.state.audit import MASK, is_secret_key, redact
from manireports.state.store import VERSION_TABLE

# The ManiReports plugin names these; the last three are manireports' own additions.
DESIGN_TABLES = {
    "manireports_customreports",
    "manireports_schedules",
    "manireports_schedule_recipients",
    "manireports_report_runs",
    "manireports_usertime_sessions",
    "manireports_usertime_daily",
    "manireports_scorm_summary",
    "manireports_cache_summary",
    "manireports_dashboards",
    "manireports_dashboard_widgets",
    "manireports_audit_logs",
    "manireports_cloud_jobs",
    "manireports_cloud_job_recipients",
}
ALL_TABLES = DESIGN_TABLES | {
    "manireports_deliveries",
    "manireports_settings",
    "manireports_callback_replay",
    "manireports_job_runs",
    "manireports_job_alerts",
}
NOW = 1_764_000_000


@pytest.fixture
def state(db_url: str) -> Iterator[StateDB]:
    """A state database at the newest revision, on each engine in turn."""
    with StateDB(db_url) as handle:
        handle.upgrade()
        yield handle


def _schema(engine: sa.Engine) -> dict[str, Any]:
    inspector = sa.inspect(engine)
    return {
        table: (
            [(c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)],
            sorted((i["name"] or "", i["unique"]) for i in inspector.get_indexes(table)),
            sorted(
                (fk["name"] or "", fk["referred_table"]) for fk in inspector.get_foreign_keys(table)
            ),
        )
        for table in sorted(inspector.get_table_names())
    }


OWNED = {"createdby": 2, "timecreated": NOW, "timemodified": NOW}


def _insert(connection: sa.Connection, table: sa.Table, **values: Any) -> int:
    key = connection.execute(sa.insert(table).values(values)).inserted_primary_key
    assert key is not None
    return int(key[0])


def _report(connection: sa.Connection, name: str, **values: Any) -> int:
    return _insert(connection, t.customreports, **{"name": name, **OWNED, **values})


def _schedule(connection: sa.Connection, name: str, **values: Any) -> int:
    row = {"name": name, "frequency": "daily", "next_run": NOW, **OWNED, **values}
    return _insert(connection, t.schedules, **row)


def _run(connection: sa.Connection, **values: Any) -> int:
    row = {"userid": 2, "status": "completed", "timestarted": NOW, **values}
    return _insert(connection, t.report_runs, **row)


def _count(connection: sa.Connection, table: sa.Table) -> int:
    return int(connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def _one(connection: sa.Connection, table: sa.Table) -> sa.RowMapping:
    return connection.execute(sa.select(table)).mappings().one()


def _pick(row: Mapping[str, Any], *keys: str) -> tuple[Any, ...]:
    return tuple(row[key] for key in keys)


# Migrations -------------------------------------------------------------------------------------


def test_upgrade_from_empty_creates_every_table(db_url: str) -> None:
    with StateDB(db_url) as state:
        assert state.current_revision() is None
        assert state.upgrade() == (None, head_revision())
        assert state.current_revision() == head_revision()
        assert set(sa.inspect(state.engine).get_table_names()) == ALL_TABLES | {VERSION_TABLE}
    assert set(t.metadata.tables) == ALL_TABLES


def test_second_upgrade_is_a_no_op(state: StateDB) -> None:
    before = _schema(state.engine)
    assert state.upgrade() == (head_revision(), head_revision())
    assert _schema(state.engine) == before


def test_migrations_build_exactly_what_tables_py_describes(state: StateDB) -> None:
    options = {"version_table": VERSION_TABLE, "compare_type": True, "compare_server_default": True}
    with state.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts=options)
        assert compare_metadata(context, t.metadata) == []


def test_on_mariadb_every_table_is_innodb_in_utf8mb4_whatever_the_database_default(
    mariadb_url: str,
) -> None:
    # tables.py leaves the MySQL table options to the migrations (see there): they must set them.
    admin = sa.create_engine(mariadb_url)
    with admin.begin() as connection:
        connection.execute(sa.text("ALTER DATABASE CHARACTER SET latin1 COLLATE latin1_swedish_ci"))
    admin.dispose()
    with StateDB(mariadb_url) as state:
        state.upgrade()
        with state.engine.connect() as connection:
            found = connection.execute(
                sa.text(
                    "SELECT table_name, engine, table_collation FROM information_schema.tables "
                    "WHERE table_schema = DATABASE()"
                )
            ).all()
    assert {name for name, _engine, _collation in found} == ALL_TABLES | {VERSION_TABLE}
    assert {(engine, collation) for name, engine, collation in found if name != VERSION_TABLE} == {
        ("InnoDB", "utf8mb4_unicode_ci")
    }


def test_foreign_keys_cascade_and_keep_history(state: StateDB) -> None:
    with state.begin() as connection:
        report = _report(connection, "Mine", sqlquery="SELECT 1")
        schedule = _schedule(connection, "Weekly", report="course_completion")
        _insert(connection, t.schedule_recipients, scheduleid=schedule, userid=7)
        _insert(connection, t.schedule_recipients, scheduleid=schedule, email="boss@example.org")
        run = _run(connection, report="Mine", reportid=report, scheduleid=schedule)
        _insert(connection, t.deliveries, runid=run, recipient="boss@example.org")

    with state.begin() as connection:
        connection.execute(sa.delete(t.schedules).where(t.schedules.c.id == schedule))
        connection.execute(sa.delete(t.customreports).where(t.customreports.c.id == report))
    with state.begin() as connection:
        assert _count(connection, t.schedule_recipients) == 0
        kept = _one(connection, t.report_runs)
        assert (kept["reportid"], kept["scheduleid"], kept["report"]) == (None, None, "Mine")
        assert _count(connection, t.deliveries) == 1
        connection.execute(sa.delete(t.report_runs))
        assert _count(connection, t.deliveries) == 0


def test_a_custom_report_in_use_by_a_schedule_cannot_be_deleted(state: StateDB) -> None:
    with state.begin() as connection:
        report = _report(connection, "Mine")
        _schedule(connection, "Daily", reportid=report, report="Mine")
    with pytest.raises(sa.exc.IntegrityError), state.begin() as connection:
        connection.execute(sa.delete(t.customreports))


JOB = "550e8400-e29b-41d4-a716-446655440000"


def _fill_revision_0001(connection: sa.Connection) -> dict[str, int]:
    """Rows as manireports at revision 0001 wrote them (only 0001's columns are named)."""
    ids = {"report": _report(connection, "Completions", sqlquery="SELECT id FROM {user}")}
    ids["duplicate"] = _report(connection, "completions ", type="config", configjson="{}")
    ids["schedule"] = _schedule(
        connection, "Monday", reportid=ids["report"], frequency="weekly", next_run=NOW + 3600
    )
    _insert(connection, t.schedule_recipients, scheduleid=ids["schedule"], userid=5)
    ids["run"] = _run(
        connection,
        reportid=ids["duplicate"],
        scheduleid=ids["schedule"],
        paramsjson='{"courseid": 3}',
        rowcount=10,
        timefinished=NOW + 2,
    )
    ids["orphan_run"] = _run(connection, reportid=ids["report"], scheduleid=999, status="failed")
    session = {"userid": 5, "courseid": 3, "sessionstart": NOW, "lastupdated": NOW + 60}
    _insert(connection, t.usertime_sessions, **session, duration=60)
    daily = {"userid": 5, "courseid": 3, "date": "2025-11-24", "duration": 60}
    _insert(connection, t.usertime_daily, **daily, sessioncount=1, lastupdated=NOW)
    scorm = {"scormid": 4, "userid": 5, "attempts": 2, "completed": 1, "totaltime": 300}
    _insert(connection, t.scorm_summary, **scorm, score=87.5, lastaccess=NOW, lastupdated=NOW)
    cache = {"cachekey": "trends_0_abc", "reporttype": "trends", "datajson": "[]"}
    _insert(connection, t.cache_summary, **cache, lastgenerated=NOW, ttl=3600)
    dashboard = _insert(connection, t.dashboards, name="Main", layoutjson="{}", **OWNED)
    widget = {"widgettype": "kpi", "title": "Users", "position": 1, "configjson": "{}"}
    _insert(connection, t.dashboard_widgets, dashboardid=dashboard, **widget)
    audit = {"userid": 2, "action": "report_created", "objecttype": "report", "details": "{}"}
    _insert(connection, t.audit_logs, **audit, timecreated=NOW)
    job = {"jobid": JOB, "type": "send_reminder", "total_recipients": 1, "payload_json": "{}"}
    _insert(connection, t.cloud_jobs, **job, createdby=2, timecreated=NOW)
    _insert(connection, t.cloud_job_recipients, jobid=JOB, userid=5, email="a@example.org")
    lost_job = "00000000-0000-0000-0000-000000000000"
    _insert(connection, t.cloud_job_recipients, jobid=lost_job, userid=6, email="b@example.org")
    return ids


def test_upgrade_from_revision_0001_keeps_the_rows(db_url: str) -> None:
    with StateDB(db_url) as state:
        assert state.upgrade("0001") == (None, "0001")
        with state.begin() as connection:
            ids = _fill_revision_0001(connection)

        assert state.upgrade() == ("0001", head_revision())

        with state.begin() as connection:
            query = sa.select(t.customreports.c.id, t.customreports.c.name)
            names = {row.id: row.name for row in connection.execute(query)}
            renamed = f"completions  ({ids['duplicate']})"
            assert names == {ids["report"]: "Completions", ids["duplicate"]: renamed}

            schedule = _one(connection, t.schedules)
            assert (schedule["report"], schedule["reportid"]) == ("Completions", ids["report"])
            assert (schedule["name"], schedule["next_run"]) == ("Monday", NOW + 3600)
            assert (schedule["scope"], schedule["attempt"], schedule["active"]) == (
                "recipient",
                0,
                1,
            )
            assert (schedule["claimed_by"], schedule["claimed_until"]) == (None, None)
            recipient = _one(connection, t.schedule_recipients)
            assert (recipient["userid"], recipient["email"]) == (5, None)

            runs = {r["id"]: r for r in connection.execute(sa.select(t.report_runs)).mappings()}
            run, orphan = runs[ids["run"]], runs[ids["orphan_run"]]
            assert (run["report"], run["scheduleid"], run["rowcount"]) == (
                renamed,
                ids["schedule"],
                10,
            )
            assert run["paramsjson"] == '{"courseid": 3}'
            # Revision 0001 had no key on scheduleid; the new key needs the dangling one cleared.
            assert (orphan["report"], orphan["scheduleid"]) == ("Completions", None)

            session = _one(connection, t.usertime_sessions)
            assert (session["duration"], session["eventcount"], session["source"]) == (60, 0, "log")
            scorm = _one(connection, t.scorm_summary)
            assert (scorm["score"], scorm["totaltime"], scorm["courseid"]) == (87.5, 300, None)
            cache = _one(connection, t.cache_summary)
            assert (cache["cachekey"], cache["hits"], cache["misses"]) == ("trends_0_abc", 0, 0)
            for table in (t.usertime_daily, t.dashboards, t.dashboard_widgets, t.audit_logs):
                assert _count(connection, table) == 1, table.name
            assert _one(connection, t.cloud_jobs)["jobid"] == JOB
            # A recipient of a job that does not exist cannot be kept under the new key.
            emails = connection.execute(sa.select(t.cloud_job_recipients.c.email)).scalars().all()
            assert emails == ["a@example.org"]

        state.require_current()


def test_downgrade_to_0001_and_upgrade_again(state: StateDB) -> None:
    with state.begin() as connection:
        report = _report(connection, "Mine")
        custom = _schedule(connection, "Custom", reportid=report, report="Mine")
        builtin = _schedule(connection, "Built-in", report="at_risk", frequency="cron")
        for schedule in (custom, builtin):
            _insert(connection, t.schedule_recipients, scheduleid=schedule, userid=9)
            _insert(connection, t.schedule_recipients, scheduleid=schedule, email="x@example.org")
        _run(connection, report="Mine", reportid=report)
        _run(connection, report="at_risk")

    assert state.downgrade("0001") == (head_revision(), "0001")
    with state.begin() as connection:
        tables = set(sa.inspect(connection).get_table_names())
        assert tables == DESIGN_TABLES | {VERSION_TABLE}

        def column(sql: str) -> list[Any]:
            return list(connection.execute(sa.text(sql)).all())

        # What 0001 cannot hold is gone; the rest stays.
        assert column("SELECT name FROM manireports_schedules") == [("Custom",)]
        assert column("SELECT scheduleid, userid FROM manireports_schedule_recipients") == [
            (custom, 9)
        ]
        assert column("SELECT reportid FROM manireports_report_runs") == [(report,)]

    assert state.upgrade() == ("0001", head_revision())
    with state.begin() as connection:
        assert connection.execute(sa.select(t.schedules.c.report)).scalars().all() == ["Mine"]
    assert state.downgrade("base") == (head_revision(), None)
    assert set(sa.inspect(state.engine).get_table_names()) == {VERSION_TABLE}


# Schema checks ----------------------------------------------------------------------------------


def test_require_current_refuses_an_empty_or_old_schema(db_url: str) -> None:
    with StateDB(db_url) as state:
        with pytest.raises(SchemaBehindError, match="manireports db upgrade") as empty:
            state.require_current()
        assert empty.value.exit_code == 4

        state.upgrade("0001")
        with pytest.raises(SchemaBehindError) as behind:
            state.require_current()
        message = str(behind.value)
        assert f"revision 0001 but this manireports needs {head_revision()}" in message
        assert "run `manireports db upgrade`" in message

        state.upgrade()
        state.require_current()


def test_a_schema_from_a_newer_manireports_is_refused(sqlite_url: str) -> None:
    with StateDB(sqlite_url) as state:
        state.upgrade()
        with state.begin() as connection:
            connection.execute(sa.text(f"UPDATE {VERSION_TABLE} SET version_num = '0999'"))
        with pytest.raises(DatabaseError, match=r"0999.*newer") as refused:
            state.require_current()
        assert not isinstance(refused.value, SchemaBehindError)
        with pytest.raises(DatabaseError, match="upgrade manireports"):
            state.upgrade()


@pytest.mark.parametrize(
    "url",
    [
        "mysql+pymysql://root:Sup3r-s3cret@127.0.0.1:1/state",
        "postgresql+psycopg://postgres:Sup3r-s3cret@127.0.0.1:1/state",
    ],
)
def test_an_unreachable_server_is_a_database_error_without_the_password(url: str) -> None:
    state = StateDB(url)
    for attempt in (state.require_current, state.upgrade, state.describe):
        with pytest.raises(DatabaseError) as failed:
            attempt()
        message = str(failed.value)
        assert not isinstance(failed.value, SchemaBehindError)
        assert "Sup3r-s3cret" not in message
        assert "127.0.0.1:1/state" in message and "***" in message
        assert message.startswith("Cannot connect to the state database at ")
        assert failed.value.exit_code == 4


def test_a_bad_url_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match="not a valid SQLAlchemy URL"):
        StateDB("state.sqlite")
    with pytest.raises(ConfigError, match="nosuchdriver"):
        StateDB("mysql+nosuchdriver://root:pw@localhost/state")


def test_the_default_is_an_sqlite_file_in_the_data_directory(tmp_path: Path) -> None:
    # The autouse fixture points XDG_DATA_HOME into tmp_path, so nothing touches the real home.
    assert data_dir().is_relative_to(tmp_path)
    with StateDB() as state:
        assert state.url.get_backend_name() == "sqlite"
        assert Path(str(state.url.database)) == data_dir() / "state.sqlite"
        state.upgrade()
        state.require_current()
        description = state.describe()
    assert (data_dir() / "state.sqlite").is_file()
    assert (description.engine, description.revision) == ("SQLite", head_revision())


def test_describe_names_the_engine_and_version(db_url: str) -> None:
    expected = {"sqlite": "SQLite", "mysql": "MariaDB", "postgresql": "PostgreSQL"}
    with StateDB(db_url) as state:
        description = state.describe()
        assert description.engine == expected[state.url.get_backend_name()]
        assert description.version[0].isdigit()
        assert (description.revision, description.head) == (None, head_revision())


def test_sqlite_is_set_up_for_concurrent_cron_processes(sqlite_url: str) -> None:
    with StateDB(sqlite_url) as state, state.engine.connect() as connection:
        pragma = connection.exec_driver_sql
        assert pragma("PRAGMA journal_mode").scalar() == "wal"
        assert pragma("PRAGMA busy_timeout").scalar() == 60_000
        assert pragma("PRAGMA foreign_keys").scalar() == 1


def test_an_in_memory_database_keeps_its_tables_across_connections() -> None:
    with StateDB("sqlite://") as state:
        state.upgrade()
        state.require_current()
        record_audit(state, userid=2, action="report_run", objecttype="report")
        assert len(list_audit(state)) == 1


def test_concurrent_writers_wait_instead_of_failing(sqlite_url: str) -> None:
    StateDB(sqlite_url).upgrade()
    errors: list[BaseException] = []

    def writer(number: int) -> None:
        try:
            with StateDB(sqlite_url) as own:
                for step in range(25):
                    # Read, then write, in one transaction: the pattern that fails with
                    # "database is locked" when the write lock is only taken at the first write.
                    with own.begin() as connection:
                        count = int(read_setting(connection, "counter") or 0)
                        write_setting(connection, "counter", str(count + 1))
                        record_audit(
                            connection,
                            userid=number,
                            action="test",
                            objecttype="step",
                            objectid=step,
                        )
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with StateDB(sqlite_url) as state:
        assert len(list_audit(state)) == 100
        assert read_setting(state, "counter") == "100"


def test_a_reader_neither_waits_for_a_writer_nor_holds_one_up(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`reading()` on SQLite is a deferred transaction: while it is open another connection
    writes and commits at once (it would wait out the busy timeout, then fail "database is
    locked", behind a BEGIN IMMEDIATE), and the reader keeps the view it began with."""
    monkeypatch.setattr(store_module, "SQLITE_BUSY_TIMEOUT_SECONDS", 1)
    with StateDB(sqlite_url) as state, StateDB(sqlite_url) as other:
        state.upgrade()
        write_setting(state, "counter", "1")
        with state.reading() as reader:
            assert read_setting(reader, "counter") == "1"
            with other.begin() as writer:
                write_setting(writer, "counter", "2")
            assert read_setting(reader, "counter") == "1"
        assert read_setting(state, "counter") == "2"
        # The same write behind a BEGIN IMMEDIATE waits, then fails.
        with (
            state.begin(),
            pytest.raises(sa.exc.OperationalError, match="locked"),
            other.begin() as writer,
        ):
            write_setting(writer, "counter", "3")


# Audit log, runs, settings ----------------------------------------------------------------------


def test_secret_looking_keys() -> None:
    secret = "password dbpass db_pass smtp_password authToken auth_token auth X-Signature api_key"
    secret += " apiKey key callback_secret client-secret token Authorization sesskey hmac"
    for key in secret.split():
        assert is_secret_key(key), key
    for key in ("author", "monkey", "cachekey", "passed", "report", "courseid", "url", "email"):
        assert not is_secret_key(key), key


def test_redact_masks_at_any_depth_and_in_text() -> None:
    details = {
        "password": "hunter2",
        "token": None,
        "nested": {"client_secret": "s1", "rows": [{"apiKey": "k1", "name": "Zoë"}]},
        "url": "mysql+pymysql://moodle:dbpw123@db.example.org:3306/moodle",
        "error": "POST failed with header Authorization: Bearer abcdefghijklmnop",
        "count": 3,
    }
    assert redact(details) == {
        "password": MASK,
        "token": None,
        "nested": {"client_secret": MASK, "rows": [{"apiKey": MASK, "name": "Zoë"}]},
        "url": f"mysql+pymysql://moodle:{MASK}@db.example.org:3306/moodle",
        "error": f"POST failed with header Authorization: Bearer {MASK}",
        "count": 3,
    }


def test_audit_round_trip_never_stores_a_secret(state: StateDB) -> None:
    secrets = ["hunter2", "tok-123", "deep-s3cret", "dbpw123", "abcdefghijklmnop"]
    details = {
        "report": "course_completion",
        "password": secrets[0],
        "token": secrets[1],
        "options": {"cloud": {"callback_secret": secrets[2]}, "formats": ["csv", "xlsx"]},
        "moodle_url": f"postgresql+psycopg://moodle:{secrets[3]}@db/moodle",
        "header": f"Bearer {secrets[4]}",
        "name": "田中",
    }
    first = record_audit(
        state,
        userid=2,
        action="report_created",
        objecttype="report",
        objectid=7,
        details=details,
        now=NOW,
    )
    second = record_audit(state, userid=3, action="report_run", objecttype="report", now=NOW + 10)
    third = record_audit(
        state,
        userid=2,
        action="scope_refused",
        objecttype="report",
        objectid=7,
        details={"asuser": 9},
        now=NOW + 20,
    )
    assert first < second < third

    with state.begin() as connection:
        stored = connection.execute(sa.select(t.audit_logs.c.details)).scalars().all()
    assert not [s for s in secrets if any(s in (text or "") for text in stored)]

    entries = list_audit(state)
    assert [e["id"] for e in entries] == [third, second, first]
    entry = entries[-1]
    written = _pick(entry, "userid", "action", "objecttype", "objectid", "timecreated")
    assert written == (2, "report_created", "report", 7, NOW)
    assert entry["details"] == {
        "report": "course_completion",
        "password": MASK,
        "token": MASK,
        "options": {"cloud": {"callback_secret": MASK}, "formats": ["csv", "xlsx"]},
        "moodle_url": f"postgresql+psycopg://moodle:{MASK}@db/moodle",
        "header": f"Bearer {MASK}",
        "name": "田中",
    }
    assert entries[1]["details"] is None

    assert [e["id"] for e in list_audit(state, since=NOW + 10)] == [third, second]
    assert [e["id"] for e in list_audit(state, action="report_run")] == [second]
    assert [e["id"] for e in list_audit(state, userid=2)] == [third, first]
    assert [e["id"] for e in list_audit(state, userid=2, limit=1)] == [third]


def test_an_audit_entry_commits_with_the_callers_transaction(state: StateDB) -> None:
    with pytest.raises(RuntimeError), state.begin() as connection:
        record_audit(connection, userid=2, action="report_deleted", objecttype="report")
        raise RuntimeError("the deletion failed")
    assert list_audit(state) == []


def test_runs_round_trip(state: StateDB) -> None:
    with state.begin() as connection:
        report = _report(connection, "Mine")
    manual = start_run(
        state,
        report="course_completion",
        reportid=None,
        userid=2,
        acting_userid=9,
        params={"courseid": 3, "from": "2025-01-01", "token": "abc"},
        format="csv",
        now=NOW,
    )
    custom = start_run(
        state,
        report="Mine",
        reportid=report,
        userid=2,
        acting_userid=None,
        params={},
        format="xlsx",
        now=NOW + 5,
    )

    running = get_run(state, manual)
    assert running is not None
    assert _pick(running, "status", "timefinished", "rowcount") == ("running", None, None)
    assert running["paramsjson"] == {"courseid": 3, "from": "2025-01-01", "token": MASK}
    assert _pick(running, "report", "reportid", "actinguser") == ("course_completion", None, 9)
    assert _pick(running, "format", "timestarted", "userid") == ("csv", NOW, 2)

    finish_run(
        state,
        manual,
        status="completed",
        rowcount=42,
        error=None,
        outputpath="/tmp/a.csv",
        now=NOW + 3,
    )
    finish_run(
        state,
        custom,
        status="failed",
        rowcount=None,
        error="connect to mysql://moodle:pw-9876@db/moodle failed",
        now=NOW + 6,
    )

    done = get_run(state, manual)
    assert done is not None
    finished = _pick(done, "status", "rowcount", "outputpath", "timefinished")
    assert finished == ("completed", 42, "/tmp/a.csv", NOW + 3)
    failed = get_run(state, custom)
    assert failed is not None
    assert failed["status"] == "failed" and "pw-9876" not in failed["error"]
    assert failed["reportid"] == report and failed["paramsjson"] == {}

    assert [r["id"] for r in list_runs(state)] == [custom, manual]
    assert [r["id"] for r in list_runs(state, status="failed")] == [custom]
    assert [r["id"] for r in list_runs(state, report="course_completion")] == [manual]
    assert [r["id"] for r in list_runs(state, since=NOW + 1, userid=2)] == [custom]
    assert [r["id"] for r in list_runs(state, limit=1)] == [custom]
    assert list_runs(state, scheduleid=1) == []
    assert get_run(state, 12345) is None
    with pytest.raises(LookupError):
        finish_run(state, 12345, status="failed", rowcount=None, error="x")


def test_settings_are_upserted(state: StateDB) -> None:
    assert read_setting(state, "timetracking.lastlogid") is None
    write_setting(state, "timetracking.lastlogid", "100", now=NOW)
    write_setting(state, "timetracking.lastlogid", "250", now=NOW + 60)
    write_setting(state, "other", json.dumps({"a": 1}), now=NOW)
    assert read_setting(state, "timetracking.lastlogid") == "250"
    with state.begin() as connection:
        query = sa.select(t.settings.c.timemodified).where(
            t.settings.c.name == "timetracking.lastlogid"
        )
        assert connection.execute(query).scalar_one() == NOW + 60
        assert _count(connection, t.settings) == 2


def test_head_constant_matches_the_migrations() -> None:
    from manireports.state.store import HEAD_REVISION, migrations_head

    assert migrations_head() == HEAD_REVISION


def test_pymysql_offers_no_tls_to_a_state_database_on_this_host(mariadb_url: str) -> None:
    # See manireports.driverargs: the TLS context PyMySQL would build costs every connection.
    with StateDB(mariadb_url.replace("mysql+mysqldb", "mysql+pymysql")) as state:
        assert state.url.get_driver_name() == "pymysql"
        with state.engine.connect() as connection:
            driver = connection.connection.driver_connection
        assert driver is not None and driver.ssl is False
