"""The batch manifest: which scans of the tray are copies, and from which force, with which case reference.
"""

from __future__ import annotations

import io
import os
import re
import csv
from dataclasses import dataclass
from pathlib import Path

from pathlib import PurePosixPath


MANIFEST_COLUMNS = ("file", "copy", "force", "case_ref")

_YES = {"yes", "y", "true", "1", "copy"}

_NO = {"no", "n", "false", "0", "original"}

TEXT_RE = re.compile(r"^[^\x00-\x1f\x7f]{1,64}$")



class ManifestError(ValueError):
    """A malformed manifest; the message names the file and the line."""



@dataclass(frozen=True)
class ManifestEntry:
    """One manifest row.

    Attributes
    ----------
    file : str
        Path of the scan relative to the tray, normalised, ``/``-separated.
    copy : bool
        The scan is a scanned copy.
    force : str or None
        The sending police force.
    case_ref : str or None
        The case reference.
    line : int
        Line number in the manifest (for messages).
    """

    file: str
    copy: bool
    force: str | None
    case_ref: str | None
    line: int



def _inside(tray_real: Path, rel: str) -> bool:
    full = Path(os.path.realpath(tray_real / rel))
    return full != tray_real and full.is_relative_to(tray_real)



def normalise_tray_path(text: str, *, tray: Path) -> str:
    """The tray-relative path a manifest names, refused when it could leave the tray.

    Raises
    ------
    ValueError
        For an empty, absolute, backslashed or escaping path (``..``, or a
        symlink pointing outside the tray).
    """
    t = text.strip()
    if not t:
        raise ValueError("empty file name")
    if "\\" in t or "\x00" in t:
        raise ValueError(f"{t!r}: use / as the folder separator")
    p = PurePosixPath(t)
    if p.is_absolute() or re.match(r"^[A-Za-z]:", t):
        raise ValueError(f"{t!r}: must be relative to the tray, not absolute")
    norm = os.path.normpath(t)
    if norm == "." or norm == ".." or norm.startswith("../"):
        raise ValueError(f"{t!r}: points outside the tray")
    if not _inside(Path(os.path.realpath(tray)), norm):
        raise ValueError(f"{t!r}: points outside the tray (through a symbolic link)")
    return PurePosixPath(norm).as_posix()



def read_manifest(path: str | os.PathLike[str], *, tray: str | os.PathLike[str]) -> dict[str, ManifestEntry]:
    """Read and validate a batch manifest (CSV, UTF-8, header ``file,copy,force,case_ref``).

    ``file`` is the scan's path relative to the tray; ``copy`` is yes/no
    (also true/false, 1/0, copy/original); ``force`` (the sending police
    force) and ``case_ref`` may be empty. Columns may come in any order; all
    four must be there and no others.

    Parameters
    ----------
    path : path
        The manifest.
    tray : path
        The tray the paths are relative to.

    Returns
    -------
    dict
        Normalised tray-relative path -> :class:`ManifestEntry`.

    Raises
    ------
    ManifestError
        Naming the file and line: unreadable file, wrong header, a bad value,
        a path leaving the tray, a file listed twice.
    """
    where = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{where}: cannot read the manifest: {exc}") from exc
    rows = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(rows)
    except StopIteration:
        raise ManifestError(f"{where}: the manifest is empty (expected the header {','.join(MANIFEST_COLUMNS)})") from None
    except csv.Error as exc:
        raise ManifestError(f"{where}:1: {exc}") from exc
    names = [h.strip().lower() for h in header]
    if sorted(names) != sorted(MANIFEST_COLUMNS):
        raise ManifestError(f"{where}:1: the header must name the columns {','.join(MANIFEST_COLUMNS)}, got {','.join(header)}")
    col = {n: i for i, n in enumerate(names)}
    out: dict[str, ManifestEntry] = {}
    try:
        for row in rows:
            line = rows.line_num
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) != len(names):
                raise ManifestError(f"{where}:{line}: expected {len(names)} columns, got {len(row)}")
            try:
                rel = normalise_tray_path(row[col["file"]], tray=Path(tray))
            except ValueError as exc:
                raise ManifestError(f"{where}:{line}: file {exc}") from None
            flag = row[col["copy"]].strip().lower()
            if flag not in _YES | _NO:
                raise ManifestError(f"{where}:{line}: copy must be yes or no, got {row[col['copy']]!r}")
            texts = {}
            for name in ("force", "case_ref"):
                v = row[col[name]].strip()
                if v and not TEXT_RE.match(v):
                    raise ManifestError(f"{where}:{line}: {name} must be 1-64 printable characters, got {v!r}")
                texts[name] = v or None
            if rel in out:
                raise ManifestError(f"{where}:{line}: {rel} is listed twice (first on line {out[rel].line})")
            out[rel] = ManifestEntry(rel, flag in _YES, texts["force"], texts["case_ref"], line)
    except csv.Error as exc:
        raise ManifestError(f"{where}:{rows.line_num}: {exc}") from exc
    return out
