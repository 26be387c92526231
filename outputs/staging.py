"""The batch's output folder: each form's files staged whole, then published under their final names.

Layout of ``OUT``: ``forms/<safe name>/`` (a form's prints, preview and result),
``exports/<form id>.an2`` and ``.staging/<sha256>/`` (a form's files written by a
worker, complete before they are published). A worker writes into a fresh
``<sha>.partial-*`` folder and renames it when complete; the parent publishes each
file only once it is registered in the case record, so every file under ``forms/``
is known to ``ifb1 delete``. :func:`cleanup_temporaries` removes what a killed run
left half-written.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path

from ifb1.fileio import ensure_private_dir, fsync_dir
from ifb1.pipeline.form import FormResult



STAGING = ".staging"

FORMS = "forms"

EXPORTS = "exports"

SHA_RE = re.compile(r"^[0-9a-f]{64}$")

#: Temporary names of our own writers: ``write_private_atomic`` / ``write_transaction``
#: (``.<name>.<random>.tmp``) and the worker's staging folders.
_TMP_RE = re.compile(r"^\..+\.tmp$")

_PARTIAL_RE = re.compile(r"^[0-9a-f]{64}\.partial-")



def _write_new(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as fh:
        os.fchmod(fh.fileno(), 0o600)
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())



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
    from ifb1.outputs.folder import png_with_ppi

    sha = result.sha256
    assert sha is not None and SHA_RE.match(sha)
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
        fsync_dir(partial / "prints")
        fsync_dir(partial)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)  # no half-written print images left behind
        raise
    final = staging_root / sha
    if final.exists():  # left by a run killed before it recorded this scan
        shutil.rmtree(final)
    os.rename(partial, final)
    fsync_dir(staging_root)
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
        ensure_private_dir(target.parent)
        os.replace(src, target)
        done.append(rel.as_posix())
    for d in {(final_dir / r).parent for r in done}:
        fsync_dir(d)
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



def registered_paths(rec, form_key: int) -> set[Path]:
    return {Path(os.path.realpath(a.path.parent)) / a.path.name for a in rec.artefacts(form_key) if a.removed_utc is None}
