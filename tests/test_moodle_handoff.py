"""Rows handed from one reader to the next reader of the same query (MoodleDB.handing_over).

The queries a test counts are the ones SQLite itself reports running (its trace callback), so
"not sent again" means the database never saw the statement a second time.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from manireports.moodle.connection import MoodleDB
from tests.moodle_site import MoodleSite

NAMES = "SELECT id, firstname FROM mdl_user WHERE id >= :low ORDER BY id"


@pytest.fixture
def db(sqlite_url: str) -> Iterator[tuple[MoodleDB, list[str]]]:
    site = MoodleSite(sqlite_url)
    for name in ("ann", "bob", "cat"):
        site.user(name, firstname=name.title())
    site.dispose()
    moodle = MoodleDB(sqlite_url)
    sent: list[str] = []

    def trace(dbapi: object, _record: object) -> None:
        dbapi.set_trace_callback(sent.append)  # type: ignore[attr-defined]

    sa.event.listen(moodle.engine, "connect", trace)
    yield moodle, sent
    moodle.dispose()


def read(moodle: MoodleDB, low: int, *, keep: bool = False) -> list[tuple[object, ...]]:
    with moodle.stream(NAMES, {"low": low}, keep=keep) as stream:
        return [tuple(row) for row in stream.rows]


def names_sent(sent: list[str]) -> int:
    return sum(1 for statement in sent if "firstname FROM mdl_user" in statement)


def test_the_next_reader_of_the_same_query_takes_the_rows_once(
    db: tuple[MoodleDB, list[str]],
) -> None:
    moodle, sent = db
    alone = read(moodle, 1)
    assert [name for _, name in alone][-3:] == ["Ann", "Bob", "Cat"]
    sent.clear()
    with moodle.handing_over():
        first = read(moodle, 1, keep=True)
        second = read(moodle, 1)
        third = read(moodle, 1)
    assert first == second == third == alone
    # The second reading took the kept rows; the third found none left and ran the query.
    assert names_sent(sent) == 2


def test_nothing_is_handed_over_that_differs_or_was_not_offered_or_not_read_to_the_end(
    db: tuple[MoodleDB, list[str]],
) -> None:
    moodle, sent = db
    sent.clear()
    with moodle.handing_over():
        read(moodle, 1, keep=True)
        other = read(moodle, 2)  # other values: its own query
        read(moodle, 1)  # takes the kept rows
        read(moodle, 1)  # not offered (keep=False): nothing left to take
        read(moodle, 1)
        with moodle.stream(NAMES, {"low": 1}, keep=True) as stream:
            next(stream.rows)  # left after one row: not kept
        read(moodle, 1)
    assert other == read(moodle, 2)
    assert names_sent(sent) == 7


def test_rows_are_handed_over_only_inside_the_block_and_thread_that_kept_them(
    db: tuple[MoodleDB, list[str]],
) -> None:
    moodle, sent = db
    sent.clear()
    read(moodle, 1, keep=True)  # outside any block: kept for nobody
    with moodle.handing_over():
        read(moodle, 1)
        read(moodle, 1, keep=True)
        elsewhere = threading.Thread(target=read, args=(moodle, 1))
        elsewhere.start()
        elsewhere.join()
    read(moodle, 1)  # the block has ended: its kept rows went with it
    assert names_sent(sent) == 5
