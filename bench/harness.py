"""Benchmark harness: time commands against a floor measured in the same run.

Absolute seconds depend on the machine and its load; a ratio against a floor measured minutes
apart on the same machine does not (much). Each command runs as a child process whose peak
resident memory is read from its own rusage (os.wait4), so one measurement never inherits
another's peak. The best of N runs is kept, as is usual for wall-clock benchmarks.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Measurement:
    label: str
    seconds: float
    peak_mb: float


def run_once(
    argv: Sequence[str], *, env: Mapping[str, str] | None = None, stdout_path: str = os.devnull
) -> tuple[float, float]:
    """Run one command with stdout to a file; return (seconds, peak RSS in MB)."""
    with open(stdout_path, "wb") as sink:
        started = time.perf_counter()
        process = subprocess.Popen(
            list(argv), stdout=sink, stderr=subprocess.PIPE, env=dict(env) if env else None
        )
        assert process.stderr is not None
        _pid, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - started
        errors = process.stderr.read().decode("utf-8", "replace")
        process.stderr.close()
        process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {process.returncode}: {errors.strip()}")
    return elapsed, usage.ru_maxrss / 1024


def measure(
    label: str,
    argv: Sequence[str],
    *,
    repeat: int = 3,
    env: Mapping[str, str] | None = None,
    stdout_path: str = os.devnull,
) -> Measurement:
    runs = [run_once(argv, env=env, stdout_path=stdout_path) for _ in range(repeat)]
    best = min(runs, key=lambda run: run[0])
    return Measurement(label, best[0], max(run[1] for run in runs))


def python_argv(code: str) -> list[str]:
    """A floor written in Python, run in a fresh interpreter like the command it is compared to."""
    return [sys.executable, "-c", code]


def print_table(floor: Measurement, others: Sequence[Measurement]) -> None:
    print(f"{'measurement':<52} {'seconds':>9} {'ratio':>7} {'peak MB':>8}")
    for item in (floor, *others):
        ratio = item.seconds / floor.seconds if floor.seconds else float("nan")
        print(f"{item.label:<52} {item.seconds:>9.2f} {ratio:>6.2f}x {item.peak_mb:>8.1f}")
