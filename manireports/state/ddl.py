"""Schema steps for the migrations that look before they change, so a rerun completes.

MySQL and MariaDB commit every DDL statement on its own: a `db upgrade` killed half-way through a
revision leaves some of its tables, columns, indexes and keys in place while the recorded revision
stays the older one, and the next upgrade, replaying the whole revision, would stop at the first
"already exists" or "Duplicate key name". Each step here inspects the live schema first and does
only what is still missing (or drops only what is still there). PostgreSQL and SQLite roll a
killed upgrade back whole, where the checks cost a catalogue query and change nothing.

The inspector is created afresh for every question, since the schema changes between them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from alembic.operations import BatchOperations


def _inspector() -> sa.Inspector:
    return sa.inspect(op.get_bind())


def has_table(table: str) -> bool:
    return _inspector().has_table(table)


def has_column(table: str, column: str) -> bool:
    return any(c["name"] == column for c in _inspector().get_columns(table))


def has_index(table: str, name: str) -> bool:
    inspector = _inspector()
    names = {i["name"] for i in inspector.get_indexes(table)}
    # Some engines report a unique index as a unique constraint.
    names |= {u["name"] for u in inspector.get_unique_constraints(table)}
    return name in names


def _foreign_key(table: str, name: str) -> dict[str, Any] | None:
    for key in _inspector().get_foreign_keys(table):
        if key.get("name") == name:
            return dict(key)
    return None


def _same_rule(found: str | None, wanted: str | None) -> bool:
    # Engines report "no rule" as nothing, NO ACTION or RESTRICT; they behave alike here.
    def plain(rule: str | None) -> str:
        rule = (rule or "").upper()
        return "" if rule in ("NO ACTION", "RESTRICT") else rule

    return plain(found) == plain(wanted)


def create_table(table: str, *items: Any, **options: Any) -> None:
    """Create the table, or only the indexes it still lacks when a killed run created it."""
    if not has_table(table):
        op.create_table(table, *items, **options)
        return
    # CREATE INDEX statements follow CREATE TABLE one by one; a stop may fall between them.
    for item in items:
        if isinstance(item, sa.Index):
            columns = [str(expression) for expression in item.expressions]
            create_index(str(item.name), table, columns, unique=bool(item.unique))


def create_index(name: str, table: str, columns: Sequence[str], *, unique: bool = False) -> None:
    if not has_index(table, name):
        op.create_index(name, table, list(columns), unique=unique)


def drop_index(name: str, table: str) -> None:
    if has_table(table) and has_index(table, name):
        op.drop_index(name, table_name=table)


def drop_table(table: str) -> None:
    if has_table(table):
        op.drop_table(table)


def add_column(table: str, column: sa.Column[Any]) -> None:
    if not has_column(table, column.name):
        op.add_column(table, column)


def batch_add_column(batch: BatchOperations, table: str, column: sa.Column[Any]) -> None:
    """Add a column in a batch unless it is there (checked before the batch runs)."""
    if not has_column(table, column.name):
        batch.add_column(column)


def batch_drop_column(batch: BatchOperations, table: str, column: str) -> None:
    if has_column(table, column):
        batch.drop_column(column)


def batch_create_index(
    batch: BatchOperations, table: str, name: str, columns: Sequence[str], *, unique: bool = False
) -> None:
    if not has_index(table, name):
        batch.create_index(name, list(columns), unique=unique)


def batch_drop_index(batch: BatchOperations, table: str, name: str) -> None:
    if has_index(table, name):
        batch.drop_index(name)


def set_foreign_key(
    table: str,
    name: str,
    column: str,
    parent: str,
    parent_column: str,
    ondelete: str | None,
) -> None:
    """Give `table` the key `name` with this ON DELETE rule, replacing one with another rule."""
    found = _foreign_key(table, name)
    if found is not None and _same_rule(found.get("options", {}).get("ondelete"), ondelete):
        return
    with op.batch_alter_table(table) as batch:
        if found is not None:
            batch.drop_constraint(name, type_="foreignkey")
        batch.create_foreign_key(name, parent, [column], [parent_column], ondelete=ondelete)


def drop_foreign_key(table: str, name: str) -> None:
    if _foreign_key(table, name) is not None:
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(name, type_="foreignkey")
