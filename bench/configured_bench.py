"""How fast a config-built report runs, against the same query written by hand.

    python bench/configured_bench.py --url sqlite:////tmp/bench.sqlite [--build medium] [--repeat 3]

Measured in one run on the same database: a fresh Python process running a hand-written query
for "events per component and edulevel over the whole standard log" through a SQLAlchemy
connection into csv.writer (the floor), and `manireports run-report` of the config-built report
that says the same, to CSV. Also printed: how long building and compiling the query takes in
process, which every `run-report` and `reports create` pays.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import timeit
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.harness import measure, print_table, python_argv  # noqa: E402
from manireports.reports.operator.configured import build_configured_sql  # noqa: E402

CONFIG = {
    "source": "logs",
    "group_by": ["component", "edulevel"],
    "aggregates": [
        {"fn": "count", "as": "events"},
        {"fn": "count_distinct", "field": "userid", "as": "users"},
        {"fn": "max", "field": "timecreated", "as": "latest"},
    ],
    "sort": ["component", "edulevel"],
}
FLOOR = """
import csv, sys
import sqlalchemy as sa
engine = sa.create_engine({url!r})
sql = (
    "SELECT l.component, l.edulevel, COUNT(*) AS events, COUNT(DISTINCT l.userid) AS users, "
    "MAX(l.timecreated) AS latest FROM mdl_logstore_standard_log l "
    "GROUP BY l.component, l.edulevel ORDER BY l.component, l.edulevel"
)
with engine.connect() as connection:
    result = connection.execute(sa.text(sql))
    writer = csv.writer(sys.stdout, lineterminator="\\r\\n")
    writer.writerow(result.keys())
    writer.writerows(result)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="URL of a Moodle (demo) database")
    parser.add_argument("--build", choices=("small", "medium", "large"), help="build a demo first")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if args.build:
        from manireports.demo import build_demo

        summary = build_demo(args.url, size=args.build, seed=1)
        print(f"built {args.build} demo: {sum(summary.rows.values()):,} rows")

    engine = args.url.split(":", 1)[0].split("+", 1)[0]
    engine = "mysql" if engine in ("mysql", "mariadb") else engine
    runs = 200
    seconds = timeit.timeit(lambda: build_configured_sql(CONFIG, engine=engine), number=runs)
    print(f"build and compile the query: {seconds / runs * 1000:.2f} ms")

    with tempfile.TemporaryDirectory() as scratch:
        config = Path(scratch) / "report.json"
        config.write_text(json.dumps(CONFIG), encoding="utf-8")
        env = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "MANIREPORTS_MOODLE_URL": args.url,
            "MANIREPORTS_STATE_URL": f"sqlite:///{Path(scratch) / 'state.sqlite'}",
        }
        cli = [sys.executable, "-m", "manireports"]
        for step in (
            ["db", "upgrade"],
            ["reports", "create", "--name", "bench", "--config-file", str(config)],
        ):
            measure("setup", [*cli, *step], repeat=1, env=env)
        floor = measure(
            "hand-written SQL, SQLAlchemy + csv.writer",
            python_argv(FLOOR.format(url=args.url)),
            repeat=args.repeat,
            env=env,
        )
        built = measure(
            "manireports run-report (config-built) -f csv",
            [*cli, "run-report", "bench", "-f", "csv"],
            repeat=args.repeat,
            env=env,
        )
    print_table(floor, [built])


if __name__ == "__main__":
    main()
