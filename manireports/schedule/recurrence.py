"""When a schedule fires and which period each run covers, in the site timezone.

Recurrence is computed on the wall clock of the site (dateutil's rrule for daily, weekly and
monthly rules, croniter for cron expressions) and only then placed on the timeline, so 02:30 stays
02:30 across a DST change. A wall time that does not exist (the spring-forward gap) is placed
after the gap, as the clocks read then (02:30 becomes 03:30); a wall time that occurs twice (the
autumn repeat) fires once, at its first occurrence: the rule of manireports.localtime.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from croniter import CroniterBadDateError, croniter
from dateutil.relativedelta import relativedelta
from dateutil.rrule import DAILY, MONTHLY, WEEKLY, rrule

from manireports.errors import InputError
from manireports.localtime import local_to_unix

Frequency = Literal["daily", "weekly", "monthly", "cron"]
FREQUENCIES: tuple[Frequency, ...] = ("daily", "weekly", "monthly", "cron")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
DEFAULT_AT = "06:00"


@dataclass(frozen=True)
class Recurrence:
    """A schedule's rule; `weekday` 0 is Monday, `monthday` 31 means the month's last day."""

    frequency: Frequency
    at: str = DEFAULT_AT
    weekday: int | None = None
    monthday: int | None = None
    cron: str | None = None


def parse_at(text: str) -> time:
    try:
        hours, minutes = text.split(":")
        return time(int(hours), int(minutes))
    except ValueError:
        raise InputError(
            f"--at {text!r} is not a time of day; write it as HH:MM, e.g. 02:30."
        ) from None


def parse_weekday(text: str) -> int:
    lowered = text.strip().lower()
    for index, name in enumerate(WEEKDAYS):
        if lowered in (name, name[:3]) or lowered == str(index + 1):
            return index
    raise InputError(f"--weekday {text!r} is not a day; use monday ... sunday (or 1-7, Monday 1).")


def make_recurrence(
    frequency: str,
    *,
    at: str | None = None,
    weekday: str | None = None,
    day: int | None = None,
    cron: str | None = None,
) -> Recurrence:
    """Check the options of `schedule add` against the frequency and build the rule."""
    if frequency not in FREQUENCIES:
        raise InputError(f"--frequency must be one of {', '.join(FREQUENCIES)}, not {frequency!r}.")
    if frequency == "cron":
        if cron is None:
            raise InputError('--frequency cron needs --cron "EXPR", e.g. --cron "30 2 * * 1-5".')
        if at is not None or weekday is not None or day is not None:
            raise InputError("--at, --weekday and --day do not go with --frequency cron.")
        # croniter also takes a sixth (seconds) field, which a schedule cannot honour.
        if len(cron.split()) != 5 or not croniter.is_valid(cron):
            raise InputError(f"--cron {cron!r} is not a valid five-field cron expression.")
        try:
            croniter(cron, datetime(2000, 1, 1, tzinfo=UTC)).get_next(datetime)
        except CroniterBadDateError:
            raise InputError(
                f"--cron {cron!r} never fires (no such date, e.g. 30 February); check the day "
                "and month fields."
            ) from None
        return Recurrence("cron", at="", cron=cron)
    if cron is not None:
        raise InputError("--cron goes only with --frequency cron.")
    if weekday is not None and frequency != "weekly":
        raise InputError("--weekday goes only with --frequency weekly.")
    if day is not None and frequency != "monthly":
        raise InputError("--day goes only with --frequency monthly.")
    if day is not None and not 1 <= day <= 31:
        raise InputError(f"--day must be between 1 and 31, not {day}.")
    clock = parse_at(at or DEFAULT_AT)
    return Recurrence(
        frequency,
        at=clock.strftime("%H:%M"),
        weekday=(parse_weekday(weekday) if weekday else 0) if frequency == "weekly" else None,
        monthday=(day or 1) if frequency == "monthly" else None,
    )


def describe(rule: Recurrence) -> str:
    """The rule as an operator reads it in `schedule list`."""
    if rule.frequency == "cron":
        return f"cron {rule.cron}"
    if rule.frequency == "weekly":
        return f"weekly on {WEEKDAYS[rule.weekday or 0]} at {rule.at}"
    if rule.frequency == "monthly":
        return f"monthly on day {rule.monthday} at {rule.at}"
    return f"daily at {rule.at}"


def _wall(moment: int, tz: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(moment, tz).replace(tzinfo=None)


def _wall_times(rule: Recurrence, start: datetime) -> Iterator[datetime]:
    """Wall-clock fire times from `start` (a naive site time, inclusive), in order."""
    if rule.frequency == "cron":
        assert rule.cron is not None
        # croniter yields times after its start; step back a second to include `start` itself.
        times = croniter(rule.cron, start - timedelta(seconds=1))
        while True:
            yield times.get_next(datetime)
    clock = parse_at(rule.at)
    first = datetime.combine(start.date(), clock)
    if rule.frequency == "daily":
        yield from rrule(DAILY, dtstart=first)
    elif rule.frequency == "weekly":
        yield from rrule(WEEKLY, dtstart=first, byweekday=rule.weekday)
    else:
        day = rule.monthday or 1
        # "Day 31" is the last day of shorter months: take the largest existing day of 28..N.
        days = list(range(28, day + 1)) if day >= 28 else [day]
        yield from rrule(MONTHLY, dtstart=first.replace(day=1), bymonthday=days, bysetpos=-1)


def next_fire(rule: Recurrence, after: int, tz: ZoneInfo) -> int:
    """The first fire time strictly after `after` (Unix seconds)."""
    # Wall times reach the timeline in order except around a spring-forward gap, where a time in
    # the gap lands up to an hour after the wall times just past it. So start early, and once a
    # candidate is found keep looking two wall-clock hours further for an earlier one.
    best: int | None = None
    horizon: datetime | None = None
    for wall in _wall_times(rule, _wall(after, tz) - timedelta(hours=2)):
        if horizon is not None and wall > horizon:
            break
        moment = local_to_unix(wall, tz)
        if moment > after and (best is None or moment < best):
            best = moment
            horizon = horizon or wall + timedelta(hours=2)
    if best is None:  # pragma: no cover - the generators above never end
        raise InputError(f"The schedule rule {describe(rule)} never fires.")
    return best


def period(rule: Recurrence, occurrence: int, tz: ZoneInfo) -> tuple[int, int]:
    """The reporting period a run at `occurrence` covers, as [start, end) in Unix seconds.

    daily: the previous day; weekly: the seven days before the run's day; monthly: the previous
    calendar month; cron: from the previous fire time to this one. Day boundaries are local
    midnights, so a period across a DST change is 23 or 25 hours long per day concerned.
    """
    day = datetime.fromtimestamp(occurrence, tz).date()
    if rule.frequency == "cron":
        assert rule.cron is not None
        earlier = croniter(rule.cron, _wall(occurrence, tz))
        # A wall time in a spring-forward gap lands on the same instant as the next one.
        previous = local_to_unix(earlier.get_prev(datetime), tz)
        while previous >= occurrence:
            previous = local_to_unix(earlier.get_prev(datetime), tz)
        return previous, occurrence
    if rule.frequency == "monthly":
        end = day.replace(day=1)
        start = end - relativedelta(months=1)
    else:
        end = day
        start = end - timedelta(days=1 if rule.frequency == "daily" else 7)
    return _midnight(start, tz), _midnight(end, tz)


def _midnight(day: date, tz: ZoneInfo) -> int:
    return local_to_unix(datetime.combine(day, time()), tz)
