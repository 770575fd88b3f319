"""One state database, one Moodle site; never Moodle's own database; the first run.

Through the command line end to end, with real SQLite files and a real MariaDB server, and the
URL comparison directly with hand-made spellings of the same and of different databases.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from manireports.state.binding import database_location
from manireports.state.store import HEAD_REVISION, StateDB
from tests.cli_runner import invoke
from tests.conftest import fresh_database
from tests.moodle_site import MoodleSite

SITE_A = "a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4learn.example.org"
SITE_B = "ffeeddccbbaa99887766554433221100other.example.org"


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("mysql+pymysql://root@localhost/moodle", "mysql+mysqldb://root:pw@127.0.0.1:3306/moodle"),
        ("mysql://u@127.0.0.1/moodle?charset=utf8mb4", "mariadb+pymysql://other@[::1]/moodle"),
        (
            "mysql+pymysql://u@/moodle?unix_socket=/run/mysqld/mysqld.sock",
            "mysql://u@localhost/moodle",
        ),
        ("postgresql://u@localhost/moodle", "postgresql+psycopg://x:y@127.0.0.1:5432/moodle"),
        ("postgresql+psycopg://moodle@db.example.org", "postgresql://moodle@DB.example.org/moodle"),
        ("sqlite:////srv/data/../data/moodle.sqlite", "sqlite:////srv/data/moodle.sqlite"),
    ],
)
def test_one_database_spelt_two_ways(first: str, second: str) -> None:
    assert database_location(sa.make_url(first)) == database_location(sa.make_url(second))


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("mysql://u@localhost/moodle", "mysql://u@localhost:3307/moodle"),
        ("mysql://u@localhost/moodle", "mysql://u@localhost/moodle_state"),
        ("mysql://u@db1.example.org/moodle", "mysql://u@db2.example.org/moodle"),
        ("mysql://u@localhost/moodle", "postgresql://u@localhost/moodle"),
        ("sqlite:////srv/moodle.sqlite", "sqlite:////srv/state.sqlite"),
        ("sqlite://", "sqlite://"),  # two in-memory databases are two databases
    ],
)
def test_different_databases_stay_different(first: str, second: str) -> None:
    assert database_location(sa.make_url(first)) != database_location(sa.make_url(second))


def make_site(url: str, identifier: str | None) -> None:
    site = MoodleSite(url)
    if identifier is not None:
        site.insert("config", name="siteidentifier", value=identifier)
    course = site.course("C1")
    learner = site.user("ann")
    site.enrol(learner, course, timestart=1_700_000_000)
    site.complete(learner, course, 1_750_000_000)
    site.dispose()


@pytest.fixture
def two_sites(tmp_path: Path) -> Iterator[tuple[str, str]]:
    a, b = tmp_path / "a.sqlite", tmp_path / "b.sqlite"
    make_site(f"sqlite:///{a}", SITE_A)
    make_site(f"sqlite:///{b}", SITE_B)
    yield f"sqlite:///{a}", f"sqlite:///{b}"


def manireports_tables(url: str) -> list[str]:
    engine = sa.create_engine(url)
    try:
        names = sa.inspect(engine).get_table_names()
    finally:
        engine.dispose()
    return [n for n in names if n.startswith("manireports")]


def test_state_is_bound_at_upgrade_and_refused_for_another_site(
    two_sites: tuple[str, str], tmp_path: Path
) -> None:
    site_a, site_b = two_sites
    state = f"sqlite:///{tmp_path / 'state.sqlite'}"
    env_a = {"MANIREPORTS_MOODLE_URL": site_a, "MANIREPORTS_STATE_URL": state}
    env_b = {"MANIREPORTS_MOODLE_URL": site_b, "MANIREPORTS_STATE_URL": state}

    upgraded = invoke("db", "upgrade", env=env_a)
    assert upgraded.returncode == 0, upgraded.stderr
    assert SITE_A in upgraded.stderr.decode()
    checked = invoke("db", "check", env=env_a)
    assert checked.returncode == 0, checked.stderr
    assert f"State belongs to: {database_location(sa.make_url(site_a))} ({SITE_A})" in (
        checked.stdout.decode()
    )
    # A cached report on site A ...
    first = invoke("run-report", "completion_trends", "-f", "csv", env=env_a)
    assert first.returncode == 0, first.stderr

    # ... is never answered for site B: every command using the state refuses it with exit 4.
    for args in (("run-report", "completion_trends", "-f", "csv"), ("cache", "stats")):
        refused = invoke(*args, env=env_b)
        assert refused.returncode == 4, refused.stderr
        message = refused.stderr.decode()
        assert SITE_A in message and SITE_B in message and "db rebind" in message
        assert "[state] url" in message and "Traceback" not in message
        assert refused.stdout == b""
    checked_b = invoke("db", "check", env=env_b)
    assert checked_b.returncode == 4
    assert "another Moodle site" in checked_b.stderr.decode()

    # db rebind moves the state to site B and drops site A's cached rows.
    rebound = invoke("db", "rebind", env=env_b)
    assert rebound.returncode == 0, rebound.stderr
    assert "1 cached results deleted" in rebound.stderr.decode()
    assert invoke("run-report", "completion_trends", "-f", "csv", env=env_b).returncode == 0
    # Now site A is the stranger.
    assert invoke("run-report", "completion_trends", "-f", "csv", env=env_a).returncode == 4


def test_a_site_moved_to_another_database_keeps_its_state(
    two_sites: tuple[str, str], tmp_path: Path
) -> None:
    """Moodle keeps its siteidentifier through a move: the binding follows it, not the URL."""
    site_a, _ = two_sites
    moved = tmp_path / "moved.sqlite"
    shutil.copy(site_a.removeprefix("sqlite:///"), moved)
    state = f"sqlite:///{tmp_path / 'state.sqlite'}"
    env = {"MANIREPORTS_MOODLE_URL": site_a, "MANIREPORTS_STATE_URL": state}
    assert invoke("db", "upgrade", env=env).returncode == 0
    env["MANIREPORTS_MOODLE_URL"] = f"sqlite:///{moved}"
    result = invoke("run-report", "course_completion", "-f", "csv", env=env)
    assert result.returncode == 0, result.stderr


def test_state_url_naming_the_moodle_database_is_refused(
    two_sites: tuple[str, str], tmp_path: Path
) -> None:
    site_a, _ = two_sites
    path = site_a.removeprefix("sqlite:///")
    # The same file by another path, and a copy of Moodle's database (Moodle's tables inside).
    same = f"sqlite:///{tmp_path}/../{tmp_path.name}/a.sqlite"
    copy = tmp_path / "copy.sqlite"
    shutil.copy(path, copy)
    for state in (same, f"sqlite:///{copy}"):
        env = {"MANIREPORTS_MOODLE_URL": site_a, "MANIREPORTS_STATE_URL": state}
        for args in (("db", "upgrade"), ("run-report", "course_completion")):
            result = invoke(*args, env=env)
            assert result.returncode == 2, (args, result.stderr)
            message = result.stderr.decode()
            assert "[state] url" in message and "Moodle" in message and "Traceback" not in message
    assert manireports_tables(site_a) == [] and manireports_tables(f"sqlite:///{copy}") == []


def test_state_url_naming_the_moodle_database_on_mariadb(tmp_path: Path) -> None:
    """Another spelling of the same MariaDB database: other host name, port, driver, user."""
    databases = fresh_database("mariadb", tmp_path)
    url = next(databases)
    try:
        make_site(url, SITE_A)
        parsed = sa.make_url(url)
        respelt = parsed.set(drivername="mysql+mysqldb", host="localhost", port=3306)
        env = {
            "MANIREPORTS_MOODLE_URL": url,
            "MANIREPORTS_STATE_URL": respelt.render_as_string(hide_password=False),
        }
        result = invoke("db", "upgrade", env=env)
        assert result.returncode == 2, result.stderr
        assert "is the Moodle database" in result.stderr.decode()
        assert manireports_tables(url) == []
    finally:
        databases.close()


def test_first_run_with_nothing_configured_says_how_to_start(tmp_path: Path) -> None:
    result = invoke("run-report", "course_completion")
    assert result.returncode == 2
    message = result.stderr.decode()
    assert "manireports demo init" in message and "[moodle] url" in message
    assert "db upgrade" not in message and "Traceback" not in message


def test_default_state_is_created_on_first_use_but_a_server_one_is_not(tmp_path: Path) -> None:
    moodle = f"sqlite:///{tmp_path / 'moodle.sqlite'}"
    make_site(moodle, SITE_A)
    result = invoke("run-report", "course_completion", "-f", "csv", env={
        "MANIREPORTS_MOODLE_URL": moodle
    })  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode().count("\n") == 2  # header and ann's row
    default = Path.home() / ".local" / "share" / "manireports" / "state.sqlite"
    assert default.is_file()
    assert StateDB(f"sqlite:///{default}").current_revision() == HEAD_REVISION

    databases = fresh_database("mariadb", tmp_path)
    server = next(databases)
    try:
        env = {"MANIREPORTS_MOODLE_URL": moodle, "MANIREPORTS_STATE_URL": server}
        result = invoke("run-report", "course_completion", "-f", "csv", env=env)
        assert result.returncode == 4
        assert "manireports db upgrade" in result.stderr.decode()
        assert manireports_tables(server) == []
    finally:
        databases.close()
