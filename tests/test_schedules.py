"""Schedules end to end: the real command line, a real SMTP server
(aiosmtpd) receiving the mails, a hand-made Moodle site and the state database on SQLite."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from manireports.state import StateDB, list_audit
from manireports.state import tables as t
from tests.cli_runner import invoke
from tests.schedule_support import (
    Inbox,
    SmtpServer,
    attachment,
    body,
    build_site,
    environment,
    free_port,
)

PAST = "2026-01-05 06:00"


@dataclass
class World:
    env: dict[str, str]
    ids: dict[str, int]
    inbox: Inbox
    server: SmtpServer
    state: StateDB
    tmp: Path

    def cli(self, *args: str, **extra: str) -> tuple[int, str, str]:
        result = invoke(*args, env={**self.env, **extra})
        return result.returncode, result.stdout.decode(), result.stderr.decode()

    def add(self, *args: str, **extra: str) -> int:
        code, out, err = self.cli("schedule", "add", *args, **extra)
        assert code == 0, err
        return int(out.strip())


@pytest.fixture
def world(tmp_path: Path, sqlite_url: str) -> Iterator[World]:
    ids = build_site(tmp_path / "moodle.sqlite")
    inbox = Inbox()
    server = SmtpServer(inbox, free_port())
    server.start()
    env = environment(tmp_path, tmp_path / "moodle.sqlite", sqlite_url, server.port)
    state = StateDB(sqlite_url)
    state.upgrade()
    try:
        yield World(env, ids, inbox, server, state, tmp_path)
    finally:
        server.stop()
        state.close()


def _csv_rows(data: bytes) -> list[dict[str, str]]:
    # Scheduled CSV carries a BOM for Excel.
    assert data.startswith(b"\xef\xbb\xbf")
    return list(csv.DictReader(io.StringIO(data[3:].decode())))


def _deliveries(state: StateDB) -> list[tuple[str, str]]:
    with state.begin() as connection:
        rows = connection.execute(
            sa.select(t.deliveries.c.recipient, t.deliveries.c.status).order_by(
                t.deliveries.c.recipient
            )
        ).all()
    return [(str(r[0]), str(r[1])) for r in rows]


def test_add_list_show_and_run_due_mails_each_recipient_their_view(world: World) -> None:
    sid = world.add(
        "--report", "course_completion", "--name", "Daily completion", "--frequency", "daily",
        "--at", "02:30", "--start", "2026-01-05 02:30", "--format", "csv",
        "--recipient", "tina", "--recipient", "boss@school.example",
    )  # fmt: skip
    code, out, _ = world.cli("schedule", "list", "--format", "csv")
    assert code == 0
    listed = list(csv.DictReader(io.StringIO(out)))
    assert [(r["id"], r["recurrence"], r["recipients"]) for r in listed] == [
        (str(sid), "daily at 02:30", "2")
    ]
    code, out, _ = world.cli("schedule", "show", str(sid))
    shown = json.loads(out)
    assert shown["recipients"] == [f"user {world.ids['tina']}", "boss@school.example"]
    assert shown["next_run"] == "2026-01-05 02:30 EST"

    code, _, err = world.cli("jobs", "run-due")
    assert code == 0, err
    assert world.inbox.count() == {"tina@school.example": 1, "boss@school.example": 1}
    # tina teaches course A: its two learners. The operator's view (for the plain address): 3.
    name, data = attachment(world.inbox.to("tina@school.example")[0])
    assert name.endswith(f"-user{world.ids['tina']}.csv") and name.startswith("daily-completion")
    assert sorted(r["username"] for r in _csv_rows(data)) == ["sam", "sue"]
    boss = world.inbox.to("boss@school.example")[0]
    assert sorted(r["username"] for r in _csv_rows(attachment(boss)[1])) == ["bob", "sam", "sue"]
    # Period of the 2026-01-05 occurrence: the previous day.
    assert boss["Subject"] == "Daily completion: course_completion for 2026-01-04"
    assert "3 rows" in body(boss)

    # Next run: the first 02:30 after now, whatever today is; a second run-due sends nothing.
    code, _, err = world.cli("jobs", "run-due")
    assert code == 0, err
    assert sum(world.inbox.count().values()) == 2
    actions = [e["action"] for e in list_audit(world.state) if e["objecttype"] == "schedule"]
    assert actions == ["schedule_run", "schedule_created"]
    files = sorted(p.name for p in (world.tmp / "files" / "schedules" / str(sid)).iterdir())
    assert len(files) == 2


def test_pause_resume_delete_are_audited(world: World) -> None:
    sid = world.add(
        "--report", "course_completion", "--name", "Weekly", "--frequency", "weekly",
        "--weekday", "friday", "--start", PAST, "--format", "xlsx", "--recipient", "olaf",
    )  # fmt: skip
    assert world.cli("schedule", "pause", str(sid))[0] == 0
    assert world.cli("jobs", "run-due")[0] == 0
    assert world.inbox.messages == []  # paused: nothing runs
    code, _, err = world.cli("schedule", "resume", str(sid))
    assert code == 0 and "next run" in err
    # Resumed after its start went by: the missed run is not caught up.
    assert world.cli("jobs", "run-due")[0] == 0
    assert world.inbox.messages == []
    assert world.cli("schedule", "delete", str(sid))[0] == 0
    code, _, err = world.cli("schedule", "show", str(sid))
    assert code == 2 and "no schedule" in err
    actions = [e["action"] for e in list_audit(world.state)]
    assert actions == [
        "schedule_deleted", "schedule_resumed", "schedule_paused", "schedule_created"
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--report", "nope"], "no report called 'nope'"),
        (["--at", "25:00"], "not a time of day"),
        (["--weekday", "monday"], "--weekday goes only with --frequency weekly"),
        (["--recipient", "nobody"], "no Moodle user 'nobody'"),
        (["--param", "colour=red"], "colour"),
        (["--format", "table"], "--format must be one of"),
    ],
)
def test_bad_schedules_are_refused_with_exit_2(world: World, args: list[str], message: str) -> None:
    base = {
        "--report": "course_completion", "--name": "x", "--frequency": "daily",
        "--format": "csv", "--recipient": "olaf",
    }  # fmt: skip
    given = dict(zip(args[::2], args[1::2], strict=True))
    merged = [item for key, value in {**base, **given}.items() for item in (key, value)]
    code, _, err = world.cli("schedule", "add", *merged)
    assert code == 2, err
    assert message in err and "Traceback" not in err


def test_mail_server_down_then_up_every_mail_arrives_once(world: World) -> None:
    world.add(
        "--report", "course_completion", "--name", "Daily", "--frequency", "daily",
        "--start", PAST, "--format", "csv", "--recipient", "tina", "--recipient", "olaf",
    )  # fmt: skip
    world.server.stop()
    code, _, err = world.cli("jobs", "run-due")
    # Not failed for good (retry 1 of 3 is queued): run-due stays silent for cron; the retry is
    # in the audit log, and said with -v.
    assert code == 0 and err == "", err
    assert _deliveries(world.state) == [
        ("olaf@school.example", "pending"), ("tina@school.example", "pending")
    ]  # fmt: skip
    world.server.start()
    # The server is up but refuses olaf for now: tina gets hers, olaf stays pending.
    world.inbox.refuse.add("olaf@school.example")
    code, _, err = world.cli("--verbose", "jobs", "run-due")
    assert code == 0 and "retry 2 of 3" in err
    assert world.inbox.count() == {"tina@school.example": 1}
    world.inbox.refuse.clear()
    code, _, err = world.cli("jobs", "run-due")
    assert code == 0, err
    # Every mail once; the retries re-used the files made by the first attempt.
    assert world.inbox.count() == {"tina@school.example": 1, "olaf@school.example": 1}
    assert _deliveries(world.state) == [
        ("olaf@school.example", "sent"), ("tina@school.example", "sent")
    ]  # fmt: skip
    with world.state.begin() as connection:
        assert (
            connection.execute(sa.select(sa.func.count()).select_from(t.report_runs)).scalar() == 2
        )
    actions = [e["action"] for e in list_audit(world.state) if e["action"].startswith("schedule")]
    assert actions == ["schedule_run", "schedule_retry", "schedule_retry", "schedule_created"]


def test_owner_is_told_after_the_last_retry_and_run_due_exits_1(world: World) -> None:
    world.add(
        "--report", "course_completion", "--name", "Doomed", "--frequency", "monthly",
        "--day", "31", "--start", PAST, "--format", "csv", "--recipient", "tina",
        "--owner", "olaf", MANIREPORTS_SCHEDULE_RETRIES="1",
    )  # fmt: skip
    world.inbox.refuse.add("tina@school.example")
    extra = {"MANIREPORTS_SCHEDULE_RETRIES": "1"}
    code, _, err = world.cli("jobs", "run-due", **extra)
    assert code == 0 and err == "", err
    assert world.inbox.messages == []
    code, _, err = world.cli("jobs", "run-due", **extra)
    assert code == 1  # failed for good: now stderr says so
    assert "failed after 2 attempts" in err and "Traceback" not in err
    assert world.inbox.count() == {"olaf@school.example": 1}
    notice = world.inbox.to("olaf@school.example")[0]
    # The 2026-01-05 occurrence of a monthly schedule covers December 2025.
    assert (
        notice["Subject"] == "Schedule failed: Doomed (course_completion, 2025-12-01 to 2025-12-31)"
    )
    assert "Not delivered to: tina@school.example\n" in body(notice).replace("\r", "")
    assert "refused the recipient(s) tina@school.example (451 try again later)" in body(notice)
    assert _deliveries(world.state) == [("tina@school.example", "failed")]
    code, _, _ = world.cli("jobs", "run-due", **extra)
    assert code == 0  # moved on to its next run, which is not due yet


def test_too_large_to_attach_names_the_file_on_disk(world: World) -> None:
    world.add(
        "--report", "course_completion", "--name", "Big", "--frequency", "daily",
        "--start", PAST, "--format", "csv", "--recipient", "olaf",
    )  # fmt: skip
    code, _, err = world.cli("jobs", "run-due", MANIREPORTS_EMAIL_MAX_ATTACHMENT_MB="0.0001")
    assert code == 0, err
    (message,) = world.inbox.to("olaf@school.example")
    assert list(message.iter_attachments()) == []
    text = body(message)
    stored = [p for p in (world.tmp / "files").rglob("*.csv")]
    assert len(stored) == 1 and str(stored[0]) in text and "too large to attach" in text


def test_skip_empty_mails_nobody_and_moves_on(world: World) -> None:
    world.add(
        "--report", "course_completion", "--name", "Empty", "--frequency", "daily",
        "--start", PAST, "--format", "csv", "--recipient", "olaf", "--skip-empty",
        "--param", "courseid=999",
    )  # fmt: skip
    code, _, err = world.cli("jobs", "run-due")
    assert code == 0, err
    assert world.inbox.messages == []
    assert _deliveries(world.state) == [("olaf@school.example", "skipped")]
    (run,) = [e for e in list_audit(world.state) if e["action"] == "schedule_run"]
    assert run["details"]["skipped"] == ["olaf@school.example"]


def test_templates_can_be_overridden(world: World) -> None:
    folder = world.tmp / "templates"
    folder.mkdir()
    (folder / "report_subject.txt.j2").write_text("[{{ host }}] {{ report }} {{ rows }}\n")
    world.add(
        "--report", "course_completion", "--name", "T", "--frequency", "daily",
        "--start", PAST, "--format", "csv", "--recipient", "boss@school.example",
    )  # fmt: skip
    code, _, err = world.cli("jobs", "run-due", MANIREPORTS_EMAIL_TEMPLATES_DIR=str(folder))
    assert code == 0, err
    (message,) = world.inbox.to("boss@school.example")
    assert message["Subject"].endswith("] course_completion 3")
    # The body is still the packaged one.
    assert ".csv, 3 rows)" in body(message)


def test_custom_report_gets_the_schedule_period(world: World) -> None:
    sql = world.tmp / "period.sql"
    sql.write_text(
        "SELECT u.id AS userid, u.username, %%STARTTIME%% AS periodstart, "
        "%%ENDTIME%% AS periodend FROM {user} u WHERE u.username = 'olaf'"
    )
    code, _out, err = world.cli("reports", "create", "--name", "Period", "--sql-file", str(sql))
    assert code == 0, err
    world.add(
        "--report", "Period", "--name", "P", "--frequency", "daily", "--at", "02:30",
        "--start", "2026-03-09 02:30", "--format", "csv", "--recipient", "boss@school.example",
    )  # fmt: skip
    code, _, err = world.cli("jobs", "run-due")
    assert code == 0, err
    (row,) = _csv_rows(attachment(world.inbox.to("boss@school.example")[0])[1])
    # The run on 9 March covers 8 March in New York: 00:00 EST (05:00 UTC) to 00:00 EDT
    # (04:00 UTC on the 9th), a 23-hour day of 82,800 seconds.
    start = int(datetime(2026, 3, 8, 5, 0, tzinfo=UTC).timestamp())
    assert (int(row["periodstart"]), int(row["periodend"])) == (start, start + 82_800)


def test_schedule_run_now_and_the_report_in_use_cannot_be_deleted(world: World) -> None:
    sql = world.tmp / "olaf.sql"
    sql.write_text("SELECT u.id AS userid, u.username FROM {user} u WHERE u.username = 'olaf'")
    assert world.cli("reports", "create", "--name", "Olaf", "--sql-file", str(sql))[0] == 0
    sid = world.add(
        "--report", "Olaf", "--name", "Now", "--frequency", "cron", "--cron", "0 7 * * 1",
        "--format", "csv", "--recipient", "boss@school.example",
    )  # fmt: skip
    code, _, err = world.cli("schedule", "run", str(sid))
    assert code == 0, err
    assert world.inbox.count() == {"boss@school.example": 1}
    code, _, err = world.cli("reports", "delete", "Olaf")
    assert code == 2 and "Now" in err
    world.server.stop()
    # A manual run's deliveries are those of its second: a second run within the same second
    # finds them sent. Wait for the next second so this run has mail of its own to send.
    started = int(time.time())
    while int(time.time()) == started:
        time.sleep(0.05)
    code, _, err = world.cli("schedule", "run", str(sid))
    assert code == 1 and "could not be reached" in err and "Traceback" not in err


def test_a_period_report_sends_the_period_and_a_state_report_says_as_of(world: World) -> None:
    # Everyone was enrolled on 2026-01-04. The 2026-01-05 daily run of course_completion covers
    # 2026-01-04: the three enrolments. The 2026-01-07 run covers 2026-01-06: none of them.
    for start in ("2026-01-05 06:00", "2026-01-07 06:00"):
        world.add(
            "--report", "course_completion", "--name", f"C {start[:10]}", "--frequency",
            "daily", "--start", start, "--format", "csv", "--recipient", "boss@school.example",
        )  # fmt: skip
    world.add(
        "--report", "course_progress", "--name", "Progress", "--frequency", "daily",
        "--start", "2026-01-05 06:00", "--format", "csv", "--recipient", "boss@school.example",
    )  # fmt: skip
    code, _, err = world.cli("jobs", "run-due")
    assert code == 0 and err == "", err
    mails = {m["Subject"]: m for m in world.inbox.to("boss@school.example")}
    assert set(mails) == {
        "C 2026-01-05: course_completion for 2026-01-04",
        "C 2026-01-07: course_completion for 2026-01-06",
        "Progress: course_progress as of 2026-01-05 06:00",
    }
    first = mails["C 2026-01-05: course_completion for 2026-01-04"]
    assert sorted(r["username"] for r in _csv_rows(attachment(first)[1])) == ["bob", "sam", "sue"]
    later = mails["C 2026-01-07: course_completion for 2026-01-06"]
    assert _csv_rows(attachment(later)[1]) == []
    assert 'course_completion" for 2026-01-06 is attached' in body(later)
    progress = mails["Progress: course_progress as of 2026-01-05 06:00"]
    text = body(progress)
    assert "as of 2026-01-05 06:00 is attached" in text and " for 20" not in text
    assert len(_csv_rows(attachment(progress)[1])) == 3


def test_a_recipient_who_may_not_see_the_report_is_refused_with_exit_3(world: World) -> None:
    # A report of courses only: a teacher sees the courses they teach, a plain user nothing.
    sql = world.tmp / "courses.sql"
    sql.write_text("SELECT c.id AS courseid, c.shortname FROM {course} c WHERE c.id > 1")
    assert world.cli("reports", "create", "--name", "Courses", "--sql-file", str(sql))[0] == 0
    code, out, err = world.cli(
        "schedule", "add", "--report", "Courses", "--name", "C", "--frequency", "daily",
        "--format", "csv", "--recipient", "tina", "--recipient", "olaf",
    )  # fmt: skip
    assert code == 3 and out == "", err
    assert f"user {world.ids['olaf']}" in err and "olaf" in err
    assert f"user {world.ids['tina']}" not in err and "Traceback" not in err
    assert world.cli("schedule", "list", "--format", "csv")[1].count("\n") <= 1  # nothing stored


def test_a_recipient_who_loses_access_is_skipped_audited_and_the_owner_told_once(
    world: World,
) -> None:
    sql = world.tmp / "courses.sql"
    sql.write_text("SELECT c.id AS courseid, c.shortname FROM {course} c WHERE c.id > 1")
    assert world.cli("reports", "create", "--name", "Courses", "--sql-file", str(sql))[0] == 0
    for start in ("2026-01-05 06:00", "2026-01-06 06:00"):
        world.add(
            "--report", "Courses", "--name", f"C {start[:10]}", "--frequency", "weekly",
            "--weekday", "monday" if start.endswith("05 06:00") else "tuesday", "--start", start,
            "--format", "csv", "--recipient", "tina", "--recipient", "boss@school.example",
        )  # fmt: skip
    # tina stops teaching course A.
    engine = sa.create_engine(world.env["MANIREPORTS_MOODLE_URL"])
    with engine.begin() as connection:
        connection.execute(
            sa.text("DELETE FROM mdl_role_assignments WHERE userid = :u"), {"u": world.ids["tina"]}
        )
    engine.dispose()
    code, _, err = world.cli("jobs", "run-due")
    assert code == 0 and err == "", err  # nothing failed: silent
    counts = world.inbox.count()
    assert "tina@school.example" not in counts
    assert counts["boss@school.example"] == 2
    # The owner (the operator: [email] from) is told once per run, not once per retry.
    notices = [m for m in world.inbox.messages if "may no longer see" in m[1]["Subject"]]
    assert len(notices) == 2
    assert all("tina@school.example" in body(m) for _a, m in notices)
    actions = [e["action"] for e in list_audit(world.state) if e["action"].startswith("schedule")]
    assert actions.count("schedule_recipient_refused") == 2
    assert "schedule_retry" not in actions and actions.count("schedule_run") == 2
    assert ("tina@school.example", "pending") not in _deliveries(world.state)
    # A second run-due does nothing more: the occurrences are done.
    code, _, err = world.cli("jobs", "run-due")
    assert code == 0 and err == ""
    assert len(world.inbox.messages) == 4


def test_pausing_a_paused_schedule_says_so(world: World) -> None:
    sid = world.add(
        "--report", "course_completion", "--name", "P", "--frequency", "daily",
        "--format", "csv", "--recipient", "olaf",
    )  # fmt: skip
    assert world.cli("schedule", "pause", str(sid))[0] == 0
    code, _, err = world.cli("schedule", "pause", str(sid))
    assert code == 2 and "already paused" in err
    assert world.cli("schedule", "resume", str(sid))[0] == 0
    code, _, err = world.cli("schedule", "resume", str(sid))
    assert code == 2 and "already active" in err
