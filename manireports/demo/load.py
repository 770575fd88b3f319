"""Bulk loading of the demo into SQLite, MySQL/MariaDB or PostgreSQL.

Rows arrive one at a time from generators that may produce millions of them, so each table has a
small buffer that is flushed with the engine's fastest ordinary path: COPY on PostgreSQL,
multi-row INSERT statements on MySQL (formatted here and sent from a worker thread, so the
server works while Python generates), and executemany inside one unjournalled transaction on
SQLite. Tables are created without their secondary indexes, which are built once the data is in.
"""

from __future__ import annotations

import contextlib
import json
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.schema import CreateIndex, CreateTable

from manireports.errors import DatabaseError, InputError
from manireports.moodle.schema import ColumnDef, TableDef, load_schema

MARKER = "manireports_demo"
BATCH = 20_000  # rows buffered per table before a flush


def _filler(column: ColumnDef) -> object:
    """The value a column gets when a row does not mention it: Moodle's default, else empty."""
    if column.default is not None and column.type not in ("text", "binary"):
        if column.type == "int":
            return int(column.default)
        if column.type in ("number", "float"):
            return float(column.default)
        return column.default
    if not column.notnull:
        return None
    return "" if column.type in ("char", "text") else 0


def engine_for(url: str) -> sa.Engine:
    """An engine on the target; SQLite files and their folders are created as needed."""
    parsed = sa.make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    elif backend in ("mysql", "mariadb"):
        if "charset" not in parsed.query:
            parsed = parsed.update_query_dict({"charset": "utf8mb4"})
    elif backend != "postgresql":
        raise InputError(
            f"The demo can be built on SQLite, MySQL/MariaDB or PostgreSQL, not {backend!r}."
        )
    return sa.create_engine(parsed)


def kind_of(engine: sa.Engine) -> str:
    name = engine.dialect.name
    return "mysql" if name in ("mysql", "mariadb") else name


def prepare(engine: sa.Engine, prefix: str) -> None:
    """Refuse to touch a real Moodle; drop an earlier demo so it can be built afresh."""
    known = {prefix + name for tables in load_schema().variants.values() for name in tables}
    try:
        with engine.begin() as conn:
            existing = set(sa.inspect(conn).get_table_names())
            config = f"{prefix}config"
            if config in existing:
                table = sa.table(config, sa.column("name"), sa.column("value"))
                marker = conn.execute(
                    sa.select(table.c.value).where(table.c.name == MARKER)
                ).scalar()
                if marker is None:
                    raise InputError(
                        f"The database already holds a Moodle site (table {config}) that is not "
                        "a manireports demo; refusing to overwrite it. Point --url at an empty "
                        "database or pick another table prefix."
                    )
            quote = engine.dialect.identifier_preparer.quote
            for name in sorted(existing & known):
                conn.execute(sa.text(f"DROP TABLE {quote(name)}"))
    except sa.exc.OperationalError as exc:
        raise DatabaseError(
            f"Cannot open the demo database: {str(exc.orig).splitlines()[0]}"
        ) from exc


