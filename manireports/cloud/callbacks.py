"""Callbacks from the cloud workers: checked, then applied to a job in one transaction.

A callback is trusted only when its raw body carries a valid HMAC-SHA256 under `[cloud]
callback_secret` (compared in constant time), its timestamp is within 300 seconds of now either
way (a captured body stops working after five minutes, and a worker whose clock runs a little
ahead is not refused), and that exact body was never accepted before. Replays are recognised by
the SHA-256 of the raw body, stored with the accepted callback in the same transaction that
applies it, so two deliveries of one body at the same moment still apply it once.

Applying locks the job row and then its recipient rows, and recomputes the job's counts from
those locked rows, so concurrent callbacks for one job serialise and no update is lost on any of
the three engines.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from manireports.config import Config
from manireports.errors import ConfigError, InputError, PermissionDeniedError
from manireports.state.audit import record_audit
from manireports.state.store import StateDB
from manireports.state.tables import callback_replay
from manireports.state.tables import cloud_job_recipients as recipients_table
from manireports.state.tables import cloud_jobs as jobs_table

WINDOW_SECONDS = 300
# Callbacks act for the cloud service, not for a Moodle user; the audit log records user 0.
OPERATOR = 0
# Job states that callbacks move on; a job that failed or fell back keeps its state and only
# its recipients' statuses are updated.
_LIVE = ("pending", "submitted", "in_progress", "completed")


class CallbackMalformedError(InputError):
    """Signed correctly but not a callback this service can apply (HTTP 400)."""

    http_status = 400


class CallbackReplayedError(InputError):
    """This exact body was accepted before (HTTP 409)."""

    http_status = 409


class CallbackUnauthenticError(PermissionDeniedError):
    """Bad or missing signature, or a timestamp outside the window (HTTP 401)."""

    http_status = 401


CallbackRefusal = CallbackMalformedError | CallbackReplayedError | CallbackUnauthenticError


@dataclass(frozen=True)
class RecipientUpdate:
    userid: int
    status: str
    error: str | None
    certificate_url: str | None


@dataclass(frozen=True)
class Callback:
    jobid: str
    timestamp: int
    recipients: tuple[RecipientUpdate, ...]


@dataclass(frozen=True)
class CallbackOutcome:
    jobid: str
    status: str
    updated: int
    sent: int
    failed: int
    total: int


def callback_secret(config: Config) -> str:
    secret = config.settings.cloud.callback_secret
    if not secret:
        raise ConfigError(
            "Callbacks cannot be verified without [cloud] callback_secret; set it (or "
            "callback_secret_file) to the key the cloud workers sign with."
        )
    return secret


def signature_of(secret: str, body: bytes) -> str:
    """The hex HMAC-SHA256 of the raw body: what a worker puts in X-Signature."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_matches(secret: str, body: bytes, signature: str) -> bool:
    expected = signature_of(secret, body).encode()
    given = signature.strip().lower().encode("utf-8", "replace")
    return hmac.compare_digest(expected, given)


