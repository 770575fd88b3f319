"""Turn Moodle's and IOMAD's XMLDB install.xml files into manireports/moodle/schema.json.

The package must build Moodle-shaped tables on a machine that has no Moodle checkout, so the
table definitions are distilled once into a JSON file that is committed with the code. Run this
again whenever a supported release changes its tables:

    python tools/gen_moodle_schema.py SCHEMA_DIR

SCHEMA_DIR holds the install.xml files copied out of Moodle and IOMAD source trees, each named
after its path (lib/db/install.xml as lib-db-install.xml; the two SCORM and two IOMAD layouts
side by side, as listed in FILES below).
"""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
OUTPUT = REPO / "manireports" / "moodle" / "schema.json"

# Which variant each reference file feeds. Core is always present; the SCORM and IOMAD files
# exist in two incompatible layouts, and a database holds exactly one of each.
FILES = {
    "lib-db-install.xml": "core",
    "mod-quiz-db-install.xml": "core",
    "admin-tool-log-store-standard-db-install.xml": "core",
    "mod-scorm-db-install-pre43.xml": "scorm_pre43",
    "mod-scorm-db-install-43plus.xml": "scorm_43plus",
    "local-iomad-db-install.xml": "iomad_classic",
    "local-iomad-db-install-51plus.xml": "iomad_51plus",
}
VARIANTS = ("core", "scorm_pre43", "scorm_43plus", "iomad_classic", "iomad_51plus")
COLUMN_FIELDS = ("name", "type", "length", "decimals", "notnull", "default", "sequence")
XMLDB_TYPES = {"int", "char", "text", "number", "float", "binary", "datetime"}


def _fields(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def _number(text: str | None) -> int | None:
    return int(text) if text else None


def _column(field: ET.Element, table: str) -> list[Any]:
    kind = field.get("TYPE", "")
    if kind not in XMLDB_TYPES:
        raise SystemExit(f"{table}.{field.get('NAME')}: unknown XMLDB type {kind!r}")
    return [
        field.get("NAME"),
        kind,
        _number(field.get("LENGTH")),
        _number(field.get("DECIMALS")),
        field.get("NOTNULL") == "true",
        field.get("DEFAULT"),
        field.get("SEQUENCE") == "true",
    ]


def _table(element: ET.Element, source: str) -> dict[str, Any]:
    name = element.get("NAME", "")
    primary: list[str] = []
    keys: list[dict[str, Any]] = []
    for key in element.iterfind("KEYS/KEY"):
        kind = key.get("TYPE", "")
        if kind == "primary":
            primary = _fields(key.get("FIELDS"))
            continue
        entry: dict[str, Any] = {
            "name": key.get("NAME"),
            "type": kind,
            "fields": _fields(key.get("FIELDS")),
        }
        if key.get("REFTABLE"):
            entry["reftable"] = key.get("REFTABLE")
            entry["reffields"] = _fields(key.get("REFFIELDS"))
        keys.append(entry)
    indexes: list[dict[str, Any]] = []
    for index in element.iterfind("INDEXES/INDEX"):
        entry = {
            "name": index.get("NAME"),
            "unique": index.get("UNIQUE") == "true",
            "fields": _fields(index.get("FIELDS")),
        }
        if index.get("HINTS"):
            entry["hints"] = _fields(index.get("HINTS"))
        indexes.append(entry)
    return {
        "source": source,
        "columns": [_column(field, name) for field in element.iterfind("FIELDS/FIELD")],
        "primary": primary,
        "keys": keys,
        "indexes": indexes,
    }


def read_schema(source: Path) -> dict[str, Any]:
    """Parse every reference file into {variant: {table: definition}}."""
    variants: dict[str, dict[str, Any]] = {variant: {} for variant in VARIANTS}
    versions: dict[str, str] = {}
    for filename, variant in FILES.items():
        root = ET.parse(source / filename).getroot()
        versions[filename] = root.get("VERSION", "")
        for element in root.iterfind("TABLES/TABLE"):
            name = element.get("NAME", "")
            if name in variants[variant]:
                raise SystemExit(f"{filename}: table {name} is defined twice in {variant}")
            variants[variant][name] = _table(element, filename)
    return {"column_fields": list(COLUMN_FIELDS), "versions": versions, "variants": variants}


def render(schema: dict[str, Any]) -> str:
    """One table per line: small enough to commit, and diffs show which table changed."""

    def dump(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))

    lines = ["{"]
    lines.append(f'"column_fields":{dump(schema["column_fields"])},')
    lines.append(f'"versions":{dump(schema["versions"])},')
    lines.append('"variants":{')
    variants = list(schema["variants"].items())
    for v_index, (variant, tables) in enumerate(variants):
        lines.append(f"{dump(variant)}:{{")
        names = sorted(tables)
        for t_index, name in enumerate(names):
            comma = "," if t_index < len(names) - 1 else ""
            lines.append(f"{dump(name)}:{dump(tables[name])}{comma}")
        lines.append("}," if v_index < len(variants) - 1 else "}")
    lines.append("}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    source = Path(argv[1])
    schema = read_schema(source)
    OUTPUT.write_text(render(schema), encoding="utf-8")
    counts = ", ".join(f"{v} {len(t)}" for v, t in schema["variants"].items())
    print(f"wrote {OUTPUT.relative_to(REPO)}: {counts} tables")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
