"""Exports of the batch and of ``ifb1 export``: one ANSI/NIST-ITL transaction per suitable form, crash-safely.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from ifb1.fileio import ensure_private_dir, raise_if_storage_fault
from ifb1.outputs.staging import registered_paths
from ifb1.pipeline.form import FormResult
from ifb1.pipeline.policy import Policy


@dataclass(frozen=True)
class ExportOutcome:
    """What happened to one form's export.

    ``action``: ``"exported"`` (written now), ``"completed"`` (the file was
    written by a killed run; now marked exported), ``"already"`` (exported
    before, nothing done), ``"held"`` (suitable, but another scan of the same
    form id was exported: a person decides; see ``note``), ``"refused"`` (not
    suitable / no form id) or ``"failed"`` (see ``error``).
    """

    form_key: int
    form_id: str | None
    action: str
    path: str | None = None
    error: str | None = None
    note: str | None = None

    @property
    def ok(self) -> bool:
        return self.action in ("exported", "completed", "already", "held")



def export_held(rec, form_key: int) -> bool:
    """Whether the form's export was held because another scan of its form id was exported."""
    return any(e.kind == "note" and e.details.get("export_held") for e in rec.events(form_key))



def _hold_export(rec, form, fid: str, owner: int, target: Path, *, actor: str) -> ExportOutcome:
    """Two scans of one form id: the first one's export stands; this one waits for a person (logged once)."""
    other = rec.form(owner)
    if not export_held(rec, form.form_key):
        rec.log("note", form.form_key, actor, {
            "export_held": True, "text": "another scan of this form id was exported; a person decides which stands",
            "form_id": fid, "exported_form_key": owner, "exported_scan": other.source_path, "file": str(target)})
    note = (f"suitable, not exported: {fid} was exported from another scan of it, {other.source_path} "
            f"(form {owner}); that export stands. Compare the two (ifb1 audit log --form-id {fid}; "
            f"their preview.jpg under forms/) and, if this scan should replace it, see the README "
            f"(two scans of one form)")
    return ExportOutcome(form.form_key, fid, "held", str(target), note=note)



def _export_print(position: int, present: bool, image, quality: float | None,
                  missing: tuple[tuple[int, str], ...] = (), *, scorer: str | None = None, wsq: bytes | None = None):
    from ifb1.export import ExportPrint
    from ifb1.pipeline.form import SLAP_POSITIONS

    scored = present and position not in SLAP_POSITIONS
    return ExportPrint(
        position=position,
        impression="rolled" if position <= 10 else "plain",
        image=image if present else None,
        quality=None if quality is None else int(round(quality)),
        # 14.024: 255 when scoring was tried and failed, 254 when not tried (slaps)
        quality_failed=scored and quality is None,
        missing=missing,
        # An unscored slap is "not attempted"; a print without a recorded scorer was scored by ifb1's own.
        quality_scorer=(scorer or "fast") if scored else None,
        wsq=wsq if present else None,
    )



def _missing_of(position: int, present: bool, annotation_code: str | None) -> tuple[tuple[int, str], ...]:
    """14.018 entries of an empty rolled box or plain thumb carrying "AMP"/"XX"/"UP".

    ``annotation_code`` is the text read in the box (as
    :attr:`ifb1.pipeline.form.PrintResult.annotation_code` gives it and the
    record keeps it). "AMP" and "XX" export as ``XX`` (amputation), "UP" as
    ``UP``. Four-finger slaps (13, 14) are not marked yet: a missing finger
    inside a slap needs the slap split into fingers first.
    """
    from ifb1.export.ansi_nist import PLAIN_THUMB_FINGER
    from ifb1.pipeline.annotation import ANSI_NIST_CODE

    code = ANSI_NIST_CODE.get(annotation_code) if annotation_code is not None and not present else None
    if code is None or position > 12:
        return ()
    return ((PLAIN_THUMB_FINGER.get(position, position), code),)



