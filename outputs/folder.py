"""One processed form on disk, as ``ifb1 process`` writes it: ``OUT/<safe name>/``.

``prints/<position>.png`` (500 ppi, resolution in the PNG), ``preview.jpg`` (the
page, small, boxes and barcode drawn) and ``result.json``
(:meth:`ifb1.pipeline.form.FormResult.to_dict`, the same JSON as ``--json`` prints
and as the batch writes). Files are owner-only (0o600, folders 0o700) and written
atomically (temporary file, then rename), so a crash never leaves a half-written
file and a rerun overwrites cleanly. Input files are only read.
"""

from __future__ import annotations

import json
import os
import time
import zlib
from pathlib import Path

from ifb1.fileio import ensure_private_dir, write_private_atomic


def png_with_ppi(image, ppi: float) -> bytes:
    """Encode a grey image as PNG with its resolution in a pHYs chunk."""
    import cv2

    # Ridge texture has few repeated strings for deflate to find: the "average" filter then
    # Huffman coding alone (level 1) is ~4x faster than level 3 with adaptive filters, and
    # ~9% smaller (14 generated 500 ppi crops: 59 ms / 3.9 MB against 245 ms / 4.3 MB).
    ok, buf = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 1,
                                           cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_AVG,
                                           cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_HUFFMAN_ONLY])
    if not ok:
        raise ValueError("PNG encoding failed")
    data = buf.tobytes()
    ppm = int(round(ppi / 0.0254))
    body = b"pHYs" + ppm.to_bytes(4, "big") * 2 + b"\x01"
    chunk = (9).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")
    # IHDR is always first: 8-byte signature + 4 length + 4 type + 13 data + 4 CRC.
    cut = 8 + 25
    return data[:cut] + chunk + data[cut:]



def json_default(obj):
    """numpy scalars (from a stage's result) as plain numbers; anything else is an error."""
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")



def write_outputs(result, out_dir: Path) -> dict:
    """Write one processed form's prints, preview and result.json under ``out_dir``.

    Parameters
    ----------
    result : FormResult
        A successful :func:`ifb1.pipeline.form.process_form` result (with images).
    out_dir : Path
        The output folder; the form's files go to ``out_dir/<safe name>/``.

    Returns
    -------
    dict
        :meth:`ifb1.pipeline.form.FormResult.to_dict`, with ``output`` (the
        folder, relative to ``out_dir``) and each print's ``file`` (or None) added.
    """
    from ifb1.barcode.ids import safe_output_name

    d = result.to_dict()
    if result.sha256 is None:
        return d
    name = safe_output_name(result.form_id, result.sha256)
    folder = ensure_private_dir(out_dir / name)
    prints_dir = ensure_private_dir(folder / "prints")
    by_pos = {p.position: p for p in result.prints}
    for r in d["prints"]:
        pr = by_pos.get(r["position"])
        target = prints_dir / f"{r['position']}.png"
        if pr is not None and pr.present and pr.image is not None:
            write_private_atomic(target, png_with_ppi(pr.image, pr.ppi))
            r["file"] = f"{name}/prints/{r['position']}.png"
        else:
            r["file"] = None
            if target.exists():  # stale output of an earlier run of this same scan
                target.unlink()
    if result.preview_jpeg is not None:
        write_private_atomic(folder / "preview.jpg", result.preview_jpeg)
    d["output"] = name
    write_private_atomic(folder / "result.json",
                         (json.dumps(d, indent=1, default=json_default) + "\n").encode("utf-8"))
    return d



def process_one(src: str, *, options, out_dir: Path) -> dict:
    """Process one scan and write its outputs; the dict that ``--json`` prints.

    Parameters
    ----------
    src : str
        The scan file.
    options : ProcessOptions
        As for :func:`ifb1.pipeline.form.process_form`.
    out_dir : Path
        The output folder (must exist).

    Returns
    -------
    dict
        :func:`write_outputs` for a form that was read, else
        :meth:`~ifb1.pipeline.form.FormResult.to_dict` with ``status``
        ``"rejected"`` and ``error``; ``timings_ms`` has ``write`` and ``total``.
    """
    from ifb1.pipeline.form import process_form

    t0 = time.perf_counter()
    res = process_form(src, options=options)
    t = time.perf_counter()
    try:
        result = write_outputs(res, out_dir) if res.ok else res.to_dict()
    except OSError as exc:
        from ifb1.fileio import FORM_OUTPUT_FREE, storage_fault

        result = res.to_dict()
        fault = storage_fault(exc, out_dir, FORM_OUTPUT_FREE)
        if fault is not None:  # not the scan's fault: --out's disk is full or failing
            result.update(status="rejected", error=str(fault), fault="storage")
        else:
            result.update(status="rejected", error=f"{src}: cannot write outputs to {out_dir}: {exc}")
    end = time.perf_counter()
    result["timings_ms"]["write"] = round((end - t) * 1000.0, 1)
    result["timings_ms"]["total"] = round((end - t0) * 1000.0, 1)
    return result



def recorded_output_holder(out_dir: Path) -> str | None:
    """Why ``out_dir`` may not take ``ifb1 process`` outputs, or None.

    A folder that is, or lies inside, a batch's output folder (``forms/``
    and ``.staging/`` next to each other) or a record's data folder
    (``ifb1.sqlite``) holds files registered in the case record: writing
    there would overwrite a form's recorded ``result.json`` or leave copies
    of its prints that ``ifb1 delete`` does not know of.
    """
    from ifb1.outputs.staging import FORMS, STAGING
    from ifb1.records.schema import DB_FILE

    here = Path(os.path.realpath(out_dir))
    for folder in (here, *here.parents):
        if (folder / FORMS).is_dir() and (folder / STAGING).is_dir():
            return f"{out_dir} is inside the batch output folder {folder}, whose files are recorded in the case record"
        if (folder / DB_FILE).is_file():
            return f"{out_dir} is inside the data folder {folder}, which holds the case record"
    return None
