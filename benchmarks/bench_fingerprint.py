"""Time the fingerprint synthesiser for one form: a person, 14 impressions, all inked.

Runs on one core (OMP_NUM_THREADS=1, cv2.setNumThreads(1)) and prints the median over a few runs,
split into masters / impressions / inking, as wall time and as process CPU time (on a busy machine
the wall time is inflated by other processes). Budget: <= 1.2 s per form (the whole page, rendered,
scan-simulated and encoded, must take <= 3 s).

    .venv/bin/python benchmarks/bench_fingerprint.py [--runs 5] [--seed 0]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import time  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from ifb1.samples.fingerprint import make_person  # noqa: E402
from ifb1.samples.impression import (plain_impression, rolled_impression,  # noqa: E402
                                     slap_impression)
from ifb1.samples.ink import ink_print, random_damage  # noqa: E402


def one_form(seed: int, clock=time.perf_counter) -> tuple[float, float, float]:
    rng = np.random.default_rng(seed)
    t0 = clock()
    person = make_person(rng)
    t1 = clock()
    imps = [rolled_impression(m, rng) for m in person]
    imps += [plain_impression(person[0], rng), plain_impression(person[5], rng),
             slap_impression(person, rng, hand="right"), slap_impression(person, rng, hand="left")]
    t2 = clock()
    for imp in imps:
        quality = ("good", "fair", "poor")[int(rng.integers(0, 3))]
        ink_print(imp, rng, damage=random_damage(rng, quality=quality))
    t3 = clock()
    return t1 - t0, t2 - t1, t3 - t2


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    cv2.setNumThreads(1)
    one_form(args.seed + 1000)  # warm-up (imports, allocator)
    for name, clock in (("wall", time.perf_counter), ("cpu", time.process_time)):
        times = np.array([one_form(args.seed + i, clock) for i in range(args.runs)])
        med = np.median(times, axis=0)
        tot = times.sum(axis=1)
        print(f"fingerprints per form, one core, {name} time, median of {args.runs} runs:")
        print(f"  make_person (10 masters)   {med[0]:.3f} s")
        print(f"  14 impressions             {med[1]:.3f} s")
        print(f"  inking + damage (14)       {med[2]:.3f} s")
        print(f"  total                      {np.median(tot):.3f} s   (budget 1.2 s)"
              f"   [min {tot.min():.3f} s, max {tot.max():.3f} s]")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
          f"(other processes inflate the wall time; cpu time is this process only)")

if __name__ == "__main__":
    main()
