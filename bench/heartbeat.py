"""Measure `time heartbeat` throughput against a floor that only parses the same JSON lines.

    python bench/heartbeat.py [--beats 200000] [--pairs 2000] [--state URL] [--repeat 3]

Heartbeats come as a page would send them: every (user, course) pair beats every 30 seconds, the
batch in time order. Two batches are written: the first fills the 50 minutes before the second,
so the second extends sessions that are already stored (the steady state of a busy site). The
Moodle database is a small SQLite demo built once in the work folder (heartbeats never read it,
but the command needs a site for its timezone). The state database is SQLite in the work folder
unless --state names a MariaDB or PostgreSQL database (emptied first).

Measurements, each in its own process through bench/harness.py:
- floor: a Python loop reading stdin and json.loads on every line, nothing else;
- startup: `time heartbeat` with an empty stdin (the fixed cost of any run);
- heartbeat-first: the first batch into an empty state;
- heartbeat-next: the second batch, extending the sessions the first left open.
The rates printed are heartbeats per second of the whole command, and without the startup cost.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import sqlalchemy as sa  # noqa: E402

from bench.harness import Measurement, measure, print_table, python_argv  # noqa: E402

INTERVAL = 30
FLOOR = """
import json, sys
count = 0
for line in sys.stdin.buffer:
    data = json.loads(line)
    count += data["userid"] > 0
print(count)
"""


def write_batch(path: Path, *, beats: int, pairs: int, start: int) -> None:
    """`beats` heartbeats of `pairs` (user, course) pairs, one every 30 s each, from `start`."""
    with path.open("w", encoding="utf-8") as out:
        written = 0
        moment = start
        while written < beats:
            for index in range(pairs):
                if written == beats:
                    break
                userid = 100 + index // 3
                courseid = 2 + index % 3
                out.write(
                    json.dumps({"userid": userid, "courseid": courseid, "timestamp": moment}) + "\n"
                )
                written += 1
            moment += INTERVAL


def empty_state(url: str) -> None:
    """Drop every table of the state database, in foreign-key order."""
    engine = sa.create_engine(url)
    metadata = sa.MetaData()
    metadata.reflect(engine)
    metadata.drop_all(engine)
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--beats", type=int, default=200_000)
    parser.add_argument("--pairs", type=int, default=2_000)
    parser.add_argument("--state", help="A MariaDB or PostgreSQL state database URL (emptied).")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from manireports.demo import build_demo

    work = Path(tempfile.mkdtemp(prefix="mr_bench_heartbeat_"))
    moodle = f"sqlite:///{work / 'moodle.sqlite'}"
    build_demo(moodle, size="small", seed=1, anchor=datetime.now(UTC).date())
    state = args.state or f"sqlite:///{work / 'state.sqlite'}"
    now = int(time.time())
    span = (args.beats // args.pairs + 1) * INTERVAL
    first, second = work / "first.jsonl", work / "second.jsonl"
    write_batch(first, beats=args.beats, pairs=args.pairs, start=now - 2 * span - 60)
    write_batch(second, beats=args.beats, pairs=args.pairs, start=now - span - 30)
    env = {**os.environ, "MANIREPORTS_MOODLE_URL": moodle, "MANIREPORTS_STATE_URL": state}
    env["PYTHONPATH"] = str(REPO)
    command = [sys.executable, "-m", "manireports", "time", "heartbeat"]

    floor = measure("floor: json.loads per line", python_argv(FLOOR), stdin_path=str(first))
    upgrade = [sys.executable, "-m", "manireports", "db", "upgrade"]
    results: list[Measurement] = []
    measure("upgrade", upgrade, env=env, repeat=1)
    startup = measure("startup: time heartbeat < /dev/null", command, env=env)
    results.append(startup)
    runs: list[tuple[Measurement, Measurement]] = []
    for _ in range(args.repeat):
        if args.state:
            empty_state(state)
        else:
            (work / "state.sqlite").unlink(missing_ok=True)
        measure("upgrade", upgrade, env=env, repeat=1)
        one = measure("heartbeat-first", command, env=env, stdin_path=str(first), repeat=1)
        two = measure("heartbeat-next", command, env=env, stdin_path=str(second), repeat=1)
        runs.append((one, two))
    best_first = min((run[0] for run in runs), key=lambda m: m.seconds)
    best_next = min((run[1] for run in runs), key=lambda m: m.seconds)
    results.extend([best_first, best_next])

    engine_name = sa.make_url(state).get_backend_name()
    print(f"\n{args.beats:,} heartbeats per batch, {args.pairs:,} pairs, state on {engine_name}")
    print_table(floor, results)
    for item in (best_first, best_next):
        whole = args.beats / item.seconds
        marginal = args.beats / max(item.seconds - startup.seconds, 1e-9)
        print(f"{item.label}: {whole:,.0f}/s whole command, {marginal:,.0f}/s after startup")


if __name__ == "__main__":
    main()
