"""Moodle's SQL conventions, rendered for one database.

Built-in and custom reports are written the way Moodle developers and report_customsql users write
SQL: `{tablename}` for a prefixed table and `:name` for a bound parameter. Built-in report files
may also mark a line with a trailing `-- if FLAG ...` comment: the line is kept only when every
FLAG holds (`!FLAG` when it does not), where a FLAG is a given parameter (`:courseid`), an engine
(`mysql`, `postgresql`, `sqlite`) or a feature of the site (`iomad`, `scorm43`, `moodle5`).
That keeps optional filters out of the query entirely, so the database plans the query it really
runs instead of `(:x IS NULL OR col = :x)`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping

_TABLE = re.compile(r"\{([a-z][a-z0-9_]*)\}")
_PARAM = re.compile(r"(?<![:\w]):([a-zA-Z_][a-zA-Z0-9_]*)")
_CONDITION = re.compile(r"--\s*if((?:\s+!?:?[a-z][a-z0-9_]*)+)\s*$")
_STRING_OR_COMMENT = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|/\*.*?\*/", re.S)


def expand_tables(sql: str, prefix: str, aliases: Mapping[str, str] | None = None) -> str:
    """Replace every `{name}` with the prefixed table name, leaving string literals alone.

    `aliases` maps a logical name to the table's name on this site (IOMAD renamed its tables in
    2026), so report SQL names `{company}` whatever the layout.
    """
    renames = aliases or {}

    def table(match: re.Match[str]) -> str:
        return prefix + renames.get(match.group(1), match.group(1))

    return _outside_literals(sql, lambda part: _TABLE.sub(table, part))


def parameter_names(sql: str) -> list[str]:
    """The `:name` parameters of a query in order of first use, ignoring literals and `::casts`."""
    names: list[str] = []
    for part in _code_parts(sql):
        for match in _PARAM.finditer(part):
            if match.group(1) not in names:
                names.append(match.group(1))
    return names


def apply_conditions(sql: str, flags: Collection[str]) -> str:
    """Keep each `-- if FLAG ...` line only when all its flags hold."""
    kept: list[str] = []
    for line in sql.splitlines():
        match = _CONDITION.search(line)
        if match is None:
            kept.append(line)
            continue
        conditions = match.group(1).split()
        if all((c.lstrip("!") in flags) != c.startswith("!") for c in conditions):
            kept.append(line[: match.start()].rstrip())
    return "\n".join(kept)


# Comments as every engine reads them: `--` followed by white space (MySQL needs the space; `1--1`
# is arithmetic there), and /* ... */.
_STRIPPABLE = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--(?=\s|$)[^\n]*|/\*.*?\*/", re.S)


def strip_comments(sql: str) -> str:
    """The query without comments, so a `:name` mentioned in one is not taken for a parameter."""
    out: list[str] = []
    position = 0
    for match in _STRIPPABLE.finditer(sql):
        out.append(sql[position : match.start()])
        text = match.group(0)
        out.append(text if text[0] in "'\"" else " ")
        position = match.end()
    out.append(sql[position:])
    return "".join(out)


def render_sql(
    sql: str,
    prefix: str,
    flags: Collection[str] = (),
    aliases: Mapping[str, str] | None = None,
) -> str:
    """A report file as the database will see it: conditions applied and tables prefixed."""
    return expand_tables(apply_conditions(sql, flags), prefix, aliases)


def _code_parts(sql: str) -> list[str]:
    parts: list[str] = []
    position = 0
    for match in _STRING_OR_COMMENT.finditer(sql):
        parts.append(sql[position : match.start()])
        position = match.end()
    parts.append(sql[position:])
    return parts


def _outside_literals(sql: str, transform: Callable[[str], str]) -> str:
    out: list[str] = []
    position = 0
    for match in _STRING_OR_COMMENT.finditer(sql):
        out.append(transform(sql[position : match.start()]))
        out.append(match.group(0))
        position = match.end()
    out.append(transform(sql[position:]))
    return "".join(out)
