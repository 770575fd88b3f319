"""Moodle's table definitions (from its XMLDB install.xml files) as SQLAlchemy tables.

Tests and the demo need databases whose tables look exactly like a real Moodle's on each engine,
so the column types follow the mapping Moodle's own SQL generators apply (an XMLDB `int(10)` is a
BIGINT, `int(1)` a TINYINT on MySQL and a SMALLINT on PostgreSQL, `text` a LONGTEXT on MySQL, ...),
defaults are server defaults, and every index Moodle would create exists, including the ones it
creates implicitly for unique and foreign keys. The definitions come from schema.json, which
tools/gen_moodle_schema.py writes from the reference files; nothing here reads those files.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from manireports.errors import InputError

ScormLayout = Literal["pre43", "43plus"]
IomadLayout = Literal["classic", "51plus"]
XmldbType = Literal["int", "char", "text", "number", "float", "binary", "datetime"]

# The core tables the reports read, then the SCORM and IOMAD tables under both of their layouts.
# build_metadata() creates from a list like this only the names that exist in the chosen layouts.
CORE_DEMO_TABLES: tuple[str, ...] = (
    "user", "course", "course_categories", "context", "role", "role_assignments",
    "role_capabilities", "enrol", "user_enrolments", "user_lastaccess", "groups",
    "groups_members", "cohort", "cohort_members", "modules", "course_modules", "course_sections",
    "course_modules_completion", "course_modules_viewed", "course_completions",
    "course_completion_criteria", "course_completion_crit_compl", "course_completion_aggr_methd",
    "grade_items", "grade_grades", "config", "config_plugins", "quiz", "quiz_attempts",
    "quiz_grades", "quiz_slots", "logstore_standard_log", "sessions", "external_tokens",
    "user_private_key",
)  # fmt: skip
SCORM_TABLES: Mapping[ScormLayout, tuple[str, ...]] = {
    "pre43": ("scorm", "scorm_scoes", "scorm_scoes_track"),
    "43plus": ("scorm", "scorm_scoes", "scorm_attempt", "scorm_element", "scorm_scoes_value"),
}
# Same order in both layouts: the n-th classic table was renamed to the n-th 51plus table.
IOMAD_TABLES: Mapping[IomadLayout, tuple[str, ...]] = {
    "classic": (
        "company", "department", "company_users", "company_course", "iomad_courses",
        "company_shared_courses", "local_iomad_track",
    ),
    "51plus": (
        "local_iomad_companies", "local_iomad_departments", "local_iomad_company_users",
        "local_iomad_company_courses", "local_iomad_courses", "local_iomad_company_shared_courses",
        "local_iomad_tracks",
    ),
}  # fmt: skip
DEMO_TABLES: tuple[str, ...] = tuple(
    dict.fromkeys(
        CORE_DEMO_TABLES
        + SCORM_TABLES["pre43"]
        + SCORM_TABLES["43plus"]
        + IOMAD_TABLES["classic"]
        + IOMAD_TABLES["51plus"]
    )
)

_MYSQL_DIALECTS = ("mysql", "mariadb")
_PREFIX = re.compile(r"[a-z][a-z0-9_]{0,15}|")
_NUMERIC_DEFAULT = re.compile(r"-?\d+(\.\d+)?")
# PostgreSQL and MySQL cap identifiers at 63/64 characters.
_MAX_NAME = 60


@dataclass(frozen=True)
class ColumnDef:
    name: str
    type: XmldbType
    length: int | None
    decimals: int | None
    notnull: bool
    default: str | None
    sequence: bool


@dataclass(frozen=True)
class IndexDef:
    name: str
    unique: bool
    fields: tuple[str, ...]
    hints: tuple[str, ...] = ()


@dataclass(frozen=True)
class KeyDef:
    """A unique or foreign key. Moodle enforces neither as a constraint, only as an index."""

    name: str
    type: str
    fields: tuple[str, ...]
    reftable: str | None = None
    reffields: tuple[str, ...] = ()


@dataclass(frozen=True)
class TableDef:
    name: str
    variant: str
    source: str
    columns: tuple[ColumnDef, ...]
    primary: tuple[str, ...]
    keys: tuple[KeyDef, ...]
    indexes: tuple[IndexDef, ...]

    def column(self, name: str) -> ColumnDef:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(f"{self.name}.{name}")

    def effective_indexes(self) -> Iterator[IndexDef]:
        """The indexes Moodle creates: the declared ones plus one per unique or foreign key.

        Moodle skips a key's index when an index on the same fields already exists, and so do we.
        """
        seen: set[tuple[str, ...]] = set()
        for index in self.indexes:
            seen.add(index.fields)
            yield index
        for key in self.keys:
            if key.fields in seen:
                continue
            seen.add(key.fields)
            yield IndexDef(key.name, key.type in ("unique", "foreign-unique"), key.fields)


@dataclass(frozen=True)
class MoodleSchema:
    versions: Mapping[str, str]
    variants: Mapping[str, Mapping[str, TableDef]]

    def tables(
        self, *, scorm: ScormLayout = "43plus", iomad: IomadLayout | None = "classic"
    ) -> dict[str, TableDef]:
        """Every table of one concrete site layout, by unprefixed name."""
        chosen = dict(self.variants["core"])
        chosen.update(self.variants[f"scorm_{scorm}"])
        if iomad is not None:
            chosen.update(self.variants[f"iomad_{iomad}"])
        return chosen

    def all_names(self) -> set[str]:
        return {name for tables in self.variants.values() for name in tables}


def _table_def(name: str, variant: str, raw: Mapping[str, Any], fields: list[str]) -> TableDef:
    return TableDef(
        name=name,
        variant=variant,
        source=raw["source"],
        columns=tuple(
            ColumnDef(**dict(zip(fields, column, strict=True))) for column in raw["columns"]
        ),
        primary=tuple(raw["primary"]),
        keys=tuple(
            KeyDef(
                name=key["name"],
                type=key["type"],
                fields=tuple(key["fields"]),
                reftable=key.get("reftable"),
                reffields=tuple(key.get("reffields", ())),
            )
            for key in raw["keys"]
        ),
        indexes=tuple(
            IndexDef(
                name=index["name"],
                unique=index["unique"],
                fields=tuple(index["fields"]),
                hints=tuple(index.get("hints", ())),
            )
            for index in raw["indexes"]
        ),
    )


@cache
def load_schema() -> MoodleSchema:
    """Read schema.json once per process; it ships inside the package."""
    text = resources.files(__package__).joinpath("schema.json").read_text(encoding="utf-8")
    data = json.loads(text)
    fields: list[str] = data["column_fields"]
    return MoodleSchema(
        versions=data["versions"],
        variants={
            variant: {name: _table_def(name, variant, raw, fields) for name, raw in tables.items()}
            for variant, tables in data["variants"].items()
        },
    )


def _int_type(length: int | None) -> sa.types.TypeEngine[int]:
    """Moodle's integer sizes: MySQL picks by display width, PostgreSQL by digits."""
    width = length or 10
    if width > 9:
        return sa.BigInteger().with_variant(mysql.BIGINT(width), *_MYSQL_DIALECTS)
    if width > 6:
        return sa.Integer().with_variant(mysql.INTEGER(width), *_MYSQL_DIALECTS)
    if width > 4:
        return sa.Integer().with_variant(mysql.MEDIUMINT(width), *_MYSQL_DIALECTS)
    if width > 2:
        return sa.SmallInteger().with_variant(mysql.SMALLINT(width), *_MYSQL_DIALECTS)
    return sa.SmallInteger().with_variant(mysql.TINYINT(width), *_MYSQL_DIALECTS)


