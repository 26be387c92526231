"""Fidelity and speed of ``ifb1.enhance`` against ``fingerprint-enhancer`` (Hong et al.).

On generated rolled prints (``ifb1.samples``: ``make_person`` ->
``rolled_impression`` -> ``ink_print`` with good/fair/poor damage), each cut to
a 750x750 crop around the print:

* **pixel agreement**: binarised enhancement vs the generator's clean master
  ridge map (``Impression.ridges > 0``) over the true foreground
  (``InkedPrint.mask``), counting pixels outside the method's own mask as
  wrong ("agree"), and over the part inside the method's mask ("agree in mask");
* **minutiae**: minutiae of the binary (ours: from ``enhance``; the peer's: our
  skeleton + crossing number + clean-up on its binary, given the TRUE mask) vs
  minutiae of the skeletonised clean master (same extractor), matched one to
  one within 8 px: precision, recall, F1 (found minutiae are scored only where
  the master can have some: at least 12 px inside the true foreground);
* **speed**: CPU time (``time.process_time``, robust to other load on a shared
  machine) per crop on one core (``OMP_NUM_THREADS=1``,
  ``cv2.setNumThreads(1)``).

``fingerprint-enhancer`` must be installed in .venv-bench (see
benchmarks/requirements-bench.txt); without it only our figures are printed.
Without ``ifb1.samples`` the harness falls back to synthetic circular gratings.

Usage::

    OMP_NUM_THREADS=1 .venv-bench/bin/python benchmarks/bench_enhance.py [--n 9] [--seed 7]
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass

os.environ.setdefault("OMP_NUM_THREADS", "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

CROP = 750
MATCH_PX = 8.0


@dataclass(frozen=True)
class Case:
    name: str
    image: np.ndarray        # uint8, dark ridges on light paper
    truth_ridges: np.ndarray  # bool, clean master ridge map
    truth_mask: np.ndarray    # bool, true foreground
    truth_orientation: np.ndarray


def _crop(arrs: list[np.ndarray], mask: np.ndarray, fill: list[float]) -> list[np.ndarray]:
    ys, xs = np.nonzero(mask)
    cy, cx = int(ys.mean()), int(xs.mean())
    out = []
    for a, f in zip(arrs, fill):
        p = np.full((a.shape[0] + 2 * CROP, a.shape[1] + 2 * CROP), f, dtype=a.dtype)
        p[CROP:CROP + a.shape[0], CROP:CROP + a.shape[1]] = a
        y0, x0 = cy + CROP - CROP // 2, cx + CROP - CROP // 2
        out.append(p[y0:y0 + CROP, x0:x0 + CROP].copy())
    return out


def generated_cases(n: int, seed: int) -> list[Case]:
    """Rolled prints from the synthetic generator, cycling good/fair/poor damage."""
    from ifb1.samples.fingerprint import make_person
    from ifb1.samples.impression import rolled_impression
    from ifb1.samples.ink import ink_print, random_damage

    rng = np.random.default_rng(seed)
    cases: list[Case] = []
    qualities = ("good", "fair", "poor")
    masters: tuple = ()
    i = 0
    while len(cases) < n:
        if i % 10 == 0:
            masters = make_person(rng)
        master = masters[i % 10]
        q = qualities[len(cases) % 3]
        imp = rolled_impression(master, rng)
        inked = ink_print(imp, rng, damage=random_damage(rng, quality=q))
        i += 1
        if inked.mask.sum() < 100 * 100:
            continue
        img = np.clip(255.0 * (1.0 - inked.density), 0, 255).astype(np.uint8)
        truth_mask = inked.mask & imp.mask
        img, ridges, tmask, orient = _crop(
            [img, (imp.ridges > 0), truth_mask, imp.orientation], truth_mask,
            [255, False, False, 0.0])
        cases.append(Case(f"{q}-f{master.finger}-{master.pattern}", img, ridges, tmask, orient))
    return cases


def grating_cases(n: int, seed: int) -> list[Case]:
    """Fallback: noisy circular gratings (period 8-11 px) in an elliptical mask."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:CROP, :CROP].astype(np.float32)
    cases = []
    for k in range(n):
        period = rng.uniform(8, 11)
        cx, cy = rng.uniform(300, 450, 2)
        r = np.hypot(x - cx, y - cy)
        clean = np.cos(2 * np.pi * r / period)
        mask = ((x - 375) / 300) ** 2 + ((y - 375) / 340) ** 2 < 1
        noise = rng.normal(0, 0.4 + 0.3 * (k % 3), clean.shape)
        img = np.where(mask, 128 - 70 * (clean + noise), 235)
        orient = np.mod(np.arctan2(y - cy, x - cx) + np.pi / 2, np.pi)
        cases.append(Case(f"grating-{k}", np.clip(img, 0, 255).astype(np.uint8),
                          (clean > 0) & mask, mask, orient.astype(np.float32)))
    return cases


