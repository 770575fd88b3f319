"""Backup and restore of definitions: the round trip as a hypothesis property on every state
engine, and the command line's dry run, idempotence, --replace, refusals and site moves."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from manireports.app import App
from manireports.config import load_config
from manireports.ops.backup import FORMAT, VERSION, make_backup, restore_backup
from manireports.state import StateDB
from manireports.state.tables import (
    customreports,
    dashboard_widgets,
    dashboards,
    schedule_recipients,
    schedules,
)
from tests.cli_runner import invoke
from tests.conftest import ENGINES, fresh_database
from tests.moodle_site import MoodleSite
from tests.schedule_support import ZONE, build_site

USERS = ("sam", "sue", "bob", "tina", "olaf")
NAME = st.text(alphabet="abcdefghij _", min_size=1, max_size=12).map(str.strip).filter(bool)


@st.composite
def reports(draw: st.DrawFn) -> list[dict[str, Any]]:
    names = draw(st.lists(NAME, unique=True, max_size=4))
    entries = []
    for name in names:
        description = draw(st.one_of(st.none(), st.text(alphabet="xyz .", min_size=1)))
        description = description.strip() or None if description else None
        if draw(st.booleans()):
            bound = draw(st.integers(0, 1000))
            sql = f"SELECT id, username FROM {{user}} WHERE id > {bound}"
            entries.append({"name": name, "description": description, "type": "sql", "sql": sql})
        else:
            field = draw(st.sampled_from(["username", "email", "fullname"]))
            config = {"source": "users", "columns": [field], "sort": [field]}
            entries.append(
                {"name": name, "description": description, "type": "config", "config": config}
            )
    return entries


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    report_entries = draw(reports())
    targets = [("course_completion", False)] + [(r["name"], True) for r in report_entries]
    schedule_entries = []
    for name in draw(st.lists(NAME, unique=True, max_size=3)):
        report, custom = draw(st.sampled_from(targets))
        frequency = draw(st.sampled_from(["daily", "weekly", "monthly", "cron"]))
        at = None if frequency == "cron" else f"{draw(st.integers(0, 23)):02d}:30"
        recipients = draw(
            st.lists(
                st.one_of(
                    st.sampled_from(USERS).map(lambda u: {"username": u}),
                    st.sampled_from(["a@x.example", "b@y.example"]).map(lambda e: {"email": e}),
                ),
                min_size=1,
                max_size=3,
                unique_by=lambda r: json.dumps(r, sort_keys=True),
            )
        )
        schedule_entries.append(
            {
                "name": name,
                "report": report,
                "custom_report": custom,
                "frequency": frequency,
                "cron": "15 6 * * 1-5" if frequency == "cron" else None,
                "at": at,
                "weekday": draw(st.integers(0, 6)) if frequency == "weekly" else None,
                "monthday": draw(st.integers(1, 31)) if frequency == "monthly" else None,
                "format": draw(st.sampled_from(["csv", "xlsx", "pdf"])),
                "params": {} if custom else draw(st.sampled_from([{}, {"courseid": "2"}])),
                "active": draw(st.booleans()),
                "scope": draw(st.sampled_from(["recipient", "owner"])),
                "owner": draw(
                    st.one_of(st.none(), st.sampled_from(USERS).map(lambda u: {"username": u}))
                ),
                "skip_empty": draw(st.booleans()),
                "recipients": recipients,
            }
        )
    dashboard_entries = [
        {
            "title": title,
            "description": None,
            "company": None,
            "widgets": [
                {
                    "type": "kpi",
                    "title": "Learners",
                    "report": draw(st.sampled_from(targets))[0],
                    "column": "userid",
                    "aggregate": "count",
                }
            ],
        }
        for title in draw(st.lists(NAME, unique=True, max_size=2))
    ]
    return {
        "format": FORMAT,
        "version": VERSION,
        "reports": report_entries,
        "schedules": schedule_entries,
        "dashboards": dashboard_entries,
        "settings": {},
    }


@pytest.fixture(params=ENGINES)
def two_states(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[App, App]]:
    moodle = tmp_path / "moodle.sqlite"
    build_site(moodle)
    with ExitStack() as stack:
        apps = []
        for _ in range(2):
            generator = fresh_database(request.param, tmp_path)
            url = next(generator)
            stack.callback(lambda g=generator: next(g, None))
            StateDB(url).upgrade()
            config = load_config(
                environ={
                    "MANIREPORTS_MOODLE_URL": f"sqlite:///{moodle}",
                    "MANIREPORTS_STATE_URL": url,
                    "MANIREPORTS_SITE_TIMEZONE": ZONE,
                }
            )
            apps.append(App(config))
        yield apps[0], apps[1]
        for app in apps:
            app.state.close()


def _wipe(app: App) -> None:
    with app.state.begin() as connection:
        for table in (dashboard_widgets, dashboards, schedule_recipients, schedules, customreports):
            connection.execute(sa.delete(table))


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(document=documents())
def test_backup_restore_backup_is_the_same_document(
    two_states: tuple[App, App], document: dict[str, Any]
) -> None:
    first, second = two_states
    _wipe(first)
    _wipe(second)
    loaded = restore_backup(first, document)
    assert loaded.refused == []
    expected = len(document["reports"]) + len(document["schedules"]) + len(document["dashboards"])
    assert loaded.count("created") == expected
    original = make_backup(first)
    assert len(original["schedules"]) == len(document["schedules"])
    restored = restore_backup(second, original)
    assert (restored.count("created"), restored.refused) == (expected, [])
    assert make_backup(second) == original


# -- the command line -------------------------------------------------------------------------


@pytest.fixture
def sites(tmp_path: Path) -> tuple[dict[str, str], dict[str, str]]:
    """Two sites: the second made its users in another order, so ids differ from the first."""
    env = []
    for index in (1, 2):
        moodle = tmp_path / f"moodle{index}.sqlite"
        if index == 1:
            build_site(moodle)
        else:
            other = MoodleSite(f"sqlite:///{moodle}", iomad=False, timezone=ZONE)
            other.course("A")
            for name in ("olaf", "zed", "tina"):
                other.user(name, email=f"{name}@other.example")
            other.dispose()
        site_env = {
            "MANIREPORTS_MOODLE_URL": f"sqlite:///{moodle}",
            "MANIREPORTS_STATE_URL": f"sqlite:///{tmp_path / f'state{index}.sqlite'}",
            "MANIREPORTS_SITE_TIMEZONE": ZONE,
        }
        assert invoke("db", "upgrade", env=site_env).returncode == 0
        env.append(site_env)
    return env[0], env[1]


def _definitions(env: dict[str, str], tmp_path: Path) -> None:
    sql = tmp_path / "users.sql"
    # A userid column lets the report be scoped, so tina may receive her own view of it.
    sql.write_text("SELECT id AS userid, username FROM {user}")
    assert (
        invoke("reports", "create", "--name", "users", "--sql-file", str(sql), env=env).returncode
        == 0
    )
    added = invoke(
        "schedule", "add", "--report", "users", "--name", "daily users", "--frequency", "daily",
        "--format", "csv", "--recipient", "tina", "--recipient", "boss@school.example", env=env,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr


def _count(env: dict[str, str], table: str) -> int:
    engine = sa.create_engine(env["MANIREPORTS_STATE_URL"])
    with engine.connect() as connection:
        count = int(connection.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar_one())
    engine.dispose()
    return count


def test_backup_holds_definitions_only(
    sites: tuple[dict[str, str], dict[str, str]], tmp_path: Path
) -> None:
    first, _second = sites
    _definitions(first, tmp_path)
    assert invoke("run-report", "users", "-f", "csv", env=first).returncode == 0
    result = invoke("backup", "-o", str(tmp_path / "b.json"), env=first)
    assert result.returncode == 0, result.stderr
    document = json.loads((tmp_path / "b.json").read_text())
    assert set(document) == {"format", "version", "reports", "schedules", "dashboards", "settings"}
    assert [r["name"] for r in document["reports"]] == ["users"]
    assert document["schedules"][0]["recipients"] == [
        {"email": "boss@school.example"},
        {"username": "tina"},
    ]
    assert "runs" not in json.dumps(document) and "audit" not in json.dumps(document)


def test_restore_moves_to_another_site_by_username(
    sites: tuple[dict[str, str], dict[str, str]], tmp_path: Path
) -> None:
    first, second = sites
    _definitions(first, tmp_path)
    backup = tmp_path / "b.json"
    assert invoke("backup", "-o", str(backup), env=first).returncode == 0

    dry = invoke("restore", str(backup), "--dry-run", env=second)
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.decode().splitlines() == [
        "report 'users': would be created",
        "schedule 'daily users': would be created",
        "Dry run, nothing changed: 2 created, 0 updated, 0 skipped.",
    ]
    assert (
        _count(second, "manireports_customreports"),
        _count(second, "manireports_schedules"),
    ) == (0, 0)

    done = invoke("restore", str(backup), env=second)
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().splitlines()[-1] == "2 created, 0 updated, 0 skipped."
    engine = sa.create_engine(second["MANIREPORTS_STATE_URL"])
    with engine.connect() as connection:
        recipients = connection.execute(
            sa.text("SELECT userid, email FROM manireports_schedule_recipients ORDER BY email")
        ).all()
    engine.dispose()
    moodle = sa.create_engine(second["MANIREPORTS_MOODLE_URL"])
    with moodle.connect() as connection:
        tina = connection.execute(
            sa.text("SELECT id FROM mdl_user WHERE username = 'tina'")
        ).scalar_one()
    moodle.dispose()
    assert sorted(recipients, key=str) == sorted(
        [(None, "boss@school.example"), (tina, None)], key=str
    )

    again = invoke("restore", str(backup), env=second)
    assert again.returncode == 0
    assert again.stdout.decode().splitlines()[-1] == "0 created, 0 updated, 2 skipped."
    assert (
        _count(second, "manireports_customreports"),
        _count(second, "manireports_schedules"),
    ) == (1, 1)


def test_replace_updates_a_changed_report(
    sites: tuple[dict[str, str], dict[str, str]], tmp_path: Path
) -> None:
    first, _second = sites
    _definitions(first, tmp_path)
    backup = tmp_path / "b.json"
    assert invoke("backup", "-o", str(backup), env=first).returncode == 0
    document = json.loads(backup.read_text())
    document["reports"][0]["sql"] = "SELECT id FROM {user}"
    backup.write_text(json.dumps(document))
    kept = invoke("restore", str(backup), env=first)
    assert "report 'users': skipped (exists (--replace replaces it))" in kept.stdout.decode()
    replaced = invoke("restore", str(backup), "--replace", env=first)
    assert replaced.returncode == 0, replaced.stderr
    assert "report 'users': updated" in replaced.stdout.decode()
    shown = invoke("reports", "show", "users", env=first)
    assert "SELECT id FROM {user}" in shown.stdout.decode()


def test_refused_sql_is_named(sites: tuple[dict[str, str], dict[str, str]], tmp_path: Path) -> None:
    first, second = sites
    _definitions(first, tmp_path)
    backup = tmp_path / "b.json"
    assert invoke("backup", "-o", str(backup), env=first).returncode == 0
    strict = {**second, "MANIREPORTS_REPORTS_DENIED_TABLES": "sessions,user"}
    result = invoke("restore", str(backup), env=strict)
    assert result.returncode == 2
    out = result.stdout.decode()
    assert "report 'users': refused" in out
    assert "schedule 'daily users': refused (its custom report 'users' is not on this site)" in out
    assert (
        "Refused 2 definition(s): report 'users'; schedule 'daily users'." in result.stderr.decode()
    )
    assert _count(second, "manireports_customreports") == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "it is not JSON"),
        ('{"format": "other"}', "is not a manireports backup"),
        ('{"format": "manireports-backup", "version": 99}', "format version 99"),
    ],
)
def test_a_file_that_is_not_a_backup_is_refused(
    sites: tuple[dict[str, str], dict[str, str]], tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "x.json"
    path.write_text(content)
    result = invoke("restore", str(path), env=sites[0])
    assert result.returncode == 2
    assert message in result.stderr.decode() and b"Traceback" not in result.stderr
