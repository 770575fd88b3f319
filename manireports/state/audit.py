"""The audit log: who did what to which object, with nothing secret in it.

Callers pass whatever details help an auditor (parameters, changed fields, the SQL of a custom
report); they should not have to remember which of them are secret. So every value is redacted
on the way in: values under secret-looking keys (password, token, secret, auth, key, signature,
...) are masked, however deeply nested, and credentials are cut out of any text (a database URL's
password, a bearer token). Masking too much costs a little detail; masking too little cannot be
undone once the log is shipped to a SIEM.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from manireports.state.store import StateDB, now_seconds, transaction
from manireports.state.tables import audit_logs

MASK = "****"

# Matched anywhere in the key, ignoring case and separators (authToken, X-Signature, smtp_password).
_SECRET_FRAGMENTS = (
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "signature",
    "credential",
    "authorization",
    "apikey",
    "accesskey",
    "privatekey",
    "sesskey",
    "cookie",
)
# Matched as a whole word of the key (db_pass, auth, api_key, hmac), so 'author' or 'monkey' pass.
_SECRET_WORDS = frozenset({"pass", "pwd", "auth", "key", "sig", "hmac", "dsn"})
_WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|[0-9]+")
# scheme://user:password@host, in any text; the user name stays so the URL is still recognisable.
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/?#@]*):[^\s/?#@]*@")
_BEARER = re.compile(r"(?i)\b(?P<scheme>bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}")


def is_secret_key(key: str) -> bool:
    """Whether a mapping key names something that must not be logged."""
    compact = re.sub(r"[^a-z0-9]", "", key.lower())
    if any(fragment in compact for fragment in _SECRET_FRAGMENTS) or compact.endswith("pass"):
        return True
    return any(word.lower() in _SECRET_WORDS for word in _WORDS.findall(key))


def redact_text(text: str) -> str:
    """Text with URL passwords and HTTP credentials masked (error messages quote URLs)."""
    text = _URL_PASSWORD.sub(lambda match: f"{match.group('head')}:{MASK}@", text)
    return _BEARER.sub(lambda match: f"{match.group('scheme')} {MASK}", text)


def redact(value: Any) -> Any:
    """A JSON-ready copy of `value` with every secret masked, at any depth."""
    if isinstance(value, Mapping):
        return {str(key): _redact_item(str(key), item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [redact(item) for item in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


def _redact_item(key: str, value: Any) -> Any:
    if not is_secret_key(key):
        return redact(value)
    # An absent secret is worth knowing about ("no password was set"); a present one is masked.
    return None if value is None else MASK


def to_json(value: Mapping[str, Any] | None) -> str | None:
    """Redacted, compact JSON for a details or parameters column; dates and paths as text."""
    if value is None:
        return None
    return json.dumps(redact(value), ensure_ascii=False, sort_keys=True, default=str)


def from_json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def record_audit(
    state: StateDB | sa.Connection,
    *,
    userid: int,
    action: str,
    objecttype: str,
    objectid: int | None = None,
    details: Mapping[str, Any] | None = None,
    now: int | None = None,
) -> int:
    """Write one audit entry and return its id.

    Pass a Connection to make the entry part of the caller's transaction (a report created and
    its audit entry commit together); pass the StateDB to commit it on its own.
    """
    row = {
        "userid": userid,
        "action": action,
        "objecttype": objecttype,
        "objectid": objectid,
        "details": to_json(details),
        "timecreated": now_seconds(now),
    }
    with transaction(state) as connection:
        result = connection.execute(sa.insert(audit_logs).values(row))
        key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def list_audit(
    state: StateDB | sa.Connection,
    since: int | None = None,
    action: str | None = None,
    userid: int | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Audit entries, newest first, with `details` decoded; `since` is a Unix time, inclusive."""
    query = sa.select(audit_logs).order_by(audit_logs.c.timecreated.desc(), audit_logs.c.id.desc())
    if since is not None:
        query = query.where(audit_logs.c.timecreated >= since)
    if action is not None:
        query = query.where(audit_logs.c.action == action)
    if userid is not None:
        query = query.where(audit_logs.c.userid == userid)
    if limit is not None:
        query = query.limit(limit)
    with transaction(state) as connection:
        rows = connection.execute(query).mappings().all()
    return [{**row, "details": from_json(row["details"])} for row in rows]
