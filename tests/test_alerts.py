"""Alerts of failing cron jobs through a real SMTP server (aiosmtpd), the job made to fail by
pointing it at a Moodle database that does not exist."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from manireports.app import App
from manireports.config import load_config
from manireports.ops.jobruns import note_outcome
from tests.cli_runner import invoke
from tests.schedule_support import Inbox, SmtpServer, body, build_site, environment, free_port


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer(Inbox(), free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def setup(tmp_path: Path, smtp: SmtpServer) -> dict[str, str]:
    moodle = tmp_path / "moodle.sqlite"
    build_site(moodle)
    env = environment(
        tmp_path,
        moodle,
        f"sqlite:///{tmp_path / 'state.sqlite'}",
        smtp.port,
        MANIREPORTS_ALERTS_RECIPIENTS="ops@school.example,tina",
    )
    assert invoke("db", "upgrade", env=env).returncode == 0
    return env


def _job(env: dict[str, str], *, broken: bool, tmp_path: Path) -> int:
    changed = dict(env)
    if broken:
        changed["MANIREPORTS_MOODLE_URL"] = f"sqlite:///{tmp_path / 'missing.sqlite'}"
    return invoke("jobs", "scorm-summary", env=changed).returncode


def test_one_mail_after_three_failures_and_one_on_recovery(
    setup: dict[str, str], smtp: SmtpServer, tmp_path: Path
) -> None:
    inbox = smtp.inbox
    assert _job(setup, broken=False, tmp_path=tmp_path) == 0
    assert [_job(setup, broken=True, tmp_path=tmp_path) for _ in range(2)] == [4, 4]
    assert inbox.count() == {}
    assert _job(setup, broken=True, tmp_path=tmp_path) == 4
    # tina is a Moodle username: unreachable while Moodle is the thing failing.
    assert inbox.count() == {"ops@school.example": 1}
    alert = inbox.to("ops@school.example")[0]
    assert alert["Subject"] == "manireports: jobs scorm-summary failed 3 times in a row"
    assert "missing.sqlite" in body(alert)
    assert [_job(setup, broken=True, tmp_path=tmp_path) for _ in range(2)] == [4, 4]
    assert inbox.count() == {"ops@school.example": 1}

    health = invoke("health", "--format", "json", env=setup)
    assert health.returncode == 2
    assert b'"name": "job.scorm-summary",\n      "status": "CRITICAL"' in health.stdout

    assert _job(setup, broken=False, tmp_path=tmp_path) == 0
    assert inbox.count() == {"ops@school.example": 2, "tina@school.example": 1}
    recovery = inbox.to("tina@school.example")[0]
    assert recovery["Subject"] == "manireports: jobs scorm-summary works again"
    assert _job(setup, broken=False, tmp_path=tmp_path) == 0
    assert inbox.count() == {"ops@school.example": 2, "tina@school.example": 1}


def test_two_hosts_seeing_the_failures_send_one_alert(
    setup: dict[str, str], smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two App objects stand for two cron hosts sharing the state database."""
    for key, value in setup.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("MANIREPORTS_ALERTS_RECIPIENTS", "ops@school.example")
    monkeypatch.setenv("MANIREPORTS_ALERTS_AFTER_FAILURES", "2")
    host_a, host_b = App(load_config()), App(load_config())
    assert note_outcome(host_a, "run-due", "boom") == []
    sent = note_outcome(host_b, "run-due", "boom")
    assert sent == ["Mailed ops@school.example: manireports: jobs run-due failed 2 times in a row."]
    assert note_outcome(host_a, "run-due", "boom") == []
    assert note_outcome(host_b, "run-due", "boom") == []
    assert smtp.inbox.count() == {"ops@school.example": 1}
    recovered = note_outcome(host_a, "run-due", None)
    assert recovered == ["Mailed ops@school.example: manireports: jobs run-due works again."]
    assert note_outcome(host_b, "run-due", None) == []
    assert smtp.inbox.count() == {"ops@school.example": 2}


def test_an_unsent_alert_is_tried_again_by_the_next_failure(
    setup: dict[str, str], smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in setup.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("MANIREPORTS_ALERTS_RECIPIENTS", "ops@school.example")
    monkeypatch.setenv("MANIREPORTS_ALERTS_AFTER_FAILURES", "1")
    app = App(load_config())
    smtp.stop()
    lines = note_outcome(app, "cleanup", "disk full")
    assert len(lines) == 1 and lines[0].startswith("The alert about cleanup could not be sent")
    smtp.start()
    assert note_outcome(app, "cleanup", "disk full")[0].startswith("Mailed ops@school.example")
    assert smtp.inbox.count() == {"ops@school.example": 1}


def test_every_run_is_recorded_with_its_ending(setup: dict[str, str], tmp_path: Path) -> None:
    assert _job(setup, broken=True, tmp_path=tmp_path) == 4
    assert _job(setup, broken=False, tmp_path=tmp_path) == 0
    engine = sa.create_engine(setup["MANIREPORTS_STATE_URL"])
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text(
                "SELECT job, status, error, timefinished >= timestarted "
                "FROM manireports_job_runs ORDER BY id"
            )
        ).all()
    engine.dispose()
    assert [(job, status, finished) for job, status, _e, finished in rows] == [
        ("scorm-summary", "failed", 1),
        ("scorm-summary", "ok", 1),
    ]
    assert "missing.sqlite" in rows[0][2] and rows[1][2] is None


def test_the_job_history_keeps_retention_runs_days(
    setup: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from manireports.ops.jobruns import finish_job_run, recorded_job, start_job_run

    for key, value in setup.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("MANIREPORTS_RETENTION_RUNS_DAYS", "2")
    app = App(load_config())
    now = int(time.time())
    for job, age in (("cleanup", 3 * 86_400), ("cleanup", 86_400), ("run-due", 5 * 86_400)):
        runid = start_job_run(app, job, now=now - age)
        finish_job_run(app, runid, job, "ok", now=now - age + 5)
    notices: list[str] = []
    with recorded_job(app, "cleanup", notices.append):
        pass
    engine = sa.create_engine(setup["MANIREPORTS_STATE_URL"])
    with engine.connect() as connection:
        kept = connection.execute(
            sa.text("SELECT job, :now - timestarted FROM manireports_job_runs ORDER BY id"),
            {"now": now},
        ).all()
    engine.dispose()
    # The 3-day-old cleanup run goes; run-due's old run waits for run-due's own next run.
    assert [(job, age >= 86_400) for job, age in kept] == [
        ("cleanup", True),
        ("run-due", True),
        ("cleanup", False),
    ]
    assert notices == []
