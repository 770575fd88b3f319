"""Sending one email over SMTP with the `[email]` and `[email.smtp]` settings.

Every part of manireports that mails (schedules, the owner's failure notice, the cloud service's
fallback) builds an `EmailMessage` with `compose` and hands it to `send`, so the connection rules
live in one place. `send` raises `DeliveryError` for anything the caller may retry (server down,
refused recipient, timeout) and `ConfigError` for settings that can never work, so a retry loop
does not spin on a typo.
"""

from __future__ import annotations

import mimetypes
import smtplib
import ssl
from collections.abc import Callable, Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

from manireports.config import Config
from manireports.errors import ConfigError, RunError


class DeliveryError(RunError):
    """The mail could not be handed to the SMTP server; trying again later may work."""


def compose(
    config: Config,
    *,
    to: Sequence[str],
    subject: str,
    body: str,
    attachments: Sequence[Path] = (),
) -> EmailMessage:
    """A plain-text mail from `[email] from`, with the files attached under their own names."""
    message = EmailMessage()
    message["From"] = config.settings.email.from_
    message["To"] = ", ".join(to)
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=config.settings.email.from_.rpartition("@")[2])
    message.set_content(body)
    for path in attachments:
        kind, _ = mimetypes.guess_type(path.name)
        maintype, _, subtype = (kind or "application/octet-stream").partition("/")
        message.add_attachment(
            path.read_bytes(), maintype=maintype, subtype=subtype, filename=path.name
        )
    return message


def send(
    config: Config, message: EmailMessage, *, before_data: Callable[[], None] | None = None
) -> None:
    """Hand the message to the configured SMTP server, or raise DeliveryError saying why not.

    `before_data` runs once the server took the sender and recipients, just before the DATA
    command: the last moment at which stopping certainly sends nothing. What it raises aborts
    the transaction unsent and reaches the caller unchanged.
    """
    host = config.settings.email.smtp.host
    port = config.settings.email.smtp.port
    security = config.settings.email.smtp.security
    timeout = config.settings.email.smtp.timeout_seconds
    username = config.settings.email.smtp.username
    password = config.settings.email.smtp.password
    if username and password is None:
        raise ConfigError(
            "[email.smtp] username is set without a password; set password or password_file."
        )
    where = f"the SMTP server {host}:{port}"
    context = ssl.create_default_context()
    try:
        client: smtplib.SMTP
        if security == "tls":
            client = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
        else:
            client = smtplib.SMTP(host, port, timeout=timeout)
        with client:
            if security == "starttls":
                client.starttls(context=context)
            if username:
                client.login(username, password or "")
            if before_data is not None:
                setattr(client, "data", _hooked(client.data, before_data))  # noqa: B010
            client.send_message(message)
    except smtplib.SMTPAuthenticationError as exc:
        raise ConfigError(
            f"{where} refused the login of {username!r} ({exc.smtp_code}); "
            "check [email.smtp] username and password."
        ) from exc
    except smtplib.SMTPNotSupportedError as exc:
        raise ConfigError(
            f"{where} does not offer {security.upper()} or login; check [email.smtp] security."
        ) from exc
    except smtplib.SMTPRecipientsRefused as exc:
        refused = ", ".join(
            f"{address} ({code} {_text(answer)})"
            for address, (code, answer) in sorted(exc.recipients.items())
        )
        raise DeliveryError(f"{where} refused the recipient(s) {refused}.") from exc
    except smtplib.SMTPResponseException as exc:
        raise DeliveryError(f"{where} answered {exc.smtp_code}: {_text(exc.smtp_error)}.") from exc
    except (TimeoutError, smtplib.SMTPException, ssl.SSLError, OSError) as exc:
        raise DeliveryError(f"{where} could not be reached or failed: {exc}.") from exc


def _hooked(
    data: Callable[[bytes | str], tuple[int, bytes]], before: Callable[[], None]
) -> Callable[[bytes | str], tuple[int, bytes]]:
    def hooked(message: bytes | str) -> tuple[int, bytes]:
        before()
        return data(message)

    return hooked


def _text(answer: bytes | str) -> str:
    return answer.decode(errors="replace") if isinstance(answer, bytes) else answer
