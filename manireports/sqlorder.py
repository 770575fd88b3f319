"""The ORDER BY of a query, kept for a query that wraps it.

Scoping wraps custom SQL as a derived table (`SELECT r.* FROM (...) r WHERE ...`). The SQL
standard does not promise that a derived table's ORDER BY survives, and MariaDB does drop it, so
rows a report orders newest first would come back in table order. The wrapper therefore repeats
the order itself:

- a term that is an output column becomes its position (`3 DESC`): positions are the same inside
  and outside and need no identifier quoting, which differs between engines;
- an expression over output columns only (`COALESCE(enrolled, 0)`, the only kind a UNION may
  order by) is restated over the derived table (`COALESCE(r.enrolled, 0)`);
- any other term (`cc.timecompleted` when only names are selected, `COUNT(*)`, a subquery) is
  carried out of the query as a hidden column `mr_sort_N` added to its select list, ordered on
  outside and left out of the wrapper's columns. A DISTINCT query would count that column in its
  rows, so there the column is the term's largest value per row for a descending term, its
  smallest for an ascending one (the same value when the term depends on the row, as a user's
  last access does on the user).

The inserted text is placed by the positions of the dialect's own tokens, so what runs keeps the
report's `{table}` placeholders, `:name` parameters and `%%TOKENS%%` exactly as written.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.dialects import Dialect
from sqlglot.errors import SqlglotError
from sqlglot.tokenizer_core import Token, TokenType

_TABLE = re.compile(r"\{(\w+)\}")
_DIALECTS = (None, "mysql", "postgres")
# The Moodle connection's engine names as sqlglot dialects.
_ENGINE_DIALECTS = {"mysql": "mysql", "postgresql": "postgres", "sqlite": "sqlite"}
_QUOTES = {"mysql": ("`", "`"), "postgresql": ('"', '"'), "sqlite": ('"', '"')}
HIDDEN = "mr_sort_"
_END_OF_ORDER = {TokenType.LIMIT, TokenType.OFFSET, TokenType.FETCH, TokenType.SEMICOLON}
_OPEN = {TokenType.L_PAREN, TokenType.L_BRACKET}
_CLOSE = {TokenType.R_PAREN, TokenType.R_BRACKET}
_CLAUSES = {
    TokenType.FROM,
    TokenType.WHERE,
    TokenType.GROUP_BY,
    TokenType.HAVING,
    TokenType.WINDOW,
    TokenType.ORDER_BY,
}


@dataclass(frozen=True)
class KeptOrder:
    """How a wrapper keeps a query's order.

    `inner` is the query to wrap (with hidden sort columns when `hidden` is true, then the
    wrapper must select the output columns by name), `order` the wrapper's ORDER BY (None when
    the query has none to keep), `lost` why the order could not be kept, for the operator.
    """

    inner: str
    order: str | None
    hidden: bool = False
    lost: str | None = None


def _masked(sql: str) -> str:
    """The SQL with `{table}` read as a plain name, every character where it was."""
    return _TABLE.sub(lambda m: f" {m.group(1)} ", sql)


def _parse(sql: str, dialect: str | None = None) -> exp.Expr | None:
    """The statement's tree, for reading only: what runs is always the SQL as written."""
    text = _TABLE.sub(r"\1", sql)
    for candidate in (dialect, *(d for d in _DIALECTS if d != dialect)) if dialect else _DIALECTS:
        try:
            tree = sqlglot.parse_one(text, read=candidate)
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
    if name is None and isinstance(term, exp.Column) and any(_star_of(p, term) for p in selects):
        name = term.name
    if name is None or lowered.count(name.lower()) != 1:
        return None
    return lowered.index(name.lower()) + 1


def _star_of(projection: exp.Expr, term: exp.Column) -> bool:
    """Whether a star of the select list returns the column: `*`, or `t.*` for `t.col`.

    `u.*` does not return `ue.id`, though it returns a column named id.
    """
    if isinstance(projection, exp.Star):
        return True
    return (
        isinstance(projection, exp.Column)
        and isinstance(projection.this, exp.Star)
        and (not term.table or projection.table.lower() == term.table.lower())
    )


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
        terms.append(f"{position}{_direction(ordered, explicit_nulls)}")
    return ", ".join(terms) or None


def _direction(ordered: exp.Ordered, nulls: bool) -> str:
    """' DESC' and the NULLS clause as written (MariaDB has none; the others default alike)."""
    text = " DESC" if ordered.args.get("desc") else ""
    if nulls and ordered.args.get("nulls_first") is not None:
        text += " NULLS FIRST" if ordered.args.get("nulls_first") else " NULLS LAST"
    return text


