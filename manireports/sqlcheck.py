"""Checks custom SQL reports by parsing them (SPEC section 6).

report_customsql and configurable_reports guard custom SQL with lists of banned words. That refuses
`WHERE action = 'update'` and a column named `timeupdated`, and it misses what a word list cannot
see: a data-modifying CTE, a `SELECT *` that carries password hashes, a file function behind a
schema qualifier, a MySQL `/*! ... */` comment that MySQL runs as code. Here the query is tokenized
and parsed by sqlglot in the dialect of the site's database and the tree is judged, so strings,
comments and identifiers are what the database will take them to be.

A query passes when it is one read-only SELECT (WITH, UNION, INTERSECT and EXCEPT allowed) whose
every real table is written `{name}`, exists (when the caller knows the schema), is not denied and
is allowed, and which reads no denied column. Anything else raises SQLRejectedError naming the rule
(see RULES), the offending text and, where known, its line; only the first failure is reported.

Choices worth knowing:
- `{name}` is expanded with a marker prefix that does not occur in the text, not with the site's
  prefix, so a literal `mdl_user` (refused: the prefix is configurable) stays distinguishable from
  `{user}`, even with an empty prefix.
- %%STARTTIME%%, %%ENDTIME%% and %%USERID%% are read as numbers; report_customsql's other tokens
  (%%WWWROOT%%, %%Q%%, %%C%%, %%S%%, %%FLAGS%%) are refused wherever they appear, strings included,
  because nothing would fill them in.
- A CTE hides a table only where the database would let it: later CTEs and the main query, and its
  own body under WITH RECURSIVE. Its name is compared as the database compares it where that is
  certain (PostgreSQL folds unquoted names), and exactly otherwise; where in doubt the name is taken
  for a real table, which is refused, never waved through.
- A column is matched to tables by alias, across the query and every query around it. An
  unqualified column is matched against all of those tables, so a denied column name is refused
  even when the database would have found it elsewhere. On PostgreSQL a bare table alias used as a
  value (`row_to_json(u)`) is the whole row and counts as `u.*`.
- `SELECT *` directly under EXISTS reads nothing and is allowed.
- Functions are refused by what they do (_FORBIDDEN_FUNCTIONS): sleep and wait, take locks,
  touch server files or large objects, administer the server, change sequences, run SQL given as
  text (dblink, query_to_xml, ts_stat) or run commands and extensions. One that is merely
  expensive (randomblob, repeat) is left to the report timeout; version() and the like are fine.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Literal, NoReturn

import sqlglot
from sqlglot import Token, TokenType, exp
from sqlglot.errors import ErrorLevel, ParseError, SqlglotError

from manireports.config import SCHEMA
from manireports.errors import ConfigError, InputError
from manireports.sqltext import expand_tables, parameter_names

Dialect = Literal["mysql", "postgres", "sqlite"]

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
    "denied column": "a column in [reports] denied_columns",
    "star over denied column": "SELECT * or t.* over a table that has a denied column",
    "whole-row reference": "a PostgreSQL whole-row value of a table that has a denied column",
}

# (what they do, name patterns). Matched case-insensitively against the called name, however the
# call is qualified (pg_catalog.pg_sleep is pg_sleep).
# fmt: off
_FORBIDDEN_FUNCTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("sleeps or waits, holding a database connection", (
        "sleep", "pg_sleep*", "benchmark", "master_pos_wait", "source_pos_wait",
        "master_gtid_wait", "wait_for_executed_gtid_set", "wait_until_sql_thread_after_gtids",
    )),
    ("takes or releases a lock", (
        "get_lock", "release_lock", "release_all_locks", "pg_advisory*", "pg_try_advisory*",
    )),
    ("reads or writes files on the database server", (
        "load_file", "pg_read_file", "pg_read_binary_file", "pg_ls_*", "pg_stat_file",
        "pg_file_*", "pg_current_logfile", "readfile", "writefile", "edit", "fsdir", "zipfile",
    )),
    ("reads or writes large objects", ("lo_*", "loread", "lowrite")),
    ("administers the database server", (
        "pg_terminate_backend", "pg_cancel_backend", "pg_reload_conf", "pg_rotate_logfile",
        "pg_switch_wal", "pg_promote", "pg_backup_*", "pg_start_backup", "pg_stop_backup",
        "pg_create_restore_point", "pg_stat_reset*", "pg_*replication*", "pg_logical_*",
        "pg_wal_replay_*", "pg_log_backend_memory_contexts", "pg_import_system_collations",
        "set_config", "current_setting", "pg_notify",
    )),
    ("changes a sequence", ("nextval", "setval")),
    ("runs SQL given as text, out of this check's sight, or reaches another database", (
        "dblink*", "query_to_xml*", "table_to_xml*", "cursor_to_xml*", "schema_to_xml*",
        "database_to_xml*", "ts_stat", "ts_rewrite", "eval",
    )),
    ("reads the database's own catalogue", ("pragma_*",)),
    ("runs operating-system commands or loads code", (
        "sys_exec", "sys_eval", "load_extension", "fts3_tokenizer",
    )),
)
# fmt: on

_SYSTEM_SCHEMAS = frozenset({"information_schema", "mysql", "performance_schema", "sys"})
_STATEMENT_RULES = {
    **dict.fromkeys(
        ("INSERT", "UPDATE", "DELETE", "MERGE", "REPLACE", "TRUNCATE", "UPSERT", "LOAD"),
        "data-modifying statement",
    ),
    **dict.fromkeys(
        ("CREATE", "ALTER", "DROP", "RENAME", "COMMENT", "GRANT", "REVOKE"), "schema change"
    ),
}
_OTHER_STATEMENTS = (
    exp.Command, exp.Set, exp.Pragma, exp.Attach, exp.Detach, exp.Use, exp.Transaction,
    exp.Commit, exp.Rollback, exp.LoadData, exp.Kill, exp.Describe, exp.Show, exp.Analyze,
    exp.Cache, exp.Uncache, exp.Refresh,
)  # fmt: skip
_TOKEN = re.compile(r"%%([A-Z]+)%%")
# Where a `:name` parameter starts; one inside a literal only changes the literal's text.
_PARAMETER = re.compile(r"(?<![:\w]):(?=[A-Za-z_])")
_FILLED_TOKENS = frozenset({"STARTTIME", "ENDTIME", "USERID"})
_UNFILLED_TOKENS = {
    "WWWROOT": "write the site URL out",
    "Q": "it stands for '?'; write the character itself",
    "C": "it stands for ':'; write the character itself",
    "S": "it stands for ';'; write the character itself",
    "FLAGS": "remove it",
}
_FRAGMENT_LENGTH = 80
_TOKEN_REPR = re.compile(r"<Token token_type: [^,]*, text: (.*?), line: .*?>")


class SQLRejectedError(InputError):
    """Custom SQL a report may not run: `rule` names the check (a key of RULES), `fragment` what
    it refused, so `reports validate` can point at the text to change."""

    def __init__(self, rule: str, fragment: str, reason: str, line: int | None = None) -> None:
        where = f" (line {line})" if line is not None else ""
        super().__init__(f"Rejected ({rule}): {fragment}{where}. {reason}.")
        self.rule = rule
        self.fragment = fragment
        self.line = line


def _configured_default(key: str) -> frozenset[str]:
    return frozenset(SCHEMA["reports"][key][1])


@dataclass(frozen=True)
class SqlPolicy:
    """What custom SQL may read. Table names are unprefixed; `denied_columns` holds `table.column`.

    The deny lists default to the configuration's defaults, so a policy built without them still
    keeps password hashes and session keys out of reports. An empty `allowed_tables` allows all.
    """

    prefix: str = "mdl_"
    denied_tables: frozenset[str] = field(
        default_factory=lambda: _configured_default("denied_tables")
    )
    denied_columns: frozenset[str] = field(
        default_factory=lambda: _configured_default("denied_columns")
    )
    allowed_tables: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        for entry in self.denied_columns:
            table, _, column = entry.partition(".")
            if not table or not column or "." in column:
                raise ConfigError(
                    f"[reports] denied_columns entry {entry!r} is not table.column; write it "
                    "without the prefix, e.g. user.password."
                )


@dataclass(frozen=True)
class CheckedSQL:
    """A custom query that passed: its text without surrounding comments or trailing ';', still in
    Moodle's conventions, the unprefixed tables it reads, and its `:name` parameters in order."""

    sql: str
    tables: frozenset[str]
    parameters: tuple[str, ...]


