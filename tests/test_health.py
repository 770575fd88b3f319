"""`manireports health` end to end: statuses, exit codes, JSON, Prometheus text read back by the
Prometheus client's parser, and the read-only check against real MariaDB and PostgreSQL grants."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from manireports.ops.health import Check, Status, overall
from manireports.state import StateDB, write_setting
from manireports.state.store import HEAD_REVISION
from tests.cli_runner import invoke
from tests.moodle_site import MoodleSite
from tests.schedule_support import ZONE, build_site

# Every cron job left unchecked, so a fresh site has no UNKNOWN job and can be OK.
NO_JOBS = {
    f"MANIREPORTS_HEALTH_{job}_MINUTES": "0"
    for job in ("AGGREGATE_TIME", "RUN_DUE", "BUILD_CACHE", "SCORM_SUMMARY", "CLEANUP")
}


@pytest.fixture
def site(tmp_path: Path) -> dict[str, str]:
    moodle = tmp_path / "moodle.sqlite"
    build_site(moodle)
    env = {
        "MANIREPORTS_MOODLE_URL": f"sqlite:///{moodle}",
        "MANIREPORTS_STATE_URL": f"sqlite:///{tmp_path / 'state.sqlite'}",
        "MANIREPORTS_SITE_TIMEZONE": ZONE,
        "MANIREPORTS_STORAGE_DIR": str(tmp_path / "files"),
        "MANIREPORTS_JOBS_LOCK_DIR": str(tmp_path / "locks"),
        **NO_JOBS,
    }
    assert invoke("db", "upgrade", env=env).returncode == 0
    return env


def _health(env: dict[str, str], **extra: str) -> tuple[int, dict[str, dict[str, Any]]]:
    result = invoke("health", "--format", "json", env={**env, **extra})
    assert result.stderr == b"", result.stderr
    document = json.loads(result.stdout)
    assert document["exit_code"] == result.returncode
    return result.returncode, {check["name"]: check for check in document["checks"]}


def test_the_worst_status_decides_and_critical_outranks_unknown() -> None:
    def checks(*statuses: Status) -> list[Check]:
        return [Check(f"c{i}", status, "") for i, status in enumerate(statuses)]

    assert overall(checks(Status.OK, Status.OK)) is Status.OK
    assert overall(checks(Status.OK, Status.UNKNOWN)) is Status.UNKNOWN
    assert overall(checks(Status.UNKNOWN, Status.WARNING)) is Status.WARNING
    assert overall(checks(Status.WARNING, Status.CRITICAL, Status.UNKNOWN)) is Status.CRITICAL


def test_a_fresh_site_is_ok(site: dict[str, str]) -> None:
    code, checks = _health(site)
    assert code == 0
    assert {name for name, check in checks.items() if check["status"] != "OK"} == set()
    assert checks["state.schema"]["figures"]["revision"] == HEAD_REVISION
    assert checks["moodle.release"]["figures"]["version"] == 2024100700
    assert checks["moodle.read_only"]["message"].startswith("SQLite is opened read-only")
    table = invoke("health", env=site)
    assert table.returncode == 0
    lines = table.stdout.decode().splitlines()
    assert lines[0].split() == ["CHECK", "STATUS", "MESSAGE"]
    assert lines[-1].split() == ["overall", "OK"]


def test_jobs_that_never_ran_are_unknown(site: dict[str, str]) -> None:
    code, checks = _health(site, MANIREPORTS_HEALTH_RUN_DUE_MINUTES="30")
    assert code == 3
    assert checks["job.run-due"]["status"] == "UNKNOWN"
    assert checks["job.cleanup"]["status"] == "OK"


def test_a_job_run_is_measured_against_its_interval(site: dict[str, str]) -> None:
    assert invoke("jobs", "cleanup", env=site).returncode == 0
    code, checks = _health(site, MANIREPORTS_HEALTH_CLEANUP_MINUTES="60")
    assert code == 0
    figures = checks["job.cleanup"]["figures"]
    assert figures["last_status"] == "ok" and figures["failures_in_a_row"] == 0
    assert 0 <= figures["age_seconds"] < 120 and figures["interval_seconds"] == 3600
    # Backdate the run: two intervals late is WARNING, four is CRITICAL.
    engine = sa.create_engine(site["MANIREPORTS_STATE_URL"])
    for hours, status, exit_code in ((2, "WARNING", 1), (4, "CRITICAL", 2)):
        with engine.begin() as connection:
            connection.execute(
                sa.text("UPDATE manireports_job_runs SET timestarted = :t, timefinished = :t + 1"),
                {"t": int(time.time()) - hours * 3600},
            )
        code, checks = _health(site, MANIREPORTS_HEALTH_CLEANUP_MINUTES="60")
        assert (code, checks["job.cleanup"]["status"]) == (exit_code, status)
    engine.dispose()


def test_an_unreachable_moodle_is_critical(site: dict[str, str], tmp_path: Path) -> None:
    code, checks = _health(site, MANIREPORTS_MOODLE_URL=f"sqlite:///{tmp_path / 'gone.sqlite'}")
    assert code == 2
    assert checks["moodle.reachable"]["status"] == "CRITICAL"
    assert checks["moodle.read_only"]["status"] == "UNKNOWN"
    assert checks["time_tracking"]["status"] == "UNKNOWN"
    assert checks["state.schema"]["status"] == "OK"


def test_a_state_bound_to_another_site_is_critical(site: dict[str, str], tmp_path: Path) -> None:
    code, checks = _health(site)
    assert checks["state.site"]["status"] == "OK"
    other = tmp_path / "other.sqlite"
    build_site(other)
    code, checks = _health(site, MANIREPORTS_MOODLE_URL=f"sqlite:///{other}")
    assert code == 2
    assert checks["state.site"]["status"] == "CRITICAL"
    assert "manireports db rebind" in checks["state.site"]["message"]


def test_a_state_database_behind_is_critical(site: dict[str, str]) -> None:
    with StateDB(site["MANIREPORTS_STATE_URL"]) as state:
        state.downgrade("0003")
    code, checks = _health(site)
    assert code == 2
    assert checks["state.schema"]["status"] == "CRITICAL"
    assert "manireports db upgrade" in checks["state.schema"]["message"]
    assert checks["schedules"]["status"] == "UNKNOWN"


def test_overdue_schedules_and_failed_runs_warn(site: dict[str, str], tmp_path: Path) -> None:
    added = invoke(
        "schedule", "add", "--report", "course_completion", "--name", "late",
        "--frequency", "daily", "--format", "csv", "--recipient", "boss@school.example",
        "--start", "2020-01-01 06:00", env=site,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    broken = tmp_path / "broken.sql"
    broken.write_text("SELECT nosuchcolumn FROM {user}")
    created = invoke("reports", "create", "--name", "broken", "--sql-file", str(broken), env=site)
    assert created.returncode == 0, created.stderr
    assert invoke("run-report", "broken", "-f", "csv", env=site).returncode == 1
    code, checks = _health(site)
    assert code == 1
    schedules = checks["schedules"]
    assert schedules["status"] == "WARNING"
    assert (schedules["figures"]["active"], schedules["figures"]["overdue"]) == (1, 1)
    runs = checks["report_runs"]["figures"]
    assert (checks["report_runs"]["status"], runs["runs_24h"], runs["failed_24h"]) == (
        "WARNING",
        1,
        1,
    )


def test_free_space_thresholds(site: dict[str, str]) -> None:
    code, checks = _health(site, MANIREPORTS_HEALTH_FREE_SPACE_WARNING_MB="999999999")
    assert (code, checks["storage.reports"]["status"]) == (1, "WARNING")
    assert checks["storage.state"]["status"] == "WARNING"
    code, checks = _health(
        site,
        MANIREPORTS_HEALTH_FREE_SPACE_WARNING_MB="999999999",
        MANIREPORTS_HEALTH_FREE_SPACE_CRITICAL_MB="999999999",
    )
    assert (code, checks["storage.reports"]["status"]) == (2, "CRITICAL")
    assert checks["storage.reports"]["figures"]["free_bytes"] > 0


def test_time_tracking_lag_is_the_log_ahead_of_the_watermark(
    site: dict[str, str], tmp_path: Path
) -> None:
    engine = sa.create_engine(site["MANIREPORTS_MOODLE_URL"])
    log = sa.Table("mdl_logstore_standard_log", sa.MetaData(), autoload_with=engine)
    start = int(time.time()) - 10 * 3600
    ids = []
    with engine.begin() as connection:
        for offset in (0, 3600, 5 * 3600):
            row: dict[str, Any] = {
                column.name: 0 if isinstance(column.type, sa.Integer) else ""
                for column in log.columns
                if not column.nullable and not column.primary_key
            }
            row.update(timecreated=start + offset, userid=3)
            key = connection.execute(log.insert().values(**row)).inserted_primary_key
            assert key is not None
            ids.append(int(key[0]))
    engine.dispose()
    with StateDB(site["MANIREPORTS_STATE_URL"]) as state:
        write_setting(state, "timetracking.lastlogid", str(ids[0]))
    code, checks = _health(site)
    lag = checks["time_tracking"]
    assert (lag["figures"]["lag_seconds"], lag["figures"]["rows_behind"]) == (18000, 2)
    assert (code, lag["status"]) == (1, "WARNING")  # 300 min > 180 min
    code, checks = _health(site, MANIREPORTS_HEALTH_TIME_LAG_CRITICAL_MINUTES="240")
    assert (code, checks["time_tracking"]["status"]) == (2, "CRITICAL")


def test_prometheus_text_reads_back(site: dict[str, str]) -> None:
    result = invoke("health", "--format", "prometheus", env=site)
    assert result.returncode == 0
    families = {f.name: f for f in text_string_to_metric_families(result.stdout.decode())}
    status = {
        sample.labels["check"]: sample.value
        for sample in families["manireports_health_status"].samples
    }
    assert status["moodle.reachable"] == 0 and status["storage.state"] == 0
    assert len(status) == 19
    free = families["manireports_free_bytes"].samples
    assert {sample.labels["check"] for sample in free} == {"storage.reports", "storage.state"}
    assert families["manireports_health_timestamp_seconds"].samples[0].value > 1.7e9


def test_bad_format_is_refused(site: dict[str, str]) -> None:
    result = invoke("health", "--format", "xml", env=site)
    assert result.returncode == 2
    assert b"--format must be one of table, json, prometheus" in result.stderr


# -- read-only grants on the real servers ------------------------------------------------------


def _read_only_status(site: dict[str, str], moodle_url: str) -> dict[str, Any]:
    _code, checks = _health(site, MANIREPORTS_MOODLE_URL=moodle_url)
    assert checks["moodle.reachable"]["status"] == "OK"
    return checks["moodle.read_only"]


@pytest.fixture
def mariadb_moodle(mariadb_url: str) -> Iterator[tuple[str, str]]:
    """A Moodle on MariaDB and a second account that may only SELECT from it."""
    MoodleSite(mariadb_url, iomad=False).dispose()
    url = sa.make_url(mariadb_url)
    user = f"mr_ro_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(mariadb_url)
    with admin.begin() as connection:
        connection.execute(sa.text(f"CREATE USER '{user}'@'%' IDENTIFIED BY 'pw'"))
        connection.execute(sa.text(f"GRANT SELECT ON `{url.database}`.* TO '{user}'@'%'"))
    try:
        reader = url.set(username=user, password="pw")
        yield mariadb_url, reader.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.execute(sa.text(f"DROP USER '{user}'@'%'"))
        admin.dispose()


def test_mariadb_write_grants(site: dict[str, str], mariadb_moodle: tuple[str, str]) -> None:
    owner, reader = mariadb_moodle
    writer = _read_only_status(site, owner)
    assert writer["status"] == "WARNING" and "ALL PRIVILEGES" in writer["message"]
    assert writer["figures"]["write_grants"] >= 1
    read_only = _read_only_status(site, reader)
    assert (read_only["status"], read_only["figures"]["write_grants"]) == ("OK", 0)


@pytest.fixture
def postgres_moodle(postgres_url: str) -> Iterator[tuple[str, str]]:
    MoodleSite(postgres_url, iomad=False).dispose()
    url = sa.make_url(postgres_url)
    role = f"mr_ro_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f"CREATE ROLE {role} LOGIN"))
        connection.execute(sa.text(f"GRANT USAGE ON SCHEMA public TO {role}"))
        connection.execute(sa.text(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}"))
    try:
        yield postgres_url, url.set(username=role).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f"DROP OWNED BY {role}"))
            connection.execute(sa.text(f"DROP ROLE {role}"))
        admin.dispose()


def test_postgresql_write_privileges(
    site: dict[str, str], postgres_moodle: tuple[str, str]
) -> None:
    owner, reader = postgres_moodle
    superuser = _read_only_status(site, owner)
    assert (superuser["status"], superuser["figures"]["superuser"]) == ("WARNING", 1)
    read_only = _read_only_status(site, reader)
    assert read_only["status"] == "OK", read_only["message"]
    assert read_only["figures"]["write_grants"] == 0
    # One table the reader may change is enough to warn.
    admin = sa.create_engine(owner)
    role = sa.make_url(reader).username
    with admin.begin() as connection:
        connection.execute(sa.text(f"GRANT UPDATE ON mdl_course TO {role}"))
    admin.dispose()
    one_table = _read_only_status(site, reader)
    assert (one_table["status"], one_table["figures"]["write_grants"]) == ("WARNING", 1)


def _checks_now(env: dict[str, str], now: int) -> dict[str, Check]:
    from manireports.app import App
    from manireports.config import load_config
    from manireports.ops.health import run_checks

    app = App(load_config(environ=env))
    return {check.name: check for check in run_checks(app, now)}


def test_cloud_failures_and_the_oldest_open_job(site: dict[str, str]) -> None:
    now = 1_800_000_000
    engine = sa.create_engine(site["MANIREPORTS_STATE_URL"])
    job = "INSERT INTO manireports_cloud_jobs (jobid, type, status, total_recipients, "
    job += "payload_json, createdby, timecreated) VALUES (:j, 'reminder', :s, 2, '{}', 0, :t)"
    with engine.begin() as connection:
        connection.execute(sa.text(job), {"j": "old", "s": "submitted", "t": now - 2 * 86_400})
        connection.execute(sa.text(job), {"j": "new", "s": "completed", "t": now - 3_600})
        connection.execute(
            sa.text(
                "INSERT INTO manireports_cloud_job_recipients (jobid, userid, email, status) "
                "VALUES ('new', 3, 'sam@x.example', 'failed'), ('new', 4, 'sue@x.example', 'sent')"
            )
        )
    engine.dispose()
    cloud = _checks_now(site, now)["cloud"]
    assert cloud.status is Status.WARNING
    assert cloud.figures["failed_recipients_24h"] == 1
    assert cloud.figures["failed_jobs_24h"] == 0
    assert cloud.figures["oldest_open_age_seconds"] == 2 * 86_400


def test_cache_hit_rate_per_report_of_the_last_day(site: dict[str, str]) -> None:
    now = 1_800_000_000
    engine = sa.create_engine(site["MANIREPORTS_STATE_URL"])
    insert = (
        "INSERT INTO manireports_cache_summary (cachekey, reporttype, datajson, lastgenerated, "
        "ttl, hits, misses, invalidations) VALUES (:k, :r, '[]', :t, 3600, :h, :m, :i)"
    )
    with engine.begin() as connection:
        for key, report, age, hits, misses, invalidated in (
            ("a", "enrolment_trends", 60, 3, 1, 1),
            ("b", "enrolment_trends", 120, 5, 1, 0),
            ("c", "company_overview", 600, 0, 2, 0),
            ("d", "company_overview", 3 * 86_400, 50, 0, 7),  # older than a day: not counted
        ):
            values = {"k": key, "r": report, "t": now - age, "h": hits, "m": misses}
            connection.execute(sa.text(insert), {**values, "i": invalidated})
    engine.dispose()
    cache = _checks_now(site, now)["cache"]
    assert cache.figures["hit_rate_enrolment_trends"] == 0.8  # 8 of 10
    assert (cache.figures["hits_company_overview"], cache.figures["hit_rate_company_overview"]) == (
        0,
        0.0,
    )
    assert (
        cache.figures["invalidations_enrolment_trends"],
        cache.figures["invalidations_company_overview"],
    ) == (1, 0)
    assert cache.message == ("hit rate company_overview 0%, enrolment_trends 80%, 1 invalidated")
