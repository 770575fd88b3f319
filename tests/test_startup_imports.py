"""Start-up stays light: a command loads only the libraries it needs.

Each command runs in a fresh interpreter (this one has loaded everything already), which writes
the heavy modules it ended up with to a file. Importing a library a command does not use costs
every run of it, the hourly cron sync included; the seconds are measured by bench/startup.py.
The garbage collector, paused while a command loads, must be collecting again once it works.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from manireports.cli.environment import Environment, pause_collection, resume_collection
from manireports.moodle.schema import create_moodle_tables

REPO = Path(__file__).resolve().parent.parent

# Run a command as `python -m manireports` would, then list the heavy modules it loaded.
PROBE = """
import gc, json, sys
from importlib import import_module
watched, out = json.loads(sys.argv[1]), sys.argv[2]
code = 0
try:
    import_module("manireports.cli").main(sys.argv[3:])
except SystemExit as exc:
    code = exc.code
loaded = [name for name in watched if name in sys.modules]
with open(out, "w") as sink:
    json.dump({"code": code, "loaded": loaded, "collecting": gc.isenabled()}, sink)
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
# What neither listing the reports, running a custom one nor the hourly sync needs: the built-in
# reports' implementations (the catalogue describes them), the analytics, the report builder
# (config-built reports), the MySQL dialect on SQLite.
NOT_LISTING_NOR_SYNCING = [
    "manireports.reports.steps.completion",
    "manireports.reports.steps.scorm",
    "manireports.reports.steps.trends",
    "manireports.reports.steps.timespent",
    "manireports.reports.steps.analytics",
    "manireports.analytics",
    "manireports.reports.operator.configured",
    "manireports.moodle.schema",
    "sqlalchemy.dialects.mysql",
]


def probe(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None, watched: list[str]
) -> dict[str, Any]:
    """Run a command in a fresh interpreter: its exit code, which of `watched` it loaded, and
    whether the garbage collector was on at its end."""
    out = tmp_path / "loaded.json"
    environ = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    result = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(watched), str(out), *args],
        capture_output=True,
        env=environ,
        timeout=120,
        check=False,
    )
    found: dict[str, Any] = json.loads(out.read_text())
    assert found["code"] == 0, result.stderr.decode()
    return found


def loaded_by(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> list[str]:
    watched = REPORT_LIBRARIES + DATABASE_LIBRARIES + OWN_MODULES
    return list(probe(tmp_path, *args, env=env, watched=watched)["loaded"])


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


def test_listing_running_a_custom_report_and_syncing_load_no_report_implementation(
    tmp_path: Path, site: dict[str, str]
) -> None:
    sql = tmp_path / "one.sql"
    sql.write_text("SELECT 1 AS one\n")
    created = manireports("reports", "create", "--name", "one", "--sql-file", str(sql), env=site)
    assert created.returncode == 0, created.stderr.decode()
    for args in (
        ["reports", "list", "-o", str(tmp_path / "list.csv")],
        ["run-report", "one", "-o", str(tmp_path / "one.csv")],
        ["time", "sync"],
    ):
        found = probe(tmp_path, *args, env=site, watched=NOT_LISTING_NOR_SYNCING)
        assert found["loaded"] == [], args
        # Collection was paused while the command loaded, and resumed when it read its settings.
        assert found["collecting"], args


def test_a_built_in_report_loads_its_own_implementation_only(
    tmp_path: Path, site: dict[str, str]
) -> None:
    watched = [
        "manireports.reports.steps.completion",
        "manireports.reports.steps.scorm",
        "manireports.reports.steps.analytics",
    ]
    args = ["run-report", "course_completion", "--show-sql"]
    found = probe(tmp_path, *args, env=site, watched=watched)
    assert found["loaded"] == ["manireports.reports.steps.completion"]


def test_reading_the_configuration_resumes_a_paused_collector() -> None:
    assert gc.isenabled()
    try:
        pause_collection()
        assert not gc.isenabled()
        Environment().config()
        assert gc.isenabled() and gc.get_freeze_count() > 0
        # Resumed once: a later pause by someone else is theirs to undo.
        gc.disable()
        Environment().config()
        assert not gc.isenabled()
    finally:
        gc.enable()
        gc.unfreeze()
        resume_collection()