def truth_minutiae(case: Case) -> np.ndarray:
    from ifb1.enhance.minutiae import extract_minutiae, skeletonise

    skel = skeletonise(case.truth_ridges & case.truth_mask)
    ones = np.ones(skel.shape, np.float32)
    mins = extract_minutiae(skel, case.truth_mask, case.truth_orientation, ones)
    return np.array([[m.x, m.y] for m in mins]).reshape(-1, 2)


def in_truth_area(pts: np.ndarray, truth_mask: np.ndarray, border: float = 12.0) -> np.ndarray:
    """Points at least ``border`` px inside the true foreground: only there can the
    master have minutiae (its extractor drops those near the mask edge), so only
    there are found minutiae scored."""
    if len(pts) == 0:
        return pts
    dist = cv2.distanceTransform(np.pad(truth_mask.astype(np.uint8), 1), cv2.DIST_L2, 3)[1:-1, 1:-1]
    ix = np.clip(np.rint(pts[:, 0]).astype(int), 0, truth_mask.shape[1] - 1)
    iy = np.clip(np.rint(pts[:, 1]).astype(int), 0, truth_mask.shape[0] - 1)
    return pts[dist[iy, ix] >= border]


def match(found: np.ndarray, truth: np.ndarray, tol: float = MATCH_PX) -> int:
    """Number of one-to-one pairs within ``tol`` px (optimal assignment)."""
    if len(found) == 0 or len(truth) == 0:
        return 0
    from scipy.optimize import linear_sum_assignment
    from scipy.spatial.distance import cdist

    d = cdist(found, truth)
    cost = np.where(d <= tol, d, 1e6)
    r, c = linear_sum_assignment(cost)
    return int((d[r, c] <= tol).sum())


