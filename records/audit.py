"""``ifb1 audit verify``: check the event log's hash chain against both stored heads.

What is detected: a changed event row (its hash no longer matches), an
inserted or removed row (a gap in ``seq`` or a ``prev_hash`` that does not
match), and removal of the newest rows (the chain ends before the head kept
in the ``audit_head`` table and in the ``audit-head`` file).

The limits, honestly: without a key, the chain is plain SHA-256, so someone
who can write both the database and the ``audit-head`` file (the owner of
the data folder, or root) can rewrite the whole log consistently; the chain
then only guards against accidents and partial edits. With an HMAC key
(``IFB1_AUDIT_KEY_FILE``) kept away from the data folder, rewriting needs the
key too; removing the newest rows still needs write access to both the
database and the head file. Copying ``audit-head``'s value elsewhere (a
printed report, another machine) makes truncation evident beyond that.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from ifb1.records import chain
from ifb1.records.chain import load_audit_key
from ifb1.records.db import Record

__all__ = ["AuditReport", "load_audit_key", "verify_chain"]


@dataclass(frozen=True)
class AuditReport:
    """The result of :func:`verify_chain`.

    Attributes
    ----------
    intact : bool
        True when no problem was found.
    events : int
        Number of event rows read.
    head_seq, head_hash
        The last event's ``seq`` and hash as read (0 and the genesis hash for
        an empty log).
    first_broken_seq : int or None
        The first ``seq`` at which the chain is broken (for a truncated log,
        the first missing ``seq``).
    problems : tuple of str
        What is wrong, first problem first.
    warnings : tuple of str
        Conditions that are not tampering (for example the head file lagging
        after a crash between a commit and its rewrite).
    keyed : bool
        The chain is HMAC-keyed and was checked with the key.
    """

    intact: bool
    events: int
    head_seq: int
    head_hash: str
    first_broken_seq: int | None
    problems: tuple[str, ...]
    warnings: tuple[str, ...]
    keyed: bool


def _check_once(record: Record) -> tuple[AuditReport, tuple[int, str] | None, int]:
    conn = record._conn
    problems: list[str] = []
    warnings: list[str] = []
    broken: list[int] = []
    alg = record.audit_alg
    key = record.audit_key
    keyed = alg == chain.ALG_HMAC
    if keyed and key is None:
        problems.append(f"the log is keyed (HMAC); set {chain.KEY_FILE_ENV} to verify it")
        return (
            AuditReport(False, 0, 0, chain.GENESIS_HASH, None, tuple(problems), (), False),
            None,
            0,
        )
    if not keyed and key is not None:
        problems.append("an audit key is configured but this record's log is not keyed (SHA-256 only)")

    # One read transaction: a consistent snapshot of events and audit_head.
    own = not conn.in_transaction
    if own:
        conn.execute("BEGIN")
    try:
        rows = conn.execute(
            "SELECT seq, form_key, kind, utc, actor, details, prev_hash, hash FROM events ORDER BY seq"
        ).fetchall()
        table_head = tuple(conn.execute("SELECT seq, hash FROM audit_head WHERE id = 1").fetchone() or (None, None))
    finally:
        if own:
            conn.execute("COMMIT")
    try:
        file_head = chain.read_head_file(record.data_dir)
    except ValueError as exc:
        file_head = None
        problems.append(str(exc))
        broken.append(1)
    else:
        if file_head is None:
            problems.append(f"{record.data_dir / chain.HEAD_FILE} is missing")
            broken.append(1)

    expected_seq = 1
    prev = chain.GENESIS_HASH
    hashes: dict[int, str] = {0: chain.GENESIS_HASH}
    for r in rows:
        seq = r["seq"]
        if seq != expected_seq:
            problems.append(f"seq {expected_seq}: missing (the log jumps to seq {seq})")
            broken.append(expected_seq)
        if r["prev_hash"] != prev:
            problems.append(f"seq {seq}: does not follow the previous event (prev_hash mismatch)")
            broken.append(seq)
        try:
            json.loads(r["details"])
            digest = chain.event_digest(
                seq=seq,
                form_key=r["form_key"],
                kind=r["kind"],
                utc=r["utc"],
                actor=r["actor"],
                details=r["details"],
                prev_hash=r["prev_hash"],
                key=key if keyed else None,
            )
        except (TypeError, ValueError) as exc:
            problems.append(f"seq {seq}: unreadable row ({exc})")
            broken.append(seq)
            digest = None
        if digest != r["hash"]:
            if digest is not None:
                problems.append(f"seq {seq}: content changed (hash mismatch)")
                broken.append(seq)
        prev = r["hash"]
        hashes[seq] = r["hash"]
        expected_seq = seq + 1

    head_seq = rows[-1]["seq"] if rows else 0
    head_hash = rows[-1]["hash"] if rows else chain.GENESIS_HASH
    if table_head != (head_seq, head_hash):
        t_seq = table_head[0]
        if isinstance(t_seq, int) and t_seq > head_seq:
            problems.append(f"the log ends at seq {head_seq} but the recorded head is seq {t_seq}: rows removed")
            broken.append(head_seq + 1)
        else:
            problems.append(f"the audit_head table ({t_seq}) does not match the last event (seq {head_seq})")
            broken.append(min(head_seq + 1, t_seq if isinstance(t_seq, int) and t_seq > 0 else head_seq + 1))
    if file_head is not None:
        f_seq, f_hash = file_head
        if f_seq > head_seq:
            problems.append(f"the log ends at seq {head_seq} but {chain.HEAD_FILE} records seq {f_seq}: rows removed")
            broken.append(head_seq + 1)
        elif hashes.get(f_seq) != f_hash:
            problems.append(f"{chain.HEAD_FILE} (seq {f_seq}) does not match the log's event seq {f_seq}")
            broken.append(max(f_seq, 1))
        elif f_seq < head_seq:
            warnings.append(
                f"{chain.HEAD_FILE} lags at seq {f_seq} of {head_seq} (a crash after a commit?); "
                "the next write brings it up to date"
            )
    report = AuditReport(
        intact=not problems,
        events=len(rows),
        head_seq=head_seq,
        head_hash=head_hash,
        first_broken_seq=min(broken) if broken else None,
        problems=tuple(problems),
        warnings=tuple(warnings),
        keyed=keyed,
    )
    return report, file_head, head_seq


def verify_chain(record: Record) -> AuditReport:
    """Check the whole event log; see the module docstring for what is detected.

    Works on a record opened read-only while a writer appends: when the head
    file is newer than the snapshot read, the check is repeated.
    """
    report, file_head, head_seq = _check_once(record)
    for _ in range(3):
        if file_head is None or file_head[0] <= head_seq:
            break
        # A writer may have committed and rewritten the file after our
        # snapshot; re-read before calling it truncation.
        report, file_head, head_seq = _check_once(record)
    return report
