"""Run the command line: in a child process (`run_cli`), or in this one (`invoke`).

Both give the exit code, stdout as bytes and stderr as bytes. `invoke` runs the same entry point
with the streams of a test instead of the process's: use it unless the test is about what only a
process has (signals, a pipe closed by its reader, a terminal, file descriptors, `python -m`).
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Invoked:
    """What `run_cli` returns, for a run in this process."""

    args: tuple[str, ...]
    returncode: int
    stdout: bytes
    stderr: bytes


class _Captured(io.BytesIO):
    """A stream the command may wrap and let go of: a text wrapper collected by the garbage
    collector closes what it wraps, and the captured bytes must outlive it."""

    def close(self) -> None:
        pass


@contextmanager
def _environment(env: Mapping[str, str] | None) -> Iterator[None]:
    """The variables of `env` set for the run, and put back as they were afterwards."""
    saved = {name: os.environ.get(name) for name in env or {}}
    os.environ.update(env or {})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def invoke(
    *args: str, env: dict[str, str] | None = None, stdin: str | bytes | None = None
) -> Invoked:
    """`manireports ARGS` in this process: the same parsing, commands and exit codes as
    `run_cli`, with the test's streams, no terminal, and `env` applied for the run only."""
    from manireports.cli import app
    from manireports.cli.environment import Environment, run

    out, err = _Captured(), _Captured()
    data = stdin.encode() if isinstance(stdin, str) else stdin or b""
    text_out = io.TextIOWrapper(out, encoding="utf-8", write_through=True)
    text_err = io.TextIOWrapper(
        err, encoding="utf-8", errors="backslashreplace", write_through=True
    )
    environment = Environment(
        stdin=io.BytesIO(data),
        stdout=text_out,
        stdout_binary=out,
        stderr=text_err,
        stdout_is_terminal=False,
        stderr_is_terminal=False,
        colour=False,
    )
    # What click writes by itself (help, usage, --version) goes to sys.stdout and sys.stderr.
    with _environment(env), redirect_stdout(text_out), redirect_stderr(text_err):
        code = run(app, list(args), environment)
    text_out.flush()
    text_err.flush()
    return Invoked(args, code, out.getvalue(), err.getvalue())
