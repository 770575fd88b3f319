"""The time-tracking commands and the aggregate-time cron job, end to end on the demo."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import sqlalchemy as sa
from manireports.jobs.lock import job_lock

from manireports.demo import build_demo
from tests.cli_runner import run_cli


def test_sync_aggregate_and_the_job_lock(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.sqlite'}"
    build_demo(url, size="small", seed=3, anchor=date(2026, 6, 1))
    state = f"sqlite:///{tmp_path / 'state.sqlite'}"
    locks = tmp_path / "locks"
    env = {
        "MANIREPORTS_MOODLE_URL": url,
        "MANIREPORTS_STATE_URL": state,
        "MANIREPORTS_JOBS_LOCK_DIR": str(locks),
    }
    assert run_cli("db", "upgrade", env=env).returncode == 0
    first = run_cli("jobs", "aggregate-time", env=env)
    assert first.returncode == 0, first.stderr
    assert first.stdout == b"" and first.stderr == b"", "cron jobs are silent on success"
    engine = sa.create_engine(state)
    with engine.connect() as connection:
        daily = connection.execute(
            sa.text("SELECT count(*), sum(duration) FROM manireports_usertime_daily")
        ).one()
    assert daily[0] > 0 and daily[1] > 0
    again = run_cli("-v", "time", "sync", env=env)
    assert again.returncode == 0, again.stderr
    assert "Read 0 events" in again.stderr.decode()
    aggregated = run_cli("time", "aggregate", "--from", "2026-05-01", "--to", "2026-05-31", env=env)
    assert aggregated.returncode == 0, aggregated.stderr
    with engine.connect() as connection:
        assert (
            connection.execute(
                sa.text("SELECT count(*), sum(duration) FROM manireports_usertime_daily")
            ).one()
            == daily
        )
    engine.dispose()
    with job_lock(locks, "aggregate-time"):
        busy = run_cli("jobs", "aggregate-time", env=env)
    assert busy.returncode == 0
    assert "already running" in busy.stderr.decode()
