"""The small demo that the dashboard tests read (each test module builds it once)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from manireports.demo import build_demo
from tests.cli_runner import invoke


def build_dashboard_demo(base: Path) -> dict[str, str]:
    """Seed 3 anchored on 2026-06-01 in `base`, time tracking aggregated; its environment."""
    url = f"sqlite:///{base / 'moodle.sqlite'}"
    build_demo(url, size="small", seed=3, anchor=date(2026, 6, 1))
    environ = {
        "MANIREPORTS_MOODLE_URL": url,
        "MANIREPORTS_STATE_URL": f"sqlite:///{base / 'state.sqlite'}",
        "MANIREPORTS_JOBS_LOCK_DIR": str(base / "locks"),
        "MANIREPORTS_SITE_TIMEZONE": "UTC",
    }
    for command in (("db", "upgrade"), ("jobs", "aggregate-time")):
        done = invoke(*command, env=environ)
        assert done.returncode == 0, done.stderr
    return environ


def fetch(env: dict[str, str], sql: str) -> list[tuple[Any, ...]]:
    """Rows of a plain query on the demo's Moodle database, to pick viewers and check figures."""
    engine = sa.create_engine(env["MANIREPORTS_MOODLE_URL"])
    with engine.connect() as connection:
        rows = [tuple(row) for row in connection.execute(sa.text(sql))]
    engine.dispose()
    return rows
