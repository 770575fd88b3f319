"""Local times to Unix seconds across daylight-saving changes, against values worked out by hand.

Each expected value is counted from 2024-01-01 00:00 UTC = 1_704_067_200 (days of the months
passed times 86 400, 2024 being a leap year) plus or minus the zone's offset, so none of them is
computed by the code under test.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from manireports.localtime import local_to_unix, midnight

LONDON = ZoneInfo("Europe/London")
SYDNEY = ZoneInfo("Australia/Sydney")
SANTIAGO = ZoneInfo("America/Santiago")
HOUR = 3600

# 00:00 UTC of the days the clocks change.
MAR_31 = 1_704_067_200 + 90 * 86_400  # Jan 31 + Feb 29 + 30 days of March
APR_07 = 1_704_067_200 + 97 * 86_400  # ... + Mar 31 + 6 days of April
SEP_08 = 1_704_067_200 + 251 * 86_400  # Jan to Aug: 244 days, + 7
OCT_06 = 1_704_067_200 + 279 * 86_400  # Jan to Sep: 274 days, + 5
OCT_27 = 1_704_067_200 + 300 * 86_400  # Jan to Sep: 274 days, + 26


@pytest.mark.parametrize(
    ("wall", "tz", "expected"),
    [
        # London springs forward on 2024-03-31 at 01:00 GMT (to 02:00 BST).
        (datetime(2024, 3, 31, 0, 59, 59), LONDON, MAR_31 + 59 * 60 + 59),
        (datetime(2024, 3, 31, 2, 0), LONDON, MAR_31 + 1 * HOUR),
        # 01:30 does not exist: moved forward by the one-hour gap, to 02:30 BST = 01:30 UTC.
        (datetime(2024, 3, 31, 1, 30), LONDON, MAR_31 + HOUR + 30 * 60),
        # London falls back on 2024-10-27 at 02:00 BST (to 01:00 GMT): 01:30 happens twice.
        # The first, in BST (UTC+1), is taken: 00:30 UTC, not 01:30 UTC.
        (datetime(2024, 10, 27, 1, 30), LONDON, OCT_27 + 30 * 60),
        (datetime(2024, 10, 27, 0, 59), LONDON, OCT_27 - HOUR + 59 * 60),
        (datetime(2024, 10, 27, 2, 0), LONDON, OCT_27 + 2 * HOUR),
        # Sydney springs forward on 2024-10-06 at 02:00 AEST (UTC+10) to 03:00 AEDT (UTC+11).
        # 02:30 does not exist: 02:30 AEST = 03:30 AEDT = 16:30 UTC the day before.
        (datetime(2024, 10, 6, 2, 30), SYDNEY, OCT_06 - 10 * HOUR + 2 * HOUR + 30 * 60),
        (datetime(2024, 10, 6, 3, 0), SYDNEY, OCT_06 - 11 * HOUR + 3 * HOUR),
        # Sydney falls back on 2024-04-07 at 03:00 AEDT to 02:00 AEST: 02:30 happens twice, and
        # the first, in AEDT (UTC+11), is taken: 15:30 UTC the day before.
        (datetime(2024, 4, 7, 2, 30), SYDNEY, APR_07 - 11 * HOUR + 2 * HOUR + 30 * 60),
        (datetime(2024, 4, 7, 3, 0), SYDNEY, APR_07 - 10 * HOUR + 3 * HOUR),
    ],
)
def test_wall_times_resolve_like_moodle(wall: datetime, tz: ZoneInfo, expected: int) -> None:
    assert local_to_unix(wall, tz) == expected


def test_days_of_a_change_are_23_or_25_hours_long() -> None:
    # London: 2024-03-31 starts at 00:00 GMT and ends at 00:00 BST, 23 hours later.
    assert midnight(date(2024, 3, 31), LONDON) == MAR_31
    assert midnight(date(2024, 4, 1), LONDON) == MAR_31 + 23 * HOUR
    # 2024-10-27 starts at 00:00 BST (23:00 UTC the day before) and lasts 25 hours.
    assert midnight(date(2024, 10, 27), LONDON) == OCT_27 - HOUR
    assert midnight(date(2024, 10, 28), LONDON) == OCT_27 + 24 * HOUR
    # Sydney: 2024-10-06 starts at 00:00 AEST and ends at 00:00 AEDT, 23 hours later.
    assert midnight(date(2024, 10, 6), SYDNEY) == OCT_06 - 10 * HOUR
    assert midnight(date(2024, 10, 7), SYDNEY) == OCT_06 + 24 * HOUR - 11 * HOUR
    # 2024-04-07 starts at 00:00 AEDT and ends at 00:00 AEST, 25 hours later.
    assert midnight(date(2024, 4, 7), SYDNEY) == APR_07 - 11 * HOUR
    assert midnight(date(2024, 4, 8), SYDNEY) == APR_07 + 24 * HOUR - 10 * HOUR


def test_a_skipped_midnight_starts_the_day_at_the_change() -> None:
    # Chile springs forward on 2024-09-08 at 00:00 (UTC-4) to 01:00 (UTC-3): the day has no
    # midnight, and starts at the change, 04:00 UTC, which its clocks show as 01:00.
    assert midnight(date(2024, 9, 8), SANTIAGO) == SEP_08 + 4 * HOUR
    assert midnight(date(2024, 9, 9), SANTIAGO) - midnight(date(2024, 9, 8), SANTIAGO) == 23 * HOUR
