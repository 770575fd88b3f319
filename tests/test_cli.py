"""The command line end to end: help for every command, exit codes, errors without tracebacks."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer

from tests.cli_runner import REPO, invoke, run_cli
from tests.moodle_site import MoodleSite


def all_commands() -> list[list[str]]:
    from manireports.cli import app

    found: list[list[str]] = []

    def walk(command: Any, path: list[str]) -> None:
        found.append(path)
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return found


@pytest.mark.parametrize("path", all_commands(), ids=lambda p: " ".join(p) or "manireports")
def test_every_command_has_help_with_an_example(path: list[str]) -> None:
    result = invoke(*path, "--help")
    assert result.returncode == 0, result.stderr
    text = result.stdout.decode()
    assert "Usage:" in text
    from manireports.cli import app

    command = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]  # type: ignore[attr-defined]
    if not hasattr(command, "commands"):
        assert "Example:" in text, f"{' '.join(path)} has no example in its help"


@pytest.fixture(scope="module")
def moodle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """One small site and one upgraded state database for the module's tests."""
    tmp_path = tmp_path_factory.mktemp("cli")
    site = MoodleSite(f"sqlite:///{tmp_path / 'moodle.sqlite'}", timezone="Europe/Warsaw")
    course = site.course("ŁÓDŹ-101", fullname='Język, "polski"')
    learner = site.user("lukasz", firstname="Łukasz", lastname="Żółć")
    site.enrol(learner, course, timestart=1_700_000_000)
    site.complete(learner, course, 1_750_000_000)
    other = site.user("olga", firstname="Ольга", lastname="Петрова")
    site.enrol(other, course, timestart=1_700_000_100)
    # Company 1 exists (olga is not in it): asking for it is refused, not "no such company".
    site.insert("company", name="Acme", shortname="acme", code="A", city="", country="")
    site.dispose()
    env = {
        "MANIREPORTS_MOODLE_URL": site.url,
        "MANIREPORTS_STATE_URL": f"sqlite:///{tmp_path / 'state.sqlite'}",
    }
    upgraded = invoke("db", "upgrade", env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    yield env


def test_run_report_csv_to_a_pipe(moodle: dict[str, str]) -> None:
    result = run_cli("run-report", "course_completion", "--as-of", "2026-01-01", env=moodle)
    assert result.returncode == 0, result.stderr
    assert result.stderr == b""
    rows = list(csv.reader(io.StringIO(result.stdout.decode("utf-8"))))
    assert rows[0][:4] == ["userid", "username", "fullname", "email"]
    assert rows[1][1:3] == ["lukasz", "Łukasz Żółć"]
    assert rows[1][6] == 'Język, "polski"'
    # 1_700_000_000 is 2023-11-14 22:13:20 UTC, 23:13:20 in Warsaw; 1_750_000_000 in summer time.
    assert rows[1][7] == "2023-11-14 23:13:20"
    assert rows[1][8:10] == ["true", "2025-06-15 17:06:40"]
    assert rows[2][8:10] == ["false", ""]


def test_run_report_json_limit_and_file(moodle: dict[str, str], tmp_path: Path) -> None:
    result = invoke(
        "run-report", "course_completion", "-f", "json", "--limit", "1", "--as-of", "2026-01-01",
        env=moodle,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert len(data) == 1 and data[0]["username"] == "lukasz" and data[0]["completed"] is True
    target = tmp_path / "out" / "completion.csv"
    target.parent.mkdir()
    result = invoke("run-report", "course_completion", "-o", str(target), env=moodle)
    assert result.returncode == 0, result.stderr
    assert result.stdout == b""
    assert target.read_text(encoding="utf-8").startswith("userid,username")


def test_show_sql_runs_nothing(moodle: dict[str, str]) -> None:
    result = invoke("run-report", "course_completion", "--show-sql", "-p", "courseid=2", env=moodle)
    assert result.returncode == 0, result.stderr
    text = result.stdout.decode()
    assert "FROM mdl_user_enrolments ue" in text and "c.id = :courseid" in text
    assert '"courseid": 2' in text


def test_reports_list(moodle: dict[str, str]) -> None:
    result = invoke("reports", "list", "-f", "json", env=moodle)
    assert result.returncode == 0, result.stderr
    names = [item["name"] for item in json.loads(result.stdout)]
    assert "course_completion" in names


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run-report", "no_such_report"], "There is no report called 'no_such_report'"),
        (["run-report", "course_completion", "-p", "courseid=abc"], "must be a whole number"),
        (["run-report", "course_completion", "-p", "colour=red"], "has no parameter 'colour'"),
        (["run-report", "course_completion", "-p", "oops"], "is not of the form key=value"),
        (["run-report", "course_completion", "-p", "from=yesterday"], "is not a date"),
        (["run-report", "course_completion", "--as-of", "soon"], "--as-of 'soon' is not a date"),
        (["run-report", "course_completion", "-f", "docx"], "docx"),
        (["run-report", "course_completion", "--limit", "-1"], "--limit"),
        (["run-report", "course_completion", "-o", "/nonexistent/dir/x.csv"], "/nonexistent/dir"),
        (["run-report", "--no-such-option"], "No such option"),
    ],
)
def test_bad_input_exits_2_with_one_clear_sentence(
    moodle: dict[str, str], args: list[str], message: str
) -> None:
    result = invoke(*args, env=moodle)
    err = result.stderr.decode()
    assert result.returncode == 2, err
    assert message in err
    assert "Traceback" not in err
    assert result.stdout == b""