def check_custom_sql(
    sql: str,
    dialect: Dialect,
    policy: SqlPolicy,
    known_tables: Collection[str] | None = None,
) -> CheckedSQL:
    """Accept `sql` as a custom report for a Moodle database of `dialect`, or raise
    SQLRejectedError. `known_tables`, when given, are the unprefixed tables the database has."""
    _refuse_unfilled_tokens(sql)
    try:
        tokens = sqlglot.tokenize(sql, read=dialect)
    except SqlglotError as error:
        raise _unparseable(str(error).splitlines()[0]) from error
    statement = _single_statement(sql, tokens)
    if dialect == "mysql":
        _refuse_executable_comments(tokens)
    _refuse_other_statements(sql, statement[0])
    checker = _TreeChecker(sql, statement, dialect, policy, known_tables)
    tables = checker.check(checker.parse())
    return CheckedSQL(
        sql=checker.text, tables=tables, parameters=tuple(parameter_names(checker.text))
    )


def _refuse_unfilled_tokens(sql: str) -> None:
    for match in _TOKEN.finditer(sql):
        advice = _UNFILLED_TOKENS.get(match.group(1))
        if advice is not None:
            raise SQLRejectedError(
                "unsupported token",
                match.group(0),
                f"It is a report_customsql token that manireports does not fill in; {advice}",
                sql.count("\n", 0, match.start()) + 1,
            )


