"""Checks on the parse tree of the one statement: what kind of statement it is, what it calls,
which tables it reads and which of their columns it can reach."""

from __future__ import annotations

import logging
import re
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from typing import NoReturn

import sqlglot
from sqlglot import Token, TokenType, exp
from sqlglot.errors import ErrorLevel, ParseError, SqlglotError

from manireports.sqlcheck.functions import forbidden_function
from manireports.sqlcheck.lexical import fill_customsql_tokens
from manireports.sqlcheck.policy import Dialect, SqlPolicy
from manireports.sqlcheck.rejection import SQLRejectedError, excerpt, line_from, unparseable
from manireports.sqltext import expand_tables

_SYSTEM_SCHEMAS = frozenset({"information_schema", "mysql", "performance_schema", "sys"})
_OTHER_STATEMENTS = (
    exp.Command, exp.Set, exp.Pragma, exp.Attach, exp.Detach, exp.Use, exp.Transaction,
    exp.Commit, exp.Rollback, exp.LoadData, exp.Kill, exp.Describe, exp.Show, exp.Analyze,
    exp.Cache, exp.Uncache, exp.Refresh,
)  # fmt: skip
# Where a `:name` parameter starts; one inside a literal only changes the literal's text.
_PARAMETER = re.compile(r"(?<![:\w]):(?=[A-Za-z_])")
# sqlglot describes tokens in parse errors by their repr; the operator needs only their text.
_TOKEN_REPR = re.compile(r"<Token token_type: [^,]*, text: (.*?), line: .*?>")

# Per SELECT: the Moodle tables of its FROM clause, by alias and by name (lower case).
_Scope = dict[str, str]


