"""What the operator gets is the same on every engine: order, numbers, bad bytes, pipes.

A small site on each real server (SQLite, MariaDB, PostgreSQL), custom reports created and run
through the command line, and the output read back as a program would: csv/json parsers,
openpyxl, shell pipelines under `set -o pipefail`, real signals.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import openpyxl
import pytest
import sqlalchemy as sa

from tests.cli_runner import REPO, invoke
from tests.conftest import ENGINES, fresh_database
from tests.moodle_site import MoodleSite


def _ts(text: str) -> int:
    return int(datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC).timestamp())


# Newest first: under --as-user the scope wraps this query, and MariaDB used to drop the order.
NEWEST_FIRST = """
SELECT ue.userid, c.shortname, ue.timecreated AS enrolled
  FROM {user_enrolments} ue
  JOIN {enrol} e ON e.id = ue.enrolid
  JOIN {course} c ON c.id = e.courseid
 ORDER BY ue.timecreated DESC
"""
# alice has three enrolments of status 0 (AVG(37.5 + 0) = 37.5, AVG(100 + 0) = 100).
NUMBERS = """
SELECT u.username, AVG(37.5 + ue.status) AS score, AVG(100 + ue.status) AS full_marks,
       COUNT(ue.id) - 5 AS below
  FROM {user} u
  JOIN {user_enrolments} ue ON ue.userid = u.id
 WHERE u.username = 'alice'
 GROUP BY u.username
