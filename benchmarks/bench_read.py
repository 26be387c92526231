"""Speed of reading one 500 ppi A4 scan (24 MP): intake, barcode, registration, segmentation.

Decoding the file is timed separately per format (PNG, LZW TIFF, JPEG); the
stages after decoding (registration, barcode, segmentation) are timed on the
already-decoded page, median over ``--repeat`` runs, on ONE core (OpenCV and
BLAS threads pinned to 1). Peak memory is the process's maximum resident set
size, reported with the resident size before the scan was decoded.

Usage::

    .venv/bin/python benchmarks/bench_read.py [--repeat 15] [--seed 1]
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--cache", type=Path, default=Path(__file__).parent / ".cache" / "bench_read")
    args = ap.parse_args(argv)

    import cv2

    cv2.setNumThreads(1)
    from ifb1.forms import load_layout
    from ifb1.intake.scan import load_scan
    from ifb1.pipeline.read import read_page
    from ifb1.samples.generate import FormOptions, generate_form, save_scan

    args.cache.mkdir(parents=True, exist_ok=True)
    files = {fmt: args.cache / f"a4_500ppi_{args.seed}.{ext}" for fmt, ext in
             (("png", "png"), ("tiff", "tif"), ("jpeg", "jpg"))}
    if not all(p.exists() for p in files.values()):
        form = generate_form(args.seed, 1, options=FormOptions(ppi=500, upside_down=False))
        for fmt, p in files.items():
            save_scan(form, p, fmt=fmt, ppi_in_metadata=500)
        del form
    layout = load_layout()
    rss_before = _rss_mb()

    decode = {}
    scan = None
    for fmt, p in files.items():
        times = []
        for _ in range(max(3, args.repeat // 3)):
            t = time.perf_counter()
            scan = load_scan(p)
            times.append(time.perf_counter() - t)
        decode[fmt] = round(statistics.median(times) * 1000, 1)
    page = scan.pages[0]
    h, w = page.image.shape

    read_page(scan, page, layout=layout)  # warm-up (imports, caches)
    totals, stages = [], {"register": [], "barcode": [], "segment": []}
    for _ in range(args.repeat):
        t = time.perf_counter()
        r = read_page(scan, page, layout=layout)
        totals.append(time.perf_counter() - t)
        for k in stages:
            stages[k].append(r.timings_ms[k])
    assert r.ok and r.form_id, "the benchmark page must read"
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    figures = {
        "page_px": [w, h],
        "megapixels": round(w * h / 1e6, 1),
        "decode_ms_median": decode,
        "after_decode_ms_median": round(statistics.median(totals) * 1000, 1),
        "after_decode_ms_p90": round(sorted(totals)[int(0.9 * (len(totals) - 1))] * 1000, 1),
        "stage_ms_median": {k: round(statistics.median(v), 1) for k, v in stages.items()},
        "repeat": args.repeat,
        "threads": 1,
        "rss_before_decode_mb": round(rss_before, 1),
        "peak_rss_mb": round(peak, 1),
    }
    print(json.dumps(figures, indent=1))
    ok = figures["after_decode_ms_median"] <= 350.0
    print("PASS (<= 350 ms after decoding)" if ok else "OVER BUDGET (> 350 ms after decoding)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
