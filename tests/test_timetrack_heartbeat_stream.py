"""`time heartbeat` reads its input as a stream: bounded memory for any batch size, and a bad
line anywhere still rejects the whole batch, naming its line."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from manireports.timetrack import HeartbeatInputError, apply_heartbeats
from tests.cli_runner import REPO
from tests.test_timetrack_support import (
    T,
    Tracking,
    close,
    expected_sessions,
    heartbeat_lines,
    sqlite_tracking,
)

__all__ = ["sqlite_tracking"]  # fixtures


def beats_of(pairs: int, per_pair: int, start: int = T) -> list[tuple[int, int, int]]:
    """Every pair beats every 30 s; after each 100th beat a pause of 400 s (beyond the 5-minute
    reach) starts a new session. In time order, pairs interleaved."""
    beats = []
    for number in range(per_pair):
        offset = number * 30 + (number // 100) * 370
        for index in range(pairs):
            beats.append((100 + index // 4, 2 + index % 4, start + offset))
    return beats


def test_small_rounds_give_what_one_round_gives(sqlite_tracking: Tracking) -> None:
    beats = beats_of(12, 250)
    now = beats[-1][2] + 60
    app = sqlite_tracking.app()
    try:
        result = apply_heartbeats(app, heartbeat_lines(beats), now=now, chunk=7)
    finally:
        close(app)
    assert (result.lines, result.applied, result.pairs) == (3000, 3000, 12)
    # Per pair: beats 0-99, 100-199 closed (2,970 s each), 200-249 still open.
    sessions = sqlite_tracking.sessions()
    assert [row[5:] for row in sessions[:3]] == [(100, 2970), (100, 2970), (50, None)]
    assert sessions == expected_sessions(
        beats, reach=300, close_after=600, now=now, source="heartbeat"
    )


def test_a_bad_line_late_in_a_long_batch_rejects_all_of_it(sqlite_tracking: Tracking) -> None:
    lines = heartbeat_lines(beats_of(10, 500))
    lines.insert(4321, '{"userid": 5, "courseid": 3}')
    lines.append("not json")
    app = sqlite_tracking.app()
    try:
        with pytest.raises(HeartbeatInputError) as raised:
            apply_heartbeats(app, lines, now=T + 100_000, chunk=100)
    finally:
        close(app)
    assert raised.value.total == 2
    assert [number for number, _reason in raised.value.errors] == [4322, 5002]
    assert "line 4322: missing 'timestamp'" in str(raised.value)
    assert sqlite_tracking.sessions() == []


LAUNCHER = (
    "import os, subprocess, sys\n"
    "child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)\n"
    "_pid, status, usage = os.wait4(child.pid, 0)\n"
    "print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)\n"
)


@pytest.mark.slow
def test_a_million_heartbeats_from_stdin_in_bounded_memory(
    sqlite_tracking: Tracking, tmp_path: Path
) -> None:
    pairs, per_pair = 2000, 500
    # The command reads the clock: the last beats are a minute old, so the last sessions are open.
    span = (per_pair - 1) * 30 + ((per_pair - 1) // 100) * 370
    start = int(time.time()) - span - 60
    source = tmp_path / "beats.jsonl"
    with source.open("w") as out:
        for userid, courseid, moment in beats_of(pairs, per_pair, start):
            out.write(f'{{"userid": {userid}, "courseid": {courseid}, "timestamp": {moment}}}\n')
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env["MANIREPORTS_MOODLE_URL"] = sqlite_tracking.site.url
    env["MANIREPORTS_STATE_URL"] = sqlite_tracking.state_url
    env["MANIREPORTS_SITE_TIMEZONE"] = "UTC"
    command = [sys.executable, "-m", "manireports", "time", "heartbeat"]
    with source.open("rb") as stdin:
        result = subprocess.run(
            [sys.executable, "-c", LAUNCHER, *command],
            stdin=stdin,
            capture_output=True,
            env=env,
            check=True,
            timeout=900,
        )
    code, peak_kb = result.stdout.split()
    assert int(code) == 0, result.stderr
    peak = int(peak_kb) / 1024
    assert peak < 150, f"peak {peak:.0f} MB for 1,000,000 heartbeats"
    sessions = sqlite_tracking.sessions()
    assert len(sessions) == pairs * 5
    assert sum(row[5] for row in sessions) == 1_000_000
    closed = [row for row in sessions if row[6] is not None]
    assert len(closed) == pairs * 4
    assert {row[6] for row in closed} == {2970}
