"""The case record database: the :class:`Record` handle, opening, locking and migrating.

The schema and its migrations are in :mod:`ifb1.records.schema`, the row types in
:mod:`ifb1.records.rows`; :class:`Record` gathers its methods by what they hold: forms and
prints (:mod:`~ifb1.records.forms`), files (:mod:`~ifb1.records.files`), deletion rows
(:mod:`~ifb1.records.deletions`), and here the event log and transactions.

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
import json
import os
import sqlite3
import stat
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ifb1 import __version__
from ifb1.records import chain

from ifb1.records.schema import (
    DB_FILE,
    EVENT_KINDS,
    LOCK_FILE,
    MIGRATIONS,
    RecordBusyError,
    RecordError,
    SchemaTooNewError,
)
from ifb1.records.rows import Event, _make_private_dir, _make_private_file, _utc_now, system_actor, utc_text
from ifb1.records.deletions import DeletionsMixin
from ifb1.records.files import FilesMixin
from ifb1.records.forms import FormsMixin


class Record(FormsMixin, FilesMixin, DeletionsMixin):
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
