"""Moodle's table definitions: complete, and created on each engine as Moodle creates them."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from manireports.errors import InputError
from manireports.moodle.schema import (
    DEMO_TABLES,
    IOMAD_TABLES,
    SCORM_TABLES,
    build_metadata,
    create_moodle_tables,
    load_schema,
)

# Table counts of the install.xml files manireports/moodle/schema.json was made from.
EXPECTED_TABLES = {
    "core": 259 + 9 + 1,  # lib, mod/quiz, logstore_standard
    "scorm_pre43": 11,
    "scorm_43plus": 13,
    "iomad_classic": 29,
    "iomad_51plus": 35,
}
CHECKED = (
    "user",
    "course",
    "quiz_attempts",
    "logstore_standard_log",
    "grade_grades",
    "scorm",
    "scorm_scoes_value",
    "company_users",
)


def test_schema_covers_every_table_of_the_reference_files() -> None:
    schema = load_schema()
    assert {v: len(t) for v, t in schema.variants.items()} == EXPECTED_TABLES
    assert {"scorm_scoes_track"} <= set(schema.variants["scorm_pre43"])
    assert {"scorm_attempt", "scorm_element", "scorm_scoes_value"} <= set(
        schema.variants["scorm_43plus"]
    )
    assert "scorm_scoes_track" not in schema.variants["scorm_43plus"]
    assert set(IOMAD_TABLES["classic"]) <= set(schema.variants["iomad_classic"])
    assert set(IOMAD_TABLES["51plus"]) <= set(schema.variants["iomad_51plus"])
    for tables in schema.variants.values():
        for table in tables.values():
            assert table.primary == ("id",), table.name
            # context_temp copies context ids, so it is the one table without a sequence.
            assert table.column("id").sequence is (table.name != "context_temp"), table.name
    assert load_schema() is schema


def test_columns_keep_xmldb_details() -> None:
    user = load_schema().variants["core"]["user"]
    assert user.column("auth").default == "manual"
    assert (user.column("deleted").type, user.column("deleted").length) == ("int", 1)
    assert user.column("description").type == "text"
    grades = load_schema().variants["core"]["grade_grades"]
    finalgrade = grades.column("finalgrade")
    assert (finalgrade.type, finalgrade.length, finalgrade.decimals) == ("number", 10, 5)
    assert not finalgrade.notnull
    keys = {index.name: index for index in user.effective_indexes()}
    assert keys["username"].unique and keys["username"].fields == ("mnethostid", "username")
    scorm = load_schema().variants["scorm_43plus"]["scorm"]
    assert scorm.column("maxgrade").type == "float"


def test_demo_tables_follow_the_chosen_layouts() -> None:
    newer = build_metadata("mdl_", DEMO_TABLES)
    assert "mdl_scorm_attempt" in newer.tables and "mdl_scorm_scoes_track" not in newer.tables
    assert "mdl_company" in newer.tables and "mdl_local_iomad_companies" not in newer.tables
    older = build_metadata("mdl_", DEMO_TABLES, scorm="pre43", iomad="51plus")
    assert "mdl_scorm_scoes_track" in older.tables and "mdl_scorm_attempt" not in older.tables
    assert "mdl_local_iomad_companies" in older.tables and "mdl_company" not in older.tables
    plain = build_metadata("x_", DEMO_TABLES, iomad=None)
    assert not any("company" in name or "iomad" in name for name in plain.tables)
    assert set(SCORM_TABLES["43plus"]) | {"user"} <= {n[2:] for n in plain.tables}


def test_unknown_tables_and_bad_prefixes_are_refused() -> None:
    with pytest.raises(InputError, match="no_such_table"):
        build_metadata("mdl_", ["user", "no_such_table"])
    with pytest.raises(InputError, match="prefix"):
        build_metadata("mdl; drop", ["user"])


def _default_text(value: str | None) -> str | None:
    """Reflected defaults look like "'0'", "0", "'manual'::character varying"."""
    if value is None:
        return None
    text = re.sub(r"::[a-z ]+$", "", str(value)).strip("()")
    return text.strip("'")


def test_created_tables_match_the_xml(db_url: str) -> None:
    engine = sa.create_engine(db_url)
    try:
        create_moodle_tables(engine, "mdl_", CHECKED)
        inspector = sa.inspect(engine)
        schema = load_schema().tables()
        for name in CHECKED:
            definition = schema[name]
            reflected = inspector.get_columns(f"mdl_{name}")
            assert [c["name"] for c in reflected] == [c.name for c in definition.columns]
            for column, found in zip(definition.columns, reflected, strict=True):
                where = f"{name}.{column.name}"
                assert found["nullable"] is (not column.notnull), where
                if column.sequence:
                    continue
                expected = column.default if column.type not in ("text", "binary") else None
                if expected is None:
                    assert found["default"] is None, where
                elif column.type in ("int", "number", "float"):
                    assert float(_default_text(found["default"]) or "nan") == float(expected), where
                else:
                    assert _default_text(found["default"]) == expected, where
                kind = found["type"]
                if column.type == "char":
                    assert isinstance(kind, sa.String) and kind.length == column.length, where
                elif column.type == "int":
                    assert isinstance(kind, sa.Integer), where
                elif column.type == "number":
                    assert isinstance(kind, sa.Numeric), where
                    if engine.dialect.name != "sqlite":
                        assert (kind.precision, kind.scale) == (column.length, column.decimals)
            assert inspector.get_pk_constraint(f"mdl_{name}")["constrained_columns"] == ["id"]
        indexes = {i["name"]: i for i in inspector.get_indexes("mdl_user")}
        unique = [i for i in indexes.values() if i["unique"]]
        assert [i["column_names"] for i in unique] == [["mnethostid", "username"]]
        assert len(indexes) == 15
        with engine.begin() as conn:
            config = build_metadata("mdl_", ["config"]).tables["mdl_config"]
            create_moodle_tables(engine, "mdl_", ["config"])
            first = conn.execute(config.insert().values(name="a", value="1")).inserted_primary_key
            second = conn.execute(config.insert().values(name="b", value="2")).inserted_primary_key
            assert first is not None and second is not None
            assert (first[0], second[0]) == (1, 2)
            if engine.dialect.name == "mysql":
                options = conn.execute(
                    sa.text(
                        "SELECT engine, table_collation FROM information_schema.tables "
                        "WHERE table_schema = DATABASE() AND table_name = 'mdl_user'"
                    )
                ).one()
                assert options[0] == "InnoDB" and options[1].startswith("utf8mb4")
                long_text = conn.execute(
                    sa.text(
                        "SELECT data_type FROM information_schema.columns WHERE table_schema = "
                        "DATABASE() AND table_name = 'mdl_user' AND column_name = 'description'"
                    )
                ).scalar()
                assert long_text == "longtext"
    finally:
        engine.dispose()
