"""cloud send-reminders in sqs mode, through boto3 against a local SQS-compatible server.

No real SQS is reachable here, so moto's server stands in for it: boto3 talks real HTTP to it,
found through AWS_ENDPOINT_URL_SQS exactly as a site would point boto3 at a VPC endpoint. The
messages are read back from the queue with boto3, as a cloud worker would read them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.cli_runner import invoke
from tests.cloud_support import (
    cloud_env,
    course_with_learners,
    free_port,
    smtp_server,
    upgraded_state,
)

REGION = "eu-west-1"
AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
}


@pytest.fixture
def sqs() -> Iterator[tuple[str, Any]]:
    """(endpoint, boto3 SQS client) of a local SQS-compatible server."""
    try:
        import boto3
        from moto.server import ThreadedMotoServer
    except ImportError:
        if os.environ.get("CI"):
            raise
        pytest.skip("boto3 and moto[server] are needed: pip install '.[dev,sqs]'")
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    client = boto3.client(
        "sqs",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    try:
        yield endpoint, client
    finally:
        server.stop()


def _env(tmp_path: Path, endpoint: str, queue_url: str, **settings: str) -> dict[str, str]:
    moodle = f"sqlite:///{tmp_path / 'moodle.sqlite'}"
    state = upgraded_state(f"sqlite:///{tmp_path / 'state.sqlite'}")
    env = cloud_env(
        moodle, state, cloud_mode="sqs", cloud_queue_url=queue_url, cloud_region=REGION,
        **settings,
    )  # fmt: skip
    env.update(AWS, AWS_ENDPOINT_URL_SQS=endpoint)
    return env


def _statuses(env: dict[str, str]) -> list[tuple[str, int]]:
    engine = sa.create_engine(env["MANIREPORTS_STATE_URL"])
    with engine.connect() as connection:
        found = connection.execute(
            sa.text("SELECT status, total_recipients FROM manireports_cloud_jobs ORDER BY id")
        ).all()
    engine.dispose()
    return [(str(status), int(total)) for status, total in found]


def test_jobs_arrive_on_the_queue_in_the_contract(tmp_path: Path, sqs: tuple[str, Any]) -> None:
    endpoint, client = sqs
    queue_url = client.create_queue(QueueName="manireports-jobs")["QueueUrl"]
    env = _env(tmp_path, endpoint, queue_url, cloud_batch_size="2")
    course, users = course_with_learners(env["MANIREPORTS_MOODLE_URL"], 3)
    done = invoke("cloud", "send-reminders", "--course", str(course), env=env)
    assert done.returncode == 0, done.stderr
    received = client.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    jobs = sorted((json.loads(m["Body"]) for m in received), key=lambda j: len(j["recipients"]))
    # 3 learners in batches of 2: one job of 1 and one of 2, together every learner once.
    assert [len(job["recipients"]) for job in jobs] == [1, 2]
    assert sorted(r["userid"] for job in jobs for r in job["recipients"]) == sorted(users)
    assert {job["courseid"] for job in jobs} == {course}
    assert {job["type"] for job in jobs} == {"send_reminder"}
    assert all("callback_secret" not in json.dumps(job) for job in jobs)
    assert set(done.stdout.decode().split()) == {job["job_id"] for job in jobs}
    assert _statuses(env) == [("submitted", 2), ("submitted", 1)]


def test_a_missing_queue_is_a_refusal_not_a_fallback(tmp_path: Path, sqs: tuple[str, Any]) -> None:
    endpoint, _client = sqs
    missing = f"{endpoint}/123456789012/no-such-queue"
    env = _env(tmp_path, endpoint, missing)
    course, _users = course_with_learners(env["MANIREPORTS_MOODLE_URL"], 2)
    done = invoke("cloud", "send-reminders", "--course", str(course), env=env)
    assert done.returncode == 1
    assert b"refused the job" in done.stderr and b"Traceback" not in done.stderr
    assert [status for status, _ in _statuses(env)] == ["failed"]


def test_an_unreachable_queue_falls_back_to_smtp(tmp_path: Path, sqs: tuple[str, Any]) -> None:
    # The stand-in runs, but the queue's endpoint is a closed port: boto3 cannot connect, which
    # is retried and then mailed over SMTP, one mail per learner.
    closed = f"http://127.0.0.1:{free_port()}"
    with smtp_server() as (inbox, port):
        env = _env(
            tmp_path, closed, f"{closed}/123456789012/manireports-jobs",
            email_smtp_port=str(port),
        )  # fmt: skip
        course, _users = course_with_learners(env["MANIREPORTS_MOODLE_URL"], 2)
        done = invoke("cloud", "send-reminders", "--course", str(course), env=env)
    assert done.returncode == 0, done.stderr
    assert len(inbox.messages) == 2
    assert [status for status, _ in _statuses(env)] == ["fallback"]