def _single_statement(sql: str, tokens: list[Token]) -> list[Token]:
    """The tokens of the only statement; empty statements (stray semicolons) do not count."""
    statements: list[list[Token]] = [[]]
    for token in tokens:
        if token.token_type == TokenType.SEMICOLON:
            statements.append([])
        else:
            statements[-1].append(token)
    statements = [statement for statement in statements if statement]
    if not statements:
        raise _unparseable("no SQL statement found")
    if len(statements) > 1:
        second = statements[1]
        raise SQLRejectedError(
            "multiple statements",
            _excerpt(sql[second[0].start : second[-1].end + 1]),
            "A report is one SELECT; remove everything after the first statement's ';'",
            second[0].line,
        )
    return statements[0]


def _refuse_executable_comments(tokens: list[Token]) -> None:
    for token in tokens:
        for comment in token.comments:
            if comment.startswith(("!", "M!")):
                raise SQLRejectedError(
                    "executable comment",
                    _excerpt(f"/*{comment}*/"),
                    "MySQL and MariaDB run the text of such comments as SQL; write it out plainly "
                    "or remove it",
                    token.line,
                )


def _refuse_other_statements(sql: str, first: Token) -> None:
    if first.token_type in (TokenType.SELECT, TokenType.WITH, TokenType.L_PAREN):
        return
    word = first.text.upper()
    raise SQLRejectedError(
        _STATEMENT_RULES.get(word, "not a select"),
        _line_from(sql, first.start),
        f"A report is one read-only SELECT (WITH, UNION allowed); {word} is not",
        first.line,
    )


def _line_from(sql: str, start: int) -> str:
    end = sql.find("\n", start)
    return _excerpt(sql[start : end if end >= 0 else len(sql)])


def _excerpt(text: str) -> str:
    flat = " ".join(text.split())
    if len(flat) <= _FRAGMENT_LENGTH:
        return flat
    return flat[: _FRAGMENT_LENGTH - 4] + " ..."


def _unparseable(detail: str, line: int | None = None) -> SQLRejectedError:
    return SQLRejectedError(
        "unparseable", detail, "Only SQL the site's database can parse is accepted", line
    )


def _statement_rule(node: exp.Expr) -> str | None:
    """The rule a node breaks by being a statement other than a query, if it is one."""
    if isinstance(node, (exp.DML, exp.TruncateTable)):
        return "data-modifying statement"
    if isinstance(node, (exp.DDL, exp.Drop, exp.Alter, exp.Comment, exp.Grant, exp.Revoke)):
        return "schema change"
    if isinstance(node, _OTHER_STATEMENTS):
        return "not a select"
    return None


