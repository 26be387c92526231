"""Agreement of ``ifb1.quality``'s native measures with NIST NFIQ 2.3.

Reads the developer reference set (``/work/shared/quality-reference`` or
``$IFB1_QUALITY_REFERENCE``: images + ``nfiq2.csv``), computes the 65
image-based NFIQ 2.3 measures and 3 actionable values of every image (569 ppi
images are first resampled to 500 ppi with :func:`ifb1.quality.resample.resample_to_500`,
as NFIQ 2 does with NFIR), and prints per measure the Pearson r, the mean
absolute difference and the fraction of exact matches (|diff| <= 1e-9 relative),
overall, per capture type and per set, plus single-core timings per module.
Our values are written to ``benchmarks/.cache/quality_agreement.csv``.

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/quality_agreement.py [--limit N] [--set SD14]

Skips (exit 0) when the reference folder is absent.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import csv  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from ifb1.quality.features import ACTIONABLE_NAMES, NATIVE_FEATURE_NAMES, analyse_native  # noqa: E402
from ifb1.quality.resample import resample_to_500  # noqa: E402

REF = Path(os.environ.get("IFB1_QUALITY_REFERENCE", "/work/shared/quality-reference"))
CACHE = Path(__file__).resolve().parent / ".cache"
NAMES = NATIVE_FEATURE_NAMES + ACTIONABLE_NAMES


def _f(v: str) -> float:
    """CSV field to float; empty (NFIQ 2 failed on the image) is NaN."""
    return float(v) if v not in ("", None) else float("nan")


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    if a.size < 2 or np.std(a) == 0 or np.std(b) == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def _table(rows: list[dict], ours: list[dict], title: str, names: tuple[str, ...]) -> None:
    print(f"\n== {title} (n={len(rows)})")
    print(f"{'measure':42s} {'pearson_r':>9s} {'mean_abs_diff':>13s} {'exact':>7s}")
    for k in names:
        ref = np.array([_f(r[k]) for r in rows])
        val = np.array([o[k] for o in ours])
        ok = np.isfinite(ref) & np.isfinite(val)
        ref, val = ref[ok], val[ok]
        diff = np.abs(ref - val)
        exact = np.mean(diff <= 1e-9 * np.maximum(1.0, np.abs(ref))) if diff.size else float("nan")
        print(f"{k:42s} {_pearson(ref, val):9.5f} {diff.mean() if diff.size else float('nan'):13.4g} {exact:7.1%}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--limit", type=int, default=0, help="only the first N images (0 = all)")
    ap.add_argument("--set", default="", help="only rows whose set name contains this text")
    ap.add_argument("--timing-repeats", type=int, default=3, help="runs per image for the timing median")
    args = ap.parse_args(argv)
    csv_path = REF / "nfiq2.csv"
    if not csv_path.is_file():
        print(f"SKIP: reference set not found at {REF}")
        return 0
    cv2.setNumThreads(1)
    rows = [r for r in csv.DictReader(csv_path.open()) if args.set in r["set"]]
    if args.limit:
        rows = rows[: args.limit]
    ours: list[dict] = []
    mod_ms: dict[str, list[float]] = {}
    total_ms: dict[str, list[float]] = {}
    cpu_ms: dict[str, list[float]] = {}
    crop_ms: list[float] = []
    for i, r in enumerate(rows):
        img = cv2.imread(str(REF / r["path"]), cv2.IMREAD_GRAYSCALE)
        if img is None:
            print(f"cannot read {r['path']}", file=sys.stderr)
            return 1
        ppi = int(float(r["ppi"]))
        if ppi != 500:
            img = resample_to_500(img, ppi)
        walls, cpus = [], []
        for _ in range(max(1, args.timing_repeats)):
            t0, c0 = time.perf_counter(), time.thread_time()
            res = analyse_native(img)
            walls.append(1000 * (time.perf_counter() - t0))
            cpus.append(1000 * (time.thread_time() - c0))
        total_ms.setdefault(r["set"], []).append(min(walls))
        cpu_ms.setdefault(r["set"], []).append(min(cpus))
        for k, v in res.timings_ms.items():
            mod_ms.setdefault(k, []).append(v)
        if r["capture"] == "ink-rolled" and img.shape[0] >= 600 and img.shape[1] >= 600:
            y0, x0 = (img.shape[0] - 500) // 2, (img.shape[1] - 500) // 2
            crop = img[y0 : y0 + 500, x0 : x0 + 500]
            c0 = time.thread_time()
            analyse_native(crop)
            crop_ms.append(1000 * (time.thread_time() - c0))
        ours.append({**res.features, **res.actionable})
        if (i + 1) % 50 == 0:
            print(f"... {i + 1}/{len(rows)}", file=sys.stderr)

    CACHE.mkdir(mode=0o700, exist_ok=True)
    out = CACHE / "quality_agreement.csv"
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", *NAMES])
        for r, o in zip(rows, ours):
            w.writerow([r["path"], *(repr(float(o[k])) for k in NAMES)])
    print(f"wrote {out}")

    _table(rows, ours, "all images", NAMES)
    for cap in sorted({r["capture"] for r in rows}):
        sel = [i for i, r in enumerate(rows) if r["capture"] == cap]
        _table([rows[i] for i in sel], [ours[i] for i in sel], f"capture {cap}", NAMES)
    summary = tuple(n for n in NAMES if not n[-1].isdigit())
    for s in sorted({r["set"] for r in rows}):
        sel = [i for i, r in enumerate(rows) if r["set"] == s]
        _table([rows[i] for i in sel], [ours[i] for i in sel], f"set {s}", summary)

    # histogram bins: fraction of images whose 10 counts all match, per family
    print("\n== histogram bin counts: images with all 10 bins equal / mean |count diff| per bin")
    for fam in ("FDA", "LCS", "OCL", "OF", "RVUP"):
        ref = np.array([[_f(r[f"{fam}_Bin10_{i}"]) for i in range(10)] for r in rows])
        val = np.array([[o[f"{fam}_Bin10_{i}"] for i in range(10)] for o in ours])
        ok = np.isfinite(ref).all(axis=1)
        ref, val = ref[ok], val[ok]
        print(f"{fam:5s} all-equal {np.mean((ref == val).all(axis=1)):7.1%}   mean |diff| {np.abs(ref - val).mean():.4f}")

    print("\n== timing (one core; ms)")
    for s, v in total_ms.items():
        ref_ms = [float(r["NFIQ2v2.3.0_ms"]) for r in rows if r["set"] == s and r["NFIQ2v2.3.0_ms"]]
        print(f"{s:40s} native wall median {statistics.median(v):7.1f}  cpu median {statistics.median(cpu_ms[s]):7.1f}"
              f"   (NFIQ 2.3 C++ all features + forest median {statistics.median(ref_ms) if ref_ms else float('nan'):.1f})")
    if crop_ms:
        print(f"{'500x500 crops of SD14':40s} native cpu median {statistics.median(crop_ms):7.1f}")
    print("per module wall median: " + ", ".join(f"{k} {statistics.median(v):.2f}" for k, v in mod_ms.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
