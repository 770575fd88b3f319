"""The job contract the cloud workers read: one JSON object per batch of recipients.

The fields are the ManiReports plugin's (job_id, tenant_id, type, courseid, created_by, recipients,
template_id, template_data, generate_certificate, certificate_template, callback_url, timestamp)
plus `email_provider`, so the workers need no configuration of their own to pick it. The
plugin's `callback_secret` is left out on purpose: the secret is configured on both sides and
never travels with a job, so it cannot leak from a queue, a log or the jobs table.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from manireports.errors import ConfigError

REMINDER = "send_reminder"


@dataclass(frozen=True)
class Recipient:
    userid: int
    email: str
    firstname: str
    lastname: str

    def as_json(self) -> dict[str, Any]:
        return {
            "userid": self.userid,
            "email": self.email,
            "firstname": self.firstname,
            "lastname": self.lastname,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Recipient:
        return cls(int(data["userid"]), data["email"], data["firstname"], data["lastname"])


@dataclass(frozen=True)
class JobSpec:
    """Everything the batches of one request share."""

    type: str
    tenant_id: int | None
    courseid: int | None
    created_by: int
    template_id: str
    template_data: Mapping[str, Any]
    callback_url: str | None
    email_provider: str
    generate_certificate: bool = False
    certificate_template: str | None = None


def batches(recipients: Sequence[Recipient], size: int) -> Iterator[Sequence[Recipient]]:
    """Consecutive slices of at most `size` recipients, in the order given."""
    if size < 1:
        raise ConfigError(f"[cloud] batch_size must be at least 1, not {size}.")
    for start in range(0, len(recipients), size):
        yield recipients[start : start + size]


def iso_timestamp(now: int) -> str:
    return datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_job(spec: JobSpec, recipients: Sequence[Recipient], now: int) -> dict[str, Any]:
    """One job in the contract, with a fresh job_id."""
    return {
        "job_id": str(uuid.uuid4()),
        "tenant_id": spec.tenant_id,
        "type": spec.type,
        "courseid": spec.courseid,
        "created_by": spec.created_by,
        "recipients": [recipient.as_json() for recipient in recipients],
        "template_id": spec.template_id,
        "template_data": dict(spec.template_data),
        "generate_certificate": spec.generate_certificate,
        "certificate_template": spec.certificate_template,
        "callback_url": spec.callback_url,
        "email_provider": spec.email_provider,
        "timestamp": iso_timestamp(now),
    }


def build_jobs(
    spec: JobSpec, recipients: Sequence[Recipient], batch_size: int, now: int
) -> list[dict[str, Any]]:
    return [build_job(spec, batch, now) for batch in batches(recipients, batch_size)]
