"""Write a file so that a failed run never leaves a partial file under the requested name.

The data goes to a hidden temporary file (`.<name>.<8 hex digits>.part`) in the target's own
directory (so the final rename cannot cross filesystems) and is renamed over the target only when
the writer finished. Any exception, Ctrl-C and SIGTERM included, removes the temporary file, and
an existing file under the name is left untouched. A temporary file that a SIGKILL left behind is
removed later by `jobs cleanup`; `part_file_pattern` is how it recognises one.

What is replaced is the file, never what names it: a symbolic link stays a link and the file it
points to is replaced; an existing file keeps its permission bits (and its owner, when we may set
it); and something that is not a regular file (a FIFO, a terminal, a device) is written to as a
stream, since renaming over it would replace a device node or a pipe with a regular file. So is
/dev/stdout (or /dev/fd/N) whatever it leads to, so that `-o /dev/stdout > file` fills the file
the shell opened.

There is no fsync: the promise is about failed runs, not power cuts, and syncing a large export
would cost more than the export's own writing on a slow disk.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from manireports.errors import InputError

_REASONS = {
    errno.ENOENT: "does not exist",
    errno.ENOTDIR: "is not a directory",
    errno.EACCES: "is not writable",
    errno.EPERM: "is not writable",
    errno.EROFS: "is on a read-only filesystem",
    errno.ENOSPC: "has no space left",
}
# Names of an open file descriptor: what they lead to is whatever the shell opened, even when
# that is a regular file (`-o /dev/stdout > out.csv`), and a rename would bypass it.
_DESCRIPTOR_NAME = re.compile(r"/dev/(stdout|stderr|fd/[0-9]+)|/proc/[^/]+/fd/[0-9]+")


def part_file_pattern(name: str | None = None) -> re.Pattern[str]:
    """The names of temporary files made for `name` (any name when None)."""
    stem = ".+" if name is None else re.escape(name)
    return re.compile(rf"\.{stem}\.[0-9a-f]{{8}}\.part")


def _unwritable(path: Path, error: OSError) -> InputError:
    reason = _REASONS.get(error.errno or 0, f"cannot be written ({error.strerror})")
    return InputError(
        f"Cannot write {path}: the directory {path.parent} {reason}; choose another -o path."
    )


def _create_temporary(path: Path) -> tuple[Path, int]:
    # Owner-only while it is being written: a half-written report is still personal data.
    while True:
        candidate = path.with_name(f".{path.name}.{secrets.token_hex(4)}.part")
        try:
            descriptor = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            continue
        except OSError as error:
            raise _unwritable(path, error) from None
        return candidate, descriptor


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def _is_stream(path: Path) -> bool:
    """Whether `path` must be written in place: a FIFO, a device, an open descriptor's name."""
    if _DESCRIPTOR_NAME.fullmatch(os.path.abspath(path)):
        return True
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


@contextmanager
def _stream_output(path: Path) -> Iterator[BinaryIO]:
    # O_APPEND: a shell's `>` already truncated the file behind /dev/stdout, and `>>` must not be.
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_APPEND)
    except OSError as error:
        raise InputError(
            f"Cannot write {path} ({error.strerror}); choose another -o path."
        ) from None
    with os.fdopen(descriptor, "wb") as stream:
        yield stream


def _final_mode(target: Path, mode: int | None) -> tuple[int, tuple[int, int] | None]:
    """The permission bits (and owner) the finished file gets: an existing file's own, else
    `mode`, else what the umask leaves of 0666 as for any new file."""
    try:
        existing = os.stat(target)
    except OSError:
        return (0o666 & ~_umask() if mode is None else mode), None
    return stat.S_IMODE(existing.st_mode), (existing.st_uid, existing.st_gid)


@contextmanager
def atomic_output(path: Path, *, mode: int | None = None) -> Iterator[BinaryIO]:
    """A binary stream whose content appears at `path` only if the block completes.

    `mode` is the permission of a file created new (an existing file keeps its own); None lets
    the umask decide, as for any file a command writes.
    """
    if path.is_dir():
        raise InputError(f"Cannot write {path}: it is a directory; give a file name with -o.")
    if _is_stream(path):
        with _stream_output(path) as stream:
            yield stream
        return
    # Through any symbolic links to the file they name, so the links themselves stay.
    target = Path(os.path.realpath(path))
    permissions, owner = _final_mode(target, mode)
    temporary, descriptor = _create_temporary(target)
    try:
        with os.fdopen(descriptor, "wb") as stream:
            yield stream
            # Only now, complete, may the file be what others can read.
            os.fchmod(stream.fileno(), permissions)
            if owner is not None and owner != (os.geteuid(), os.getegid()):
                # Only root may give a file away; the mode is kept all the same.
                with contextlib.suppress(PermissionError):
                    os.fchown(stream.fileno(), *owner)
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
