"""Streaming exports stay in bounded memory: 200,000 rows must not be buffered anywhere."""

from __future__ import annotations

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
LIMIT = 100 * 1024 * 1024


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


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_export_of_200k_rows_stays_under_100_mb(tmp_path: Path, fmt: str) -> None:
    table = ReportTable(
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
    tracemalloc.start()
    try:
        result = export(table, fmt, tmp_path / f"big.{fmt}")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.rows == ROWS
    assert peak < LIMIT, f"peak {peak / 1e6:.1f} MB"