def test_unreachable_moodle_exits_4(moodle: dict[str, str]) -> None:
    url = "mysql+pymysql://reporter:topsecret@127.0.0.1:1/moodle"
    result = invoke(
        "run-report", "course_completion", env={**moodle, "MANIREPORTS_MOODLE_URL": url}
    )
    err = result.stderr.decode()
    assert result.returncode == 4, err
    assert "Cannot connect to the Moodle database" in err and "topsecret" not in err


def test_no_configuration_and_no_demo_says_what_to_do(moodle: dict[str, str]) -> None:
    result = invoke("run-report", "course_completion", env={**moodle, "MANIREPORTS_MOODLE_URL": ""})
    err = result.stderr.decode()
    assert result.returncode == 2, err
    assert "manireports demo init" in err and "[moodle] url" in err


def test_bad_configuration_file_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[reports]\ntimeout_secs = 5\n", encoding="utf-8")
    result = invoke("--config", str(path), "config", "show")
    assert result.returncode == 2
    assert f"Unknown key reports.timeout_secs ({path}" in result.stderr.decode() or (
        "reports.timeout_secs" in result.stderr.decode() and str(path) in result.stderr.decode()
    )


def test_config_show_masks_secrets_and_names_origins(tmp_path: Path) -> None:
    secret = tmp_path / "smtp.pw"
    secret.write_text("hunter2", encoding="utf-8")
    path = tmp_path / "m.toml"
    path.write_text(
        f'[moodle]\nurl = "postgresql+psycopg://rep:p4ss@db/moodle"\n'
        f'[email.smtp]\npassword_file = "{secret}"\n',
        encoding="utf-8",
    )
    result = invoke(
        "--config", str(path), "config", "show", env={"MANIREPORTS_REPORTS_MAX_ROWS": "7"}
    )
    out = result.stdout.decode()
    assert result.returncode == 0, result.stderr
    assert "p4ss" not in out and "hunter2" not in out
    assert "postgresql+psycopg://rep:****@db/moodle" in out
    assert "max_rows = 7  # MANIREPORTS_REPORTS_MAX_ROWS" in out
    assert f"# {path}" in out
    result = invoke("--config", str(path), "config", "show", "--json")
    data = json.loads(result.stdout)
    assert data["email.smtp.password"]["value"] == "****"
    assert data["reports.timeout_seconds"] == {"value": 300, "origin": "default"}


def test_unexpected_errors_exit_1_without_traceback_unless_debug(
    moodle: dict[str, str], tmp_path: Path
) -> None:
    # A state URL pointing at a directory cannot be opened: a failure while running.
    env = {**moodle, "MANIREPORTS_STATE_URL": f"sqlite:///{tmp_path}"}
    result = run_cli("run-report", "course_completion", env=env)
    assert result.returncode in (1, 4), result.stderr
    assert "Traceback" not in result.stderr.decode()
    debug = run_cli("--debug", "run-report", "course_completion", env=env)
    assert debug.returncode == result.returncode
    assert "Traceback" in debug.stderr.decode()