def _export_prints(rec, form_key: int, *, policy: Policy) -> list:
    """The form's prints for export: images read back from its registered crop files, 14.018 from the record.

    The WSQ bytes stored beside each crop (``prints/NN.wsq``) are embedded as
    they are, so the export carries the image that was stored and scored with
    its recorded score. A print whose recorded score is not the reference
    scorer's (a form decided in review, a record from before ``.wsq`` files) is
    scored by NIST's NFIQ 2 on the export's decoded image when it is installed,
    so 14.024 is NIST NFIQ 2 of exactly what the receiver decodes; otherwise the
    recorded score and its scorer are used (and 14.024 says so, or is left out).
    """
    import cv2

    from ifb1.export.ansi_nist import wsq_decode, wsq_encode
    from ifb1.pipeline.form import SLAP_POSITIONS
    from ifb1.quality.nist import NistScorerUnavailable, score_nist

    reference = policy.quality.reference_scorer
    out = []
    for p in rec.prints(form_key):
        image = data = None
        quality, scorer = p.quality, p.scorer
        if p.present:
            if p.crop_path is None:
                raise FileNotFoundError(f"form {form_key}: print {p.position} has no crop file")
            image = cv2.imread(str(p.crop_path), cv2.IMREAD_UNCHANGED)
            if image is None or image.ndim != 2 or image.dtype.name != "uint8":
                raise FileNotFoundError(f"{p.crop_path}: crop of print {p.position} is missing or unreadable "
                                        "(a killed batch publishes it on its next run)")
            wsq_path = Path(p.crop_path).with_suffix(".wsq")
            if wsq_path.is_file():  # the bytes the stored image was decoded from
                data = wsq_path.read_bytes()
                image = wsq_decode(data)[0]
            if reference is not None and scorer != reference and p.position not in SLAP_POSITIONS:
                # Scored by the fast scorer only (a form decided in review, an older
                # record): NIST's NFIQ 2 of exactly what is exported, when it is here.
                if data is None:
                    data = wsq_encode(image)
                    image = wsq_decode(data)[0]
                try:
                    nq = score_nist(image)
                except NistScorerUnavailable:
                    pass
                else:
                    quality, scorer = nq.quality, reference
        out.append(_export_print(p.position, p.present, image, quality,
                                 _missing_of(p.position, p.present, p.annotation_code), scorer=scorer, wsq=data))
    return out



def build_export(result: FormResult, *, case_ref: str | None, policy: Policy) -> bytes | None:
    """The ANSI/NIST-ITL transaction of a suitable form from its in-memory crops (worker side).

    Returns None when the form is not suitable or has no valid form id (the
    parent then refuses or reports it). The crops written to disk are
    lossless PNGs of the same arrays, so building from them later gives the
    same images.
    """
    from ifb1.barcode.ids import validate_form_id
    from ifb1.export import build_transaction

    if result.verdict is None or result.verdict.verdict != "suitable" or validate_form_id(result.form_id) is None:
        return None
    prints = [_export_print(p.position, p.present, p.image, p.quality,
                            _missing_of(p.position, p.present, p.annotation_code), scorer=p.scorer, wsq=p.wsq)
              for p in result.prints]
    return build_transaction(prints, form_id=result.form_id, case_ref=case_ref, config=policy.export)



