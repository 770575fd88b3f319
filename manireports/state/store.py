"""The state database: where it is, how to connect to it, and whether its schema is current.

manireports keeps its own tables (custom reports, schedules, runs, time tracking, caches, audit
log) in a database separate from Moodle's, which it only reads. By default that is an SQLite file
in the user's data directory; a MySQL/MariaDB or PostgreSQL database lets several cron hosts share
schedules. The schema is versioned with Alembic, driven from here rather than from an alembic.ini,
so `manireports db upgrade` works from an installed wheel; every other command calls
`require_current()` and tells the operator to upgrade instead of failing on a missing column.

SQLite is set up for several cron processes at once: WAL (readers never block the writer), a busy
timeout, and transactions that start with BEGIN IMMEDIATE so that a transaction which reads and
then writes waits for the write lock instead of failing with "database is locked" half-way;
`StateDB.reading` is the exception, a deferred transaction for reads that must not queue behind
(or hold up) the writers.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from manireports.config import data_dir
from manireports.driverargs import tls_arguments
from manireports.errors import ConfigError, DatabaseError, SchemaBehindError
from manireports.state.tables import settings

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# The newest migration. Every command checks the database against it, so it is a constant rather
# than read from the migrations: importing Alembic costs a second on each run (a test keeps the
# two equal).
HEAD_REVISION = "0007"
# Prefixed like every other table, so a state database shared with other tools stays readable.
VERSION_TABLE = "manireports_alembic_version"
SQLITE_BUSY_TIMEOUT_SECONDS = 60
CONNECT_TIMEOUT_SECONDS = 10

_ENGINE_NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL", "mysql": "MySQL"}


def now_seconds(now: int | None = None) -> int:
    """The given Unix time, or the current one; timestamps are whole seconds, as in Moodle."""
    return int(time.time()) if now is None else now


def alembic_config(connection: sa.Connection | None = None) -> Config:
    """An Alembic configuration without an ini file; env.py migrates the connection given.

    Without a connection it serves to write a new revision: in a checkout, run
    `alembic.command.revision(alembic_config(), "what changes", rev_id="0003")`.
    """
    from alembic.config import Config

    config = Config()
    # The ini parser interpolates '%', which may occur in an installation path.
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@functools.cache
def _script() -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    """The revision this manireports expects the state database to be at."""
    return HEAD_REVISION


def migrations_head() -> str | None:
    """The head according to the migration scripts themselves (tests compare it)."""
    return _script().get_current_head()


@functools.cache
def _known_revisions() -> frozenset[str]:
    """Every revision shipped with this manireports, to tell 'behind' from 'newer than us'."""
    return frozenset(script.revision for script in _script().walk_revisions())


def _revision_of(connection: sa.Connection) -> str | None:
    """The recorded revision, read with plain SQL; None when the version table is missing."""
    if not sa.inspect(connection).has_table(VERSION_TABLE):
        return None
    row = connection.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).first()
    return None if row is None else str(row[0])


@dataclass(frozen=True)
class StateDescription:
    """What `db check` reports about the state database."""

    url: str
    engine: str
    version: str
    revision: str | None
    head: str


READS_ONLY = "manireports_reads_only"
"""The execution option `StateDB.reading` sets: SQLite then begins a deferred transaction."""


def _create_engine(url: sa.URL, file_mode: int = 0o600) -> sa.Engine:
    backend = url.get_backend_name()
    if backend != "sqlite":
        # A firewalled host would otherwise hang a cron job for minutes before failing.
        connect_args: dict[str, Any] = tls_arguments(url)
        if "connect_timeout" not in url.query:
            connect_args["connect_timeout"] = CONNECT_TIMEOUT_SECONDS
        return sa.create_engine(url, pool_pre_ping=True, connect_args=connect_args)

    in_memory = url.database in (None, "", ":memory:")
    # An in-memory database lives as long as its one connection, so every checkout shares it.
    engine = sa.create_engine(url, poolclass=sa.StaticPool) if in_memory else sa.create_engine(url)

    @sa.event.listens_for(engine, "do_connect")
    def _create_private(_dialect: Any, _record: Any, _args: Any, _kwargs: Any) -> None:
        # SQLite would create the file with the umask's 0644; it holds personal data.
        if not in_memory and not url.query.get("uri"):
            try:
                descriptor = os.open(str(url.database), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except OSError:
                return  # it exists, or SQLite itself will say why it cannot be opened
            os.fchmod(descriptor, file_mode)
            os.close(descriptor)

    @sa.event.listens_for(engine, "connect")
    def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
        # pysqlite's own transaction handling begins lazily and commits before DDL; turn it off
        # and issue BEGIN ourselves (below) so transactions and savepoints mean what they say.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_SECONDS * 1000}")
        if not in_memory:
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        # SQLite enforces foreign keys only when asked, per connection.
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _begin_immediate(connection: sa.Connection) -> None:
        only_reads = connection.get_execution_options().get(READS_ONLY, False)
        connection.exec_driver_sql("BEGIN" if only_reads else "BEGIN IMMEDIATE")

    return engine


def _sqlite_foreign_keys(connection: sa.Connection, *, enabled: bool) -> None:
    driver = connection.connection.driver_connection
    assert driver is not None
    driver.execute(f"PRAGMA foreign_keys = {'ON' if enabled else 'OFF'}")


class StateDB:
    """A handle on the state database; it connects lazily, on first use."""

    def __init__(self, url: str | sa.URL | None = None, *, file_mode: int = 0o600) -> None:
        if url is None:
            directory = data_dir()
            directory.mkdir(parents=True, exist_ok=True)
            url = sa.URL.create("sqlite", database=str(directory / "state.sqlite"))
        try:
            self.url = sa.make_url(url)
        except sa.exc.ArgumentError:
            raise ConfigError(
                "The state database URL ([state] url) is not a valid SQLAlchemy URL; write it like "
                "sqlite:////var/lib/manireports/state.sqlite or postgresql+psycopg://user@host/db."
            ) from None
        self.masked_url = self.url.render_as_string(hide_password=True)
        try:
            self.engine = _create_engine(self.url, file_mode)
        except (sa.exc.NoSuchModuleError, ImportError) as exc:
            raise ConfigError(
                f"The state database URL {self.masked_url} needs the driver "
                f"'{self.url.drivername}', which is not installed ({exc})."
            ) from None

    def __enter__(self) -> StateDB:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close pooled connections (a long-running callback server may call this on reload)."""
        self.engine.dispose()

    def _unreachable(self, exc: sa.exc.DBAPIError) -> DatabaseError:
        args: tuple[Any, ...] = getattr(exc.orig, "args", ())
        # PyMySQL errors are (code, message); psycopg and sqlite3 errors are the message.
        reason = args[1] if len(args) == 2 and isinstance(args[1], str) else str(exc.orig)
        reason = (reason.strip().splitlines() or ["no reason given"])[0].rstrip(".")
        if self.url.password:
            reason = reason.replace(str(self.url.password), "***")
        if self.url.get_backend_name() == "sqlite":
            advice = "that its directory exists and is writable"
        else:
            advice = "that the database server is running"
        return DatabaseError(
            f"Cannot connect to the state database at {self.masked_url} ({reason}); "
            f"check [state] url and {advice}."
        )

    @contextmanager
    def _connect(self) -> Iterator[sa.Connection]:
        try:
            connection = self.engine.connect()
        except sa.exc.DBAPIError as exc:
            raise self._unreachable(exc) from exc
        with connection:
            yield connection

    @contextmanager
    def begin(self) -> Iterator[sa.Connection]:
        """A connection in a transaction, committed when the block ends without an exception."""
        with self._connect() as connection, connection.begin():
            yield connection

    @contextmanager
    def reading(self) -> Iterator[sa.Connection]:
        """A connection in a transaction that only reads (one consistent view of the state).

        On SQLite it is a deferred transaction, not BEGIN IMMEDIATE: with WAL it neither waits
        for a writer nor holds one up, so a dashboard's reports can read time totals page by page
        while the runs beside them record themselves. Only for reads: a write inside it could
        fail with "database is locked" where BEGIN IMMEDIATE would have waited for its turn.
        """
        with self._connect() as connection:
            reads = connection.execution_options(**{READS_ONLY: True})
            with reads.begin():
                yield reads

    def current_revision(self) -> str | None:
        """The schema revision the database is at; None when manireports never created it."""
        with self._connect() as connection:
            return _revision_of(connection)

    def _refuse_unknown(self, revision: str | None) -> None:
        if revision is not None and revision not in _known_revisions():
            raise DatabaseError(
                f"The state database at {self.masked_url} is at revision {revision}, which this "
                "manireports does not know: a newer version upgraded it, so upgrade manireports."
            )

    def _migrate(
        self, step: Callable[[Config, str], None], target: str
    ) -> tuple[str | None, str | None]:

        with self._connect() as connection:
            # SQLite migrates without foreign key enforcement: batch mode drops and re-creates
            # tables, which would cascade to the rows that refer to them. The pragma only takes
            # effect outside a transaction, so it goes to the driver before SQLAlchemy begins one.
            on_sqlite = connection.dialect.name == "sqlite"
            if on_sqlite:
                _sqlite_foreign_keys(connection, enabled=False)
            try:
                before = _revision_of(connection)
                self._refuse_unknown(before)
                step(alembic_config(connection), target)
                after = _revision_of(connection)
                connection.commit()
            finally:
                if on_sqlite:
                    connection.rollback()
                    _sqlite_foreign_keys(connection, enabled=True)
        return before, after

    def upgrade(self, target: str = "head") -> tuple[str | None, str]:
        """Migrate to `target` and return the revisions before and after.

        The whole upgrade runs in one transaction, so on PostgreSQL and SQLite a failed migration
        leaves the database as it was (MySQL commits each DDL statement by itself).
        """
        from alembic import command

        before, after = self._migrate(command.upgrade, target)
        if after is None:  # pragma: no cover - Alembic records the revision it reached
            raise DatabaseError(f"Upgrading {self.masked_url} left no schema revision behind.")
        return before, after

    def downgrade(self, target: str) -> tuple[str | None, str | None]:
        """Migrate back to an older revision, to return to an older manireports.

        Rows the older schema cannot hold are deleted (each migration says which); 'base' drops
        every manireports table.
        """
        from alembic import command

        return self._migrate(command.downgrade, target)

    def require_current(self, revision: str | None = None) -> None:
        """Refuse to work on a state database whose schema is older than this manireports.

        `revision` is the one the caller has just read, if any: a start-up reads it once.
        """
        current = revision or self.current_revision()
        head = head_revision()
        if current == head:
            return
        self._refuse_unknown(current)
        if current is None:
            raise SchemaBehindError(
                f"The state database at {self.masked_url} has no manireports tables yet; "
                "run `manireports db upgrade` to create them."
            )
        raise SchemaBehindError(
            f"The state database at {self.masked_url} is at revision {current} but this "
            f"manireports needs {head}; run `manireports db upgrade`."
        )

    def describe(self) -> StateDescription:
        """Engine, server version and schema revision, for `manireports db check`."""
        with self._connect() as connection:
            dialect = connection.dialect
            revision = _revision_of(connection)
        if getattr(dialect, "is_mariadb", False):
            engine = "MariaDB"
        else:
            engine = _ENGINE_NAMES.get(dialect.name, dialect.name)
        version = ".".join(str(part) for part in dialect.server_version_info or ())
        return StateDescription(self.masked_url, engine, version, revision, head_revision())


