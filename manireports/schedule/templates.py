"""Subjects and bodies of scheduled mails, from Jinja2 templates the operator may override.

A file of the same name in `[email] templates_dir` replaces the packaged one (report_subject,
report_body, failure_subject, failure_body, refused_subject, refused_body, each `.txt.j2`).
Templates are strict: a variable that does not exist is an error naming the template, rather
than a blank in a mail to a manager.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2

from manireports.config import Config
from manireports.errors import ConfigError

PACKAGED = Path(__file__).resolve().parent / "templates"


def _environment(config: Config) -> jinja2.Environment:
    folders = [str(PACKAGED)]
    custom = config.settings.email.templates_dir
    if custom:
        folders.insert(0, str(Path(custom).expanduser()))
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(folders),
        undefined=jinja2.StrictUndefined,
        # Plain-text mail: nothing is HTML, so nothing is escaped.
        autoescape=jinja2.select_autoescape(enabled_extensions=(), default=False),
        keep_trailing_newline=True,
    )


def render_mail(config: Config, kind: str, values: Mapping[str, Any]) -> tuple[str, str]:
    """(subject, body) of a `report`, `failure` or `refused` mail."""
    environment = _environment(config)
    rendered: list[str] = []
    for part in ("subject", "body"):
        name = f"{kind}_{part}.txt.j2"
        try:
            rendered.append(environment.get_template(name).render(**values))
        except jinja2.TemplateError as exc:
            raise ConfigError(
                f"The mail template {name} cannot be rendered ({exc}); check it in "
                "[email] templates_dir or remove it to use the packaged one."
            ) from None
    subject = " ".join(rendered[0].split())
    return subject, rendered[1]