def quote(name: str, engine: str) -> str:
    """An output column's name as an identifier of the engine, exactly as the database gave it."""
    left, right = _QUOTES.get(engine, ('"', '"'))
    return f"{left}{name.replace(right, right * 2)}{right}"


@dataclass
class _Term:
    """One top-level ORDER BY term as tokens: its expression and its collation, if any."""

    expression: list[Token]
    collation: list[Token]
    nulls: bool


def _top_level(tokens: list[Token]) -> list[int]:
    """The parenthesis depth before each token."""
    depths: list[int] = []
    depth = 0
    for token in tokens:
        if token.token_type in _CLOSE:
            depth -= 1
        depths.append(depth)
        if token.token_type in _OPEN:
            depth += 1
    return depths


def _order_terms(tokens: list[Token], depths: list[int]) -> tuple[int, list[_Term]] | None:
    """The index of the top-level ORDER BY token and its terms; None without one."""
    starts = [
        i for i, t in enumerate(tokens) if t.token_type == TokenType.ORDER_BY and not depths[i]
    ]
    if not starts:
        return None
    start = starts[-1]
    terms: list[list[Token]] = [[]]
    for i in range(start + 1, len(tokens)):
        token = tokens[i]
        if not depths[i] and (token.token_type in _END_OF_ORDER or token.text.upper() == "FOR"):
            break
        if not depths[i] and token.token_type == TokenType.COMMA:
            terms.append([])
        else:
            terms[-1].append(token)
    found: list[_Term] = []
    for term in terms:
        depth = _top_level(term)
        words = [t.text.upper() for t in term]
        nulls = len(term) >= 2 and words[-2] == "NULLS" and not depth[-2]
        end = len(term) - (2 if nulls else 0)
        if end and words[end - 1] in ("ASC", "DESC") and not depth[end - 1]:
            end -= 1
        collate = next(
            (i for i in range(end) if term[i].token_type == TokenType.COLLATE and not depth[i]),
            end,
        )
        if not collate:
            return None
        found.append(_Term(term[:collate], term[collate + 1 : end] if collate < end else [], nulls))
    return start, found


def _text(sql: str, tokens: list[Token]) -> str:
    return sql[tokens[0].start : tokens[-1].end + 1]


def _over_output(sql: str, term: list[Token], names: set[str]) -> str:
    """The term's text with each output column it names read from the derived table `r`."""
    parts: list[str] = []
    at = term[0].start
    for i, token in enumerate(term):
        before = term[i - 1].token_type if i else None
        after = term[i + 1].token_type if i + 1 < len(term) else None
        if (
            token.token_type in (TokenType.VAR, TokenType.IDENTIFIER)
            and token.text.lower() in names
            and before != TokenType.DOT
            and after not in (TokenType.DOT, TokenType.L_PAREN)
        ):
            parts.append(sql[at : token.start])
            parts.append(f"r.{sql[token.start : token.end + 1]}")
            at = token.end + 1
    parts.append(sql[at : term[-1].end + 1])
    return "".join(parts)


def _aliases(tree: exp.Query) -> set[str]:
    """Output names that stand for something else than the input column of that name."""
    found: set[str] = set()
    for projection in tree.selects:
        inner = projection.unalias()
        if isinstance(projection, exp.Alias) and not (
            isinstance(inner, exp.Column) and inner.name.lower() == projection.alias.lower()
        ):
            found.add(projection.alias.lower())
    return found


