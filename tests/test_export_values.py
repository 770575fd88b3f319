"""The cached timestamp conversion must equal zoneinfo's answer everywhere, DST included."""

from __future__ import annotations

import zoneinfo
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from manireports.export import Column
from manireports.export.values import (
    BOOL_JSON,
    BOOL_TEXT,
    SiteClock,
    chunk_converter,
    converters,
    human_number,
    json_float,
    json_int,
    row_converter,
)

ZONES = ["Europe/London", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"]
UTC = zoneinfo.ZoneInfo("UTC")
# 2023-01-01 to 2025-01-01 spans two of each zone's DST starts and ends; Lord Howe's clocks
# move by 30 minutes and Kolkata's offset is not a whole number of hours.
START = int(datetime(2023, 1, 1, tzinfo=UTC).timestamp())
END = int(datetime(2025, 1, 1, tzinfo=UTC).timestamp())


def expected_text(seconds: int, zone: zoneinfo.ZoneInfo) -> str:
    return datetime.fromtimestamp(seconds, zone).strftime("%Y-%m-%d %H:%M:%S")


@pytest.mark.parametrize("name", ZONES)
def test_fast_timestamp_text_equals_zoneinfo_every_quarter_hour(name: str) -> None:
    zone = zoneinfo.ZoneInfo(name)
    text = SiteClock(zone).timestamp_text()
    mismatches = [
        seconds
        for quarter in range(START, END, 900)
        for seconds in (quarter, quarter + 899)
        if text(seconds) != expected_text(seconds, zone)
    ]
    assert mismatches == []


@pytest.mark.parametrize("name", ZONES)
def test_excel_serial_is_local_wall_time(name: str) -> None:
    zone = zoneinfo.ZoneInfo(name)
    serial = SiteClock(zone).excel_serial()
    epoch = datetime(1899, 12, 30)
    for seconds in range(START, END, 900 * 7 + 13):
        local = datetime.fromtimestamp(seconds, zone).replace(tzinfo=None)
        assert serial(seconds) == pytest.approx((local - epoch) / timedelta(days=1), abs=1e-9)


def test_never_is_empty() -> None:
    clock = SiteClock(zoneinfo.ZoneInfo("Europe/London"))
    text, serial = clock.timestamp_text(), clock.excel_serial()
    for never in (0, None, Decimal(0), ""):
        assert text(never) == ""
        assert serial(never) is None


def test_driver_types_are_read_as_seconds() -> None:
    text = SiteClock(zoneinfo.ZoneInfo("Europe/London")).timestamp_text()
    for value in (1719835200, Decimal("1719835200"), 1719835200.7, "1719835200"):
        assert text(value) == "2024-07-01 13:00:00"


def test_datetimes_in_a_timestamp_column() -> None:
    text = SiteClock(zoneinfo.ZoneInfo("Europe/London")).timestamp_text()
    assert text(datetime(2024, 7, 1, 12, tzinfo=UTC)) == "2024-07-01 13:00:00"
    assert text(datetime(2024, 7, 1, 12)) == "2024-07-01 12:00:00"


def test_values_that_are_not_times_pass_through() -> None:
    text = SiteClock(zoneinfo.ZoneInfo("Europe/London")).timestamp_text()
    assert text("soon") == "soon"
    assert text(10**20) == str(10**20)
    assert text(date(2024, 1, 1)) == "2024-01-01"


def test_booleans() -> None:
    for true in (1, True, Decimal(1), "t", "yes", 2):
        assert BOOL_TEXT[true] == "true"
        assert BOOL_JSON[true] is True
    for false in (0, False, "0", "f", "false", ""):
        assert BOOL_TEXT[false] == "false"
        assert BOOL_JSON[false] is False
    assert BOOL_TEXT[None] == ""
    assert BOOL_JSON[None] is None


def test_numbers() -> None:
    assert json_int(Decimal("12")) == 12 and type(json_int(Decimal("12"))) is int
    assert json_int(Decimal("12.5")) == 12.5
    assert json_float(Decimal("85.50")) == 85.5
    assert json_float(float("nan")) is None
    assert human_number(66.666666) == "66.67"
    assert human_number(Decimal("85.50000")) == "85.5"
    assert human_number(Decimal("12.000")) == "12"
    assert human_number(None) == ""


_CELLS = st.one_of(
    st.none(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=False, allow_infinity=False, places=2),
    st.text(max_size=5),
    st.booleans(),
)
# A column's cells: of one type (with NULLs), as a database returns them, or of any mix.
_COLUMN_CELLS = st.sampled_from(
    [
        st.one_of(st.none(), st.integers(-(2**40), 2**40)),
        st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
        st.one_of(st.none(), st.text(max_size=5)),
        _CELLS,
    ]
)


@st.composite
def _chunks(draw: st.DrawFn) -> tuple[list[str], list[list[object]]]:
    kinds = draw(st.lists(st.sampled_from(["int", "float", "text"]), min_size=1, max_size=4))
    cells = [draw(_COLUMN_CELLS) for _ in kinds]
    rows = draw(st.integers(1, 6))
    return kinds, [[draw(cell) for cell in cells] for _ in range(rows)]


@given(_chunks())
def test_a_chunk_converts_as_its_rows_do(case: tuple[list[str], list[list[object]]]) -> None:
    """Column-wise conversion, which leaves alone columns of values that pass as they are, gives
    exactly what converting row by row gives (the same values of the same types), whatever the
    cells hold."""
    kinds, chunk = case
    columns = [Column(f"c{n}", kind, f"C{n}") for n, kind in enumerate(kinds)]  # type: ignore[arg-type]
    convert = converters(columns, "json", SiteClock(zoneinfo.ZoneInfo("Europe/Paris")))
    by_row = row_converter(convert)
    by_chunk = chunk_converter(convert)
    assert by_row is not None and by_chunk is not None
    expected = [[(type(v), repr(v)) for v in by_row(row)] for row in chunk]
    assert [[(type(v), repr(v)) for v in row] for row in by_chunk(chunk)] == expected
