"""The HTTP endpoint the cloud workers post their callbacks to (`cloud serve-callbacks`).

A small threading server from the standard library: callbacks are short, infrequent requests,
and each is one state-database transaction, so a framework would add nothing. Put it behind the
site's TLS-terminating proxy; the signature, not the network, is what authenticates a callback.
Answers: 200 applied, 400 malformed, 401 bad signature or stale, 409 replay, 405 for anything
but POST, 413 for a body over 1 MiB, 500 when the state database fails (the worker retries), 503
when `max_connections` clients are connected already.

It is open to anyone who can reach it, so a client gets `read_timeout` seconds from its
connection to the last byte of its body, however it trickles them, and one request per
connection; a client that is too slow, goes away or sends garbage costs one warning line, never a
traceback, and its thread ends.
"""

from __future__ import annotations

import json
import re
import socket
import sys
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from manireports.cloud.callbacks import (
    CallbackMalformedError,
    CallbackReplayedError,
    CallbackUnauthenticError,
    handle_callback,
)
from manireports.errors import ConfigError, ManiReportsError, RunError
from manireports.state.store import StateDB

MAX_BODY_BYTES = 1024 * 1024
Log = Callable[[str], None]


_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\nContent-Length: 0\r\n"
    b"Connection: close\r\n\r\n"
)


class _CallbackHandler(BaseHTTPRequestHandler):
    server: CallbackServer
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # The deadline below is what cuts a slow client off; this only backs it up.
        self.connection.settimeout(self.server.read_timeout + 1)
        self.expired = False
        self.reported = False
        self.deadline = threading.Timer(self.server.read_timeout, self._expire)
        self.deadline.daemon = True
        self.deadline.start()

    def _expire(self) -> None:
        # A socket timeout bounds each read; this bounds them all, for clients that trickle.
        self.expired = True
        with suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def handle(self) -> None:
        failure = None
        try:
            self.handle_one_request()
        except OSError as exc:
            failure = f"the connection failed ({exc.__class__.__name__}: {exc})"
        finally:
            self.deadline.cancel()
        if self.expired:
            failure = f"the request was not complete within {self.server.read_timeout:g} s"
        if failure is not None:
            self._aborted(failure)

    def _aborted(self, why: str) -> None:
        if self.reported:
            return
        self.reported = True
        self.server.warn(f"{self.client_address[0]}: connection aborted, {why}.")

    def log_error(self, format: str, *args: Any) -> None:
        # The standard library's own complaints (timeouts, bad request lines): one line each.
        if not self.expired:
            self._aborted(format % args)

    def _answer(self, status: int, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        if self.expired:
            return
        length_header = self.headers.get("Content-Length")
        if length_header is None or not re.fullmatch(r"[0-9]{1,12}", length_header.strip()):
            self._answer(400, {"error": "A Content-Length header with a byte count is required."})
            return
        length = int(length_header)
        if length > MAX_BODY_BYTES:
            self._answer(413, {"error": "The body is larger than 1 MiB."})
            return
        body = self.rfile.read(length)
        if len(body) < length:
            if not self.expired:
                self._aborted(f"the body ended after {len(body)} of {length} bytes")
            return
        # All read: the state database's time is not the client's to run out.
        self.deadline.cancel()
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

    def __init__(
        self,
        address: tuple[str, int],
        state: StateDB,
        secret: str,
        log: Log,
        *,
        warn: Log | None = None,
        read_timeout: float = 10.0,
        max_connections: int = 50,
    ) -> None:
        self.state = state
        self.secret = secret
        self.log = log
        self.warn = warn or log
        self.read_timeout = read_timeout
        self.slots = threading.BoundedSemaphore(max_connections)
        super().__init__(address, _CallbackHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.slots.acquire(blocking=False):
            # Answered from the accepting thread, without reading: a full server stays full
            # only as long as its clients' read timeouts.
            with suppress(OSError):
                request.settimeout(1.0)
                request.sendall(_BUSY)
            self.shutdown_request(request)
            self.warn(f"{client_address[0]}: connection refused, all connections are busy.")
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        self.warn(f"{client_address[0]}: connection aborted, {error.__class__.__name__}: {error}.")


def open_callback_server(
    state: StateDB,
    secret: str,
    host: str,
    port: int,
    log: Log,
    *,
    warn: Log | None = None,
    read_timeout: float = 10.0,
    max_connections: int = 50,
) -> CallbackServer:
    """A bound server, ready for serve_forever(); RunError when the port cannot be had."""
    if not read_timeout > 0:
        raise ConfigError(
            f"[cloud] callback_read_timeout_seconds must be above 0, not {read_timeout:g}."
        )
    if max_connections < 1:
        raise ConfigError(
            f"[cloud] callback_max_connections must be at least 1, not {max_connections}."
        )
    try:
        return CallbackServer(
            (host, port),
            state,
            secret,
            log,
            warn=warn,
            read_timeout=read_timeout,
            max_connections=max_connections,
        )
    except OSError as exc:
        raise RunError(
            f"Cannot listen on {host}:{port} ({exc.strerror or exc}); choose another --port."
        ) from None