class TreeChecker:
    """The checks that need the parse tree of the one statement, with what they share: its tokens,
    the policy, the marker that tells `{name}` tables apart and the statement's line offset."""

    def __init__(
        self,
        sql: str,
        statement: list[Token],
        dialect: Dialect,
        policy: SqlPolicy,
        known_tables: Collection[str] | None,
    ) -> None:
        self.sql = sql
        self.statement = statement
        self.text = sql[statement[0].start : statement[-1].end + 1]
        self.marker = _marker(self.text)
        self.line_offset = sql.count("\n", 0, statement[0].start)
        self.dialect = dialect
        self.prefix = policy.prefix.lower()
        self.denied_tables = frozenset(name.lower() for name in policy.denied_tables)
        self.allowed_tables = frozenset(name.lower() for name in policy.allowed_tables)
        self.known_tables = (
            None if known_tables is None else frozenset(name.lower() for name in known_tables)
        )
        self.denied_columns: dict[str, set[str]] = {}
        for entry in policy.denied_columns:
            table, _, column = entry.lower().partition(".")
            self.denied_columns.setdefault(table, set()).add(column)
        self.used: set[str] = set()

    def parse(self) -> exp.Expr:
        """The tree of the statement with `{name}` expanded and report_customsql tokens filled.

        Parameters are renamed with the marker before parsing, because sqlglot does not take
        `:from` or `:to` for placeholders, and get their names back afterwards.
        """
        expanded = expand_tables(fill_customsql_tokens(self.text), self.marker)
        try:
            with _sqlglot_silenced():
                tree = sqlglot.parse_one(
                    _PARAMETER.sub(":" + self.marker, expanded), read=self.dialect
                )
        except RecursionError as error:
            raise unparseable("the query is nested too deeply to check") from error
        except SqlglotError as error:
            # MySQL's INTO OUTFILE and INTO DUMPFILE do not parse; say why they are refused.
            into = next((t for t in self.statement if t.token_type == TokenType.INTO), None)
            if into is not None:
                raise SQLRejectedError(
                    "select into",
                    line_from(self.sql, into.start),
                    "A report returns rows; it may not write them into a table, variable or file",
                    into.line,
                ) from error
            raise self._unparseable(error) from error
        for placeholder in list(tree.find_all(exp.Placeholder)):
            if placeholder.name.startswith(self.marker):
                placeholder.replace(exp.var(":" + placeholder.name[len(self.marker) :]))
        return tree

    def _unparseable(self, error: SqlglotError) -> SQLRejectedError:
        details = error.errors[0] if isinstance(error, ParseError) and error.errors else None
        if details is None:
            return unparseable(self._unmark(str(error).splitlines()[0]))
        description = _TOKEN_REPR.sub(r"'\1'", str(details.get("description", "Invalid SQL")))
        highlight = self._unmark(str(details.get("highlight", "")))
        line = int(details.get("line", 1)) + self.line_offset
        return unparseable(f"{description} near '{highlight}'", line)

    def check(self, tree: exp.Expr) -> frozenset[str]:
        """Run the tree checks, statements first and columns last; return the tables read."""
        root = tree
        while isinstance(root, exp.Subquery):
            root = root.this
        if not isinstance(root, (exp.Select, exp.SetOperation)):
            self._refuse(
                _statement_rule(root) or "not a select",
                root,
                "A report is one read-only SELECT (WITH, UNION allowed)",
            )
        for node in tree.walk():
            rule = _statement_rule(node)
            if rule is not None:
                in_cte = rule == "data-modifying statement" and node.find_ancestor(exp.CTE)
                self._refuse(
                    "data-modifying CTE" if in_cte else rule,
                    node,
                    "A report may only read; a statement inside the query would change data",
                )
        for into in tree.find_all(exp.Into):
            self._refuse(
                "select into",
                into,
                "A report returns rows; it may not write them into a table, variable or file",
            )
        for lock in tree.find_all(exp.Lock):
            self._refuse(
                "locking read", lock, "A report must not lock the rows it reads from Moodle"
            )
        for function in tree.find_all(exp.Func):
            name = function.name if isinstance(function, exp.Anonymous) else function.sql_name()
            reason = forbidden_function(name)
            if reason is not None:
                self._refuse(
                    "forbidden function", function, f"{name.lower()}() {reason}; reports may not"
                )
        tables, references = self._resolve(tree)
        for table in tables:
            self._check_table(table)
        for node, scopes in references:
            self._check_reference(node, scopes)
        if self.dialect == "mysql":
            self._check_double_quoted_names()
        return frozenset(self.used)

    def _resolve(
        self, tree: exp.Expr
    ) -> tuple[list[exp.Table], list[tuple[exp.Expr, tuple[_Scope, ...]]]]:
        """The real tables of the query (CTE references left out) and every column, star and
        join, each with the FROM scopes it can see, innermost last.

        A CTE is visible to the CTEs after it and to the main query, and to its own body only
        under WITH RECURSIVE; anything else of that name is a real table.
        """
        tables: list[exp.Table] = []
        references: list[tuple[exp.Expr, tuple[_Scope, ...]]] = []
        empty: tuple[_Scope, ...] = ()
        stack: list[tuple[exp.Expr, frozenset[str], tuple[_Scope, ...]]] = [
            (tree, frozenset(), empty)
        ]
        while stack:
            node, ctes, scopes = stack.pop()
            children = list(node.iter_expressions())
            with_clause = next((c for c in children if isinstance(c, exp.With)), None)
            pending: list[tuple[exp.Expr, frozenset[str], tuple[_Scope, ...]]] = []
            if with_clause is not None:
                recursive = bool(with_clause.args.get("recursive"))
                for cte in with_clause.expressions:
                    name = self._cte_key(cte.args["alias"].this)
                    pending.append((cte, ctes | {name} if recursive else ctes, scopes))
                    ctes = ctes | {name}
            if isinstance(node, exp.Select):
                scopes = (*scopes, self._scope(node, ctes))
            if isinstance(node, exp.Table) and not self._is_cte(node, ctes):
                tables.append(node)
            elif isinstance(node, (exp.Column, exp.Star, exp.Join)):
                references.append((node, scopes))
            pending.extend((child, ctes, scopes) for child in children if child is not with_clause)
            stack.extend(reversed(pending))
        return tables, references

    def _cte_key(self, identifier: exp.Expr) -> str:
        """A name as the database matches CTE names: PostgreSQL folds unquoted names; elsewhere
        the spelling must match, which may refuse a query but never waves a table through."""
        quoted = isinstance(identifier, exp.Identifier) and identifier.quoted
        name: str = identifier.name
        return name.lower() if self.dialect == "postgres" and not quoted else name

    def _is_cte(self, table: exp.Table, ctes: frozenset[str]) -> bool:
        identifier = table.this
        if table.db or table.catalog or not isinstance(identifier, exp.Identifier):
            return False
        return self._cte_key(identifier) in ctes

    def _moodle_name(self, table: exp.Table, ctes: frozenset[str]) -> str | None:
        """The unprefixed Moodle table a reference reads, when it is an unqualified `{name}`."""
        if table.db or table.catalog or self._is_cte(table, ctes):
            return None
        name = table.name
        return name[len(self.marker) :] if name.startswith(self.marker) else None

    def _scope(self, select: exp.Select, ctes: frozenset[str]) -> _Scope:
        scope: _Scope = {}
        for clause in select.iter_expressions():
            if not isinstance(clause, (exp.From, exp.Join)):
                continue
            for node in _outside_subqueries(clause):
                if isinstance(node, exp.Table):
                    name = self._moodle_name(node, ctes)
                    if name is not None:
                        scope[node.alias_or_name.lower()] = name
                        scope[node.name.lower()] = name
        return scope

    def _check_table(self, table: exp.Table) -> None:
        identifier = table.this
        if isinstance(identifier, exp.Func):
            return  # a table function: judged with the other functions
        if not isinstance(identifier, exp.Identifier):
            self._refuse("not a Moodle table", table, "Write Moodle tables as {name}")
        name: str = identifier.this
        lowered = name.lower()
        qualifiers = [part.lower() for part in (table.catalog, table.db) if part]
        system = lowered.startswith(("pg_", "sqlite_")) or any(
            part in _SYSTEM_SCHEMAS or part.startswith("pg_") for part in qualifiers
        )
        if system:
            self._refuse(
                "system schema", table, "Reports read Moodle's tables, not the database catalogue"
            )
        if qualifiers:
            self._refuse(
                "qualified table",
                table,
                "Moodle tables are never schema-qualified; write {name} and the prefix applies",
            )
        if name.startswith(self.marker):
            self._check_moodle_table(table, name[len(self.marker) :])
        elif self.dialect == "mysql" and lowered == "dual":
            return
        elif self.prefix and lowered.startswith(self.prefix):
            unprefixed = lowered[len(self.prefix) :]
            self._refuse(
                "hard-coded prefix",
                table,
                f"Write {{{unprefixed}}} instead of {name} so the configured prefix applies",
            )
        else:
            self._refuse(
                "not a Moodle table",
                table,
                f"{name} is neither {{{lowered}}} nor a CTE defined before it; write Moodle "
                "tables as {name} and spell a CTE exactly as in its WITH clause",
            )

    def _check_moodle_table(self, table: exp.Table, name: str) -> None:
        if name in self.denied_tables:
            self._refuse(
                "denied table", table, f"{name} is in [reports] denied_tables: it holds secrets"
            )
        if self.known_tables is not None and name not in self.known_tables:
            self._refuse("unknown table", table, f"This Moodle database has no table {name}")
        if self.allowed_tables and name not in self.allowed_tables:
            self._refuse("table not allowed", table, f"{name} is not in [reports] allowed_tables")
        alias = table.args.get("alias")
        denied = self._first_denied([name])
        if denied and alias is not None and alias.columns:
            # PostgreSQL's `{user} AS u(a, b, ...)` renames columns by position, password too.
            self._refuse(
                "denied column",
                table,
                f"Renaming the columns of {{{name}}} in its alias can expose {denied}; rename "
                "them in the SELECT list instead",
            )
        self.used.add(name)

    def _check_reference(self, node: exp.Expr, scopes: tuple[_Scope, ...]) -> None:
        if isinstance(node, exp.Join):
            for identifier in node.args.get("using") or []:
                self._check_column(node, identifier.name.lower(), "", scopes)
            denied = self._first_denied(scopes[-1].values())
            if denied and str(node.args.get("method") or "").upper() == "NATURAL":
                self._refuse(
                    "denied column",
                    node,
                    f"A NATURAL JOIN compares every shared column, {denied} included; join ON "
                    "named columns",
                )
        elif isinstance(node, exp.Star):
            select = node.parent
            # SELECT * under EXISTS reads no column.
            if isinstance(select, exp.Select) and not isinstance(select.parent, exp.Exists):
                self._check_star(select, scopes[-1].values(), "star over denied column")
        elif isinstance(node, exp.Column):
            qualifier = node.table.lower()
            if isinstance(node.this, exp.Star):
                self._check_star(node, self._tables(qualifier, scopes), "star over denied column")
            else:
                self._check_column(node, node.name.lower(), qualifier, scopes)

    def _tables(self, qualifier: str, scopes: tuple[_Scope, ...]) -> list[str]:
        """The Moodle tables a qualifier may refer to in this query or any query around it; with
        no qualifier, all of them. Shadowed aliases count too: a refusal, never a leak."""
        return [
            table
            for scope in scopes
            for key, table in scope.items()
            if not qualifier or key == qualifier
        ]

    def _first_denied(self, tables: Collection[str]) -> str | None:
        """The first denied `table.column` among the tables, if any."""
        for table in sorted(tables):
            for column in sorted(self.denied_columns.get(table, ())):
                return f"{table}.{column}"
        return None

    def _check_column(
        self, node: exp.Expr, column: str, qualifier: str, scopes: tuple[_Scope, ...]
    ) -> None:
        for table in self._tables(qualifier, scopes):
            if column in self.denied_columns.get(table, ()):
                self._refuse(
                    "denied column",
                    node,
                    f"{table}.{column} is in [reports] denied_columns; reports may not read it",
                )
        if self.dialect == "postgres" and not qualifier:
            # A bare alias is the whole row there: row_to_json(u), u::text.
            self._check_star(node, self._tables(column, scopes), "whole-row reference")

    def _check_star(self, node: exp.Expr, tables: Collection[str], rule: str) -> None:
        denied = self._first_denied(tables)
        if denied:
            self._refuse(
                rule,
                node,
                f"This reads every column of {{{denied.split('.')[0]}}}, {denied} included; "
                "name the columns you need",
            )

    def _check_double_quoted_names(self) -> None:
        """MySQL reads "word" as a string, unless the server runs with ANSI_QUOTES, where it is a
        column: a denied column name in double quotes is refused, as it would be unquoted."""
        for token in self.statement:
            if token.token_type != TokenType.STRING or self.sql[token.start] != '"':
                continue
            column = token.text.lower()
            for table in sorted(self.used):
                if column in self.denied_columns.get(table, ()):
                    raise SQLRejectedError(
                        "denied column",
                        f'"{token.text}"',
                        f"With ANSI_QUOTES this is the column {table}.{column}, which is in "
                        "[reports] denied_columns; write strings in single quotes",
                        token.line,
                    )

    def _refuse(self, rule: str, node: exp.Expr, reason: str) -> NoReturn:
        text = node.sql(dialect=self.dialect, unsupported_level=ErrorLevel.IGNORE, comments=False)
        lines = [n.meta["line"] for n in node.walk() if "line" in n.meta]
        raise SQLRejectedError(
            rule,
            excerpt(self._unmark(text)),
            reason,
            min(lines) + self.line_offset if lines else None,
        )

    def _unmark(self, text: str) -> str:
        """Text with marker-expanded tables written back as `{name}`."""
        return re.sub(re.escape(self.marker) + r"([a-z][a-z0-9_]*)", r"{\1}", text)


