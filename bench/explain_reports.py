"""Print the database's plan for every built-in report's SQL, as the report runs it.

    python bench/explain_reports.py --url mysql+pymysql://root@127.0.0.1/mr_bench_large
    python bench/explain_reports.py --url postgresql+psycopg://postgres@127.0.0.1/mr_bench_large \\
        [--report course_completion ...] [--analyze]

MariaDB prints its EXPLAIN table (look for "Using temporary" and "Using filesort" in Extra);
PostgreSQL prints EXPLAIN, or EXPLAIN (ANALYZE, BUFFERS) with --analyze, which runs the query.
Reports computed in Python (time_spent and the analytics reports) have no single plan to show.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import sqlalchemy as sa

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.report_bench import literal_sql  # noqa: E402
from manireports.reports.builtin import BUILTIN_REPORTS  # noqa: E402


def explain(url: str, report: str, analyze: bool) -> str:
    sql = literal_sql(url, report)
    engine = sa.create_engine(url)
    backend = engine.dialect.name
    if backend == "postgresql":
        prefix = "EXPLAIN (ANALYZE, BUFFERS) " if analyze else "EXPLAIN "
    else:
        prefix = "ANALYZE FORMAT=JSON " if analyze and backend == "mysql" else "EXPLAIN "
    lines: list[str] = []
    with engine.connect() as connection:
        result = connection.execute(sa.text(prefix + sql))
        if backend == "postgresql" or analyze:
            lines = [str(row[0]) for row in result]
        else:
            header = list(result.keys())
            wanted = ["id", "select_type", "table", "type", "key", "rows", "Extra"]
            picked = [header.index(name) for name in wanted if name in header]
            lines.append(" | ".join(header[index] for index in picked))
            for row in result:
                lines.append(" | ".join(str(row[index]) for index in picked))
    engine.dispose()
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--report", nargs="*", default=None)
    parser.add_argument("--analyze", action="store_true", help="Run the query and show timings.")
    args = parser.parse_args()
    names = args.report or [
        name for name, report in BUILTIN_REPORTS.items() if report.produce is None
    ]
    for name in names:
        print(f"== {name}")
        try:
            print(explain(args.url, name, args.analyze))
        except Exception as exc:
            print(f"(not explained: {exc})")
        print()


if __name__ == "__main__":
    main()
