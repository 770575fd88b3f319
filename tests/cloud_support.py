"""Stand-ins for the cloud tests: an ingest endpoint and an SMTP server on localhost, a course."""

from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope, Session

from manireports.state.store import StateDB
from tests.moodle_site import MoodleSite

TOKEN = "ingest-token-0123456789"
SECRET = "callback-secret-abcdef"
# Enrolled and completed well before any test runs (reminders use the current time).
ENROLLED = 1_600_000_000
COMPLETED = 1_700_000_000


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Ingest:
    """The cloud's ingest API: keeps every POST, answers with `status` (200 unless changed)."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.status = 200
        ingest = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                ingest.requests.append((dict(self.headers), json.loads(body)))
                self.send_response(ingest.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/jobs"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def jobs(self) -> list[dict[str, Any]]:
        return [body for _headers, body in self.requests]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Inbox:
    """Keeps every accepted message; answers 550 to the addresses in `refuse`."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []
        self.refuse: set[str] = set()

    async def handle_RCPT(
        self, server: Any, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if address in self.refuse:
            return "550 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        parsed = email.message_from_bytes(
            envelope.original_content or b"", policy=email.policy.default
        )
        assert isinstance(parsed, EmailMessage)
        self.messages.append((list(envelope.rcpt_tos), parsed))
        return "250 Message accepted"


@contextmanager
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def course_with_learners(url: str, learners: int, completed: int = 0) -> tuple[int, list[int]]:
    """A course with `learners` students; the first `completed` of them completed it."""
    site = MoodleSite(url)
    course = site.course("PHP101", fullname="Introduction to PHP")
    users = []
    for number in range(learners):
        user = site.user(f"learner{number}", firstname=f"Learner{number}", lastname="Zoë")
        site.enrol(user, course, timestart=ENROLLED)
        if number < completed:
            site.complete(user, course, COMPLETED)
        users.append(user)
    site.dispose()
    return course, users


def upgraded_state(url: str) -> str:
    with StateDB(url) as state:
        state.upgrade()
    return url


def cloud_env(moodle: str, state: str, **settings: str) -> dict[str, str]:
    """Environment for the CLI: the cloud on, signed callbacks, fast retries."""
    env = {
        "MANIREPORTS_MOODLE_URL": moodle,
        "MANIREPORTS_STATE_URL": state,
        "MANIREPORTS_CLOUD_ENABLED": "true",
        "MANIREPORTS_EMAIL_TRANSPORT": "cloud",
        "MANIREPORTS_CLOUD_AUTH_TOKEN": TOKEN,
        "MANIREPORTS_CLOUD_CALLBACK_SECRET": SECRET,
        "MANIREPORTS_CLOUD_CALLBACK_URL": "https://reports.example.org/callback",
        "MANIREPORTS_CLOUD_SUBMIT_RETRIES": "2",
        "MANIREPORTS_CLOUD_SUBMIT_RETRY_DELAY_SECONDS": "0.01",
        "MANIREPORTS_EMAIL_FROM": "reports@school.example",
        "MANIREPORTS_EMAIL_SMTP_HOST": "127.0.0.1",
        "MANIREPORTS_EMAIL_SMTP_TIMEOUT_SECONDS": "5",
    }
    env.update({f"MANIREPORTS_{key.upper()}": value for key, value in settings.items()})
    return env
