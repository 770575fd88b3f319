"""Checks on the text and its tokens, before anything is parsed.

They run on the file as the operator wrote it, so their fragments and lines are the operator's
own text: report_customsql tokens, statement boundaries, MySQL executable comments and the
statement's first word.
"""

from __future__ import annotations

import itertools
import re

from sqlglot import Token, TokenType

from manireports.sqlcheck.rejection import SQLRejectedError, excerpt, line_from, unparseable

_CUSTOMSQL_TOKEN = re.compile(r"%%([A-Z]+)%%")
_FILLED_TOKENS = frozenset({"STARTTIME", "ENDTIME", "USERID"})
# %%WWWROOT%%, %%Q%%, %%C%% and %%S%% are replaced in the result values, not in the SQL.
_UNFILLED_TOKENS = {"FLAGS": "remove it"}
_STATEMENT_RULES = {
    **dict.fromkeys(
        ("INSERT", "UPDATE", "DELETE", "MERGE", "REPLACE", "TRUNCATE", "UPSERT", "LOAD"),
        "data-modifying statement",
    ),
    **dict.fromkeys(
        ("CREATE", "ALTER", "DROP", "RENAME", "COMMENT", "GRANT", "REVOKE"), "schema change"
    ),
}


def refuse_unfilled_tokens(sql: str) -> None:
    """Refuse report_customsql tokens nothing fills in, strings included: report_customsql
    replaces them everywhere, so a query that relies on one would silently go wrong."""
    for match in _CUSTOMSQL_TOKEN.finditer(sql):
        advice = _UNFILLED_TOKENS.get(match.group(1))
        if advice is not None:
            raise SQLRejectedError(
                "unsupported token",
                match.group(0),
                f"It is a report_customsql token that manireports does not fill in; {advice}",
                sql.count("\n", 0, match.start()) + 1,
            )


def refuse_string_aliases(sql: str, statement: list[Token]) -> None:
    """PostgreSQL takes no quoted string as a column alias (`AS 'name'`, a MySQL form) and fails
    the whole query at run time; the parser reads it leniently, so it is refused here."""
    for previous, token in itertools.pairwise(statement):
        if token.token_type != TokenType.STRING or sql[token.start] != "'":
            continue
        if previous.token_type == TokenType.ALIAS:
            column = token.start - (sql.rfind("\n", 0, token.start) + 1) + 1
            raise SQLRejectedError(
                "unparseable",
                f"{sql[token.start : token.end + 1]!r} at line {token.line}, column {column}",
                "PostgreSQL takes no quoted string as a column alias; write "
                f'AS "{token.text}" (double quotes) instead',
            )


def fill_customsql_tokens(text: str) -> str:
    """The text with %%STARTTIME%%, %%ENDTIME%% and %%USERID%% read as numbers, for parsing."""
    return _CUSTOMSQL_TOKEN.sub(
        lambda match: " 0 " if match.group(1) in _FILLED_TOKENS else match.group(0), text
    )


def single_statement(sql: str, tokens: list[Token]) -> list[Token]:
    """The tokens of the only statement; empty statements (stray semicolons) do not count."""
    statements: list[list[Token]] = [[]]
    for token in tokens:
        if token.token_type == TokenType.SEMICOLON:
            statements.append([])
        else:
            statements[-1].append(token)
    statements = [statement for statement in statements if statement]
    if not statements:
        raise unparseable("no SQL statement found")
    if len(statements) > 1:
        second = statements[1]
        raise SQLRejectedError(
            "multiple statements",
            excerpt(sql[second[0].start : second[-1].end + 1]),
            "A report is one SELECT; remove everything after the first statement's ';'",
            second[0].line,
        )
    return statements[0]


def refuse_executable_comments(tokens: list[Token]) -> None:
    """MySQL runs `/*! ... */` (MariaDB also `/*M! ... */`) as SQL, which a parser that reads
    comments as comments would never check."""
    for token in tokens:
        for comment in token.comments:
            if comment.startswith(("!", "M!")):
                raise SQLRejectedError(
                    "executable comment",
                    excerpt(f"/*{comment}*/"),
                    "MySQL and MariaDB run the text of such comments as SQL; write it out plainly "
                    "or remove it",
                    token.line,
                )


def refuse_other_statements(sql: str, first: Token) -> None:
    """Refuse a statement that does not start as a query by its first word, before parsing:
    sqlglot reads statements it does not know as opaque commands, which says nothing useful."""
    if first.token_type in (TokenType.SELECT, TokenType.WITH, TokenType.L_PAREN):
        return
    word = first.text.upper()
    raise SQLRejectedError(
        _STATEMENT_RULES.get(word, "not a select"),
        line_from(sql, first.start),
        f"A report is one read-only SELECT (WITH, UNION allowed); {word} is not",
        first.line,
    )
