"""The case record database: schema, migrations and the :class:`Record` handle.

One SQLite file, ``DATA/ifb1.sqlite`` (mode 0o600, folder 0o700), in WAL mode
with foreign keys on and ``synchronous=FULL`` (a committed deletion log entry
must survive a power cut). The schema carries its version in
``schema_version``; :data:`MIGRATIONS` is the ordered list of steps, all
pending ones applied in one transaction on open, and a database newer than
this code is refused.

Concurrency: one writer process at a time plus any number of readers. A
writable :class:`Record` holds an exclusive ``flock`` on ``DATA/ifb1.lock``
for its lifetime (a second writer gets :class:`RecordBusyError`); readers open
with ``readonly=True`` and never block the writer (WAL). The batch driver's
worker processes compute only and hand results to the parent, which alone
writes.

Every file derived from a scan (the scan itself, crops, previews, exports,
result files) is registered in ``artefacts`` so that deletion knows what to
remove. Files may only be registered inside the data folder or a folder
registered with :meth:`Record.add_root`; paths are stored relative to their
folder.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import getpass
import json
import os
import re
import sqlite3
import stat
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ifb1 import __version__
from ifb1.records import chain

DB_FILE = "ifb1.sqlite"
LOCK_FILE = "ifb1.lock"
DATA_ROOT = "data"  # artefacts.root value meaning "the data folder, wherever it is now"

EVENT_KINDS = frozenset(
    {
        "record-created",  # the database was created
        "schema-migrated",  # a migration was applied
        "root-added",  # a folder was registered as holding files of this record
        "received",  # a scan was received (form row created)
        "processed",  # prints and verdict recorded
        "flagged",  # verdict unsuitable: the form needs action
        "exported",  # an ANSI/NIST-ITL export was written
        "failed",  # processing failed with an error
        "delete-intent",  # a deletion started (before any file is removed)
        "delete-blocked",  # a deletion could not finish; files remain
        "deleted",  # every file of the form is gone
        "note",  # free-text remark by an operator
    }
)
ARTEFACT_KINDS = frozenset({"scan", "crop", "preview", "export", "result"})
FORM_STATUSES = ("received", "processed", "flagged", "exported", "deletion-pending", "deleted")
VERDICT_UNSUITABLE = "unsuitable"

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


class RecordError(Exception):
    """A problem with the case record, with a message naming the file or form."""


class SchemaTooNewError(RecordError):
    """The database was written by a newer ifb1 whose schema this version does not know."""


class RecordBusyError(RecordError):
    """Another process holds the record for writing."""


class PathOutsideRootsError(RecordError):
    """A file path lies outside the folders registered for this record."""


class ScanPathTakenError(RecordError):
    """A new scan's file name is registered to a form whose deletion still needs that name."""


class DuplicateScanError(RecordError):
    """A scan with this SHA-256 is already in the record (``form_key`` names it)."""

    def __init__(self, message: str, form_key: int):
        super().__init__(message)
        self.form_key = form_key


# --------------------------------------------------------------------------
# Schema. Each migration is a list of single statements (so that they run in
# one transaction: ``executescript`` would commit first).