def test_version() -> None:
    result = run_cli("--version")
    assert result.returncode == 0 and result.stdout.decode().startswith("manireports ")


@pytest.mark.subprocess
def test_cli_py_in_a_checkout_runs_the_package() -> None:
    """`python cli.py` starts the command line of the package, not a copy of it."""
    import manireports.cli

    assert Path(manireports.cli.__file__) == REPO / "manireports" / "cli" / "__init__.py"
    result = subprocess.run(
        [sys.executable, str(REPO / "cli.py"), "reports", "--help"],
        capture_output=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == invoke("reports", "--help").stdout


def test_state_database_behind_says_to_upgrade(moodle: dict[str, str], tmp_path: Path) -> None:
    env = {**moodle, "MANIREPORTS_STATE_URL": f"sqlite:///{tmp_path / 'new-state.sqlite'}"}
    result = invoke("run-report", "course_completion", env=env)
    assert result.returncode == 4
    assert "manireports db upgrade" in result.stderr.decode()


def test_scope_refusal_exits_3_and_is_audited(moodle: dict[str, str]) -> None:
    result = invoke(
        "run-report", "course_completion", "--as-user", "olga", "--company", "1", env=moodle
    )
    err = result.stderr.decode()
    assert result.returncode == 3, err
    assert "olga may not see company 1" in err and "Traceback" not in err
    audit = invoke("audit", "list", "--action", "report_refused", "-f", "json", env=moodle)
    assert audit.returncode == 0, audit.stderr
    entries = json.loads(audit.stdout)
    assert entries and entries[0]["action"] == "report_refused"
    # The details are one JSON object, not JSON text inside a string.
    details = entries[0]["details"]
    assert details["as_user"] == "olga" and details["company"] == 1


def test_runs_are_audited_with_the_acting_user(moodle: dict[str, str]) -> None:
    result = invoke(
        "run-report", "course_completion", "--as-user", "olga", "-f", "json", env=moodle
    )
    assert result.returncode == 0, result.stderr
    assert [row["username"] for row in json.loads(result.stdout)] == ["olga"]
    audit = invoke("audit", "list", "--action", "report_run", "-f", "json", env=moodle)
    details = json.loads(audit.stdout)[0]["details"]
    assert details["as_user"] == "olga" and details["rows"] == 1


def test_custom_sql_report_life_cycle(moodle: dict[str, str], tmp_path: Path) -> None:
    query = tmp_path / "enrolled.sql"
    query.write_text(
        "SELECT u.id AS userid, u.username, ue.timestart\n"
        "  FROM {user_enrolments} ue JOIN {user} u ON u.id = ue.userid\n"
        " WHERE ue.timestart >= :fromdate AND u.username <> 'delete me' -- if not\n"
        " ORDER BY u.id;\n",
        encoding="utf-8",
    )
    checked = invoke("reports", "validate", "--sql-file", str(query), env=moodle)
    assert checked.returncode == 0, checked.stderr
    assert "user_enrolments" in checked.stdout.decode() and "fromdate" in checked.stdout.decode()
    created = invoke(
        "reports", "create", "--name", "Enrolled since", "--sql-file", str(query), env=moodle
    )
    assert created.returncode == 0, created.stderr
    report_id = created.stdout.decode().strip()
    ran = invoke("run-report", report_id, "-p", "fromdate=2023-11-14", "-f", "json", env=moodle)
    assert ran.returncode == 0, ran.stderr
    rows = json.loads(ran.stdout)
    assert [r["username"] for r in rows] == ["lukasz", "olga"]
    assert isinstance(rows[0]["timestart"], int)
    by_name = invoke(
        "run-report", "Enrolled since", "-p", "fromdate=2023-11-14 23:00", "--as-user", "olga",
        "-f", "csv", env=moodle,
    )  # fmt: skip
    assert by_name.returncode == 0, by_name.stderr
    assert by_name.stdout.decode().splitlines()[1].split(",")[1] == "olga"
    missing = invoke("run-report", report_id, env=moodle)
    assert missing.returncode == 2 and "needs --param fromdate" in missing.stderr.decode()
    listed = invoke("reports", "list", "-f", "json", env=moodle)
    custom = [r for r in json.loads(listed.stdout) if r["type"] == "custom sql"]
    assert custom[0]["name"] == "Enrolled since" and custom[0]["parameters"] == "fromdate"
    shown = json.loads(invoke("reports", "show", report_id, env=moodle).stdout)
    assert shown["name"] == "Enrolled since"
    deleted = invoke("reports", "delete", report_id, env=moodle)
    assert deleted.returncode == 0, deleted.stderr
    gone = invoke("run-report", report_id, env=moodle)
    assert gone.returncode == 2


@pytest.mark.parametrize(
    ("sql", "rule"),
    [
        ("DELETE FROM {user}", "data-modifying statement"),
        ("SELECT password FROM {user}", "denied column"),
        ("SELECT id FROM mdl_user", "hard-coded prefix"),
        ("SELECT * FROM {sessions}", "denied table"),
    ],
)
def test_unsafe_custom_sql_is_refused_with_the_rule(
    moodle: dict[str, str], tmp_path: Path, sql: str, rule: str
) -> None:
    query = tmp_path / "bad.sql"
    query.write_text(sql, encoding="utf-8")
    result = invoke("reports", "create", "--name", "bad", "--sql-file", str(query), env=moodle)
    assert result.returncode == 2
    assert f"Rejected ({rule})" in result.stderr.decode()


def test_config_built_report(moodle: dict[str, str], tmp_path: Path) -> None:
    described = tmp_path / "report.toml"
    described.write_text(
        'source = "enrolments"\ncolumns = ["username", "course_shortname"]\n'
        '[[sort]]\nfield = "username"\ndir = "desc"\n',
        encoding="utf-8",
    )
    created = invoke(
        "reports", "create", "--name", "built", "--config-file", str(described), env=moodle
    )
    assert created.returncode == 0, created.stderr
    ran = invoke("run-report", "built", "-f", "json", env=moodle)
    assert ran.returncode == 0, ran.stderr
    assert [r["username"] for r in json.loads(ran.stdout)] == ["olga", "lukasz"]


def test_row_cap_warns_and_marks_the_run(moodle: dict[str, str]) -> None:
    env = {**moodle, "MANIREPORTS_REPORTS_MAX_ROWS": "1"}
    result = invoke("run-report", "course_completion", "-f", "csv", env=env)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.decode().splitlines()) == 2
    assert "stopped at [reports] max_rows (1 rows)" in result.stderr.decode()
    from manireports.state import StateDB, list_runs

    runs = list_runs(StateDB(moodle["MANIREPORTS_STATE_URL"]))
    assert runs[0]["error"] == "stopped at [reports] max_rows = 1 rows"
    assert runs[0]["rowcount"] == 1 and runs[0]["status"] == "completed"


