"""The forms of the case record: a received scan, its prints, its verdict and its export.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from ifb1.records import chain

from ifb1.records.schema import (
    ANNOTATION_CODES,
    DB_FILE,
    DuplicateScanError,
    RecordError,
    VERDICT_UNSUITABLE,
    _SHA256_RE,
)
from ifb1.records.rows import FormRow, PrintEntry, _row_to_form, utc_text


class FormsMixin:
    """:class:`~ifb1.records.db.Record`'s methods for forms and their prints."""

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