_V1 = [
    "CREATE TABLE schema_version (version INTEGER NOT NULL)",
    "INSERT INTO schema_version (version) VALUES (0)",
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE roots (
        root_id INTEGER PRIMARY KEY,
        path TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        added_utc TEXT NOT NULL)""",
    f"""CREATE TABLE forms (
        form_key INTEGER PRIMARY KEY,
        form_id TEXT,
        scan_sha256 TEXT NOT NULL UNIQUE CHECK (length(scan_sha256) = 64),
        source_path TEXT NOT NULL,
        received_utc TEXT NOT NULL,
        is_copy INTEGER NOT NULL CHECK (is_copy IN (0, 1)),
        force TEXT,
        case_ref TEXT,
        verdict TEXT,
        verdict_reasons TEXT NOT NULL DEFAULT '[]',
        status TEXT NOT NULL CHECK (status IN ({", ".join(repr(s) for s in FORM_STATUSES)})))""",
    "CREATE INDEX forms_form_id ON forms (form_id)",
    """CREATE TABLE prints (
        form_key INTEGER NOT NULL REFERENCES forms (form_key),
        position INTEGER NOT NULL CHECK (position BETWEEN 1 AND 14),
        present INTEGER NOT NULL CHECK (present IN (0, 1)),
        quality REAL,
        feedback TEXT NOT NULL DEFAULT '[]',
        crop_path TEXT,
        PRIMARY KEY (form_key, position))""",
    f"""CREATE TABLE artefacts (
        artefact_id INTEGER PRIMARY KEY,
        form_key INTEGER NOT NULL REFERENCES forms (form_key),
        kind TEXT NOT NULL CHECK (kind IN ({", ".join(repr(k) for k in sorted(ARTEFACT_KINDS))})),
        root TEXT NOT NULL,
        relpath TEXT NOT NULL,
        added_utc TEXT NOT NULL,
        removed_utc TEXT,
        UNIQUE (root, relpath))""",
    "CREATE INDEX artefacts_form ON artefacts (form_key)",
    """CREATE TABLE events (
        seq INTEGER PRIMARY KEY,
        form_key INTEGER REFERENCES forms (form_key),
        kind TEXT NOT NULL,
        utc TEXT NOT NULL,
        actor TEXT NOT NULL,
        details TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL)""",
    "CREATE INDEX events_form ON events (form_key)",
    """CREATE TRIGGER events_no_update BEFORE UPDATE ON events
       BEGIN SELECT RAISE(ABORT, 'ifb1: the event log is append-only'); END""",
    """CREATE TRIGGER events_no_delete BEFORE DELETE ON events
       BEGIN SELECT RAISE(ABORT, 'ifb1: the event log is append-only'); END""",
    """CREATE TABLE audit_head (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        seq INTEGER NOT NULL,
        hash TEXT NOT NULL)""",
    f"INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '{chain.GENESIS_HASH}')",
    """CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head
       BEGIN SELECT RAISE(ABORT, 'ifb1: the audit head cannot be removed'); END""",
    """CREATE TRIGGER forms_no_delete BEFORE DELETE ON forms
       BEGIN SELECT RAISE(ABORT, 'ifb1: forms are never removed from the record'); END""",
    """CREATE TABLE deletions (
        form_key INTEGER PRIMARY KEY REFERENCES forms (form_key),
        form_id TEXT,
        scan_sha256 TEXT NOT NULL,
        received_on TEXT NOT NULL,
        deleted_on TEXT,
        reason TEXT NOT NULL,
        note TEXT,
        status TEXT NOT NULL CHECK (status IN ('pending', 'done')),
        intent_seq INTEGER NOT NULL REFERENCES events (seq),
        done_seq INTEGER REFERENCES events (seq),
        last_error TEXT)""",
    """CREATE TRIGGER deletions_no_delete BEFORE DELETE ON deletions
       BEGIN SELECT RAISE(ABORT, 'ifb1: deletion records are never removed'); END""",
    """CREATE TRIGGER deletions_done_is_final BEFORE UPDATE ON deletions WHEN OLD.status = 'done'
       BEGIN SELECT RAISE(ABORT, 'ifb1: a completed deletion cannot be changed'); END""",
]

#: The texts an officer writes in an empty print box (:mod:`ifb1.pipeline.annotation`):
#: "AMP" and "XX" (amputated) export as ANSI/NIST-ITL 14.018 ``XX``, "UP" (unable to print) as ``UP``.
ANNOTATION_CODES = ("AMP", "UP", "XX")

# v2: the annotation read in an empty box, so that an export rebuilt from the
# record (``ifb1 export``, a resumed batch) carries field 14.018 like the
# batch's own. Rows recorded before get NULL (not read then). The codes are
# spelt out (not taken from ANNOTATION_CODES) so that this step never changes.
_V2 = [
    """ALTER TABLE prints ADD COLUMN annotation_code TEXT
        CHECK (annotation_code IS NULL OR (annotation_code IN ('AMP', 'UP', 'XX') AND present = 0))""",
]

# v3: each registered file's SHA-256, so that deletion removes a file only when it
# still holds what was registered (a scan name reused by the scanner for another
# scan must never be taken for the old one); and a path is unique among the
# files registered *now* (``removed_utc IS NULL``) rather than for ever, so that a
# name freed by a deletion, or by a form whose scan was overwritten, can be
# registered again. SQLite cannot drop a UNIQUE constraint, hence the copy.
_V3 = [
    """CREATE TABLE artefacts_v3 (
        artefact_id INTEGER PRIMARY KEY,
        form_key INTEGER NOT NULL REFERENCES forms (form_key),
        kind TEXT NOT NULL CHECK (kind IN ('crop', 'export', 'preview', 'result', 'scan')),
        root TEXT NOT NULL,
        relpath TEXT NOT NULL,
        added_utc TEXT NOT NULL,
        removed_utc TEXT,
        sha256 TEXT CHECK (sha256 IS NULL OR length(sha256) = 64))""",
    """INSERT INTO artefacts_v3 (artefact_id, form_key, kind, root, relpath, added_utc, removed_utc, sha256)
        SELECT a.artefact_id, a.form_key, a.kind, a.root, a.relpath, a.added_utc, a.removed_utc,
               CASE WHEN a.kind = 'scan' THEN (SELECT f.scan_sha256 FROM forms f WHERE f.form_key = a.form_key) END
        FROM artefacts a""",
    "DROP TABLE artefacts",
    "ALTER TABLE artefacts_v3 RENAME TO artefacts",
    "CREATE INDEX artefacts_form ON artefacts (form_key)",
    "CREATE UNIQUE INDEX artefacts_live_path ON artefacts (root, relpath) WHERE removed_utc IS NULL",
]

# v4: which NFIQ 2 scorer gave a print's quality ("fast": ifb1's own; "nist":
# NIST's NFIQ 2), so that an export rebuilt from the record never writes an
# estimate under NIST's CBEFF ids. Rows recorded before get NULL (unknown: taken
# as the fast scorer, the only one then).
_V4 = [
    "ALTER TABLE prints ADD COLUMN scorer TEXT CHECK (scorer IS NULL OR scorer IN ('fast', 'nist'))",
]

#: Ordered ``(version, description, statements)``; append new steps, never edit old ones.
MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (1, "forms, prints, artefacts, roots, hash-chained events, deletions", _V1),
    (2, "prints.annotation_code: AMP/XX/UP written in an empty box (ANSI/NIST-ITL 14.018)", _V2),
    (3, "artefacts.sha256 (deletion checks a file's content first); a path is unique among live files only", _V3),
    (4, "prints.scorer: which NFIQ 2 (fast or nist) gave the quality", _V4),
]


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


class Record:
    """An open case record. Use as a context manager; :func:`open_record` makes one.

    All writes go through methods that run in a transaction (``BEGIN
    IMMEDIATE``); several calls can be grouped atomically with
    ``with record.transaction(): ...``. Rows come back as frozen dataclasses.
    """

    def __init__(
        self,
        conn: sqlite3.Connection,
        data_dir: Path,
        *,
        readonly: bool,
        audit_key: bytes | None,
        clock: Callable[[], datetime],
        lock_fd: int | None,
    ):
        self._conn = conn
        self._data_dir = data_dir
        self._readonly = readonly
        self._key = audit_key
        self._clock = clock
        self._lock_fd = lock_fd
        self._depth = 0
        self._appended = False
        self._alg: str | None = None
        self.warnings: list[str] = []

    # -- lifecycle ---------------------------------------------------------

    @property
    def data_dir(self) -> Path:
        """The data folder (absolute)."""
        return self._data_dir

    @property
    def readonly(self) -> bool:
        return self._readonly

    @property
    def audit_key(self) -> bytes | None:
        return self._key

    @property
    def audit_alg(self) -> str:
        """``"sha256"`` or ``"hmac-sha256"``: how this record's chain is hashed (fixed at creation)."""
        if self._alg is None:
            self._alg = self._meta("audit_alg") or chain.ALG_SHA256
        return self._alg

    def _chain_key(self) -> bytes | None:
        return self._key if self.audit_alg == chain.ALG_HMAC else None

    def close(self) -> None:
        """Close the connection and release the writer lock."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None  # type: ignore[assignment]
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None

    def __enter__(self) -> Record:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def now(self) -> datetime:
        """The record's clock (UTC, injectable through :func:`open_record`)."""
        return self._clock()

    @property
    def schema_version(self) -> int:
        return self._conn.execute("SELECT version FROM schema_version").fetchone()[0]

    # -- transactions ------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Group writes atomically; nested uses are savepoints.

        After the outermost commit, if events were appended, the head file
        ``audit-head`` is rewritten.
        """
        self._require_writable()
        if self._depth == 0:
            self._conn.execute("BEGIN IMMEDIATE")
        else:
            self._conn.execute(f"SAVEPOINT sp{self._depth}")
        self._depth += 1
        try:
            yield
        except BaseException:
            self._depth -= 1
            if self._depth == 0:
                self._conn.execute("ROLLBACK")
                self._appended = False
            else:
                self._conn.execute(f"ROLLBACK TO sp{self._depth}")
                self._conn.execute(f"RELEASE sp{self._depth}")
            raise
        self._depth -= 1
        if self._depth > 0:
            self._conn.execute(f"RELEASE sp{self._depth}")
            return
        try:
            self._conn.execute("COMMIT")
        except BaseException:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            self._appended = False
            raise
        if self._appended:
            self._appended = False
            self._write_head()

    def _write_head(self) -> None:
        seq, digest = self._conn.execute("SELECT seq, hash FROM audit_head WHERE id = 1").fetchone()
        try:
            chain.write_head_file(self._data_dir, seq, digest)
        except OSError as exc:
            # The events are committed; the head file only lags (verify reports it).
            message = f"{self._data_dir / chain.HEAD_FILE}: cannot be written ({exc.strerror}); audit verify will report it"
            self.warnings.append(message)
            warnings.warn(message, RuntimeWarning, stacklevel=3)

    def _require_writable(self) -> None:
        if self._conn is None:
            raise RecordError(f"{self._data_dir / DB_FILE}: the record is closed")
        if self._readonly:
            raise RecordError(f"{self._data_dir / DB_FILE}: the record was opened read-only")

    def _meta(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    # -- event log ---------------------------------------------------------

    def log(
        self,
        kind: str,
        form_key: int | None,
        actor: str,
        details: Mapping[str, Any] | None = None,
        *,
        utc: datetime | None = None,
    ) -> int:
        """Append one event to the hash-chained log and return its ``seq``.

        Parameters
        ----------
        kind : str
            One of :data:`EVENT_KINDS`.
        form_key : int or None
            The form the event is about (None for record-wide events).
        actor : str
            Who or what did it (:func:`default_actor`, :func:`system_actor`).
        details : mapping, optional
            JSON-serialisable details (no NaN).
        utc : datetime, optional
            The event's time; the record's clock by default.
        """
        if kind not in EVENT_KINDS:
            raise RecordError(f"unknown event kind {kind!r} (known: {', '.join(sorted(EVENT_KINDS))})")
        if not actor or not isinstance(actor, str):
            raise RecordError("every event needs an actor")
        key = self._chain_key()
        if self.audit_alg == chain.ALG_HMAC and key is None:
            raise RecordError(
                f"{self._data_dir / DB_FILE}: this record's event log is keyed; set {chain.KEY_FILE_ENV} to append to it"
            )
        try:
            details_text = chain.canonical_json(dict(details or {}))
        except (TypeError, ValueError) as exc:
            raise RecordError(f"event details must be JSON without NaN: {exc}") from exc
        when = utc_text(utc or self._clock())
        with self.transaction():
            head_seq, head_hash = self._conn.execute("SELECT seq, hash FROM audit_head WHERE id = 1").fetchone()
            seq = head_seq + 1
            digest = chain.event_digest(
                seq=seq,
                form_key=form_key,
                kind=kind,
                utc=when,
                actor=actor,
                details=details_text,
                prev_hash=head_hash,
                key=key,
            )
            self._conn.execute(
                "INSERT INTO events (seq, form_key, kind, utc, actor, details, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?)",
                (seq, form_key, kind, when, actor, details_text, head_hash, digest),
            )
            self._conn.execute("UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1", (seq, digest))
            self._appended = True
        return seq

    def events(self, form_key: int | None = None, *, since_seq: int = 0) -> tuple[Event, ...]:
        """The events in order, all or those of one form."""
        sql = "SELECT * FROM events WHERE seq > ?"
        args: list[Any] = [since_seq]
        if form_key is not None:
            sql += " AND form_key = ?"
            args.append(form_key)
        rows = self._conn.execute(sql + " ORDER BY seq", args).fetchall()
        return tuple(
            Event(
                seq=r["seq"],
                form_key=r["form_key"],
                kind=r["kind"],
                utc=r["utc"],
                actor=r["actor"],
                details=json.loads(r["details"]),
                prev_hash=r["prev_hash"],
                hash=r["hash"],
            )
            for r in rows
        )

    # -- folders and files -------------------------------------------------

    def add_root(self, path: str | os.PathLike[str], *, kind: str, actor: str) -> Path:
        """Register a folder (intake tray, output folder) that may hold files of this record.

        Deletion only ever removes files inside the data folder or a
        registered folder. Registering is logged (``root-added``).

        Returns
        -------
        Path
            The folder's resolved path.
        """
        real = Path(os.path.realpath(path))
        if not real.is_dir():
            raise RecordError(f"{path}: not an existing folder")
        if real == Path(real.anchor):
            raise RecordError(f"{path}: the filesystem root cannot be a folder of the record")
        with self.transaction():
            cur = self._conn.execute(
                "INSERT OR IGNORE INTO roots (path, kind, added_utc) VALUES (?, ?, ?)",
                (str(real), kind, utc_text(self._clock())),
            )
            if cur.rowcount:
                self.log("root-added", None, actor, {"path": str(real), "kind": kind})
        return real

    def roots(self) -> dict[str, Path]:
        """The folders files may live in: ``{"data": data folder, path: path, ...}`` (resolved)."""
        result = {DATA_ROOT: Path(os.path.realpath(self._data_dir))}
        for (path,) in self._conn.execute("SELECT path FROM roots ORDER BY root_id"):
            result[path] = Path(path)
        return result

    def root_path(self, root: str) -> Path | None:
        """The folder an artefact's ``root`` names now, or None when it is not registered."""
        return self.roots().get(root)

    def locate(self, path: str | os.PathLike[str]) -> tuple[str, str]:
        """``(root, relpath)`` of a file path within the record's folders.

        The folders are resolved (symlinks followed) and so is the file's
        parent folder; the file name itself is kept, so a symlinked file is
        not silently replaced by its target.

        Raises
        ------
        PathOutsideRootsError
            When the path is outside every folder of the record.
        """
        p = Path(os.path.abspath(path))
        if p.name in ("", ".", ".."):
            raise PathOutsideRootsError(f"{path}: not a file path")
        full = Path(os.path.realpath(p.parent)) / p.name
        best: tuple[str, Path] | None = None
        for label, root in self.roots().items():
            if full.is_relative_to(root) and full != root:
                if best is None or len(root.parts) > len(best[1].parts):
                    best = (label, root)
        if best is None:
            raise PathOutsideRootsError(
                f"{path}: outside the data folder and the folders registered for this record "
                f"(register the folder with add_root / the batch's folder options)"
            )
        return best[0], full.relative_to(best[1]).as_posix()

    def add_artefact(
        self, form_key: int, kind: str, path: str | os.PathLike[str], *, sha256: str | None = None
    ) -> int:
        """Register a file derived from (or being) the form's scan; returns its id.

        Register a file *before* writing it, so that a crash in between leaves
        no unregistered file behind; the file need not exist yet. An existing
        path must be a regular file, not a symlink. ``sha256`` is the content
        the file holds (or will hold once written); deletion then removes the
        file only while it still holds that content. Registering a path again
        for the same form updates its content hash (a forced re-export).

        Raises
        ------
        PathOutsideRootsError
            When the file is outside the record's folders.
        RecordError
            For an unknown kind, a form being deleted, or a file registered
            to another form.
        """
        if kind not in ARTEFACT_KINDS:
            raise RecordError(f"unknown artefact kind {kind!r} (known: {', '.join(sorted(ARTEFACT_KINDS))})")
        sha = _check_sha(sha256, path)
        root, relpath = self.locate(path)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            st = None
        if st is not None and not stat.S_ISREG(st.st_mode):
            raise RecordError(f"{path}: an artefact must be a regular file (not a symlink or folder)")
        with self.transaction():
            form = self.form(form_key)
            if form.status in ("deletion-pending", "deleted"):
                raise RecordError(f"form {form_key} is being deleted or deleted; no file may be added to it")
            existing = self._live_artefact(root, relpath)
            if existing is not None:
                if existing["form_key"] != form_key:
                    raise RecordError(f"{path}: already registered to form {existing['form_key']}")
                if sha is not None and existing["sha256"] != sha:
                    self._conn.execute(
                        "UPDATE artefacts SET sha256 = ? WHERE artefact_id = ?", (sha, existing["artefact_id"])
                    )
                return existing["artefact_id"]
            return self._insert_artefact(form_key, kind, root, relpath, sha)

    def _live_artefact(self, root: str, relpath: str) -> sqlite3.Row | None:
        """The file registered now at this place, under whichever of the record's folders it was.

        Folders may nest (the batch's ``OUT`` and an ``ifb1 export --out OUT/exports``): the same
        file can be named from either, so every folder holding the path is looked at.
        """
        base = self.roots().get(root)
        if base is None:
            return self._conn.execute(
                "SELECT * FROM artefacts WHERE root = ? AND relpath = ? AND removed_utc IS NULL", (root, relpath)
            ).fetchone()
        full = base / relpath
        for label, folder in self.roots().items():
            if full.is_relative_to(folder) and full != folder:
                row = self._conn.execute(
                    "SELECT * FROM artefacts WHERE root = ? AND relpath = ? AND removed_utc IS NULL",
                    (label, full.relative_to(folder).as_posix()),
                ).fetchone()
                if row is not None:
                    return row
        return None

    def _insert_artefact(self, form_key: int, kind: str, root: str, relpath: str, sha: str | None) -> int:
        cur = self._conn.execute(
            "INSERT INTO artefacts (form_key, kind, root, relpath, added_utc, sha256) VALUES (?, ?, ?, ?, ?, ?)",
            (form_key, kind, root, relpath, utc_text(self._clock()), sha),
        )
        return int(cur.lastrowid)

    def artefact_owner(self, path: str | os.PathLike[str]) -> int | None:
        """The form a file path is registered to now, or None (also for paths outside the record's folders)."""
        try:
            root, relpath = self.locate(path)
        except PathOutsideRootsError:
            return None
        row = self._live_artefact(root, relpath)
        return None if row is None else int(row["form_key"])

    def _take_scan_path(self, root: str, relpath: str, *, path: str, sha: str, actor: str) -> None:
        """Free a scan file name registered to another form, for a new scan found under it.

        The name now holds other content (``sha``), so the old form's scan is
        no longer there: its registration is closed and a ``note`` says so.
        A form whose deletion still has to remove its scan (an unsuitable copy
        not yet deleted) keeps the name: :class:`ScanPathTakenError`.
        """
        row = self._live_artefact(root, relpath)
        if row is None:
            return
        old = self.form(row["form_key"])
        if old.scan_sha256 == sha:
            return
        if old.is_copy and old.verdict == VERDICT_UNSUITABLE and old.status != "deleted":
            raise ScanPathTakenError(
                f"{path}: this name is registered to form {old.form_key} ({old.form_id or 'no form id'}, an "
                f"unsuitable copy to delete, sha256 {old.scan_sha256}) but now holds another scan (sha256 {sha}); "
                "give this file another name and run again (ifb1 delete then finishes the old form's deletion)"
            )
        self._conn.execute(
            "UPDATE artefacts SET removed_utc = ? WHERE artefact_id = ?", (utc_text(self._clock()), row["artefact_id"])
        )
        self.log(
            "note",
            old.form_key,
            actor,
            {
                "text": "the scan's file name now holds another scan; this form's scan is no longer there",
                "file": path,
                "scan_sha256": old.scan_sha256,
                "now_sha256": sha,
            },
        )

    def add_scan_copy(self, form_key: int, path: str | os.PathLike[str], *, sha256: str, actor: str) -> bool:
        """Register another file holding an unsuitable copy's scan, so that deletion removes it too.

        For a second copy of the same scan in the tray, or the same scan sent
        again, before or after the form's deletion: the file is registered as
        a ``scan`` of the form and ``flagged`` is logged with its path;
        :func:`ifb1.records.delete_unsuitable` then removes it (and, after a
        completed deletion, logs its deletion again).

        Returns
        -------
        bool
            True when newly registered, False when it already was.

        Raises
        ------
        RecordError
            When the form is not an unsuitable copy or ``sha256`` is not its scan's.
        """
        sha = _check_sha(sha256, path)
        root, relpath = self.locate(path)
        with self.transaction():
            form = self.form(form_key)
            if not (form.is_copy and form.verdict == VERDICT_UNSUITABLE):
                raise RecordError(f"form {form_key}: only an unsuitable copy's scan is registered again for deletion")
            if sha != form.scan_sha256:
                raise RecordError(f"{path}: sha256 {sha} is not form {form_key}'s scan ({form.scan_sha256})")
            row = self._live_artefact(root, relpath)
            if row is not None and row["form_key"] == form_key:
                return False
            self._take_scan_path(root, relpath, path=str(path), sha=sha, actor=actor)
            self._insert_artefact(form_key, "scan", root, relpath, sha)
            self.log(
                "flagged",
                form_key,
                actor,
                {"is_copy": True, "action": "delete", "file": str(path), "another_file_of_the_scan": True,
                 "form_status": form.status},
            )
        return True

    def artefacts(self, form_key: int) -> tuple[Artefact, ...]:
        """The form's registered files, oldest first."""
        roots = self.roots()
        rows = self._conn.execute(
            "SELECT * FROM artefacts WHERE form_key = ? ORDER BY artefact_id", (form_key,)
        ).fetchall()
        out = []
        for r in rows:
            base = roots.get(r["root"], Path(r["root"]))
            out.append(
                Artefact(
                    artefact_id=r["artefact_id"],
                    form_key=r["form_key"],
                    kind=r["kind"],
                    root=r["root"],
                    relpath=r["relpath"],
                    path=base / r["relpath"],
                    added_utc=r["added_utc"],
                    removed_utc=r["removed_utc"],
                    sha256=r["sha256"],
                )
            )
        return tuple(out)

    # -- forms -------------------------------------------------------------

    def add_form(
        self,
        *,
        scan_sha256: str,
        source_path: str | os.PathLike[str],
        is_copy: bool,
        actor: str,
        form_id: str | None = None,
        force: str | None = None,
        case_ref: str | None = None,
        scan_path: str | os.PathLike[str] | None = None,
        received: datetime | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> int:
        """Record a received scan, register its file and log ``received``; returns the form key.

        Parameters
        ----------
        scan_sha256 : str
            SHA-256 of the scan file (64 lowercase hex digits); unique.
        source_path : path
            Where the scan was received (kept as given).
        is_copy : bool
            True for a scanned copy, False for the original form.
        actor : str
            Who or what received it.
        form_id : str, optional
            The form id from the barcode or typed by hand (None if unknown).
        force, case_ref : str, optional
            The sending police force and its case reference, where known.
        scan_path : path, optional
            Where the scan file is kept now, registered as the ``scan``
            artefact (default ``source_path``); must be inside the record's
            folders.
        received : datetime, optional
            When it was received (default now).
        details : mapping, optional
            Extra details for the ``received`` event.

        Raises
        ------
        DuplicateScanError
            When this scan is already recorded (see :meth:`find_by_hash`).
        ScanPathTakenError
            When the scan's file name is registered to an unsuitable copy
            whose deletion still needs it (the name now holds another scan).
            A name registered to any other form is taken over (the old
            form's scan was overwritten; a ``note`` is logged for it).
        PathOutsideRootsError
            When the scan file is outside the record's folders.
        """
        sha = str(scan_sha256).lower()
        if not _SHA256_RE.match(sha):
            raise RecordError(f"{source_path}: scan_sha256 must be 64 hex digits, got {scan_sha256!r}")
        when = utc_text(received or self._clock())
        with self.transaction():
            existing = self.find_by_hash(sha)
            if existing is not None:
                raise DuplicateScanError(
                    f"{source_path}: this scan (sha256 {sha[:12]}...) is already form {existing.form_key} "
                    f"({existing.status})",
                    existing.form_key,
                )
            cur = self._conn.execute(
                "INSERT INTO forms (form_id, scan_sha256, source_path, received_utc, is_copy, force, case_ref, status)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, 'received')",
                (form_id, sha, str(source_path), when, int(bool(is_copy)), force, case_ref),
            )
            form_key = int(cur.lastrowid)
            scan_file = scan_path if scan_path is not None else source_path
            root, relpath = self.locate(scan_file)
            self._take_scan_path(root, relpath, path=str(scan_file), sha=sha, actor=actor)
            self.add_artefact(form_key, "scan", scan_file, sha256=sha)
            payload = dict(details or {})
            payload |= {
                "form_id": form_id,
                "scan_sha256": sha,
                "source_path": str(source_path),
                "is_copy": bool(is_copy),
                "force": force,
                "case_ref": case_ref,
            }
            self.log("received", form_key, actor, payload, utc=received)
        return form_key

    def set_prints(self, form_key: int, prints: Iterable[PrintEntry]) -> None:
        """Replace the form's print rows; each ``crop_path`` is registered as a ``crop`` artefact.

        Raises
        ------
        RecordError
            For positions repeated or outside 1-14, or an ``annotation_code``
            that is not one of :data:`ANNOTATION_CODES` or is on a box with a print.
        """
        entries = list(prints)
        positions = [p.position for p in entries]
        if len(set(positions)) != len(positions) or any(not 1 <= p <= 14 for p in positions):
            raise RecordError(f"form {form_key}: print positions must be distinct and 1-14, got {positions}")
        for p in entries:
            if p.annotation_code is not None and (p.annotation_code not in ANNOTATION_CODES or p.present):
                raise RecordError(
                    f"form {form_key}: print {p.position}: annotation {p.annotation_code!r} refused "
                    f"(one of {', '.join(ANNOTATION_CODES)}, on an empty box only)"
                )
        with self.transaction():
            self._require_not_deleting(form_key)
            self._conn.execute("DELETE FROM prints WHERE form_key = ?", (form_key,))
            for p in entries:
                if p.crop_path is not None:
                    self.add_artefact(form_key, "crop", p.crop_path)
                self._conn.execute(
                    "INSERT INTO prints (form_key, position, present, quality, feedback, crop_path, annotation_code,"
                    " scorer) VALUES (?,?,?,?,?,?,?,?)",
                    (
                        form_key,
                        int(p.position),
                        int(bool(p.present)),
                        None if p.quality is None else float(p.quality),
                        chain.canonical_json(list(p.feedback)),
                        None if p.crop_path is None else str(p.crop_path),
                        p.annotation_code,
                        p.scorer,
                    ),
                )

    def prints(self, form_key: int) -> tuple[PrintEntry, ...]:
        """The form's print rows by position."""
        rows = self._conn.execute("SELECT * FROM prints WHERE form_key = ? ORDER BY position", (form_key,))
        return tuple(
            PrintEntry(
                position=r["position"],
                present=bool(r["present"]),
                quality=r["quality"],
                feedback=tuple(json.loads(r["feedback"])),
                crop_path=r["crop_path"],
                annotation_code=r["annotation_code"],
                scorer=r["scorer"],
            )
            for r in rows
        )

    def set_verdict(
        self,
        form_key: int,
        verdict: str,
        reasons: Iterable[str] = (),
        *,
        actor: str,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        """Store the form's verdict and log ``processed`` (and ``flagged`` when unsuitable).

        ``verdict`` is ``"suitable"``, ``"unsuitable"`` or ``"review"``
        (:mod:`ifb1.pipeline.policy`); only unsuitable copies can be deleted.
        A form with a deletion under way or done keeps its verdict.
        """
        if verdict not in ("suitable", "unsuitable", "review"):
            raise RecordError(f"form {form_key}: unknown verdict {verdict!r}")
        reasons = tuple(str(r) for r in reasons)
        with self.transaction():
            form = self._require_not_deleting(form_key)
            status = "flagged" if verdict == VERDICT_UNSUITABLE else "processed"
            self._conn.execute(
                "UPDATE forms SET verdict = ?, verdict_reasons = ?, status = ? WHERE form_key = ?",
                (verdict, chain.canonical_json(list(reasons)), status, form_key),
            )
            payload = dict(details or {}) | {"verdict": verdict, "reasons": list(reasons)}
            self.log("processed", form_key, actor, payload)
            if verdict == VERDICT_UNSUITABLE:
                self.log(
                    "flagged",
                    form_key,
                    actor,
                    {"is_copy": form.is_copy, "action": "delete" if form.is_copy else "ask the force for new prints"},
                )

    def mark_exported(self, form_key: int, *, actor: str, details: Mapping[str, Any] | None = None) -> None:
        """Log ``exported`` and set the form's status (register the export file first)."""
        with self.transaction():
            self._require_not_deleting(form_key)
            self._conn.execute("UPDATE forms SET status = 'exported' WHERE form_key = ?", (form_key,))
            self.log("exported", form_key, actor, details)

    def _require_not_deleting(self, form_key: int) -> FormRow:
        form = self.form(form_key)
        if form.status in ("deletion-pending", "deleted"):
            raise RecordError(f"form {form_key} ({form.form_id or 'no form id'}) is {form.status}; it cannot change")
        return form

    def form(self, form_key: int) -> FormRow:
        """One form by key.

        Raises
        ------
        RecordError
            When there is no such form.
        """
        row = self._conn.execute("SELECT * FROM forms WHERE form_key = ?", (form_key,)).fetchone()
        if row is None:
            raise RecordError(f"no form {form_key} in {self._data_dir / DB_FILE}")
        return _row_to_form(row)

    def find_by_hash(self, scan_sha256: str) -> FormRow | None:
        """The form recorded for this scan SHA-256, or None."""
        row = self._conn.execute(
            "SELECT * FROM forms WHERE scan_sha256 = ?", (str(scan_sha256).lower(),)
        ).fetchone()
        return None if row is None else _row_to_form(row)

    def forms(
        self, *, form_id: str | None = None, status: str | None = None, verdict: str | None = None
    ) -> tuple[FormRow, ...]:
        """Forms in order of receipt, optionally filtered."""
        sql, args = "SELECT * FROM forms WHERE 1 = 1", []
        for column, value in (("form_id", form_id), ("status", status), ("verdict", verdict)):
            if value is not None:
                sql += f" AND {column} = ?"
                args.append(value)
        return tuple(_row_to_form(r) for r in self._conn.execute(sql + " ORDER BY form_key", args))

    # -- deletions ---------------------------------------------------------

    def deletion_candidates(self) -> tuple[FormRow, ...]:
        """Unsuitable scanned copies with no deletion started yet."""
        rows = self._conn.execute(
            "SELECT * FROM forms WHERE verdict = ? AND is_copy = 1"
            " AND form_key NOT IN (SELECT form_key FROM deletions) ORDER BY form_key",
            (VERDICT_UNSUITABLE,),
        )
        return tuple(_row_to_form(r) for r in rows)

    def deletions(self, *, status: str | None = None) -> tuple[Deletion, ...]:
        """Deletion rows (``pending`` or ``done``) in order of their intent."""
        sql, args = "SELECT * FROM deletions", []
        if status is not None:
            sql += " WHERE status = ?"
            args.append(status)
        return tuple(_row_to_deletion(r) for r in self._conn.execute(sql + " ORDER BY intent_seq", args))

    def deletion(self, form_key: int) -> Deletion | None:
        row = self._conn.execute("SELECT * FROM deletions WHERE form_key = ?", (form_key,)).fetchone()
        return None if row is None else _row_to_deletion(row)

    def begin_deletion(self, form_key: int, *, reason: str, actor: str, utc: datetime, files: list[str]) -> int:
        """Log ``delete-intent`` and insert the pending deletion row in one transaction.

        Low-level step of :func:`ifb1.records.delete_unsuitable`, which checks
        eligibility; this re-checks it inside the transaction. Returns the
        intent's ``seq``.
        """
        with self.transaction():
            form = self.form(form_key)
            if form.verdict != VERDICT_UNSUITABLE or not form.is_copy:
                raise RecordError(f"form {form_key}: only unsuitable scanned copies can be deleted")
            if self.deletion(form_key) is not None:
                raise RecordError(f"form {form_key}: a deletion is already recorded")
            seq = self.log(
                "delete-intent",
                form_key,
                actor,
                {"form_id": form.form_id, "scan_sha256": form.scan_sha256, "reason": reason, "files": files},
                utc=utc,
            )
            self._conn.execute(
                "INSERT INTO deletions (form_key, form_id, scan_sha256, received_on, reason, status, intent_seq)"
                " VALUES (?, ?, ?, ?, ?, 'pending', ?)",
                (form_key, form.form_id, form.scan_sha256, form.received_utc[:10], reason, seq),
            )
            self._conn.execute("UPDATE forms SET status = 'deletion-pending' WHERE form_key = ?", (form_key,))
        return seq

    def deleted_with_files_left(self) -> tuple[FormRow, ...]:
        """Deleted forms with a file registered since (their scan found again: :meth:`add_scan_copy`)."""
        rows = self._conn.execute(
            "SELECT * FROM forms WHERE status = 'deleted' AND form_key IN"
            " (SELECT form_key FROM artefacts WHERE removed_utc IS NULL) ORDER BY form_key"
        )
        return tuple(_row_to_form(r) for r in rows)

    def pending_deletion_again(self, form_key: int) -> bool:
        """Whether a deleted form's ``delete-intent`` (again) was logged and not yet followed by ``deleted``."""
        last = {}
        for kind in ("delete-intent", "deleted"):
            row = self._conn.execute(
                "SELECT max(seq) FROM events WHERE form_key = ? AND kind = ?", (form_key, kind)
            ).fetchone()
            last[kind] = row[0] or 0
        return last["delete-intent"] > last["deleted"]

    def complete_deletion_again(
        self,
        form_key: int,
        artefact_ids: list[int],
        *,
        deleted_on: str,
        note: str,
        actor: str,
        utc: datetime,
        files: list[str],
    ) -> int:
        """Log ``deleted`` (again) for files of a deleted form's scan found again, and close them."""
        with self.transaction():
            form = self.form(form_key)
            if form.status != "deleted":
                raise RecordError(f"form {form_key}: not deleted; use complete_deletion")
            seq = self.log(
                "deleted",
                form_key,
                actor,
                {"again": True, "deleted_on": deleted_on, "note": note, "files": files,
                 "scan_sha256": form.scan_sha256},
                utc=utc,
            )
            when = utc_text(utc)
            self._conn.executemany(
                "UPDATE artefacts SET removed_utc = ? WHERE artefact_id = ? AND form_key = ? AND removed_utc IS NULL",
                [(when, a, form_key) for a in artefact_ids],
            )
        return seq

    def note_deletion_blocked(self, form_key: int, *, errors: list[str], actor: str, utc: datetime) -> int:
        """Keep the deletion pending, store the error and log ``delete-blocked``."""
        with self.transaction():
            self._conn.execute(
                "UPDATE deletions SET last_error = ? WHERE form_key = ? AND status = 'pending'",
                ("; ".join(errors), form_key),
            )
            return self.log("delete-blocked", form_key, actor, {"errors": errors}, utc=utc)

    def complete_deletion(
        self, form_key: int, *, deleted_on: str, note: str, actor: str, utc: datetime, files: list[str]
    ) -> int:
        """Log ``deleted`` and close the deletion row in one transaction; returns its ``seq``.

        The caller has checked that no file of the form remains.
        """
        with self.transaction():
            d = self.deletion(form_key)
            if d is None or d.status != "pending":
                raise RecordError(f"form {form_key}: no pending deletion to complete")
            seq = self.log(
                "deleted",
                form_key,
                actor,
                {"deleted_on": deleted_on, "note": note, "files": files, "scan_sha256": d.scan_sha256},
                utc=utc,
            )
            self._conn.execute(
                "UPDATE deletions SET status = 'done', deleted_on = ?, note = ?, done_seq = ?, last_error = NULL"
                " WHERE form_key = ?",
                (deleted_on, note, seq, form_key),
            )
            when = utc_text(utc)
            self._conn.execute(
                "UPDATE artefacts SET removed_utc = ? WHERE form_key = ? AND removed_utc IS NULL", (when, form_key)
            )
            self._conn.execute("UPDATE forms SET status = 'deleted' WHERE form_key = ?", (form_key,))
        return seq


# --------------------------------------------------------------------------


def _lock(data_dir: Path, timeout: float) -> int:
    path = data_dir / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES) or time.monotonic() >= deadline:
                try:
                    holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "unknown"
                finally:
                    os.close(fd)
                raise RecordBusyError(
                    f"{data_dir / DB_FILE}: the record is open for writing by another ifb1 process (pid {holder})"
                ) from None
            time.sleep(0.05)
    os.fchmod(fd, 0o600)
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode("ascii"), 0)
    return fd


def _connect(db_path: Path, readonly: bool) -> sqlite3.Connection:
    if readonly:
        uri = f"file:{quote(str(db_path))}?mode=ro"
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=10.0)
    else:
        conn = sqlite3.connect(db_path, isolation_level=None, timeout=10.0)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA busy_timeout = 10000")
    if not readonly:
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode.lower() != "wal":
            conn.close()
            raise RecordError(f"{db_path}: cannot switch the database to WAL mode (got {mode})")
        # A committed delete-intent or deleted event must survive a power cut.
        conn.execute("PRAGMA synchronous = FULL")
    return conn


