"""The rows of one query, read once and handed to the next reader of the very same query.

A dashboard reads the same learners twice at one moment: the at-risk report reads the
course_progress SQL for every tracked learner, and the course progress panel runs the
course_progress report itself. For a viewer who sees the whole site the two are the same SQL
with the same parameters (the dashboard pins one moment for all its runs), so the second reader
takes the rows the first one read instead of sending the query again: seconds of server work and
of row decoding on a large site.

The rows are kept only where a reader says they may be wanted again (`keep`), only when it
read them to the end, only for the thread and the block that asked (`MoodleDB.handing_over`),
and only until the next reader takes them: nothing outlives the block, and no other command or
later moment can be served from it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

Key = tuple[str, tuple[Any, ...]]


def handoff_key(driver_sql: str, args: Sequence[Any] | Mapping[str, Any]) -> Key | None:
    """What makes two readings the same: the driver's SQL and its bound values; None when a
    value cannot be compared (nothing is then kept or taken)."""
    values = tuple(sorted(args.items())) if isinstance(args, Mapping) else tuple(args)
    try:
        hash(values)
    except TypeError:
        return None
    return driver_sql, values


class Handoff:
    """The kept results of one block of one thread."""

    def __init__(self) -> None:
        self._kept: dict[Key, tuple[list[str], list[tuple[Any, ...]]]] = {}

    def take(self, key: Key) -> tuple[list[str], Iterator[tuple[Any, ...]]] | None:
        """The kept columns and rows of this query, given once; each row is let go as it is
        read, so the reader's own structures replace the kept rows rather than add to them."""
        found = self._kept.pop(key, None)
        if found is None:
            return None
        columns, rows = found
        rows.reverse()
        return columns, _drain(rows)

    def keep(
        self, key: Key, columns: list[str], rows: Iterator[tuple[Any, ...]]
    ) -> Iterator[tuple[Any, ...]]:
        """The rows as they stream, kept for the next reader once the last one has passed."""
        kept: list[tuple[Any, ...]] = []
        for row in rows:
            kept.append(row)
            yield row
        self._kept[key] = (columns, kept)


def _drain(rows: list[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
    """The rows from last to first (they were reversed), each removed as it is given."""
    pop = rows.pop
    while rows:
        yield pop()
