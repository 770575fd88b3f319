"""Signed callbacks over real HTTP to `cloud serve-callbacks` (a child process of the real CLI),
and through `cloud callback`, with the state database on SQLite, MariaDB and PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from manireports.cloud.callbacks import (
    CallbackMalformedError,
    CallbackUnauthenticError,
    signature_of,
    verify_callback,
)
from manireports.cloud.tracking import get_job, job_recipients, record_job
from manireports.state.audit import list_audit
from manireports.state.store import StateDB
from tests.cli_runner import REPO, Invoked, invoke
from tests.cloud_support import SECRET, free_port, upgraded_state

JOB = "0f8fad5b-d9cb-469f-a165-70867728950e"


def _job(jobid: str, userids: list[int]) -> dict[str, Any]:
    return {
        "job_id": jobid, "tenant_id": 3, "type": "send_reminder", "courseid": 7,
        "created_by": 0, "template_id": "course_reminder", "template_data": {},
        "generate_certificate": False, "certificate_template": None, "callback_url": None,
        "email_provider": "ses", "timestamp": "2026-01-01T00:00:00Z",
        "recipients": [
            {"userid": u, "email": f"u{u}@example.org", "firstname": "F", "lastname": "L"}
            for u in userids
        ],
    }  # fmt: skip


def _state_with_job(url: str, userids: list[int]) -> StateDB:
    state = StateDB(upgraded_state(url))
    with state.begin() as connection:
        record_job(connection, _job(JOB, userids), int(time.time()))
    return state


def _body(recipients: list[dict[str, Any]], timestamp: int | None = None) -> bytes:
    stamp = int(time.time()) if timestamp is None else timestamp
    return json.dumps({"job_id": JOB, "timestamp": stamp, "recipients": recipients}).encode()


class CallbackService:
    """`manireports cloud serve-callbacks` running as an operator would start it."""

    def __init__(self, state_url: str, tmp_path: Path) -> None:
        self.port = free_port()
        environ = dict(os.environ)
        environ.update({
            "PYTHONPATH": str(REPO),
            "MANIREPORTS_STATE_URL": state_url,
            "MANIREPORTS_CLOUD_CALLBACK_SECRET": SECRET,
        })  # fmt: skip
        self.log = (tmp_path / "serve.log").open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "manireports", "cloud", "serve-callbacks", "--port",
             str(self.port)],
            env=environ, stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/", timeout=2)
            except urllib.error.HTTPError:
                break  # answered (405 to GET): it is listening
            except OSError:
                assert self.process.poll() is None, "serve-callbacks exited at start"
                assert time.monotonic() < deadline, "serve-callbacks did not start"
                time.sleep(0.1)

    def post(self, body: bytes, signature: str | None) -> tuple[int, dict[str, Any]]:
        headers = {"Content-Type": "application/json"}
        if signature is not None:
            headers["X-Signature"] = signature
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/callback", data=body, headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as refused:
            return refused.code, json.loads(refused.read())

    def stop(self) -> int:
        self.process.terminate()
        code = self.process.wait(timeout=30)
        self.log.close()
        return code


@pytest.fixture
def service(db_url: str, tmp_path: Path) -> Iterator[tuple[StateDB, CallbackService]]:
    state = _state_with_job(db_url, [11, 12, 13])
    running = CallbackService(db_url, tmp_path)
    try:
        yield state, running
    finally:
        assert running.stop() == 143
        state.close()


def _statuses(state: StateDB) -> dict[int, tuple[str, str | None]]:
    return {r.userid: (r.status, r.error) for r in job_recipients(state, JOB)}


def test_good_bad_stale_replayed_and_malformed_callbacks(
    service: tuple[StateDB, CallbackService],
) -> None:
    state, http = service
    good = _body([{"userid": 11, "status": "sent", "certificate_url": "https://s3/c11.pdf"},
                  {"userid": 12, "status": "failed", "error": "bounced"}])  # fmt: skip

    status, answer = http.post(good, signature_of("not-the-secret", good))
    assert status == 401 and "X-Signature" in answer["error"]
    status, _ = http.post(good, None)
    assert status == 401
    assert _statuses(state) == {11: ("pending", None), 12: ("pending", None), 13: ("pending", None)}

    status, answer = http.post(good, signature_of(SECRET, good))
    assert status == 200, answer
    # 11 sent, 12 failed, 13 still pending: 2 of 3 final, so the job is in progress.
    assert answer == {"job_id": JOB, "status": "in_progress", "updated": 2, "sent": 1,
                      "failed": 1, "total": 3}  # fmt: skip
    assert _statuses(state) == {
        11: ("sent", None),
        12: ("failed", "bounced"),
        13: ("pending", None),
    }
    [r11] = [r for r in job_recipients(state, JOB) if r.userid == 11]
    assert r11.certificate_url == "https://s3/c11.pdf" and r11.attempts == 1

    status, _ = http.post(good, signature_of(SECRET, good))
    assert status == 409
    job = get_job(state, JOB)
    assert (job.sent, job.failed, job.status) == (1, 1, "in_progress")

    stale = _body([{"userid": 13, "status": "sent"}], int(time.time()) - 3600)
    status, answer = http.post(stale, signature_of(SECRET, stale))
    assert status == 401 and "window" in answer["error"]

    for malformed in (
        b"not json",
        json.dumps({"job_id": JOB, "timestamp": int(time.time())}).encode(),
        _body([{"userid": 13, "status": "delivered"}]),
        _body([{"userid": 99, "status": "sent"}]),
        json.dumps({"job_id": "unknown", "timestamp": int(time.time()),
                    "recipients": [{"userid": 13, "status": "sent"}]}).encode(),
    ):  # fmt: skip
        status, _ = http.post(malformed, signature_of(SECRET, malformed))
        assert status == 400, malformed
    assert _statuses(state)[13] == ("pending", None)

    last = _body([{"userid": 13, "status": "sent"}, {"userid": 12, "status": "sent"}])
    status, answer = http.post(last, signature_of(SECRET, last))
    assert status == 200
    job = get_job(state, JOB)
    # 12 failed -> sent on the worker's retry; all 3 sent now.
    assert (job.sent, job.failed, job.status) == (3, 0, "completed")
    assert job.timecompleted is not None

    refusals = list_audit(state, action="cloud_callback_refused")
    # 2 unsigned + 1 replay + 1 stale + 5 malformed.
    assert sorted(e["details"]["http_status"] for e in refusals) == [400] * 5 + [401] * 3 + [409]
    assert len(list_audit(state, action="cloud_callback")) == 2
    assert SECRET not in json.dumps([e["details"] for e in refusals])


def test_concurrent_callbacks_for_one_job_lose_no_update(db_url: str, tmp_path: Path) -> None:
    userids = list(range(100, 120))
    state = _state_with_job(db_url, userids)
    http = CallbackService(db_url, tmp_path)
    try:
        # 20 callbacks at once, one per recipient: users 100..105 fail, the 14 others are sent.
        bodies = [
            _body([{"userid": u, "status": "failed" if u < 106 else "sent", "error": None}])
            for u in userids
        ]
        with ThreadPoolExecutor(max_workers=10) as pool:
            answers = list(pool.map(lambda b: http.post(b, signature_of(SECRET, b)), bodies))
        assert [status for status, _ in answers] == [200] * 20
        job = get_job(state, JOB)
        assert (job.sent, job.failed, job.pending, job.status) == (14, 6, 0, "completed")
        # The same body from 8 threads at once is applied once.
        again = _body([{"userid": 100, "status": "sent"}])
        with ThreadPoolExecutor(max_workers=8) as pool:
            codes = sorted(pool.map(lambda _: http.post(again, signature_of(SECRET, again))[0],
                                    range(8)))  # fmt: skip
        assert codes == [200] + [409] * 7
        job = get_job(state, JOB)
        assert (job.sent, job.failed) == (15, 5)
        [r100] = [r for r in job_recipients(state, JOB) if r.userid == 100]
        assert r100.attempts == 2
    finally:
        assert http.stop() == 143
        state.close()


def test_cloud_callback_command_exit_codes(sqlite_url: str, tmp_path: Path) -> None:
    state = _state_with_job(sqlite_url, [11])
    env = {"MANIREPORTS_STATE_URL": sqlite_url, "MANIREPORTS_CLOUD_CALLBACK_SECRET": SECRET}
    body_file = tmp_path / "body.json"
    body = _body([{"userid": 11, "status": "sent"}])
    body_file.write_bytes(body)

    def call(signature: str) -> Invoked:
        return invoke("cloud", "callback", "--body-file", str(body_file), "--signature",
                       signature, env=env)  # fmt: skip

    unsigned = call(signature_of("wrong", body))
    assert unsigned.returncode == 3, unsigned.stderr
    accepted = call(signature_of(SECRET, body))
    assert accepted.returncode == 0, accepted.stderr
    assert "1 sent, 0 failed of 1; completed" in accepted.stderr.decode()
    replayed = call(signature_of(SECRET, body))
    assert replayed.returncode == 2 and "accepted before" in replayed.stderr.decode()
    body_file.write_bytes(b"[1, 2]")
    malformed = call(signature_of(SECRET, b"[1, 2]"))
    assert malformed.returncode == 2 and "JSON object" in malformed.stderr.decode()
    assert get_job(state, JOB).sent == 1
    state.close()


def test_timestamp_window_is_300_seconds_both_ways() -> None:
    now = 1_800_000_000
    for offset in (-300, 0, 300):
        body = _body([{"userid": 1, "status": "sent"}], now + offset)
        assert (
            verify_callback(SECRET, body, signature_of(SECRET, body), now).timestamp == now + offset
        )
    for offset in (-301, 301):
        body = _body([{"userid": 1, "status": "sent"}], now + offset)
        with pytest.raises(CallbackUnauthenticError, match="window"):
            verify_callback(SECRET, body, signature_of(SECRET, body), now)
    body = _body([{"userid": 1, "status": "sent"}], now)
    # Upper-case hex is the same signature; a bool timestamp is not Unix seconds.
    verify_callback(SECRET, body, signature_of(SECRET, body).upper(), now)
    odd = json.dumps({"job_id": JOB, "timestamp": True,
                      "recipients": [{"userid": 1, "status": "sent"}]}).encode()  # fmt: skip
    with pytest.raises(CallbackMalformedError, match="Unix seconds"):
        verify_callback(SECRET, odd, signature_of(SECRET, odd), now)
