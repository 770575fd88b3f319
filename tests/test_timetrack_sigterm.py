"""SIGTERM in the middle of `time sync`, `time heartbeat`, `time aggregate` and `time rebuild`:
the command stops with exit 143, its current step rolled back (or finished), and the runs after
it complete the work with nothing lost or doubled: the state equals one run from scratch.

Real processes, killed after random delays; a kill that lands after a command has finished
(exit 0) is fine too, and the test checks that at least some kills did land mid-run.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cli_runner import REPO
from tests.test_timetrack_support import (
    Tracking,
    from_scratch,
    heartbeat_lines,
    reference_state,
    sqlite_tracking,
)

__all__ = ["sqlite_tracking"]  # fixtures


def write_log(tracking: Tracking, start: int, events: int, rng: random.Random) -> None:
    """`events` clicks of 400 users in 5 courses, ids roughly in time order."""
    path = tracking.site.url.removeprefix("sqlite:///")
    rows = []
    moment = start
    for number in range(1, events + 1):
        moment += rng.choice([0, 0, 1, 2])
        late = rng.choice([0] * 20 + [700, 90_000])
        userid, courseid = 3 + rng.randrange(400), 10 + rng.randrange(5)
        rows.append((number, userid, courseid, moment - late))
    with sqlite3.connect(path) as connection:
        connection.executemany(
            "INSERT INTO mdl_logstore_standard_log (id, eventname, component, action, target, "
            "crud, edulevel, contextid, contextlevel, contextinstanceid, userid, courseid, "
            "anonymous, timecreated, origin, ip) VALUES (?, '\\core\\event\\course_viewed', "
            "'core', 'viewed', 'course', 'r', 2, 1, 50, 0, ?, ?, 0, ?, 'web', '127.0.0.1')",
            rows,
        )
    tracking.log_id = events


def run_killed(
    command: list[str], env: dict[str, str], delay: float, stdin: Path | None = None
) -> int:
    """Start the command, SIGTERM it after `delay` seconds, return its exit code."""
    with stdin.open("rb") if stdin else open(os.devnull, "rb") as source:
        process = subprocess.Popen(
            [sys.executable, "-m", "manireports", *command],
            stdin=source,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
        )
        try:
            process.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=300)
    code = process.returncode
    # -15: the signal came before Python had installed its handler (still importing): the
    # default action ended the process before it did anything.
    assert code in (0, 143, -signal.SIGTERM), err.decode()
    if code == 143:
        assert b"Stopped by SIGTERM." in err
        assert b"Traceback" not in err
    return code


@pytest.mark.slow
def test_sigterm_mid_run_loses_and_doubles_nothing(
    sqlite_tracking: Tracking, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    rng = random.Random(143)
    now = int(time.time())
    start = now - 12 * 86_400
    write_log(sqlite_tracking, start, 150_000, rng)
    beats = [
        (3 + rng.randrange(300), 10 + rng.randrange(5), start + rng.randrange(0, 400_000))
        for _ in range(150_000)
    ]
    beats_file = tmp_path / "beats.jsonl"
    beats_file.write_text("\n".join(heartbeat_lines(beats)) + "\n")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env["MANIREPORTS_MOODLE_URL"] = sqlite_tracking.site.url
    env["MANIREPORTS_STATE_URL"] = sqlite_tracking.state_url
    env["MANIREPORTS_SITE_TIMEZONE"] = "UTC"

    killed: dict[str, int] = {}
    heartbeats_applied = False
    for round_number in range(16):
        delay = 1.5 + rng.random() * 3
        command = ["sync", "heartbeat", "aggregate", "rebuild"][round_number % 4]
        if command == "heartbeat" and heartbeats_applied:
            command = "sync"
        stdin = beats_file if command == "heartbeat" else None
        code = run_killed(["time", command], env, delay, stdin)
        if code == 143:
            killed[command] = killed.get(command, 0) + 1
        elif code == 0 and command == "heartbeat":
            heartbeats_applied = True
    # The runs after the kills finish the work.
    assert run_killed(["time", "sync"], env, 600) == 0
    if not heartbeats_applied:
        assert run_killed(["time", "heartbeat"], env, 600, beats_file) == 0
    assert run_killed(["time", "aggregate"], env, 600) == 0
    assert sum(killed.values()) >= 3, killed

    final = int(time.time())
    reference = reference_state("sqlite", request)
    sessions, daily = sqlite_tracking.sessions(), sqlite_tracking.daily()
    expected_sessions, expected_daily = from_scratch(sqlite_tracking, reference, beats, final)
    only_here = sorted(set(sessions) - set(expected_sessions))[:5]
    only_there = sorted(set(expected_sessions) - set(sessions))[:5]
    assert sessions == expected_sessions, (killed, only_here, only_there)
    assert daily == expected_daily
