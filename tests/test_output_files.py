"""Where `-o` writes and with which permissions: through symbolic links (the link stays), into
FIFOs and devices as a stream (never replaced by a regular file), keeping an existing file's mode;
scheduled report files and the SQLite state database are created 0600 unless `[storage]
file_mode` says otherwise."""

from __future__ import annotations

import csv
import io
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from manireports.config import load_config
from manireports.errors import ConfigError
from manireports.export.atomic import atomic_output, part_file_pattern
from manireports.state import StateDB
from tests.cli_runner import REPO, invoke, run_cli
from tests.schedule_support import ZONE, build_site


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _leftovers(directory: Path) -> list[str]:
    return [p.name for p in directory.iterdir() if part_file_pattern().fullmatch(p.name)]


def test_a_symbolic_link_stays_a_link_and_its_target_is_replaced(tmp_path: Path) -> None:
    real = tmp_path / "data" / "report.csv"
    real.parent.mkdir()
    real.write_bytes(b"old\n")
    os.chmod(real, 0o640)
    link = tmp_path / "latest.csv"
    link.symlink_to(real)
    with atomic_output(link) as stream:
        stream.write(b"new\n")
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_bytes() == b"new\n"
    assert _mode(real) == 0o640
    assert _leftovers(real.parent) == [] and _leftovers(tmp_path) == []


def test_a_dangling_link_gets_its_target_created(tmp_path: Path) -> None:
    link = tmp_path / "latest.csv"
    link.symlink_to(tmp_path / "made.csv")
    with atomic_output(link, mode=0o600) as stream:
        stream.write(b"x\n")
    assert link.is_symlink() and (tmp_path / "made.csv").read_bytes() == b"x\n"
    assert _mode(tmp_path / "made.csv") == 0o600


@pytest.mark.parametrize("existing", [0o600, 0o640, 0o604])
def test_an_existing_file_keeps_its_mode(tmp_path: Path, existing: int) -> None:
    target = tmp_path / "out.csv"
    target.write_bytes(b"old\n")
    os.chmod(target, existing)
    with atomic_output(target, mode=0o644) as stream:  # mode is for new files only
        stream.write(b"new\n")
    assert target.read_bytes() == b"new\n"
    assert _mode(target) == existing


def test_a_new_file_gets_the_mode_asked_for_or_the_umask(tmp_path: Path) -> None:
    with atomic_output(tmp_path / "private.csv", mode=0o600) as stream:
        stream.write(b"x")
    assert _mode(tmp_path / "private.csv") == 0o600
    with atomic_output(tmp_path / "shared.csv", mode=0o640) as stream:
        stream.write(b"x")
    assert _mode(tmp_path / "shared.csv") == 0o640
    umask = os.umask(0o027)
    try:
        with atomic_output(tmp_path / "plain.csv") as stream:
            stream.write(b"x")
    finally:
        os.umask(umask)
    assert _mode(tmp_path / "plain.csv") == 0o640  # 0666 less the umask 027


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    target.write_bytes(b"old\n")
    with pytest.raises(RuntimeError), atomic_output(target) as stream:
        stream.write(b"half")
        # While it is written the temporary file is the owner's alone.
        [name] = _leftovers(tmp_path)
        assert _mode(tmp_path / name) == 0o600
        raise RuntimeError("stop")
    assert target.read_bytes() == b"old\n"
    assert _leftovers(tmp_path) == []


def test_a_fifo_is_written_as_a_stream_and_stays_a_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    with atomic_output(fifo) as stream:
        for number in range(1000):
            stream.write(f"{number}\n".encode())
    reader.join(timeout=30)
    assert received == ["".join(f"{n}\n" for n in range(1000)).encode()]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert _leftovers(tmp_path) == []


def test_dev_null_stays_a_device(tmp_path: Path) -> None:
    before = os.lstat("/dev/null")
    with atomic_output(Path("/dev/null")) as stream:
        stream.write(b"nothing\n")
    after = os.lstat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and after.st_ino == before.st_ino
    assert not [name for name in os.listdir("/dev") if name.endswith(".part")]


@pytest.fixture
def site_env(tmp_path: Path) -> dict[str, str]:
    build_site(tmp_path / "moodle.sqlite")
    return {
        "MANIREPORTS_MOODLE_URL": f"sqlite:///{tmp_path / 'moodle.sqlite'}",
        "MANIREPORTS_STATE_URL": f"sqlite:///{tmp_path / 'state.sqlite'}",
        "MANIREPORTS_SITE_TIMEZONE": ZONE,
        "MANIREPORTS_STORAGE_DIR": str(tmp_path / "files"),
    }


def _rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


