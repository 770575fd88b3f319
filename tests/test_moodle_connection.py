"""The Moodle connection layer on every engine: read-only, time-limited, streamed."""

from __future__ import annotations

import gc
import sys
import threading
import time

import pytest
import sqlalchemy as sa

from manireports.driverargs import tls_arguments
from manireports.errors import DatabaseError, InputError
from manireports.moodle.connection import ManiReportsQueryError, MoodleDB
from manireports.moodle.detect import detect_site
from tests.moodle_site import MoodleSite

COUNTER = {
    "sqlite": "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :top) "
    "SELECT i FROM n",
    "mysql": "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :top) "
    "SELECT i FROM n",
    "postgresql": "SELECT i FROM generate_series(1, :top) AS i",
}
SLOW = {
    "sqlite": "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000000000)"
    " SELECT count(*) FROM n",
    "mysql": "SELECT SLEEP(5)",
    "postgresql": "SELECT pg_sleep(5)",
}


@pytest.fixture
def site(db_url: str) -> MoodleSite:
    s = MoodleSite(db_url, timezone="Europe/Paris")
    s.user("zoë", firstname="Zoë")
    yield s
    s.dispose()


def test_rows_stream_and_an_early_exit_leaves_the_connection_usable(site: MoodleSite) -> None:
    db = MoodleDB(site.url)
    sql = COUNTER[db.engine_name]
    with db.stream(sql, {"top": 200_000}) as stream:
        first = [next(stream.rows) for _ in range(10)]
    assert [int(r[0]) for r in first] == list(range(1, 11))
    started = time.monotonic()
    with db.stream(sql, {"top": 3}) as stream:
        assert [int(r[0]) for r in stream.rows] == [1, 2, 3]
    assert time.monotonic() - started < 5
    db.dispose()


def test_writes_are_refused_by_the_database_itself(site: MoodleSite) -> None:
    db = MoodleDB(site.url)
    with pytest.raises(ManiReportsQueryError) as error:
        db.fetch_all("UPDATE mdl_user SET firstname = 'x' WHERE id = 3")
    assert "only reads" in str(error.value) or "rejected" in str(error.value)
    assert db.fetch_all("SELECT firstname FROM mdl_user WHERE id = 3") == [("Zoë",)]
    db.dispose()


def test_statement_timeout_stops_a_slow_query(site: MoodleSite) -> None:
    db = MoodleDB(site.url, timeout_seconds=1)
    started = time.monotonic()
    with pytest.raises(ManiReportsQueryError, match="timeout_seconds"):
        db.fetch_all(SLOW[db.engine_name])
    assert time.monotonic() - started < 4
    db.dispose()


@pytest.mark.parametrize("driver", ["pymysql", "mysqlclient"])
def test_every_transaction_of_a_reused_mysql_connection_is_read_only_and_limited(
    mariadb_url: str, driver: str
) -> None:
    """The session is limited once per connection, not per transaction: each later query on the
    pooled connection, through either way in (stream, connect), still runs under the limits."""
    site = MoodleSite(mariadb_url, timezone="UTC")
    db = MoodleDB(site.url, timeout_seconds=7, mysql_driver=driver)  # type: ignore[arg-type]
    probe = "SELECT @@max_statement_time, @@tx_read_only, @@tx_isolation"
    try:
        for _ in range(3):
            assert db.fetch_all(probe) == [(7.0, 1, "REPEATABLE-READ")]
            with pytest.raises(ManiReportsQueryError, match=r"only reads|rejected"):
                db.fetch_all("UPDATE mdl_user SET firstname = 'x' WHERE id = 2")
            with db.connect() as connection:
                assert connection.exec_driver_sql(probe).one() == (7.0, 1, "REPEATABLE-READ")
        assert db.engine.pool.checkedin() == 1
        assert db.fetch_all("SELECT firstname FROM mdl_user WHERE id = 2") != [("x",)]
    finally:
        db.dispose()
        site.dispose()


def test_missing_parameter_is_named(site: MoodleSite) -> None:
    db = MoodleDB(site.url)
    with pytest.raises(InputError, match=":courseid"):
        db.fetch_all("SELECT id FROM mdl_course WHERE id = :courseid")
    db.dispose()


def test_detects_release_layouts_and_settings(site: MoodleSite) -> None:
    info = detect_site(MoodleDB(site.url))
    assert info.version == 2024100700
    assert info.branch == "4.5"
    assert info.iomad == "classic"
    assert info.scorm == "43plus"
    assert info.timezone == "Europe/Paris"
    assert info.siteadmins == (2,)
    assert info.missing_tables == ()
    assert {"iomad", "scorm43"} <= info.flags and "moodle5" not in info.flags