def _column_type(column: ColumnDef) -> sa.types.TypeEngine[Any]:
    if column.type == "int":
        return _int_type(column.length)
    if column.type == "char":
        return sa.String(column.length or 255)
    if column.type == "text":
        return sa.Text().with_variant(mysql.LONGTEXT(), *_MYSQL_DIALECTS)
    if column.type == "number":
        return sa.Numeric(column.length or 10, column.decimals or 0)
    if column.type == "float":
        return sa.Double()
    if column.type == "binary":
        return sa.LargeBinary().with_variant(mysql.LONGBLOB(), *_MYSQL_DIALECTS)
    return sa.DateTime()


def _server_default(column: ColumnDef) -> str | sa.TextClause | None:
    """Moodle writes numeric defaults bare and never gives text or binary columns a default."""
    if column.default is None or column.type in ("text", "binary"):
        return None
    if column.type in ("int", "number", "float"):
        if not _NUMERIC_DEFAULT.fullmatch(column.default):
            raise ValueError(f"column {column.name}: bad numeric default {column.default!r}")
        return sa.text(column.default)
    return column.default


def _object_name(prefix: str, table: str, name: str, suffix: str) -> str:
    """Index names are global per schema on PostgreSQL, so they carry the table's name."""
    full = f"{prefix}{table}_{name}_{suffix}"
    if len(full) <= _MAX_NAME:
        return full
    digest = hashlib.sha1(full.encode(), usedforsecurity=False).hexdigest()[:8]
    return f"{full[: _MAX_NAME - 9]}_{digest}"


