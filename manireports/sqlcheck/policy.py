"""What custom SQL may read, and what a query that passed looks like."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from manireports.config import ReportsSection
from manireports.errors import ConfigError

Dialect = Literal["mysql", "postgres", "sqlite"]


@dataclass(frozen=True)
class SqlPolicy:
    """What custom SQL may read. Table names are unprefixed; `denied_columns` holds `table.column`.

    The deny lists default to the configuration's defaults, so a policy built without them still
    keeps password hashes and session keys out of reports. An empty `allowed_tables` allows all.
    """

    prefix: str = "mdl_"
    denied_tables: frozenset[str] = frozenset(ReportsSection().denied_tables)
    denied_columns: frozenset[str] = frozenset(ReportsSection().denied_columns)
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
    Moodle's conventions (with any star over a table with denied columns listed out), the
    unprefixed tables it reads, its `:name` parameters in order, and the denied `table.column`s
    such a star would have read and now leaves out."""

    sql: str
    tables: frozenset[str]
    parameters: tuple[str, ...]
    left_out: tuple[str, ...] = ()
