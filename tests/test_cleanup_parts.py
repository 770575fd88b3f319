"""`jobs cleanup` removes the temporary files that killed runs left (they hold personal data):
under `[storage] dir`, and beside every output path the run log knows, a finished or a failed
run's; only those over a day old, and beside an operator's file only those of that very name."""

from __future__ import annotations

import os
import time
from pathlib import Path

from tests.cli_runner import invoke
from tests.schedule_support import ZONE, build_site

OLD = time.time() - 2 * 86_400


def _make(path: Path, *, old: bool) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"learner,personal,data\n")
    if old:
        os.utime(path, (OLD, OLD))
    return path


def test_cleanup_removes_day_old_temporary_files_of_runs_and_nothing_else(
    tmp_path: Path,
) -> None:
    build_site(tmp_path / "moodle.sqlite")
    env = {
        "MANIREPORTS_MOODLE_URL": f"sqlite:///{tmp_path / 'moodle.sqlite'}",
        "MANIREPORTS_STATE_URL": f"sqlite:///{tmp_path / 'state.sqlite'}",
        "MANIREPORTS_SITE_TIMEZONE": ZONE,
        "MANIREPORTS_STORAGE_DIR": str(tmp_path / "files"),
        "MANIREPORTS_JOBS_LOCK_DIR": str(tmp_path / "locks"),
    }
    assert invoke("db", "upgrade", env=env).returncode == 0
    # A finished run's output directory.
    out = tmp_path / "out"
    out.mkdir()
    done = invoke("run-report", "course_completion", "-o", str(out / "report.csv"), env=env)
    assert done.returncode == 0, done.stderr.decode()
    # A failed run that never got its file (its directory was missing then).
    failed = invoke("run-report", "course_completion", "-o", str(tmp_path / "gone" / "a.csv"),
                     env=env)  # fmt: skip
    assert failed.returncode == 2, failed.stderr.decode()

    removed = [
        _make(out / ".report.csv.0123abcd.part", old=True),
        _make(tmp_path / "gone" / ".a.csv.89abcdef.part", old=True),
        _make(tmp_path / "files" / "schedules" / "4" / ".s-20260105-all.csv.deadbeef.part",
              old=True),
    ]  # fmt: skip
    kept = [
        _make(out / ".report.csv.fedcba98.part", old=False),  # a run writing right now
        _make(out / ".other.csv.0123abcd.part", old=True),  # no run wrote other.csv
        _make(out / "notes.part", old=True),
        _make(out / ".report.csv.part", old=True),
        _make(tmp_path / "files" / "schedules" / "4" / ".s.csv.01234567.part", old=False),
    ]
    cleaned = invoke("-v", "jobs", "cleanup", env=env)
    assert cleaned.returncode == 0, cleaned.stderr.decode()
    assert "Removed 3 temporary files left by killed runs." in cleaned.stderr.decode()
    assert [path for path in removed if path.exists()] == []
    assert [path for path in kept if not path.exists()] == []
    assert (out / "report.csv").exists()
