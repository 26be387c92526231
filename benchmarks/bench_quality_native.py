"""Per-module timing of ``ifb1.quality``'s 65 native NFIQ 2.3 measures.

Times, on one core, each stage of :func:`ifb1.quality.features.analyse_native`
(the shared 32 x 32 tile statistics, contrast, ROI, OCL, the slanted-block grid
with segmentation and orientations, FDA, LCS, RVUP, OF) and the whole call, in
CPU time (``time.thread_time``) and wall time, median over images of the best of
``--repeats`` warm runs, for 500 x 500 and 768 x 704 images.  Images: SD14
prints from the reference folder (768 x 704 as stored, 500 x 500 centre crops)
when ``/work/shared/quality-reference`` (or ``$IFB1_QUALITY_REFERENCE``) exists,
generated prints otherwise.

Usage::

    .venv/bin/python benchmarks/bench_quality_native.py [--images 8] [--repeats 5]

NFIQ 2.3's C++ (all features + forest) takes about 60 ms (500 x 500) and 99 ms
(768 x 704) on this class of machine; ``nfiq2.csv`` holds its per-image times.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

REF = Path(os.environ.get("IFB1_QUALITY_REFERENCE", "/work/shared/quality-reference"))


def _generated(seed: int, shape: tuple[int, int]) -> np.ndarray:
    """A ring-pattern print-like image (fallback when the reference set is absent)."""
    rng = np.random.default_rng(seed)
    h, w = shape
    y, x = np.mgrid[0:h, 0:w]
    cy, cx = h / 2 + rng.normal(0, 20), w / 2 + rng.normal(0, 20)
    r = np.hypot((x - cx) / 0.8, y - cy)
    v = 128 + 90 * np.sin(2 * np.pi * r / rng.uniform(8, 11)) * (r < min(h, w) * 0.42)
    v = v + rng.normal(0, 12, v.shape)
    return np.clip(np.rint(v), 0, 255).astype(np.uint8)


def _images(n: int) -> dict[str, list[np.ndarray]]:
    import cv2

    files = sorted((REF / "sd14").glob("*.png"))
    if files:
        step = max(1, len(files) // n)
        full = [cv2.imread(str(f), cv2.IMREAD_GRAYSCALE) for f in files[::step][:n]]
        crops = []
        for im in full:
            y0, x0 = (im.shape[0] - 500) // 2, (im.shape[1] - 500) // 2
            crops.append(np.ascontiguousarray(im[y0 : y0 + 500, x0 : x0 + 500]))
        return {"500x500 (SD14 crops)": crops, "768x704 (SD14)": full}
    return {"500x500 (generated)": [_generated(i, (500, 500)) for i in range(n)],
            "768x704 (generated)": [_generated(i, (704, 768)) for i in range(n)]}


def _stages(img: np.ndarray):
    """The stages of analyse_native as (name, thunk), run in order on one image."""
    from ifb1.quality.blocks import (
        OffsetGrid,
        grid_orientation,
        histogram_features,
        remove_near_white_frame,
        tile_stats,
    )
    from ifb1.quality.contrast import contrast
    from ifb1.quality.fda import FDA_LIMITS, fda_block_values
    from ifb1.quality.lcs import LCS_LIMITS, lcs_block_values
    from ifb1.quality.ocl import OCL_LIMITS, ocl_block_values
    from ifb1.quality.of import OF_LIMITS, of_block_values
    from ifb1.quality.roi import roi, roi_features
    from ifb1.quality.rvup import RVUP_LIMITS, rvup_block_values

    st: dict = {}
    im, _ = remove_near_white_frame(img)
    grid = OffsetGrid(im.shape, blk=32)

    def grid_step():
        st["fg"] = grid.foreground(im, tiles=st["tiles"])
        st["orient"] = grid_orientation(im, grid)

    def hist(name, fn, limits):
        return lambda: histogram_features(name, fn(im, grid=grid, fg=st["fg"], orient=st["orient"]), limits)

    return [
        ("tiles", lambda: st.__setitem__("tiles", tile_stats(im, 32))),
        ("contrast", lambda: contrast(im, tiles=st["tiles"])),
        ("roi", lambda: roi_features(im, roi(im), tiles=st["tiles"])),
        ("ocl", lambda: histogram_features("OCL_Bin10_", ocl_block_values(im, tiles=st["tiles"]), OCL_LIMITS)),
        ("grid", grid_step),
        ("fda", hist("FDA_Bin10_", fda_block_values, FDA_LIMITS)),
        ("lcs", hist("LCS_Bin10_", lcs_block_values, LCS_LIMITS)),
        ("rvup", hist("RVUP_Bin10_", rvup_block_values, RVUP_LIMITS)),
        ("of", hist("OF_Bin10_", of_block_values, OF_LIMITS)),
    ]


def main(argv: list[str] | None = None) -> int:
    import cv2

    from ifb1.quality.features import analyse_native

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=8, help="images per size")
    ap.add_argument("--repeats", type=int, default=5, help="warm runs per image (best is kept)")
    args = ap.parse_args(argv)
    cv2.setNumThreads(1)
    for label, imgs in _images(args.images).items():
        per_stage: dict[str, list[float]] = {}
        tot_cpu, tot_wall = [], []
        for img in imgs:
            analyse_native(img)  # warm-up
            best: dict[str, float] = {}
            for _ in range(args.repeats):
                for name, fn in _stages(img):
                    c0 = time.thread_time()
                    fn()
                    best[name] = min(best.get(name, 1e9), 1000 * (time.thread_time() - c0))
            for k, v in best.items():
                per_stage.setdefault(k, []).append(v)
            cpus, walls = [], []
            for _ in range(args.repeats):
                c0, w0 = time.thread_time(), time.perf_counter()
                analyse_native(img)
                cpus.append(1000 * (time.thread_time() - c0))
                walls.append(1000 * (time.perf_counter() - w0))
            tot_cpu.append(min(cpus))
            tot_wall.append(min(walls))
        print(f"\n== {label}: {len(imgs)} images, best of {args.repeats} runs each, median over images (ms)")
        print(f"{'stage':10s} {'cpu':>7s}")
        for k, v in per_stage.items():
            print(f"{k:10s} {statistics.median(v):7.2f}")
        print(f"{'sum':10s} {sum(statistics.median(v) for v in per_stage.values()):7.2f}")
        print(f"analyse_native (all 65 measures): cpu {statistics.median(tot_cpu):.2f}"
              f"  wall {statistics.median(tot_wall):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