def _forbidden_function(name: str) -> str | None:
    """What a function does that a report may not, if it is on the list."""
    lowered = name.lower()
    for reason, patterns in _FORBIDDEN_FUNCTIONS:
        if any(fnmatchcase(lowered, pattern) for pattern in patterns):
            return reason
    return None


def _marker(text: str) -> str:
    """A table-name prefix that occurs nowhere in the text, for expanding `{name}`."""
    marker = "manireports_"
    while marker in text.lower():
        marker += "x"
    return marker


def _outside_subqueries(node: exp.Expr) -> Iterator[exp.Expr]:
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(
            child
            for child in current.iter_expressions()
            if not isinstance(child, (exp.Select, exp.SetOperation))
        )


# Per SELECT: the Moodle tables of its FROM clause, by alias and by name (lower case).
_Scope = dict[str, str]


class _TreeChecker:
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
        filled = _TOKEN.sub(
            lambda m: " 0 " if m.group(1) in _FILLED_TOKENS else m.group(0), self.text
        )
        prepared = _PARAMETER.sub(":" + self.marker, expand_tables(filled, self.marker))
        try:
            tree = sqlglot.parse_one(prepared, read=self.dialect)
        except RecursionError as error:
            raise _unparseable("the query is nested too deeply to check") from error
        except SqlglotError as error:
            # MySQL's INTO OUTFILE and INTO DUMPFILE do not parse; say why they are refused.
            into = next((t for t in self.statement if t.token_type == TokenType.INTO), None)
            if into is not None:
                raise SQLRejectedError(
                    "select into",
                    _line_from(self.sql, into.start),
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
            return _unparseable(self._unmark(str(error).splitlines()[0]))
        # sqlglot describes tokens by their repr; the operator needs only their text.
        description = _TOKEN_REPR.sub(r"'\1'", str(details.get("description", "Invalid SQL")))
        highlight = self._unmark(str(details.get("highlight", "")))
        line = int(details.get("line", 1)) + self.line_offset
        return _unparseable(f"{description} near '{highlight}'", line)

    def check(self, tree: exp.Expr) -> frozenset[str]:
        """Run every tree check in the order of RULES; return the Moodle tables read."""
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
            reason = _forbidden_function(name)
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
        USING join, each with the FROM scopes it can see, innermost last."""
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
            if isinstance(node, exp.Table) and self._cte_name(node, ctes) is None:
                tables.append(node)
            elif isinstance(node, (exp.Column, exp.Star, exp.Join)):
                references.append((node, scopes))
            pending.extend((child, ctes, scopes) for child in children if child is not with_clause)
            stack.extend(reversed(pending))
        return tables, references

    def _cte_key(self, identifier: exp.Identifier) -> str:
        name: str = identifier.this
        return name.lower() if self.dialect == "postgres" and not identifier.quoted else name

    def _cte_name(self, table: exp.Table, ctes: frozenset[str]) -> str | None:
        """The CTE a table reference names, if it names a visible one."""
        identifier = table.this
        if table.db or table.catalog or not isinstance(identifier, exp.Identifier):
            return None
        key = self._cte_key(identifier)
        return key if key in ctes else None

    def _moodle_name(self, table: exp.Table, ctes: frozenset[str]) -> str | None:
        """The unprefixed Moodle table a reference reads, when it is an unqualified `{name}`."""
        if table.db or table.catalog or self._cte_name(table, ctes) is not None:
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
            if isinstance(select, exp.Select) and not isinstance(select.parent, exp.Exists):
                self._check_star(select, scopes[-1].values(), "star over denied column")
        elif isinstance(node, exp.Column):
            qualifier = node.table.lower()
            if isinstance(node.this, exp.Star):
                self._check_star(node, self._tables(qualifier, scopes), "star over denied column")
            else:
                self._check_column(node, node.name.lower(), qualifier, scopes)

    def _tables(self, qualifier: str, scopes: tuple[_Scope, ...]) -> list[str]:
        """The Moodle tables a qualifier (or, when empty, an unqualified name) may refer to."""
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
            _excerpt(self._unmark(text)),
            reason,
            min(lines) + self.line_offset if lines else None,
        )

    def _unmark(self, text: str) -> str:
        """Text with marker-expanded tables written back as `{name}`."""
        return re.sub(re.escape(self.marker) + r"([a-z][a-z0-9_]*)", r"{\1}", text)
