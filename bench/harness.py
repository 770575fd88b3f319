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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Measurement:
    label: str
    seconds: float
    peak_mb: float
    # Processor seconds (user + system) of the command: on a shared machine the wall clock also
    # counts the time spent waiting for a processor, this does not.
    cpu_seconds: float = 0.0


# Each command is started by a small launcher process, which times it and reads its rusage: a
# child forked straight from a large benchmark process would count the parent's pages in its
# ru_maxrss (the peak includes the moment between fork and exec).
LAUNCHER = """
import os, subprocess, sys, time
with open(sys.argv[1], "wb") as sink:
    started = time.perf_counter()
    child = subprocess.Popen(sys.argv[2:], stdout=sink, stderr=subprocess.PIPE)
    errors = child.stderr.read()
    _pid, status, usage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - started
sys.stderr.write(errors.decode("utf-8", "replace"))
print(os.waitstatus_to_exitcode(status), elapsed, usage.ru_maxrss, usage.ru_utime + usage.ru_stime)
"""


def run_once(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    stdout_path: str = os.devnull,
    stdin_path: str = os.devnull,
) -> tuple[float, float, float]:
    """Run one command with stdout to a file and stdin from one; return (seconds, peak MB, CPU
    seconds)."""
    with open(stdin_path, "rb") as source:
        result = subprocess.run(
            [sys.executable, "-c", LAUNCHER, stdout_path, *argv],
            stdin=source,
            capture_output=True,
            env=dict(env) if env else None,
            check=False,
        )
    code, elapsed, peak_kb, cpu = result.stdout.split()
    if int(code) != 0:
        message = result.stderr.decode("utf-8", "replace").strip()
        raise RuntimeError(f"{' '.join(argv)[:200]} exited {code}: {message}")
    return float(elapsed), int(peak_kb) / 1024, float(cpu)


def measure(
    label: str,
    argv: Sequence[str],
    *,
    repeat: int = 3,
    env: Mapping[str, str] | None = None,
    stdout_path: str = os.devnull,
    stdin_path: str = os.devnull,
) -> Measurement:
    runs = [
        run_once(argv, env=env, stdout_path=stdout_path, stdin_path=stdin_path)
        for _ in range(repeat)
    ]
    best = min(runs, key=lambda run: run[0])
    return Measurement(label, best[0], max(run[1] for run in runs), best[2])


def python_argv(code: str) -> list[str]:
    """A floor written in Python, run in a fresh interpreter like the command it is compared to."""
    return [sys.executable, "-c", code]


def print_table(floor: Measurement, others: Sequence[Measurement]) -> None:
    print(f"{'measurement':<52} {'seconds':>9} {'ratio':>7} {'peak MB':>8}")
    for item in (floor, *others):
        ratio = item.seconds / floor.seconds if floor.seconds else float("nan")
        print(f"{item.label:<52} {item.seconds:>9.2f} {ratio:>6.2f}x {item.peak_mb:>8.1f}")
