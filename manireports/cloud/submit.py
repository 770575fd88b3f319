"""Handing a job to the cloud: an HTTP POST to the ingest API, or a message on an SQS queue.

Both transports sit behind one `Submitter` interface and share one retry rule, so the caller
(and the SMTP fallback) cannot tell them apart. "Unreachable" means every attempt failed in a way
that may pass: no connection, a timeout, a 5xx answer (or 408/429). Any other refusal (a 401 for
a wrong token, a 400 for a job the service does not accept) will not pass by retrying and is not
a reason to mail behind the cloud's back: it is reported as `CloudRefusedError`.

The SQS transport imports boto3 only when used (`pip install 'manireports[sqs]'`).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from manireports.config import Config
from manireports.errors import ConfigError, RunError

HTTP_TIMEOUT_SECONDS = 30
# Answers worth another try besides 5xx: request timeout and rate limiting.
_TRANSIENT_STATUS = {408, 429}

Sleep = Callable[[float], None]


class CloudUnreachableError(RunError):
    """Every attempt to hand a job over failed in a way that may pass; fall back to SMTP."""


class CloudRefusedError(RunError):
    """The cloud answered and refused the job; retrying or falling back would hide the cause."""


class _TransientError(Exception):
    """One failed attempt that may succeed later."""


class Submitter(Protocol):
    where: str

    def submit(self, job: Mapping[str, Any]) -> None:
        """Hand the job over, or raise CloudUnreachableError or CloudRefusedError."""


def _with_retries(
    attempt: Callable[[], None], where: str, retries: int, delay: float, sleep: Sleep
) -> None:
    last = ""
    for number in range(retries + 1):
        if number:
            sleep(delay * 2 ** (number - 1))
        try:
            attempt()
            return
        except _TransientError as exc:
            last = str(exc)
    raise CloudUnreachableError(
        f"The cloud service at {where} could not be reached after {retries + 1} attempts "
        f"(last: {last})."
    )


def _body(job: Mapping[str, Any]) -> bytes:
    return json.dumps(job, ensure_ascii=False, separators=(",", ":")).encode()


class HttpSubmitter:
    """POST each job as JSON to `[cloud] endpoint` with the bearer token (api_gateway mode)."""

    def __init__(
        self, endpoint: str, token: str, retries: int, delay: float, sleep: Sleep = time.sleep
    ) -> None:
        if not endpoint.startswith(("http://", "https://")):
            raise ConfigError(f"[cloud] endpoint must be an http(s) URL, not {endpoint!r}.")
        self.where = endpoint
        self._token = token
        self._retries = retries
        self._delay = delay
        self._sleep = sleep

    def _attempt(self, body: bytes) -> None:
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
            self.where,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "Authorization": f"Bearer {self._token}",
                "User-Agent": "manireports",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_SECONDS) as answer:  # noqa: S310
                answer.read()
        except urllib.error.HTTPError as exc:
            if exc.code >= 500 or exc.code in _TRANSIENT_STATUS:
                raise _TransientError(f"HTTP {exc.code}") from None
            detail = exc.read(200).decode(errors="replace").strip()
            hint = " check [cloud] auth_token;" if exc.code in (401, 403) else ""
            raise CloudRefusedError(
                f"The cloud service at {self.where} refused the job with HTTP {exc.code}"
                f"{': ' + detail if detail else ''};{hint} the job is marked failed and "
                "`manireports cloud retry` can send it again."
            ) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise _TransientError(str(reason)) from None

    def submit(self, job: Mapping[str, Any]) -> None:
        body = _body(job)
        _with_retries(
            lambda: self._attempt(body), self.where, self._retries, self._delay, self._sleep
        )


class SqsSubmitter:
    """Send each job as one message to `[cloud] queue_url` (sqs mode), with boto3's credentials."""

    def __init__(
        self,
        queue_url: str,
        region: str | None,
        retries: int,
        delay: float,
        sleep: Sleep = time.sleep,
    ) -> None:
        try:
            import boto3
        except ImportError:
            raise ConfigError(
                "[cloud] mode = 'sqs' needs boto3; install it with pip install 'manireports[sqs]'."
            ) from None
        self.where = queue_url
        self._client = boto3.client("sqs", region_name=region)
        self._retries = retries
        self._delay = delay
        self._sleep = sleep

    def _attempt(self, body: str) -> None:
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
        )

        try:
            self._client.send_message(QueueUrl=self.where, MessageBody=body)
        except ClientError as exc:
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
            if status >= 500 or status in _TRANSIENT_STATUS:
                raise _TransientError(f"HTTP {status}") from None
            raise CloudRefusedError(
                f"The queue {self.where} refused the job ({exc}); check the AWS credentials "
                "and [cloud] queue_url."
            ) from None
        except BotoCoreError as exc:
            raise _TransientError(str(exc)) from None

    def submit(self, job: Mapping[str, Any]) -> None:
        body = _body(job).decode()
        _with_retries(
            lambda: self._attempt(body), self.where, self._retries, self._delay, self._sleep
        )


def make_submitter(config: Config, sleep: Sleep = time.sleep) -> Submitter:
    """The transport `[cloud] mode` chooses, with its settings checked."""
    retries = config.settings.cloud.submit_retries
    delay = config.settings.cloud.submit_retry_delay_seconds
    if retries < 0 or delay < 0:
        raise ConfigError(
            "[cloud] submit_retries and submit_retry_delay_seconds must not be negative."
        )
    if config.settings.cloud.mode == "sqs":
        queue_url = config.settings.cloud.queue_url
        if not queue_url:
            raise ConfigError("[cloud] mode = 'sqs' needs [cloud] queue_url.")
        return SqsSubmitter(queue_url, config.settings.cloud.region, retries, delay, sleep)
    endpoint = config.settings.cloud.endpoint
    token = config.settings.cloud.auth_token
    if not endpoint or not token:
        raise ConfigError(
            "[cloud] mode = 'api_gateway' needs [cloud] endpoint and auth_token (or "
            "auth_token_file)."
        )
    return HttpSubmitter(endpoint, token, retries, delay, sleep)
