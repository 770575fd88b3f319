"""The HTTP endpoint the cloud workers post their callbacks to (`cloud serve-callbacks`).

A small threading server from the standard library: callbacks are short, infrequent requests,
and each is one state-database transaction, so a framework would add nothing. Put it behind the
site's TLS-terminating proxy; the signature, not the network, is what authenticates a callback.
Answers: 200 applied, 400 malformed, 401 bad signature or stale, 409 replay, 405 for anything
but POST, 413 for a body over 1 MiB, 500 when the state database fails (the worker retries).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from manireports.cloud.callbacks import (
    CallbackMalformedError,
    CallbackReplayedError,
    CallbackUnauthenticError,
    handle_callback,
)
from manireports.errors import ManiReportsError, RunError
from manireports.state.store import StateDB

MAX_BODY_BYTES = 1024 * 1024
Log = Callable[[str], None]


class _CallbackHandler(BaseHTTPRequestHandler):
    server: CallbackServer
    protocol_version = "HTTP/1.1"

    def _answer(self, status: int, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        length_header = self.headers.get("Content-Length")
        if length_header is None or not length_header.isdigit():
            self.close_connection = True
            self._answer(400, {"error": "A Content-Length header is required."})
            return
        length = int(length_header)
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            self._answer(413, {"error": "The body is larger than 1 MiB."})
            return
        body = self.rfile.read(length)
        signature = self.headers.get("X-Signature")
        try:
            outcome = handle_callback(
                self.server.state, self.server.secret, body, signature, int(time.time())
            )
        except (CallbackMalformedError, CallbackReplayedError, CallbackUnauthenticError) as exc:
            self._answer(exc.http_status, {"error": str(exc)})
        except ManiReportsError as exc:
            self.server.log(f"callback not applied: {exc}")
            self._answer(500, {"error": "The callback could not be stored; try again."})
        else:
            self._answer(
                200,
                {
                    "job_id": outcome.jobid,
                    "status": outcome.status,
                    "updated": outcome.updated,
                    "sent": outcome.sent,
                    "failed": outcome.failed,
                    "total": outcome.total,
                },
            )

    def _not_allowed(self) -> None:
        self.close_connection = True
        self.send_response(405)
        self.send_header("Allow", "POST")
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_PUT = do_DELETE = do_PATCH = do_HEAD = _not_allowed

    def log_message(self, format: str, *args: Any) -> None:
        self.server.log(f"{self.address_string()} {format % args}")


class CallbackServer(ThreadingHTTPServer):
    """Serves callbacks with one state database handle shared by the request threads."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], state: StateDB, secret: str, log: Log) -> None:
        self.state = state
        self.secret = secret
        self.log = log
        super().__init__(address, _CallbackHandler)


def open_callback_server(
    state: StateDB, secret: str, host: str, port: int, log: Log
) -> CallbackServer:
    """A bound server, ready for serve_forever(); RunError when the port cannot be had."""
    try:
        return CallbackServer((host, port), state, secret, log)
    except OSError as exc:
        raise RunError(
            f"Cannot listen on {host}:{port} ({exc.strerror or exc}); choose another --port."
        ) from None
