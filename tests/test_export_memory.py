"""Streaming exports stay in bounded memory: 200,000 rows must not be buffered anywhere.

CSV is measured with tracemalloc in this process. XLSX is measured as the peak resident size of
a child process instead: xlsxwriter allocates a few objects per cell, which tracemalloc would
slow down ten-fold, and the resident size also covers anything held outside Python's allocator.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tracemalloc
import zoneinfo
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from manireports.export import Column, ReportTable, export

LONDON = zoneinfo.ZoneInfo("Europe/London")
ROWS = 200_000
LIMIT_MB = 100
REPO = Path(__file__).resolve().parent.parent


def rows() -> Iterator[tuple[Any, ...]]:
    for number in range(ROWS):
        yield (
            number,
            f"user{number}",
            f"Zoë Łukasz {number}",
            f"user{number}@example.com",
            1_600_000_000 + number * 97,
            0 if number % 3 else 1_650_000_000 + number,
            number % 2,
        )


def big_table() -> ReportTable:
    return ReportTable(
        title="Memory",
        columns=[
            Column("userid", "int"),
            Column("username"),
            Column("fullname"),
            Column("email"),
            Column("timecreated", "timestamp"),
            Column("timecompleted", "timestamp"),
            Column("completed", "bool"),
        ],
        rows=rows(),
        parameters={},
        generated_at=datetime(2024, 7, 2, tzinfo=LONDON),
        timezone=LONDON,
    )


@pytest.mark.slow
def test_csv_of_200k_rows_allocates_under_100_mb(tmp_path: Path) -> None:
    tracemalloc.start()
    try:
        result = export(big_table(), "csv", tmp_path / "big.csv")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.rows == ROWS
    assert peak < LIMIT_MB * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"


CHILD = """
import json, resource, sys
sys.path.insert(0, sys.argv[1])
from tests.test_export_memory import big_table
from manireports.export import export
result = export(big_table(), "xlsx", sys.argv[2])
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"rows": result.rows, "peak_mb": peak}))
"""


@pytest.mark.slow
def test_xlsx_of_200k_rows_stays_under_100_mb(tmp_path: Path) -> None:
    # Started through a small intermediate process: Linux carries a process's peak memory across
    # exec, so a child forked straight from a grown pytest would report pytest's pages as its own.
    launcher = "import subprocess, sys; sys.exit(subprocess.call(sys.argv[1:]))"
    command = [
        sys.executable, "-c", launcher,
        sys.executable, "-c", CHILD, str(REPO), str(tmp_path / "big.xlsx"),
    ]  # fmt: skip
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    measured = json.loads(output)
    assert measured["rows"] == ROWS
    assert measured["peak_mb"] < LIMIT_MB, f"peak {measured['peak_mb']:.1f} MB"
