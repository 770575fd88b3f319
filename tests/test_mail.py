"""Email over a real SMTP server (aiosmtpd on a local port): delivery, login, refusals."""

from __future__ import annotations

import email
import email.policy
import socket
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from manireports.config import load_config
from manireports.errors import ConfigError
from manireports.mail import DeliveryError, compose, send


class Inbox:
    """Keeps every message the server accepted; refuses recipients at refused.example."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], EmailMessage]] = []

    async def handle_RCPT(
        self, server: Any, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if address.endswith("@refused.example"):
            return "550 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append((str(envelope.mail_from), list(envelope.rcpt_tos), parsed))
        return "250 Message accepted"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth: Any) -> Any:
    ok = isinstance(auth, LoginPassword) and (auth.login, auth.password) == (b"reports", b"s3cret")
    # handled=False: aiosmtpd answers 535 itself instead of leaving the client waiting.
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def smtp(request: pytest.FixtureRequest) -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = _free_port()
    login = getattr(request, "param", False)
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        authenticator=_authenticator if login else None,
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def _config(port: int, **extra: str) -> Any:
    env = {
        "MANIREPORTS_EMAIL_SMTP_HOST": "127.0.0.1",
        "MANIREPORTS_EMAIL_SMTP_PORT": str(port),
        "MANIREPORTS_EMAIL_FROM": "reports@school.example",
        "MANIREPORTS_EMAIL_SMTP_TIMEOUT_SECONDS": "5",
    }
    env.update(extra)
    return load_config(environ=env)


def test_mail_with_attachment_arrives_as_sent(smtp: tuple[Inbox, int], tmp_path: Path) -> None:
    inbox, port = smtp
    report = tmp_path / "completion.csv"
    report.write_bytes("userid,fullname\r\n7,Zoë Łukasz\r\n".encode())
    config = _config(port)
    message = compose(
        config,
        to=["manager@school.example", "teacher@school.example"],
        subject="Course completion — November",
        body="Attached: 1 row.",
        attachments=[report],
    )
    send(config, message)
    assert len(inbox.messages) == 1
    sender, recipients, got = inbox.messages[0]
    assert sender == "reports@school.example"
    assert recipients == ["manager@school.example", "teacher@school.example"]
    assert got["Subject"] == "Course completion — November"
    parts = list(got.iter_attachments())
    assert [part.get_filename() for part in parts] == ["completion.csv"]
    assert parts[0].get_content_type() == "text/csv"
    assert parts[0].get_payload(decode=True) == report.read_bytes()
    body = got.get_body(("plain",))
    assert body is not None and body.get_content().strip() == "Attached: 1 row."


@pytest.mark.parametrize("smtp", [True], indirect=True)
def test_login_accepted_and_refused(smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    good = _config(
        port, MANIREPORTS_EMAIL_SMTP_USERNAME="reports", MANIREPORTS_EMAIL_SMTP_PASSWORD="s3cret"
    )
    send(good, compose(good, to=["a@school.example"], subject="s", body="b"))
    assert len(inbox.messages) == 1

    bad = _config(
        port, MANIREPORTS_EMAIL_SMTP_USERNAME="reports", MANIREPORTS_EMAIL_SMTP_PASSWORD="wrong"
    )
    with pytest.raises(ConfigError, match="refused the login of 'reports'"):
        send(bad, compose(bad, to=["a@school.example"], subject="s", body="b"))
    assert len(inbox.messages) == 1


def test_refused_recipient_is_a_delivery_error(smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    config = _config(port)
    with pytest.raises(DeliveryError, match=r"nobody@refused\.example"):
        send(config, compose(config, to=["nobody@refused.example"], subject="s", body="b"))
    assert inbox.messages == []


def test_server_down_is_a_delivery_error() -> None:
    config = _config(_free_port())
    with pytest.raises(DeliveryError, match="could not be reached"):
        send(config, compose(config, to=["a@school.example"], subject="s", body="b"))


def test_username_without_password_is_a_config_error() -> None:
    config = _config(_free_port(), MANIREPORTS_EMAIL_SMTP_USERNAME="reports")
    with pytest.raises(ConfigError, match="without a password"):
        send(config, compose(config, to=["a@school.example"], subject="s", body="b"))
