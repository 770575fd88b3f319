"""Every job stopped by SIGTERM while it waits on the database in the middle of its work: it exits
143 with one line, gives its lock (and run-due its claim) back, leaves no temporary file, records
a report run it had started as failed, and the next run of the same job completes.

The Moodle site and the state database are on MariaDB, where the test can hold a job up for as
long as it likes: a table lock on Moodle's data tables, or the time-tracking lock row. Moodle is
read through PyMySQL here: the mysqlclient driver waits inside its C library, where a signal is
acted on only once the query returns ([reports] timeout_seconds at the latest).
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from manireports.state import StateDB
from manireports.state import tables as t
from manireports.timetrack.store import locked
from tests.cli_runner import REPO
from tests.conftest import fresh_database
from tests.moodle_site import MoodleSite
from tests.schedule_support import free_port

pytestmark = [pytest.mark.mariadb, pytest.mark.slow]

# What the jobs read of Moodle once they hold their lock; the site's own facts stay readable.
DATA_TABLES = ("course_completions", "user_enrolments", "logstore_standard_log", "user")


@pytest.fixture
def site(tmp_path: Path) -> Iterator[dict[str, str]]:
    database = contextmanager(fresh_database)
    with database("mariadb", tmp_path) as moodle_url, database("mariadb", tmp_path) as state_url:
        moodle = MoodleSite(moodle_url, iomad=False)
        course = moodle.course("A")
        for name in ("sam", "sue"):
            learner = moodle.user(name)
            moodle.enrol(learner, course, timestart=1_700_000_000)
            moodle.complete(learner, course, 1_700_100_000)
        moodle.dispose()
        state = StateDB(state_url)
        state.upgrade()
        state.close()
        yield {
            "MANIREPORTS_MOODLE_URL": moodle_url,
            "MANIREPORTS_STATE_URL": state_url,
            "MANIREPORTS_SITE_TIMEZONE": "UTC",
            "MANIREPORTS_STORAGE_DIR": str(tmp_path / "files"),
            "MANIREPORTS_JOBS_LOCK_DIR": str(tmp_path / "locks"),
            "MANIREPORTS_EMAIL_SMTP_PORT": "9",
            "MANIREPORTS_MOODLE_MYSQL_DRIVER": "pymysql",
            "TEST_COURSE": str(course),
        }


def _start(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "manireports", *args],
        env={**os.environ, **env, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _waiting_on(url: str, process: subprocess.Popen[bytes]) -> None:
    """Return once a query of another connection has been running on `url`'s database for a
    second: the job is held up there."""
    engine = sa.create_engine(url)
    database = sa.make_url(url).database
    deadline = time.monotonic() + 120
    try:
        while True:
            with engine.connect() as connection:
                held = connection.execute(
                    sa.text(
                        "SELECT COUNT(*) FROM information_schema.processlist WHERE db = :db "
                        "AND command = 'Query' AND time >= 1 AND id <> CONNECTION_ID()"
                    ),
                    {"db": database},
                ).scalar()
            if held:
                return
            assert process.poll() is None, process.communicate()[1].decode()
            assert time.monotonic() < deadline, "the job never waited on the database"
            time.sleep(0.2)
    finally:
        engine.dispose()


@contextmanager
def _moodle_data_locked(url: str, names: tuple[str, ...] = DATA_TABLES) -> Iterator[None]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            tables = ", ".join(f"mdl_{name} WRITE" for name in names)
            connection.exec_driver_sql(f"LOCK TABLES {tables}")
            try:
                yield
            finally:
                connection.exec_driver_sql("UNLOCK TABLES")
    finally:
        engine.dispose()


def _assert_lock_free(env: dict[str, str], job: str) -> None:
    handle = os.open(Path(env["MANIREPORTS_JOBS_LOCK_DIR"]) / f"{job}.lock", os.O_RDWR)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)  # raises if still held
    finally:
        os.close(handle)


def _part_files(tmp_path: Path) -> list[Path]:
    return [p for p in tmp_path.rglob("*.part") if p.is_file()]


def _stop(process: subprocess.Popen[bytes]) -> str:
    process.send_signal(signal.SIGTERM)
    _out, err = process.communicate(timeout=60)
    text = err.decode()
    assert process.returncode == 143, text
    assert "Stopped by SIGTERM." in text and "Traceback" not in text
    return text


@pytest.mark.parametrize(
    ("job", "args"),
    [
        ("build-cache", ("jobs", "build-cache")),
        ("scorm-summary", ("jobs", "scorm-summary")),
        ("aggregate-time", ("jobs", "aggregate-time")),
        (None, ("run-report", "course_completion", "-o", "OUT")),
    ],
)
def test_a_job_held_up_by_moodle_stops_cleanly_on_sigterm(
    site: dict[str, str], tmp_path: Path, job: str | None, args: tuple[str, ...]
) -> None:
    out = tmp_path / "out" / "report.csv"
    out.parent.mkdir()
    args = tuple(str(out) if arg == "OUT" else arg for arg in args)
    with _moodle_data_locked(site["MANIREPORTS_MOODLE_URL"]):
        process = _start(site, *args)
        _waiting_on(site["MANIREPORTS_MOODLE_URL"], process)
        _stop(process)
    if job is not None:
        _assert_lock_free(site, job)
    assert _part_files(tmp_path) == []
    assert not out.exists()
    state = StateDB(site["MANIREPORTS_STATE_URL"])
    try:
        with state.begin() as connection:
            statuses = connection.execute(sa.select(t.report_runs.c.status)).scalars().all()
        # A report it had started is recorded as failed, never left 'running'.
        assert "running" not in statuses
    finally:
        state.close()
    again = _start(site, *args)
    _out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err.decode()


def test_a_dashboard_reading_reports_at_once_stops_cleanly_on_sigterm(
    site: dict[str, str], tmp_path: Path
) -> None:
    """Both of the reports it reads at once are held up; SIGTERM cancels their queries, each run
    is recorded as failed, and the command exits 143 at once, not when the lock goes."""
    out = tmp_path / "dashboard.html"
    args = ("dashboard", "--no-cache", "-o", str(out))
    # Role assignments only: the site and the cache fingerprint are read first, then the two
    # reports read at once (at_risk and course_progress) wait on the learners' role check.
    with _moodle_data_locked(site["MANIREPORTS_MOODLE_URL"], ("role_assignments",)):
        process = _start(site, *args)
        _waiting_on(site["MANIREPORTS_MOODLE_URL"], process)
        started = time.monotonic()
        _stop(process)
        assert time.monotonic() - started < 20
        state = StateDB(site["MANIREPORTS_STATE_URL"])
        try:
            with state.begin() as connection:
                runs = connection.execute(
                    sa.select(t.report_runs.c.status, t.report_runs.c.error)
                ).all()
        finally:
            state.close()
    assert len(runs) == 2 and {status for status, _error in runs} == {"failed"}
    assert all("cancelled" in error for _status, error in runs)
    assert not out.exists()
    again = _start(site, *args)
    _out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err.decode()
    assert out.exists()


def test_run_due_held_up_by_moodle_gives_its_claim_back(
    site: dict[str, str], tmp_path: Path
) -> None:
    from manireports.app import App
    from manireports.config import load_config
    from manireports.schedule.recurrence import make_recurrence
    from manireports.schedule.store import NewSchedule, add_schedule

    app = App(load_config(environ=site))
    sid = add_schedule(
        app,
        NewSchedule(
            report="course_completion",
            name="Held",
            rule=make_recurrence("daily", at="02:30"),
            format="csv",
            recipients=("boss@school.example",),
            start="2026-01-05 02:30",
        ),
    )
    state = app.state
    with state.begin() as connection:
        before = connection.execute(sa.select(t.schedules).where(t.schedules.c.id == sid)).one()
    with _moodle_data_locked(site["MANIREPORTS_MOODLE_URL"]):
        process = _start(site, "jobs", "run-due")
        _waiting_on(site["MANIREPORTS_MOODLE_URL"], process)
        with state.begin() as connection:
            claimed = connection.execute(
                sa.select(t.schedules.c.claimed_by).where(t.schedules.c.id == sid)
            ).scalar()
        assert claimed is not None  # it was at work on the schedule
        _stop(process)
    _assert_lock_free(site, "run-due")
    with state.begin() as connection:
        after = connection.execute(sa.select(t.schedules).where(t.schedules.c.id == sid)).one()
    assert after.claimed_by is None and after.claimed_until is None
    assert (after.next_run, after.attempt) == (before.next_run, before.attempt)
    assert _part_files(tmp_path) == []
    state.close()


def test_cleanup_held_up_by_the_time_tracking_lock_stops_cleanly(
    site: dict[str, str], tmp_path: Path
) -> None:
    state = StateDB(site["MANIREPORTS_STATE_URL"])
    try:
        with locked(state, int(time.time())):
            process = _start(site, "jobs", "cleanup")
            _waiting_on(site["MANIREPORTS_STATE_URL"], process)
            _stop(process)
        _assert_lock_free(site, "cleanup")
        with state.begin() as connection:
            cleanups = connection.execute(
                sa.select(sa.func.count())
                .select_from(t.audit_logs)
                .where(t.audit_logs.c.action == "data_cleanup")
            ).scalar()
        assert cleanups == 0  # nothing half done was recorded as done
    finally:
        state.close()
    again = _start(site, "jobs", "cleanup")
    _out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err.decode()


def test_cloud_send_reminders_held_up_by_moodle_stops_cleanly(site: dict[str, str]) -> None:
    from tests.cloud_support import cloud_env

    env = {
        **site,
        **cloud_env(
            site["MANIREPORTS_MOODLE_URL"],
            site["MANIREPORTS_STATE_URL"],
            cloud_endpoint=f"http://127.0.0.1:{free_port()}/jobs",
        ),
    }
    with _moodle_data_locked(site["MANIREPORTS_MOODLE_URL"]):
        process = _start(env, "cloud", "send-reminders", "--course", site["TEST_COURSE"])
        _waiting_on(site["MANIREPORTS_MOODLE_URL"], process)
        _stop(process)
    state = StateDB(site["MANIREPORTS_STATE_URL"])
    try:
        with state.begin() as connection:
            jobs = connection.execute(sa.select(sa.func.count()).select_from(t.cloud_jobs))
            assert jobs.scalar() == 0  # stopped before any job was recorded: nothing to undo
    finally:
        state.close()
