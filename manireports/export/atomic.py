"""Write a file so that a failed run never leaves a partial file under the requested name.

The data goes to a hidden temporary file in the same directory (so the final rename cannot cross
filesystems) and is renamed over the target only when the writer finished. Any exception, Ctrl-C
included, removes the temporary file, and an existing file under the name is left untouched.

There is no fsync: the promise is about failed runs, not power cuts, and syncing a large export
would cost more than the export's own writing on a slow disk.
"""

from __future__ import annotations

import errno
import os
import secrets
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


def _unwritable(path: Path, error: OSError) -> InputError:
    reason = _REASONS.get(error.errno or 0, f"cannot be written ({error.strerror})")
    return InputError(
        f"Cannot write {path}: the directory {path.parent} {reason}; choose another -o path."
    )


def _create_temporary(path: Path) -> tuple[Path, int]:
    # os.open with mode 0o666 lets the umask decide the final permissions, as for any new file;
    # mkstemp would make every report 0600.
    while True:
        candidate = path.with_name(f".{path.name}.{secrets.token_hex(4)}.part")
        try:
            descriptor = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        except OSError as error:
            raise _unwritable(path, error) from None
        return candidate, descriptor


@contextmanager
def atomic_output(path: Path) -> Iterator[BinaryIO]:
    """A binary stream whose content appears at `path` only if the block completes."""
    if path.is_dir():
        raise InputError(f"Cannot write {path}: it is a directory; give a file name with -o.")
    temporary, descriptor = _create_temporary(path)
    try:
        with os.fdopen(descriptor, "wb") as stream:
            yield stream
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
