"""`cloud serve-callbacks` against hostile clients, over real sockets on 127.0.0.1: slow and
trickling clients are cut off after the read timeout, a full server answers 503 at once, a
malformed Content-Length is a 400, each aborted connection is one log line and no traceback, and
SIGTERM ends the server with exit 143."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from manireports.cloud.callbacks import signature_of
from tests.cli_runner import REPO, invoke
from tests.cloud_support import SECRET, free_port, upgraded_state


class Server:
    """The real command line serving callbacks, with its stdout and stderr in a file."""

    def __init__(self, tmp_path: Path, **settings: str) -> None:
        self.port = free_port()
        self.log_path = tmp_path / f"serve-{self.port}.log"
        state_url = upgraded_state(f"sqlite:///{tmp_path / f'state-{self.port}.sqlite'}")
        environ = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "MANIREPORTS_STATE_URL": state_url,
            "MANIREPORTS_CLOUD_CALLBACK_SECRET": SECRET,
            **settings,
        }
        self.log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "manireports", "cloud", "serve-callbacks",
             "--port", str(self.port)],
            env=environ, stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                assert self.process.poll() is None, self.output()
                assert time.monotonic() < deadline, "serve-callbacks did not start"
                time.sleep(0.1)

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=10)

    def request(self, head: bytes, body: bytes = b"") -> tuple[int, bytes]:
        """Send a whole request and read the answer to its end: (status, body)."""
        with self.connect() as client:
            client.sendall(head + body)
            answer = _read_all(client)
        status_line, _, rest = answer.partition(b"\r\n")
        return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]

    def output(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.terminate()
        code = self.process.wait(timeout=90)
        self.log.close()
        return code


def _read_all(client: socket.socket) -> bytes:
    chunks = []
    while chunk := client.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def _post(body: bytes, length: str | None = None) -> bytes:
    size = str(len(body)) if length is None else length
    return (
        f"POST /callback HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"X-Signature: {signature_of(SECRET, body)}\r\nContent-Length: {size}\r\n\r\n"
    ).encode()


def _unknown_job_status(server: Server) -> int:
    # A correctly signed callback for a job that does not exist: the server read it all and
    # answered from the state database, so it is still serving.
    body = json.dumps(
        {"job_id": "no-such-job", "timestamp": int(time.time()), "recipients": []}
    ).encode()
    return server.request(_post(body), body)[0]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    running = Server(
        tmp_path,
        MANIREPORTS_CLOUD_CALLBACK_READ_TIMEOUT_SECONDS="1",
        MANIREPORTS_CLOUD_CALLBACK_MAX_CONNECTIONS="40",
    )
    try:
        yield running
    finally:
        running.stop()


def _aborted_lines(server: Server) -> list[str]:
    return [line for line in server.output().splitlines() if "connection aborted" in line]


def test_thirty_slow_clients_are_cut_off_after_the_read_timeout(server: Server) -> None:
    clients = [server.connect() for _ in range(30)]
    started = time.monotonic()
    for client in clients:
        client.sendall(b"POST /callback HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le")
    # Each is closed by the server (recv returns end of file) after its 1 s, not after ours 10.
    for client in clients:
        assert client.recv(1024) == b""
        client.close()
    elapsed = time.monotonic() - started
    assert elapsed < 6, elapsed
    status = _unknown_job_status(server)
    assert status == 400
    deadline = time.monotonic() + 10
    while len(_aborted_lines(server)) < 30 and time.monotonic() < deadline:
        time.sleep(0.1)
    lines = _aborted_lines(server)
    assert len(lines) == 30, server.output()
    assert all("not complete within 1 s" in line for line in lines), lines
    assert "Traceback" not in server.output()


def test_a_trickling_client_is_cut_off_by_the_whole_request_deadline(server: Server) -> None:
    # One byte every 0.3 s never trips a per-read timeout of 1 s; the deadline still applies.
    head = b"POST /callback HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: " + b"a" * 200
    started = time.monotonic()
    with server.connect() as client:
        closed = False
        for byte in head:
            try:
                client.sendall(bytes([byte]))
            except OSError:
                closed = True
                break
            time.sleep(0.3)
            client.setblocking(False)
            try:
                if client.recv(1024) == b"":
                    closed = True
                    break
            except BlockingIOError:
                pass
            finally:
                client.setblocking(True)
        assert closed
    elapsed = time.monotonic() - started
    assert 0.9 < elapsed < 4, elapsed


def test_a_body_shorter_than_its_content_length_is_aborted_and_logged(server: Server) -> None:
    with server.connect() as client:
        client.sendall(_post(b"", length="100") + b'{"job_id":')
        assert _read_all(client) == b""
    deadline = time.monotonic() + 10
    while not _aborted_lines(server) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(_aborted_lines(server)) == 1, server.output()


@pytest.mark.parametrize("length", ["abc", "²", "-1", "1e3", "0x10", "12 34", ""])
def test_a_malformed_content_length_is_a_400(server: Server, length: str) -> None:
    status, answer = server.request(_post(b"{}", length=length), b"{}")
    assert status == 400
    assert "Content-Length" in json.loads(answer)["error"]
    assert "Traceback" not in server.output()


def test_a_full_server_answers_503_at_once_and_recovers(tmp_path: Path) -> None:
    running = Server(
        tmp_path,
        MANIREPORTS_CLOUD_CALLBACK_READ_TIMEOUT_SECONDS="2",
        MANIREPORTS_CLOUD_CALLBACK_MAX_CONNECTIONS="5",
    )
    try:
        idle = [running.connect() for _ in range(5)]
        time.sleep(0.3)  # accepted and holding their slots
        started = time.monotonic()
        status, _ = running.request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert status == 503
        assert time.monotonic() - started < 1.5
        for client in idle:
            assert _read_all(client) == b""
            client.close()
        time.sleep(0.3)
        assert _unknown_job_status(running) == 400
        output = running.output()
        assert output.count("all connections are busy") == 1, output
        assert "Traceback" not in output
    finally:
        assert running.stop() == 143


def test_sigterm_stops_the_server_with_143_and_frees_the_port(tmp_path: Path) -> None:
    running = Server(tmp_path)
    held = running.connect()  # a client in the middle of nothing does not keep it alive
    code = running.stop()
    held.close()
    assert code == 143, running.output()
    assert "Stopped by SIGTERM." in running.output()
    with socket.socket() as again:
        again.bind(("127.0.0.1", running.port))


@pytest.mark.parametrize("port", ["70000", "-1"])
def test_a_port_outside_the_tcp_range_is_refused(port: str) -> None:
    refused = invoke("cloud", "serve-callbacks", "--port", port)
    assert refused.returncode == 2
    assert b"--port" in refused.stderr and b"Traceback" not in refused.stderr
