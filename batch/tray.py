"""The received-mail tray: every scan under it, recursively, in sorted order.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ifb1.intake.watch import looks_like_scan


class BatchError(RuntimeError):
    """The batch cannot start (bad folders, options); the message says why."""



@dataclass(frozen=True)
class TrayListing:
    """What is in the tray.

    Attributes
    ----------
    scans : tuple of str
        Tray-relative paths of scan files, sorted.
    ignored : tuple of (str, str)
        Files that are not scans (by name and signature), with why.
    refused : tuple of (str, str)
        Entries that cannot be processed (symbolic links), with why.
    hidden : tuple of str
        Hidden files and folders skipped (a folder's contents are not listed).
    """

    scans: tuple[str, ...]
    ignored: tuple[tuple[str, str], ...]
    refused: tuple[tuple[str, str], ...]
    hidden: tuple[str, ...] = ()



def list_tray(tray: str | os.PathLike[str], *, exclude: Iterable[str | os.PathLike[str]] = ()) -> TrayListing:
    """Every scan under ``tray``, recursively, in sorted order.

    Hidden files and folders (name starting with ``.``) and the folders in
    ``exclude`` (our own outputs and data, when they lie inside the tray) are
    skipped. Symbolic links are not followed; a linked file is refused
    (deletion never removes through links).

    Raises
    ------
    BatchError
        When the tray is not a folder.
    """
    root = Path(os.path.realpath(tray))
    if not root.is_dir():
        raise BatchError(f"{tray}: the tray is not a folder")
    skip = {Path(os.path.realpath(e)) for e in exclude}
    scans, ignored, refused, hidden = [], [], [], []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        d = Path(dirpath)
        keep = []
        for name in sorted(dirnames):
            full = d / name
            rel = full.relative_to(root).as_posix()
            if full in skip:
                continue
            if name.startswith("."):
                hidden.append(rel + "/")
                continue
            if full.is_symlink():
                refused.append((rel, "a symbolic link to a folder: not followed"))
                continue
            keep.append(name)
        dirnames[:] = keep
        for name in filenames:
            full = d / name
            rel = full.relative_to(root).as_posix()
            if full in skip:
                continue
            if name.startswith("."):
                hidden.append(rel)
                continue
            if full.is_symlink():
                refused.append((rel, "a symbolic link: put the file itself in the tray"))
            elif not full.is_file():
                ignored.append((rel, "not a regular file"))
            elif looks_like_scan(full):
                scans.append(rel)
            else:
                ignored.append((rel, "not a scan (no image or PDF signature)"))
    return TrayListing(tuple(sorted(scans)), tuple(sorted(ignored)), tuple(sorted(refused)), tuple(sorted(hidden)))
