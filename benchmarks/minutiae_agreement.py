"""Agreement of ``ifb1.quality.minutiae`` with NFIQ 2.3 on the developer set.

Reads /work/shared/quality-reference (770 real prints with NFIQ 2.3's feature
values; skipped cleanly when absent), computes our four minutiae measures and
reports Pearson r and mean absolute error per measure, overall and per capture
type.  FVC2002 DB2 (569 ppi) is resampled to 500 ppi with
``ifb1.quality.resample.resample_to_500`` (NFIR-style Gaussian low-pass +
bicubic), as NFIQ 2 does.  Images NFIQ 2 failed on are left out.

``--fit`` also fits the linear count calibration (``MinutiaeCalibration``) by
least squares on the uncalibrated counts (``raw_counts``) and prints it; paste
it into ``ifb1/quality/minutiae.py`` to change the defaults.

Usage::

    .venv/bin/python benchmarks/minutiae_agreement.py [--ref DIR] [--fit] [--limit N]
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np

REF = Path("/work/shared/quality-reference")


def load_image(ref: Path, row: dict) -> np.ndarray:
    import cv2

    img = cv2.imread(str(ref / row["path"]), cv2.IMREAD_GRAYSCALE)
    if img is None:
        raise FileNotFoundError(ref / row["path"])
    ppi = float(row["ppi"] or 500)
    if abs(ppi - 500) > 1:
        img = resample(img, ppi)
    return img


def resample(img: np.ndarray, ppi: float) -> np.ndarray:
    """To 500 ppi with the quality package's NFIR-style resampler when present,
    else a Gaussian low-pass + bicubic resize (close to NFIR's defaults)."""
    import cv2

    try:
        from ifb1.quality.resample import resample_to_500
    except ImportError:
        resample_to_500 = None
    if resample_to_500 is not None:
        try:
            return resample_to_500(img, ppi)
        except TypeError:
            return resample_to_500(img, source_ppi=ppi)
    f = 500.0 / ppi
    low = cv2.GaussianBlur(img, (0, 0), 0.5 / f)
    return cv2.resize(low, (round(img.shape[1] * f), round(img.shape[0] * f)),
                      interpolation=cv2.INTER_CUBIC)


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 3 or a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def forest_scores(feats: np.ndarray) -> np.ndarray:
    """NFIQ 2.3 unified scores of (n, 69) feature rows, by the product's ONNX forest."""
    from ifb1.models.nfiq2 import score_batch

    return score_batch(feats, nan="zero").astype(float)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ref", type=Path, default=REF)
    ap.add_argument("--fit", action="store_true", help="fit and print the count calibration")
    ap.add_argument("--limit", type=int, default=0, help="use every k-th image to go faster")
    args = ap.parse_args(argv)
    csv_path = args.ref / "nfiq2.csv"
    if not csv_path.exists():
        print(f"SKIP: {csv_path} not found")
        return 0

    import cv2

    cv2.setNumThreads(1)
    from ifb1.quality.blocks import remove_near_white_frame
    from ifb1.quality.minutiae import (MINUTIAE_FEATURES, MinutiaeFeatureParams,
                                       minutiae_features, quality_minutiae, raw_counts)

    rows = [r for r in csv.DictReader(open(csv_path)) if r["nfiq2"] != ""]
    if args.limit > 1:
        rows = rows[:: args.limit]
    params = MinutiaeFeatureParams()
    ours, raw, ref, caps, times, allref = [], [], [], [], [], []
    for i, row in enumerate(rows):
        img = load_image(args.ref, row)
        t0 = time.process_time()
        crop, _ = remove_near_white_frame(img)
        mins = quality_minutiae(crop, scale=params.scale, params=params.fjfx)
        feats = minutiae_features(crop, minutiae=mins, params=params)
        times.append(time.process_time() - t0)
        xs = np.array([m.x for m in mins])
        ys = np.array([m.y for m in mins])
        raw.append(raw_counts(crop, xs, ys))
        ours.append([feats[k] for k in MINUTIAE_FEATURES])
        ref.append([float(row[k]) for k in MINUTIAE_FEATURES])
        caps.append(row["capture"])
        allref.append(row)
        if (i + 1) % 100 == 0:
            print(f"  {i + 1}/{len(rows)}", file=sys.stderr)
    ours, raw, ref, caps = np.array(ours), np.array(raw, float), np.array(ref), np.array(caps)

    print(f"NFIQ 2.3 minutiae measures vs ours, n={len(rows)} "
          f"(median {1e3 * np.median(times):.1f} ms CPU/image incl. extraction, one core)")
    groups = [("all", np.ones(len(caps), bool))] + [(c, caps == c) for c in sorted(set(caps))]
    print(f"{'measure':40s} {'group':17s} {'n':>4s} {'r':>6s} {'MAE':>8s} {'ref mean':>9s} {'our mean':>9s}")
    for j, name in enumerate(MINUTIAE_FEATURES):
        for g, sel in groups:
            a, b = ours[sel, j], ref[sel, j]
            print(f"{name:40s} {g:17s} {sel.sum():4d} {pearson(a, b):6.3f} "
                  f"{np.abs(a - b).mean():8.3f} {b.mean():9.3f} {a.mean():9.3f}")
    from ifb1.models.nfiq2 import FEATURE_NAMES

    names = list(FEATURE_NAMES)
    full = np.array([[float(r[n]) for n in names] for r in allref])
    nfiq = np.array([float(r["nfiq2"]) for r in allref])
    mixed = full.copy()
    for j, name in enumerate(MINUTIAE_FEATURES):
        mixed[:, names.index(name)] = ours[:, j]
    s_ref, s_mix = forest_scores(full), forest_scores(mixed)
    print(f"NFIQ 2.3 score from its own features vs NFIQ 2.3: exact {np.mean(s_ref == nfiq):.3f}")
    print("NFIQ 2.3 score with our 4 minutiae measures in place of FingerJet FX's "
          "(other 65 measures NFIQ 2.3's own):")
    for g, sel in groups:
        d = s_mix[sel] - nfiq[sel]
        print(f"  {g:17s} r={pearson(s_mix[sel], nfiq[sel]):.3f} MAE={np.abs(d).mean():.2f} "
              f"bias={d.mean():+.2f} |diff|<=5: {np.mean(np.abs(d) <= 5):.2f}")
    if args.fit:
        from scipy.optimize import minimize

        ok = raw[:, 0] > 0
        one = np.ones(ok.sum())

        def capped_fit(x: np.ndarray, y: np.ndarray) -> np.ndarray:
            """Least squares of clip(x @ w, 0, 255) against y: FingerJet FX stops at
            255 minutiae, so the fit must see the cap too (start: plain linear fit)."""
            w0, *_ = np.linalg.lstsq(x, y, rcond=None)
            res = minimize(lambda w: float(((np.clip(x @ w, 0, 255) - y) ** 2).sum()), w0,
                           method="Nelder-Mead", options={"xatol": 1e-4, "fatol": 1e-3,
                                                          "maxiter": 4000})
            return res.x

        cs, co = capped_fit(np.column_stack([raw[ok, 0], one]), ref[ok, 1])
        rs, ro = capped_fit(np.column_stack([raw[ok, 1], one]), ref[ok, 0])
        print(f"fit: MinutiaeCalibration(count_scale={cs:.4f}, count_offset={co:.3f}, "
              f"rect_scale={rs:.4f}, rect_offset={ro:.3f})")
        cnt = np.clip(np.round(cs * raw[:, 0] + co), 0, 255) * ok
        rect = np.minimum(np.clip(np.round(rs * raw[:, 1] + ro), 0, 255), cnt) * ok
        print(f"  with it: count r={pearson(cnt, ref[:, 1]):.3f} MAE={np.abs(cnt - ref[:, 1]).mean():.2f}; "
              f"rect r={pearson(rect, ref[:, 0]):.3f} MAE={np.abs(rect - ref[:, 0]).mean():.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
