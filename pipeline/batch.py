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

import csv
import hashlib
import io
import json
import os
import re
import shutil
import signal
import sys
import time
from collections import deque
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterable, Iterator, TextIO

from ifb1.pipeline.form import FormResult, ProcessOptions, process_form
from ifb1.pipeline.policy import Policy

#: File name endings taken as scans (other files are sniffed for a scan signature).
SCAN_SUFFIXES = (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp", ".pdf")
_SCAN_MAGIC = (b"\x89PNG\r\n\x1a\n", b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+", b"\xff\xd8\xff", b"BM", b"%PDF-")
STAGING = ".staging"
FORMS = "forms"
EXPORTS = "exports"
MANIFEST_COLUMNS = ("file", "copy", "force", "case_ref")
_YES = {"yes", "y", "true", "1", "copy"}
_NO = {"no", "n", "false", "0", "original"}
_TEXT_RE = re.compile(r"^[^\x00-\x1f\x7f]{1,64}$")
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")
#: Temporary names of our own writers: ``write_private_atomic`` / ``write_transaction``
#: (``.<name>.<random>.tmp``) and the worker's staging folders.
_TMP_RE = re.compile(r"^\..+\.tmp$")
_PARTIAL_RE = re.compile(r"^[0-9a-f]{64}\.partial-")
CRASH_ENV = "IFB1_TEST_CRASH_AT"
CRASH_STAGES = ("staged", "recorded", "published", "export-registered", "export-written", "exported")


class ManifestError(ValueError):
    """A malformed manifest; the message names the file and the line."""


class BatchError(RuntimeError):
    """The batch cannot start (bad folders, options); the message says why."""


# ----------------------------------------------------------------------------- manifest


@dataclass(frozen=True)
class ManifestEntry:
    """One manifest row.

    Attributes
    ----------
    file : str
        Path of the scan relative to the tray, normalised, ``/``-separated.
    copy : bool
        The scan is a scanned copy.
    force : str or None
        The sending police force.
    case_ref : str or None
        The case reference.
    line : int
        Line number in the manifest (for messages).
    """

    file: str
    copy: bool
    force: str | None
    case_ref: str | None
    line: int


def _inside(tray_real: Path, rel: str) -> bool:
    full = Path(os.path.realpath(tray_real / rel))
    return full != tray_real and full.is_relative_to(tray_real)


def normalise_tray_path(text: str, *, tray: Path) -> str:
    """The tray-relative path a manifest names, refused when it could leave the tray.

    Raises
    ------
    ValueError
        For an empty, absolute, backslashed or escaping path (``..``, or a
        symlink pointing outside the tray).
    """
    t = text.strip()
    if not t:
        raise ValueError("empty file name")
    if "\\" in t or "\x00" in t:
        raise ValueError(f"{t!r}: use / as the folder separator")
    p = PurePosixPath(t)
    if p.is_absolute() or re.match(r"^[A-Za-z]:", t):
        raise ValueError(f"{t!r}: must be relative to the tray, not absolute")
    norm = os.path.normpath(t)
    if norm == "." or norm == ".." or norm.startswith("../"):
        raise ValueError(f"{t!r}: points outside the tray")
    if not _inside(Path(os.path.realpath(tray)), norm):
        raise ValueError(f"{t!r}: points outside the tray (through a symbolic link)")
    return PurePosixPath(norm).as_posix()


def read_manifest(path: str | os.PathLike[str], *, tray: str | os.PathLike[str]) -> dict[str, ManifestEntry]:
    """Read and validate a batch manifest (CSV, UTF-8, header ``file,copy,force,case_ref``).

    ``file`` is the scan's path relative to the tray; ``copy`` is yes/no
    (also true/false, 1/0, copy/original); ``force`` (the sending police
    force) and ``case_ref`` may be empty. Columns may come in any order; all
    four must be there and no others.

    Parameters
    ----------
    path : path
        The manifest.
    tray : path
        The tray the paths are relative to.

    Returns
    -------
    dict
        Normalised tray-relative path -> :class:`ManifestEntry`.

    Raises
    ------
    ManifestError
        Naming the file and line: unreadable file, wrong header, a bad value,
        a path leaving the tray, a file listed twice.
    """
    where = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{where}: cannot read the manifest: {exc}") from exc
    rows = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(rows)
    except StopIteration:
        raise ManifestError(f"{where}: the manifest is empty (expected the header {','.join(MANIFEST_COLUMNS)})") from None
    except csv.Error as exc:
        raise ManifestError(f"{where}:1: {exc}") from exc
    names = [h.strip().lower() for h in header]
    if sorted(names) != sorted(MANIFEST_COLUMNS):
        raise ManifestError(f"{where}:1: the header must name the columns {','.join(MANIFEST_COLUMNS)}, got {','.join(header)}")
    col = {n: i for i, n in enumerate(names)}
    out: dict[str, ManifestEntry] = {}
    try:
        for row in rows:
            line = rows.line_num
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) != len(names):
                raise ManifestError(f"{where}:{line}: expected {len(names)} columns, got {len(row)}")
            try:
                rel = normalise_tray_path(row[col["file"]], tray=Path(tray))
            except ValueError as exc:
                raise ManifestError(f"{where}:{line}: file {exc}") from None
            flag = row[col["copy"]].strip().lower()
            if flag not in _YES | _NO:
                raise ManifestError(f"{where}:{line}: copy must be yes or no, got {row[col['copy']]!r}")
            texts = {}
            for name in ("force", "case_ref"):
                v = row[col[name]].strip()
                if v and not _TEXT_RE.match(v):
                    raise ManifestError(f"{where}:{line}: {name} must be 1-64 printable characters, got {v!r}")
                texts[name] = v or None
            if rel in out:
                raise ManifestError(f"{where}:{line}: {rel} is listed twice (first on line {out[rel].line})")
            out[rel] = ManifestEntry(rel, flag in _YES, texts["force"], texts["case_ref"], line)
    except csv.Error as exc:
        raise ManifestError(f"{where}:{rows.line_num}: {exc}") from exc
    return out


# ----------------------------------------------------------------------------- tray


@dataclass(frozen=True)
class TrayListing:
    """What is in the tray.

    Attributes
    ----------
    scans : tuple of str
        Tray-relative paths of scan files, sorted.
    ignored : tuple of (str, str)
        Files that are not scans (by name and signature), with why.
    refused : tuple of (str, str)
        Entries that cannot be processed (symbolic links), with why.
    hidden : tuple of str
        Hidden files and folders skipped (a folder's contents are not listed).
    """

    scans: tuple[str, ...]
    ignored: tuple[tuple[str, str], ...]
    refused: tuple[tuple[str, str], ...]
    hidden: tuple[str, ...] = ()


def _looks_like_scan(path: Path) -> bool:
    if path.suffix.lower() in SCAN_SUFFIXES:
        return True
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError:
        return True  # let processing report why it cannot be read
    return any(head.startswith(m) for m in _SCAN_MAGIC)


def list_tray(tray: str | os.PathLike[str], *, exclude: Iterable[str | os.PathLike[str]] = ()) -> TrayListing:
    """Every scan under ``tray``, recursively, in sorted order.

    Hidden files and folders (name starting with ``.``) and the folders in
    ``exclude`` (our own outputs and data, when they lie inside the tray) are
    skipped. Symbolic links are not followed; a linked file is refused
    (deletion never removes through links).

    Raises
    ------
    BatchError
        When the tray is not a folder.
    """
    root = Path(os.path.realpath(tray))
    if not root.is_dir():
        raise BatchError(f"{tray}: the tray is not a folder")
    skip = {Path(os.path.realpath(e)) for e in exclude}
    scans, ignored, refused, hidden = [], [], [], []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        d = Path(dirpath)
        keep = []
        for name in sorted(dirnames):
            full = d / name
            rel = full.relative_to(root).as_posix()
            if full in skip:
                continue
            if name.startswith("."):
                hidden.append(rel + "/")
                continue
            if full.is_symlink():
                refused.append((rel, "a symbolic link to a folder: not followed"))
                continue
            keep.append(name)
        dirnames[:] = keep
        for name in filenames:
            full = d / name
            rel = full.relative_to(root).as_posix()
            if full in skip:
                continue
            if name.startswith("."):
                hidden.append(rel)
                continue
            if full.is_symlink():
                refused.append((rel, "a symbolic link: put the file itself in the tray"))
            elif not full.is_file():
                ignored.append((rel, "not a regular file"))
            elif _looks_like_scan(full):
                scans.append(rel)
            else:
                ignored.append((rel, "not a scan (no image or PDF signature)"))
    return TrayListing(tuple(sorted(scans)), tuple(sorted(ignored)), tuple(sorted(refused)), tuple(sorted(hidden)))


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ----------------------------------------------------------------------------- private files


def _private_dir(path: Path) -> Path:
    from ifb1.pipeline.cli import ensure_private_dir

    return ensure_private_dir(path)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_new(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as fh:
        os.fchmod(fh.fileno(), 0o600)
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def write_json_private(path: str | os.PathLike[str], obj: Any) -> None:
    """Write ``obj`` as JSON, atomically and owner-only."""
    from ifb1.fileio import make_private_dirs, write_private_atomic

    p = Path(path)
    make_private_dirs(p.parent)
    write_private_atomic(p, (json.dumps(obj, indent=1, allow_nan=False) + "\n").encode("utf-8"))


# ----------------------------------------------------------------------------- outputs of one form


def form_folder_name(form_id: str | None, sha256: str) -> str:
    """The form's output folder under ``OUT/forms`` (never raw barcode text)."""
    from ifb1.barcode.ids import safe_output_name

    return safe_output_name(form_id, sha256)


def planned_outputs(result: FormResult, *, with_preview: bool) -> dict[str, int | None]:
    """Relative paths of the files the batch writes for a form -> print position (None: not a crop).

    Each present print has its 500 ppi image ``prints/NN.png`` (the crop the
    record points at) and, beside it, ``prints/NN.wsq``: the WSQ bytes that image
    was decoded from, which an export rebuilt from the record embeds as they are
    (a second WSQ generation would change the pixels and their score).
    """
    files: dict[str, int | None] = {}
    for p in result.prints:
        if p.present and p.image_box_px is not None:  # a print whose image could be made (always, in practice)
            files[f"prints/{p.position:02d}.png"] = p.position
            files[f"prints/{p.position:02d}.wsq"] = None
    if with_preview:
        files["preview.jpg"] = None
    files["result.json"] = None
    return files


def stage_outputs(result: FormResult, staging_root: Path) -> Path:
    """Write a processed form's crops, preview and result to ``staging_root/<sha256>/``.

    The files are written into a fresh ``<sha>.partial-<pid>-<n>`` folder and
    the folder is renamed when complete, so ``<sha>/`` always holds a whole set.
    """
    from ifb1.pipeline.cli import png_with_ppi

    sha = result.sha256
    assert sha is not None and _SHA_RE.match(sha)
    partial = staging_root / f"{sha}.partial-{os.getpid()}-{time.monotonic_ns()}"
    partial.mkdir(mode=0o700)
    try:
        os.chmod(partial, 0o700)
        (partial / "prints").mkdir(mode=0o700)
        os.chmod(partial / "prints", 0o700)
        files = planned_outputs(result, with_preview=result.preview_jpeg is not None)
        by_pos = {p.position: p for p in result.prints}
        for rel, pos in files.items():
            if pos is not None:
                p = by_pos[pos]
                _write_new(partial / rel, png_with_ppi(p.image, p.ppi))
                _write_new(partial / rel.replace(".png", ".wsq"), p.wsq)
        if result.preview_jpeg is not None:
            _write_new(partial / "preview.jpg", result.preview_jpeg)
        doc = result.to_dict() | {"files": sorted(files)}
        _write_new(partial / "result.json", (json.dumps(doc, indent=1, allow_nan=False) + "\n").encode("utf-8"))
        _fsync_dir(partial / "prints")
        _fsync_dir(partial)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)  # no half-written print images left behind
        raise
    final = staging_root / sha
    if final.exists():  # left by a run killed before it recorded this scan
        shutil.rmtree(final)
    os.rename(partial, final)
    _fsync_dir(staging_root)
    return final


def publish_staged(staged: Path, final_dir: Path, registered: set[Path]) -> list[str]:
    """Move a staged form's files to their final names (each already registered).

    Files whose final path is not registered to the form are not published.
    Returns the relative paths published; the staging folder is removed.
    """
    done = []
    for src in sorted(p for p in staged.rglob("*") if p.is_file()):
        rel = src.relative_to(staged)
        target = final_dir / rel
        if Path(os.path.realpath(target.parent)) / target.name not in registered:
            continue
        _private_dir(target.parent)
        os.replace(src, target)
        done.append(rel.as_posix())
    for d in {(final_dir / r).parent for r in done}:
        _fsync_dir(d)
    shutil.rmtree(staged)
    return done


def cleanup_temporaries(out: Path) -> list[str]:
    """Remove temporary files a killed run left in ``out`` (never final files).

    ``.*.tmp`` files under ``out/forms`` and ``out/exports`` (from the atomic
    writers) and ``<sha>.partial-*`` staging folders. Returns what was removed.
    """
    removed = []
    for sub in (FORMS, EXPORTS):
        base = out / sub
        if not base.is_dir():
            continue
        for dirpath, _dirs, files in os.walk(base, followlinks=False):
            for name in files:
                if _TMP_RE.match(name):
                    p = Path(dirpath) / name
                    if p.is_file() and not p.is_symlink():
                        p.unlink()
                        removed.append(str(p))
    staging = out / STAGING
    if staging.is_dir():
        for p in staging.iterdir():
            if _PARTIAL_RE.match(p.name) and p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
                removed.append(str(p))
    return removed


def remove_empty_form_folders(out: Path) -> int:
    """Remove empty folders under ``out/forms`` (left when ``ifb1 delete`` removed a form's files)."""
    removed = 0
    base = out / FORMS
    if not base.is_dir():
        return 0
    for d in sorted(base.iterdir()):
        if not d.is_dir() or d.is_symlink():
            continue
        prints = d / "prints"
        if prints.is_dir() and not prints.is_symlink() and not any(prints.iterdir()):
            prints.rmdir()
        if not any(d.iterdir()):
            d.rmdir()
            removed += 1
    return removed


def _registered_paths(rec, form_key: int) -> set[Path]:
    return {Path(os.path.realpath(a.path.parent)) / a.path.name for a in rec.artefacts(form_key) if a.removed_utc is None}


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
        if not d.is_dir() or d.is_symlink() or not _SHA_RE.match(d.name):
            continue
        form = rec.find_by_hash(d.name)
        if form is None or form.status in ("received", "deletion-pending", "deleted"):
            shutil.rmtree(d)
            report["discarded"].append(d.name)
            continue
        final_dir = out / FORMS / form_folder_name(form.form_id, form.scan_sha256)
        publish_staged(d, final_dir, _registered_paths(rec, form.form_key))
        report["published"].append(d.name)
    return report


# ----------------------------------------------------------------------------- export


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
    mine = real_target in _registered_paths(rec, form_key)
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
        _private_dir(Path(exports_dir))
        rec.add_artefact(form_key, "export", target, sha256=hashlib.sha256(data).hexdigest())  # before the file appears
        hook("export-registered")
        write_transaction(data, Path(exports_dir), form_id=fid, force=True)
        hook("export-written")
        rec.mark_exported(form_key, actor=actor, details={
            "file": str(target), "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(), "again": form.status == "exported"})
        hook("exported")
    except (OSError, ValueError, RecordError) as exc:
        _raise_if_disk_full(exc, Path(exports_dir))
        return ExportOutcome(form_key, fid, "failed", str(target), f"form {fid}: export failed: {exc}")
    return ExportOutcome(form_key, fid, "exported", str(target))


# ----------------------------------------------------------------------------- a full disk


def _raise_if_disk_full(exc: BaseException, folder: Path) -> None:
    """A full or failing disk stops the whole batch (exit 2): no file is to blame, every next one would fail."""
    from ifb1.fileio import FORM_OUTPUT_FREE, storage_fault

    fault = storage_fault(exc, folder, FORM_OUTPUT_FREE) if isinstance(exc, OSError) else None
    if fault is not None:
        raise fault from exc


# ----------------------------------------------------------------------------- workers


@dataclass(frozen=True)
class Job:
    """One scan for a worker: where it is, what it hashed to, how to process it."""

    rel: str
    path: str
    sha256: str
    options: ProcessOptions
    staging_root: str
    case_ref: str | None = None


@dataclass(frozen=True)
class JobResult:
    """What a worker sends back: the result without images and, for a suitable form, its export."""

    result: FormResult
    export: bytes | None = field(default=None, repr=False)
    fault: str | None = None  # a full or failing disk: the batch stops (see StorageFault)


def run_job(job: Job) -> JobResult:
    """Worker side: process one scan, stage its outputs and build its export if suitable.

    Returns the result without images (small to send back). Never raises for
    a bad scan or an unexpected error in a stage: the result is ``rejected``
    with the error, so one file cannot stop the batch.
    """
    try:
        result = process_form(job.path, options=job.options)
        if result.ok and result.sha256 != job.sha256:
            return JobResult(FormResult(source=job.path, status="rejected", sha256=result.sha256,
                                        error=f"{job.path}: the file changed while the batch ran; "
                                              "it is tried again next run"))
        if not result.ok:
            return JobResult(result.without_images())
        t = time.perf_counter()
        try:
            stage_outputs(result, Path(job.staging_root))
        except OSError as exc:
            from ifb1.fileio import FORM_OUTPUT_FREE, storage_fault

            fault = storage_fault(exc, Path(job.staging_root).parent, FORM_OUTPUT_FREE)
            if fault is None:
                raise
            return JobResult(result.without_images(), fault=str(fault))
        t1 = time.perf_counter()
        data = build_export(result, case_ref=job.case_ref, policy=job.options.policy)
        t2 = time.perf_counter()
        timings = result.timings_ms | {"stage_outputs": (t1 - t) * 1000.0, "export_build": (t2 - t1) * 1000.0}
        return JobResult(replace(result, timings_ms=timings).without_images(), data)
    except Exception as exc:  # keep the batch going; the message names the file
        return JobResult(FormResult(source=job.path, status="rejected", sha256=job.sha256,
                                    error=f"{job.path}: processing failed ({type(exc).__name__}: {exc})"))


def _init_worker(parent_pid: int) -> None:
    """Worker start-up: die with the parent, one OpenCV thread."""
    # A batch killed outright (SIGKILL, power button) must not leave workers
    # computing on: ask Linux to kill this worker when its parent dies.
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        os._exit(1)
    # One OpenCV thread per worker: the pool already uses every core.
    import cv2

    cv2.setNumThreads(1)


def _results(jobs: list[Job], workers: int) -> Iterator[tuple[Job, JobResult]]:
    """Results in job order; N == 1 runs in this process, else one spawn pool."""
    if workers <= 1:
        # Same as a pool worker: one OpenCV thread, so N workers use N cores.
        import cv2

        threads = cv2.getNumThreads()
        cv2.setNumThreads(1)
        try:
            for job in jobs:
                yield job, run_job(job)
        finally:
            cv2.setNumThreads(threads)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    ctx = multiprocessing.get_context("spawn")  # no inherited record connection or lock
    todo = deque(jobs)
    window = 2 * workers
    while todo:
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                                 initargs=(os.getpid(),)) as ex:
            pending: deque = deque()
            broken = False
            while (todo or pending) and not broken:
                while todo and len(pending) < window:
                    job = todo.popleft()
                    pending.append((job, ex.submit(run_job, job)))
                job, fut = pending.popleft()
                try:
                    res = fut.result()
                except BrokenProcessPool:
                    broken = True
                    res = JobResult(FormResult(source=job.path, status="rejected", sha256=job.sha256,
                                               error=f"{job.path}: the worker process died while processing it "
                                                     "(out of memory?); it is tried again next run"))
                except Exception as exc:
                    res = JobResult(FormResult(source=job.path, status="rejected", sha256=job.sha256,
                                               error=f"{job.path}: processing failed ({type(exc).__name__}: {exc})"))
                yield job, res
            if broken:  # start a fresh pool for the jobs that were waiting
                todo.extendleft(reversed([j for j, _f in pending]))
                for _j, f in pending:
                    f.cancel()


# ----------------------------------------------------------------------------- progress and summary


class Progress:
    """A one-line progress bar on a TTY, else a line every ``every`` seconds."""

    def __init__(self, total: int, *, stream: TextIO | None = None, tty: bool | None = None, every: float = 30.0):
        self.total = total
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.every = every
        self.start = time.monotonic()
        self.last = self.start
        self.done = 0

    def note(self, text: str) -> None:
        """A line of its own (e.g. what the batch is about to do)."""
        from ifb1.printable import printable

        self.stream.write(printable(text) + "\n")
        self.stream.flush()

    def update(self, done: int, note: str = "") -> None:
        from ifb1.printable import printable

        note = printable(note)
        self.done = done
        now = time.monotonic()
        if not self.tty and now - self.last < self.every and done < self.total:
            return
        self.last = now
        elapsed = now - self.start
        rate = done / elapsed if elapsed > 0 else 0.0
        left = (self.total - done) / rate if rate > 0 else None
        eta = "--:--" if left is None else _hms(left)
        if self.tty:
            width = 28
            fill = int(width * done / self.total) if self.total else width
            line = (f"\r[{'#' * fill}{'.' * (width - fill)}] {done}/{self.total} forms "
                    f"{rate * 60:.1f}/min, {eta} left {note[:40]:<40}")
            self.stream.write(line)
        else:
            self.stream.write(f"progress: {done}/{self.total} forms, {rate * 60:.1f}/min, about {eta} left\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty and self.total:
            self.stream.write("\n")
            self.stream.flush()


def _hms(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600:d}:{s // 60 % 60:02d}:{s % 60:02d}"


@dataclass(frozen=True)
class FileOutcome:
    """One file of the tray and what the batch did with it.

    ``action``: ``"processed"``, ``"skipped"`` (already in the record),
    ``"duplicate"`` (same bytes as another file of this tray), ``"failed"``,
    ``"ignored"`` (not a scan).
    """

    file: str
    action: str
    sha256: str | None = None
    form_key: int | None = None
    form_id: str | None = None
    verdict: str | None = None
    reasons: tuple[str, ...] = ()
    export: str | None = None  # export action (see ExportOutcome)
    export_path: str | None = None
    error: str | None = None
    flagged_copy: bool = False  # another file of an unsuitable copy's scan, registered for deletion
    note: str | None = None

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class BatchSummary:
    """The outcome of one batch run (``to_dict`` is the ``--json-summary``)."""

    tray: str
    out: str
    data: str
    started_utc: str
    finished_utc: str
    seconds: float
    workers: int
    files: tuple[FileOutcome, ...]
    stage_seconds: dict = field(default_factory=dict)
    housekeeping: dict = field(default_factory=dict)

    def _with(self, action: str) -> list[FileOutcome]:
        return [f for f in self.files if f.action == action]

    @property
    def failures(self) -> list[FileOutcome]:
        """Files that failed, and forms whose export failed."""
        return [f for f in self.files
                if f.action == "failed" or f.export == "failed" or (f.action in ("processed", "skipped") and f.error)]

    @property
    def ok(self) -> bool:
        return not self.failures

    def counts(self) -> dict:
        verdicts: dict[str, int] = {}
        for f in self._with("processed"):
            verdicts[f.verdict] = verdicts.get(f.verdict, 0) + 1
        processed = self._with("processed")
        return {
            "files": len(self.files),
            "processed": len(processed),
            "skipped": len(self._with("skipped")),
            "duplicate": len(self._with("duplicate")),
            "failed": len(self._with("failed")),
            "ignored": len(self._with("ignored")),
            "verdicts": dict(sorted(verdicts.items())),
            "exported": sum(f.export in ("exported", "completed") for f in self.files),
            "export_failed": sum(f.export == "failed" for f in self.files),
            "export_held": sum(f.export == "held" for f in self.files),
            "awaiting_review": sum(f.verdict == "review" for f in processed),
            "flagged_for_deletion": sum(f.verdict == "unsuitable" for f in processed),
            "other_files_flagged_for_deletion": sum(f.flagged_copy for f in self.files),
        }

    def to_dict(self) -> dict:
        n = len(self._with("processed"))
        return {
            "schema": "ifb1-batch-summary/1",
            "tray": self.tray,
            "out": self.out,
            "data": self.data,
            "started_utc": self.started_utc,
            "finished_utc": self.finished_utc,
            "seconds": round(self.seconds, 3),
            "seconds_per_form": round(self.seconds / n, 3) if n else None,
            "workers": self.workers,
            "ok": self.ok,
            "counts": self.counts(),
            "stage_seconds": {k: round(v, 3) for k, v in self.stage_seconds.items()},
            "housekeeping": self.housekeeping,
            "failures": [{"file": f.file, "error": f.error} for f in self.failures],
            "files": [f.to_dict() for f in self.files],
        }

    def text(self) -> str:
        """The human summary printed at the end of a batch."""
        c = self.counts()
        lines = [
            f"ifb1 batch: {c['files']} file(s) in {self.tray} in {_hms(self.seconds)} ({self.workers} worker(s))",
            f"  processed {c['processed']}: " + (", ".join(f"{k} {v}" for k, v in c["verdicts"].items()) or "none"),
            f"  exported {c['exported']}; awaiting review {c['awaiting_review']}; "
            f"unsuitable copies flagged for deletion {c['flagged_for_deletion']} (ifb1 delete)"
            + (f", and {c['other_files_flagged_for_deletion']} other file(s) of their scans"
               if c["other_files_flagged_for_deletion"] else ""),
            f"  skipped (already in the record) {c['skipped']}; duplicates {c['duplicate']}; "
            f"not scans {c['ignored']}; failed {c['failed'] + c['export_failed']}",
        ]
        for f in self.files:
            if f.action == "processed" and f.verdict in ("review", "unsuitable"):
                lines.append(f"  {f.verdict.upper()} {f.file} ({f.form_id or 'no form id'}): {'; '.join(f.reasons[:3])}")
        for f in self.files:
            if f.export == "held":
                lines.append(f"  HELD {f.file} ({f.form_id}): {f.note}")
        for f in self.files:
            if f.flagged_copy:
                lines.append(f"  UNSUITABLE {f.file} ({f.form_id or 'no form id'}): {f.note}")
        for f in self.failures:
            lines.append(f"  FAILED {f.file}: {f.error}")
        for f in self._with("ignored"):
            lines.append(f"  ignored {f.file}: {f.error}")
        from ifb1.printable import printable

        # File names and errors may hold newlines or terminal escapes: each line stays one line.
        return "\n".join(printable(line) for line in lines)


# ----------------------------------------------------------------------------- the batch


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
    if force_name is not None and not _TEXT_RE.match(force_name.strip()):
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

    _private_dir(out_p)
    for sub in (FORMS, EXPORTS, STAGING):
        _private_dir(out_p / sub)
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
        for n, (job, done) in enumerate(_results(jobs, workers), start=1):
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
                publish_staged(staged, folder, _registered_paths(rec, key))
            except OSError as exc:
                _raise_if_disk_full(exc, out_p)
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


# ----------------------------------------------------------------------------- ifb1 export


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
