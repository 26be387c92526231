"""The deletion rows of the case record (the protocol itself is :mod:`ifb1.records.delete`).
"""

from __future__ import annotations

from datetime import datetime


from ifb1.records.schema import RecordError, VERDICT_UNSUITABLE
from ifb1.records.rows import Deletion, FormRow, _row_to_deletion, _row_to_form, utc_text


class DeletionsMixin:
    """:class:`~ifb1.records.db.Record`'s methods for deletion candidates and deletion rows."""

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
