"""What the cache's freshness check costs: the fingerprint query of each cached report.

    python bench/cache_fingerprint.py --url mysql+mysqldb://root@127.0.0.1/mr_bench_large \\
        [--repeat 20]

Before a cached report answers from its entry, it probes the Moodle tables the report reads (the
highest id of each, the latest completion time) in one query. This runs that query for every
cached report against the given Moodle database (read-only) and prints, per report, the median and
the slowest of the repeats in milliseconds, with the fingerprint itself. The site's facts (release,
IOMAD, SCORM layout) are read once beforehand, as a report run has already read them.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from manireports.app import App  # noqa: E402
from manireports.config import load_config  # noqa: E402
from manireports.reports.caching import CACHED_REPORTS, data_fingerprint  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="The Moodle database (only read).")
    parser.add_argument("--prefix", default="mdl_")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    environ = {"MANIREPORTS_MOODLE_URL": args.url, "MANIREPORTS_MOODLE_PREFIX": args.prefix}
    app = App(load_config(environ=environ))
    app.site  # noqa: B018 - detection happens once per run, before the cache is consulted
    print(f"{'report':<20} {'median ms':>10} {'max ms':>8}  fingerprint")
    for report in CACHED_REPORTS:
        timings = []
        fingerprint = ""
        for _ in range(args.repeat):
            started = time.perf_counter()
            fingerprint = data_fingerprint(app, report)
            timings.append((time.perf_counter() - started) * 1000)
        median = statistics.median(timings)
        print(f"{report:<20} {median:>10.1f} {max(timings):>8.1f}  {fingerprint}")


if __name__ == "__main__":
    main()