def _current_version(conn: sqlite3.Connection) -> int:
    has = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'").fetchone()
    if not has:
        return 0
    row = conn.execute("SELECT version FROM schema_version").fetchone()
    return 0 if row is None else int(row[0])


def _migrate(record: Record, db_path: Path, audit_key: bytes | None, actor: str) -> None:
    conn = record._conn
    latest = MIGRATIONS[-1][0]
    conn.execute("BEGIN IMMEDIATE")
    try:
        current = _current_version(conn)
        if current > latest:
            raise SchemaTooNewError(
                f"{db_path}: schema version {current} was written by a newer ifb1; this ifb1 "
                f"{__version__} knows versions up to {latest}. Upgrade ifb1; the record was not changed."
            )
        applied = []
        for version, description, statements in MIGRATIONS:
            if version <= current:
                continue
            for sql in statements:
                conn.execute(sql)
            conn.execute("UPDATE schema_version SET version = ?", (version,))
            applied.append((version, description))
        if current == 0 and applied:
            alg = chain.ALG_HMAC if audit_key is not None else chain.ALG_SHA256
            conn.execute("INSERT INTO meta (key, value) VALUES ('audit_alg', ?)", (alg,))
            conn.execute("INSERT INTO meta (key, value) VALUES ('created_by', ?)", (f"ifb1 {__version__}",))
            if audit_key is not None:
                conn.execute("INSERT INTO meta (key, value) VALUES ('audit_key_check', ?)", (chain.key_check(audit_key),))
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    # Events are appended inside the same transaction via the record.
    record._depth = 1
    try:
        if current == 0 and applied:
            record.log("record-created", None, actor, {"schema_version": latest, "audit_alg": record.audit_alg})
        else:
            for version, description in applied:
                record.log("schema-migrated", None, actor, {"from": current, "to": version, "what": description})
    except BaseException:
        record._depth = 0
        record._appended = False
        conn.execute("ROLLBACK")
        raise
    record._depth = 0
    conn.execute("COMMIT")
    if current == 0 and applied or record._appended:
        record._appended = False
        record._write_head()