def ours(img: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from ifb1.enhance import enhance

    e = enhance(img)
    pts = np.array([[m.x, m.y] for m in e.minutiae]).reshape(-1, 2)
    return e.binary, e.mask, pts


def peer_enhance(img: np.ndarray) -> np.ndarray:
    """fingerprint-enhancer's binary ridge map (True = ridge)."""
    import fingerprint_enhancer

    fn = getattr(fingerprint_enhancer, "enhance_fingerprint", None) or \
        fingerprint_enhancer.enhance_Fingerprint
    out = fn(img)
    return np.asarray(out) > 0                     # 255 = ridge (checked: ridges are dark in img)


def peer_minutiae(binary: np.ndarray, mask: np.ndarray) -> np.ndarray:
    from ifb1.enhance.minutiae import extract_minutiae, skeletonise
    from ifb1.enhance.orientation import orientation_field

    b = binary & mask
    skel = skeletonise(b)
    theta, coh = orientation_field(b.astype(np.float32))
    mins = extract_minutiae(skel, mask, theta, coh)
    return np.array([[m.x, m.y] for m in mins]).reshape(-1, 2)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="ifb1.enhance fidelity and speed benchmark")
    ap.add_argument("--n", type=int, default=9, help="number of prints (cycles good/fair/poor)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--no-peer", action="store_true", help="skip fingerprint-enhancer")
    ap.add_argument("--repeat", type=int, default=3, help="timing repeats for ours (min taken)")
    args = ap.parse_args(argv)
    cv2.setNumThreads(1)

    try:
        cases = generated_cases(args.n, args.seed)
        source = "ifb1.samples rolled prints"
    except ImportError as exc:
        print(f"(ifb1.samples unavailable: {exc}; using synthetic gratings)")
        cases = grating_cases(args.n, args.seed)
        source = "synthetic circular gratings"
    peer = not args.no_peer
    if peer:
        try:
            import fingerprint_enhancer  # noqa: F401
        except ImportError:
            print("(fingerprint-enhancer not installed: run in .venv-bench; peer skipped)")
            peer = False

    from ifb1.enhance import enhance

    enhance(cases[0].image)  # warm-up (imports, FFT plans)
    rows = []
    for case in cases:
        tm = case.truth_mask
        truth_pts = truth_minutiae(case)
        ts = []
        for _ in range(args.repeat):
            t0 = time.process_time()
            binary, mask, pts = ours(case.image)
            ts.append(time.process_time() - t0)
        pts = in_truth_area(pts, tm)
        inside = tm & mask
        r = {"case": case.name, "t_ours": min(ts),
             "agree_ours": float(((binary == case.truth_ridges) & inside).sum() / tm.sum()),
             "agree_in_ours": float((binary == case.truth_ridges)[inside].mean()) if inside.any() else 0.0,
             "cover_ours": float(inside.sum() / tm.sum()),
             "n_truth": len(truth_pts), "n_ours": len(pts), "m_ours": match(pts, truth_pts)}
        if peer:
            t0 = time.process_time()
            pb = peer_enhance(case.image)
            r["t_peer"] = time.process_time() - t0
            # the peer zeroes its background: score it over the true foreground
            r["agree_peer"] = float((pb == case.truth_ridges)[tm].mean())
            ppts = in_truth_area(peer_minutiae(pb, tm), tm)
            r["n_peer"], r["m_peer"] = len(ppts), match(ppts, truth_pts)
        rows.append(r)
        msg = (f"{case.name:28s} ours {1e3 * r['t_ours']:6.1f} ms agree {r['agree_ours']:.3f} "
               f"(in mask {r['agree_in_ours']:.3f}) minutiae {r['m_ours']}/{r['n_ours']} of {r['n_truth']}")
        if peer:
            msg += (f" | peer {1e3 * r['t_peer']:7.1f} ms agree {r['agree_peer']:.3f} "
                    f"minutiae {r['m_peer']}/{r['n_peer']}")
        print(msg, flush=True)

    def prf(m: str, n: str) -> tuple[float, float, float]:
        tp = sum(r[m] for r in rows)
        p = tp / max(sum(r[n] for r in rows), 1)
        rc = tp / max(sum(r["n_truth"] for r in rows), 1)
        return p, rc, 2 * p * rc / max(p + rc, 1e-9)

    print(f"\nSummary over {len(rows)} {source}, {CROP}x{CROP} crops, one core:")
    p, rc, f1 = prf("m_ours", "n_ours")
    print(f"  ours : median {1e3 * np.median([r['t_ours'] for r in rows]):7.1f} ms, "
          f"pixel agreement {np.mean([r['agree_ours'] for r in rows]):.3f} over true foreground "
          f"({np.mean([r['agree_in_ours'] for r in rows]):.3f} inside our mask, covering "
          f"{np.mean([r['cover_ours'] for r in rows]):.3f}), minutiae P {p:.3f} R {rc:.3f} F1 {f1:.3f}")
    if peer:
        p, rc, f1 = prf("m_peer", "n_peer")
        tp = np.median([r["t_peer"] for r in rows])
        to = np.median([r["t_ours"] for r in rows])
        print(f"  peer : median {1e3 * tp:7.1f} ms, pixel agreement "
              f"{np.mean([r['agree_peer'] for r in rows]):.3f} over true foreground, "
              f"minutiae P {p:.3f} R {rc:.3f} F1 {f1:.3f} (given the true mask)")
        print(f"  speed-up: {tp / to:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
