"""cloud send-reminders and cloud retry end to end: the jobs a stand-in ingest endpoint receives,
the SMTP fallback through a real SMTP server, and what the state database records."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from manireports.app import App
from manireports.cloud.callbacks import handle_callback, signature_of
from manireports.config import load_config
from manireports.state import list_runs
from manireports.state.audit import list_audit
from manireports.state.store import StateDB
from tests.cli_runner import invoke
from tests.cloud_support import (
    SECRET,
    TOKEN,
    Ingest,
    cloud_env,
    course_with_learners,
    smtp_server,
    upgraded_state,
)

CONTRACT_FIELDS = {
    "job_id", "tenant_id", "type", "courseid", "created_by", "recipients", "template_id",
    "template_data", "generate_certificate", "certificate_template", "callback_url",
    "email_provider", "timestamp",
}  # fmt: skip


@pytest.fixture
def ingest() -> Iterator[Ingest]:
    stand_in = Ingest()
    yield stand_in
    stand_in.close()


def _urls(tmp_path: Path) -> tuple[str, str]:
    return f"sqlite:///{tmp_path / 'moodle.sqlite'}", upgraded_state(
        f"sqlite:///{tmp_path / 'state.sqlite'}"
    )


def _jobs(state: str) -> list[dict[str, object]]:
    engine = sa.create_engine(state)
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text(
                "SELECT jobid, status, total_recipients, completed_recipients, failed_recipients, "
                "error_message FROM manireports_cloud_jobs ORDER BY id"
            )
        ).mappings()
        found = [dict(row) for row in rows]
    engine.dispose()
    return found


def test_batches_reach_the_ingest_endpoint_with_the_bearer_token(
    tmp_path: Path, ingest: Ingest
) -> None:
    moodle, state = _urls(tmp_path)
    # 6 learners, the first completed: --only not-completed leaves 5; batch_size 2 -> 2, 2, 1.
    course, users = course_with_learners(moodle, 6, completed=1)
    env = cloud_env(moodle, state, cloud_endpoint=ingest.url, cloud_batch_size="2")
    result = invoke("cloud", "send-reminders", "--course", str(course), "--only",
                     "not-completed", env=env)  # fmt: skip
    assert result.returncode == 0, result.stderr
    printed = result.stdout.decode().split()
    assert "5 recipients in 3 jobs: 3 submitted to the cloud" in result.stderr.decode()

    assert [len(job["recipients"]) for job in ingest.jobs] == [2, 2, 1]
    for headers, job in ingest.requests:
        assert headers["Authorization"] == f"Bearer {TOKEN}"
        assert headers["Content-Type"].startswith("application/json")
        assert set(job) == CONTRACT_FIELDS
        assert job["type"] == "send_reminder" and job["courseid"] == course
        assert job["template_id"] == "course_reminder"
        assert job["template_data"]["course_name"] == "Introduction to PHP"
        assert job["callback_url"] == "https://reports.example.org/callback"
        assert job["tenant_id"] is None and job["created_by"] == 0
        assert job["timestamp"].endswith("Z")
        assert "callback_secret" not in job
    sent_to = [r["userid"] for job in ingest.jobs for r in job["recipients"]]
    assert sent_to == users[1:]
    first = ingest.jobs[0]["recipients"][0]
    assert first == {
        "userid": users[1], "email": "learner1@example.org", "firstname": "Learner1",
        "lastname": "Zoë",
    }  # fmt: skip
    assert printed == [job["job_id"] for job in ingest.jobs]

    jobs = _jobs(state)
    assert [(j["jobid"], j["status"], j["total_recipients"]) for j in jobs] == [
        (job["job_id"], "submitted", len(job["recipients"])) for job in ingest.jobs
    ]
    listed = invoke("cloud", "jobs", "--status", "submitted", "--format", "json", env=env)
    assert listed.returncode == 0, listed.stderr
    assert sorted(row["jobid"] for row in json.loads(listed.stdout)) == sorted(printed)
    with StateDB(state) as db:
        assert len(list_audit(db, action="cloud_submit")) == 3


def test_endpoint_down_falls_back_to_smtp_once_per_recipient(
    tmp_path: Path, ingest: Ingest
) -> None:
    moodle, state = _urls(tmp_path)
    course, _users = course_with_learners(moodle, 5)
    ingest.status = 503
    with smtp_server() as (inbox, port):
        env = cloud_env(
            moodle, state, cloud_endpoint=ingest.url, cloud_batch_size="2",
            email_smtp_port=str(port),
        )  # fmt: skip
        result = invoke("cloud", "send-reminders", "--course", str(course), env=env)
    assert result.returncode == 0, result.stderr
    # The first job: 1 attempt + 2 retries, all 503; the two later jobs do not try the cloud.
    assert len(ingest.requests) == 3
    assert "0 submitted to the cloud, 3 mailed over SMTP" in result.stderr.decode()
    recipients = sorted(address for to, _message in inbox.messages for address in to)
    assert recipients == sorted(f"learner{n}@example.org" for n in range(5))
    _to, message = inbox.messages[0]
    assert message["Subject"] == "Reminder: Introduction to PHP"
    body = message.get_body(("plain",))
    assert body is not None and "Dear Learner" in body.get_content()
    jobs = _jobs(state)
    assert [(j["status"], j["completed_recipients"], j["failed_recipients"]) for j in jobs] == [
        ("fallback", 2, 0), ("fallback", 2, 0), ("fallback", 1, 0),
    ]  # fmt: skip
    assert all("HTTP 503" in str(j["error_message"]) for j in jobs)


def test_cloud_disabled_mails_every_recipient_over_smtp(tmp_path: Path) -> None:
    moodle, state = _urls(tmp_path)
    course, _users = course_with_learners(moodle, 3)
    with smtp_server() as (inbox, port):
        env = cloud_env(moodle, state, cloud_enabled="false", email_smtp_port=str(port))
        result = invoke("cloud", "send-reminders", "--course", str(course), env=env)
    assert result.returncode == 0, result.stderr
    assert sorted(to[0] for to, _ in inbox.messages) == [
        "learner0@example.org", "learner1@example.org", "learner2@example.org",
    ]  # fmt: skip
    [job] = _jobs(state)
    assert job["status"] == "fallback" and job["completed_recipients"] == 3
    assert "disabled" in str(job["error_message"])


def test_smtp_transport_mails_directly_with_the_cloud_on(tmp_path: Path, ingest: Ingest) -> None:
    moodle, state = _urls(tmp_path)
    course, _users = course_with_learners(moodle, 2)
    with smtp_server() as (inbox, port):
        env = cloud_env(
            moodle, state, cloud_endpoint=ingest.url, email_transport="smtp",
            email_smtp_port=str(port),
        )  # fmt: skip
        result = invoke("cloud", "send-reminders", "--course", str(course), env=env)
    assert result.returncode == 0, result.stderr
    assert ingest.requests == [], "transport smtp never hands mail to the cloud"
    assert sorted(to[0] for to, _ in inbox.messages) == [
        "learner0@example.org", "learner1@example.org",
    ]  # fmt: skip
    [job] = _jobs(state)
    assert job["status"] == "fallback" and 'transport = "smtp"' in str(job["error_message"])


def test_refused_job_fails_whole_and_retry_sends_it_again(tmp_path: Path, ingest: Ingest) -> None:
    moodle, state = _urls(tmp_path)
    course, users = course_with_learners(moodle, 3)
    env = cloud_env(moodle, state, cloud_endpoint=ingest.url, cloud_batch_size="2")
    ingest.status = 401
    refused = invoke("cloud", "send-reminders", "--course", str(course), env=env)
    assert refused.returncode == 1
    assert "HTTP 401" in refused.stderr.decode() and "auth_token" in refused.stderr.decode()
    assert len(ingest.requests) == 1, "a refusal is not retried"
    jobs = _jobs(state)
    assert [(j["status"], j["failed_recipients"]) for j in jobs] == [("failed", 2), ("failed", 1)]

    ingest.status = 200
    retried = invoke("cloud", "retry", str(jobs[0]["jobid"]), env=env)
    assert retried.returncode == 0, retried.stderr
    [new_job] = ingest.jobs[1:]
    assert [r["userid"] for r in new_job["recipients"]] == users[:2]
    assert retried.stdout.decode().split() == [new_job["job_id"]]


def test_retry_sends_only_the_failed_recipients(tmp_path: Path, ingest: Ingest) -> None:
    moodle, state = _urls(tmp_path)
    course, users = course_with_learners(moodle, 3)
    env = cloud_env(moodle, state, cloud_endpoint=ingest.url)
    assert invoke("cloud", "send-reminders", "--course", str(course), env=env).returncode == 0
    [job] = ingest.jobs
    app = App(load_config(environ=env))
    body = json.dumps({
        "job_id": job["job_id"], "timestamp": app.now(),
        "recipients": [
            {"userid": users[0], "status": "sent"},
            {"userid": users[1], "status": "failed", "error": "mailbox full"},
            {"userid": users[2], "status": "sent"},
        ],
    }).encode()  # fmt: skip
    handle_callback(app.state, SECRET, body, signature_of(SECRET, body), app.now())

    shown = invoke("cloud", "show", job["job_id"], env=env)
    assert shown.returncode == 0, shown.stderr
    text = shown.stdout.decode()
    # 3 of 3 have a final status: 2 sent + 1 failed.
    assert "Progress: 3 of 3 done (100.0%): 2 sent, 1 failed, 0 pending" in text
    assert f"user {users[1]} <learner1@example.org> after 1 attempts: mailbox full" in text

    retried = invoke("cloud", "retry", job["job_id"], env=env)
    assert retried.returncode == 0, retried.stderr
    assert [r["userid"] for r in ingest.jobs[1]["recipients"]] == [users[1]]
    with StateDB(env["MANIREPORTS_STATE_URL"]) as db:
        [entry] = list_audit(db, action="cloud_retry")
    assert entry["details"]["jobid"] == job["job_id"]

    none_failed = invoke("cloud", "retry", ingest.jobs[1]["job_id"], env=env)
    assert none_failed.returncode == 2
    assert "no failed recipients" in none_failed.stderr.decode()
    unknown = invoke("cloud", "show", "no-such-job", env=env)
    assert unknown.returncode == 2


def test_unknown_template_and_missing_settings_are_refused(tmp_path: Path, ingest: Ingest) -> None:
    moodle, state = _urls(tmp_path)
    course, _users = course_with_learners(moodle, 1)
    env = cloud_env(moodle, state, cloud_endpoint=ingest.url)
    unknown = invoke("cloud", "send-reminders", "--course", str(course), "--template",
                      "nope", env=env)  # fmt: skip
    assert unknown.returncode == 2
    assert "no mail template 'nope'" in unknown.stderr.decode()
    no_secret = dict(env)
    del no_secret["MANIREPORTS_CLOUD_CALLBACK_SECRET"]
    refused = invoke("cloud", "send-reminders", "--course", str(course), env=no_secret)
    assert refused.returncode == 2
    assert "callback_secret" in refused.stderr.decode()
    assert ingest.requests == [] and _jobs(state) == []


def test_a_refused_fallback_mail_fails_the_run_and_retry_sends_it(tmp_path: Path) -> None:
    moodle, state = _urls(tmp_path)
    course, users = course_with_learners(moodle, 3)
    with smtp_server() as (inbox, port):
        env = cloud_env(moodle, state, cloud_enabled="false", email_smtp_port=str(port))
        inbox.refuse = {"learner1@example.org"}
        result = invoke("cloud", "send-reminders", "--course", str(course), env=env)
        assert result.returncode == 1
        assert "1 of the SMTP fallback mails could not be sent" in result.stderr.decode()
        [jobid] = result.stdout.decode().split()
        [job] = _jobs(state)
        assert (job["status"], job["completed_recipients"], job["failed_recipients"]) == (
            "fallback", 2, 1,
        )  # fmt: skip
        shown = invoke("cloud", "show", jobid, "--json", env=env)
        failed = json.loads(shown.stdout)["failed_recipients"]
        assert [(f["userid"], f["attempts"]) for f in failed] == [(users[1], 1)]
        assert "learner1@example.org" in failed[0]["error"]

        inbox.refuse = set()
        retried = invoke("cloud", "retry", jobid, env=env)
        assert retried.returncode == 0, retried.stderr
    delivered = [to[0] for to, _ in inbox.messages]
    # 2 mails on the first run, then only the refused one again.
    assert delivered.count("learner1@example.org") == 1 and len(delivered) == 3


def test_the_learners_are_read_as_a_recorded_run_and_a_capped_course_is_refused(
    tmp_path: Path, ingest: Ingest
) -> None:
    moodle, state = _urls(tmp_path)
    course, _users = course_with_learners(moodle, 3, completed=0)
    env = cloud_env(moodle, state, cloud_endpoint=ingest.url)
    done = invoke("cloud", "send-reminders", "--course", str(course), env=env)
    assert done.returncode == 0, done.stderr
    with StateDB(state) as db:
        [run] = list_runs(db)
        assert (run["report"], run["status"], run["rowcount"], run["format"]) == (
            "course_completion", "completed", 3, None,
        )  # fmt: skip
        assert run["paramsjson"]["for"] == "send-reminders"
    # With [reports] max_rows below the course's learners, nobody is reminded rather than some.
    capped = invoke("cloud", "send-reminders", "--course", str(course),
                    env={**env, "MANIREPORTS_REPORTS_MAX_ROWS": "2"})  # fmt: skip
    assert capped.returncode == 1
    assert b"more learners than [reports] max_rows" in capped.stderr
    assert b"Traceback" not in capped.stderr
    assert len(ingest.jobs) == 1 and len(_jobs(state)) == 1
    with StateDB(state) as db:
        assert list_runs(db, limit=1)[0]["status"] == "failed"
