"""Run the real command line in a child process, with separate stdout and stderr."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def run_cli(
    *args: str,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[bytes]:
    """`manireports ARGS` as an operator would run it, from this checkout."""
    environ = dict(os.environ)
    environ["PYTHONPATH"] = str(REPO)
    environ.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "manireports", *args],
        input=stdin.encode() if stdin is not None else None,
        capture_output=True,
        env=environ,
        timeout=timeout,
        check=False,
    )
