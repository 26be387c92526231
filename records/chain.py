"""The event log's hash chain: canonical encoding, digests, the head file and the optional key.

Each event's ``hash`` is SHA-256 (or HMAC-SHA-256 when the record is keyed)
over a canonical JSON object of the event's fields and the previous event's
hash, so that changing, inserting or removing a row breaks the chain from that
row on. The last ``(seq, hash)`` is kept twice outside the events table: in
the one-row ``audit_head`` table (same transaction) and in the file
``audit-head`` next to the database (rewritten atomically after each commit),
so that removing the newest rows is detected too.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

GENESIS_HASH = "0" * 64
HEAD_FILE = "audit-head"
HEAD_FORMAT = "ifb1-audit-head/1"
KEY_FILE_ENV = "IFB1_AUDIT_KEY_FILE"
MIN_KEY_BYTES = 16

ALG_SHA256 = "sha256"
ALG_HMAC = "hmac-sha256"


def canonical_json(value: Any) -> str:
    """Serialise ``value`` the one way the chain hashes it.

    Sorted keys, no whitespace, ASCII only, and no NaN/Infinity, so that the
    same content always gives the same text (and so the same hash).
    """
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def event_digest(
    *,
    seq: int,
    form_key: int | None,
    kind: str,
    utc: str,
    actor: str,
    details: str,
    prev_hash: str,
    key: bytes | None,
) -> str:
    """The hex digest that chains one event to the previous one.

    ``details`` is the stored canonical JSON text, hashed as a string so that
    verification recomputes exactly what was written.
    """
    payload = canonical_json(
        {
            "actor": actor,
            "details": details,
            "form_key": form_key,
            "kind": kind,
            "prev_hash": prev_hash,
            "seq": seq,
            "utc": utc,
        }
    ).encode("ascii")
    if key is not None:
        return hmac.new(key, payload, hashlib.sha256).hexdigest()
    return hashlib.sha256(payload).hexdigest()


def key_check(key: bytes) -> str:
    """A value stored in the record that tells whether a given key is the record's key."""
    return hmac.new(key, b"ifb1 audit key check", hashlib.sha256).hexdigest()[:32]


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_head_file(data_dir: Path, seq: int, digest: str) -> None:
    """Atomically replace ``data_dir/audit-head`` with the chain's head (file mode 0o600)."""
    data_dir = Path(data_dir)
    tmp = data_dir / f".{HEAD_FILE}.{os.getpid()}.tmp"
    text = canonical_json({"format": HEAD_FORMAT, "hash": digest, "seq": seq}) + "\n"
    data = text.encode("ascii")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        try:
            os.fchmod(fd, 0o600)
            view = memoryview(data)
            while view:  # a nearly full disk may take part of it: never rename a short file in
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, data_dir / HEAD_FILE)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(data_dir)


def read_head_file(data_dir: Path) -> tuple[int, str] | None:
    """The ``(seq, hash)`` in ``data_dir/audit-head``; None when the file is absent.

    Raises
    ------
    ValueError
        When the file exists but is not a head file this version wrote.
    OSError
        When it cannot be read (a failing disk: not a sign of tampering).
    """
    path = Path(data_dir) / HEAD_FILE
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: cannot be read ({exc})") from exc
    try:
        data = json.loads(text)
        if data.get("format") != HEAD_FORMAT:
            raise ValueError("unknown format")
        seq, digest = data["seq"], data["hash"]
        if not isinstance(seq, int) or not isinstance(digest, str) or len(digest) != 64:
            raise ValueError("bad fields")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"{path}: not an ifb1 audit head file ({exc})") from exc
    return seq, digest


def load_audit_key(environ: Mapping[str, str] | None = None) -> bytes | None:
    """The audit HMAC key named by ``IFB1_AUDIT_KEY_FILE``, or None when unset.

    The key file holds at least 16 bytes (for example 32 random bytes, or
    their hex) and must be readable by its owner only, so the key is kept
    out of the environment itself and out of other users' reach.

    Raises
    ------
    ValueError
        When the variable names a missing, unreadable, too short or
        group/other-readable file.
    """
    environ = os.environ if environ is None else environ
    name = environ.get(KEY_FILE_ENV)
    if not name:
        return None
    path = Path(name)
    try:
        st = path.stat()
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"{KEY_FILE_ENV}={path}: the audit key file cannot be read ({exc.strerror})") from exc
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ValueError(f"{KEY_FILE_ENV}={path}: the audit key file must be readable by its owner only (chmod 600)")
    key = data.strip()
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"{KEY_FILE_ENV}={path}: the audit key must be at least {MIN_KEY_BYTES} bytes")
    return key
