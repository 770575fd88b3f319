"""Schedule recurrence and periods in the site timezone, across DST and month ends.
Expected instants are written as local wall times with their UTC offset, worked out from the
2026 US and EU DST dates: America/New_York springs forward on Sunday 8 March 2026 (02:00 EST
becomes 03:00 EDT) and falls back on Sunday 1 November 2026 (02:00 EDT becomes 01:00 EST);
Europe/London springs forward on Sunday 29 March 2026 (01:00 GMT becomes 02:00 BST)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from manireports.errors import InputError
from manireports.schedule.recurrence import make_recurrence, next_fire, period

NEW_YORK = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")
EST, EDT = timezone(timedelta(hours=-5)), timezone(timedelta(hours=-4))
GMT, BST = UTC, timezone(timedelta(hours=1))


def at(year: int, month: int, day: int, hour: int, minute: int, offset: timezone) -> int:
    return int(datetime(year, month, day, hour, minute, tzinfo=offset).timestamp())


def fires(rule_args: dict[str, object], start: int, count: int, zone: ZoneInfo) -> list[int]:
    rule = make_recurrence(**rule_args)  # type: ignore[arg-type]
    found: list[int] = []
    moment = start
    for _ in range(count):
        moment = next_fire(rule, moment, zone)
        found.append(moment)
    return found


def test_daily_0230_across_the_spring_forward_gap() -> None:
    # 02:30 does not exist on 8 March: the run is at 03:30 EDT, as the clocks read just after
    # the gap; the days before and after keep 02:30 local, 07:30 UTC then 06:30 UTC.
    got = fires({"frequency": "daily", "at": "02:30"}, at(2026, 3, 6, 12, 0, EST), 4, NEW_YORK)
    assert got == [
        at(2026, 3, 7, 2, 30, EST),
        at(2026, 3, 8, 3, 30, EDT),
        at(2026, 3, 9, 2, 30, EDT),
        at(2026, 3, 10, 2, 30, EDT),
    ]


def test_daily_in_the_repeated_autumn_hour_runs_once() -> None:
    # 01:30 happens twice on 1 November (EDT, then EST an hour later): one run, the first.
    got = fires({"frequency": "daily", "at": "01:30"}, at(2026, 10, 31, 12, 0, EDT), 3, NEW_YORK)
    assert got == [
        at(2026, 11, 1, 1, 30, EDT),
        at(2026, 11, 2, 1, 30, EST),
        at(2026, 11, 3, 1, 30, EST),
    ]
    # Asked for the next run from inside the repeat (01:45 EST, after the run at 01:30 EDT):
    # tomorrow, not the second 01:30.
    assert fires(
        {"frequency": "daily", "at": "01:30"}, at(2026, 11, 1, 1, 45, EST), 1, NEW_YORK
    ) == [at(2026, 11, 2, 1, 30, EST)]


def test_daily_in_london_on_the_day_the_clocks_go_forward() -> None:
    # 01:30 on 29 March 2026 is in London's gap (01:00 GMT -> 02:00 BST): it runs at 02:30 BST.
    got = fires({"frequency": "daily", "at": "01:30"}, at(2026, 3, 28, 12, 0, GMT), 2, LONDON)
    assert got == [at(2026, 3, 29, 2, 30, BST), at(2026, 3, 30, 1, 30, BST)]


def test_monthly_day_31_runs_on_the_last_day_of_shorter_months() -> None:
    rule = {"frequency": "monthly", "day": 31, "at": "06:00"}
    got = fires(rule, at(2026, 1, 1, 0, 0, EST), 5, NEW_YORK)
    assert got == [
        at(2026, 1, 31, 6, 0, EST),
        at(2026, 2, 28, 6, 0, EST),  # 2026 is not a leap year
        at(2026, 3, 31, 6, 0, EDT),
        at(2026, 4, 30, 6, 0, EDT),
        at(2026, 5, 31, 6, 0, EDT),
    ]
    # 2028 is a leap year: 29 February.
    assert fires(rule, at(2028, 2, 1, 0, 0, EST), 1, NEW_YORK) == [at(2028, 2, 29, 6, 0, EST)]
    # Day 30 in February is the 28th, and the 30th (not the 31st) in March.
    day30 = {"frequency": "monthly", "day": 30, "at": "06:00"}
    assert fires(day30, at(2026, 2, 1, 0, 0, EST), 2, NEW_YORK) == [
        at(2026, 2, 28, 6, 0, EST),
        at(2026, 3, 30, 6, 0, EDT),
    ]


def test_weekly_keeps_its_local_time_across_dst() -> None:
    # Mondays at 07:00: 2 March 2026 is a Monday (EST), 9 March the first Monday in EDT.
    rule = {"frequency": "weekly", "weekday": "monday", "at": "07:00"}
    assert fires(rule, at(2026, 2, 28, 0, 0, EST), 2, NEW_YORK) == [
        at(2026, 3, 2, 7, 0, EST),
        at(2026, 3, 9, 7, 0, EDT),
    ]


def test_cron_hourly_through_the_gap_fires_once_per_instant() -> None:
    # "30 * * * *" on 8 March: 01:30 EST, then 02:30 (in the gap: 03:30 EDT) and 03:30 EDT are
    # the same instant, so one run; then 04:30 EDT.
    rule = {"frequency": "cron", "cron": "30 * * * *"}
    got = fires(rule, at(2026, 3, 8, 1, 0, EST), 3, NEW_YORK)
    assert got == [
        at(2026, 3, 8, 1, 30, EST),
        at(2026, 3, 8, 3, 30, EDT),
        at(2026, 3, 8, 4, 30, EDT),
    ]
    # Its period runs from the previous distinct fire time: 01:30 EST to 03:30 EDT, one hour.
    start, end = period(make_recurrence("cron", cron="30 * * * *"), got[1], NEW_YORK)
    assert (start, end) == (got[0], got[1]) and end - start == 3600


def test_cron_weekdays() -> None:
    # Weekdays at 18:15; Friday 6 March 2026 is followed by Monday 9 March.
    rule = {"frequency": "cron", "cron": "15 18 * * 1-5"}
    assert fires(rule, at(2026, 3, 6, 19, 0, EST), 1, NEW_YORK) == [at(2026, 3, 9, 18, 15, EDT)]


def test_periods_are_whole_local_days_and_months() -> None:
    daily = make_recurrence("daily", at="02:30")
    # The run on 9 March covers 8 March, a 23-hour day: 00:00 EST to 00:00 EDT.
    assert period(daily, at(2026, 3, 9, 2, 30, EDT), NEW_YORK) == (
        at(2026, 3, 8, 0, 0, EST),
        at(2026, 3, 9, 0, 0, EDT),
    )
    weekly = make_recurrence("weekly", weekday="monday", at="07:00")
    # The seven days before Monday 9 March: 2 March 00:00 to 9 March 00:00.
    assert period(weekly, at(2026, 3, 9, 7, 0, EDT), NEW_YORK) == (
        at(2026, 3, 2, 0, 0, EST),
        at(2026, 3, 9, 0, 0, EDT),
    )
    monthly = make_recurrence("monthly", day=1, at="06:00")
    # The run on 1 January covers December of the year before.
    assert period(monthly, at(2026, 1, 1, 6, 0, EST), NEW_YORK) == (
        at(2025, 12, 1, 0, 0, EST),
        at(2026, 1, 1, 0, 0, EST),
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"frequency": "hourly"}, "--frequency must be one of"),
        ({"frequency": "cron"}, "needs --cron"),
        ({"frequency": "cron", "cron": "61 * * * *"}, "not a valid"),
        ({"frequency": "daily", "day": 3}, "--day goes only with --frequency monthly"),
        ({"frequency": "monthly", "day": 32}, "between 1 and 31"),
        ({"frequency": "weekly", "weekday": "funday"}, "not a day"),
        ({"frequency": "daily", "cron": "* * * * *"}, "--cron goes only with"),
    ],
)
def test_bad_rules_are_input_errors(args: dict[str, object], message: str) -> None:
    with pytest.raises(InputError, match=message):
        make_recurrence(**args)  # type: ignore[arg-type]


# --- the first occurrence of a schedule started with --start -----------------------------------
# The first run is the rule's first time at or after --start; a start between two of the rule's
# times waits for the next one, so a schedule never runs off its rule (nor twice the same day).


@pytest.mark.parametrize(
    ("rule_args", "start", "zone", "first", "second"),
    [
        # Weekly, Monday 06:00 (London, GMT in December): a 04:00 start runs at 06:00, once.
        ({"frequency": "weekly"}, "2026-12-07 04:00", LONDON,
         at(2026, 12, 7, 6, 0, GMT), at(2026, 12, 14, 6, 0, GMT)),
        ({"frequency": "weekly"}, "2026-12-07 06:00", LONDON,
         at(2026, 12, 7, 6, 0, GMT), at(2026, 12, 14, 6, 0, GMT)),
        ({"frequency": "weekly"}, "2026-12-07 06:01", LONDON,
         at(2026, 12, 14, 6, 0, GMT), at(2026, 12, 21, 6, 0, GMT)),
        ({"frequency": "weekly"}, "2026-12-08 04:00", LONDON,
         at(2026, 12, 14, 6, 0, GMT), at(2026, 12, 21, 6, 0, GMT)),
        # Spring forward in New York: 02:30 on 8 March is 03:30 EDT; a start at 00:00 or 03:00
        # that day waits for it; one after it waits for 9 March.
        ({"frequency": "daily", "at": "02:30"}, "2026-03-08 00:00", NEW_YORK,
         at(2026, 3, 8, 3, 30, EDT), at(2026, 3, 9, 2, 30, EDT)),
        ({"frequency": "daily", "at": "02:30"}, "2026-03-08 03:00", NEW_YORK,
         at(2026, 3, 8, 3, 30, EDT), at(2026, 3, 9, 2, 30, EDT)),
        ({"frequency": "daily", "at": "02:30"}, "2026-03-08 03:31", NEW_YORK,
         at(2026, 3, 9, 2, 30, EDT), at(2026, 3, 10, 2, 30, EDT)),
        # Fall back in New York: 01:30 on 1 November happens twice and fires at the first
        # (EDT). A start at 01:45 (read as the first 01:45, EDT) is after it: the repeated
        # 01:30 EST is not a new run, so the first is on 2 November.
        ({"frequency": "daily", "at": "01:30"}, "2026-11-01 00:00", NEW_YORK,
         at(2026, 11, 1, 1, 30, EDT), at(2026, 11, 2, 1, 30, EST)),
        ({"frequency": "daily", "at": "01:30"}, "2026-11-01 01:45", NEW_YORK,
         at(2026, 11, 2, 1, 30, EST), at(2026, 11, 3, 1, 30, EST)),
        # Month ends: day 31 is the month's last day; a start after this month's run waits for
        # next month's.
        ({"frequency": "monthly", "day": 31}, "2027-02-01 00:00", LONDON,
         at(2027, 2, 28, 6, 0, GMT), at(2027, 3, 31, 6, 0, BST)),
        ({"frequency": "monthly", "day": 31}, "2026-04-30 07:00", LONDON,
         at(2026, 5, 31, 6, 0, BST), at(2026, 6, 30, 6, 0, BST)),
        ({"frequency": "monthly", "day": 31}, "2028-02-29 05:00", LONDON,
         at(2028, 2, 29, 6, 0, GMT), at(2028, 3, 31, 6, 0, BST)),
        ({"frequency": "monthly", "day": 30}, "2027-02-27 00:00", LONDON,
         at(2027, 2, 28, 6, 0, GMT), at(2027, 3, 30, 6, 0, BST)),
    ],
)  # fmt: skip
def test_first_occurrence_of_a_started_schedule(
    rule_args: dict[str, object], start: str, zone: ZoneInfo, first: int, second: int
) -> None:
    from manireports.schedule.store import first_run

    rule = make_recurrence(**rule_args)  # type: ignore[arg-type]
    now = at(2026, 1, 1, 0, 0, GMT)  # irrelevant once --start is given
    got = first_run(rule, now, zone, start)
    assert got == first
    assert next_fire(rule, got, zone) == second


def test_first_occurrence_without_start_is_the_rules_next_time() -> None:
    from manireports.schedule.store import first_run

    rule = make_recurrence("weekly")
    now = at(2026, 12, 7, 6, 0, GMT)  # exactly a fire time: the next one is a week later
    assert first_run(rule, now, LONDON, None) == at(2026, 12, 14, 6, 0, GMT)
