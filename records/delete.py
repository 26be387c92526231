"""Crash-safe deletion of unsuitable scanned copies.

Protocol, per form (each step is durable before the next starts):

1. Refuse unless the verdict is ``unsuitable`` and the scan is a copy.
2. In one transaction: log ``delete-intent`` (with the list of files) and
   insert the ``deletions`` row with status ``pending``.
3. Remove every registered file of the form (scan and every other file
   holding the same scan, crops, previews, exports, results). A file is
   hashed first and removed only while it holds the content registered for
   it (always known for a scan: the form's SHA-256): another file now under
   a recorded name (a scanner reusing "scan.jpg") is refused, named with
   both hashes, and left untouched. A missing file counts as already
   removed, but only when its folder is present (an unmounted or moved
   folder proves nothing). A file whose real location is outside the
   record's folders, a symlink, or anything but a regular file, or a file
   with other hard links, is refused and left untouched. The folder is
   fsynced after each removal so that a removed file cannot reappear after
   a power cut.
4. Only when no file of the form remains: in one transaction, log
   ``deleted`` with the date and the case note (which names each scan file
   deleted), and close the deletions row. Otherwise the deletion stays
   ``pending`` with the error (and a ``delete-blocked`` event), and nothing
   is logged as deleted.

A rerun finishes pending deletions first, so a crash at any point is
completed by the next run; the intent and the deletion are each logged once.

The same scan found again after its deletion (a re-sent file; the batch
registers it with :meth:`ifb1.records.Record.add_scan_copy`) is deleted the
same way: ``delete-intent`` and ``deleted`` are logged again for the form,
marked ``again``, with a note of their own; the completed deletion row
itself never changes.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ifb1.records.db import Record
from ifb1.records.rows import Artefact, FormRow
from ifb1.records.schema import VERDICT_UNSUITABLE, RecordError


@dataclass(frozen=True)
class DeletionOutcome:
    """What happened (or would happen) to one form.

    ``action`` is ``"deleted"``, ``"pending"`` (files remain; see
    ``errors``), ``"would-delete"`` / ``"would-finish"`` (dry run) or
    ``"refused"`` (not an unsuitable copy; see ``errors``).
    """

    form_key: int
    form_id: str | None
    scan_sha256: str
    action: str
    reason: str
    removed: tuple[str, ...] = ()
    remaining: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    note: str | None = None
    deleted_on: str | None = None


@dataclass(frozen=True)
class DeletionReport:
    """The outcome of one :func:`delete_unsuitable` run."""

    outcomes: tuple[DeletionOutcome, ...]
    dry_run: bool

    def _with(self, action: str) -> tuple[DeletionOutcome, ...]:
        return tuple(o for o in self.outcomes if o.action == action)

    @property
    def deleted(self) -> tuple[DeletionOutcome, ...]:
        return self._with("deleted")

    @property
    def pending(self) -> tuple[DeletionOutcome, ...]:
        return self._with("pending")

    @property
    def refused(self) -> tuple[DeletionOutcome, ...]:
        return self._with("refused")

    @property
    def ok(self) -> bool:
        """True when no deletion was left pending."""
        return not self.pending


def deletion_reason(form: FormRow) -> str:
    """The reason stored with the deletion: the verdict's reasons, joined."""
    return "; ".join(form.verdict_reasons) or "below the fingerprint system's quality standard"


def case_note(received_on: str, reason: str, deleted_on: str, files: tuple[str, ...] | list[str] = ()) -> str:
    """The note for the case's communication card.

    Parameters
    ----------
    received_on, deleted_on : str
        ISO dates ``YYYY-MM-DD`` (UTC).
    reason : str
        Why the prints were unsuitable (the verdict's first, summary reason).
    files : sequence of str
        The scan files deleted (every file that held the prints), named at
        the end of the note.
    """
    note = (
        f"Fingerprints received on {received_on} were unsuitable for scanning ({reason}) "
        f"and were deleted on {deleted_on}."
    )
    return note + _files_sentence(files)


