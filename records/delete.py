"""Crash-safe deletion of unsuitable scanned copies.

Protocol, per form (each step is durable before the next starts):

1. Refuse unless the verdict is ``unsuitable`` and the scan is a copy.
2. In one transaction: log ``delete-intent`` (with the list of files) and
   insert the ``deletions`` row with status ``pending``.
3. Remove every registered file of the form (scan, crops, previews, exports,
   results). A missing file counts as already removed, but only when its
   folder is present (an unmounted or moved folder proves nothing). A file
   whose real location is outside the record's folders, a symlink, or
   anything but a regular file, or a file with other hard links, is refused
   and left untouched. The folder
   is fsynced after each removal so that a removed file cannot reappear
   after a power cut.
4. Only when no file of the form remains: in one transaction, log
   ``deleted`` with the date and the case note, and close the deletions row.
   Otherwise the deletion stays ``pending`` with the error (and a
   ``delete-blocked`` event), and nothing is logged as deleted.

A rerun finishes pending deletions first, so a crash at any point is
completed by the next run; the intent and the deletion are each logged once.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ifb1.records.db import VERDICT_UNSUITABLE, Artefact, FormRow, Record, RecordError


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


def case_note(received_on: str, reason: str, deleted_on: str) -> str:
    """The note for the case's communication card.

    Parameters
    ----------
    received_on, deleted_on : str
        ISO dates ``YYYY-MM-DD`` (UTC).
    reason : str
        Why the prints were unsuitable (the verdict's first, summary reason).
    """
    return (
        f"Fingerprints received on {received_on} were unsuitable for scanning ({reason}) "
        f"and were deleted on {deleted_on}."
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


def _remove(record: Record, artefact: Artefact, *, dry_run: bool) -> tuple[str, str | None]:
    """Remove one artefact; returns ``(state, error)`` with state ``removed``/``gone``/``remains``."""
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
    if dry_run:
        return "removed", None
    try:
        dir_fd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError as exc:
        return "remains", f"{shown}: its folder cannot be opened ({exc.strerror})"
    try:
        # Re-check through the opened folder: the same regular file, not a
        # link swapped in since the check above.
        again = os.lstat(full.name, dir_fd=dir_fd)
        if not stat.S_ISREG(again.st_mode) or (again.st_dev, again.st_ino) != (st.st_dev, st.st_ino):
            return "remains", f"{shown}: changed while being deleted; not touched"
        _unlink_in_dir(dir_fd, full.name)
    except FileNotFoundError:
        return "gone", None
    except OSError as exc:
        return "remains", f"{shown}: cannot be removed ({exc.strerror})"
    finally:
        os.close(dir_fd)
    return "removed", None


def _finish(record: Record, form: FormRow, *, actor: str, now: datetime, dry_run: bool, fresh: bool) -> DeletionOutcome:
    removed: list[str] = []
    remaining: list[str] = []
    errors: list[str] = []
    for artefact in record.artefacts(form.form_key):
        state, error = _remove(record, artefact, dry_run=dry_run)
        if state == "removed":
            removed.append(str(artefact.path))
        elif state == "remains":
            remaining.append(str(artefact.path))
            errors.append(error or f"{artefact.path}: remains")
    deletion = record.deletion(form.form_key)
    received_on = form.received_utc[:10]
    deleted_on = now.astimezone(timezone.utc).date().isoformat()
    note = case_note(received_on, _note_reason(form), deleted_on)
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
    files = [str(a.path) for a in record.artefacts(form.form_key)]
    record.complete_deletion(form.form_key, deleted_on=deleted_on, note=note, actor=actor, utc=now, files=files)
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

    if selected is None:
        targets = list(record.deletion_candidates())
    else:
        targets = [record.form(k) for k in sorted(selected - pending_keys)]
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