def _statement_rule(node: exp.Expr) -> str | None:
    """The rule a node breaks by being a statement other than a query, if it is one."""
    if isinstance(node, (exp.DML, exp.TruncateTable)):
        return "data-modifying statement"
    if isinstance(node, (exp.DDL, exp.Drop, exp.Alter, exp.Comment, exp.Grant, exp.Revoke)):
        return "schema change"
    if isinstance(node, _OTHER_STATEMENTS):
        return "not a select"
    return None


def _marker(text: str) -> str:
    """A table-name prefix that occurs nowhere in the text, for expanding `{name}`: with the site's
    prefix, `{user}` and a hard-coded `mdl_user` would look the same."""
    marker = "manireports_"
    while marker in text.lower():
        marker += "x"
    return marker


@contextmanager
def _sqlglot_silenced() -> Iterator[None]:
    """sqlglot logs a warning when it falls back to an opaque Command for a statement it does not
    know; the check refuses those itself, and the library never writes to stderr."""
    logger = logging.getLogger("sqlglot")
    disabled = logger.disabled
    logger.disabled = True
    try:
        yield
    finally:
        logger.disabled = disabled


def _outside_subqueries(node: exp.Expr) -> Iterator[exp.Expr]:
    """The node and its descendants, not entering nested queries (their FROM is their own)."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(
            child
            for child in current.iter_expressions()
            if not isinstance(child, (exp.Select, exp.SetOperation))
        )