def _files_sentence(files) -> str:
    if not files:
        return ""
    return f" Scan file{'s' if len(files) > 1 else ''} deleted: {', '.join(files)}."


def again_note(received_on: str, first_deleted_on: str, deleted_on: str, files: tuple[str, ...] | list[str]) -> str:
    """The note for a copy of already deleted prints found again (re-sent, or a second file) and deleted."""
    return (
        f"Another copy of the fingerprints received on {received_on} (unsuitable, deleted on {first_deleted_on}) "
        f"was found again and deleted on {deleted_on}." + _files_sentence(files)
    )


def _note_reason(form: FormRow) -> str:
    return form.verdict_reasons[0] if form.verdict_reasons else "below the fingerprint system's quality standard"


def _refusal(form: FormRow, record: Record) -> str | None:
    existing = record.deletion(form.form_key)
    if existing is not None and existing.status == "done":
        return f"already deleted on {existing.deleted_on}"
    if not form.is_copy:
        return "an original form is never deleted"
    if form.verdict != VERDICT_UNSUITABLE:
        return f"the verdict is {form.verdict or 'not yet decided'}; only unsuitable copies are deleted"
    return None


def _unlink_in_dir(dir_fd: int, name: str) -> None:
    """Remove ``name`` in the open folder and make the removal durable."""
    os.unlink(name, dir_fd=dir_fd)
    os.fsync(dir_fd)


def _sha256_fd(fd: int) -> str:
    h = hashlib.sha256()
    while chunk := os.read(fd, 1 << 20):
        h.update(chunk)
    return h.hexdigest()


def _expected_sha(form: FormRow, artefact: Artefact) -> str | None:
    """The content a registered file must hold to be removed (None: not known, files registered before v3)."""
    if artefact.sha256 is not None:
        return artefact.sha256
    return form.scan_sha256 if artefact.kind == "scan" else None