@contextmanager
def transaction(target: StateDB | sa.Connection) -> Iterator[sa.Connection]:
    """The caller's connection as it is (the caller commits), or a new committed transaction.

    The state helpers accept either, so a command can write its change and the audit entry for
    it atomically, or call a helper on its own.
    """
    if isinstance(target, sa.Connection):
        yield target
    else:
        with target.begin() as connection:
            yield connection


def read_setting(target: StateDB | sa.Connection, name: str) -> str | None:
    """A value from manireports_settings, such as the time-tracking log watermark."""
    with transaction(target) as connection:
        query = sa.select(settings.c.value).where(settings.c.name == name)
        value: str | None = connection.execute(query).scalar_one_or_none()
    return value


def write_setting(
    target: StateDB | sa.Connection, name: str, value: str | None, *, now: int | None = None
) -> None:
    """Insert or replace a setting in one statement, safe against a concurrent writer."""
    row = {"name": name, "value": value, "timemodified": now_seconds(now)}
    with transaction(target) as connection:
        backend = connection.dialect.name
        statement: sa.Executable
        # Each dialect's module is imported by its own engine already; the others stay unloaded.
        if backend in ("mysql", "mariadb"):
            from sqlalchemy.dialects import mysql

            on_mysql = mysql.insert(settings).values(row)
            statement = on_mysql.on_duplicate_key_update(
                value=on_mysql.inserted.value, timemodified=on_mysql.inserted.timemodified
            )
        elif backend == "postgresql":
            from sqlalchemy.dialects import postgresql

            on_postgresql = postgresql.insert(settings).values(row)
            statement = on_postgresql.on_conflict_do_update(
                index_elements=[settings.c.name],
                set_={
                    "value": on_postgresql.excluded.value,
                    "timemodified": on_postgresql.excluded.timemodified,
                },
            )
        else:
            from sqlalchemy.dialects import sqlite

            on_sqlite = sqlite.insert(settings).values(row)
            statement = on_sqlite.on_conflict_do_update(
                index_elements=[settings.c.name],
                set_={
                    "value": on_sqlite.excluded.value,
                    "timemodified": on_sqlite.excluded.timemodified,
                },
            )
        connection.execute(statement)