def test_run_report_to_dev_stdout_streams_into_a_pipe_and_a_redirected_file(
    tmp_path: Path, site_env: dict[str, str]
) -> None:
    assert run_cli("db", "upgrade", env=site_env).returncode == 0
    device = os.stat("/dev/stdout", follow_symlinks=False)
    piped = run_cli("run-report", "course_completion", "-f", "csv", "-o", "/dev/stdout",
                    env=site_env)  # fmt: skip
    assert piped.returncode == 0, piped.stderr.decode()
    rows = _rows(piped.stdout)
    assert len(rows) == 4  # the header and the 3 learners of the test site
    # The shell's `> file` behind /dev/stdout: the data lands in the file it opened.
    redirected = tmp_path / "redirected.csv"
    with redirected.open("wb") as out:
        done = subprocess.run(
            [sys.executable, "-m", "manireports", "run-report", "course_completion",
             "-f", "csv", "-o", "/dev/stdout"],
            env={**os.environ, **site_env, "PYTHONPATH": str(REPO)},
            stdout=out, stderr=subprocess.PIPE, check=False, timeout=300,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    assert _rows(redirected.read_bytes()) == rows
    after = os.stat("/dev/stdout", follow_symlinks=False)
    assert (after.st_mode, after.st_ino) == (device.st_mode, device.st_ino)
    assert not [name for name in os.listdir("/dev") if name.endswith(".part")]


def test_run_report_keeps_a_private_files_mode_and_writes_through_a_link(
    tmp_path: Path, site_env: dict[str, str]
) -> None:
    assert invoke("db", "upgrade", env=site_env).returncode == 0
    target = tmp_path / "private.csv"
    target.write_bytes(b"")
    os.chmod(target, 0o600)
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    done = invoke("run-report", "course_completion", "-o", str(link), env=site_env)
    assert done.returncode == 0, done.stderr.decode()
    assert link.is_symlink()
    assert len(_rows(target.read_bytes())) == 4
    assert _mode(target) == 0o600


def test_the_sqlite_state_database_is_created_private(
    tmp_path: Path, site_env: dict[str, str]
) -> None:
    done = invoke("db", "upgrade", env=site_env)
    assert done.returncode == 0, done.stderr.decode()
    assert _mode(tmp_path / "state.sqlite") == 0o600
    loose = {**site_env, "MANIREPORTS_STATE_URL": f"sqlite:///{tmp_path / 'loose.sqlite'}",
             "MANIREPORTS_STORAGE_FILE_MODE": "0640"}  # fmt: skip
    assert invoke("db", "upgrade", env=loose).returncode == 0
    assert _mode(tmp_path / "loose.sqlite") == 0o640
    # The library's own handle too, whatever the umask.
    umask = os.umask(0)
    try:
        state = StateDB(f"sqlite:///{tmp_path / 'library.sqlite'}")
        state.upgrade()
        state.close()
    finally:
        os.umask(umask)
    assert _mode(tmp_path / "library.sqlite") == 0o600


@pytest.mark.parametrize("bad", ["0777", "0700", "0400", "644x", "rw-r--r--", "01000", ""])
def test_a_bad_file_mode_is_refused_naming_the_key(bad: str) -> None:
    with pytest.raises(ConfigError, match=r"storage\.file_mode"):
        load_config(environ={"MANIREPORTS_STORAGE_FILE_MODE": bad})
    done = invoke("config", "show", env={"MANIREPORTS_STORAGE_FILE_MODE": bad})
    assert done.returncode == 2
    assert b"storage.file_mode" in done.stderr and b"Traceback" not in done.stderr


def test_good_file_modes_are_read_as_octal() -> None:
    assert load_config(environ={}).file_mode() == 0o600
    assert load_config(environ={"MANIREPORTS_STORAGE_FILE_MODE": "640"}).file_mode() == 0o640
    assert load_config(environ={"MANIREPORTS_STORAGE_FILE_MODE": "0666"}).file_mode() == 0o666


@pytest.mark.skipif(not Path("/dev/shm").is_dir(), reason="no /dev/shm on this host")
def test_a_regular_file_on_a_tmpfs_under_dev_is_still_written_atomically() -> None:
    target = Path("/dev/shm") / f"manireports-test-{os.getpid()}.csv"
    try:
        with atomic_output(target, mode=0o600) as stream:
            stream.write(b"a,b\n")
        assert target.read_bytes() == b"a,b\n" and _mode(target) == 0o600
        with pytest.raises(RuntimeError), atomic_output(target) as stream:
            stream.write(b"half")
            raise RuntimeError("stop")
        assert target.read_bytes() == b"a,b\n"
    finally:
        target.unlink(missing_ok=True)