"""
BIG = "SELECT a.id AS a, b.id AS b, c.id AS c FROM {user} a, {user} b, {user} c"
"""61 users cubed: 226,981 rows, far more than a pipe holds, and seconds of work."""
HUGE = (
    "SELECT a.id AS a, b.id AS b, c.id AS c, d.id AS d FROM {user} a, {user} b, {user} c, {user} d"
)
"""61 users to the fourth: minutes of work, so a signal sent after seconds finds it running."""


@pytest.fixture(scope="module", params=ENGINES)
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    tmp_path = tmp_path_factory.mktemp(f"site_{request.param}")
    databases = fresh_database(request.param, tmp_path)
    url = next(databases)
    moodle = MoodleSite(url)
    alice = moodle.user("alice")
    for number in range(60):
        moodle.user(f"learner{number:02d}")
    # Inserted oldest first, so table order is the opposite of the report's order.
    for day, name in (("2024-01-10", "C1"), ("2024-02-10", "C2"), ("2024-03-10", "C3")):
        moodle.enrol(alice, moodle.course(name), timecreated=_ts(day))
    moodle.dispose()
    env = {
        "MANIREPORTS_MOODLE_URL": url,
        "MANIREPORTS_STATE_URL": f"sqlite:///{tmp_path / 'state.sqlite'}",
        "MANIREPORTS_SITE_TIMEZONE": "UTC",
        "ENGINE": request.param,
    }
    assert invoke("db", "upgrade", env=env).returncode == 0
    for name, sql in (("newest", NEWEST_FIRST), ("numbers", NUMBERS), ("big", BIG), ("huge", HUGE)):
        path = tmp_path / f"{name}.sql"
        path.write_text(sql, encoding="utf-8")
        created = invoke("reports", "create", "--name", name, "--sql-file", str(path), env=env)
        assert created.returncode == 0, created.stderr
    env["TMP"] = str(tmp_path)
    yield env
    next(databases, None)


def test_order_by_survives_the_scope_on_every_engine(site: dict[str, str]) -> None:
    for as_user in ([], ["--as-user", "alice"]):
        done = invoke("run-report", "newest", "-f", "csv", *as_user, env=site)
        assert done.returncode == 0, done.stderr
        rows = list(csv.DictReader(io.StringIO(done.stdout.decode())))
        assert [row["shortname"] for row in rows] == ["C3", "C2", "C1"], as_user


def test_one_number_format_on_every_engine_and_format(site: dict[str, str]) -> None:
    done = invoke("run-report", "numbers", "-f", "csv", env=site)
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().splitlines()[1] == "alice,37.5,100,-2"
    as_json = json.loads(invoke("run-report", "numbers", "-f", "json", env=site).stdout)
    assert as_json == [{"username": "alice", "score": 37.5, "full_marks": 100, "below": -2}]
    assert json.dumps(as_json[0]["full_marks"]) == "100"
    tsv = invoke("run-report", "numbers", "-f", "tsv", env=site).stdout.decode()
    assert tsv.splitlines()[1] == "alice\t37.5\t100\t-2"
    target = Path(site["TMP"]) / f"numbers-{site['ENGINE']}.xlsx"
    assert invoke("run-report", "numbers", "-o", str(target), env=site).returncode == 0
    sheet = openpyxl.load_workbook(target).active
    assert [cell.value for cell in sheet[2]] == ["alice", 37.5, 100, -2]


def test_formula_guard_keeps_negative_numbers_numbers(site: dict[str, str]) -> None:
    target = Path(site["TMP"]) / f"numbers-{site['ENGINE']}.csv"
    assert invoke("run-report", "numbers", "-o", str(target), env=site).returncode == 0
    assert target.read_text(encoding="utf-8").splitlines()[1] == "alice,37.5,100,-2"


def _pipeline(command: str, site: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    environ = {**os.environ, **site, "PYTHONPATH": str(REPO)}
    script = f"set -o pipefail; {shlex.quote(sys.executable)} -m manireports {command}"
    return subprocess.run(
        ["bash", "-c", script], capture_output=True, env=environ, timeout=300, check=False
    )


@pytest.mark.parametrize("fmt", ["csv", "tsv", "json", "jsonl", "xlsx", "html", "table"])
def test_a_reader_that_stops_early_gets_silence(site: dict[str, str], fmt: str) -> None:
    # 20,000 rows are more than a pipe holds, so the reader closes first.
    done = _pipeline(f"run-report big --limit 20000 -f {fmt} | head -c 10 > /dev/null", site)
    assert done.stderr == b"", done.stderr.decode()
    # The output was cut short, so the run did not deliver it: exit 1, as documented.
    assert done.returncode == 1


def test_limit_zero_and_a_full_disk(site: dict[str, str]) -> None:
    done = _pipeline("run-report big --limit 0 -f csv", site)
    assert (done.returncode, done.stdout, done.stderr) == (0, b"a,b,c\r\n", b"")
    for fmt in ("csv", "xlsx", "json"):
        full = _pipeline(f"run-report big --limit 20000 -f {fmt} > /dev/full", site)
        assert full.returncode == 1
        assert full.stderr.decode() == "Error: cannot write the output: No space left on device.\n"


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_and_sigterm_during_a_query(site: dict[str, str]) -> None:
    environ = {**os.environ, **site, "PYTHONPATH": str(REPO)}
    for sent, code, message in (
        (signal.SIGINT, 130, "Interrupted.\n"),
        (signal.SIGTERM, 143, "Stopped by SIGTERM.\n"),
    ):
        process = subprocess.Popen(
            [sys.executable, "-m", "manireports", "run-report", "huge", "-f", "csv"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=environ,
            # A suite started in the background by a script inherits SIGINT ignored (the shell
            # does that to background jobs), and so would the command: give it an operator's.
            preexec_fn=_default_sigint,
        )
        time.sleep(3)
        process.send_signal(sent)
        _, err = process.communicate(timeout=120)
        assert (process.returncode, err.decode()) == (code, message)


def test_bad_bytes_are_replaced_and_named_once(site: dict[str, str]) -> None:
    engine = sa.create_engine(site["MANIREPORTS_MOODLE_URL"])
    kind = site["ENGINE"]
    with engine.begin() as connection:
        if kind == "mariadb":
            # A VARBINARY column holding bytes that are not UTF-8.
            connection.execute(sa.text("ALTER TABLE mdl_user MODIFY lastname VARBINARY(100)"))
            connection.execute(
                sa.text("UPDATE mdl_user SET lastname = :b WHERE username LIKE 'learner0%'"),
                {"b": b"Gro\xdf"},
            )
        elif kind == "sqlite":
            # SQLite keeps whatever bytes it is given as TEXT.
            connection.execute(
                sa.text(
                    "UPDATE mdl_user SET lastname = CAST(X'47726FDF' AS TEXT) "
                    "WHERE username LIKE 'learner0%'"
                )
            )
        else:
            # PostgreSQL refuses text that is not UTF-8; a bytea column holds any bytes.
            connection.execute(
                sa.text(
                    "ALTER TABLE mdl_user ALTER COLUMN lastname TYPE bytea "
                    "USING convert_to(lastname, 'UTF8')"
                )
            )
            connection.execute(
                sa.text("UPDATE mdl_user SET lastname = :b WHERE username LIKE 'learner0%'"),
                {"b": b"Gro\xdf"},
            )
    engine.dispose()
    sql = Path(site["TMP"]) / "names.sql"
    sql.write_text(
        "SELECT u.username, u.lastname FROM {user} u WHERE u.username LIKE 'learner0%' "
        "ORDER BY u.username",
        encoding="utf-8",
    )
    assert (
        invoke("reports", "create", "--name", "names", "--sql-file", str(sql), env=site).returncode
        == 0
    )
    warning = "column 'lastname' (10 rows)"
    for fmt in ("csv", "json", "html", "records"):
        done = invoke("run-report", "names", "-f", fmt, env=site)
        assert done.returncode == 0, done.stderr
        text = done.stdout.decode("utf-8")
        assert "Gro\ufffd" in text and "b'" not in text
        assert done.stderr.decode().count("U+FFFD") == 1 and warning in done.stderr.decode()
    target = Path(site["TMP"]) / "names.xlsx"
    done = invoke("run-report", "names", "-o", str(target), env=site)
    assert done.returncode == 0, done.stderr
    values = [row[1].value for row in openpyxl.load_workbook(target).active.iter_rows(min_row=2)]
    assert values == ["Gro\ufffd"] * 10
    quiet = invoke("-q", "run-report", "names", "-f", "csv", env=site)
    assert quiet.returncode == 0 and quiet.stderr == b""
