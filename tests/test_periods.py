"""Named periods: windows worked out by hand (DST days, year boundaries), and --period end to end.

Unix times below were computed by hand from 2026-01-01T00:00Z = 1767225600 and whole days of
86400 s; New York is UTC-5 (EST) until 2026-03-08 02:00 and from 2026-11-01 02:00, else UTC-4.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from manireports.errors import InputError
from manireports.periods import apply_period, days, resolve_period
from manireports.reports.builtin import BUILTIN_REPORTS
from tests.cli_runner import invoke
from tests.schedule_support import ZONE, build_site

NY = ZoneInfo(ZONE)
JAN_1_2026 = 1_767_225_600
DAY = 86_400
HOUR = 3_600


def _at(year: int, month: int, day: int, hour: int = 12, zone: ZoneInfo = NY) -> int:
    return int(datetime(year, month, day, hour, tzinfo=zone).timestamp())


def test_last_week_across_the_spring_change_is_an_hour_short() -> None:
    # Wednesday 2026-03-11: last week is Mon 03-02 .. Sun 03-08, the day clocks went forward.
    period = resolve_period("last-week", _at(2026, 3, 11), NY)
    assert (period.first_day, period.last_day) == (date(2026, 3, 2), date(2026, 3, 8))
    mar_1 = JAN_1_2026 + 59 * DAY
    assert period.start == mar_1 + DAY + 5 * HOUR  # 03-02 00:00 EST
    assert period.end == mar_1 + 8 * DAY + 4 * HOUR  # 03-09 00:00 EDT
    assert period.end - period.start == 7 * DAY - HOUR


def test_yesterday_on_the_day_after_spring_forward_lasts_23_hours() -> None:
    period = resolve_period("yesterday", _at(2026, 3, 9, 10), NY)
    assert period.start == JAN_1_2026 + 66 * DAY + 5 * HOUR
    assert period.end - period.start == 23 * HOUR


def test_november_has_thirty_days_and_one_hour_in_new_york() -> None:
    period = resolve_period("this-month", _at(2026, 11, 15), NY)
    nov_1 = JAN_1_2026 + 304 * DAY
    assert period.start == nov_1 + 4 * HOUR  # midnight still EDT
    assert period.end == nov_1 + 30 * DAY + 5 * HOUR  # 12-01 00:00 EST
    assert period.end - period.start == 30 * DAY + HOUR


def test_a_midnight_skipped_by_dst_starts_the_day_at_the_change() -> None:
    # Santiago moves from 00:00 -04 to 01:00 -03 on Sunday 2026-09-06.
    santiago = ZoneInfo("America/Santiago")
    period = resolve_period("today", _at(2026, 9, 6, 12, santiago), santiago)
    sep_6 = JAN_1_2026 + 248 * DAY
    assert period.start == sep_6 + 4 * HOUR
    assert period.end == sep_6 + DAY + 3 * HOUR
    assert period.end - period.start == 23 * HOUR


@pytest.mark.parametrize(
    ("name", "today", "first", "last"),
    [
        ("last-week", date(2026, 1, 1), date(2025, 12, 22), date(2025, 12, 28)),
        ("this-week", date(2026, 1, 1), date(2025, 12, 29), date(2026, 1, 4)),
        ("last-month", date(2026, 1, 15), date(2025, 12, 1), date(2025, 12, 31)),
        ("last-7-days", date(2026, 1, 3), date(2025, 12, 27), date(2026, 1, 2)),
        ("last-30-days", date(2026, 1, 3), date(2025, 12, 4), date(2026, 1, 2)),
        ("last-90-days", date(2026, 3, 1), date(2025, 12, 1), date(2026, 2, 28)),
        ("this-quarter", date(2026, 1, 1), date(2026, 1, 1), date(2026, 3, 31)),
        ("this-quarter", date(2026, 12, 31), date(2026, 10, 1), date(2026, 12, 31)),
        ("this-year", date(2026, 7, 4), date(2026, 1, 1), date(2026, 12, 31)),
        ("today", date(2025, 12, 31), date(2025, 12, 31), date(2025, 12, 31)),
        ("yesterday", date(2026, 1, 1), date(2025, 12, 31), date(2025, 12, 31)),
        ("2024-02", date(2026, 1, 1), date(2024, 2, 1), date(2024, 2, 29)),
        ("2025-12", date(2026, 1, 1), date(2025, 12, 1), date(2025, 12, 31)),
        ("2025-Q4", date(2026, 1, 1), date(2025, 10, 1), date(2025, 12, 31)),
        ("2026-q1", date(2026, 1, 1), date(2026, 1, 1), date(2026, 3, 31)),
    ],
)
def test_the_days_of_each_name(name: str, today: date, first: date, last: date) -> None:
    assert days(name.lower(), today) == (first, last)


@pytest.mark.parametrize("name", ["lastmonth", "2026-13", "2026-Q5", "last-8-days", ""])
def test_unknown_names_are_refused_with_the_list(name: str) -> None:
    with pytest.raises(InputError) as refused:
        resolve_period(name, JAN_1_2026, NY)
    assert "last-30-days" in str(refused.value) and "YYYY-Qn" in str(refused.value)


def test_course_completion_takes_the_period_as_from_and_to() -> None:
    period = resolve_period("2026-Q1", JAN_1_2026, NY)
    window = apply_period(
        BUILTIN_REPORTS["course_completion"], period, {"courseid": "3"}, NY, JAN_1_2026
    )
    assert window.params == {"courseid": "3", "from": "2026-01-01", "to": "2026-03-31"}
    assert window.span is None and window.as_of is None


def test_a_period_and_the_parameter_it_sets_are_not_both_taken() -> None:
    period = resolve_period("2026-01", JAN_1_2026, NY)
    with pytest.raises(InputError, match="either --period or --param from"):
        apply_period(BUILTIN_REPORTS["course_completion"], period, {"from": "x"}, NY, JAN_1_2026)


def test_trends_are_computed_as_of_the_end_of_the_period() -> None:
    period = resolve_period("2025-06", JAN_1_2026, NY)
    window = apply_period(BUILTIN_REPORTS["enrolment_trends"], period, {}, NY, JAN_1_2026)
    assert window.as_of == "2025-06-30 23:59:59"


def test_a_report_without_a_date_window_refuses_a_period() -> None:
    period = resolve_period("today", JAN_1_2026, NY)
    with pytest.raises(InputError, match="has no date window"):
        apply_period(BUILTIN_REPORTS["course_progress"], period, {}, NY, JAN_1_2026)


# -- end to end -------------------------------------------------------------------------------


@pytest.fixture
def site(tmp_path: Path) -> dict[str, str]:
    moodle = tmp_path / "moodle.sqlite"
    build_site(moodle)
    env = {
        "MANIREPORTS_MOODLE_URL": f"sqlite:///{moodle}",
        "MANIREPORTS_STATE_URL": f"sqlite:///{tmp_path / 'state.sqlite'}",
        "MANIREPORTS_SITE_TIMEZONE": ZONE,
    }
    assert invoke("db", "upgrade", env=env).returncode == 0
    return env


def test_run_report_period_fills_starttime_and_endtime(
    site: dict[str, str], tmp_path: Path
) -> None:
    sql = tmp_path / "window.sql"
    sql.write_text(
        "SELECT id FROM {user} WHERE timecreated >= %%STARTTIME%% AND timecreated < %%ENDTIME%%"
    )
    created = invoke("reports", "create", "--name", "window", "--sql-file", str(sql), env=site)
    assert created.returncode == 0, created.stderr
    shown = invoke(
        "run-report",
        "window",
        "--period",
        "last-month",
        "--as-of",
        "2026-11-15 12:00",
        "--show-sql",
        env=site,
    )
    assert shown.returncode == 0, shown.stderr
    nov_1 = JAN_1_2026 + 304 * DAY
    october = f">= {nov_1 - 31 * DAY + 4 * HOUR} AND timecreated < {nov_1 + 4 * HOUR}"
    assert october in shown.stdout.decode()


def test_run_report_period_binds_from_and_to(site: dict[str, str]) -> None:
    shown = invoke("run-report", "course_completion", "--period", "2026-Q1", "--show-sql", env=site)
    assert shown.returncode == 0, shown.stderr
    params = json.loads(shown.stdout.decode().rsplit("-- parameters: ", 1)[1])
    assert params["from"] == JAN_1_2026 + 5 * HOUR
    assert params["to"] == JAN_1_2026 + 90 * DAY + 4 * HOUR  # 04-01 00:00 EDT


def test_trends_with_a_period_end_with_its_month(site: dict[str, str]) -> None:
    result = invoke("run-report", "enrolment_trends", "--period", "2025-06", "-f", "csv", env=site)
    assert result.returncode == 0, result.stderr
    months = [line.split(",")[0] for line in result.stdout.decode().splitlines()[1:]]
    assert months[0] == "2024-07" and months[-1] == "2025-06" and len(months) == 12


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("run-report", "course_completion", "--period", "fortnight"), "is not a period"),
        (("run-report", "course_progress", "--period", "today"), "has no date window"),
        (("dashboard", "--period", "2026-Q9"), "is not a period"),
    ],
)
def test_refusals_exit_2_and_list_the_names(
    site: dict[str, str], args: tuple[str, ...], message: str
) -> None:
    result = invoke(*args, env=site)
    assert result.returncode == 2
    error = result.stderr.decode()
    assert message in error and "this-quarter" in error and "Traceback" not in error


def test_schedule_add_pins_a_fixed_period_and_refuses_a_relative_one(site: dict[str, str]) -> None:
    base = (
        "schedule",
        "add",
        "--report",
        "course_completion",
        "--name",
        "Q1",
        "--frequency",
        "daily",
        "--format",
        "csv",
        "--recipient",
        "boss@school.example",
    )
    pinned = invoke(*base, "--period", "2026-Q1", env=site)
    assert pinned.returncode == 0, pinned.stderr
    scheduleid = pinned.stdout.decode().strip()
    shown = invoke("schedule", "show", scheduleid, env=site)
    assert json.loads(shown.stdout)["params"] == {"from": "2026-01-01", "to": "2026-03-31"}
    relative = invoke(*base, "--period", "last-month", env=site)
    assert relative.returncode == 2
    assert "only YYYY-MM or YYYY-Qn" in relative.stderr.decode()


def test_dashboard_period_shows_that_month_against_the_one_before(site: dict[str, str]) -> None:
    result = invoke("dashboard", "--period", "2026-03", "-f", "terminal", env=site)
    assert result.returncode == 0, result.stderr
    text = result.stdout.decode()
    assert "(2026-03 against 2026-02)" in text
    assert "Generated 2026-04-01 00:00:00 (America/New_York)" in text