def open_record(
    data_dir: str | os.PathLike[str],
    *,
    create: bool = True,
    readonly: bool = False,
    audit_key: bytes | None = None,
    clock: Callable[[], datetime] | None = None,
    lock_timeout: float = 0.0,
) -> Record:
    """Open the case record in ``data_dir``, creating or migrating it as needed.

    Parameters
    ----------
    data_dir : path
        The data folder; ``ifb1.sqlite``, ``ifb1.lock`` and ``audit-head``
        live there. Created with mode 0o700 (an existing folder is made
        private too); the database file is 0o600.
    create : bool
        Create a new record when there is none (False: raise instead).
    readonly : bool
        Open for reading only: no lock, no migration, no writes.
    audit_key : bytes, optional
        HMAC key for the event chain (see :func:`ifb1.records.load_audit_key`).
        A record created with a key needs it to append events; a wrong key is
        refused.
    clock : callable, optional
        Returns the current time (timezone-aware); for tests.
    lock_timeout : float
        Seconds to wait for another writer to finish (default: fail at once).

    Returns
    -------
    Record
        Use it as a context manager.

    Raises
    ------
    SchemaTooNewError
        The database comes from a newer ifb1.
    RecordBusyError
        Another process has it open for writing.
    RecordError
        No record (with ``create=False`` or ``readonly=True``), a wrong audit
        key, or a folder that cannot be used.
    """
    data_dir = Path(os.path.abspath(data_dir))
    db_path = data_dir / DB_FILE
    clock = clock or _utc_now
    if readonly or not create:
        if not db_path.is_file():
            raise RecordError(f"{db_path}: no ifb1 record here (is --data / IFB1_DATA right?)")
    lock_fd = None
    if readonly:
        conn = _connect(db_path, readonly=True)
    else:
        _make_private_dir(data_dir)
        lock_fd = _lock(data_dir, lock_timeout)
        try:
            _make_private_file(db_path)
            conn = _connect(db_path, readonly=False)
        except BaseException:
            os.close(lock_fd)
            raise
        for suffix in ("-wal", "-shm"):
            side = db_path.with_name(db_path.name + suffix)
            if side.exists() and stat.S_IMODE(side.stat().st_mode) & 0o077:
                os.chmod(side, 0o600)
    record = Record(conn, data_dir, readonly=readonly, audit_key=audit_key, clock=clock, lock_fd=lock_fd)
    try:
        if readonly:
            current, latest = _current_version(conn), MIGRATIONS[-1][0]
            if current > latest:
                raise SchemaTooNewError(
                    f"{db_path}: schema version {current} was written by a newer ifb1; this ifb1 "
                    f"{__version__} knows versions up to {latest}. Upgrade ifb1."
                )
            if current < latest:
                raise RecordError(f"{db_path}: schema version {current} needs upgrading; open it once for writing")
        else:
            _migrate(record, db_path, audit_key, system_actor())
        check = record._meta("audit_key_check")
        if audit_key is not None and check is not None and chain.key_check(audit_key) != check:
            raise RecordError(f"{db_path}: the audit key given is not this record's key")
    except BaseException:
        record.close()
        raise
    return record
