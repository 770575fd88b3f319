"""A non-blocking lock file per job, so a job started while the previous run is still going
exits at once instead of doubling the work."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from manireports.errors import RunError


class JobAlreadyRunning(Exception):
    """Another process holds this job's lock."""


@contextmanager
def job_lock(lock_dir: Path, job: str) -> Iterator[Path]:
    """Hold `<lock_dir>/<job>.lock` for the block, or raise JobAlreadyRunning at once."""
    try:
        lock_dir.mkdir(parents=True, exist_ok=True)
        handle = os.open(lock_dir / f"{job}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise RunError(
            f"Cannot create the lock file in {lock_dir} ({exc.strerror}); set [jobs] lock_dir "
            "to a writable directory."
        ) from None
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise JobAlreadyRunning(job) from None
        os.ftruncate(handle, 0)
        os.write(handle, f"{os.getpid()}\n".encode())
        yield lock_dir / f"{job}.lock"
    finally:
        os.close(handle)
