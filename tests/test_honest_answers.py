"""Honest empty answers and mistakes, through the real command line.

An empty answer that is empty for want of setup says so on stderr; a mistake (a company that does
not exist, a parameter given twice, a cache type that does not exist) exits 2 naming it; a dry
run of reminders lists who would be mailed and sends nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa

from tests.cli_runner import invoke
from tests.cloud_support import (
    Ingest,
    cloud_env,
    course_with_learners,
    smtp_server,
    upgraded_state,
)
from tests.moodle_site import MoodleSite


def _env(tmp_path: Path) -> dict[str, str]:
    site = MoodleSite(f"sqlite:///{tmp_path / 'moodle.sqlite'}")
    course = site.course("A")
    site.enrol(site.user("ann"), course)
    site.insert("company", name="Alpha", shortname="alpha", code="A", city="", country="")
    site.dispose()
    state = upgraded_state(f"sqlite:///{tmp_path / 'state.sqlite'}")
    return {"MANIREPORTS_MOODLE_URL": site.url, "MANIREPORTS_STATE_URL": state}


def test_time_spent_before_time_tracking_says_how_to_start_it(tmp_path: Path) -> None:
    env = _env(tmp_path)
    before = invoke("run-report", "time_spent", "--format", "csv", env=env)
    assert before.returncode == 0, before.stderr
    assert before.stdout.decode().strip().count("\n") == 0  # the header alone
    message = before.stderr.decode()
    assert "Time tracking has not run yet" in message and "manireports time sync" in message
    synced = invoke("time", "sync", env=env)
    assert synced.returncode == 0, synced.stderr
    after = invoke("run-report", "time_spent", "--format", "csv", env=env)
    assert after.returncode == 0 and after.stderr == b"", after.stderr  # empty, but truly so


def test_mistakes_exit_2_and_say_what_is_wrong(tmp_path: Path) -> None:
    env = _env(tmp_path)
    cases = [
        (("run-report", "course_completion", "--company", "99"), "no IOMAD company 99"),
        (("companies", "--as-user", "admin"), None),
        (
            ("run-report", "course_completion", "--param", "courseid=2", "--param", "courseid=3"),
            "--param courseid is given twice ('2' and '3')",
        ),
        (("cache", "clear", "--type", "nosuch"), "There is no cache type 'nosuch'"),
    ]
    for args, message in cases:
        result = invoke(*args, env=env)
        if message is None:
            assert result.returncode == 0, result.stderr
            continue
        err = result.stderr.decode()
        assert result.returncode == 2, (args, err)
        assert message in err and "Traceback" not in err, (args, err)
        assert result.stdout == b""
    # A real cache type is still accepted.
    cleared = invoke("cache", "clear", "--type", "company_overview", env=env)
    assert cleared.returncode == 0, cleared.stderr


def test_send_reminders_dry_run_lists_and_sends_nothing(tmp_path: Path) -> None:
    moodle = f"sqlite:///{tmp_path / 'moodle.sqlite'}"
    state = upgraded_state(f"sqlite:///{tmp_path / 'state.sqlite'}")
    # 5 learners, the first completed: --only not-completed leaves 4; batch_size 3 -> 2 jobs.
    course, _users = course_with_learners(moodle, 5, completed=1)
    ingest = Ingest()
    try:
        with smtp_server() as (inbox, port):
            env = cloud_env(
                moodle, state, cloud_endpoint=ingest.url, cloud_batch_size="3",
                email_smtp_port=str(port),
            )  # fmt: skip
            result = invoke(
                "cloud", "send-reminders", "--course", str(course), "--only", "not-completed",
                "--dry-run", "--format", "json", env=env,
            )  # fmt: skip
            assert inbox.messages == []
    finally:
        ingest.close()
    assert result.returncode == 0, result.stderr
    listed = json.loads(result.stdout)
    assert [row["email"] for row in listed] == [f"learner{n}@example.org" for n in range(1, 5)]
    assert "4 recipients in 2 jobs would be sent; nothing was recorded or sent" in (
        result.stderr.decode()
    )
    assert ingest.jobs == []
    engine = sa.create_engine(state)
    with engine.connect() as connection:
        jobs = connection.execute(sa.text("SELECT COUNT(*) FROM manireports_cloud_jobs")).scalar()
    engine.dispose()
    assert jobs == 0
