"""The one connection layer to the Moodle database: read-only, time-limited, streamed.

manireports never writes to Moodle. Every query runs inside a read-only transaction with a
statement timeout on each engine, so even SQL that slipped past validation cannot change data or
hold the server for ever. Report rows are streamed from a server-side cursor on the raw DBAPI
connection: SQLAlchemy's result layer costs a third more per row than the driver, and a report
of a million rows must not be materialised.
"""

from __future__ import annotations

import importlib.util
import sqlite3
import sys
import threading
import time
import weakref
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.pool import QueuePool

from manireports.config import MysqlDriver, mask
from manireports.driverargs import tls_arguments
from manireports.errors import DatabaseError, InputError, RunError
from manireports.moodle.handoff import Handoff, handoff_key
from manireports.moodle.pymysqlrows import forget_unread, unbuffered_rows
from manireports.sqltext import strip_comments

Engine = Literal["mysql", "postgresql", "sqlite"]

STREAM_BATCH = 5000


@dataclass(frozen=True)
class Stream:
    """Column names and the rows of one query, consumed once while the connection is open."""

    columns: list[str]
    rows: Iterator[tuple[Any, ...]]


def mysqlclient_available() -> bool:
    return importlib.util.find_spec("MySQLdb") is not None


def _normalise_url(url: str | sa.URL, mysql_driver: MysqlDriver) -> sa.URL:
    """Pick the driver: psycopg 3 for PostgreSQL, mysqlclient when installed (the fast extra)."""
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError:
        raise InputError(
            f"{mask(str(url))} is not a database URL; write it like "
            "mysql+pymysql://user:password@host/moodle or postgresql+psycopg://user@host/moodle."
        ) from None
    backend = parsed.get_backend_name()
    if backend in ("mysql", "mariadb"):
        use_mysqlclient = mysql_driver == "mysqlclient" or (
            mysql_driver == "auto" and mysqlclient_available()
        )
        driver = "mysqldb" if use_mysqlclient else "pymysql"
        query = dict(parsed.query)
        query.setdefault("charset", "utf8mb4")
        return parsed.set(drivername=f"mysql+{driver}", query=query)
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+psycopg")
    if backend == "sqlite":
        return parsed
    raise InputError(
        f"The database engine {backend!r} is not supported; "
        "use MySQL/MariaDB, PostgreSQL or SQLite."
    )


