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
    "unresolved qualifier": "t.column where t is no table or alias of the query's FROM clauses",
    "star over denied column": "t.* over a table with a denied column that cannot be listed out",
    "whole-row reference": "a PostgreSQL whole-row value of a table that has a denied column",
    "duplicate column names": "two result columns of the same name",
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


def syntax_error(token: str, line: int, column: int, problem: str) -> SQLRejectedError:
    """A parse failure in the operator's terms: where, at which word, and what went wrong."""
    shown = excerpt(token) or "the end of the query"
    return SQLRejectedError(
        "unparseable",
        f"{shown!r} at line {line}, column {column}",
        f"The SQL cannot be read there: {problem}",
    )


_OPENERS = {"'": "'", '"': '"', "`": "`", "/*": "*/", "--": "\n", "#": "\n"}


def _unclosed(sql: str) -> int | None:
    """Where a quote or comment opens that never closes, if one does (a doubled quote is
    escaped); a line comment ends the text harmlessly."""
    position = 0
    while position < len(sql):
        opener = next((o for o in ("/*", "--", "'", '"', "`") if sql.startswith(o, position)), None)
        if opener is None:
            position += 1
            continue
        closer = _OPENERS[opener]
        end = position + len(opener)
        while True:
            found = sql.find(closer, end)
            if found < 0:
                return None if closer == "\n" else position
            if len(closer) == 1 and closer != "\n" and sql.startswith(closer * 2, found):
                end = found + 2
                continue
            break
        position = found + len(closer)
    return None


def unparseable_text(sql: str, message: str) -> SQLRejectedError:
    """A failure to split the text into words: mostly a quote or comment that never closes."""
    position = _unclosed(sql)
    if position is None:
        return unparseable(excerpt(message.splitlines()[0]))
    line = sql.count("\n", 0, position) + 1
    column = position - (sql.rfind("\n", 0, position) + 1) + 1
    end = sql.find("\n", position)
    token = sql[position : end if end >= 0 else len(sql)]
    return syntax_error(token, line, column, "this quote or comment is never closed")
