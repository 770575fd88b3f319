"""Mail a job's recipients over SMTP when the cloud is disabled or unreachable.

The cloud workers render their own copy of a template; the fallback renders the local one of the
same name, so a reminder goes out even when the cloud is down. Templates are Jinja2 text files
named `<template_id>.txt.j2`, looked up in `[email] templates_dir` first and then among the
built-in ones; the first line is `Subject: ...`, a blank line follows, then the body. Every field
of the recipient and of the job's template_data is available.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from manireports.cloud.contract import Recipient
from manireports.config import Config
from manireports.errors import InputError, ManiReportsError
from manireports.mail import compose, send

BUILTIN_TEMPLATES = Path(__file__).resolve().parent / "templates"
SUFFIX = ".txt.j2"


@dataclass(frozen=True)
class MailText:
    subject: str
    body: str


class MailTemplates:
    """The operator's templates over the built-in ones, checked before anything is sent."""

    def __init__(self, config: Config) -> None:
        folders = [BUILTIN_TEMPLATES]
        override = config.settings.email.templates_dir
        if override:
            folders.insert(0, Path(override))
        self._environment = jinja2.Environment(
            loader=jinja2.FileSystemLoader(folders),
            autoescape=jinja2.select_autoescape(default=False, default_for_string=False),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
        )

    def require(self, template_id: str) -> jinja2.Template:
        """The template, or InputError: a job whose fallback could not be mailed is refused."""
        if "/" in template_id or "\\" in template_id or template_id.startswith("."):
            raise InputError(f"--template {template_id!r} must be a plain name.")
        try:
            return self._environment.get_template(template_id + SUFFIX)
        except jinja2.TemplateNotFound:
            raise InputError(
                f"There is no mail template {template_id!r}: add {template_id}{SUFFIX} to "
                "[email] templates_dir (it is also what the SMTP fallback sends)."
            ) from None
        except jinja2.TemplateSyntaxError as exc:
            raise InputError(
                f"The mail template {template_id}{SUFFIX} has an error on line {exc.lineno}: "
                f"{exc.message}."
            ) from None

    def render(self, template_id: str, recipient: Recipient, data: Mapping[str, Any]) -> MailText:
        values = {**data, **recipient.as_json()}
        try:
            text = self.require(template_id).render(values)
        except jinja2.UndefinedError as exc:
            raise InputError(
                f"The mail template {template_id}{SUFFIX} uses {exc.message}."
            ) from None
        head, _, body = text.partition("\n")
        if not head.startswith("Subject:"):
            raise InputError(
                f"The mail template {template_id}{SUFFIX} must start with a 'Subject: ' line."
            )
        return MailText(head.removeprefix("Subject:").strip(), body.lstrip("\n"))


def mail_each(
    config: Config,
    templates: MailTemplates,
    template_id: str,
    recipients: list[Recipient],
    data: Mapping[str, Any],
) -> dict[int, str | None]:
    """One mail per recipient; userid -> None when handed to the server, else the reason."""
    outcomes: dict[int, str | None] = {}
    for recipient in recipients:
        text = templates.render(template_id, recipient, data)
        try:
            send(
                config, compose(config, to=[recipient.email], subject=text.subject, body=text.body)
            )
        except ManiReportsError as exc:
            outcomes[recipient.userid] = str(exc)
        else:
            outcomes[recipient.userid] = None
    return outcomes