def _text_or_none(value: Any, where: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise CallbackMalformedError(f"The callback's {where} must be text or null.")


def _whole_number(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_callback(body: bytes) -> Callback:
    """The callback in `body`, or CallbackMalformedError naming what is wrong."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise CallbackMalformedError("The callback body is not JSON in UTF-8.") from None
    if not isinstance(data, dict):
        raise CallbackMalformedError("The callback body must be a JSON object.")
    jobid, timestamp, entries = data.get("job_id"), data.get("timestamp"), data.get("recipients")
    if not isinstance(jobid, str) or not jobid:
        raise CallbackMalformedError("The callback has no job_id.")
    if not isinstance(timestamp, int) or isinstance(timestamp, bool):
        raise CallbackMalformedError("The callback's timestamp must be Unix seconds.")
    if not isinstance(entries, list) or not entries:
        raise CallbackMalformedError("The callback's recipients must be a non-empty list.")
    updates: list[RecipientUpdate] = []
    for number, entry in enumerate(entries, 1):
        where = f"recipient {number}"
        if not isinstance(entry, dict) or not _whole_number(entry.get("userid")):
            raise CallbackMalformedError(f"The callback's {where} has no userid.")
        status = entry.get("status")
        if status not in ("sent", "failed"):
            raise CallbackMalformedError(f"The callback's {where} status must be sent or failed.")
        updates.append(
            RecipientUpdate(
                userid=entry["userid"],
                status=status,
                error=_text_or_none(entry.get("error"), f"{where} error"),
                certificate_url=_text_or_none(
                    entry.get("certificate_url"), f"{where} certificate_url"
                ),
            )
        )
    if len({update.userid for update in updates}) != len(updates):
        raise CallbackMalformedError("The callback names a recipient twice.")
    return Callback(jobid, timestamp, tuple(updates))


def verify_callback(secret: str, body: bytes, signature: str | None, now: int) -> Callback:
    """Signature first (an unsigned body is not even parsed), then form, then freshness."""
    if not signature or not signature_matches(secret, body, signature):
        raise CallbackUnauthenticError("The callback's X-Signature does not match its body.")
    callback = parse_callback(body)
    if abs(now - callback.timestamp) > WINDOW_SECONDS:
        raise CallbackUnauthenticError(
            f"The callback's timestamp is {now - callback.timestamp} s from now, outside the "
            f"{WINDOW_SECONDS} s window."
        )
    return callback


def _apply(connection: sa.Connection, callback: Callback, now: int) -> CallbackOutcome:
    job = connection.execute(
        sa.select(jobs_table.c.status, jobs_table.c.timecompleted)
        .where(jobs_table.c.jobid == callback.jobid)
        .with_for_update()
    ).first()
    if job is None:
        raise CallbackMalformedError(f"The callback names an unknown job {callback.jobid}.")
    rows = connection.execute(
        sa.select(recipients_table.c.userid, recipients_table.c.status)
        .where(recipients_table.c.jobid == callback.jobid)
        .with_for_update()
    ).all()
    statuses = {int(userid): str(status) for userid, status in rows}
    strangers = [u.userid for u in callback.recipients if u.userid not in statuses]
    if strangers:
        raise CallbackMalformedError(
            f"The callback names users {strangers} who are not recipients of job {callback.jobid}."
        )
    updated = 0
    for update in callback.recipients:
        # A mail once sent cannot be unsent: a late "failed" does not overturn "sent".
        if statuses[update.userid] == "sent":
            continue
        values: dict[str, Any] = {
            "status": update.status,
            "error_message": update.error if update.status == "failed" else None,
            "attempts": recipients_table.c.attempts + 1,
        }
        if update.status == "sent":
            values["timesent"] = callback.timestamp
        if update.certificate_url is not None:
            values["certificate_url"] = update.certificate_url
        connection.execute(
            sa.update(recipients_table)
            .where(
                recipients_table.c.jobid == callback.jobid,
                recipients_table.c.userid == update.userid,
            )
            .values(values)
        )
        statuses[update.userid] = update.status
        updated += 1
    sent = sum(1 for status in statuses.values() if status == "sent")
    failed = sum(1 for status in statuses.values() if status == "failed")
    status = str(job.status)
    job_values: dict[str, Any] = {"completed_recipients": sent, "failed_recipients": failed}
    if status in _LIVE:
        status = "completed" if sent + failed == len(statuses) else "in_progress"
        job_values["status"] = status
        if status == "completed" and job.timecompleted is None:
            job_values["timecompleted"] = now
    connection.execute(
        sa.update(jobs_table).where(jobs_table.c.jobid == callback.jobid).values(job_values)
    )
    return CallbackOutcome(callback.jobid, status, updated, sent, failed, len(statuses))


def _jobid_hint(body: bytes) -> str | None:
    """The job a refused body claims to be about, for the audit log; never trusted."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    jobid = data.get("job_id") if isinstance(data, dict) else None
    return jobid[:36] if isinstance(jobid, str) else None


def handle_callback(
    state: StateDB, secret: str, body: bytes, signature: str | None, now: int
) -> CallbackOutcome:
    """Verify and apply one callback; every refusal is audited and changes nothing else."""
    bodyhash = hashlib.sha256(body).hexdigest()
    try:
        callback = verify_callback(secret, body, signature, now)
        with state.begin() as connection:
            try:
                connection.execute(
                    sa.insert(callback_replay).values(
                        bodyhash=bodyhash, jobid=callback.jobid, timereceived=now
                    )
                )
            except sa.exc.IntegrityError:
                raise CallbackReplayedError(
                    "This callback was accepted before; a replay changes nothing."
                ) from None
            outcome = _apply(connection, callback, now)
            record_audit(
                connection,
                userid=OPERATOR,
                action="cloud_callback",
                objecttype="cloud_job",
                details={
                    "jobid": callback.jobid,
                    "bodyhash": bodyhash,
                    "updated": outcome.updated,
                    "status": outcome.status,
                },
                now=now,
            )
        return outcome
    except (CallbackMalformedError, CallbackReplayedError, CallbackUnauthenticError) as refusal:
        record_audit(
            state,
            userid=OPERATOR,
            action="cloud_callback_refused",
            objecttype="cloud_job",
            details={
                "jobid": _jobid_hint(body),
                "bodyhash": bodyhash,
                "http_status": refusal.http_status,
                "reason": str(refusal),
            },
            now=now,
        )
        raise
