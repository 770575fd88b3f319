"""A `db upgrade` killed at any point is completed by the next one, on every engine.

MariaDB commits each DDL statement on its own, so a killed upgrade leaves part of a revision in
place under the older recorded revision; PostgreSQL and SQLite roll the whole upgrade back. Either
way the rerun must reach the newest revision with exactly the schema of a clean upgrade.

The upgrade runs in a real child process that kills itself with SIGKILL right after its Nth DDL
statement (CREATE, ALTER or DROP): the hook is an SQLAlchemy event listener installed by the
child's own code, not a switch in manireports. The points are spread over the whole upgrade; set
MANIREPORTS_TEST_KILL_EVERY=1 to kill after every statement (slow: one child per statement).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from manireports.state.store import HEAD_REVISION, StateDB
from tests.cli_runner import REPO
from tests.conftest import fresh_database

# The child: count DDL statements, SIGKILL itself after the Nth (0: never), print the count.
CHILD = """
import os, signal, sys
import sqlalchemy as sa
from manireports.state.store import StateDB

url, limit = sys.argv[1], int(sys.argv[2])
count = 0

@sa.event.listens_for(sa.engine.Engine, "after_cursor_execute")
def _after(conn, cursor, statement, parameters, context, executemany):
    global count
    if statement.lstrip().upper().startswith(("CREATE", "ALTER", "DROP")):
        count += 1
        if count == limit:
            os.kill(os.getpid(), signal.SIGKILL)

StateDB(url).upgrade()
print(count)
"""

SAMPLES = {"mariadb": 12, "postgresql": 4, "sqlite": 4}


def upgrade_in_child(url: str, kill_after: int) -> subprocess.CompletedProcess[str]:
    environ = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run(
        [sys.executable, "-c", CHILD, url, str(kill_after)],
        capture_output=True,
        text=True,
        env=environ,
        timeout=300,
        check=False,
    )


def schema(url: str) -> dict[str, Any]:
    """Every manireports table's columns, indexes and foreign keys, and the recorded revision."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            inspector = sa.inspect(connection)
            tables: dict[str, Any] = {}
            for table in sorted(inspector.get_table_names()):
                if not table.startswith("manireports_") or table == "manireports_alembic_version":
                    continue
                columns = [
                    (c["name"], str(c["type"]), c["nullable"], str(c.get("default")))
                    for c in inspector.get_columns(table)
                ]
                indexes = sorted(
                    (str(i["name"]), tuple(i["column_names"]), bool(i["unique"]))
                    for i in inspector.get_indexes(table)
                )
                keys = sorted(
                    (
                        str(k["name"]),
                        tuple(k["constrained_columns"]),
                        k["referred_table"],
                        tuple(k["referred_columns"]),
                        str((k.get("options") or {}).get("ondelete")),
                    )
                    for k in inspector.get_foreign_keys(table)
                )
                tables[table] = {"columns": columns, "indexes": indexes, "keys": keys}
            revision = connection.execute(
                sa.text("SELECT version_num FROM manireports_alembic_version")
            ).scalar_one()
    finally:
        engine.dispose()
    return {"revision": revision, "tables": tables}


def kill_points(total: int, kind: str) -> list[int]:
    if os.environ.get("MANIREPORTS_TEST_KILL_EVERY"):
        return list(range(1, total + 1))
    samples = SAMPLES[kind]
    return sorted({max(1, round(i * total / (samples + 1))) for i in range(1, samples + 1)})


@pytest.fixture
def databases(tmp_path: Path) -> Iterator[Any]:
    """A factory of fresh databases of one engine, all dropped when the test ends."""
    opened: list[Iterator[str]] = []

    def make(kind: str) -> str:
        generator = fresh_database(kind, tmp_path)
        opened.append(generator)
        return next(generator)

    yield make
    for generator in opened:
        generator.close()


# One child process per point, each importing Alembic: minutes on a busy machine.
@pytest.mark.timeout(1500)
@pytest.mark.parametrize("kind", ["mariadb", "postgresql", "sqlite"])
def test_a_killed_upgrade_is_completed_by_the_next(kind: str, databases: Any) -> None:
    clean = databases(kind)
    finished = upgrade_in_child(clean, 0)
    assert finished.returncode == 0, finished.stderr
    total = int(finished.stdout.strip())
    assert total > 20  # four revisions of tables, columns, indexes and keys
    expected = schema(clean)
    assert expected["revision"] == HEAD_REVISION

    for point in kill_points(total, kind):
        url = databases(kind)
        killed = upgrade_in_child(url, point)
        assert killed.returncode == -signal.SIGKILL, (point, killed.stderr)
        before, after = StateDB(url).upgrade()
        assert after == HEAD_REVISION, point
        assert schema(url) == expected, f"schema differs after a kill at DDL statement {point}"
        if kind == "mariadb":
            # The upgrade resumed from the older recorded revision (or from nothing).
            assert before != HEAD_REVISION


def test_two_kills_in_a_row_then_a_rerun(databases: Any) -> None:
    """A rerun killed in turn leaves a state the third run still completes (MariaDB)."""
    clean = databases("mariadb")
    finished = upgrade_in_child(clean, 0)
    total = int(finished.stdout.strip())
    url = databases("mariadb")
    first = upgrade_in_child(url, total // 2)
    assert first.returncode == -signal.SIGKILL, first.stderr
    # The rerun skips what is there, so it has fewer statements left: kill after a few of them.
    second = upgrade_in_child(url, 3)
    assert second.returncode == -signal.SIGKILL, second.stderr
    finished_again = upgrade_in_child(url, 0)
    assert finished_again.returncode == 0, finished_again.stderr
    assert schema(url) == schema(clean)
    # And one more upgrade changes nothing.
    assert StateDB(url).upgrade() == (HEAD_REVISION, HEAD_REVISION)