def keep_order(sql: str, output: Sequence[str], engine: str) -> KeptOrder:
    """The query and the ORDER BY that keep its order once it is wrapped in `r`, on `engine`
    (the Moodle connection's engine name): see the module's description."""
    positions = outer_order(sql, output)
    dialect = _ENGINE_DIALECTS.get(engine)
    tree = None if positions or not output else _parse(sql, dialect)
    if not isinstance(tree, exp.Query) or not isinstance(tree.args.get("order"), exp.Order):
        return KeptOrder(sql, positions)
    ordered_terms = tree.args["order"].expressions
    try:
        tokens = Dialect.get_or_raise(dialect).tokenize(_masked(sql))
    except SqlglotError:
        return KeptOrder(sql, None, lost="the query could not be read")
    depths = _top_level(tokens)
    found = _order_terms(tokens, depths)
    if found is None or len(found[1]) != len(ordered_terms):
        return KeptOrder(sql, None, lost="its ORDER BY could not be read")
    order_at, terms = found
    names = {name.lower() for name in output}
    union = isinstance(tree, exp.SetOperation)
    aliases = set() if union else _aliases(tree)
    distinct = tree.args.get("distinct")
    plain_distinct = isinstance(distinct, exp.Distinct) and not distinct.args.get("on")
    outer: list[str] = []
    inner: list[str] = []
    hidden: list[str] = []
    for ordered, term in zip(ordered_terms, terms, strict=True):
        if not isinstance(ordered, exp.Ordered):
            return KeptOrder(sql, None, lost="an ORDER BY term could not be read")
        direction = _direction(ordered, term.nulls)
        collation = f" COLLATE {_text(sql, term.collation)}" if term.collation else ""
        position = _position(ordered, tree, output)
        if position is not None:
            outer.append(f"{position}{direction}")
            inner.append(f"{position}{direction}")
            continue
        expression = ordered.this.this if isinstance(ordered.this, exp.Collate) else ordered.this
        columns = list(expression.find_all(exp.Column))
        computed = expression.find(exp.AggFunc, exp.Window, exp.Subquery, exp.Select)
        on_output = (
            bool(columns)
            and not computed
            and all(not c.table and c.name.lower() in names for c in columns)
        )
        if on_output and (union or engine != "postgresql"):
            outer.append(f"{_over_output(sql, term.expression, names)}{collation}{direction}")
            inner.append(f"{_text(sql, term.expression)}{collation}{direction}")
            continue
        reason = _hidden_refused(union, engine, columns, aliases, plain_distinct, computed, tree)
        if reason is not None:
            return KeptOrder(sql, None, lost=reason)
        text = _text(sql, term.expression)
        if plain_distinct:
            text = f"{'MAX' if ordered.args.get('desc') else 'MIN'}({text})"
        hidden.append(text)
        outer.append(f"r.{HIDDEN}{len(hidden)}{collation}{direction}")
        inner.append(f"{HIDDEN}{len(hidden)}{collation}{direction}")
    if not hidden:
        return KeptOrder(sql, ", ".join(outer))
    select = next(
        i for i, t in enumerate(tokens) if t.token_type == TokenType.SELECT and not depths[i]
    )
    if plain_distinct and tokens[select + 1].token_type != TokenType.DISTINCT:
        return KeptOrder(sql, None, lost="its DISTINCT could not be read")
    # Where the select list ends: the first clause of the main SELECT.
    end = next(
        (
            i
            for i in range(select + 1, len(tokens))
            if tokens[i].token_type in _CLAUSES and not depths[i]
        ),
        order_at,
    )
    items = "".join(f", {text} AS {HIDDEN}{n}" for n, text in enumerate(hidden, 1))
    edits = [(tokens[end].start, tokens[end].start, f"{items}\n")]
    if plain_distinct:
        # Every output column grouped, the sort columns aggregated over each group; the query
        # orders by them inside too, so a LIMIT in it keeps the rows it meant.
        keyword = tokens[select + 1]
        edits.append((keyword.start, keyword.end + 1, ""))
        group = ", ".join(str(n) for n in range(1, len(output) + 1))
        clause = f"GROUP BY {group}\nORDER BY {', '.join(inner)}"
        edits.append((tokens[order_at].start, _order_end(tokens, depths, order_at), clause))
    for start, stop, text in sorted(edits, reverse=True):
        sql = sql[:start] + text + sql[stop:]
    return KeptOrder(sql, ", ".join(outer), hidden=True)


def _hidden_refused(
    union: bool,
    engine: str,
    columns: list[exp.Column],
    aliases: set[str],
    distinct: bool,
    computed: exp.Expr | None,
    tree: exp.Query,
) -> str | None:
    """Why a term cannot be carried as a hidden column, or None when it can."""
    if union:
        return "a UNION can only be ordered by its output columns"
    if engine != "postgresql" and any(not c.table and c.name.lower() in aliases for c in columns):
        # Inside the query the alias means the output column, which the select list cannot name.
        return "an ORDER BY expression mixes output aliases with other columns"
    if distinct and (
        computed is not None
        or tree.args.get("group")
        or any(p.find(exp.AggFunc, exp.Window) for p in tree.selects)
    ):
        return "a DISTINCT query is ordered by a computed value it does not return"
    return None


def _order_end(tokens: list[Token], depths: list[int], order_at: int) -> int:
    """The offset just after the top-level ORDER BY clause's last term."""
    last = tokens[order_at]
    for i in range(order_at + 1, len(tokens)):
        if not depths[i] and (
            tokens[i].token_type in _END_OF_ORDER or tokens[i].text.upper() == "FOR"
        ):
            break
        last = tokens[i]
    return last.end + 1
