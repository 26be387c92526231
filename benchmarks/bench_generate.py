"""Time one synthetic scanned IFB1 form end to end: fingerprints, page rendering, scan
simulation and file encoding.

Runs on one core (OMP_NUM_THREADS=1, cv2.setNumThreads(1)) and prints the median over a few
runs with the stage split. Budget: <= 3 s per 500 ppi A4 scan (4134 x 5846 px) written as PNG.

    .venv/bin/python benchmarks/bench_generate.py [--runs 5] [--ppi 500] [--format png] [--copy]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import io  # noqa: E402
import time  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from ifb1.samples.generate import FormOptions, encode_image, generate_form  # noqa: E402

STAGES = ("fingerprints", "render", "copy", "scan", "truth")
BUDGET_S = 3.0


def one_form(seed: int, index: int, options: FormOptions, fmt: str) -> dict[str, float]:
    c0 = time.process_time()
    t0 = time.perf_counter()
    form = generate_form(seed, index, options=options)
    t1 = time.perf_counter()
    buf = io.BytesIO()
    encode_image(form.image, buf, fmt=fmt, ppi_in_metadata=options.ppi)
    t2 = time.perf_counter()
    out = dict(form.timings)
    out["encode"] = t2 - t1
    out["total"] = t2 - t0
    out["cpu"] = time.process_time() - c0
    out["MB"] = len(buf.getvalue()) / 1e6
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ppi", type=int, default=500)
    ap.add_argument("--format", default="png", choices=("png", "tiff", "jpeg", "pdf"))
    ap.add_argument("--copy", action="store_true", help="time scanned copies instead of originals")
    args = ap.parse_args()
    cv2.setNumThreads(1)
    opts = FormOptions(ppi=args.ppi, copy=args.copy)
    one_form(args.seed, 10_000, opts, args.format)  # warm-up (imports, caches)
    runs = [one_form(args.seed, i, opts, args.format) for i in range(1, args.runs + 1)]
    med = {k: float(np.median([r[k] for r in runs])) for k in runs[0]}
    totals = [r["total"] for r in runs]
    kind = "copies" if args.copy else "originals"
    print(f"one {args.ppi} ppi A4 scan ({kind}, {args.format}), one core, median of {args.runs} runs:")
    for k in (*STAGES, "encode"):
        print(f"  {k:<14} {med[k]:.3f} s")
    print(f"  {'total':<14} {med['total']:.3f} s   (budget {BUDGET_S:.1f} s)   "
          f"[min {min(totals):.3f} s, max {max(totals):.3f} s]   file {med['MB']:.1f} MB")
    # On a busy machine wall time includes waiting for the core; CPU time is the work done.
    print(f"  {'cpu time':<14} {med['cpu']:.3f} s   (load average {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
