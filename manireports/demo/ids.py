"""Row ids and the row sink shared by the demo's generators.

Generators decide every id themselves, because rows refer to each other (a log event names the
attempt it is about) long before anything reaches the database.
"""

from __future__ import annotations

import random
from collections.abc import Callable

Row = dict[str, object]
Emit = Callable[[str, Row], None]


class Ids:
    """One counter per table, so ids are dense and follow creation order as in Moodle."""

    def __init__(self) -> None:
        self._last: dict[str, int] = {}

    def next(self, table: str) -> int:
        value = self._last.get(table, 0) + 1
        self._last[table] = value
        return value


def random_stream(seed: int | str) -> random.Random:
    """A reproducible stream for generating data; nothing here is a secret."""
    return random.Random(seed)  # noqa: S311
