"""Which files a sample-set run scores: files as given, folders walked.

A folder is walked recursively; inside it only files whose suffix is an image
format the reader knows (:data:`IMAGE_SUFFIXES`, case-insensitive) are taken,
so a CSV, a notes file or the run's own state file beside the prints is not
"scored" as a failure. Hidden files and folders (a name starting with ``.``)
are skipped: editors, ``rsync`` and Finder leave them, and they are never part
of a sample set. The order is sorted (by path components, so ``a/b`` sorts
with ``a`` and not after ``a-b``), which makes a run's CSV the same bytes
wherever and however parallel it ran. A file named on the command line is taken
whatever its name (it may be missing: the run reports it as not scored, as a
single-file run always did). Each path appears once, at its first place.
Symbolic links to files are followed; links to folders are not (a loop would
never end).
"""

from __future__ import annotations

import os
from pathlib import Path

#: Suffixes of the image files taken from a folder (the formats :mod:`ifb1.quality.io` reads).
IMAGE_SUFFIXES = frozenset({".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp", ".wsq", ".pgm", ".gif", ".jp2"})


class ListingError(ValueError):
    """A folder of the sample set cannot be listed; the message names it."""


def _walk(root: str) -> list[str]:
    """Image files under ``root`` (hidden entries skipped), sorted by path components."""
    found: list[tuple[tuple[str, ...], str]] = []
    errors: list[OSError] = []
    for folder, dirs, files in os.walk(root, onerror=errors.append):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        rel = os.path.relpath(folder, root)
        parts = () if rel == "." else tuple(Path(rel).parts)
        for f in files:
            if f.startswith(".") or os.path.splitext(f)[1].lower() not in IMAGE_SUFFIXES:
                continue
            found.append((parts + (f,), os.path.join(folder, f)))
    if errors:
        e = errors[0]
        raise ListingError(f"{e.filename or root}: cannot list this folder ({e.strerror or e})")
    return [p for _k, p in sorted(found)]


def list_images(paths: list[str] | tuple[str, ...]) -> list[str]:
    """The files of a sample set, in the order they are scored and written.

    Parameters
    ----------
    paths : sequence of str
        Files and folders, as given on the command line.

    Returns
    -------
    list of str
        Files named directly (whatever their suffix, even missing ones), and the
        image files found by walking each folder recursively, sorted, hidden
        entries skipped; each path once, at its first place. Paths keep the form
        they were given in (relative stays relative).

    Raises
    ------
    ListingError
        When a folder (or one inside it) cannot be listed.
    """
    out: list[str] = []
    seen: set[str] = set()
    for p in paths:
        found = _walk(p) if os.path.isdir(p) else [p]
        for f in found:
            key = os.path.normpath(f)
            if key not in seen:
                seen.add(key)
                out.append(f)
    return out