def _remove(
    record: Record, artefact: Artefact, *, dry_run: bool, expected: str | None = None
) -> tuple[str, str | None]:
    """Remove one artefact; returns ``(state, error)`` with state ``removed``/``gone``/``remains``.

    With ``expected`` (a SHA-256), the file is hashed through the same open
    file that is then unlinked, and left alone unless it holds that content.
    """
    shown = str(artefact.path)
    root = record.root_path(artefact.root)
    if root is None:
        return "remains", f"{shown}: its folder {artefact.root} is no longer registered; not touched"
    if not root.is_dir():
        return "remains", f"{shown}: its folder {root} is missing (moved or not mounted?); cannot confirm removal"
    full = root / artefact.relpath
    try:
        st = os.lstat(full)
    except (FileNotFoundError, NotADirectoryError):
        return "gone", None
    except OSError as exc:
        return "remains", f"{shown}: cannot be checked ({exc.strerror})"
    # Resolve every folder on the way (symlinks included) and require the
    # result to stay inside the artefact's own, resolved folder.
    parent = Path(os.path.realpath(full.parent))
    if not parent.is_relative_to(root):
        return "remains", f"{shown}: resolves to {parent / full.name}, outside the record's folders; not touched"
    if stat.S_ISLNK(st.st_mode):
        return "remains", f"{shown}: is a symbolic link; links are never followed or removed; not touched"
    if not stat.S_ISREG(st.st_mode):
        return "remains", f"{shown}: is not a regular file; not touched"
    if st.st_nlink > 1:
        # Another name (possibly outside the record's folders) would keep the content.
        return "remains", f"{shown}: has {st.st_nlink} hard links; its content would survive; not touched"
    try:
        dir_fd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError as exc:
        return "remains", f"{shown}: its folder cannot be opened ({exc.strerror})"
    same = (st.st_dev, st.st_ino)
    try:
        # Re-check through the opened folder: the same regular file, not a
        # link swapped in since the check above.
        again = os.lstat(full.name, dir_fd=dir_fd)
        if not stat.S_ISREG(again.st_mode) or (again.st_dev, again.st_ino) != same:
            return "remains", f"{shown}: changed while being deleted; not touched"
        if expected is not None:
            fd = os.open(full.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
            try:
                opened = os.fstat(fd)
                if (opened.st_dev, opened.st_ino) != same:
                    return "remains", f"{shown}: changed while being deleted; not touched"
                digest = _sha256_fd(fd)
            finally:
                os.close(fd)
            if digest != expected:
                return "remains", (
                    f"{shown}: holds another file (sha256 {digest}) than the one recorded (sha256 {expected}); "
                    "not touched. If the recorded file is gone, move this one to another name and run "
                    "ifb1 delete again"
                )
            final = os.lstat(full.name, dir_fd=dir_fd)
            if (final.st_dev, final.st_ino) != same or final.st_mtime_ns != opened.st_mtime_ns:
                return "remains", f"{shown}: changed while being deleted; not touched"
        if dry_run:
            return "removed", None
        _unlink_in_dir(dir_fd, full.name)
    except FileNotFoundError:
        return "gone", None
    except OSError as exc:
        return "remains", f"{shown}: cannot be removed ({exc.strerror})"
    finally:
        os.close(dir_fd)
    return "removed", None


def _remove_all(record: Record, form: FormRow, artefacts, *, dry_run: bool) -> tuple[list[str], list[str], list[str]]:
    removed: list[str] = []
    remaining: list[str] = []
    errors: list[str] = []
    for artefact in artefacts:
        state, error = _remove(record, artefact, dry_run=dry_run, expected=_expected_sha(form, artefact))
        if state == "removed":
            removed.append(str(artefact.path))
        elif state == "remains":
            remaining.append(str(artefact.path))
            errors.append(error or f"{artefact.path}: remains")
    return removed, remaining, errors


def _live(record: Record, form_key: int) -> list[Artefact]:
    """The form's files still registered (not deleted, not overwritten by another scan)."""
    return [a for a in record.artefacts(form_key) if a.removed_utc is None]


def _finish(record: Record, form: FormRow, *, actor: str, now: datetime, dry_run: bool, fresh: bool) -> DeletionOutcome:
    live = _live(record, form.form_key)
    removed, remaining, errors = _remove_all(record, form, live, dry_run=dry_run)
    deletion = record.deletion(form.form_key)
    received_on = form.received_utc[:10]
    deleted_on = now.astimezone(timezone.utc).date().isoformat()
    scans = [str(a.path) for a in live if a.kind == "scan"]
    note = case_note(received_on, _note_reason(form), deleted_on, scans)
    reason = deletion.reason if deletion is not None else deletion_reason(form)
    common = dict(form_key=form.form_key, form_id=form.form_id, scan_sha256=form.scan_sha256, reason=reason)
    if dry_run:
        action = "would-delete" if fresh else "would-finish"
        return DeletionOutcome(
            action=action, removed=tuple(removed), remaining=tuple(remaining), errors=tuple(errors), note=note, **common
        )
    if remaining:
        record.note_deletion_blocked(form.form_key, errors=errors, actor=actor, utc=now)
        return DeletionOutcome(
            action="pending", removed=tuple(removed), remaining=tuple(remaining), errors=tuple(errors), **common
        )
    files = [str(a.path) for a in live]
    record.complete_deletion(form.form_key, deleted_on=deleted_on, note=note, actor=actor, utc=now, files=files)
    return DeletionOutcome(action="deleted", removed=tuple(removed), note=note, deleted_on=deleted_on, **common)


def _finish_again(record: Record, form: FormRow, *, actor: str, now: datetime, dry_run: bool) -> DeletionOutcome:
    """Delete files of an already deleted form's scan found again (see the module docstring)."""
    live = _live(record, form.form_key)
    deletion = record.deletion(form.form_key)
    assert deletion is not None and deletion.status == "done"
    files = [str(a.path) for a in live]
    resumed = record.pending_deletion_again(form.form_key)
    if not dry_run and not resumed:
        record.log(
            "delete-intent",
            form.form_key,
            actor,
            {"again": True, "form_id": form.form_id, "scan_sha256": form.scan_sha256, "files": files},
            utc=now,
        )
    removed, remaining, errors = _remove_all(record, form, live, dry_run=dry_run)
    deleted_on = now.astimezone(timezone.utc).date().isoformat()
    note = again_note(form.received_utc[:10], deletion.deleted_on or "?", deleted_on,
                      [str(a.path) for a in live if a.kind == "scan"])
    common = dict(form_key=form.form_key, form_id=form.form_id, scan_sha256=form.scan_sha256,
                  reason="another file of a deleted scan")
    if dry_run:
        return DeletionOutcome(action="would-finish" if resumed else "would-delete", removed=tuple(removed),
                               remaining=tuple(remaining), errors=tuple(errors), note=note, **common)
    if remaining:
        record.note_deletion_blocked(form.form_key, errors=errors, actor=actor, utc=now)
        return DeletionOutcome(action="pending", removed=tuple(removed), remaining=tuple(remaining),
                               errors=tuple(errors), **common)
    record.complete_deletion_again(form.form_key, [a.artefact_id for a in live], deleted_on=deleted_on, note=note,
                                   actor=actor, utc=now, files=files)
    return DeletionOutcome(action="deleted", removed=tuple(removed), note=note, deleted_on=deleted_on, **common)


def delete_unsuitable(
    record: Record,
    *,
    actor: str,
    dry_run: bool = False,
    now: datetime | None = None,
    form_keys: list[int] | tuple[int, ...] | None = None,
) -> DeletionReport:
    """Delete unsuitable scanned copies and everything derived from them, logging each.

    Pending deletions (from a crashed or blocked run) are finished first;
    then every candidate (:meth:`Record.deletion_candidates`), or the forms
    in ``form_keys``, is deleted with the protocol in this module's
    docstring.

    Parameters
    ----------
    record : Record
        Opened for writing.
    actor : str
        Who runs the deletion (logged with each event).
    dry_run : bool
        List what would be deleted; change nothing (no event, no file).
    now : datetime, optional
        The time to log (timezone-aware); the record's clock by default.
    form_keys : sequence of int, optional
        Only these forms; any that is not an unsuitable copy is reported as
        ``refused`` (originals and suitable forms are never deleted).

    Returns
    -------
    DeletionReport
        One outcome per form; ``report.ok`` is False when a deletion stays
        pending because a file could not be removed.
    """
    if record.readonly and not dry_run:
        raise RecordError(f"{record.data_dir}: the record was opened read-only; cannot delete")
    now = now or record.now()
    selected = None if form_keys is None else set(form_keys)
    outcomes: list[DeletionOutcome] = []

    pending_keys = set()
    for d in record.deletions(status="pending"):
        pending_keys.add(d.form_key)
        if selected is not None and d.form_key not in selected:
            continue
        outcomes.append(_finish(record, record.form(d.form_key), actor=actor, now=now, dry_run=dry_run, fresh=False))

    again = {f.form_key: f for f in record.deleted_with_files_left()}
    for key, form in again.items():
        if selected is None or key in selected:
            outcomes.append(_finish_again(record, form, actor=actor, now=now, dry_run=dry_run))

    if selected is None:
        targets = list(record.deletion_candidates())
    else:
        targets = [record.form(k) for k in sorted(selected - pending_keys - set(again))]
    for form in targets:
        refusal = _refusal(form, record)
        if refusal is not None:
            outcomes.append(
                DeletionOutcome(
                    form_key=form.form_key,
                    form_id=form.form_id,
                    scan_sha256=form.scan_sha256,
                    action="refused",
                    reason=refusal,
                    errors=(refusal,),
                )
            )
            continue
        if not dry_run:
            files = [str(a.path) for a in record.artefacts(form.form_key)]
            record.begin_deletion(form.form_key, reason=deletion_reason(form), actor=actor, utc=now, files=files)
        outcomes.append(_finish(record, form, actor=actor, now=now, dry_run=dry_run, fresh=True))
    return DeletionReport(outcomes=tuple(outcomes), dry_run=dry_run)