class MoodleDB:
    """A read-only handle on one Moodle database with its table prefix."""

    def __init__(
        self,
        url: str | sa.URL,
        *,
        prefix: str = "mdl_",
        timeout_seconds: int = 300,
        mysql_driver: MysqlDriver = "auto",
        source: str = "[moodle] url",
    ) -> None:
        self.url = _normalise_url(url, mysql_driver)
        self.prefix = prefix
        self.timeout_seconds = timeout_seconds
        self.source = source
        self._engine: sa.Engine | None = None
        self._server_version: str | None = None
        self._table_names: set[str] | None = None
        # The connections running a query now, for `interrupt` from another thread.
        self._busy: set[_Raw] = set()
        self._busy_lock = threading.Lock()
        # Each thread's open `handing_over` block, if any.
        self._local = threading.local()

    @property
    def engine_name(self) -> Engine:
        name = self.url.get_backend_name()
        assert name in ("mysql", "postgresql", "sqlite"), name
        return name  # type: ignore[return-value]

    @property
    def driver(self) -> str:
        return self.url.get_driver_name() or "pysqlite"

    @property
    def engine(self) -> sa.Engine:
        if self._engine is None:
            url = self.url
            connect_args: dict[str, Any] = {}
            if self.engine_name == "sqlite":
                # Opened read-only at the file level as well: even a bug cannot write to it.
                database = url.database or ""
                if database and database != ":memory:":
                    url = url.set(database=f"file:{database}?mode=ro", query={"uri": "true"})
            elif self.engine_name == "postgresql":
                connect_args["connect_timeout"] = 10
            else:
                connect_args["connect_timeout"] = 10
                connect_args.update(tls_arguments(url))
            # One command asks Moodle several small questions (site, binding, log bounds) before
            # its main query: each reuses the connection the last one left, instead of paying
            # for a new one (a third of the hourly sync on a busy server). Only an idle one is
            # kept, checked before reuse, and closed when the handle goes or the process exits.
            self._engine = sa.create_engine(
                url,
                poolclass=QueuePool,
                pool_size=1,
                max_overflow=-1,
                pool_pre_ping=True,
                connect_args=connect_args,
            )
            if self.engine_name == "mysql":
                sa.event.listen(self._engine, "connect", self._limit_mysql_session)
            weakref.finalize(self, self._engine.dispose)
        return self._engine

    def table(self, name: str) -> str:
        return self.prefix + name

    def describe_url(self) -> str:
        return mask(self.url.render_as_string(hide_password=False))

    # -- transactions -------------------------------------------------------------------

    def _limit_mysql_session(self, dbapi_connection: Any, _record: Any) -> None:
        """Make every transaction of a new MySQL/MariaDB connection read-only and time-limited.

        Set for the session, once per connection, rather than per transaction: a command's
        transactions (site, binding, log bounds, log) each paid three more round trips for
        them, a tenth of the hourly sync's wall time on a busy server. A session's
        characteristics hold for each of its transactions, begun by its first statement (the
        drivers turn autocommit off), and nothing run on the connection can change them: every
        query is a checked SELECT. The version comes from the connection's handshake.
        """
        timeout = max(1, int(self.timeout_seconds))
        if self._server_version is None:
            self._server_version = str(dbapi_connection.get_server_info())
        cursor = dbapi_connection.cursor()
        try:
            if "mariadb" in self._server_version.lower():
                cursor.execute(f"SET SESSION max_statement_time = {timeout}")
            else:
                cursor.execute(f"SET SESSION max_execution_time = {timeout * 1000}")
            cursor.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        finally:
            cursor.close()

    def _begin_read_only(self, dbapi_connection: Any) -> None:
        """Open a read-only transaction with the statement timeout on the raw connection.

        MySQL/MariaDB connections are limited once, when made (`_limit_mysql_session`).
        """
        timeout = max(1, int(self.timeout_seconds))
        if self.engine_name == "mysql":
            return
        cursor = dbapi_connection.cursor()
        try:
            if self.engine_name == "postgresql":
                # One round trip (psycopg sends a query without parameters as it is). Rows are
                # streamed through a server-side cursor, which PostgreSQL plans for its first
                # 10 % by default (cursor_tuple_fraction 0.1): nested loops that start fast and
                # never end. Every report reads its cursor to the end, so plan for all of it;
                # course_progress as a teacher took 1 s so, and over 300 s without.
                cursor.execute(
                    "SET TRANSACTION READ ONLY; "
                    f"SET LOCAL statement_timeout = {timeout * 1000}; "
                    "SET LOCAL cursor_tuple_fraction = 1.0"
                )
            else:
                cursor.execute("PRAGMA query_only = 1")
                dbapi_connection.set_progress_handler(_SqliteDeadline(timeout), 20_000)
                # Text that is not UTF-8 reaches the writers, which repair and count it, instead
                # of failing the whole report.
                dbapi_connection.text_factory = _lenient_text
        finally:
            cursor.close()

    @contextmanager
    def _raw_connection(self) -> Iterator[_Raw]:
        try:
            pooled = self.engine.raw_connection()
        except Exception as exc:
            raise self._unreachable(exc) from None
        raw = _Raw(pooled.driver_connection)
        if self.engine_name == "mysql":
            # Asked now: mysqlclient refuses any call on a connection another thread is using.
            raw.server_thread = int(raw.dbapi.thread_id())
        with self._busy_lock:
            self._busy.add(raw)
        try:
            self._begin_read_only(raw.dbapi)
            yield raw
        finally:
            with self._busy_lock:
                self._busy.discard(raw)
            if raw.abandoned:
                # A MySQL streaming result left half-read would be drained row by row by
                # rollback(); dropping the connection ends it at once.
                pooled.invalidate()
            else:
                try:
                    raw.dbapi.rollback()
                except Exception:
                    pooled.invalidate()
            pooled.close()

    def _unreachable(self, exc: Exception) -> DatabaseError:
        detail = str(getattr(exc, "orig", exc)).strip().splitlines()[0] if str(exc) else ""
        return DatabaseError(
            f"Cannot connect to the Moodle database {self.describe_url()} ({self.source}): "
            f"{detail}. Check that the server is running and the URL is right."
        )

    def _driver_sql(self, sql: str, params: Mapping[str, Any]) -> tuple[str, Any]:
        """Compile `:name` parameters into the driver's own paramstyle."""
        statement = sa.text(strip_comments(sql))
        missing = [name for name in statement.compile().params if name not in params]
        if missing:
            raise InputError(f"The query needs a value for the parameter :{missing[0]}.")
        compiled = statement.compile(dialect=self.engine.dialect)
        if self.engine.dialect.positional:
            names = compiled.positiontup or []
            return compiled.string, tuple(params[name] for name in names)
        return compiled.string, {name: params[name] for name in compiled.params}

    def _server_cursor(self, dbapi_connection: Any) -> Any:
        if self.engine_name == "mysql":
            if self.driver == "mysqldb":
                import MySQLdb.cursors

                return dbapi_connection.cursor(MySQLdb.cursors.SSCursor)
            import pymysql.cursors

            return dbapi_connection.cursor(pymysql.cursors.SSCursor)
        if self.engine_name == "postgresql":
            cursor = dbapi_connection.cursor(name="manireports_stream")
            cursor.itersize = STREAM_BATCH
            return cursor
        return dbapi_connection.cursor()

    @contextmanager
    def handing_over(self) -> Iterator[None]:
        """Within the block, in this thread, rows read with `stream(..., keep=True)` to the end
        are handed to the next `stream` of the same SQL and values (see moodle.handoff)."""
        outer = getattr(self._local, "handoff", None)
        self._local.handoff = Handoff()
        try:
            yield
        finally:
            self._local.handoff = outer

    @contextmanager
    def stream(
        self, sql: str, params: Mapping[str, Any] | None = None, *, keep: bool = False
    ) -> Iterator[Stream]:
        """Run one rendered query and stream its rows; leaving the block ends the transaction.

        Leaving before the rows are exhausted (a --limit, a row cap, a broken pipe) drops the
        connection instead of draining a MySQL streaming cursor row by row. `keep` offers the
        rows to the next reader of the same query inside a `handing_over` block.
        """
        driver_sql, args = self._driver_sql(sql, params or {})
        handoff: Handoff | None = getattr(self._local, "handoff", None)
        key = None if handoff is None else handoff_key(driver_sql, args)
        if handoff is not None and key is not None:
            kept = handoff.take(key)
            if kept is not None:
                yield Stream(*kept)
                return
        with self._raw_connection() as raw:
            cursor = self._server_cursor(raw.dbapi)
            raw.abandoned = True
            try:
                cursor.execute(driver_sql, args)
            except Exception as exc:
                raise self._failure(exc, raw) from None
            columns = [str(d[0]) for d in cursor.description]
            rows = self._rows(cursor, raw)
            if keep and handoff is not None and key is not None:
                rows = handoff.keep(key, columns, rows)
            try:
                yield Stream(columns, rows)
            finally:
                if raw.abandoned and self.driver == "pymysql":
                    forget_unread(cursor)

    def _rows(self, cursor: Any, raw: _Raw) -> Iterator[tuple[Any, ...]]:
        decoded = unbuffered_rows(cursor) if self.driver == "pymysql" else None
        try:
            yield from _fetched(cursor) if decoded is None else decoded
        except Exception as exc:
            raise self._failure(exc, raw) from None
        cursor.close()
        raw.abandoned = False

    def interrupt(self) -> None:
        """Stop every query this handle is running, from any thread.

        A dashboard reads several reports at once; when one fails or the command is stopped,
        the others' queries are cancelled on the server rather than waited for (a query held up
        by a lock would otherwise keep the command alive until [reports] timeout_seconds). Each
        stopped query fails in its own thread, so its run is recorded as failed.
        """
        with self._busy_lock:
            busy = list(self._busy)
        for raw in busy:
            raw.interrupted = True
            try:
                if self.engine_name == "sqlite":
                    raw.dbapi.interrupt()
                elif self.engine_name == "postgresql":
                    raw.dbapi.cancel()
                else:
                    killer = self.engine.raw_connection()
                    try:
                        cursor = killer.cursor()
                        cursor.execute(f"KILL QUERY {raw.server_thread}")
                        cursor.close()
                    finally:
                        killer.close()
            except Exception:  # noqa: S112 - the query then ends at its own timeout
                continue

    def _failure(self, exc: Exception, raw: _Raw) -> ManiReportsQueryError:
        if raw.interrupted:
            return ManiReportsQueryError(
                "The query was cancelled: the command was stopped or a report read alongside "
                "it failed."
            )
        return self.query_error(exc)

    def query_error(self, exc: Exception) -> ManiReportsQueryError:
        """Turn a driver error into one sentence; timeouts and refused writes say so."""
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        lowered = text.lower()
        if isinstance(exc, sqlite3.OperationalError) and "interrupted" in lowered:
            pending = _SqliteDeadline.pending
            if pending is not None:
                # Ctrl-C or SIGTERM arrived inside the progress handler, which stopped the query.
                _SqliteDeadline.pending = None
                raise pending
            return ManiReportsQueryError(self._timeout_message())
        if any(
            marker in lowered
            for marker in ("max_statement_time", "max_execution_time", "statement timeout")
        ):
            return ManiReportsQueryError(self._timeout_message())
        if any(marker in lowered for marker in ("read-only", "read only", "readonly")):
            return ManiReportsQueryError(
                f"The Moodle database refused to change data ({text}); manireports only reads."
            )
        return ManiReportsQueryError(f"The Moodle database rejected the query: {text}")

    def _timeout_message(self) -> str:
        return (
            f"The query ran longer than [reports] timeout_seconds ({self.timeout_seconds} s) and "
            "was stopped; narrow it with parameters or raise the timeout."
        )

    @contextmanager
    def connect(self) -> Iterator[sa.Connection]:
        """A SQLAlchemy connection in a read-only transaction, for small lookups."""
        try:
            connection = self.engine.connect()
        except sa.exc.DBAPIError as exc:
            raise self._unreachable(exc) from None
        try:
            self._begin_read_only(connection.connection.driver_connection)
            yield connection
        finally:
            connection.rollback()
            connection.close()

    def fetch_all(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Run a small query (detection, lookups) and return its rows."""
        with self.stream(sql, params) as result:
            return list(result.rows)

    def column_names(self, sql: str, params: Mapping[str, Any] | None = None) -> list[str]:
        """The result columns of a query, learnt by running it for no rows."""
        probe = f"SELECT * FROM (\n{sql.rstrip().rstrip(';')}\n) probe WHERE 1 = 0"
        with self.stream(probe, params) as result:
            list(result.rows)
            return result.columns

    def table_names(self) -> set[str]:
        """The Moodle tables present, without the prefix.

        Read once per handle: the site detection and the custom-SQL validator of one command
        both ask, and a site's tables change only when Moodle is upgraded."""
        if self._table_names is None:
            with self.connect() as connection:
                names = sa.inspect(connection).get_table_names()
            self._table_names = {n[len(self.prefix) :] for n in names if n.startswith(self.prefix)}
        return set(self._table_names)

    def server_version(self) -> str:
        if self.engine_name == "sqlite":
            return sqlite3.sqlite_version
        if self.engine_name == "mysql":
            return str(self.fetch_all("SELECT VERSION()")[0][0])
        return str(self.fetch_all("SHOW server_version")[0][0])

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


def _fetched(cursor: Any) -> Iterator[tuple[Any, ...]]:
    """The rows of a streaming cursor in the driver's own batches."""
    while batch := cursor.fetchmany(STREAM_BATCH):
        yield from batch


class _SqliteDeadline:
    """SQLite's progress handler: stops a query past the deadline.

    Ctrl-C or SIGTERM during a query raises inside this handler, where sqlite3 swallows it and
    stops the query as "interrupted", like a timeout. sqlite3 hands such an exception to
    sys.unraisablehook when callback tracebacks are on, so a hook keeps it and query_error
    raises it again: the operator sees "Interrupted" and exit 130 (143), not a timeout.
    """

    pending: BaseException | None = None
    _hooked = False

    def __init__(self, timeout: int) -> None:
        self.deadline = time.monotonic() + timeout
        if not _SqliteDeadline._hooked:
            _SqliteDeadline._hooked = True
            previous = sys.unraisablehook

            def keep(unraisable: Any) -> None:
                if isinstance(unraisable.object, _SqliteDeadline) and isinstance(
                    unraisable.exc_value, KeyboardInterrupt
                ):
                    _SqliteDeadline.pending = unraisable.exc_value
                else:
                    previous(unraisable)

            sys.unraisablehook = keep
            sqlite3.enable_callback_tracebacks(True)

    def __call__(self) -> int:
        return 1 if time.monotonic() > self.deadline else 0


def _lenient_text(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


class _Raw:
    """A raw DBAPI connection and whether a streaming result on it was left unfinished."""

    def __init__(self, dbapi: Any) -> None:
        self.dbapi = dbapi
        self.abandoned = False
        self.interrupted = False
        # MySQL/MariaDB's id of the connection, which KILL QUERY names.
        self.server_thread = 0


class ManiReportsQueryError(RunError):
    """A report query failed on the server (timeout, refused write, SQL error)."""
