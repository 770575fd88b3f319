"""Measure the export pipeline against the bare library loops it is built on.

    python bench/export_bench.py [--rows 1000000] [--pdf-rows 50000] [--repeat 1]

Each measurement runs in its own child process, so its peak memory (ru_maxrss) is its own and no
cache survives from one to the next. The floors are what a hand-written script would do: a
csv.writer loop over the raw rows, and an xlsxwriter constant_memory loop of write_row calls.
The synthetic rows are shaped like a Moodle completion report: ids, names in several scripts,
an email, two Unix timestamps (a third of them 0, "never") and a boolean. Both the floor and
export() pull them from the same generator, so generating them is part of both sides.

Targets (streaming, the exporter's brief): CSV within ~1.15x of its floor, XLSX
within 1.15x of its floor and under 100 MB, PDF of 50,000 rows under 20 s in bounded memory.
With --repeat N the measurements are interleaved and the fastest of each is kept, which is the
fairest figure on a shared machine.
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import subprocess
import sys
import tempfile
import time
import zoneinfo
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from manireports.export import Column, ExportOptions, ReportTable, export  # noqa: E402

TIMEZONE = zoneinfo.ZoneInfo("Europe/London")
COLUMNS = [
    Column("userid", "int"),
    Column("username"),
    Column("firstname"),
    Column("lastname"),
    Column("email"),
    Column("courseid", "int"),
    Column("timeenrolled", "timestamp"),
    Column("timecompleted", "timestamp"),
    Column("completed", "bool"),
]
FIRST = ["Zoë", "Łukasz", "田中", "Ольга", "Αλέξανδρος", "محمد", "John", "Mary", "Siobhán", "Wei"]
LAST = ["Smith", "Müller", "Kowalski", "Иванова", "Papadopoulos", "Tanaka", "O'Brien", "Nguyen"]
START = 1_600_000_000


def synthetic_rows(count: int) -> Iterator[tuple[Any, ...]]:
    """Deterministic Moodle-shaped rows; timestamps spread over about three years."""
    for number in range(count):
        enrolled = START + number * 97
        completed = number % 3 != 0
        yield (
            number + 1,
            f"user{number}",
            FIRST[number % len(FIRST)],
            LAST[number * 7 % len(LAST)],
            f"user{number}@example.com",
            number % 500 + 2,
            enrolled,
            enrolled + 86_400 * (number % 40) if completed else 0,
            completed,
        )


def table(count: int) -> ReportTable:
    return ReportTable(
        title="Course completion",
        columns=COLUMNS,
        rows=synthetic_rows(count),
        parameters={"courseid": "all", "companyid": "all"},
        generated_at=datetime.now(TIMEZONE),
        timezone=TIMEZONE,
    )


def csv_floor(count: int, path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow([column.name for column in COLUMNS])
        for row in synthetic_rows(count):
            writer.writerow(row)


def xlsx_floor(count: int, path: Path) -> None:
    import xlsxwriter

    workbook = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    sheet = workbook.add_worksheet()
    sheet.write_row(0, 0, [column.name for column in COLUMNS])
    for number, row in enumerate(synthetic_rows(count), start=1):
        sheet.write_row(number, 0, row)
    workbook.close()


def exporter(fmt: str) -> Callable[[int, Path], None]:
    def run(count: int, path: Path) -> None:
        export(table(count), fmt, path, ExportOptions(pdf_max_rows=max(count, 1)))

    return run


MEASUREMENTS: dict[str, tuple[Callable[[int, Path], None], str]] = {
    "csv floor": (csv_floor, "csv"),
    "csv export()": (exporter("csv"), "csv"),
    "xlsx floor": (xlsx_floor, "xlsx"),
    "xlsx export()": (exporter("xlsx"), "xlsx"),
    "pdf export()": (exporter("pdf"), "pdf"),
}
"""Each export() is compared with the floor of its format, when there is one."""


def child(name: str, count: int, directory: Path) -> None:
    """Run one measurement and print its figures as JSON for the parent."""
    function, suffix = MEASUREMENTS[name]
    path = directory / f"out.{suffix}"
    wall, cpu = time.perf_counter(), time.process_time()
    function(count, path)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    size = path.stat().st_size
    path.unlink()
    print(json.dumps({"wall": wall, "cpu": cpu, "peak_mb": peak_kib / 1024, "bytes": size}))


def measure(name: str, count: int, directory: Path) -> dict[str, float]:
    command = [sys.executable, __file__, "--child", name, "--rows", str(count)]
    command += ["--dir", str(directory)]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    result: dict[str, float] = json.loads(output)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--pdf-rows", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--only", choices=["csv", "xlsx", "pdf"], action="append")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        child(arguments.child, arguments.rows, arguments.dir)
        return

    wanted = arguments.only or ["csv", "xlsx", "pdf"]
    plan = [name for name in MEASUREMENTS if name.split()[0] in wanted]
    best: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="export-bench-") as scratch:
        for _ in range(arguments.repeat):
            for name in plan:
                count = arguments.pdf_rows if name.startswith("pdf") else arguments.rows
                result = measure(name, count, Path(scratch))
                if name not in best or result["wall"] < best[name]["wall"]:
                    best[name] = result

    print(f"rows: {arguments.rows:,} (pdf: {arguments.pdf_rows:,}), best of {arguments.repeat}")
    header = (
        f"{'measurement':14} {'wall s':>8} {'cpu s':>8} {'wall x':>7} {'cpu x':>7} {'peak MB':>8}"
    )
    print(header)
    for name, result in best.items():
        floor = best.get(name.split()[0] + " floor")
        wall_ratio = f"{result['wall'] / floor['wall']:.3f}" if floor else ""
        cpu_ratio = f"{result['cpu'] / floor['cpu']:.3f}" if floor else ""
        print(
            f"{name:14} {result['wall']:8.2f} {result['cpu']:8.2f} {wall_ratio:>7} "
            f"{cpu_ratio:>7} {result['peak_mb']:8.1f}"
        )


if __name__ == "__main__":
    main()
