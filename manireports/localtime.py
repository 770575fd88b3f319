"""Local wall-clock times of the site timezone as Unix seconds: one rule for the whole product.

A local time does not always name exactly one moment. Where a daylight-saving change skips an
hour (the spring gap) the time does not exist; where it repeats one (the autumn overlap) it
exists twice. Moodle resolves both the way PHP's DateTime does, and so does every date, period,
schedule and day boundary here, so a report's window and Moodle's own pages agree:

- a time in a gap moves forward by the length of the gap: 01:30 on the day London springs
  forward is 02:30 BST, and a skipped midnight starts its day at the moment of the change;
- a time in an overlap is the first of the two, still in daylight-saving time: 01:30 on the day
  London falls back is 01:30 BST, not the 01:30 GMT an hour later.

This is Python's `fold=0` with zoneinfo (a gap time is read with the offset in force before the
change), spelt out once so that no caller depends on a datetime's fold by accident.
"""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo


def local_to_unix(wall: datetime, tz: ZoneInfo) -> int:
    """`wall`, a naive date and time on the clocks of `tz`, as Unix seconds (whole seconds)."""
    return int(wall.replace(tzinfo=tz, fold=0).timestamp())


def midnight(day: date, tz: ZoneInfo) -> int:
    """The first second of the local day `day`: 23 or 25 hours before or after its neighbours'
    on a daylight-saving change."""
    return local_to_unix(datetime.combine(day, time()), tz)