def test_custom_report_without_userid_is_refused_under_a_scope(
    moodle: dict[str, str], tmp_path: Path
) -> None:
    query = tmp_path / "courses.sql"
    query.write_text("SELECT c.shortname FROM {course} c", encoding="utf-8")
    created = invoke("reports", "create", "--name", "courses", "--sql-file", str(query), env=moodle)
    assert created.returncode == 0, created.stderr
    assert invoke("run-report", "courses", env=moodle).returncode == 0
    scoped = invoke("run-report", "courses", "--as-user", "olga", env=moodle)
    assert scoped.returncode == 3
    assert "has no userid column to limit it to what olga may see" in scoped.stderr.decode()
    assert scoped.stdout == b""


def test_db_check_reports_both_databases(moodle: dict[str, str], tmp_path: Path) -> None:
    result = invoke("db", "check", env=moodle)
    out = result.stdout.decode()
    assert result.returncode == 0, result.stderr
    assert "Moodle database: sqlite" in out and "Moodle release: 4.5" in out
    assert "IOMAD: yes (classic tables)" in out and "SCORM schema: 4.3+" in out
    assert "State schema: up to date" in out
    behind = {**moodle, "MANIREPORTS_STATE_URL": f"sqlite:///{tmp_path / 'empty.sqlite'}"}
    result = invoke("db", "check", env=behind)
    assert result.returncode == 4
    assert "manireports db upgrade" in result.stderr.decode()
    assert "State schema: behind" in result.stdout.decode()
