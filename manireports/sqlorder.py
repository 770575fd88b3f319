"""The ORDER BY of a query, restated over its output columns for a query that wraps it.

Scoping wraps custom SQL as a derived table (`SELECT r.* FROM (...) r WHERE ...`). The SQL
standard does not promise that a derived table's ORDER BY survives, and MariaDB does drop it, so
rows a report orders newest first would come back in table order. The wrapper therefore repeats
the order itself, by output column position: positions are the same inside and outside, and need
no identifier quoting, which differs between engines.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

_TABLE = re.compile(r"\{(\w+)\}")
_DIALECTS = (None, "mysql", "postgres")


def _parse(sql: str) -> exp.Expr | None:
    """The statement's tree, for reading only: what runs is always the SQL as written."""
    text = _TABLE.sub(r"\1", sql)
    for dialect in _DIALECTS:
        try:
            tree = sqlglot.parse_one(text, read=dialect)
        except SqlglotError:
            continue
        if tree is not None:
            return tree
    return None


def _position(ordered: exp.Ordered, tree: exp.Expr, output: Sequence[str]) -> int | None:
    """The 1-based output column an ORDER BY term sorts on, or None when it is no output column."""
    term = ordered.this
    if isinstance(term, exp.Literal) and term.is_int:
        number = int(term.name)
        return number if 1 <= number <= len(output) else None
    lowered = [name.lower() for name in output]
    selects = tree.selects if isinstance(tree, exp.Query) else []
    name: str | None = None
    if isinstance(term, exp.Column) and not term.table:
        # An output alias, or a column of that name.
        name = term.name
    for projection in selects:
        if isinstance(projection, exp.Star):
            continue
        if projection.unalias() == term:
            name = projection.alias_or_name
            break
    if (
        name is None
        and isinstance(term, exp.Column)
        and any(
            isinstance(p, exp.Star) or (isinstance(p, exp.Column) and isinstance(p.this, exp.Star))
            for p in selects
        )
    ):
        name = term.name
    if name is None or lowered.count(name.lower()) != 1:
        return None
    return lowered.index(name.lower()) + 1


def outer_order(sql: str, output: Sequence[str]) -> str | None:
    """The query's top-level ORDER BY as positions of `output`, e.g. '3 DESC, 1'; None when it
    has none, or one term is not an output column (then the query's own order is all there is)."""
    tree = _parse(sql)
    if tree is None or not output:
        return None
    order = tree.args.get("order")
    if not isinstance(order, exp.Order):
        return None
    terms: list[str] = []
    explicit_nulls = "nulls" in sql.lower()
    for ordered in order.expressions:
        if not isinstance(ordered, exp.Ordered):
            return None
        position = _position(ordered, tree, output)
        if position is None:
            return None
        term = f"{position}{' DESC' if ordered.args.get('desc') else ''}"
        if explicit_nulls and ordered.args.get("nulls_first") is not None:
            term += " NULLS FIRST" if ordered.args.get("nulls_first") else " NULLS LAST"
        terms.append(term)
    return ", ".join(terms) or None
