"""Rows stream from the database to the writer: 200,000 rows stay under 100 MB.

The child process's own peak resident memory (os.wait4) is compared between a small and a large
report, so accidental buffering anywhere (the driver, the runner, the writer) shows as growth.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.cli_runner import REPO
from tests.moodle_site import MoodleSite

ROWS = 200_000


def build(path: Path, learners: int) -> str:
    site = MoodleSite(f"sqlite:///{path}")
    course = site.course("BIG")
    context = site.course_context(course)
    enrol = site.enrol_instance(course)
    student = site.roles["student"]
    with site.engine.connect() as connection:
        first = 1 + int(connection.execute(sa.text("SELECT max(id) FROM mdl_user")).scalar_one())
    ids = range(first, first + learners)
    site.insert_many(
        "user",
        [
            {"id": i, "username": f"learner{i}", "firstname": "Zoë", "lastname": f"N{i}",
             "email": f"l{i}@example.org", "auth": "manual", "confirmed": 1, "mnethostid": 1}
            for i in ids
        ],
    )  # fmt: skip
    site.insert_many(
        "user_enrolments",
        [{"enrolid": enrol, "userid": i, "timestart": 1_700_000_000 + i} for i in ids],
    )
    site.insert_many(
        "role_assignments", [{"roleid": student, "contextid": context, "userid": i} for i in ids]
    )
    site.dispose()
    return site.url


# A small launcher process starts the command and reports its peak: a child forked straight from
# pytest would count pytest's own pages (ru_maxrss includes the time before exec).
LAUNCHER = (
    "import os, subprocess, sys\n"
    "with open(os.devnull, 'wb') as sink:\n"
    "    child = subprocess.Popen(sys.argv[1:], stdout=sink)\n"
    "    _pid, status, usage = os.wait4(child.pid, 0)\n"
    "print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)\n"
)


def peak_mb(url: str, state: str) -> float:
    env = dict(os.environ, PYTHONPATH=str(REPO), MANIREPORTS_MOODLE_URL=url)
    env["MANIREPORTS_STATE_URL"] = state
    command = [sys.executable, "-m", "manireports", "run-report", "course_completion", "-f", "csv"]
    result = subprocess.run(
        [sys.executable, "-c", LAUNCHER, *command],
        capture_output=True,
        env=env,
        check=True,
        timeout=600,
    )
    code, peak_kb = result.stdout.split()
    assert int(code) == 0, result.stderr
    return int(peak_kb) / 1024


@pytest.mark.slow
def test_two_hundred_thousand_rows_stay_under_100_mb(tmp_path: Path) -> None:
    from manireports.state import StateDB

    # One state database per site: a state belongs to the site it was first used with.
    peaks = []
    for name, learners in (("small", 100), ("large", ROWS)):
        state = f"sqlite:///{tmp_path / f'state-{name}.sqlite'}"
        StateDB(state).upgrade()
        peaks.append(peak_mb(build(tmp_path / f"{name}.sqlite", learners), state))
    small, large = peaks
    assert large < 100, f"peak {large:.1f} MB for {ROWS} rows"
    assert large - small < 15, f"memory grew from {small:.1f} to {large:.1f} MB"


def test_a_closed_pipe_stops_quietly(tmp_path: Path) -> None:
    """`manireports run-report ... | head -n 2` prints two lines and no traceback."""
    from manireports.state import StateDB

    state = f"sqlite:///{tmp_path / 'state.sqlite'}"
    StateDB(state).upgrade()
    url = build(tmp_path / "pipe.sqlite", 20_000)
    env = dict(os.environ, PYTHONPATH=str(REPO), MANIREPORTS_MOODLE_URL=url)
    env["MANIREPORTS_STATE_URL"] = state
    result = subprocess.run(
        f"{sys.executable} -m manireports run-report course_completion -f csv | head -n 2",
        shell=True,
        capture_output=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert result.stdout.decode().count("\n") == 2
    assert "Traceback" not in result.stderr.decode()
    assert result.stderr.decode() == ""
