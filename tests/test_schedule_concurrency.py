"""Exactly once: three `jobs run-due` processes at once against a shared
MariaDB or PostgreSQL state database, as three cron hosts would run them, and a run-due killed in
the middle of its mails whose claim expires and whose run another process completes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa

from manireports.app import App
from manireports.config import load_config
from manireports.schedule.due import run_due
from manireports.schedule.recurrence import make_recurrence
from manireports.schedule.store import NewSchedule, add_schedule
from manireports.state import StateDB
from manireports.state import tables as t
from tests.cli_runner import REPO
from tests.schedule_support import Inbox, SmtpServer, build_site, environment, free_port

RECIPIENTS = ("tina", "boss@school.example")


class ClockApp(App):
    """An App whose clock the test sets, so a claim's expiry needs no waiting."""

    clock: int | None = None

    def now(self) -> int:
        return super().now() if self.clock is None else self.clock


def _schedules(env: dict[str, str], count: int, recipients: tuple[str, ...]) -> list[int]:
    app = App(load_config(environ=env))
    rule = make_recurrence("daily", at="02:30")
    return [
        add_schedule(
            app,
            NewSchedule(
                report="course_completion",
                name=f"Schedule {number}",
                rule=rule,
                format="csv",
                recipients=recipients,
                start="2026-01-05 02:30",
            ),
        )
        for number in range(count)
    ]


def _run_due_process(env: dict[str, str]) -> subprocess.Popen[bytes]:
    environ = {**os.environ, **env, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-m", "manireports", "jobs", "run-due"],
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _sent_per_schedule_and_recipient(state: StateDB) -> Counter[tuple[int, str]]:
    query = (
        sa.select(t.report_runs.c.scheduleid, t.deliveries.c.recipient)
        .join(t.report_runs, t.report_runs.c.id == t.deliveries.c.runid)
        .where(t.deliveries.c.status == "sent")
    )
    with state.begin() as connection:
        return Counter((int(row[0]), str(row[1])) for row in connection.execute(query))


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["mariadb", "postgresql"])
def test_three_run_due_processes_deliver_each_schedule_once_per_recipient(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    state_url = request.getfixturevalue("mariadb_url" if kind == "mariadb" else "postgres_url")
    build_site(tmp_path / "moodle.sqlite")
    inbox = Inbox()
    server = SmtpServer(inbox, free_port())
    server.start()
    env = environment(
        tmp_path, tmp_path / "moodle.sqlite", state_url, server.port,
        MANIREPORTS_SCHEDULE_MAX_CONCURRENT="2",
    )  # fmt: skip
    state = StateDB(state_url)
    state.upgrade()
    try:
        ids = _schedules(env, 6, RECIPIENTS)
        # Three hosts: each its own lock directory, all one state database.
        processes = [
            _run_due_process({**env, "MANIREPORTS_JOBS_LOCK_DIR": str(tmp_path / f"host{n}")})
            for n in range(3)
        ]
        for process in processes:
            _out, err = process.communicate(timeout=300)
            assert process.returncode == 0, err.decode()
        # 6 schedules x 2 recipients = 12 mails, 6 to each address.
        assert inbox.count() == {"tina@school.example": 6, "boss@school.example": 6}
        assert _sent_per_schedule_and_recipient(state) == Counter(
            {
                (sid, address): 1
                for sid in ids
                for address in ("tina@school.example", "boss@school.example")
            }
        )
        with state.begin() as connection:
            # Two views per schedule (tina's and the operator's): 12 files made, none twice.
            runs = connection.execute(sa.select(sa.func.count()).select_from(t.report_runs))
            assert runs.scalar() == 12
            claims = connection.execute(
                sa.select(sa.func.count())
                .select_from(t.schedules)
                .where(t.schedules.c.claimed_by.is_not(None))
            )
            assert claims.scalar() == 0
    finally:
        server.stop()
        state.close()


@pytest.mark.slow
def test_killed_run_due_claim_expires_and_the_run_completes_without_duplicates(
    tmp_path: Path, sqlite_url: str
) -> None:
    build_site(tmp_path / "moodle.sqlite")
    inbox = Inbox()
    inbox.hold = "second@school.example"
    server = SmtpServer(inbox, free_port())
    server.start()
    env = environment(
        tmp_path, tmp_path / "moodle.sqlite", sqlite_url, server.port,
        MANIREPORTS_SCHEDULE_CLAIM_TIMEOUT_SECONDS="600",
    )  # fmt: skip
    state = StateDB(sqlite_url)
    state.upgrade()
    try:
        (sid,) = _schedules(env, 1, ("first@school.example", "second@school.example"))
        process = _run_due_process(env)
        # The first mail went out; the process is now talking to the server about the second.
        assert inbox.holding.wait(timeout=120)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
        inbox.release.set()
        assert inbox.count() == {"first@school.example": 1}
        with state.begin() as connection:
            claimed_until = connection.execute(
                sa.select(t.schedules.c.claimed_until).where(t.schedules.c.id == sid)
            ).scalar_one()
        assert claimed_until is not None

        app = ClockApp(load_config(environ=env))
        # While the dead process's claim lasts, nobody else runs the schedule.
        app.clock = claimed_until - 1
        assert run_due(app).delivered == []
        assert inbox.count() == {"first@school.example": 1}
        # Once it has expired the next run-due completes the run: only the second mail is sent.
        app.clock = claimed_until + 1
        done = run_due(app)
        assert len(done.delivered) == 1, done
        assert inbox.count() == {"first@school.example": 1, "second@school.example": 1}
        assert _sent_per_schedule_and_recipient(state) == Counter(
            {(sid, "first@school.example"): 1, (sid, "second@school.example"): 1}
        )
    finally:
        server.stop()
        state.close()
