"""The [reports] deny and allow lists applied to a config-built report.

The builder's SQL needs no parsing to be safe, but the operator's lists still say which Moodle
tables and columns reports may read; a configuration is held to them through the tables and
columns its query touches, with the same rule names as custom SQL.
"""

from __future__ import annotations

from collections.abc import Collection

from manireports.reports.configured.query import ConfiguredQuery
from manireports.sqlcheck import SqlPolicy, SQLRejectedError


def check_policy(
    query: ConfiguredQuery, policy: SqlPolicy, known_tables: Collection[str] | None
) -> None:
    """Refuse a query reading a denied table or column, a table outside the allowed list, or a
    table this Moodle lacks (a plugin uninstalled, the standard log disabled)."""
    denied_columns = {entry.lower() for entry in policy.denied_columns}
    denied_tables = {name.lower() for name in policy.denied_tables}
    allowed = {name.lower() for name in policy.allowed_tables}
    for read in sorted(query.reads):
        table = read.partition(".")[0]
        where = f"source {query.source}"
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