def _add_table(metadata: sa.MetaData, prefix: str, table: TableDef) -> sa.Table:
    columns = []
    for column in table.columns:
        kind = _column_type(column)
        if column.sequence:
            # SQLite only auto-numbers a column declared exactly INTEGER PRIMARY KEY.
            kind = kind.with_variant(sa.Integer(), "sqlite")
        columns.append(
            sa.Column(
                column.name,
                kind,
                primary_key=column.name in table.primary,
                autoincrement=column.sequence,
                nullable=not column.notnull,
                server_default=_server_default(column),
            )
        )
    result = sa.Table(
        prefix + table.name,
        metadata,
        *columns,
        mysql_engine="InnoDB",
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
        mysql_row_format="DYNAMIC",
    )
    result.primary_key.name = _object_name(prefix, table.name, "id", "pk")
    for index in table.effective_indexes():
        suffix = "uix" if index.unique else "ix"
        options: dict[str, Any] = {}
        if "varchar_pattern_ops" in index.hints:
            options["postgresql_ops"] = {field: "varchar_pattern_ops" for field in index.fields}
        sa.Index(
            _object_name(prefix, table.name, index.name, suffix),
            *(result.c[field] for field in index.fields),
            unique=index.unique,
            **options,
        )
    return result


def _check_prefix(prefix: str) -> None:
    if not _PREFIX.fullmatch(prefix):
        raise InputError(
            f"The table prefix {prefix!r} is not valid: use lower-case letters, digits and "
            "underscores, starting with a letter (Moodle's default is 'mdl_')."
        )


def build_metadata(
    prefix: str,
    tables: Collection[str] | None = None,
    *,
    scorm: ScormLayout = "43plus",
    iomad: IomadLayout | None = "classic",
) -> sa.MetaData:
    """Moodle's tables for one site layout, named with the prefix.

    `tables` lists unprefixed names; a name that belongs only to a layout not chosen (say
    `scorm_scoes_track` with scorm="43plus") is skipped, so one list such as DEMO_TABLES serves
    every layout. A name that no layout knows is an error. None means every table of the layout.
    """
    _check_prefix(prefix)
    schema = load_schema()
    available = schema.tables(scorm=scorm, iomad=iomad)
    if tables is None:
        wanted = list(available)
    else:
        unknown = sorted(set(tables) - schema.all_names())
        if unknown:
            raise InputError(f"Unknown Moodle tables: {', '.join(unknown)}.")
        wanted = [name for name in tables if name in available]
    metadata = sa.MetaData()
    for name in dict.fromkeys(wanted):
        _add_table(metadata, prefix, available[name])
    return metadata


def create_moodle_tables(
    engine: sa.Engine,
    prefix: str,
    tables: Collection[str] | None = None,
    *,
    scorm: ScormLayout = "43plus",
    iomad: IomadLayout | None = "classic",
) -> sa.MetaData:
    """Create the tables (and their indexes) that do not exist yet; returns their metadata."""
    metadata = build_metadata(prefix, tables, scorm=scorm, iomad=iomad)
    metadata.create_all(engine)
    return metadata
