"""Which Moodle site a state database belongs to, and the refusal to keep state inside Moodle.

A state database holds one site's caches, time-tracking sessions and watermarks: pointed at
another site, it would answer that site's reports with the first one's rows. So the state is bound
to a site when it is created (Moodle's `siteidentifier`, which Moodle writes once at install and
keeps through upgrades and moves), and every command that uses both databases checks the binding.
A restored or moved site keeps its identifier; a fresh install or another site does not, and the
operator then chooses: another state database, or `manireports db rebind` (which also empties the
caches, since they hold the other site's rows).

manireports only reads Moodle's database, so a state URL naming it is refused however it is
spelt: the same server and database after normalising the host, port and driver, or any database
that already holds Moodle's tables.
"""

from __future__ import annotations

import itertools
import json
import os
from dataclasses import dataclass

import sqlalchemy as sa

from manireports.errors import ConfigError, DatabaseError
from manireports.moodle.connection import ManiReportsQueryError, MoodleDB
from manireports.state.store import StateDB, read_setting, transaction, write_setting
from manireports.state.tables import cache_summary

SETTING = "site.binding"
_MEMORY = itertools.count()
_LOOPBACK = {"", "localhost", "127.0.0.1", "::1", "[::1]", "0.0.0.0"}  # noqa: S104 - a name, not a bind
_DEFAULT_PORTS = {"mysql": 3306, "postgresql": 5432}
# Tables no Moodle lacks; a database holding all of them with one prefix is a Moodle database.
_MOODLE_MARKERS = ("config", "user", "course", "context")


def database_location(url: sa.URL) -> str:
    """Where a URL points, spelt one way: engine, server and database, never the password.

    localhost, 127.0.0.1, ::1 and a local socket are one server; a missing port is the engine's
    default; the driver (pymysql, mysqldb, psycopg) does not matter; an SQLite path is resolved.
    """
    backend = url.get_backend_name()
    if backend == "mariadb":
        backend = "mysql"
    if backend == "sqlite":
        database = url.database or ""
        if database in ("", ":memory:"):
            # Every in-memory database is a database of its own.
            return f"sqlite:memory:{next(_MEMORY)}"
        if database.startswith("file:"):
            database = database[len("file:") :].split("?", 1)[0]
        return "sqlite:" + os.path.realpath(database)
    host = (url.host or "").lower()
    socket = url.query.get("unix_socket") or url.query.get("host")
    if host in _LOOPBACK or (not url.host and socket):
        host = "localhost"
    port = url.port or _DEFAULT_PORTS.get(backend)
    database = url.database or (url.username if backend == "postgresql" else "") or ""
    return f"{backend}://{host}:{port}/{database}"


def moodle_prefix_in(connection: sa.Connection, prefix: str = "mdl_") -> str | None:
    """The prefix of Moodle tables found in this database, or None when it holds none."""
    names = set(sa.inspect(connection).get_table_names())
    candidates = {prefix} | {n[: -len("config")] for n in names if n.endswith("config")}
    for candidate in sorted(candidates):
        if all(candidate + marker in names for marker in _MOODLE_MARKERS):
            return candidate
    return None


def refuse_moodle_database(
    state: StateDB, moodle: MoodleDB | None, *, look_inside: bool = True
) -> None:
    """Refuse a state URL that is Moodle's database (exit 2): manireports never writes there.

    The URLs are compared first; `look_inside` also searches the state database for Moodle's
    tables, which catches a spelling the comparison cannot (another name for the same host).
    """
    if moodle is not None and database_location(state.url) == database_location(moodle.url):
        raise ConfigError(
            f"The state database ([state] url, {state.masked_url}) is the Moodle database; "
            "manireports only reads Moodle's, so give [state] url a database of its own."
        )
    if not look_inside:
        return
    with state.begin() as connection:
        found = moodle_prefix_in(connection, moodle.prefix if moodle is not None else "mdl_")
    if found is not None:
        raise ConfigError(
            f"The state database ([state] url, {state.masked_url}) holds Moodle's tables "
            f"({found}config, {found}user, ...); manireports only reads Moodle's database, so "
            "give [state] url a database of its own."
        )


@dataclass(frozen=True)
class SiteBinding:
    """The site a state database serves; `database` and `wwwroot` are for messages."""

    siteidentifier: str | None
    database: str
    wwwroot: str | None = None

    def same_site(self, other: SiteBinding) -> bool:
        """Moodle's identifier decides; a site without one is known by its database."""
        if self.siteidentifier or other.siteidentifier:
            return self.siteidentifier == other.siteidentifier
        return self.database == other.database

    def describe(self) -> str:
        where = self.wwwroot or self.database
        name = self.siteidentifier or "no siteidentifier"
        return f"{where} ({name})"


def site_of(moodle: MoodleDB, wwwroot: str | None = None) -> SiteBinding | None:
    """The running Moodle's identity, read from its `config` table.

    None when the database has no readable `config` table: it is not a Moodle site (yet), so
    there is nothing to bind to, and every command that reads Moodle refuses it on its own.
    """
    try:
        rows = moodle.fetch_all(
            f"SELECT name, value FROM {moodle.table('config')} "
            "WHERE name IN ('siteidentifier', 'wwwroot')"
        )
    except ManiReportsQueryError:
        return None
    values = {str(name): value for name, value in rows}
    return SiteBinding(
        siteidentifier=values.get("siteidentifier") or None,
        database=database_location(moodle.url),
        wwwroot=wwwroot or values.get("wwwroot") or None,
    )


def read_binding(target: StateDB | sa.Connection) -> SiteBinding | None:
    """The site this state database is bound to, or None before the first binding."""
    text = read_setting(target, SETTING)
    if not text:
        return None
    data = json.loads(text)
    return SiteBinding(data.get("siteidentifier"), str(data.get("database")), data.get("wwwroot"))


def write_binding(target: StateDB | sa.Connection, site: SiteBinding) -> None:
    value = {"siteidentifier": site.siteidentifier, "database": site.database}
    value["wwwroot"] = site.wwwroot
    write_setting(target, SETTING, json.dumps(value, sort_keys=True))


def check_binding(state: StateDB, site: SiteBinding) -> SiteBinding:
    """Bind an unbound state to `site`; refuse (exit 4) a state bound to another site."""
    with transaction(state) as connection:
        bound = read_binding(connection)
        if bound is None:
            write_binding(connection, site)
            return site
    if not bound.same_site(site):
        raise DatabaseError(
            f"The state database at {state.masked_url} belongs to the Moodle site "
            f"{bound.describe()}, not to {site.describe()}. Give this site its own state "
            "database ([state] url), or, if this is the same site restored or moved, run "
            "`manireports db rebind`."
        )
    return bound


def rebind(state: StateDB, site: SiteBinding) -> tuple[SiteBinding | None, int]:
    """Bind the state to `site` whatever it was bound to; the other site's caches go.

    Returns the previous binding and how many cache entries were deleted.
    """
    with transaction(state) as connection:
        previous = read_binding(connection)
        cleared = int(connection.execute(sa.delete(cache_summary)).rowcount or 0)
        write_binding(connection, site)
    return previous, cleared
