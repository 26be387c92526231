"""``ifb1 samples``: make synthetic scanned IFB1 forms with ground truth."""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path

import click

FORMAT_CHOICES = ("png", "tiff", "jpeg", "pdf", "mixed")


def _private_dir(path: Path) -> None:
    """Create ``path`` (and parents) owner-only; tighten it if it already exists."""
    from ifb1.fileio import make_private_dirs

    make_private_dirs(path)
    os.chmod(path, 0o700)


@click.group()
def samples() -> None:
    """Synthetic scanned IFB1 forms with exact ground truth."""


@samples.command("make")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output folder (created owner-only).")
@click.option("--count", default=10, show_default=True, type=click.IntRange(1, 100000), help="Number of scans.")
@click.option("--seed", default=1, show_default=True, type=click.IntRange(0, None), help="Random seed.")
@click.option("--ppi", default=500, show_default=True, type=click.Choice(["300", "400", "500", "600"]),
              help="Scan resolution.")
@click.option("--copies", default=0.2, show_default=True, type=click.FloatRange(0.0, 1.0),
              help="Fraction of scanned copies (print-out and re-scan) instead of originals.")
@click.option("--upside-down", "upside_down", default=0.05, show_default=True, type=click.FloatRange(0.0, 1.0),
              help="Chance that a sheet is fed upside down.")
@click.option("--format", "fmt", default="png", show_default=True, type=click.Choice(FORMAT_CHOICES),
              help="File format; 'mixed' draws one per scan.")
@click.option("--barcode", default="Code128", show_default=True,
              type=click.Choice(["Code128", "Code39", "DataMatrix", "QRCode"]), help="Barcode symbology.")
@click.option("--rgb", is_flag=True, help="Colour scans (tinted paper) instead of 8-bit grey.")
@click.option("--masks", is_flag=True, help="Also write each print's foreground mask as PNG.")
@click.option("--jpeg-quality", "jpeg_quality", default=None, type=click.IntRange(30, 100),
              help="JPEG quality when writing JPEG files  [default: the scanner's own, 75-92 per scan].")
@click.option("--start", default=1, show_default=True, type=click.IntRange(0, None),
              help="Index of the first form (file form_<index>).")
def make(out_dir: Path, count: int, seed: int, ppi: str, copies: float, upside_down: float, fmt: str, barcode: str,
         rgb: bool, masks: bool, jpeg_quality: int | None, start: int) -> None:
    """Generate COUNT scans and their ground-truth JSON into OUT.

    Same seed, same options: the same bytes. Resolution metadata is usually
    right, sometimes missing, now and then a 72 or 96 dpi lie (see each JSON's
    ppi_in_metadata).
    """
    import numpy as np

    from ifb1.samples.generate import FORMATS, FormOptions, generate_form, save_scan, suffix_for

    try:
        _private_dir(out_dir)
    except OSError as exc:
        raise click.ClickException(f"{out_dir}: cannot create the output folder: {exc}") from exc
    t0 = time.perf_counter()
    verdicts: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    for index in range(start, start + count):
        # Per-scan choices from their own stream so that each form is reproducible alone.
        r = np.random.default_rng([seed, index, 0xC11])
        is_copy = bool(r.random() < copies)
        this_fmt = str(r.choice(FORMATS)) if fmt == "mixed" else fmt
        u = r.random()
        meta = int(ppi) if u < 0.85 else (None if u < 0.95 else int(r.choice([72, 96])))
        opts = FormOptions(ppi=int(ppi), copy=is_copy, barcode_format=barcode, rgb=rgb, upside_down_rate=upside_down)
        form = generate_form(seed, index, options=opts)
        path = out_dir / f"form_{index:04d}{suffix_for(this_fmt)}"
        truth = save_scan(form, path, fmt=this_fmt, ppi_in_metadata=meta, masks=masks, jpeg_quality=jpeg_quality)
        verdicts[truth["verdict"]] += 1
        kinds["copy" if is_copy else "original"] += 1
        kinds["upside down"] += int(truth["upside_down"])
    dt = time.perf_counter() - t0
    click.echo(f"wrote {count} scans + ground truth to {out_dir} in {dt:.1f} s ({dt / count:.2f} s/scan)")
    click.echo(f"  {kinds['original']} originals, {kinds['copy']} copies, {kinds['upside down']} upside down")
    click.echo("  verdicts: " + ", ".join(f"{k} {v}" for k, v in sorted(verdicts.items())))
