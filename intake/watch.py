"""Watching the scanner's folder: which files are scans, and when a new one is completely written.

:class:`FolderWatch` polls one folder (no inotify) and returns each new file once
it has finished being written; :func:`looks_like_scan` is the test the batch's tray
listing and the watch share (an image or PDF suffix or signature). Nothing here
changes the folder or imports numpy.
"""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path


SCAN_SUFFIXES = (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp", ".pdf")

_SCAN_MAGIC = (b"\x89PNG\r\n\x1a\n", b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+", b"\xff\xd8\xff", b"BM", b"%PDF-")

#: Names that copy tools and scanner drivers give a file while it is still being
#: written (renamed when complete): never processed, like hidden files.
PARTIAL_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".download", "~")

#: Seconds between looks at a watched folder. A new file is seen on average half a poll after it
#: appears and confirmed one poll later: at 0.5 s the answer comes ~1.5 s after the file appears,
#: at 0.2 s ~1 s. Listing costs little (a folder of 2,000 files: ~6 ms a look, 3% of a core).
WATCH_POLL_S = 0.2

#: Seconds a file that does not end as its format requires (see :func:`looks_complete`) must
#: stay unchanged before it is processed anyway (and rejected with the reader's error).
INCOMPLETE_SETTLE_S = 3.0



def looks_like_scan(path: Path) -> bool:
    """Whether a file is to be read as a scan: an image or PDF suffix, or such a signature in its first bytes.

    A file that cannot be opened counts as a scan, so that reading it names the problem.
    """
    if path.suffix.lower() in SCAN_SUFFIXES:
        return True
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError:
        return True  # let processing report why it cannot be read
    return any(head.startswith(m) for m in _SCAN_MAGIC)



def looks_complete(path: Path) -> bool | None:
    """Whether a scan file ends the way its format says a whole file must.

    JPEG: the end-of-image marker ``FF D9`` in the last 32 bytes (some writers
    pad after it); PNG: the ``IEND`` chunk in the last 32 bytes; PDF:
    ``%%EOF`` in the last 1024 bytes; BMP: at least the size its header gives.
    A file still being written fails these checks (its end is not written
    yet) even when the writer pauses for longer than the poll.

    Returns
    -------
    bool or None
        None for formats with no end marker (TIFF) or when the file cannot be
        read: the caller relies on size and time alone.
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
            size = fh.seek(0, os.SEEK_END)
            fh.seek(max(0, size - 1024))
            tail = fh.read()
    except OSError:
        return None
    if head.startswith(b"\xff\xd8\xff"):
        return b"\xff\xd9" in tail[-32:]
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return b"IEND" in tail[-32:]
    if head.startswith(b"%PDF-"):
        return b"%%EOF" in tail
    if head.startswith(b"BM") and len(head) >= 6:
        return size >= int.from_bytes(head[2:6], "little")
    return None



class FolderWatch:
    """Polls one folder (not its subfolders) for new scan files that have finished being written.

    A file is ready when it is not empty, its size and modification time are
    the same at two successive polls (the scanner may still be writing it),
    and it ends as its format requires (:func:`looks_complete`); a file that
    does not, or stays empty, is held until unchanged for
    ``incomplete_settle_s`` and then returned anyway, so a truncated or
    empty scan still gets its error. Each version
    of a file (size, mtime, inode) is returned once; hidden files and names in
    :data:`PARTIAL_SUFFIXES` are never returned. Nothing in the folder is
    changed.

    Parameters
    ----------
    folder : Path
        The folder the scanner saves into.
    incomplete_settle_s : float
        See :data:`INCOMPLETE_SETTLE_S`.
    """

    def __init__(self, folder: Path, *, incomplete_settle_s: float = INCOMPLETE_SETTLE_S):
        self.folder = Path(folder)
        self.incomplete_settle_s = incomplete_settle_s
        self._pending: dict[str, tuple] = {}   # name -> (signature at the previous poll, first seen so)
        self._settled: dict[str, tuple] = {}   # name -> signature already dealt with

    def _entries(self) -> dict[str, tuple]:
        found = {}
        with os.scandir(self.folder) as it:
            for e in it:
                if e.name.startswith(".") or e.name.lower().endswith(PARTIAL_SUFFIXES):
                    continue
                try:
                    st = e.stat(follow_symlinks=False)
                except FileNotFoundError:  # removed between listing and stat
                    continue
                if stat.S_ISLNK(st.st_mode):
                    kind = "link"
                elif stat.S_ISREG(st.st_mode):
                    kind = "file"
                else:  # folders (e.g. OUT inside the folder), sockets, FIFOs
                    continue
                found[e.name] = (kind, st.st_size, st.st_mtime_ns, st.st_ino)
        return found

    def _kind(self, name: str, sig: tuple) -> str:
        if sig[0] == "link":
            return "link"
        return "scan" if looks_like_scan(self.folder / name) else "not-scan"

    def baseline(self) -> list[str]:
        """Mark everything now in the folder as dealt with; the scans among it, sorted.

        Raises
        ------
        OSError
            When the folder cannot be listed.
        """
        entries = self._entries()
        self._settled = dict(entries)
        self._pending.clear()
        return sorted(n for n, sig in entries.items() if sig[1] > 0 and self._kind(n, sig) == "scan")

    @property
    def waiting(self) -> int:
        """Files seen but not yet stable."""
        return len(self._pending)

    def poll(self) -> list[tuple[str, str]]:
        """Look at the folder once.

        Returns
        -------
        list of (str, str)
            Files that became ready since the previous poll, oldest first, each
            with its kind: ``"scan"``, ``"not-scan"`` (no image or PDF suffix or
            signature) or ``"link"`` (a symbolic link: not followed).

        Raises
        ------
        OSError
            When the folder cannot be listed.
        """
        entries = self._entries()
        for table in (self._pending, self._settled):
            for name in [n for n in table if n not in entries]:
                del table[name]  # gone: a new file under that name is new
        ready = []
        now = time.monotonic()
        for name, sig in entries.items():
            if self._settled.get(name) == sig:
                continue
            seen = self._pending.get(name)
            if seen is None or seen[0] != sig:
                self._pending[name] = (sig, now)
                continue
            if sig[0] == "file" and now - seen[1] < self.incomplete_settle_s and (
                    sig[1] == 0 or looks_complete(self.folder / name) is False):
                continue  # created but nothing written yet, or its end not written yet
            del self._pending[name]
            self._settled[name] = sig
            ready.append(name)
        ready.sort(key=lambda n: (entries[n][2], n))
        return [(n, self._kind(n, entries[n])) for n in ready]
