"""`jobs run-due` stopped by SIGTERM or killed by SIGKILL in the middle of its mails, against a
real SMTP server (aiosmtpd) that holds the conversation at RCPT or at DATA on the test's word.

SIGTERM before DATA aborts the mail unsent; SIGTERM during DATA waits for the server's answer and
records it; either way the claim and the lock are given back, the process exits 143 and the next
run-due sends only what is missing. SIGKILL during DATA leaves the delivery `sending` with its
Message-ID; the next attempt marks it `unconfirmed` and does not send it again."""

from __future__ import annotations

import asyncio
import fcntl
import os
import signal
import stat
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiosmtpd.smtp import Envelope, Session

from manireports.app import App
from manireports.config import load_config
from manireports.schedule.due import run_due
from manireports.schedule.recurrence import make_recurrence
from manireports.schedule.store import NewSchedule, add_schedule
from manireports.state import StateDB
from manireports.state import tables as t
from tests.cli_runner import REPO
from tests.schedule_support import Inbox, SmtpServer, build_site, environment, free_port

FIRST, SECOND = "first@school.example", "second@school.example"


class DataHoldingInbox(Inbox):
    """Also holds the reply to DATA for one address until `data_release` is set. The mail is
    kept before the hold, as a real server queues a mail and then says 250: a client killed in
    between never learns that the server has it."""

    def __init__(self) -> None:
        super().__init__()
        self.hold_data: str | None = None
        self.data_holding = threading.Event()
        self.data_release = threading.Event()

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        reply = await super().handle_DATA(server, session, envelope)
        if self.hold_data in envelope.rcpt_tos:
            self.data_holding.set()
            while not self.data_release.is_set():
                await asyncio.sleep(0.05)
        return reply


class ClockApp(App):
    clock: int | None = None

    def now(self) -> int:
        return super().now() if self.clock is None else self.clock


@pytest.fixture
def setup(tmp_path: Path, sqlite_url: str) -> Any:
    build_site(tmp_path / "moodle.sqlite")
    inbox = DataHoldingInbox()
    server = SmtpServer(inbox, free_port())
    server.start()
    env = environment(tmp_path, tmp_path / "moodle.sqlite", sqlite_url, server.port)
    state = StateDB(sqlite_url)
    state.upgrade()
    app = App(load_config(environ=env))
    sid = add_schedule(
        app,
        NewSchedule(
            report="course_completion",
            name="Stops",
            rule=make_recurrence("daily", at="02:30"),
            format="csv",
            recipients=(FIRST, SECOND),
            start="2026-01-05 02:30",
        ),
    )
    try:
        yield inbox, env, state, sid, tmp_path
    finally:
        inbox.release.set()
        inbox.data_release.set()
        server.stop()
        state.close()


def _run_due(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "manireports", "-v", "jobs", "run-due"],
        env={**os.environ, **env, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _deliveries(state: StateDB) -> dict[str, tuple[str, str | None]]:
    query = sa.select(t.deliveries.c.recipient, t.deliveries.c.status, t.deliveries.c.messageid)
    with state.begin() as connection:
        return {row[0]: (row[1], row[2]) for row in connection.execute(query)}


def _schedule(state: StateDB, sid: int) -> sa.Row[Any]:
    with state.begin() as connection:
        return connection.execute(sa.select(t.schedules).where(t.schedules.c.id == sid)).one()


def _assert_lock_free(tmp_path: Path) -> None:
    handle = os.open(tmp_path / "locks" / "run-due.lock", os.O_RDWR)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)  # raises if still held
    finally:
        os.close(handle)


def _no_part_files(tmp_path: Path) -> None:
    assert list((tmp_path / "files").rglob("*.part")) == []


