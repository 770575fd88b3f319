"""Checks custom SQL reports by parsing them.

report_customsql and configurable_reports guard custom SQL with lists of banned words. That refuses
`WHERE action = 'update'` and a column named `timeupdated`, and it misses what a word list cannot
see: a data-modifying CTE, a `SELECT *` that carries password hashes, a file function behind a
schema qualifier, a MySQL `/*! ... */` comment that MySQL runs as code. Here the query is tokenized
and parsed by sqlglot in the dialect of the site's database and the tree is judged, so strings,
comments and identifiers are what the database will take them to be.

A query passes when it is one read-only SELECT (WITH, UNION, INTERSECT and EXCEPT allowed) whose
every real table is written `{name}`, exists (when the caller knows the schema), is not denied and
is allowed, and which reaches no denied column. Anything else raises SQLRejectedError naming the
rule (see RULES), the offending text and, where known, its line; only the first failure is
reported. The text is checked first (sqlcheck.lexical), then the parse tree (sqlcheck.tree);
sqlcheck.functions lists the functions refused and why.

Choices worth knowing:
- `{name}` is expanded with a marker prefix that does not occur in the text, not with the site's
  prefix, so a hard-coded `mdl_user` (refused: the prefix is configurable) stays distinguishable
  from `{user}`, even with an empty prefix.
- %%STARTTIME%%, %%ENDTIME%% and %%USERID%% are read as numbers; %%WWWROOT%%, %%Q%%, %%C%% and
  %%S%% are left for the result values (reports.operator.custom fills them there); %%FLAGS%%
  is refused.
- A CTE hides a table only where the database would let it, and its name is compared as the
  database compares it where that is certain; in doubt the name is taken for a real table, which
  is refused, never waved through.
- Every column qualifier is resolved to the FROM sources it can name, in the query and every
  query around it: an alias, the name as written, and for `{name}` also the prefixed name,
  quoted or not, under any schema or database qualifier. A qualifier that names none is refused.
  An unqualified column is matched against all the tables. On PostgreSQL a bare table name or
  alias used as a value (`row_to_json(u)`) is the whole row and is refused over a table with a
  denied column. USING, NATURAL JOIN, a column list in a table alias, a field of a value
  (`(u).password`) and, on MySQL, a double-quoted name (a column under ANSI_QUOTES) reach columns
  too and are judged the same way.
- `*` or `t.*` in a SELECT list over a table with denied columns is listed out as the allowed
  columns when the caller can tell a table's columns, and refused otherwise; `SELECT *` directly
  under EXISTS reads no column and is left alone.
- Result columns that share a name are refused where the names are known (aliases, columns, stars
  listed from known tables); names the database makes up for expressions are left to it.
- On PostgreSQL a string used as a column alias (`AS 'name'`, a MySQL form the parser accepts) is
  refused with its line and column, as the database would refuse it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence

from manireports.sqlcheck.policy import CheckedSQL, Dialect, SqlPolicy
from manireports.sqlcheck.rejection import RULES, SQLRejectedError, unparseable_text
from manireports.sqltext import parameter_names

__all__ = [
    "RULES",
    "CheckedSQL",
    "Dialect",
    "SQLRejectedError",
    "SqlPolicy",
    "check_custom_sql",
]


def check_custom_sql(
    sql: str,
    dialect: Dialect,
    policy: SqlPolicy,
    known_tables: Collection[str] | None = None,
    table_columns: Callable[[str], Sequence[str] | None] | None = None,
) -> CheckedSQL:
    """Accept `sql` as a custom report for a Moodle database of `dialect`, or raise
    SQLRejectedError. `known_tables`, when given, are the unprefixed tables the database has;
    `table_columns`, when given, lists a table's columns, so a star over a table with denied
    columns can be listed out instead of refused."""
    # The parser is imported here, not with the package: every command imports the report
    # catalogue, and only custom reports need sqlglot (a tenth of a built-in report's start-up).
    import sqlglot
    from sqlglot.errors import SqlglotError

    from manireports.sqlcheck.lexical import (
        refuse_executable_comments,
        refuse_other_statements,
        refuse_string_aliases,
        refuse_unfilled_tokens,
        single_statement,
    )
    from manireports.sqlcheck.tree import TreeChecker

    refuse_unfilled_tokens(sql)
    try:
        tokens = sqlglot.tokenize(sql, read=dialect)
    except SqlglotError as error:
        raise unparseable_text(sql, str(error)) from error
    statement = single_statement(sql, tokens)
    if dialect == "mysql":
        refuse_executable_comments(tokens)
    refuse_other_statements(sql, statement[0])
    if dialect == "postgres":
        refuse_string_aliases(sql, statement)
    checker = TreeChecker(sql, statement, dialect, policy, known_tables, table_columns)
    tables = checker.check(checker.parse())
    return CheckedSQL(
        sql=checker.checked_text,
        tables=tables,
        parameters=tuple(parameter_names(checker.text)),
        left_out=tuple(sorted(checker.left_out)),
    )