class Loader:
    """Streams rows into the tables of `metadata` and counts them per (unprefixed) table."""

    def __init__(
        self,
        engine: sa.Engine,
        metadata: sa.MetaData,
        prefix: str,
        definitions: dict[str, TableDef],
    ) -> None:
        self.engine = engine
        self.kind = kind_of(engine)
        self.metadata = metadata
        self.prefix = prefix
        self.definitions = definitions
        self.counts: dict[str, int] = {}
        self.buffers: dict[str, list[tuple[object, ...]]] = {}
        self.shapes: dict[str, tuple[list[str], dict[str, int], list[object]]] = {}
        self.batch = BATCH
        self.raw: Any = None
        self.cursor: Any = None
        self.pipe: StatementPipe | None = None

    def create_tables(self) -> None:
        with self.engine.begin() as conn:
            for table in self.metadata.sorted_tables:
                conn.execute(CreateTable(table))

    def create_indexes(self) -> None:
        with self.engine.begin() as conn:
            for table in self.metadata.sorted_tables:
                indexes = sorted(table.indexes, key=lambda i: str(i.name))
                if self.kind == "mysql" and indexes:
                    # One ALTER per table: MySQL rebuilds less than with one statement per index.
                    conn.execute(sa.text(self._mysql_alter(table, indexes)))
                    continue
                for index in indexes:
                    conn.execute(CreateIndex(index))
            if self.kind == "postgresql":
                for table in self.metadata.sorted_tables:
                    conn.execute(
                        sa.text(
                            f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                            f"COALESCE(MAX(id), 0) + 1, false) FROM {table.name}"
                        )
                    )
        if self.kind in ("postgresql", "sqlite"):
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(sa.text("ANALYZE"))

    def _mysql_alter(self, table: sa.Table, indexes: list[sa.Index]) -> str:
        quote = self.engine.dialect.identifier_preparer.quote
        clauses = []
        for index in indexes:
            columns = ", ".join(quote(column.name) for column in index.columns)
            unique = "UNIQUE " if index.unique else ""
            clauses.append(f"ADD {unique}INDEX {quote(str(index.name))} ({columns})")
        return f"ALTER TABLE {quote(table.name)} " + ", ".join(clauses)

    def mark(self, details: dict[str, object]) -> None:
        """Label the database as a demo before any data goes in, so a failed build can be redone."""
        config = self.metadata.tables[f"{self.prefix}config"]
        with self.engine.begin() as conn:
            conn.execute(config.insert().values(id=1, name=MARKER, value=json.dumps(details)))

    @contextlib.contextmanager
    def session(self) -> Iterator[Loader]:
        """Holds one raw driver connection for the whole load; commits at the end."""
        pooled = self.engine.raw_connection()
        self.raw = pooled.driver_connection
        try:
            cursor = self.raw.cursor()
            if self.kind == "sqlite":
                cursor.execute("PRAGMA journal_mode=OFF")
                cursor.execute("PRAGMA synchronous=OFF")
            elif self.kind == "mysql":
                cursor.execute("SET SESSION unique_checks=0, foreign_key_checks=0")
                cursor.execute(
                    "SET SESSION sql_mode = REPLACE(@@sql_mode, 'NO_BACKSLASH_ESCAPES', '')"
                )
                self.pipe = StatementPipe(self.raw)
            else:
                cursor.execute("SET synchronous_commit = off")
            self.cursor = cursor
            yield self
            self.flush_all()
            if self.pipe is not None:
                self.pipe.close()
            self.raw.commit()
        except BaseException:
            if self.pipe is not None:
                self.pipe.abandon()
            self.raw.rollback()
            raise
        finally:
            self.pipe = None
            pooled.close()
            self.raw = None

    def _shape(self, table: str) -> tuple[list[str], dict[str, int], list[object]]:
        if table not in self.shapes:
            columns = self.definitions[table].columns
            names = [c.name for c in columns]
            positions = {name: index for index, name in enumerate(names)}
            self.shapes[table] = (names, positions, [_filler(c) for c in columns])
        return self.shapes[table]

    def add(self, table: str, row: dict[str, object]) -> None:
        """One row as a dict; columns it leaves out get Moodle's defaults."""
        _, positions, fillers = self._shape(table)
        values = list(fillers)
        for name, value in row.items():
            values[positions[name]] = value
        buffer = self.buffers.setdefault(table, [])
        buffer.append(tuple(values))
        if len(buffer) >= self.batch:
            self.flush(table)

    def load(self, table: str, rows: Iterable[tuple[object, ...]]) -> None:
        """Many rows already in schema column order (the fast path for the log)."""
        buffer = self.buffers.setdefault(table, [])
        batch = self.batch
        for row in rows:
            buffer.append(row)
            if len(buffer) >= batch:
                self.flush(table)

    def flush_all(self) -> None:
        for table in list(self.buffers):
            self.flush(table)

    def flush(self, table: str) -> None:
        rows = self.buffers.get(table)
        if not rows:
            return
        names = self._shape(table)[0]
        quote = self.engine.dialect.identifier_preparer.quote
        target = quote(self.prefix + table)
        columns = ", ".join(quote(name) for name in names)
        if self.kind == "postgresql":
            with self.cursor.copy(f"COPY {target} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        elif self.pipe is not None:
            for statement in mysql_inserts(f"INSERT INTO {target} ({columns}) VALUES ", rows):
                self.pipe.send(statement)
            self.pipe.send("COMMIT")
        else:
            marks = ", ".join("?" * len(names))
            self.cursor.executemany(f"INSERT INTO {target} ({columns}) VALUES ({marks})", rows)
        self.counts[table] = self.counts.get(table, 0) + len(rows)
        rows.clear()


class StatementPipe:
    """Runs statements on a worker thread, so the server's work overlaps making the next rows.

    pymysql releases the GIL while it waits for the server, so Python keeps generating and
    formatting rows meanwhile; on two cores this nearly halves a large MySQL load. The worker
    is the only user of the connection until close().
    """

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.queue: queue.Queue[str | None] = queue.Queue(maxsize=4)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="demo-mysql-writer", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        cursor = self.connection.cursor()
        while (statement := self.queue.get()) is not None:
            if self.error is None:
                try:
                    cursor.execute(statement)
                except BaseException as exc:  # handed to the producing thread
                    self.error = exc

    def send(self, statement: str) -> None:
        if self.error is not None:
            raise self.error
        self.queue.put(statement)

    def close(self) -> None:
        self.queue.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error

    def abandon(self) -> None:
        """Stop after a failure elsewhere; the caller rolls back."""
        self.error = self.error or RuntimeError("load abandoned")
        self.queue.put(None)
        self.thread.join()


_MYSQL_ESCAPES = str.maketrans(
    {"\\": "\\\\", "'": "\\'", "\0": "\\0", "\n": "\\n", "\r": "\\r", "\x1a": "\\Z"}
)
# Characters, not bytes: at up to 4 bytes each this stays below the 16 MB max_allowed_packet.
_STATEMENT_CHARS = 2_000_000


class _Literals(dict[str, str]):
    """Quoted, backslash-escaped string literals (the session turns NO_BACKSLASH_ESCAPES off).

    The log repeats a few hundred strings millions of times, so literals are cached and a hit
    is a plain dict lookup.
    """

    def __missing__(self, text: str) -> str:
        literal = "'" + text.translate(_MYSQL_ESCAPES) + "'"
        if len(self) < 100_000:
            self[text] = literal
        return literal


# pymysql's own escaping costs more than the server's work on big loads, so values are turned
# into SQL here, with C-level callables for everything but a first-seen string.
_TO_SQL: dict[type, Callable[[Any], str]] = {
    int: int.__repr__,
    float: float.__repr__,
    str: _Literals().__getitem__,
    type(None): "NULL".format,
}


def mysql_inserts(head: str, rows: list[tuple[object, ...]]) -> Iterator[str]:
    """Multi-row INSERT statements of a few megabytes each, under max_allowed_packet."""
    parts: list[str] = []
    size = 0
    to_sql = _TO_SQL
    for row in rows:
        text = "(" + ",".join([to_sql[type(value)](value) for value in row]) + ")"
        parts.append(text)
        size += len(text)
        if size > _STATEMENT_CHARS:
            yield head + ",".join(parts)
            parts, size = [], 0
    if parts:
        yield head + ",".join(parts)