@pytest.mark.slow
def test_sigterm_before_data_sends_nothing_and_the_next_run_completes(setup: Any) -> None:
    inbox, env, state, sid, tmp_path = setup
    before = _schedule(state, sid)
    inbox.hold = FIRST
    process = _run_due(env)
    assert inbox.holding.wait(timeout=120)
    process.send_signal(signal.SIGTERM)
    _out, err = process.communicate(timeout=60)
    inbox.release.set()
    assert process.returncode == 143, err.decode()
    assert "Stopped by SIGTERM." in err.decode()
    assert inbox.count() == {}
    assert _deliveries(state) == {FIRST: ("pending", None), SECOND: ("pending", None)}
    after = _schedule(state, sid)
    # The claim is given back at once, the occurrence is not moved on.
    assert after.claimed_by is None and after.claimed_until is None
    assert (after.next_run, after.attempt, after.retry_at) == (
        before.next_run,
        before.attempt,
        before.retry_at,
    )
    _assert_lock_free(tmp_path)
    _no_part_files(tmp_path)

    inbox.hold = None
    again = _run_due(env)
    _out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err.decode()
    assert inbox.count() == {FIRST: 1, SECOND: 1}
    assert {status for status, _ in _deliveries(state).values()} == {"sent"}
    # The report file holds personal data: owner-only, in an owner-only folder.
    [made] = (tmp_path / "files" / "schedules").rglob("*.csv")
    assert stat.S_IMODE(made.stat().st_mode) == 0o600
    assert stat.S_IMODE(made.parent.stat().st_mode) == 0o700


@pytest.mark.slow
@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigterm_during_data_waits_for_the_answer_and_records_it(setup: Any, workers: str) -> None:
    # With 1 worker the signal is held back in the main thread; with 2 the worker threads are
    # not interrupted at all and stop before their next step.
    inbox, env, state, sid, tmp_path = setup
    env = {**env, "MANIREPORTS_SCHEDULE_MAX_CONCURRENT": workers}
    inbox.hold_data = FIRST
    process = _run_due(env)
    assert inbox.data_holding.wait(timeout=120)
    # The mail is with the server, its answer not yet given: the worst moment to stop.
    assert _deliveries(state)[FIRST][0] == "sending"
    process.send_signal(signal.SIGTERM)
    # The process waits for the answer instead of dying without knowing what became of it.
    with pytest.raises(subprocess.TimeoutExpired):
        process.wait(timeout=1.5)
    inbox.data_release.set()
    _out, err = process.communicate(timeout=60)
    assert process.returncode == 143, err.decode()
    assert inbox.count() == {FIRST: 1}
    delivered = _deliveries(state)
    [message] = inbox.to(FIRST)
    assert delivered[FIRST] == ("sent", message["Message-ID"])
    assert delivered[SECOND] == ("pending", None)
    assert _schedule(state, sid).claimed_by is None
    _assert_lock_free(tmp_path)

    inbox.hold_data = None
    again = _run_due(env)
    _out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err.decode()
    assert inbox.count() == {FIRST: 1, SECOND: 1}


@pytest.mark.slow
def test_sigkill_during_data_leaves_an_unconfirmed_delivery_that_is_not_resent(
    setup: Any,
) -> None:
    inbox, env, state, sid, _tmp_path = setup
    inbox.hold_data = FIRST
    process = _run_due(env)
    assert inbox.data_holding.wait(timeout=120)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    inbox.data_release.set()
    inbox.hold_data = None
    status, messageid = _deliveries(state)[FIRST]
    assert status == "sending" and messageid
    claimed_until = _schedule(state, sid).claimed_until
    assert claimed_until is not None

    app = ClockApp(load_config(environ=env))
    app.clock = claimed_until + 1
    done = run_due(app)
    assert len(done.delivered) == 1, done
    [line] = done.unconfirmed
    assert FIRST in line and messageid in line
    # Each address got the report exactly once, the uncertain one included.
    assert inbox.count() == {FIRST: 1, SECOND: 1}
    [message] = inbox.to(FIRST)
    assert message["Message-ID"] == messageid
    assert _deliveries(state)[FIRST] == ("unconfirmed", messageid)
    assert _deliveries(state)[SECOND][0] == "sent"
    with state.begin() as connection:
        details = connection.execute(
            sa.select(t.audit_logs.c.details).where(t.audit_logs.c.action == "schedule_run")
        ).scalar_one()
    assert messageid in details
