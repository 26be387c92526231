"""Writing personal data safely: owner-only files, replaced atomically; a full or failing disk.

Nothing here imports numpy: the record and the CLI use it too.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any


def make_private_dirs(path: str | os.PathLike[str]) -> Path:
    """Create ``path`` and every missing parent owner-only (0o700); returns it.

    ``mkdir -p`` would give the parents the umask's mode (often 0o755): a
    folder ifb1 creates on the way to personal data is private too. Folders
    that already exist are left as they are (the caller tightens its own).
    """
    path = Path(os.path.abspath(path))
    missing = []
    p = path
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        try:
            d.mkdir(mode=0o700)
        except FileExistsError:  # made meanwhile by another process
            continue
        os.chmod(d, 0o700)  # mkdir's mode is filtered by the umask
    return path


def write_private_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically, readable by its owner only (0o600).

    The bytes go to a temporary file ``.<name>.<random>.tmp`` in the same
    folder, are flushed to disk, and the file is renamed over ``path``, so a
    crash never leaves a half-written file under the final name (the batch
    removes stray ``.*.tmp`` files on its next run).
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) owner-only; tighten an existing one we own."""
    make_private_dirs(path)
    try:
        os.chmod(path, 0o700)
    except PermissionError:  # a folder owned by someone else: leave it, the files are still 0o600
        pass
    return path


def fsync_dir(path: Path) -> None:
    """Flush a folder's entries (a rename or a new file in it) to disk."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json_private(path: str | os.PathLike[str], obj: Any) -> None:
    """Write ``obj`` as JSON, atomically and owner-only."""
    p = Path(path)
    make_private_dirs(p.parent)
    write_private_atomic(p, (json.dumps(obj, indent=1, allow_nan=False) + "\n").encode("utf-8"))


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ----------------------------------------------------------------------------- a full or failing disk

#: Free space each kind of work needs in its folder. Reading the record: SQLite's shared-memory
#: index (``ifb1.sqlite-shm``, 32 KiB) and a little room; a deletion's events are as small.
#: A batch writing it: its write-ahead log grows to about 4 MiB before it is folded back. A batch's output folder: one form's prints, preview,
#: result and export take about 5 MB at 500 ppi (up to ~9 MB at 600 ppi), and up to two forms per
#: worker are staged at once.
RECORD_MIN_FREE = 1_000_000  # reading the record, or a deletion's few events
RECORD_BATCH_FREE = 16_000_000  # a batch or an export writing the record
FORM_OUTPUT_FREE = 32_000_000  # a batch's output folder

_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
_FAULT_ERRNOS = _FULL_ERRNOS | frozenset({errno.EIO, errno.EROFS})


class StorageFault(Exception):
    """The disk is full or failing: an environment fault (exit status 2), never a fault of the data.

    ``str(fault)`` is one line naming the folder, the free space there and
    the free space needed.
    """

    def __init__(self, message: str, *, folder: str | os.PathLike[str], free: int | None, need: int):
        super().__init__(message)
        self.folder = str(folder)
        self.free = free
        self.need = need


def free_bytes(folder: str | os.PathLike[str]) -> int | None:
    """Bytes available to this user on the filesystem holding ``folder`` (its nearest existing parent)."""
    p = Path(os.path.abspath(folder))
    while not p.exists() and p != p.parent:
        p = p.parent
    try:
        st = os.statvfs(p)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize


def human_bytes(n: int | None) -> str:
    """``1.5 MB``-style size (decimal units), ``unknown`` for None."""
    if n is None:
        return "unknown"
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.1f}".removesuffix(".0") + f" {unit}"
    return f"{n} bytes"


def _is_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError):
        return exc.errno in _FULL_ERRNOS
    return getattr(exc, "sqlite_errorname", "") == "SQLITE_FULL" or "disk is full" in str(exc)


def storage_fault(exc: BaseException, folder: str | os.PathLike[str], need: int) -> StorageFault | None:
    """The :class:`StorageFault` behind an exception from reading or writing ``folder``, or None.

    An ``OSError`` for a full disk, a quota, an I/O error or a read-only
    filesystem, or an SQLite ``OperationalError`` (disk full, I/O error,
    cannot open), is an environment fault; anything else is not (None).

    Parameters
    ----------
    exc : BaseException
        What was raised.
    folder : path
        The folder being read or written (named in the message).
    need : int
        Bytes the work needs free there (one of the ``*_FREE`` constants).
    """
    import sqlite3

    if isinstance(exc, StorageFault):
        return exc
    if isinstance(exc, OSError):
        if exc.errno not in _FAULT_ERRNOS:
            return None
        reason = exc.strerror or str(exc)
    elif isinstance(exc, sqlite3.OperationalError):
        reason = str(exc)
    else:
        return None
    free = free_bytes(folder)
    if _is_full(exc) or (free is not None and free < need):
        message = (f"{folder}: the disk is full ({human_bytes(free)} free); ifb1 needs at least "
                   f"{human_bytes(need)} free there. Free some space and run again")
    else:
        message = f"{folder}: cannot be read or written ({reason}; {human_bytes(free)} free)"
    return StorageFault(message, folder=folder, free=free, need=need)


def require_free(folder: str | os.PathLike[str], need: int, *, what: str) -> None:
    """Raise :class:`StorageFault` before starting work when ``folder``'s disk has less than ``need`` free."""
    free = free_bytes(folder)
    if free is not None and free < need:
        raise StorageFault(
            f"{folder}: only {human_bytes(free)} free on its disk; {what} needs at least "
            f"{human_bytes(need)} free there. Free some space and run again (nothing was changed)",
            folder=folder, free=free, need=need,
        )


def raise_if_storage_fault(exc: BaseException, folder: str | os.PathLike[str], need: int = FORM_OUTPUT_FREE) -> None:
    """Raise the :class:`StorageFault` behind ``exc`` when it is one (a full or failing disk), else return.

    A batch stops on it (exit 2): no file is to blame, and every next one would fail the same way.
    """
    fault = storage_fault(exc, folder, need) if isinstance(exc, OSError) else None
    if fault is not None:
        raise fault from exc
