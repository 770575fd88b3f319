"""How fast does the demo load? Builds one size on one database and reports rows and rows/s.

    python bench/demo_load.py URL [--size large] [--seed 1] [--release 4.5] [--no-iomad]

URL is an SQLAlchemy URL of a database you can throw away (an existing demo there is replaced;
a real Moodle is refused). Example:

    mysql -uroot -h127.0.0.1 -e 'CREATE DATABASE manireports_bench_demo CHARACTER SET utf8mb4'
    python bench/demo_load.py \
        mysql+pymysql://root@127.0.0.1:3306/manireports_bench_demo --size large
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from manireports.demo import build_demo


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--size", default="large", choices=("small", "medium", "large"))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--release", default="4.5")
    parser.add_argument("--anchor", type=dt.date.fromisoformat, default=None)
    parser.add_argument("--no-iomad", dest="iomad", action="store_false")
    args = parser.parse_args(argv)
    started = time.monotonic()

    def progress(message: str) -> None:
        print(f"[{time.monotonic() - started:7.1f} s] {message}", file=sys.stderr, flush=True)

    summary = build_demo(
        args.url,
        size=args.size,
        seed=args.seed,
        iomad=args.iomad,
        anchor=args.anchor,
        release=args.release,
        progress=progress,
    )
    width = max(len(name) for name in summary.rows)
    for name, count in sorted(summary.rows.items(), key=lambda item: -item[1]):
        print(f"{name:<{width}}  {count:>12,}")
    total = sum(summary.rows.values())
    usage = resource.getrusage(resource.RUSAGE_SELF)
    peak = usage.ru_maxrss / 1024
    cpu = usage.ru_utime + usage.ru_stime
    print(f"{'total':<{width}}  {total:>12,}")
    print(
        f"{summary.size} demo on {summary.url}: {summary.seconds:.1f} s, "
        f"{total / summary.seconds:,.0f} rows/s, {cpu:.0f} s CPU in this process, "
        f"peak memory {peak:,.0f} MB"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
