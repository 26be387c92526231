"""What the case record hands out: one frozen dataclass per row kind, and the small helpers
that make them (UTC text, actors, owner-only files).
"""

from __future__ import annotations

import getpass
import json
import os
import sqlite3
import stat
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ifb1 import __version__

from ifb1.records.schema import RecordError, _SHA256_RE



# --------------------------------------------------------------------------
# Rows handed out by the record (frozen, detached from the connection).


@dataclass(frozen=True)
class FormRow:
    """One received scan of a form."""

    form_key: int
    form_id: str | None
    scan_sha256: str
    source_path: str
    received_utc: str
    is_copy: bool
    force: str | None
    case_ref: str | None
    verdict: str | None
    verdict_reasons: tuple[str, ...]
    status: str


@dataclass(frozen=True)
class PrintEntry:
    """One print box's result, as :meth:`Record.set_prints` stores it.

    ``position`` is the ANSI/NIST-ITL finger position (1-14); ``quality`` the
    NFIQ 2-style score or None when it could not be measured; ``feedback``
    short reasons (``"too dark"``, ...); ``crop_path`` the crop file, which is
    registered as an artefact of the form; ``annotation_code`` the text an
    officer wrote in an empty box (one of :data:`ANNOTATION_CODES`: ``"AMP"``,
    ``"XX"``, ``"UP"``), None for a print or a box without one (and for prints
    recorded before schema version 2); ``scorer`` which NFIQ 2 gave ``quality``
    (``"fast"`` or ``"nist"``; None when no score or recorded before version 4).
    """

    position: int
    present: bool
    quality: float | None = None
    feedback: tuple[str, ...] = ()
    crop_path: str | None = None
    annotation_code: str | None = None
    scorer: str | None = None


@dataclass(frozen=True)
class Artefact:
    """A file derived from a scan, registered so that deletion can remove it.

    ``path`` is absolute as of now (``root`` ``"data"`` means the data folder).
    ``sha256`` is the content registered for it (always for a scan; for other
    files when known at registration; None for files registered before
    schema version 3): deletion removes the file only when it still holds
    that content. ``removed_utc`` is set when the file was deleted, or when
    its name was taken over by another scan (the form's file was overwritten).
    """

    artefact_id: int
    form_key: int
    kind: str
    root: str
    relpath: str
    path: Path
    added_utc: str
    removed_utc: str | None
    sha256: str | None = None


@dataclass(frozen=True)
class Event:
    """One row of the append-only event log (``details`` decoded)."""

    seq: int
    form_key: int | None
    kind: str
    utc: str
    actor: str
    details: dict[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class Deletion:
    """A deletion of an unsuitable copy, ``pending`` until every file is gone."""

    form_key: int
    form_id: str | None
    scan_sha256: str
    received_on: str
    deleted_on: str | None
    reason: str
    note: str | None
    status: str
    intent_seq: int
    done_seq: int | None
    last_error: str | None


# --------------------------------------------------------------------------


def utc_text(moment: datetime) -> str:
    """ISO 8601 UTC with microseconds and ``Z`` (``2025-01-02T03:04:05.000000Z``).

    Raises
    ------
    ValueError
        For a naive datetime (its zone would be a guess).
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("times in the record must be timezone-aware (UTC)")
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name and no passwd entry (containers)
        return f"uid {os.getuid()}"


def default_actor() -> str:
    """The operator's name for events they cause: the OS user name."""
    return _os_user()


def system_actor() -> str:
    """The actor for automatic events: ``"ifb1 <version> (<user>)"``."""
    return f"ifb1 {__version__} ({_os_user()})"


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _make_private_dir(path: Path) -> None:
    if not path.exists():
        from ifb1.fileio import make_private_dirs

        make_private_dirs(path)  # the parents it creates are private too
    elif not path.is_dir():
        raise RecordError(f"{path}: the data folder is not a folder")
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        # Personal data: the data folder is readable by its owner only.
        os.chmod(path, mode & 0o700)


def _make_private_file(path: Path) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        if path.is_symlink() or not path.is_file():
            raise RecordError(f"{path}: expected a regular file") from None
        if stat.S_IMODE(path.stat().st_mode) & 0o077:
            os.chmod(path, 0o600)
        return
    os.fchmod(fd, 0o600)
    os.close(fd)


def _check_sha(sha256: str | None, path: object) -> str | None:
    if sha256 is None:
        return None
    sha = str(sha256).lower()
    if not _SHA256_RE.match(sha):
        raise RecordError(f"{path}: sha256 must be 64 hex digits, got {sha256!r}")
    return sha


def _row_to_form(row: sqlite3.Row) -> FormRow:
    return FormRow(
        form_key=row["form_key"],
        form_id=row["form_id"],
        scan_sha256=row["scan_sha256"],
        source_path=row["source_path"],
        received_utc=row["received_utc"],
        is_copy=bool(row["is_copy"]),
        force=row["force"],
        case_ref=row["case_ref"],
        verdict=row["verdict"],
        verdict_reasons=tuple(json.loads(row["verdict_reasons"])),
        status=row["status"],
    )


def _row_to_deletion(row: sqlite3.Row) -> Deletion:
    return Deletion(**{k: row[k] for k in row.keys()})
