"""The rules custom SQL can break and the error that names one.

RULES is the vocabulary of `reports validate`: every refusal carries one of its keys, so the
documentation, the tests and the operator all speak of the same checks.
"""

from __future__ import annotations

from collections.abc import Mapping

from manireports.errors import InputError

RULES: Mapping[str, str] = {
    "unsupported token": "a report_customsql %%TOKEN%% that manireports does not fill in",
    "unparseable": "SQL the site's database dialect cannot parse, or no statement at all",
    "multiple statements": "more than one statement",
    "executable comment": "a MySQL /*! ... */ comment, which MySQL runs as SQL",
    "data-modifying statement": "INSERT, UPDATE, DELETE, MERGE, REPLACE, TRUNCATE, LOAD",
    "schema change": "CREATE, ALTER, DROP, RENAME, COMMENT ON, GRANT, REVOKE",
    "not a select": "any other statement: SET, CALL, COPY, PRAGMA, ATTACH, HANDLER, DO, ...",
    "data-modifying CTE": "a WITH query that changes data (DELETE ... RETURNING in a CTE)",
    "select into": "SELECT ... INTO a table, a variable, OUTFILE or DUMPFILE",
    "locking read": "FOR UPDATE, FOR SHARE, LOCK IN SHARE MODE",
    "forbidden function": "a function that sleeps, locks, touches files or runs hidden SQL",
    "system schema": "the database's own catalogue: information_schema, pg_catalog, mysql, ...",
    "qualified table": "a schema- or database-qualified table name",
    "hard-coded prefix": "a Moodle table written with its prefix instead of {name}",
    "not a Moodle table": "a table written without braces that is not a CTE",
    "denied table": "a table in [reports] denied_tables",
    "unknown table": "a {table} the Moodle database does not have",
    "table not allowed": "a table outside a non-empty [reports] allowed_tables",
    "denied column": "a column in [reports] denied_columns, however it is reached",
    "star over denied column": "SELECT * or t.* over a table that has a denied column",
    "whole-row reference": "a PostgreSQL whole-row value of a table that has a denied column",
}

_FRAGMENT_LENGTH = 80


class SQLRejectedError(InputError):
    """Custom SQL a report may not run: `rule` names the check (a key of RULES), `fragment` what
    it refused and `line` where, so `reports validate` can point at the text to change."""

    def __init__(self, rule: str, fragment: str, reason: str, line: int | None = None) -> None:
        where = f" (line {line})" if line is not None else ""
        super().__init__(f"Rejected ({rule}): {fragment}{where}. {reason}.")
        self.rule = rule
        self.fragment = fragment
        self.line = line


def excerpt(text: str) -> str:
    """Text on one line and short enough to read in an error message."""
    flat = " ".join(text.split())
    if len(flat) <= _FRAGMENT_LENGTH:
        return flat
    return flat[: _FRAGMENT_LENGTH - 4] + " ..."


def line_from(sql: str, start: int) -> str:
    """The excerpt from `start` to the end of its line."""
    end = sql.find("\n", start)
    return excerpt(sql[start : end if end >= 0 else len(sql)])


def unparseable(detail: str, line: int | None = None) -> SQLRejectedError:
    return SQLRejectedError(
        "unparseable", detail, "Only SQL the site's database can parse is accepted", line
    )
