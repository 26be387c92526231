"""Compare a generated rolled print with real inked rolled prints (NIST SD14), side by side.

Writes a picture (generated left, real right) and prints simple statistics for both: ridge period,
ridge width, ink coverage, density contrast, fine texture. Generated prints are measured twice: as
the ink lies on the paper (with the prints' WSQ-like loss), and as the generator's flatbed scan
sees them at 500 ppi (tone, blur, sharpening, noise, paper grain), normalised to the paper's grey
like the SD14 crops (paper 255). The real prints are read from
/work/shared/quality-reference/sd14 (or --reference) when present, for calibration only; without
them only the generated print is shown and measured.

    .venv/bin/python benchmarks/realism.py [OUT.png] [--seed 0] [--quality good] [--n-real 20]
        [--example docs/img/generated_rolled.png]

OUT defaults to benchmarks/.cache/realism.png (not committed).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import cv2
import numpy as np

from ifb1.samples.fingerprint import make_person
from ifb1.samples.impression import rolled_impression
from ifb1.samples.generate import FormOptions
from ifb1.samples.ink import compression_loss, ink_print, random_damage
from ifb1.samples.scan import flatbed_scan, make_geometry

DEFAULT_REF = Path("/work/shared/quality-reference/sd14")
CANVAS = (704, 768)  # SD14 crop size (rows, cols), 500 ppi


def foreground(density: np.ndarray) -> np.ndarray:
    """Rough print foreground: where the local density varies (ridges), closed and opened."""
    f = density.astype(np.float32)
    mean = cv2.blur(f, (17, 17))
    var = cv2.blur(f * f, (17, 17)) - mean * mean
    fg = (np.sqrt(np.clip(var, 0, None)) > 0.12).astype(np.uint8)
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (25, 25))
    fg = cv2.morphologyEx(cv2.morphologyEx(fg, cv2.MORPH_CLOSE, k), cv2.MORPH_OPEN, k)
    return cv2.erode(fg, np.ones((15, 15), np.uint8)).astype(bool)


def ridge_period(density: np.ndarray, fg: np.ndarray, n: int = 64) -> float:
    """Median dominant period (px) over n x n patches fully inside the foreground."""
    out = []
    win = np.outer(np.hanning(n), np.hanning(n))
    yy, xx = np.mgrid[:n, :n] - n // 2
    r = np.hypot(xx, yy)
    for y in range(0, density.shape[0] - n, n // 2):
        for x in range(0, density.shape[1] - n, n // 2):
            if not fg[y:y + n, x:x + n].all():
                continue
            p = density[y:y + n, x:x + n]
            power = np.abs(np.fft.fftshift(np.fft.fft2((p - p.mean()) * win))) ** 2
            power[r < 3] = 0
            rp = r.flat[np.argmax(power)]
            near = np.abs(r - rp) < 1.5
            out.append(n / (np.sum(r[near] * power[near]) / np.sum(power[near])))
    return float(np.median(out)) if out else float("nan")


def stats(density: np.ndarray) -> dict[str, float]:
    """Simple measured statistics of an ink-density image (0 paper, 1 black)."""
    from skimage.morphology import skeletonize

    fg = foreground(density)
    if fg.sum() < 1000:
        return {k: float("nan") for k in ("period_px", "ridge_width_px", "coverage", "ridge_density",
                                          "valley_density", "local_std", "fine_texture", "fg_fraction")}
    local_mean = cv2.GaussianBlur(density.astype(np.float32), (0, 0), 5.0)
    ridge = (density > local_mean) & fg
    dist = cv2.distanceTransform(ridge.astype(np.uint8), cv2.DIST_L2, 5)
    skel = skeletonize(ridge) & fg
    d = density[fg]
    mean = cv2.blur(density.astype(np.float32), (9, 9))
    var = cv2.blur(density.astype(np.float32) ** 2, (9, 9)) - mean ** 2
    # Fine texture: what is left below 0.07 mm (sensor noise, ink grain, coding loss).
    fine = density.astype(np.float32) - cv2.GaussianBlur(density.astype(np.float32), (0, 0), 1.0)
    return {
        "period_px": ridge_period(density, fg),
        "ridge_width_px": float(np.median(2.0 * dist[skel] - 1.0)) if skel.any() else float("nan"),
        "coverage": float(ridge.sum() / fg.sum()),
        "ridge_density": float(np.percentile(d, 90)),
        "valley_density": float(np.percentile(d, 10)),
        "local_std": float(np.sqrt(np.clip(var, 0, None))[fg].mean()),
        "fine_texture": float(fine[fg].std()),
        "fg_fraction": float(fg.mean()),
    }


def generated_rolled(seed: int, quality: str, finger: int) -> np.ndarray:
    """A generated rolled print's ink density on an SD14-sized canvas, with the generator's
    WSQ-like loss (its default range of steps)."""
    rng = np.random.default_rng(seed)
    person = make_person(rng)
    imp = rolled_impression(person[finger - 1], rng)
    ink = ink_print(imp, rng, damage=random_damage(rng, quality=quality))
    lo, hi = FormOptions().print_compression
    dens = compression_loss(ink.density, float(rng.uniform(lo, hi)))
    canvas = np.zeros(CANVAS, np.float32)
    h, w = dens.shape
    y0, x0 = max(0, (CANVAS[0] - h) // 2), max(0, (CANVAS[1] - w) // 2)
    hh, ww = min(h, CANVAS[0]), min(w, CANVAS[1])
    canvas[y0:y0 + hh, x0:x0 + ww] = dens[:hh, :ww]
    return canvas


def scanned(density: np.ndarray, seed: int) -> np.ndarray:
    """The print as the generator's flatbed scan sees it at 500 ppi, as density normalised to
    the paper's grey (as the SD14 crops are: paper 255)."""
    rng = np.random.default_rng([seed, 500])
    page = np.clip(255.0 * (1.0 - 0.88 * density) + 0.5, 0, 255).astype(np.uint8)
    geom = make_geometry(page.shape[::-1], rotation_deg=0.0, scale=1.0, offset_px=(0.0, 0.0), upside_down=False)
    img = flatbed_scan(page, geom, rng, ppi=500.0)
    paper = max(1.0, float(np.percentile(img, 99)))
    return np.clip(1.0 - img.astype(np.float32) / paper, 0.0, 1.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", nargs="?", default="benchmarks/.cache/realism.png")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quality", default="good", choices=("good", "fair", "poor"))
    ap.add_argument("--finger", type=int, default=2)
    ap.add_argument("--n-real", type=int, default=20, help="real prints measured (first N)")
    ap.add_argument("--n-gen", type=int, default=10, help="generated prints measured")
    ap.add_argument("--reference", type=Path, default=DEFAULT_REF)
    ap.add_argument("--example", type=Path, default=None,
                    help="also write the generated print alone, cropped "
                         "(e.g. docs/img/generated_rolled.png)")
    args = ap.parse_args()

    gen = generated_rolled(args.seed, args.quality, args.finger)
    gens = [generated_rolled(args.seed + i, args.quality, 1 + (args.finger + i - 1) % 10) for i in range(args.n_gen)]
    gen_stats = [stats(g) for g in gens]
    scan_stats = [stats(scanned(g, args.seed + i)) for i, g in enumerate(gens)]
    tiles = [(255 * (1 - gen)).astype(np.uint8)]
    real_stats = []
    refs = sorted(args.reference.glob("*.png")) if args.reference.is_dir() else []
    if refs:
        for path in refs[:args.n_real]:
            img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
            if img is None:
                raise SystemExit(f"{path}: cannot read image")
            real_stats.append(stats(1.0 - img.astype(np.float32) / 255.0))
        first = cv2.imread(str(refs[(args.seed * 7) % len(refs)]), cv2.IMREAD_GRAYSCALE)
        tiles.append(cv2.resize(first, CANVAS[::-1]) if first.shape != CANVAS else first)
    else:
        print(f"(no reference prints at {args.reference}: generated only)")
    sep = np.full((CANVAS[0], 8), 128, np.uint8)
    pic = tiles[0] if len(tiles) == 1 else np.hstack([tiles[0], sep, tiles[1]])
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), pic)
    os.chmod(out, 0o600)

    if args.example is not None:
        ys, xs = np.nonzero(gen > 0.02)
        crop = tiles[0][max(0, ys.min() - 16):ys.max() + 17, max(0, xs.min() - 16):xs.max() + 17]
        args.example.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(args.example), crop, [cv2.IMWRITE_PNG_COMPRESSION, 9])
        print(f"example: {args.example} ({args.example.stat().st_size // 1024} KB)")

    keys = list(gen_stats[0])
    print(f"{'statistic (median)':<20}{'generated ink':>14}{'as scanned':>12}{'SD14 real':>12}")
    for k in keys:
        g = np.nanmedian([s[k] for s in gen_stats])
        sc = np.nanmedian([s[k] for s in scan_stats])
        r = np.nanmedian([s[k] for s in real_stats]) if real_stats else float("nan")
        print(f"{k:<20}{g:>14.3f}{sc:>12.3f}{r:>12.3f}")
    print(f"({len(gen_stats)} generated, {len(real_stats)} real) picture: {out}")


if __name__ == "__main__":
    main()
