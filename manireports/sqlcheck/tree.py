"""Checks on the parse tree of the one statement: what kind of statement it is, what it calls,
which tables it reads and which of their columns it can reach."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import NoReturn

import sqlglot
from sqlglot import Token, TokenType, exp
from sqlglot.errors import ErrorLevel, ParseError, SqlglotError

from manireports.sqlcheck.functions import forbidden_function
from manireports.sqlcheck.lexical import fill_customsql_tokens
from manireports.sqlcheck.policy import Dialect, SqlPolicy
from manireports.sqlcheck.rejection import (
    SQLRejectedError,
    excerpt,
    line_from,
    syntax_error,
    unparseable,
)
from manireports.sqltext import expand_tables

_SYSTEM_SCHEMAS = frozenset({"information_schema", "mysql", "performance_schema", "sys"})
_OTHER_STATEMENTS = (
    exp.Command, exp.Set, exp.Pragma, exp.Attach, exp.Detach, exp.Use, exp.Transaction,
    exp.Commit, exp.Rollback, exp.LoadData, exp.Kill, exp.Describe, exp.Show, exp.Analyze,
    exp.Cache, exp.Uncache, exp.Refresh,
)  # fmt: skip
# Where a `:name` parameter starts; one inside a literal only changes the literal's text.
_PARAMETER = re.compile(r"(?<![:\w]):(?=[A-Za-z_])")

# The columns of a Moodle table (unprefixed name) in the database's order, or None if unknown.
TableColumns = Callable[[str], Sequence[str] | None]


@dataclass(frozen=True)
class _Source:
    """A row source in a FROM clause: the qualifiers (lower case) that can name it, how an
    expanded star writes it, its node, and the unprefixed Moodle table when it is `{name}`."""

    keys: frozenset[str]
    written: str
    node: exp.Expr
    table: str | None = None


# Per SELECT: the sources of its FROM clause, in order.
_Scope = tuple[_Source, ...]


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
        table_columns: TableColumns | None = None,
    ) -> None:
        self.sql = sql
        self.statement = statement
        self.text = sql[statement[0].start : statement[-1].end + 1]
        self.marker = _marker(self.text)
        self.line_offset = sql.count("\n", 0, statement[0].start)
        self.column_offset = statement[0].start - (sql.rfind("\n", 0, statement[0].start) + 1)
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
        self.table_columns = table_columns
        self.columns_cache: dict[str, list[str] | None] = {}
        self.cte_bodies: dict[str, exp.CTE] = {}
        self.select_scopes: dict[int, _Scope] = {}
        # Stars listed out: (offset of the `*` in parsed_text, the column list).
        self.edits: list[tuple[int, str]] = []
        self.left_out: set[str] = set()
        self.parsed_text = ""
        self.checked_text = self.text

    def parse(self) -> exp.Expr:
        """The tree of the statement with `{name}` expanded and report_customsql tokens filled.

        Parameters are renamed with the marker before parsing, because sqlglot does not take
        `:from` or `:to` for placeholders, and get their names back afterwards.
        """
        expanded = expand_tables(fill_customsql_tokens(self.text), self.marker)
        self.parsed_text = _PARAMETER.sub(":" + self.marker, expanded)
        try:
            with _sqlglot_silenced():
                tree = sqlglot.parse_one(self.parsed_text, read=self.dialect)
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
        highlight = str(details.get("highlight", ""))
        line = int(details.get("line", 1))
        # sqlglot counts columns in the expanded text, up to the word's last character.
        lines = self.parsed_text.splitlines() or [""]
        parsed_line = lines[min(line, len(lines)) - 1]
        end_column = int(details.get("col", len(parsed_line)))
        written = self._unmark(parsed_line[: max(end_column - len(highlight), 0)])
        column = len(written) + 1 + (self.column_offset if line == 1 else 0)
        return syntax_error(
            self._unmark(highlight), line + self.line_offset, column, _plain(details)
        )

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
        self._check_output_names(tree)
        self.checked_text = self._rewritten()
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
                    self.cte_bodies[name] = cte
            if isinstance(node, exp.Select):
                scope = self._scope(node, ctes)
                self.select_scopes[id(node)] = scope
                scopes = (*scopes, scope)
            if isinstance(node, exp.Table) and not self._is_cte(node, ctes):
                tables.append(node)
            elif isinstance(node, (exp.Column, exp.Star, exp.Join, exp.Dot)):
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
        """The row sources of one SELECT's FROM clause, in the order SELECT * lists them."""
        sources: list[_Source] = []
        for clause in select.iter_expressions():
            if not isinstance(clause, (exp.From, exp.Join)):
                continue
            for node in _outside_subqueries(clause):
                alias = node.args.get("alias")
                if isinstance(node, exp.Table):
                    sources.append(self._table_source(node, ctes))
                elif isinstance(alias, exp.TableAlias) and alias.this:
                    written = alias.this.sql(dialect=self.dialect)
                    sources.append(_Source(frozenset({alias.name.lower()}), written, node))
        return tuple(sources)

    def _table_source(self, table: exp.Table, ctes: frozenset[str]) -> _Source:
        """A table in FROM and every qualifier that can reach it: its alias, its name as
        written and, for `{name}`, the prefixed name. A database accepts only some of these;
        matching all of them can refuse a query that would fail anyway, never pass a leak."""
        keys = {table.name.lower()}
        alias = table.args.get("alias")
        moodle = self._moodle_name(table, ctes)
        if moodle is not None:
            keys.add(self.prefix + moodle)
        if isinstance(alias, exp.TableAlias) and alias.this:
            keys.add(alias.name.lower())
            written = alias.this.sql(dialect=self.dialect)
        elif moodle is not None:
            written = f"{{{moodle}}}"
        else:
            written = table.this.sql(dialect=self.dialect)
        return _Source(frozenset(keys), written, table, moodle)

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
                "denied table",
                table,
                f"{name} is in [reports] denied_tables because it can hold secrets; to allow it, "
                f"set [reports] denied_tables in manireports.toml to the list without {name}",
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
                self._check_column(node, identifier.name.lower(), None, scopes)
            denied = self._first_denied(_tables(scopes[-1]))
            if denied and str(node.args.get("method") or "").upper() == "NATURAL":
                self._refuse(
                    "denied column",
                    node,
                    f"A NATURAL JOIN compares every shared column, {denied} included; join ON "
                    "named columns",
                )
        elif isinstance(node, exp.Dot):
            # `(u).password` on PostgreSQL, `"u".password` read as a string on MySQL (a column
            # under ANSI_QUOTES): the field is judged against every table the query can see.
            field = node.expression
            if isinstance(field, exp.Star):
                visible = [source for scope in scopes for source in scope]
                self._check_star(node, _tables(visible), "star over denied column")
            elif isinstance(field, exp.Identifier):
                self._check_column(node, field.name.lower(), None, scopes)
        elif isinstance(node, exp.Star):
            select = node.parent
            # SELECT * under EXISTS reads no column.
            if isinstance(select, exp.Select) and not isinstance(select.parent, exp.Exists):
                self._star(node, scopes[-1] if scopes else ())
        elif isinstance(node, exp.Column):
            sources = None
            if node.table:
                sources = self._sources(node.table, scopes)
                if not sources:
                    self._refuse(
                        "unresolved qualifier",
                        node,
                        f"{node.table} is not a table or alias in this query's FROM clauses; "
                        "qualify columns with the alias or {name} of a table the query reads",
                    )
            if isinstance(node.this, exp.Star):
                reach = sources if sources is not None else [s for sc in scopes for s in sc]
                if isinstance(node.parent, exp.Select):
                    self._star(node.this, reach)
                else:
                    self._check_star(node, _tables(reach), "star over denied column")
            else:
                self._check_column(node, node.name.lower(), sources, scopes)

    def _sources(self, qualifier: str, scopes: tuple[_Scope, ...]) -> list[_Source]:
        """The sources a qualifier may name in this query or any query around it. Shadowed
        names count too: a refusal, never a leak."""
        key = qualifier.lower()
        return [source for scope in scopes for source in scope if key in source.keys]

    def _first_denied(self, tables: Collection[str]) -> str | None:
        """The first denied `table.column` among the tables, if any."""
        for table in sorted(tables):
            for column in sorted(self.denied_columns.get(table, ())):
                return f"{table}.{column}"
        return None

    def _check_column(
        self,
        node: exp.Expr,
        column: str,
        sources: list[_Source] | None,
        scopes: tuple[_Scope, ...],
    ) -> None:
        """A named column, against the tables its qualifier resolved to (`sources`) or, without
        one, against every table the query can see."""
        reachable = sources if sources is not None else [s for scope in scopes for s in scope]
        for table in _tables(reachable):
            if column in self.denied_columns.get(table, ()):
                self._refuse(
                    "denied column",
                    node,
                    f"{table}.{column} is in [reports] denied_columns; reports may not read it",
                )
        if self.dialect == "postgres" and sources is None:
            # A bare table name or alias is the whole row there: row_to_json(u), u::text.
            whole = _tables(self._sources(column, scopes))
            self._check_star(node, whole, "whole-row reference")

    def _check_star(self, node: exp.Expr, tables: Collection[str], rule: str) -> None:
        denied = self._first_denied(tables)
        if denied:
            self._refuse(
                rule,
                node,
                f"This reads every column of {{{denied.split('.')[0]}}}, {denied} included; "
                "name the columns you need",
            )

    def _star(self, star: exp.Star, sources: Collection[_Source]) -> None:
        """`*` or `t.*` in a SELECT list over a table with denied columns: listed instead as the
        allowed columns of its sources, so the database never sends a denied one."""
        tables = _tables(sources)
        qualified = isinstance(star.parent, exp.Column)
        shown = star.parent or star
        if not self._first_denied(tables):
            return
        listed: list[str] = []
        for source in sources:
            columns = self._source_columns(source)
            if columns is None or (qualified and len(sources) > 1):
                self._check_star(shown, tables, "star over denied column")
                return
            listed.extend(f"{source.written}.{_identifier(column)}" for column in columns)
            if qualified and columns:
                # `t.` stays as written before the first column.
                listed[0] = _identifier(columns[0])
        if not listed or "start" not in star.meta:
            self._check_star(shown, tables, "star over denied column")
            return
        for table in tables:
            present = self._all_columns(table) or ()
            self.left_out.update(
                f"{table}.{column}"
                for column in self.denied_columns.get(table, ())
                if column in present
            )
        self.edits.append((int(star.meta["start"]), ", ".join(listed)))

    def _all_columns(self, table: str) -> list[str] | None:
        """Every column of a Moodle table, in the database's order, when the caller knows."""
        if self.table_columns is None:
            return None
        if table not in self.columns_cache:
            found = self.table_columns(table)
            self.columns_cache[table] = None if found is None else [c.lower() for c in found]
        return self.columns_cache[table]

    def _source_columns(self, source: _Source) -> list[str] | None:
        """The columns SELECT * takes from a source, denied ones left out, when they are known."""
        if source.table is not None:
            columns = self._all_columns(source.table)
            if columns is None:
                return None
            denied = self.denied_columns.get(source.table, set())
            return [column for column in columns if column not in denied]
        node = source.node
        if isinstance(node, exp.Table):
            cte = self.cte_bodies.get(self._cte_key(node.this))
            if cte is None:
                return None
            node = cte
        alias = node.args.get("alias")
        if isinstance(alias, exp.TableAlias) and alias.columns:
            return [self._name_of(column) for column in alias.columns]
        if not isinstance(node, (exp.Subquery, exp.CTE)):
            return None
        names, complete = self._outputs(node.this)
        if not complete or any(name is None for name in names):
            return None
        return [name for name in names if name is not None]

    def _outputs(self, query: exp.Expr) -> tuple[list[str | None], bool]:
        """The column names a query returns, as the database names them (None where the
        database makes one up), and whether the list is complete."""
        while isinstance(query, exp.Subquery):
            query = query.this
        if isinstance(query, exp.SetOperation):
            return self._outputs(query.left)
        if not isinstance(query, exp.Select):
            return [], False
        scope = self.select_scopes.get(id(query), ())
        names: list[str | None] = []
        complete = True
        for projection in query.expressions:
            star = isinstance(projection, exp.Star)
            if isinstance(projection, exp.Column) and isinstance(projection.this, exp.Star):
                sources: Collection[_Source] = self._sources(projection.table, (scope,))
                star = True
            else:
                sources = scope
            if not star:
                names.append(self._output_name(projection))
                continue
            for source in sources:
                columns = self._source_columns(source)
                if columns is None:
                    complete = False
                else:
                    names.extend(columns)
        return names, complete

    def _output_name(self, projection: exp.Expr) -> str | None:
        identifier: exp.Expr | None = None
        if isinstance(projection, exp.Alias):
            identifier = projection.args.get("alias")
        elif isinstance(projection, exp.Column):
            identifier = projection.this
        if not isinstance(identifier, exp.Identifier):
            return None
        return self._name_of(identifier)

    def _name_of(self, identifier: exp.Expr) -> str:
        """A column name as the database reports it: PostgreSQL folds unquoted names."""
        quoted = isinstance(identifier, exp.Identifier) and identifier.quoted
        name: str = identifier.name
        return name.lower() if self.dialect == "postgres" and not quoted else name

    def _check_output_names(self, tree: exp.Expr) -> None:
        """Two result columns of one name cannot both be exported; say so now, not at run time."""
        root = tree
        while isinstance(root, exp.Subquery):
            root = root.this
        if isinstance(root, exp.Select) and len(root.expressions) == 1:
            # One column, or a star over one table (whose names are distinct): nothing to
            # compare, and no need to ask the database for the table's columns.
            only = root.expressions[0]
            scope = self.select_scopes.get(id(root), ())
            if isinstance(only, exp.Column) and isinstance(only.this, exp.Star):
                scope = tuple(self._sources(only.table, (scope,)))
            elif not isinstance(only, exp.Star):
                return
            if len(scope) == 1 and scope[0].table is not None:
                return
        names, _complete = self._outputs(tree)
        known = [name for name in names if name is not None]
        twice = sorted({name for name in known if known.count(name) > 1})
        if twice:
            listed = ", ".join(twice)
            which = f"named {listed}" if len(twice) == 1 else f"under each of the names {listed}"
            raise SQLRejectedError(
                "duplicate column names",
                listed,
                f"The query returns more than one column {which}; give each column a distinct "
                "name with AS (for t1.*, t2.*, list the columns you need)",
            )

    def _rewritten(self) -> str:
        """The statement's text with each expanded star replaced by its column list.

        Stars are found again in the operator's own text by their order among `*` tokens:
        expanding `{name}` and renaming parameters adds and removes none.
        """
        if not self.edits:
            return self.text
        parsed = [
            token.start
            for token in sqlglot.tokenize(self.parsed_text, read=self.dialect)
            if token.token_type == TokenType.STAR
        ]
        original = [token for token in self.statement if token.token_type == TokenType.STAR]
        if len(parsed) != len(original) or any(start not in parsed for start, _ in self.edits):
            raise SQLRejectedError(
                "star over denied column",
                "*",
                "This star reads a table with denied columns and could not be listed out; name "
                "the columns you need",
            )
        base = self.statement[0].start
        text = self.text
        for start, replacement in sorted(self.edits, reverse=True):
            token = original[parsed.index(start)]
            text = text[: token.start - base] + replacement + text[token.end + 1 - base :]
        return text

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
        """Text with marker-expanded tables written back as `{name}` and parameters as `:name`."""
        text = text.replace(":" + self.marker, ":")
        return re.sub(re.escape(self.marker) + r"([a-z][a-z0-9_]*)", r"{\1}", text)


def _plain(details: dict[str, object]) -> str:
    """sqlglot's description of a parse error, in words for someone who wrote the SQL."""
    description = str(details.get("description", ""))
    expecting = re.match(r"Expecting (\S+)", description)
    if expecting:
        return f"{expecting.group(1)} is expected here"
    if description.startswith("Required keyword"):
        return "something is missing after this word"
    return "this word does not fit here"


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
    """The node and its descendants in the order written, not entering nested queries (their
    FROM is their own)."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        children = [
            child
            for child in current.iter_expressions()
            if not isinstance(child, (exp.Select, exp.SetOperation))
        ]
        stack.extend(reversed(children))


def _tables(sources: Collection[_Source]) -> list[str]:
    return [source.table for source in sources if source.table is not None]


def _identifier(name: str) -> str:
    """A column name for SQL text, quoted only where the name needs it."""
    return exp.to_identifier(name).sql()