def export_form(rec, form_key: int, *, exports_dir: Path, policy: Policy, actor: str, force: bool = False,
                hook: Callable[[str], None] | None = None, data: bytes | None = None) -> ExportOutcome:
    """Export one suitable form as ``exports_dir/<form id>.an2``, crash-safely.

    Steps: register the export file as an artefact of the form, build the
    transaction from the form's registered crops, write it atomically
    (:func:`ifb1.export.write_transaction`), log ``exported``. When the file
    is already registered to this form and present (a run killed before its
    last step), the form is only marked exported.

    Parameters
    ----------
    rec : Record
        Open for writing.
    form_key : int
    exports_dir : Path
        Inside a folder registered with the record.
    policy : Policy
        Its ``export`` settings are used.
    actor : str
    force : bool
        Export again a form exported before (overwrites its file).
    hook : callable, optional
        Called with a stage name after each durable step (crash tests).
    data : bytes, optional
        The transaction, already built by the worker (:func:`build_export`);
        otherwise it is built here from the form's crop files.

    Returns
    -------
    ExportOutcome
    """
    from ifb1.barcode.ids import validate_form_id
    from ifb1.export import build_transaction, write_transaction
    from ifb1.records import RecordError

    hook = hook or (lambda stage: None)
    form = rec.form(form_key)
    fid = validate_form_id(form.form_id) if form.form_id else None
    if form.verdict != "suitable":
        return ExportOutcome(form_key, form.form_id, "refused",
                             error=f"form {form.form_id or form_key} is {form.verdict or 'not processed'}, not suitable: not exported")
    if form.status in ("deletion-pending", "deleted"):
        return ExportOutcome(form_key, form.form_id, "refused", error=f"form {form.form_id or form_key} is {form.status}")
    if fid is None or fid != form.form_id:
        return ExportOutcome(form_key, form.form_id, "refused",
                             error=f"form {form_key} has no valid form id: enter it by hand before exporting")
    target = Path(exports_dir) / f"{fid}.an2"
    if form.status == "exported" and not force:
        return ExportOutcome(form_key, fid, "already", str(target))
    real_target = Path(os.path.realpath(target.parent)) / target.name
    mine = real_target in registered_paths(rec, form_key)
    owner = rec.artefact_owner(target)
    if owner is not None and owner != form_key:
        return _hold_export(rec, form, fid, owner, target, actor=actor)
    try:
        if mine and target.is_file() and not force:
            rec.mark_exported(form_key, actor=actor, details={"file": str(target), "resumed": True})
            hook("exported")
            return ExportOutcome(form_key, fid, "completed", str(target))
        if target.exists() and not mine:
            return ExportOutcome(form_key, fid, "failed", str(target),
                                 f"{target}: exists and is not this form's export (another scan of form {fid}?)")
        if data is None:
            data = build_transaction(_export_prints(rec, form_key, policy=policy), form_id=fid, case_ref=form.case_ref,
                                     config=policy.export)
        ensure_private_dir(Path(exports_dir))
        rec.add_artefact(form_key, "export", target, sha256=hashlib.sha256(data).hexdigest())  # before the file appears
        hook("export-registered")
        write_transaction(data, Path(exports_dir), form_id=fid, force=True)
        hook("export-written")
        rec.mark_exported(form_key, actor=actor, details={
            "file": str(target), "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(), "again": form.status == "exported"})
        hook("exported")
    except (OSError, ValueError, RecordError) as exc:
        raise_if_storage_fault(exc, Path(exports_dir))
        return ExportOutcome(form_key, fid, "failed", str(target), f"form {fid}: export failed: {exc}")
    return ExportOutcome(form_key, fid, "exported", str(target))



def export_pending(rec, *, exports_dir: Path, policy: Policy, actor: str, form_ids: Iterable[str] = (),
                   force: bool = False) -> list[ExportOutcome]:
    """Export suitable forms of the record not exported yet (all, or those with ``form_ids``).

    A named form id that is not suitable is refused; with ``force`` exported
    forms are exported again.
    """
    wanted = list(dict.fromkeys(form_ids))
    outcomes: list[ExportOutcome] = []
    if wanted:
        for fid in wanted:
            forms = rec.forms(form_id=fid)
            if not forms:
                outcomes.append(ExportOutcome(0, fid, "failed", error=f"form {fid}: not in the record"))
            for form in forms:
                outcomes.append(export_form(rec, form.form_key, exports_dir=exports_dir, policy=policy,
                                            actor=actor, force=force))
        return outcomes
    statuses = ("processed", "exported") if force else ("processed",)
    for status in statuses:
        for form in rec.forms(status=status, verdict="suitable"):
            if export_held(rec, form.form_key):  # waits for a person (see export_form); name its id to see it
                continue
            outcomes.append(export_form(rec, form.form_key, exports_dir=exports_dir, policy=policy,
                                        actor=actor, force=force))
    return sorted(outcomes, key=lambda o: o.form_key)
