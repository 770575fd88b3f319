"""The session rules as pure functions: the gap rule, durations, closing, and local days.

A session of one (user, course) is a cluster of activity points. Every point reaches forward by
the source's gap: a log event by `session_timeout_minutes`, a heartbeat by
`heartbeat_extend_minutes`. A point starts a new session when it lies strictly beyond the reach
of every earlier point, so a gap exactly equal to the timeout stays in the session and one
second more starts a new one . Put differently, sessions are the connected
pieces of the union of the closed intervals [point, point + gap].

That formulation is what makes incremental work exact: the sessions of a set of points do not
depend on the order the points arrive in, and adding points only ever merges sessions, never
splits them. An event that reaches the log late, out of time order, is merged into the sessions
already stored exactly as if it had arrived in order, and a sync split at any point gives what
one sync gives. The reference `sessionize` below is the definition the tests hold the
incremental code to.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from manireports.config import Config
from manireports.errors import ConfigError, InputError
from manireports.localtime import midnight

LOG = "log"
HEARTBEAT = "heartbeat"
SITE_COURSE = 0
"""Site-level activity (course 0, NULL or the site course) is kept under course 0."""

Pair = tuple[int, int]
"""(userid, courseid): sessions are kept per user and course."""


@dataclass(frozen=True, slots=True)
class Span:
    """One session: its first and last point and how many points it holds."""

    start: int
    end: int
    events: int


@dataclass(frozen=True)
class TimeSettings:
    """[time_tracking] in seconds, checked once so every rule below can trust it."""

    session_timeout: int
    single_event_seconds: int
    include_site_events: bool
    origins: tuple[str, ...]
    heartbeat_extend: int
    heartbeat_idle: int

    @classmethod
    def from_config(cls, config: Config) -> TimeSettings:
        """The configuration has checked the numbers' ranges; the origins are checked here."""
        section = config.settings.time_tracking
        origins = tuple(o.strip() for o in section.origins if o.strip())
        if not origins:
            raise ConfigError(
                'time_tracking.origins must name at least one log origin, such as "web" '
                f"(from {config.origin('time_tracking.origins')})."
            )
        return cls(
            session_timeout=section.session_timeout_minutes * 60,
            single_event_seconds=section.single_event_seconds,
            include_site_events=section.include_site_events,
            origins=origins,
            heartbeat_extend=section.heartbeat_extend_minutes * 60,
            heartbeat_idle=section.heartbeat_idle_minutes * 60,
        )

    def reach(self, source: str) -> int:
        """How far a point of this source keeps its session alive."""
        return self.session_timeout if source == LOG else self.heartbeat_extend

    def close_after(self, source: str) -> int:
        """Idle seconds after which a session of this source is closed.

        A log session closes once the timeout has passed without an event (nothing can extend it
        any more); a heartbeat session after `heartbeat_idle_minutes`, the plugin's hourly
        "close sessions inactive over 10 minutes", and never before its own reach has passed.
        """
        if source == LOG:
            return self.session_timeout
        return max(self.heartbeat_idle, self.heartbeat_extend)

    @property
    def widest_reach(self) -> int:
        return max(self.session_timeout, self.heartbeat_extend)


def sessionize(times: Iterable[int], reach: int) -> list[Span]:
    """The reference gap rule: the sessions of one pair's points, in any order."""
    spans: list[Span] = []
    start = end = events = 0
    for time in sorted(times):
        if events and time - end <= reach:
            end = time
            events += 1
            continue
        if events:
            spans.append(Span(start, end, events))
        start = end = time
        events = 1
    if events:
        spans.append(Span(start, end, events))
    return spans


def merge_points(spans: Sequence[Span], times: Iterable[int], reach: int) -> list[Span]:
    """The sessions of stored spans (disjoint, of one pair) plus new points: exact.

    Because a span's points reach at most `reach` past its end, a span is an interval whose
    coverage is [start, end + reach]; points and spans sweep together by start.
    """
    items = sorted([(s.start, s.end, s.events) for s in spans] + [(t, t, 1) for t in times])
    merged: list[Span] = []
    start = end = events = 0
    for item_start, item_end, item_events in items:
        if events and item_start <= end + reach:
            end = max(end, item_end)
            events += item_events
            continue
        if events:
            merged.append(Span(start, end, events))
        start, end, events = item_start, item_end, item_events
    if events:
        merged.append(Span(start, end, events))
    return merged


