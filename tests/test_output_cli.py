"""What the operator sees: the terminal through a pseudo-terminal, CSV files, listings, dates.

The terminal tests run the command line on a real pty and read the bytes the terminal receives;
the rest read files back with csv, openpyxl and json, as a program would.
"""

from __future__ import annotations

import csv
import fcntl
import io
import json
import os
import pty
import struct
import subprocess
import sys
import termios
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import openpyxl
import pytest

from tests.cli_runner import REPO, invoke
from tests.moodle_site import MoodleSite

HOSTILE = {
    "username": "[red]alert[/red]",
    "firstname": "[old] Induction",
    "lastname": "a [b] c",
    "email": "x\x1b]0;owned\x07\x1b[2Jy@example.org",
    "city": '=HYPERLINK("http://evil.example/","click")',
    "institution": "+1+2",
    "department": "-12.5",
    "address": "@SUM(A1)",
}
USERS_SQL = """
SELECT u.username, u.firstname, u.lastname, u.email, u.city, u.institution, u.department,
       u.address
  FROM {user} u
 WHERE u.username = '[red]alert[/red]'
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    tmp_path = tmp_path_factory.mktemp("terminal")
    url = f"sqlite:///{tmp_path / 'moodle.sqlite'}"
    moodle = MoodleSite(url)
    hostile = moodle.user(
        HOSTILE["username"], **{k: v for k, v in HOSTILE.items() if k != "username"}
    )
    moodle.dispose()
    env = {
        "MANIREPORTS_MOODLE_URL": url,
        "MANIREPORTS_STATE_URL": f"sqlite:///{tmp_path / 'state.sqlite'}",
        "MANIREPORTS_SITE_TIMEZONE": "Europe/Paris",
        "TMP": str(tmp_path),
        "HOSTILE_ID": str(hostile),
    }
    assert invoke("db", "upgrade", env=env).returncode == 0
    sql = tmp_path / "users.sql"
    sql.write_text(USERS_SQL, encoding="utf-8")
    made = invoke(
        "reports", "create", "--name", "hostile", "--sql-file", str(sql),
        "--description", "Feeds [analytics.engagement] weights", env=env,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    config = tmp_path / "labels.toml"
    config.write_text(
        'source = "users"\n'
        'columns = [{ field = "username", label = "Login name" }, '
        '{ field = "email", label = "E-mail address" }]\n',
        encoding="utf-8",
    )
    made = invoke("reports", "create", "--name", "labelled", "--config-file", str(config), env=env)
    assert made.returncode == 0, made.stderr
    yield env


def on_terminal(env: dict[str, str], *args: str) -> tuple[int, str]:
    """Run the command line with stdout on a 200-column pseudo-terminal; what it received."""
    main, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
    environ = {**os.environ, **env, "PYTHONPATH": str(REPO), "TERM": "xterm-256color"}
    environ.pop("NO_COLOR", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "manireports", *args],
        stdout=secondary,
        stderr=secondary,
        stdin=subprocess.DEVNULL,
        env=environ,
    )
    os.close(secondary)
    received = b""
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        received += chunk
    os.close(main)
    return process.wait(timeout=60), received.decode("utf-8")


def test_table_shows_values_as_written_never_as_markup(site: dict[str, str]) -> None:
    code, screen = on_terminal(site, "run-report", "hostile", "-f", "table")
    assert code == 0, screen
    for value in ("[red]alert[/red]", "[old] Induction", "a [b] c", "@SUM(A1)", "-12.5"):
        assert value in screen
    # The ESC and BEL of the e-mail address arrive as visible escapes, never raw.
    assert "x\\x1b]0;owned\\x07\\x1b[2Jy@example.org" in screen
    assert "\x1b]0;owned" not in screen and "\x1b[2J" not in screen


def test_records_escape_control_characters(site: dict[str, str]) -> None:
    code, screen = on_terminal(site, "run-report", "hostile", "-f", "records")
    assert code == 0, screen
    assert "username     [red]alert[/red]" in screen
    assert "\\x1b]0;owned\\x07" in screen and "\x1b]0;owned" not in screen


def test_reports_list_descriptions_are_text(site: dict[str, str]) -> None:
    code, screen = on_terminal(site, "reports", "list")
    assert code == 0
    assert "[analytics.engagement]" in screen.replace("\r\n", "\n").replace("│\n│", "")


def test_config_report_labels_in_table_and_csv_headers(site: dict[str, str]) -> None:
    code, screen = on_terminal(site, "run-report", "labelled", "--limit", "1")
    assert code == 0 and "Login name" in screen and "E-mail address" in screen
    done = invoke("run-report", "labelled", "-f", "csv", "--limit", "1", env=site)
    assert done.stdout.decode().splitlines()[0] == "Login name,E-mail address"
    target = Path(site["TMP"]) / "labelled.xlsx"
    assert invoke("run-report", "labelled", "-o", str(target), env=site).returncode == 0
    header = [cell.value for cell in openpyxl.load_workbook(target).active[1]]
    assert header == ["Login name", "E-mail address"]


def test_csv_formula_guard_on_files_off_on_stdout(site: dict[str, str]) -> None:
    target = Path(site["TMP"]) / "guarded.csv"
    assert invoke("run-report", "hostile", "-o", str(target), env=site).returncode == 0
    row = next(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert row["city"] == "'" + HOSTILE["city"]
    assert row["institution"] == "'+1+2"
    assert row["address"] == "'@SUM(A1)"
    assert row["department"] == "-12.5"  # a number, not a formula
    assert row["username"] == HOSTILE["username"]
    piped = invoke("run-report", "hostile", "-f", "csv", env=site)
    row = next(csv.DictReader(io.StringIO(piped.stdout.decode())))
    assert row["city"] == HOSTILE["city"] and row["address"] == "@SUM(A1)"
    off = invoke(
        "run-report",
        "hostile",
        "-o",
        str(target),
        env={**site, "MANIREPORTS_EXPORT_CSV_FORMULA_GUARD": "false"},
    )
    assert off.returncode == 0, off.stderr
    row = next(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert row["city"] == HOSTILE["city"]


def test_format_and_file_name_must_agree(site: dict[str, str], tmp_path: Path) -> None:
    done = invoke("run-report", "hostile", "-f", "pdf", "-o", str(tmp_path / "out.csv"), env=site)
    assert done.returncode == 2 and not (tmp_path / "out.csv").exists()
    assert "does not match the file name" in done.stderr.decode()
    done = invoke("run-report", "hostile", "-o", str(tmp_path), env=site)
    assert done.returncode == 2
    assert done.stderr.decode() == (
        f"Error: '{tmp_path}' is a directory; give -o a file name such as report.csv.\n"
    )


@pytest.mark.parametrize("command", [["reports", "list"], ["audit", "list"], ["companies"]])
def test_listings_write_xlsx_and_pdf_files(
    site: dict[str, str], tmp_path: Path, command: list[str]
) -> None:
    target = tmp_path / "listing.xlsx"
    done = invoke(*command, "-o", str(target), env=site)
    assert done.returncode == 0, done.stderr
    assert openpyxl.load_workbook(target).active.max_row >= 1
    pdf = tmp_path / "listing.pdf"
    assert invoke(*command, "-o", str(pdf), env=site).returncode == 0
    assert pdf.read_bytes().startswith(b"%PDF-")


def test_help_lists_records_and_flags_go_anywhere(site: dict[str, str]) -> None:
    helped = invoke("run-report", "--help", env={**site, "COLUMNS": "200"})
    assert "table, records, csv" in helped.stdout.decode()
    loud = invoke("reports", "list", "-o", str(Path(site["TMP"]) / "r.csv"), "-v", env=site)
    assert loud.returncode == 0 and "Wrote" in loud.stderr.decode()
    quiet = invoke("run-report", "hostile", "-f", "csv", "-q", env=site)
    assert quiet.returncode == 0 and quiet.stderr == b""


def test_dates_in_site_time_and_details_encoded_once(site: dict[str, str]) -> None:
    shown = json.loads(invoke("reports", "show", "hostile", env=site).stdout)
    created = datetime.strptime(shown["timecreated"], "%Y-%m-%d %H:%M:%S")
    # Paris is one or two hours ahead of UTC; the stored value is Unix seconds.
    now = datetime.now(UTC).replace(tzinfo=None)
    assert 0 < (created - now).total_seconds() / 3600 + 0.1 < 2.2
    audit = json.loads(invoke("audit", "list", "-f", "json", "--limit", "50", env=site).stdout)
    created_entry = next(e for e in audit if e["action"] == "report_created")
    assert isinstance(created_entry["details"], dict)
    listed = invoke("audit", "list", "-f", "csv", "--limit", "50", env=site).stdout.decode()
    row = next(r for r in csv.DictReader(io.StringIO(listed)) if r["action"] == "report_created")
    assert json.loads(row["details"]) == created_entry["details"]
    assert row["time"] == created_entry["time"] and ":" in row["time"]


def test_privacy_export_dates_in_site_time(site: dict[str, str]) -> None:
    ran = invoke(
        "run-report", "course_completion", "--as-user", site["HOSTILE_ID"], "-f", "csv", env=site
    )
    assert ran.returncode == 0, ran.stderr
    exported = json.loads(
        invoke("privacy", "export", "--user", site["HOSTILE_ID"], env=site).stdout
    )
    run = exported["report_runs"][0]
    for key in ("timestarted", "timefinished"):
        assert isinstance(run[key], str)
        datetime.strptime(run[key], "%Y-%m-%d %H:%M:%S")
