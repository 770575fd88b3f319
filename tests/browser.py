"""A real headless Chromium driven over the DevTools protocol, for the dashboard's HTML.

Chromium (Debian's `chromium`, installed by .ci/run) is started with a fresh profile and every
network feature off, loads a file:// page, and reports the console errors, uncaught exceptions
and log errors the page caused, whether the page is wider than the window (nothing should scroll
sideways at phone width), and a PNG screenshot.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


def require_chromium() -> str:
    """The browser's path; skip (fail under CI) with how to install it when it is missing."""
    if Path(CHROMIUM).is_file():
        return CHROMIUM
    message = "Chromium is not installed; run `apt-get install chromium` (bash .ci/run does)."
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@dataclass
class PageReport:
    errors: list[str] = field(default_factory=list)
    overflow: bool = False
    screenshot: bytes = b""
    evaluated: Any = None


class _Session:
    def __init__(self, socket: Any) -> None:
        self.socket = socket
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv(timeout=60))
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return dict(message.get("result", {}))
            self.events.append(message)

    def wait_for(self, method: str) -> None:
        if any(event.get("method") == method for event in self.events):
            return
        while True:
            message = json.loads(self.socket.recv(timeout=60))
            self.events.append(message)
            if message.get("method") == method:
                return


def _errors(events: list[dict[str, Any]]) -> list[str]:
    found = []
    for event in events:
        params = event.get("params", {})
        if event.get("method") == "Runtime.consoleAPICalled" and params["type"] in (
            "error",
            "assert",
        ):
            found.append(json.dumps(params["args"]))
        elif event.get("method") == "Runtime.exceptionThrown":
            found.append(json.dumps(params["exceptionDetails"]))
        elif event.get("method") == "Log.entryAdded" and params["entry"]["level"] == "error":
            found.append(params["entry"]["text"])
    return found


def load_page(path: Path, *, width: int, height: int = 900, evaluate: str = "0") -> PageReport:
    """Open the file at `width` CSS pixels and report what the page did."""
    browser = require_chromium()
    profile = tempfile.mkdtemp(prefix="mr-chromium-")
    process = subprocess.Popen(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            f"--user-data-dir={profile}",
            "--remote-debugging-port=0",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        browser_url = None
        for line in process.stderr:
            match = re.search(r"DevTools listening on (ws://\S+)", line)
            if match:
                browser_url = match.group(1)
                break
        assert browser_url, "Chromium did not start its DevTools endpoint"
        from websockets.sync.client import connect

        with connect(browser_url, max_size=None, open_timeout=30) as socket:
            session = _Session(socket)
            target = session.call("Target.createTarget", url="about:blank")["targetId"]
            page_id = session.call("Target.attachToTarget", targetId=target, flatten=True)[
                "sessionId"
            ]
            return _drive(session, page_id, path, width, height, evaluate)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        shutil.rmtree(profile, ignore_errors=True)


def _drive(
    session: _Session, page: str, path: Path, width: int, height: int, evaluate: str
) -> PageReport:
    def call(method: str, **params: Any) -> dict[str, Any]:
        session.next_id += 1
        message_id = session.next_id
        session.socket.send(
            json.dumps({"id": message_id, "sessionId": page, "method": method, "params": params})
        )
        while True:
            message = json.loads(session.socket.recv(timeout=60))
            if message.get("id") == message_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return dict(message.get("result", {}))
            session.events.append(message)

    for domain in ("Page", "Runtime", "Log"):
        call(f"{domain}.enable")
    call(
        "Emulation.setDeviceMetricsOverride",
        width=width,
        height=height,
        deviceScaleFactor=1,
        mobile=width < 600,
    )
    call("Page.navigate", url=path.resolve().as_uri())
    session.wait_for("Page.loadEventFired")
    overflow = call(
        "Runtime.evaluate",
        expression="document.documentElement.scrollWidth > window.innerWidth",
        returnByValue=True,
    )["result"]["value"]
    evaluated = call("Runtime.evaluate", expression=evaluate, returnByValue=True)["result"].get(
        "value"
    )
    shot = call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
    return PageReport(
        errors=_errors(session.events),
        overflow=bool(overflow),
        screenshot=base64.b64decode(shot["data"]),
        evaluated=evaluated,
    )


def keep_artifact(name: str, data: bytes) -> Path:
    """Save a file under tests/artifacts/ (gitignored) for a person to look at after the run."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    path.write_bytes(data)
    return path
