"""Config-built reports grouped by day, week and month of the site timezone, on SQLite, MariaDB
and PostgreSQL, against buckets worked out by hand around New York's DST changes and a year end.

2026-01-01T00:00Z is 1767225600; New York is UTC-5 until 2026-03-08 02:00, UTC-4 until
2026-11-01 02:00, then UTC-5 again. Each pair of users straddles a local midnight.
"""

from __future__ import annotations

from collections import Counter
from zoneinfo import ZoneInfo

import pytest

from manireports.errors import InputError
from manireports.moodle.connection import MoodleDB
from manireports.reports.operator.configured import build_configured_sql
from manireports.reports.operator.configured.buckets import offset_changes
from tests.moodle_site import MoodleSite

ZONE = ZoneInfo("America/New_York")
JAN_1 = 1_767_225_600
MAR_8 = JAN_1 + 66 * 86_400
NOV_1 = JAN_1 + 304 * 86_400
CREATED = {
    "g": JAN_1 + 5 * 3600 - 1,  # 2025-12-31 23:59:59 EST, a Wednesday
    "h": JAN_1 + 5 * 3600,  # 2026-01-01 00:00 EST
    "a": MAR_8 + 5 * 3600 - 1,  # 2026-03-07 23:59:59 EST, a Saturday
    "b": MAR_8 + 5 * 3600,  # 2026-03-08 00:00 EST, the 23-hour Sunday
    "c": MAR_8 + 86_400 + 4 * 3600 - 1,  # 2026-03-08 23:59:59 EDT
    "d": MAR_8 + 86_400 + 4 * 3600,  # 2026-03-09 00:00 EDT, a Monday
    "e": NOV_1 + 4 * 3600 - 1,  # 2026-10-31 23:59:59 EDT
    "f": NOV_1 + 4 * 3600,  # 2026-11-01 00:00 EDT
}
EXPECTED = {
    "day": {
        "2025-12-31": 1,
        "2026-01-01": 1,
        "2026-03-07": 1,
        "2026-03-08": 2,
        "2026-03-09": 1,
        "2026-10-31": 1,
        "2026-11-01": 1,
    },
    "week": {"2025-12-29": 2, "2026-03-02": 3, "2026-03-09": 1, "2026-10-26": 2},
    "month": {"2025-12": 1, "2026-01": 1, "2026-03": 4, "2026-10": 1, "2026-11": 1},
}


def test_the_offset_changes_of_2026_are_found_to_the_second() -> None:
    _first, changes = offset_changes(ZONE)
    in_2026 = [change for change in changes if JAN_1 <= change[0] < JAN_1 + 365 * 86_400]
    assert in_2026 == [(MAR_8 + 7 * 3600, -4 * 3600), (NOV_1 + 6 * 3600, -5 * 3600)]


@pytest.fixture
def moodle(db_url: str) -> MoodleDB:
    site = MoodleSite(db_url, iomad=False, timezone=ZONE.key)
    for username, created in CREATED.items():
        site.user(f"user_{username}", timecreated=created)
    site.dispose()
    return MoodleDB(db_url)


@pytest.mark.parametrize("unit", ["day", "week", "month"])
def test_buckets_match_the_hand_computed_ones(moodle: MoodleDB, unit: str) -> None:
    field = f"user_timecreated_by_{unit}"
    cfg = {
        "source": "users",
        "group_by": [field],
        "aggregates": [{"fn": "count", "field": "userid", "as": "users"}],
        "filters": [{"field": "username", "op": "like", "value": "user_%"}],
        "sort": [field],
    }
    query = build_configured_sql(cfg, engine=moodle.engine_name, timezone=ZONE)
    rows = moodle.fetch_all(query.sql, query.params)
    moodle.dispose()
    assert [column.name for column in query.columns] == [field, "users"]
    assert Counter({str(key): int(count) for key, count in rows}) == Counter(EXPECTED[unit])
    assert [str(key) for key, _count in rows] == sorted(EXPECTED[unit])


def test_the_sql_is_the_same_for_every_zone() -> None:
    """Checked once, bound at each run in that run's timezone: only the values may differ."""
    cfg = {"source": "users", "columns": ["user_timecreated_by_week"]}
    utc = build_configured_sql(cfg, engine="sqlite", timezone=ZoneInfo("UTC"))
    new_york = build_configured_sql(cfg, engine="sqlite", timezone=ZONE)
    assert utc.sql == new_york.sql
    assert utc.params != new_york.params


def test_only_time_fields_have_buckets() -> None:
    with pytest.raises(InputError, match="Unknown field 'username_by_day'"):
        build_configured_sql({"source": "users", "columns": ["username_by_day"]}, engine="sqlite")
