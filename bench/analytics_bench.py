"""How fast `analytics at-risk` and `analytics engagement` run, against floors of the same run.

    python bench/analytics_bench.py --url sqlite:////work/data/large.sqlite \\
        --state sqlite:////tmp/state.sqlite [--as-of "2026-11-10 12:00"] [--as-user NAME ...] \\
        [--repeat 1]

The state database decides which path is measured: with daily time totals (`time sync` and
`time aggregate` into it first) the Moodle database counts interactions and active days; without
them every event of the window is read for the session rule. Measurements, each a child process
(peak memory is its own), best of --repeat:
- startup: `manireports reports list`, the fixed cost of every command;
- course_progress: `run-report course_progress -f csv`, the population both commands read;
- at-risk and engagement with a fixed --as-of, as the shell operator and as each --as-user.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.harness import Measurement, measure  # noqa: E402


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="the Moodle database (read only)")
    parser.add_argument("--state", required=True, help="the state database (daily totals or not)")
    parser.add_argument("--as-of", default="2026-11-10 12:00")
    parser.add_argument("--as-user", action="append", default=[])
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args(argv)
    env = {**os.environ, "MANIREPORTS_MOODLE_URL": args.url, "MANIREPORTS_STATE_URL": args.state}
    command = [sys.executable, "-m", "manireports"]
    os.chdir(REPO)
    runs = [
        ("startup (reports list)", [*command, "reports", "list"]),
        ("course_progress to CSV", [*command, "run-report", "course_progress", "-f", "csv"]),
    ]
    for user in [None, *args.as_user]:
        for name in ("at-risk", "engagement"):
            line = [*command, "analytics", name, "--as-of", args.as_of, "-f", "csv"]
            runs.append(
                (f"{name} as {user or 'operator'}", line + (["--as-user", user] if user else []))
            )
    results: list[Measurement] = [
        measure(label, line, repeat=args.repeat, env=env) for label, line in runs
    ]
    print(f"{'measurement':<40} {'seconds':>8} {'CPU s':>7} {'ratio':>7} {'peak MB':>8}")
    floor = results[1].seconds
    for item in results:
        ratio = item.seconds / floor if floor else float("nan")
        print(
            f"{item.label:<40} {item.seconds:>8.2f} {item.cpu_seconds:>7.2f} "
            f"{ratio:>6.2f}x {item.peak_mb:>8.1f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
