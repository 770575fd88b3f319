"""Start-up stays light: a command loads only the libraries it needs.

Each command runs in a fresh interpreter (this one has loaded everything already), which writes
the heavy modules it ended up with to a file. Importing a library a command does not use costs
every run of it, the hourly cron sync included; the seconds are measured by bench/startup.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from manireports.moodle.schema import create_moodle_tables

REPO = Path(__file__).resolve().parent.parent

# Run a command as `python -m manireports` would, then list the heavy modules it loaded.
PROBE = """
import json, sys
from importlib import import_module
watched, out = json.loads(sys.argv[1]), sys.argv[2]
code = 0
try:
    import_module("manireports.cli").main(sys.argv[3:])
except SystemExit as exc:
    code = exc.code
with open(out, "w") as sink:
    json.dump({"code": code, "loaded": [name for name in watched if name in sys.modules]}, sink)
"""

# Never needed to list, configure, sync or write CSV.
REPORT_LIBRARIES = [
    "pandas",
    "matplotlib",
    "fpdf",
    "openpyxl",
    "xlsxwriter",
    "jinja2",
    "rich",
    "uharfbuzz",
    "croniter",
    "alembic",
    "pydantic",
]
# Needed by commands that open a database, and then only the engine's own.
DATABASE_LIBRARIES = [
    "sqlalchemy",
    "sqlalchemy.dialects.postgresql",
    "pymysql",
    "MySQLdb",
    "psycopg",
    "sqlglot",
    "dateutil",
]
# The parts of manireports a command loads only when it uses them.
OWN_MODULES = [
    "manireports.state",
    "manireports.export.text",
    "manireports.export.atomic",
]


def loaded_by(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> list[str]:
    out = tmp_path / "loaded.json"
    watched = REPORT_LIBRARIES + DATABASE_LIBRARIES + OWN_MODULES
    environ = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    result = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(watched), str(out), *args],
        capture_output=True,
        env=environ,
        timeout=120,
        check=False,
    )
    probe = json.loads(out.read_text())
    assert probe["code"] == 0, result.stderr.decode()
    return list(probe["loaded"])


@pytest.mark.parametrize(
    "args", [["--help"], ["--version"], ["config", "show"], ["time", "sync", "--help"]]
)
def test_commands_without_a_database_load_no_database_library(
    tmp_path: Path, args: list[str]
) -> None:
    assert loaded_by(tmp_path, *args) == []


def complete(table: sa.Table, **values: object) -> dict[str, object]:
    """A row with `values` and an empty value in every other column that needs one."""
    for column in table.columns:
        if (
            column.name not in values
            and not column.primary_key
            and not column.nullable
            and column.server_default is None
        ):
            values[column.name] = 0 if isinstance(column.type, sa.Integer) else ""
    return values


@pytest.fixture
def site(tmp_path: Path) -> dict[str, str]:
    """A Moodle in SQLite with what the site check and the sync read, and its own state."""
    moodle = tmp_path / "moodle.sqlite"
    engine = sa.create_engine(f"sqlite:///{moodle}")
    tables = ["config", "user", "course", "context", "logstore_standard_log"]
    metadata = create_moodle_tables(engine, "mdl_", tables)
    with engine.begin() as connection:
        connection.execute(
            metadata.tables["mdl_config"].insert(),
            [
                {"name": "siteidentifier", "value": "startup-test"},
                {"name": "siteguest", "value": "1"},
                {"name": "version", "value": "2024100700"},
            ],
        )
        course = metadata.tables["mdl_course"]
        connection.execute(course.insert().values(complete(course, id=1, format="site")))
        log = metadata.tables["mdl_logstore_standard_log"]
        connection.execute(
            log.insert(),
            [
                complete(
                    log,
                    eventname="\\core\\event\\course_viewed",
                    userid=2,
                    courseid=2,
                    anonymous=0,
                    timecreated=1_780_000_000 + 60 * minute,
                    origin="web",
                )
                for minute in range(5)
            ],
        )
    engine.dispose()
    env = {
        "MANIREPORTS_MOODLE_URL": f"sqlite:///{moodle}",
        "MANIREPORTS_STATE_URL": f"sqlite:///{tmp_path / 'state.sqlite'}",
    }
    upgraded = manireports("db", "upgrade", env=env)
    assert upgraded.returncode == 0, upgraded.stderr.decode()
    return env


def manireports(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    environ = {**os.environ, "PYTHONPATH": str(REPO), **env}
    command = [sys.executable, "-m", "manireports", *args]
    return subprocess.run(command, env=environ, capture_output=True, check=False)


def test_the_hourly_sync_loads_no_other_engine_nor_report_libraries(
    tmp_path: Path, site: dict[str, str]
) -> None:
    loaded = loaded_by(tmp_path, "time", "sync", env=site)
    assert loaded == ["sqlalchemy", "manireports.state"]


def test_listing_and_running_a_custom_report_load_only_what_they_use(
    tmp_path: Path, site: dict[str, str]
) -> None:
    sql = tmp_path / "one.sql"
    sql.write_text("SELECT 1 AS one\n")
    created = manireports("reports", "create", "--name", "one", "--sql-file", str(sql), env=site)
    assert created.returncode == 0, created.stderr.decode()
    listed = loaded_by(tmp_path, "reports", "list", "-o", str(tmp_path / "list.csv"), env=site)
    # Listing reads the state database; it validates no SQL and writes a CSV file.
    csv_file = ["manireports.export.text", "manireports.export.atomic"]
    assert listed == ["sqlalchemy", "manireports.state", *csv_file]
    ran = loaded_by(tmp_path, "run-report", "one", "-o", str(tmp_path / "one.csv"), env=site)
    # A custom report's SQL is checked again before it runs (sqlglot), then written as CSV.
    assert ran == ["sqlalchemy", "sqlglot", "manireports.state", *csv_file]
