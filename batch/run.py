"""Nightly batch processing of the received-mail tray, resumable after a crash at any moment.

:func:`run_batch` takes every scan under the tray (recursive, sorted by path),
skips scans already in the case record (by SHA-256), processes the others with
:func:`ifb1.pipeline.form.process_form` in one process pool, records each
form and its verdict, and exports the suitable ones (ANSI/NIST-ITL) under
``OUT/exports/``. Only this (parent) process writes the record; workers only
compute and write to a private staging folder.

Order of work for one form (each step durable before the next)::

    worker:  process_form -> write OUT/.staging/<sha>.partial-*/ -> rename to OUT/.staging/<sha>/
    parent:  one transaction: add_form + register crops/preview/result + prints + verdict
             publish: rename each staged file to OUT/forms/<name>/...  (registered before it appears)
             export (suitable forms): register OUT/exports/<form id>.an2, write it atomically,
             mark_exported

A batch killed anywhere and run again finishes the job, each form processed
once and exported once: a scan in the record is not processed again; staged
files of a recorded form are published on the next run (a stale staging
folder of an unrecorded scan is removed and the scan processed again); an
export file registered for its form and present on disk counts as written, so
the rerun only marks it exported. Temporary files (``.*.tmp``, ``*.partial-*``)
left by a killed run are removed at the start of the next.

Nothing under the tray is ever moved or changed: a bad file is reported and
stays where it is, and is tried again by the next run.

Test hook: when the environment variable ``IFB1_TEST_CRASH_AT=<stage>:<n>``
is set, the parent kills itself with SIGKILL the ``n``-th time (1-based) it
reaches ``<stage>`` (one of :data:`CRASH_STAGES`). It exists for the crash
tests and does nothing when the variable is not set.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

from ifb1.batch.export import export_form, export_held
from ifb1.batch.manifest import TEXT_RE, ManifestEntry, read_manifest
from ifb1.batch.pool import Job, pool_results
from ifb1.batch.summary import BatchSummary, FileOutcome, Progress
from ifb1.batch.tray import BatchError, list_tray
from ifb1.fileio import ensure_private_dir, raise_if_storage_fault, sha256_file
from ifb1.outputs.staging import EXPORTS, FORMS, SHA_RE, STAGING, cleanup_temporaries, form_folder_name, planned_outputs, publish_staged, registered_paths, remove_empty_form_folders
from ifb1.pipeline.form import FormResult, ProcessOptions
from ifb1.pipeline.policy import Policy


CRASH_ENV = "IFB1_TEST_CRASH_AT"

CRASH_STAGES = ("staged", "recorded", "published", "export-registered", "export-written", "exported")



class _CrashHook:
    """``IFB1_TEST_CRASH_AT=<stage>:<n>``: SIGKILL this process at the n-th ``stage`` (tests only)."""

    def __init__(self, spec: str | None):
        self.stage, self.n, self.seen = None, 0, 0
        if spec:
            stage, _, n = spec.partition(":")
            if stage not in CRASH_STAGES or not n.isdigit() or int(n) < 1:
                raise BatchError(f"{CRASH_ENV}={spec!r}: expected <stage>:<n>, stage one of {', '.join(CRASH_STAGES)}")
            self.stage, self.n = stage, int(n)

    def __call__(self, stage: str) -> None:
        if stage == self.stage:
            self.seen += 1
            if self.seen == self.n:
                sys.stdout.flush()
                sys.stderr.flush()
                os.kill(os.getpid(), signal.SIGKILL)



def _utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")



def resume_staging(rec, out: Path) -> dict[str, list[str]]:
    """Finish or discard staged outputs left by a killed run.

    A staged form that is in the record (processed, not being deleted) is
    published; any other staging folder is removed (its scan was never
    recorded, so it is processed again if it is still in the tray).

    Returns
    -------
    dict
        ``{"published": [sha, ...], "discarded": [sha, ...]}``.
    """
    report: dict[str, list[str]] = {"published": [], "discarded": []}
    staging = out / STAGING
    if not staging.is_dir():
        return report
    for d in sorted(staging.iterdir()):
        if not d.is_dir() or d.is_symlink() or not SHA_RE.match(d.name):
            continue
        form = rec.find_by_hash(d.name)
        if form is None or form.status in ("received", "deletion-pending", "deleted"):
            shutil.rmtree(d)
            report["discarded"].append(d.name)
            continue
        final_dir = out / FORMS / form_folder_name(form.form_id, form.scan_sha256)
        publish_staged(d, final_dir, registered_paths(rec, form.form_key))
        report["published"].append(d.name)
    return report



def _record_result(rec, job: Job, result: FormResult, *, entry: ManifestEntry | None, is_copy: bool,
                   force_name: str | None, existing_key: int | None, out: Path, actor: str) -> tuple[int, Path]:
    """One transaction: the form (unless already received), its files, prints and verdict.

    Returns the form key and its output folder (named from the form id in the record).
    """
    from ifb1.records import PrintEntry

    form_id = result.form_id if existing_key is None else rec.form(existing_key).form_id
    folder = out / FORMS / form_folder_name(form_id, result.sha256)
    staged = Path(job.staging_root) / result.sha256
    present = {p.relative_to(staged).as_posix() for p in staged.rglob("*") if p.is_file()} if staged.is_dir() else set()
    files = planned_outputs(result, with_preview="preview.jpg" in present)
    if set(files) != present:
        raise BatchError(f"{job.path}: the worker's staged outputs in {staged} are incomplete; "
                         "the scan is processed again next run")
    crop_of = {pos: folder / rel for rel, pos in files.items() if pos is not None}
    v = result.verdict
    with rec.transaction():
        if existing_key is None:
            form_key = rec.add_form(
                scan_sha256=result.sha256, source_path=job.path, is_copy=is_copy, actor=actor,
                form_id=result.form_id, force=(entry.force if entry and entry.force else force_name),
                case_ref=entry.case_ref if entry else None,
                details={"tray_file": job.rel, "form_id_source": result.form_id_source,
                         "manifest_line": entry.line if entry else None},
            )
        else:
            form_key = existing_key
        rec.set_prints(form_key, [
            PrintEntry(position=p.position, present=p.present,
                       quality=None if p.quality is None else float(p.quality),
                       feedback=tuple(c.replace("_", " ") for c in p.feedback_codes) or
                       ((p.quality_note,) if p.present and p.quality_note else ()),
                       crop_path=str(crop_of[p.position]) if p.position in crop_of else None,
                       annotation_code=p.annotation_code,
                       scorer=p.scorer)
            for p in result.prints
        ])
        for rel, pos in files.items():
            # Each file with the content staged for it: deletion removes a file only while it holds that.
            kind = "crop" if pos is not None else {".jpg": "preview", ".wsq": "crop"}.get(Path(rel).suffix, "result")
            rec.add_artefact(form_key, kind, folder / rel, sha256=sha256_file(staged / rel))
        rec.set_verdict(form_key, v.verdict, v.reasons, actor=actor, details={
            "defective_positions": list(v.defective_positions),
            "looks_like_copy": result.copy.looks_like_copy if result.copy else None,
            "copy_check": result.copy.note if result.copy else None,
            "qualities": {str(p.position): p.quality for p in result.prints if p.present},
            "scorer": v.scorer,
            "scores": {str(p.position): p.scores for p in result.prints if p.scores},
            "warnings": list(result.warnings),
        })
    return form_key, folder



def flag_copies_of_unsuitable(rec, tray: Path, shas: dict[str, str], outcomes: dict[str, FileOutcome], *,
                              actor: str) -> None:
    """Register every other tray file holding an unsuitable copy's scan, so that ``ifb1 delete`` removes it too.

    A second identical file in the tray, or the same scan sent again (before
    or after its deletion), would otherwise stay for good: it is skipped as
    already in the record. Each is registered once with the form
    (:meth:`ifb1.records.Record.add_scan_copy`, logged ``flagged``) and its
    outcome says so.
    """
    for rel, sha in sorted(shas.items()):
        form = rec.find_by_hash(sha)
        if form is None or not form.is_copy or form.verdict != "unsuitable":
            continue
        oc = outcomes.get(rel)
        if oc is None or oc.action not in ("processed", "skipped", "duplicate"):
            continue
        new = rec.add_scan_copy(form.form_key, tray / rel, sha256=sha, actor=actor)
        if oc.action == "processed":
            continue
        when = "already deleted once" if form.status == "deleted" else "flagged for deletion"
        outcomes[rel] = replace(oc, form_key=form.form_key, form_id=form.form_id, verdict=form.verdict,
                                reasons=form.verdict_reasons, flagged_copy=True,
                                error=None if oc.action == "skipped" else oc.error,
                                note=f"another file of the scan of an unsuitable copy ({when}): "
                                     f"{'flagged now' if new else 'flagged before'}; ifb1 delete removes it")



def run_batch(
    tray: str | os.PathLike[str],
    *,
    out: str | os.PathLike[str],
    data: str | os.PathLike[str],
    workers: int = 1,
    copy: bool = False,
    manifest: str | os.PathLike[str] | None = None,
    policy: Policy | None = None,
    force_name: str | None = None,
    actor: str | None = None,
    progress: Progress | Callable[[int], Progress] | None = None,
    audit_key: bytes | None = None,
) -> BatchSummary:
    """Process every scan of a tray into the record and export the suitable forms.

    Parameters
    ----------
    tray : path
        The folder of received scans (read only; nothing in it is changed).
    out : path
        Output folder: ``forms/<name>/`` (crops, preview, result.json),
        ``exports/<form id>.an2``, ``.staging/`` (work in progress). Owner-only.
    data : path
        The record's data folder (created if needed).
    workers : int
        Worker processes (1: in this process).
    copy : bool
        Every scan is a scanned copy (otherwise originals), unless ``manifest``.
    manifest : path, optional
        CSV ``file,copy,force,case_ref`` (:func:`read_manifest`); with it,
        every scan must be listed.
    policy : Policy, optional
        Verdict and export settings; the bundled defaults when None.
    force_name : str, optional
        The sending police force, where the manifest gives none.
    actor : str, optional
        Who runs the batch (default :func:`ifb1.records.system_actor`).
    progress : callable, optional
        ``progress(total) -> Progress``; default a :class:`Progress` on stderr.
    audit_key : bytes, optional
        The record's audit key, if it is keyed.

    Returns
    -------
    BatchSummary

    Raises
    ------
    BatchError, ManifestError
        Before anything is processed, for bad folders, options or manifest.
    ifb1.records.RecordError
        When the record cannot be opened (e.g. another batch holds it).
    """
    from ifb1.pipeline.policy import load_policy
    from ifb1.records import RecordError, open_record, system_actor

    t_start = time.monotonic()
    started = _utc_now()
    hook = _CrashHook(os.environ.get(CRASH_ENV))
    policy = policy or load_policy()
    actor = actor or system_actor()
    if workers < 1:
        raise BatchError(f"workers must be at least 1, got {workers}")
    if copy and manifest is not None:
        raise BatchError("give either --copy or --manifest, not both")
    if force_name is not None and not TEXT_RE.match(force_name.strip()):
        raise BatchError(f"--force-name must be 1-64 printable characters, got {force_name!r}")
    force_name = force_name.strip() if force_name else None
    tray_p = Path(os.path.realpath(tray))
    out_p = Path(os.path.abspath(out))
    data_p = Path(os.path.abspath(data))
    if not tray_p.is_dir():
        raise BatchError(f"{tray}: the tray is not a folder")
    if tray_p.is_relative_to(Path(os.path.realpath(out_p))):
        raise BatchError(f"{tray}: the tray must not lie inside the output folder {out}")
    entries = read_manifest(manifest, tray=tray_p) if manifest is not None else None
    listing = list_tray(tray_p, exclude=[out_p, data_p])
    from ifb1.fileio import FORM_OUTPUT_FREE, RECORD_BATCH_FREE, require_free

    require_free(data_p, RECORD_BATCH_FREE, what="the case record")
    require_free(out_p, FORM_OUTPUT_FREE, what="the batch's output")

    ensure_private_dir(out_p)
    for sub in (FORMS, EXPORTS, STAGING):
        ensure_private_dir(out_p / sub)
    exports_dir = out_p / EXPORTS
    staging = out_p / STAGING
    stage_s: dict[str, float] = {}

    def add_time(stage: str, seconds: float) -> None:
        stage_s[stage] = stage_s.get(stage, 0.0) + seconds

    outcomes: dict[str, FileOutcome] = {}
    with open_record(data_p, audit_key=audit_key) as rec:
        rec.add_root(tray_p, kind="tray", actor=actor)
        rec.add_root(out_p, kind="output", actor=actor)
        housekeeping = {"hidden_skipped": list(listing.hidden),
                        "temporaries_removed": len(cleanup_temporaries(out_p))}
        housekeeping |= {k: len(v) for k, v in resume_staging(rec, out_p).items()}
        housekeeping["empty_folders_removed"] = remove_empty_form_folders(out_p)

        for rel, why in listing.ignored:
            outcomes[rel] = FileOutcome(rel, "ignored", error=why)
        for rel, why in listing.refused:
            outcomes[rel] = FileOutcome(rel, "failed", error=f"{tray_p / rel}: {why}")

        # Plan: hash every scan; new ones go to the pool, recorded ones are skipped
        # (their export finished when it is pending).
        jobs: list[Job] = []
        job_info: dict[str, tuple[ManifestEntry | None, bool, int | None]] = {}
        pending_exports: list[tuple[str, int]] = []
        seen: dict[str, str] = {}
        shas: dict[str, str] = {}
        t = time.monotonic()
        for rel in listing.scans:
            path = tray_p / rel
            entry = None
            if entries is not None:
                entry = entries.get(rel)
                if entry is None:
                    outcomes[rel] = FileOutcome(rel, "failed", error=f"{path}: not listed in the manifest {manifest}; not processed")
                    continue
            try:
                sha = sha256_file(path)
            except OSError as exc:
                outcomes[rel] = FileOutcome(rel, "failed", error=f"{path}: cannot be read ({exc.strerror or exc})")
                continue
            shas[rel] = sha
            if sha in seen:
                outcomes[rel] = FileOutcome(rel, "duplicate", sha256=sha, error=f"same file as {seen[sha]}")
                continue
            seen[sha] = rel
            form = rec.find_by_hash(sha)
            is_copy = entry.copy if entry is not None else copy
            if form is None or form.status == "received":
                opts = ProcessOptions(is_copy=is_copy, policy=policy, for_export=True)
                jobs.append(Job(rel, str(path), sha, opts, str(staging),
                                case_ref=entry.case_ref if entry is not None else None))
                job_info[rel] = (entry, is_copy, None if form is None else form.form_key)
            else:
                outcomes[rel] = FileOutcome(rel, "skipped", sha256=sha, form_key=form.form_key, form_id=form.form_id,
                                            verdict=form.verdict, reasons=form.verdict_reasons)
                if form.verdict == "suitable" and form.status == "processed" and not export_held(rec, form.form_key):
                    pending_exports.append((rel, form.form_key))
        if entries is not None:
            for rel, entry in entries.items():
                if rel not in outcomes and rel not in job_info:
                    outcomes[rel] = FileOutcome(rel, "failed", error=f"{manifest}:{entry.line}: {rel} is listed but not in the tray")
        add_time("hash", time.monotonic() - t)

        for rel, key in pending_exports:
            t = time.monotonic()
            ex = export_form(rec, key, exports_dir=exports_dir, policy=policy, actor=actor, hook=hook)
            add_time("export", time.monotonic() - t)
            outcomes[rel] = replace(outcomes[rel], export=ex.action, export_path=ex.path, error=ex.error,
                                    note=ex.note)

        bar = (progress(len(jobs)) if callable(progress) and not isinstance(progress, Progress)
               else progress or Progress(len(jobs)))
        bar.note(f"ifb1 batch: {len(jobs)} scan(s) to process, "
                 f"{sum(o.action == 'skipped' for o in outcomes.values())} already in the record, "
                 f"{len(pending_exports)} pending export(s) finished")
        bar.update(0)
        for n, (job, done) in enumerate(pool_results(jobs, workers), start=1):
            result = done.result
            if done.fault is not None:
                from ifb1.fileio import FORM_OUTPUT_FREE, StorageFault

                raise StorageFault(done.fault, folder=out_p, free=None, need=FORM_OUTPUT_FREE)
            for stage, ms in result.timings_ms.items():
                add_time(stage, ms / 1000.0)
            entry, is_copy, existing = job_info[job.rel]
            if not result.ok:
                rec.log("failed", existing, actor, {"tray_file": job.rel, "sha256": job.sha256, "error": result.error})
                outcomes[job.rel] = FileOutcome(job.rel, "failed", sha256=job.sha256, error=result.error)
                bar.update(n, job.rel)
                continue
            hook("staged")
            t = time.monotonic()
            try:
                key, folder = _record_result(rec, job, result, entry=entry, is_copy=is_copy, force_name=force_name,
                                             existing_key=existing, out=out_p, actor=actor)
            except (BatchError, RecordError) as exc:
                # Nothing of this form was recorded (one transaction); it is tried again next run.
                rec.log("failed", existing, actor, {"tray_file": job.rel, "sha256": job.sha256, "error": str(exc)})
                outcomes[job.rel] = FileOutcome(job.rel, "failed", sha256=job.sha256, error=str(exc))
                bar.update(n, job.rel)
                continue
            add_time("record", time.monotonic() - t)
            hook("recorded")
            t = time.monotonic()
            staged = staging / result.sha256
            v = result.verdict
            oc = FileOutcome(job.rel, "processed", sha256=job.sha256, form_key=key, form_id=result.form_id,
                             verdict=v.verdict, reasons=v.reasons)
            try:
                publish_staged(staged, folder, registered_paths(rec, key))
            except OSError as exc:
                raise_if_storage_fault(exc, out_p)
                # Recorded; the staged files stay and the next run publishes and exports them.
                outcomes[job.rel] = replace(oc, export="failed" if v.verdict == "suitable" else None,
                                            error=f"{folder}: outputs not written ({exc}); the next run finishes them")
                bar.update(n, job.rel)
                continue
            add_time("publish", time.monotonic() - t)
            hook("published")
            if v.verdict == "suitable":
                t = time.monotonic()
                ex = export_form(rec, key, exports_dir=exports_dir, policy=policy, actor=actor, hook=hook,
                                 data=done.export if existing is None else None)
                add_time("export", time.monotonic() - t)
                oc = replace(oc, export=ex.action, export_path=ex.path, error=ex.error, note=ex.note)
            outcomes[job.rel] = oc
            bar.update(n, job.rel)
        bar.close()
        flag_copies_of_unsuitable(rec, tray_p, shas, outcomes, actor=actor)

    return BatchSummary(
        tray=str(tray_p), out=str(out_p), data=str(data_p), started_utc=started, finished_utc=_utc_now(),
        seconds=time.monotonic() - t_start, workers=workers,
        files=tuple(outcomes[k] for k in sorted(outcomes)), stage_seconds=stage_s, housekeeping=housekeeping,
    )
