"""``ifb1 process``: read scanned IFB1 forms and write their prints and results.

Outputs for each form go to ``OUT/<safe name>/`` (see
:func:`ifb1.barcode.ids.safe_output_name`): ``prints/<position>.png`` (500 ppi,
resolution in the PNG), ``preview.jpg`` (the page, small, boxes and barcode
drawn) and ``result.json``. Files are owner-only (0o600, folders 0o700) and
written atomically (temporary file, then rename), so a crash never leaves a
half-written file and a rerun overwrites cleanly. Input files are only read.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import zlib
from pathlib import Path

import click

PREVIEW_HEIGHT_PX = 1000


# ----------------------------------------------------------------------------- private files


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) owner-only; tighten an existing one we own."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        os.chmod(path, 0o700)
    except PermissionError:  # a folder owned by someone else: leave it, the files are still 0o600
        pass
    return path


def write_private_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically with mode 0o600."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def png_with_ppi(image, ppi: float) -> bytes:
    """Encode a grey image as PNG with its resolution in a pHYs chunk."""
    import cv2

    ok, buf = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 3])
    if not ok:
        raise ValueError("PNG encoding failed")
    data = buf.tobytes()
    ppm = int(round(ppi / 0.0254))
    body = b"pHYs" + ppm.to_bytes(4, "big") * 2 + b"\x01"
    chunk = (9).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")
    # IHDR is always first: 8-byte signature + 4 length + 4 type + 13 data + 4 CRC.
    cut = 8 + 25
    return data[:cut] + chunk + data[cut:]


def render_preview(image, reading, *, height: int = PREVIEW_HEIGHT_PX) -> bytes:
    """A small JPEG of the page with the boxes (green: print, orange: empty) and barcode (blue)."""
    import cv2
    import numpy as np

    h, w = image.shape[:2]
    f = min(1.0, height / h)
    small = cv2.resize(image, (max(1, int(w * f)), max(1, int(h * f))), interpolation=cv2.INTER_AREA)
    bgr = cv2.cvtColor(small, cv2.COLOR_GRAY2BGR)
    # pixel centres: full px x -> small px (x + 0.5) * f - 0.5
    def pts(corners):
        return (np.round((np.asarray(corners, float) + 0.5) * f - 0.5)).astype(np.int32).reshape(-1, 1, 2)

    for b in reading.boxes:
        colour = (40, 170, 40) if b.present else (0, 140, 255)
        cv2.polylines(bgr, [pts(b.corners_px)], True, colour, 2, cv2.LINE_AA)
        tl = pts(b.corners_px)[0, 0]
        cv2.putText(bgr, str(b.position), (int(tl[0]) + 6, int(tl[1]) + 22), cv2.FONT_HERSHEY_SIMPLEX,
                    0.6, colour, 2, cv2.LINE_AA)
    if reading.barcode is not None:
        for hit in reading.barcode.hits:
            colour = (255, 80, 0) if hit is reading.barcode.chosen else (200, 0, 200)
            cv2.polylines(bgr, [pts(hit.corners_px)], True, colour, 2, cv2.LINE_AA)
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 80])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()


def write_outputs(reading, image, out_dir: Path) -> dict:
    """Write one form's prints, preview and result.json under ``out_dir``.

    Returns the result object, with ``output`` (the folder, relative to
    ``out_dir``) and each print's ``file`` added.
    """
    result = reading.to_dict()
    name = reading.output_name()
    if name is None:
        return result
    folder = ensure_private_dir(out_dir / name)
    prints_dir = ensure_private_dir(folder / "prints")
    for b, r in zip(reading.boxes, result["prints"]):
        target = prints_dir / f"{b.position}.png"
        if b.present:
            write_private_atomic(target, png_with_ppi(b.crop, b.ppi))
            r["file"] = f"{name}/prints/{b.position}.png"
        else:
            r["file"] = None
            if target.exists():  # stale output of an earlier run of this same scan
                target.unlink()
    write_private_atomic(folder / "preview.jpg", render_preview(image, reading))
    result["output"] = name
    write_private_atomic(folder / "result.json", (json.dumps(result, indent=1) + "\n").encode("utf-8"))
    return result


def summary_line(result: dict) -> str:
    """One human line per form."""
    src = result["source"] + (f" [page {result['page'] + 1}]" if result.get("pages", 1) > 1 else "")
    if result["status"] != "ok":
        return f"REJECTED {src}: {result.get('error')}"
    present = sum(p["present"] for p in result["prints"])
    fid = result["form_id"] or "no barcode id: MANUAL ENTRY"
    turned = ", upside down" if result["upside_down"] else ""
    return (f"OK {src}: {fid}; {present}/14 prints present; {result['ppi']:.0f} ppi ({result['ppi_source']}), "
            f"rotation {result['rotation_deg']:+.1f} deg{turned}; -> {result.get('output')}")


@click.command("process")
@click.argument("scans", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=str))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output folder (created owner-only).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per form (JSON Lines).")
@click.option("--form-id", "form_id", default=None,
              help="Form id to use where no barcode can be read (validated).")
def process(scans: tuple[str, ...], out_dir: Path, as_json: bool, form_id: str | None) -> None:
    """Read scanned IFB1 forms: barcode, box grid and the fourteen prints.

    Exit status 0 when every input was read, 1 when any was rejected.
    """
    from ifb1.barcode.ids import FORM_ID_PATTERN, validate_form_id
    from ifb1.forms import load_layout
    from ifb1.pipeline.read import read_scan

    if form_id is not None and validate_form_id(form_id) is None:
        raise click.BadParameter(f"{form_id!r} is not a valid form id (pattern {FORM_ID_PATTERN})",
                                 param_hint="--form-id")
    layout = load_layout()
    ensure_private_dir(out_dir)
    all_ok = True
    for src in scans:
        readings = read_scan(src, layout=layout, form_id=form_id)
        for reading in readings:
            try:
                result = write_outputs(reading, reading.page_image, out_dir) if reading.ok else reading.to_dict()
            except OSError as exc:
                result = reading.to_dict()
                result.update(status="rejected", error=f"{src}: cannot write outputs to {out_dir}: {exc}")
            all_ok &= result["status"] == "ok"
            if as_json:
                click.echo(json.dumps(result, separators=(",", ":")))
            else:
                click.echo(summary_line(result))
            sys.stdout.flush()
    if not all_ok:
        sys.exit(1)