def test_pre43_scorm_and_plain_moodle(tmp_path) -> None:
    site = MoodleSite(f"sqlite:///{tmp_path / 'old.sqlite'}", release="4.1", iomad=False)
    info = detect_site(MoodleDB(site.url))
    assert (info.branch, info.scorm, info.iomad) == ("4.1", "pre43", None)
    assert info.flags == set()


def test_not_a_moodle_database(tmp_path) -> None:
    import sqlite3

    path = tmp_path / "empty.sqlite"
    sqlite3.connect(path).execute("CREATE TABLE x (id INTEGER)").connection.close()
    with pytest.raises(DatabaseError, match="no Moodle tables"):
        detect_site(MoodleDB(f"sqlite:///{path}"))


@pytest.mark.parametrize(
    "url",
    ["mysql+pymysql://root:pw@127.0.0.1:1/moodle", "postgresql+psycopg://u:pw@127.0.0.1:1/moodle"],
)
def test_unreachable_server_is_exit_4_without_the_password(url: str) -> None:
    with pytest.raises(DatabaseError) as error:
        MoodleDB(url).fetch_all("SELECT 1")
    assert error.value.exit_code == 4
    assert "pw" not in str(error.value).replace("password", "")
    assert "****" in str(error.value)


def test_unknown_engine_is_refused() -> None:
    with pytest.raises(InputError, match="not supported"):
        MoodleDB("oracle://u@h/db")


def test_postgresql_plans_a_streamed_query_for_all_its_rows(postgres_url: str) -> None:
    """A server-side cursor is planned for its first 10 % unless told otherwise, which chose
    nested loops that ran a teacher's course_progress for over 300 s instead of 1 s."""
    site = MoodleSite(postgres_url)
    db = MoodleDB(site.url)
    with db.stream("SELECT current_setting('cursor_tuple_fraction')") as stream:
        assert [row[0] for row in stream.rows] == ["1"]
    db.dispose()
    site.dispose()


def test_interrupt_cancels_a_query_running_in_another_thread(site: MoodleSite) -> None:
    db = MoodleDB(site.url, timeout_seconds=60)
    failures: list[BaseException] = []

    def slow() -> None:
        try:
            db.fetch_all(SLOW[db.engine_name])
        except BaseException as exc:
            failures.append(exc)

    worker = threading.Thread(target=slow)
    started = time.monotonic()
    worker.start()
    deadline = started + 10
    while not db._busy and time.monotonic() < deadline:  # the query has begun
        time.sleep(0.01)
    time.sleep(0.3)
    db.interrupt()
    worker.join(10)
    assert not worker.is_alive()
    assert time.monotonic() - started < 4  # not the 5 s sleep, nor the 60 s timeout
    assert len(failures) == 1 and isinstance(failures[0], ManiReportsQueryError)
    assert "cancelled" in str(failures[0])
    # The handle goes on serving queries.
    assert db.fetch_all("SELECT 1") == [(1,)]
    db.dispose()


@pytest.mark.parametrize(
    ("url", "arguments"),
    [
        ("mysql+pymysql://root@127.0.0.1/moodle", {"ssl_disabled": True}),
        ("mysql+pymysql://root@LOCALHOST:3307/moodle", {"ssl_disabled": True}),
        ("mysql+pymysql://root@[::1]/moodle", {"ssl_disabled": True}),
        (
            "mysql+pymysql://root@/moodle?unix_socket=/run/mysqld/mysqld.sock",
            {"ssl_disabled": True},
        ),
        # Another host is offered TLS whenever it accepts it; a URL's own TLS options are kept.
        ("mysql+pymysql://root@db.example.org/moodle", {}),
        ("mysql+pymysql://root@127.0.0.1/moodle?ssl_ca=/etc/ca.pem", {}),
        ("mysql+pymysql://root@127.0.0.1/moodle?ssl_disabled=false", {}),
        ("mysql+mysqldb://root@127.0.0.1/moodle", {}),
        ("postgresql+psycopg://postgres@127.0.0.1/moodle", {}),
    ],
)
def test_tls_is_not_offered_to_a_database_on_this_host(
    url: str, arguments: dict[str, object]
) -> None:
    assert tls_arguments(sa.make_url(url)) == arguments