def session_seconds(start: int, end: int, events: int, single_event_seconds: int) -> int:
    """A session's duration: last point minus first, or the fixed credit of a one-event session."""
    return single_event_seconds if events == 1 else end - start


def is_closed(end: int, now: int, close_after: int) -> bool:
    """Closed once idle for longer than `close_after`; exactly that long is still open."""
    return now - end > close_after


@dataclass(frozen=True, slots=True)
class Member:
    """A stored session entering the daily aggregation, with its source's reach."""

    start: int
    end: int
    events: int
    reach: int
    source: str


def cluster_members(members: Iterable[Member]) -> Iterator[Span]:
    """Log and heartbeat sessions of one pair joined where their reaches touch.

    The two sources are stored apart (so a rebuild from the log leaves heartbeats alone) and
    meet here: a heartbeat within a log session's reach continues it, and the other way round,
    exactly as if all the points had formed one session. Sessions of the same source are never
    joined here: each source's sessions are already whole under the rule they were built with,
    and re-cutting them with today's settings is what `time rebuild` is for.

    Joins only happen across sources, so a group is not one run in start order (a log session
    may wait for a heartbeat that bridges it to an earlier log session); groups stay active
    while a later session could still reach them.
    """
    active: list[_Group] = []
    for member in sorted(members, key=lambda m: (m.start, m.end, m.source)):
        joined: list[_Group] = []
        kept: list[_Group] = []
        for group in active:
            if group.reaches(member):
                joined.append(group)
            elif group.cover < member.start:
                yield Span(group.start, group.end, group.events)
            else:
                kept.append(group)
        group = _Group(member)
        for other in joined:
            group.absorb(other)
        kept.append(group)
        active = kept
    for group in sorted(active, key=lambda g: g.start):
        yield Span(group.start, group.end, group.events)


class _Group:
    __slots__ = ("covers", "end", "events", "start")

    def __init__(self, member: Member) -> None:
        self.start = member.start
        self.end = member.end
        self.events = member.events
        self.covers = {member.source: member.end + member.reach}

    @property
    def cover(self) -> int:
        return max(self.covers.values())

    def reaches(self, member: Member) -> bool:
        return any(
            member.start <= cover
            for source, cover in self.covers.items()
            if source != member.source
        )

    def absorb(self, other: _Group) -> None:
        self.start = min(self.start, other.start)
        self.end = max(self.end, other.end)
        self.events += other.events
        for source, cover in other.covers.items():
            self.covers[source] = max(cover, self.covers.get(source, cover))


class LocalDays:
    """Local dates and midnights in the site timezone, cached (a sync touches few days)."""

    def __init__(self, timezone: ZoneInfo) -> None:
        self.timezone = timezone
        self._starts: dict[dt.date, int] = {}

    def date_of(self, timestamp: int) -> dt.date:
        return dt.datetime.fromtimestamp(timestamp, self.timezone).date()

    def start_of(self, day: dt.date) -> int:
        """The first second of a local day (see manireports.localtime for a skipped midnight)."""
        found = self._starts.get(day)
        if found is None:
            found = midnight(day, self.timezone)
            self._starts[day] = found
        return found

    def split(self, start: int, end: int) -> Iterator[tuple[dt.date, int, int]]:
        """(local date, seconds in it, last second of the session in it) for [start, end].

        Days are half-open [midnight, next midnight); a session ending exactly at midnight
        touches the next day with 0 seconds. Days are as long as the calendar makes them: 23 or
        25 hours on DST changes.
        """
        day = self.date_of(start)
        position = start
        while True:
            next_start = self.start_of(day + dt.timedelta(days=1))
            if end < next_start:
                yield day, end - position, end
                return
            yield day, next_start - position, next_start - 1
            position = next_start
            day = day + dt.timedelta(days=1)


def parse_date(value: dt.date | str | None, what: str) -> dt.date | None:
    """A date given as a date or 'YYYY-MM-DD'; the message names the option."""
    if value is None or isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise InputError(f"{what} must be a date written YYYY-MM-DD, not {value!r}.") from None
