"""Shared fixtures: a clean environment for every test, and fresh databases on the real servers.

Tests that need MariaDB or PostgreSQL use the servers on this machine over real connections. When
a server cannot be reached the test is skipped with a reason that says how to enable it; under CI
(CI=true) it fails instead, so a green CI always means the database tests ran.
"""

from __future__ import annotations

import os
import types
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

MARIADB_ADMIN_URL = os.environ.get(
    "MANIREPORTS_TEST_MARIADB", "mysql+pymysql://root@127.0.0.1:3306/"
)
POSTGRES_ADMIN_URL = os.environ.get(
    "MANIREPORTS_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
ENGINES = ("sqlite", "mariadb", "postgresql")


def _unavailable(server: str, exc: Exception) -> None:
    message = (
        f"{server} is not reachable ({exc.__class__.__name__}: {str(exc).splitlines()[0]}); "
        "start it (bash .ci/run starts the local servers) or point "
        f"MANIREPORTS_TEST_{'MARIADB' if server == 'MariaDB' else 'POSTGRES'} at one."
    )
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def _code_refs(code: types.CodeType) -> tuple[set[str], set[str]]:
    """The global names and the string constants in a function's code and in the code nested
    in it (comprehensions, inner functions)."""
    names, strings = set(code.co_names), set()
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            inner_names, inner_strings = _code_refs(const)
            names |= inner_names
            strings |= inner_strings
        elif isinstance(const, str):
            strings.add(const)
    return names, strings


def _spawns(function: Any, seen: set[int]) -> bool:
    """Whether `function` starts the command line as a process, itself or through a function
    it calls by name: with `run_cli`, or with a `python -m manireports` of its own."""
    if id(function) in seen or not str(getattr(function, "__module__", "")).startswith("tests"):
        return False
    seen.add(id(function))
    if isinstance(function, type):  # a helper class: its methods
        return any(_spawns(member, seen) for member in vars(function).values())
    code = getattr(function, "__code__", None)
    if code is None:
        return False
    names, strings = _code_refs(code)
    by_hand = {"-m", "manireports"} <= strings or any("-m manireports" in s for s in strings)
    if "run_cli" in names or by_hand:
        return True
    scope = getattr(function, "__globals__", {})
    return any(_spawns(scope.get(name), seen) for name in names)


_SERVER_WORDS = ("mariadb", "mysql", "postgres")


def _needs_server(item: pytest.Item) -> bool:
    """Whether a test runs against the MariaDB or PostgreSQL server: an engine among its
    parameters, or a server database among its fixtures."""
    callspec = getattr(item, "callspec", None)
    values = [str(value).lower() for value in callspec.params.values()] if callspec else []
    if callspec:
        values.append(callspec.id.lower())
    info = getattr(item, "_fixtureinfo", None)
    values += [name.lower() for name in (info.names_closure if info else ())]
    values.append(getattr(item, "originalname", item.name).lower())
    return any(word in value for value in values for word in _SERVER_WORDS)


# The fast tier (-m fast): the library's rules checked directly, in-process, on SQLite, with no
# server; these modules' tests that need neither a server nor a process of their own.
FAST_MODULES = frozenset(
    {
        "test_analytics_rules",
        "test_config",
        "test_config_php",
        "test_configured_buckets",
        "test_configured_formats",
        "test_export_html",
        "test_export_text",
        "test_export_values",
        "test_export_xlsx",
        "test_layout",
        "test_localtime",
        "test_mail",
        "test_open_report",
        "test_report_catalogue",
        "test_schedule_recurrence",
        "test_sql_include",
        "test_sqlcheck",
        "test_sqlorder",
        "test_timetrack_heartbeat",
        "test_timetrack_sessions",
    }
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark `subprocess` every test that starts the command line as a process, in its body, a
    helper or a fixture, and `server` every test that needs the MariaDB or PostgreSQL server;
    `fast` the tests of FAST_MODULES that are none of these, nor `slow`."""
    for item in items:
        seen: set[int] = set()
        functions = [getattr(item, "function", None)]
        info = getattr(item, "_fixtureinfo", None)
        for defs in info.name2fixturedefs.values() if info else ():
            functions += [definition.func for definition in defs]
        if any(_spawns(function, seen) for function in functions):
            item.add_marker(pytest.mark.subprocess)
        if _needs_server(item):
            item.add_marker(pytest.mark.server)
        module = item.module.__name__.rsplit(".", 1)[-1] if item.module else ""
        if module in FAST_MODULES and not any(
            item.get_closest_marker(name) for name in ("server", "subprocess", "slow")
        ):
            item.add_marker(pytest.mark.fast)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No MANIREPORTS_* setting, config file or data directory leaks in from the machine."""
    for name in list(os.environ):
        if name.startswith("MANIREPORTS_") and not name.startswith("MANIREPORTS_TEST_"):
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.chdir(tmp_path)


def _fresh_mariadb() -> Iterator[str]:
    name = f"mr_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = sa.create_engine(MARIADB_ADMIN_URL, pool_pre_ping=True)
        with admin.connect() as conn:
            conn.execute(
                sa.text(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
            )
    except sa.exc.OperationalError as exc:
        _unavailable("MariaDB", exc)
    url = MARIADB_ADMIN_URL.rstrip("/") + f"/{name}?charset=utf8mb4"
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name}"))
        admin.dispose()


def _fresh_postgres() -> Iterator[str]:
    name = f"mr_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f"CREATE DATABASE {name} ENCODING 'UTF8' TEMPLATE template0"))
    except sa.exc.OperationalError as exc:
        _unavailable("PostgreSQL", exc)
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


def fresh_database(kind: str, tmp_path: Path) -> Iterator[str]:
    """Yield the SQLAlchemy URL of a new, empty database of that kind, dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / f'db_{uuid.uuid4().hex[:8]}.sqlite'}"
    elif kind == "mariadb":
        yield from _fresh_mariadb()
    elif kind == "postgresql":
        yield from _fresh_postgres()
    else:  # pragma: no cover
        raise ValueError(kind)


@pytest.fixture(params=ENGINES)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh empty database on each engine in turn."""
    yield from fresh_database(request.param, tmp_path)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> Iterator[str]:
    yield from fresh_database("sqlite", tmp_path)


@pytest.fixture
def mariadb_url(tmp_path: Path) -> Iterator[str]:
    yield from fresh_database("mariadb", tmp_path)


@pytest.fixture
def postgres_url(tmp_path: Path) -> Iterator[str]:
    yield from fresh_database("postgresql", tmp_path)


@pytest.fixture
def state_db_url(db_url: str, tmp_path: Path) -> Iterator[str]:
    """A second fresh database on `db_url`'s engine, for the state: manireports refuses to keep
    its state inside the Moodle database, so a test's Moodle and state never share one."""
    if db_url.startswith("sqlite"):
        kind = "sqlite"
    else:
        kind = "mariadb" if db_url.startswith("mysql") else "postgresql"
    yield from fresh_database(kind, tmp_path)
