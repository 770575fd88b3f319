"""What the schedule tests share: a small Moodle site, a real SMTP server and a configuration.

The site (America/New_York) has course A with learners sam and sue and teacher tina, and course B
with learner bob, all enrolled on 2026-01-04 at 10:00; so course_completion has 3 rows for the
operator and 2 (course A) for tina, for any period that contains that day.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import threading
from collections import Counter
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope, Session

from tests.moodle_site import MoodleSite

ZONE = "America/New_York"
ENROLLED = 1_767_538_800  # 2026-01-04 10:00 in New York


def build_site(path: Path) -> dict[str, int]:
    site = MoodleSite(f"sqlite:///{path}", iomad=False, timezone=ZONE)
    course_a = site.course("A")
    course_b = site.course("B")
    ids = {"course_a": course_a, "course_b": course_b}
    for name, course in (("sam", course_a), ("sue", course_a), ("bob", course_b)):
        ids[name] = site.user(name)
        site.enrol(ids[name], course, timestart=ENROLLED)
    ids["tina"] = site.user("tina", email="tina@school.example")
    site.assign(ids["tina"], site.course_context(course_a), "editingteacher")
    ids["olaf"] = site.user("olaf", email="olaf@school.example")
    site.dispose()
    return ids


class Inbox:
    """Every message the server accepted, by recipient.

    `refuse` answers 451 (try later) to those addresses; `hold` makes the server wait at RCPT for
    that address until `release` is set, so a test can kill a client in mid-conversation.
    """

    def __init__(self) -> None:
        self.messages: list[tuple[str, EmailMessage]] = []
        self.refuse: set[str] = set()
        self.hold: str | None = None
        self.holding = threading.Event()
        self.release = threading.Event()
        self._lock = threading.Lock()

    async def handle_RCPT(
        self, server: Any, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if address in self.refuse:
            return "451 try again later"
        if address == self.hold:
            self.holding.set()
            while not self.release.is_set():
                await asyncio.sleep(0.05)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        parsed = email.message_from_bytes(
            envelope.original_content or b"", policy=email.policy.default
        )
        assert isinstance(parsed, EmailMessage)
        with self._lock:
            for address in envelope.rcpt_tos:
                self.messages.append((address, parsed))
        return "250 Message accepted"

    def count(self) -> Counter[str]:
        with self._lock:
            return Counter(address for address, _ in self.messages)

    def to(self, address: str) -> list[EmailMessage]:
        with self._lock:
            return [message for to, message in self.messages if to == address]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class SmtpServer:
    """aiosmtpd on a fixed local port, which can be stopped and started again."""

    def __init__(self, inbox: Inbox, port: int) -> None:
        self.inbox = inbox
        self.port = port
        self.controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


def environment(
    tmp_path: Path, moodle: Path, state_url: str, port: int, **extra: str
) -> dict[str, str]:
    """MANIREPORTS_* settings for the real command line (and load_config in the library)."""
    env = {
        "MANIREPORTS_MOODLE_URL": f"sqlite:///{moodle}",
        "MANIREPORTS_STATE_URL": state_url,
        "MANIREPORTS_SITE_TIMEZONE": ZONE,
        "MANIREPORTS_EMAIL_FROM": "reports@school.example",
        "MANIREPORTS_EMAIL_SMTP_HOST": "127.0.0.1",
        "MANIREPORTS_EMAIL_SMTP_PORT": str(port),
        "MANIREPORTS_EMAIL_SMTP_TIMEOUT_SECONDS": "20",
        "MANIREPORTS_STORAGE_DIR": str(tmp_path / "files"),
        "MANIREPORTS_JOBS_LOCK_DIR": str(tmp_path / "locks"),
        "MANIREPORTS_SCHEDULE_RETRY_DELAY_SECONDS": "0",
    }
    env.update(extra)
    return env


def attachment(message: EmailMessage) -> tuple[str, bytes]:
    parts = list(message.iter_attachments())
    assert len(parts) == 1, [part.get_filename() for part in parts]
    payload = parts[0].get_payload(decode=True)
    assert isinstance(payload, bytes)
    return str(parts[0].get_filename()), payload


def body(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())
