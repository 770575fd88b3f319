"""How fast a built-in report streams to CSV, against the raw client running the same query.

    python bench/report_bench.py --url mysql+pymysql://root@127.0.0.1/manireports_bench \\
        [--build large] [--report course_completion] [--repeat 3]

Measured in one run on the same database: the `mariadb -B` client running the report's rendered
SQL (the floor), a plain PyMySQL streaming cursor feeding csv.writer (what a hand-written script
would do), `manireports run-report REPORT --format csv` with PyMySQL and with mysqlclient, and
`manireports reports list`, the fixed start-up every run pays before its query.
Each row gives seconds, the ratio to the floor and the process's peak memory.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

import sqlalchemy as sa

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.harness import Measurement, measure, print_table, python_argv  # noqa: E402
from manireports.app import App  # noqa: E402
from manireports.config import load_config  # noqa: E402
from manireports.reports.run import ReportRequest, prepare_report  # noqa: E402

DRIVER_LOOP = """
import csv, sys, pymysql, pymysql.cursors
connection = pymysql.connect(host={host!r}, port={port}, user={user!r}, password={password!r},
                             database={database!r}, charset="utf8mb4")
cursor = connection.cursor(pymysql.cursors.SSCursor)
cursor.execute({sql!r})
writer = csv.writer(sys.stdout, lineterminator="\\r\\n")
writer.writerow([d[0] for d in cursor.description])
while True:
    rows = cursor.fetchmany(5000)
    if not rows:
        break
    writer.writerows(rows)
"""


def literal_sql(url: str, report: str) -> str:
    """The report's SQL as the database sees it, with its parameters written in as literals."""
    app = App(load_config(environ={"MANIREPORTS_MOODLE_URL": url}))
    prepared = prepare_report(app, ReportRequest(report))
    engine = sa.create_engine(url)
    statement = sa.text(prepared.sql)
    used = {name: value for name, value in prepared.params.items() if name in statement._bindparams}
    sql = str(statement.bindparams(**used).compile(engine, compile_kwargs={"literal_binds": True}))
    engine.dispose()
    return sql


def count_rows(url: str, sql: str) -> int:
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        count = connection.execute(sa.text(f"SELECT COUNT(*) FROM ({sql}) q")).scalar_one()
    engine.dispose()
    return int(count)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="MySQL/MariaDB URL of a Moodle database")
    parser.add_argument("--build", choices=("small", "medium", "large"), help="build a demo first")
    parser.add_argument("--report", default="course_completion")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    if args.build:
        from manireports.demo import build_demo

        summary = build_demo(args.url, size=args.build, seed=1)
        total = sum(summary.rows.values())
        print(f"built {args.build} demo: {total:,} rows in {summary.seconds:.1f} s")

    url = sa.make_url(args.url)
    sql = literal_sql(args.url, args.report)
    count = count_rows(args.url, sql)
    print(f"{args.report}: {count:,} rows")
    client = shutil.which("mariadb") or shutil.which("mysql")
    if client is None:
        raise SystemExit("the mariadb client is needed for the floor measurement")
    floor = measure(
        "mariadb -B (raw client, floor)",
        [
            client, "-B", "-h", url.host or "127.0.0.1", "-P", str(url.port or 3306),
            "-u", url.username or "root", *([f"-p{url.password}"] if url.password else []),
            url.database or "", "-e", sql,
        ],
        repeat=args.repeat,
    )  # fmt: skip
    others: list[Measurement] = [
        measure(
            "pymysql SSCursor + csv.writer",
            python_argv(
                DRIVER_LOOP.format(
                    host=url.host or "127.0.0.1",
                    port=url.port or 3306,
                    user=url.username or "root",
                    password=url.password or "",
                    database=url.database,
                    sql=sql,
                )
            ),
            repeat=args.repeat,
        )
    ]
    state = Path(os.environ.get("TMPDIR", "/tmp")) / "manireports-bench-state.sqlite"
    env = dict(os.environ, MANIREPORTS_MOODLE_URL=args.url, PYTHONPATH=str(REPO))
    env["MANIREPORTS_STATE_URL"] = f"sqlite:///{state}"
    from manireports.state import StateDB

    StateDB(env["MANIREPORTS_STATE_URL"]).upgrade()
    command = [sys.executable, "-m", "manireports", "run-report", args.report, "-f", "csv"]
    for driver in ("pymysql", "mysqlclient"):
        env["MANIREPORTS_MOODLE_MYSQL_DRIVER"] = driver
        others.append(measure(f"manireports csv ({driver})", command, repeat=args.repeat, env=env))
    # The fixed part of every run (interpreter, imports, configuration, site detection, state
    # check) without the query: what stays when the report itself costs nothing.
    startup = [sys.executable, "-m", "manireports", "reports", "list"]
    others.append(
        measure("start-up: manireports reports list", startup, repeat=args.repeat, env=env)
    )
    print_table(floor, others)


if __name__ == "__main__":
    main()
