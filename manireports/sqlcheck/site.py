"""The site's side of SQL checking: the [reports] deny and allow lists read from the
configuration, the Moodle database's tables and columns, and the validator that holds a custom
report's SQL to them. Config-built reports are held to the same lists through the tables and
columns their query reads (check_reads).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence

import sqlalchemy as sa

from manireports.config import Config
from manireports.errors import ConfigError, InputError
from manireports.moodle.connection import Engine, MoodleDB
from manireports.moodle.detect import IOMAD_51PLUS_TABLES
from manireports.sqlcheck import (
    CheckedSQL,
    Dialect,
    SqlPolicy,
    SQLRejectedError,
    check_custom_sql,
)

# Where the report runner puts the scope condition (`--as-user`) in a report's SQL; custom SQL
# may not write it, since it would take the place of the scope instead of adding to it.
SCOPE_MARKER = "%%SCOPE%%"

DIALECTS: Mapping[Engine, Dialect] = {
    "mysql": "mysql",
    "postgresql": "postgres",
    "sqlite": "sqlite",
}


class SqlValidator:
    """Checks custom SQL for one Moodle database: its dialect, the [reports] policy and the
    tables it has. Call it with the SQL; it returns the CheckedSQL or raises SQLRejectedError.

    `known_tables` may be a callable, asked once on first use, so commands that never validate
    do not connect to Moodle. None skips the check that tables exist.
    """

    def __init__(
        self,
        engine: Engine,
        policy: SqlPolicy,
        known_tables: Collection[str] | Callable[[], Collection[str]] | None = None,
        *,
        table_columns: Callable[[str], Sequence[str] | None] | None = None,
        site_url: Callable[[], str | None] | None = None,
        notice: Callable[[str], None] | None = None,
    ) -> None:
        if engine not in DIALECTS:
            raise InputError(f"Custom reports cannot be checked for the database engine {engine}.")
        self.engine: Engine = engine
        self.dialect: Dialect = DIALECTS[engine]
        self.policy = policy
        self._tables = known_tables
        self._resolved: Collection[str] | None = None
        self.table_columns = table_columns
        self._site_url = site_url
        self._notice = notice

    def known_tables(self) -> Collection[str] | None:
        if self._tables is None or not callable(self._tables):
            return self._tables
        if self._resolved is None:
            self._resolved = frozenset(self._tables())
        return self._resolved

    def __call__(self, sql: str) -> CheckedSQL:
        position = sql.find(SCOPE_MARKER)
        if position >= 0:
            # The runner puts the scope condition where this marker is; in custom SQL (even in
            # a string literal) it would take the place of the scope instead of adding it.
            raise SQLRejectedError(
                "unsupported token",
                SCOPE_MARKER,
                "It marks where manireports puts the scope condition and may not be written in "
                "a report; remove it",
                sql.count("\n", 0, position) + 1,
            )
        checked = check_custom_sql(
            sql, self.dialect, self.policy, self.known_tables(), self.table_columns
        )
        if "%%WWWROOT%%" in checked.sql and self._site_url is not None:
            self.site_url()
        if checked.left_out and self._notice is not None:
            self._notice(
                "Note: the star in this report leaves out "
                f"{', '.join(checked.left_out)} ([reports] denied_columns)."
            )
        return checked

    def site_url(self) -> str:
        """The site URL %%WWWROOT%% stands for; without one a report using it is refused."""
        found = self._site_url() if self._site_url is not None else None
        if not found:
            raise no_site_url()
        return found


def no_site_url() -> ConfigError:
    return ConfigError(
        "The report uses %%WWWROOT%%, but the site URL is not known: set [moodle] wwwroot in "
        "manireports.toml (or MANIREPORTS_MOODLE_WWWROOT), or point [moodle] config_php at a "
        "config.php that sets $CFG->wwwroot."
    )


def policy_from_config(config: Config, prefix: str) -> SqlPolicy:
    """The [reports] deny and allow lists as a SqlPolicy for a site with this prefix."""
    return SqlPolicy(
        prefix=prefix,
        denied_tables=frozenset(config.settings.reports.denied_tables),
        denied_columns=frozenset(config.settings.reports.denied_columns),
        allowed_tables=frozenset(config.settings.reports.allowed_tables),
    )


def site_tables(db: MoodleDB) -> frozenset[str]:
    """The unprefixed tables of the site, plus the classic IOMAD names report SQL uses for the
    tables IOMAD renamed in 2026 (`{company}` is rendered as the renamed table there)."""
    tables = set(db.table_names())
    tables.update(logical for logical, real in IOMAD_51PLUS_TABLES.items() if real in tables)
    return frozenset(tables)


def table_columns(db: MoodleDB, table: str) -> list[str] | None:
    """The columns of a Moodle table (unprefixed, or a classic IOMAD name) in the database's
    order, as `SELECT *` returns them; None when the table is not there."""
    names = [table, IOMAD_51PLUS_TABLES.get(table, table)]
    with db.connect() as connection:
        inspector = sa.inspect(connection)
        for name in names:
            if inspector.has_table(db.table(name)):
                return [str(c["name"]) for c in inspector.get_columns(db.table(name))]
    return None


def site_url(config: Config) -> str | None:
    """The site URL: [moodle] wwwroot, else $CFG->wwwroot of [moodle] config_php."""
    url = config.settings.moodle.wwwroot
    path = config.settings.moodle.config_php
    if not url and path:
        from manireports.moodle.config_php import read_config_php

        url = read_config_php(path).wwwroot
    return url.rstrip("/") if url else None


def make_validator(
    config: Config, db: MoodleDB, notice: Callable[[str], None] | None = None
) -> SqlValidator:
    """The validator for the configured Moodle database; it reads the table list on first use,
    and a table's columns only when a star over it must be listed out."""
    return SqlValidator(
        db.engine_name,
        policy_from_config(config, db.prefix),
        lambda: site_tables(db),
        table_columns=lambda table: table_columns(db, table),
        site_url=lambda: site_url(config),
        notice=notice,
    )


def check_reads(
    reads: Collection[str],
    where: str,
    policy: SqlPolicy,
    known_tables: Collection[str] | None,
) -> None:
    """Refuse a query that reads (`table.column` names, unprefixed) a denied table or column, a
    table outside the allowed list, or a table this Moodle lacks (a plugin uninstalled, the
    standard log disabled). `where` names the query's part in the message.

    A query built by manireports (a config-built report) needs no parsing to be safe, but the
    operator's lists still say which Moodle tables and columns reports may read; it is held to
    them through what it reads, with the same rule names as custom SQL."""
    denied_columns = {entry.lower() for entry in policy.denied_columns}
    denied_tables = {name.lower() for name in policy.denied_tables}
    allowed = {name.lower() for name in policy.allowed_tables}
    for read in sorted(reads):
        table = read.partition(".")[0]
        if table in denied_tables:
            raise SQLRejectedError(
                "denied table", f"{{{table}}} ({where})", f"{table} is in [reports] denied_tables"
            )
        if known_tables is not None and table not in known_tables:
            raise SQLRejectedError(
                "unknown table",
                f"{{{table}}} ({where})",
                f"This Moodle database has no table {table}",
            )
        if allowed and table not in allowed:
            raise SQLRejectedError(
                "table not allowed",
                f"{{{table}}} ({where})",
                f"{table} is not in [reports] allowed_tables",
            )
        if read in denied_columns:
            raise SQLRejectedError(
                "denied column", f"{read} ({where})", f"{read} is in [reports] denied_columns"
            )
