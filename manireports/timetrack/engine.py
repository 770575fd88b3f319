"""Building sessions incrementally from points that arrive roughly, not exactly, in time order.

The standard log is read in id order, which is nearly but not exactly time order (Moodle writes
a request's events when the request ends, and a user's parallel requests interleave). The
builder keeps in memory only the newest session of each (user, course) active within the
recent past, the "horizon": a pair's newest session is resident when it ended at or after the
horizon, and every session that ended before it is already in the state database.

Most events take the fast path: they extend or follow the newest session of their pair, or
start a pair that has been quiet since before the horizon. An event that may touch an older
session (it lies before its pair's newest session and within reach of an earlier one, or before
the horizon) is late: late events are merged with the stored sessions around them at the next
checkpoint, by the same exact rule. Since sessions do not depend on arrival order (see
`sessions`), both paths give exactly what sorting every event first would give.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from manireports.timetrack.sessions import Pair, Span, TimeSettings, is_closed, merge_points
from manireports.timetrack.store import SessionRow, SessionWriter, Tracked, iter_pairs, load_pairs

LATENESS = 3600
"""Seconds an event may lag the newest event seen and still take the fast path."""


class Resident:
    """A pair's newest session, and an upper bound of the ends of all its earlier ones."""

    __slots__ = ("floor", "session")

    def __init__(self, session: Tracked, floor: int) -> None:
        self.session = session
        self.floor = floor


def merge_late(
    writer: SessionWriter,
    pair: Pair,
    rows: list[SessionRow],
    times: Iterable[int],
    *,
    reach: int,
    now: int,
    close_after: int,
) -> tuple[Tracked, int]:
    """Merge points into a pair's stored sessions (all those ending within reach of the first
    point or later) and queue the writes. Returns the pair's newest session, as written, and an
    upper bound of the ends of the sessions before it.
    """
    existing = [Tracked.from_row(row) for row in rows]
    merged = merge_points([Span(s.start, s.end, s.events) for s in existing], times, reach)
    index = 0
    newest = Tracked(0, 0, 0)
    for number, span in enumerate(merged):
        members: list[Tracked] = []
        while index < len(existing) and existing[index].start <= span.end:
            members.append(existing[index])
            index += 1
        latest = number == len(merged) - 1
        closed = not latest or is_closed(span.end, now, close_after)
        stored = None
        if members:
            for member in members[1:]:
                assert member.stored is not None
                writer.delete(pair, member.stored)
            stored = members[0].stored
        session = Tracked(span.start, span.end, span.events, stored)
        writer.write(pair, session, closed)
        newest = session
    # Sessions not loaded ended out of reach of the first merged one.
    floor = merged[-2].end if len(merged) > 1 else merged[0].start - reach - 1
    return newest, floor


class SessionBuilder:
    """Sessions of one source built from points, checkpointed into the state database."""

    def __init__(
        self,
        settings: TimeSettings,
        source: str,
        *,
        now: int,
        horizon: int,
        maxtime: int,
    ) -> None:
        self.source = source
        self.reach = settings.reach(source)
        self.close_after = settings.close_after(source)
        self.now = now
        self.horizon = horizon
        self.maxtime = maxtime
        self.resident: dict[Pair, Resident] = {}
        # Sessions that can no longer change through the fast path, with whether each is its
        # pair's newest (then it may still be open).
        self.pending: list[tuple[Pair, Tracked, bool]] = []
        self.late: list[tuple[Pair, int]] = []
        self.late_total = 0

    # -- loading ----------------------------------------------------------------------

    def load(self, rows: Iterable[SessionRow]) -> None:
        """Take over the stored sessions that ended at or after the load floor.

        Each pair's newest session becomes resident when it ended at or after the horizon; any
        other session still open is queued to be closed.
        """
        for pair, group in iter_pairs(rows):
            for row in group[:-1]:
                if row[5] is None:
                    self.pending.append((pair, Tracked.from_row(row), False))
            newest = Tracked.from_row(group[-1])
            if newest.end >= self.horizon:
                floor = max([self.horizon, *(row[3] for row in group[:-1])])
                self.resident[pair] = Resident(newest, floor)
            elif group[-1][5] is None:
                self.pending.append((pair, newest, True))

    # -- the fast path ------------------------------------------------------------------

    def add(self, pair: Pair, time: int) -> None:
        """One point. Kept in step with the reference rule in `sessions.sessionize`."""
        if time > self.maxtime:
            self.maxtime = min(time, self.now)
        reach = self.reach
        resident = self.resident.get(pair)
        if resident is None:
            if time - reach > self.horizon:
                self.resident[pair] = Resident(Tracked(time, time, 1), self.horizon)
            else:
                self.late.append((pair, time))
            return
        session = resident.session
        if time >= session.start:
            if time <= session.end + reach:
                if time > session.end:
                    session.end = time
                session.events += 1
            else:
                self.pending.append((pair, session, False))
                resident.floor = session.end
                resident.session = Tracked(time, time, 1)
            return
        if time - reach > resident.floor:
            if time >= session.start - reach:
                session.start = time
                session.events += 1
            else:
                # A session of its own between the older ones and the newest.
                self.pending.append((pair, Tracked(time, time, 1), False))
                resident.floor = time
            return
        self.late.append((pair, time))

    # -- checkpoints --------------------------------------------------------------------

    def write(self, writer: SessionWriter) -> None:
        """Write every change so far, merge the late points, and forget what the horizon passed.

        Runs inside the checkpoint's transaction; afterwards the database holds every point
        added so far.
        """
        now, close_after = self.now, self.close_after
        for pair, session, newest in self.pending:
            writer.write(pair, session, not newest or is_closed(session.end, now, close_after))
        self.pending = []
        for pair, resident in self.resident.items():
            session = resident.session
            writer.write(pair, session, is_closed(session.end, now, close_after))
        writer.flush()
        if self.late:
            self._merge_late(writer)
            writer.flush()
        self.horizon = max(self.horizon, self.maxtime - self.reach - LATENESS)
        horizon = self.horizon
        self.resident = {
            pair: resident
            for pair, resident in self.resident.items()
            if resident.session.end >= horizon
        }

    def _merge_late(self, writer: SessionWriter) -> None:
        times: dict[Pair, list[int]] = defaultdict(list)
        for pair, time in self.late:
            times[pair].append(time)
        self.late_total += len(self.late)
        self.late = []
        since = {pair: min(points) - self.reach for pair, points in times.items()}
        stored = load_pairs(writer.connection, self.source, since)
        for pair, points in times.items():
            newest, floor = merge_late(
                writer,
                pair,
                stored[pair],
                points,
                reach=self.reach,
                now=self.now,
                close_after=self.close_after,
            )
            if newest.end >= self.horizon:
                self.resident[pair] = Resident(newest, floor)
            else:
                self.resident.pop(pair, None)

    @property
    def floor(self) -> int:
        """Every open session and every session ending at or after the horizon ends at or after
        this: where the next run starts loading."""
        return min(self.horizon, self.now - self.close_after)