def test_pymysql_offers_no_tls_to_this_host(mariadb_url: str) -> None:
    moodle = MoodleDB(mariadb_url, mysql_driver="pymysql")
    assert moodle.url.host in ("127.0.0.1", "localhost")
    with moodle.engine.connect() as connection:
        driver = connection.connection.driver_connection
        assert connection.exec_driver_sql("SELECT 1").scalar_one() == 1
    assert driver is not None and driver.ssl is False


# Every kind of column PyMySQL decodes, and text on each side of the length markers of the
# protocol (one byte below 251, 2 bytes to 65535, 3 bytes above), NULL among them.
PYMYSQL_VALUES = (
    "SELECT CAST(i AS SIGNED) AS n, -i AS neg, 18446744073709551615 AS big, REPEAT('é', i) AS t,"
    " CASE WHEN i % 2 = 0 THEN NULL ELSE i END AS maybe, CAST(i / 8 AS DECIMAL(9, 3)) AS d,"
    " i / 3e0 AS f, FROM_UNIXTIME(1700000000 + i) AS dt, DATE('2026-03-29') AS day,"
    " SEC_TO_TIME(i) AS tm, X'00FF' AS bin, JSON_OBJECT('i', i) AS js"
    " FROM (SELECT 1 AS i UNION ALL SELECT 250 UNION ALL SELECT 251 UNION ALL SELECT 65535"
    " UNION ALL SELECT 70000) n ORDER BY i"
)


def test_pymysql_rows_are_the_values_pymysqls_own_cursor_returns(mariadb_url: str) -> None:
    import pymysql.cursors

    db = MoodleDB(mariadb_url, mysql_driver="pymysql")
    with db.stream(PYMYSQL_VALUES) as stream:
        streamed = list(stream.rows)
    raw = db.engine.raw_connection()
    try:
        cursor = raw.driver_connection.cursor(pymysql.cursors.SSCursor)
        cursor.execute(PYMYSQL_VALUES)
        expected = list(cursor.fetchall())
        cursor.close()
    finally:
        raw.close()
    assert streamed == expected
    assert [(row[0], len(row[3]), row[4]) for row in streamed] == [
        (1, 1, 1),
        (250, 250, None),
        (251, 251, 251),
        (65535, 65535, 65535),
        (70000, 70000, None),
    ]
    assert [type(value).__name__ for value in streamed[0]] == [
        "int", "int", "int", "str", "int", "Decimal", "float", "datetime", "date", "timedelta",
        "bytes", "str",
    ]  # fmt: skip
    # The connection is left as PyMySQL's reader leaves it: the next query runs on it.
    assert db.fetch_all("SELECT 2") == [(2,)]
    db.dispose()


def test_pymysql_error_mid_stream_is_the_query_error(mariadb_url: str) -> None:
    db = MoodleDB(mariadb_url, timeout_seconds=2, mysql_driver="pymysql")
    # A row every half second, each big enough to be sent at once: the statement timeout stops
    # the query after the first rows have arrived, so the error packet comes among the rows.
    slow = (
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20) "
        "SELECT i, REPEAT('x', 100000), SLEEP(0.5) FROM n"
    )
    received: list[int] = []
    with (
        pytest.raises(ManiReportsQueryError, match="timeout_seconds"),
        db.stream(slow) as stream,
    ):
        received.extend(int(row[0]) for row in stream.rows)
    assert received[:2] == [1, 2] and len(received) < 20
    assert db.fetch_all("SELECT 3") == [(3,)]
    db.dispose()


@pytest.mark.parametrize("driver", ["pymysql", "mysqlclient"])
def test_a_stream_left_early_ends_quietly_and_the_next_query_runs(
    mariadb_url: str, driver: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`run-report --limit 5` leaves the rows of a streaming MySQL result unread and drops the
    connection. Nothing may then try to read them from the closed socket: PyMySQL did, when the
    cursor was collected, and printed that error on stderr after the report."""
    unraisable: list[object] = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    site = MoodleSite(mariadb_url, timezone="UTC")
    db = MoodleDB(site.url, mysql_driver=driver)  # type: ignore[arg-type]
    try:
        with db.stream(COUNTER["mysql"], {"top": 100_000}) as stream:
            first = [int(next(stream.rows)[0]) for _ in range(5)]
        del stream  # the cursor goes with its rows
        gc.collect()
        assert first == [1, 2, 3, 4, 5]
        assert db.fetch_all(COUNTER["mysql"], {"top": 3}) == [(1,), (2,), (3,)]
        gc.collect()
    finally:
        db.dispose()
        site.dispose()
    assert unraisable == []
