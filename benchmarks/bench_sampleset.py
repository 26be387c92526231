"""Sample-set runs: ``ifb1 quality FOLDER --csv`` on 1 and 2 workers, and on a 2-worker Dask LocalCluster.

Generates N prints (``ifb1.samples``, rolled, ink, no damage; about 560 x 720 px
at 500 ppi) into a temporary folder, then times the command end to end, as a
user runs it (a fresh ``ifb1`` process each time, imports and model loading
included, CSV written and fsynced):

- fast scorer, 1 and 2 workers (target: >= 1.9 x);
- fast scorer, ``--scheduler`` on a ``LocalCluster(n_workers=2, processes=True,
  threads_per_worker=1)`` on the loopback interface, started beforehand (target:
  within 15 % of the 2-worker pool); the cluster's workers are cold (first import
  of ifb1 on them is inside the time), as the pool's are;
- NIST scorer (nbis-py), ``--workers 1`` and ``--workers 2`` on fewer prints.

Every run's CSV is checked byte for byte against the one-worker run's. Prints per
second per core = prints / wall time / workers. Run it under ``nice -n 10``; the
load average before and after is printed (other processes on the machine slow the
2-worker runs most).

    .venv/bin/python benchmarks/bench_sampleset.py [--n 400] [--nist-n 40] [--no-dask]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SPEEDUP_TARGET = 1.9
DASK_TOLERANCE = 0.15


def make_print(job: tuple[str, int]) -> str:
    """Write generated print ``i`` as a PNG in folder ``out`` (a module-level function: pool workers run it)."""
    out, i = job
    import cv2
    import numpy as np

    from ifb1.samples.fingerprint import make_master
    from ifb1.samples.impression import rolled_impression
    from ifb1.samples.ink import Damage, ink_print

    rng = np.random.default_rng(1000 + i)
    p = ink_print(rolled_impression(make_master(rng, finger=1 + i % 10), rng), rng, damage=Damage())
    img = np.pad(np.clip(np.rint(255 * (1 - p.density)), 0, 255).astype(np.uint8), 16, constant_values=255)
    path = os.path.join(out, f"{i // 100:02d}", f"print_{i:05d}.png")
    cv2.imwrite(path, img)
    return path


def child(argv: list[str]) -> None:
    """``--child FOLDER CSV WORKERS SCHEDULER|- SHIP SCORER``: one run, timed per result, as JSON on stdout.

    The same call as ``ifb1 quality FOLDER --csv CSV`` (:func:`run_sampleset`) in a fresh
    process, so imports and model loading are inside the time, as for a user.
    """
    t0 = time.perf_counter()
    import json

    from ifb1.sampleset.run import SampleSetOptions, run_sampleset

    folder, csv, workers, scheduler, ship, scorer = argv
    stamps: list[float] = []
    opts = SampleSetOptions(scorer=scorer, workers=int(workers), scheduler=None if scheduler == "-" else scheduler,
                            ship_files=ship == "1")
    s = run_sampleset([folder], options=opts, csv_path=csv, on_result=lambda r: stamps.append(time.perf_counter() - t0))
    if s.failed:
        raise SystemExit(f"{s.failed} prints not scored: {s.failures[:3]}")
    print(json.dumps({"n": len(stamps), "first": stamps[0], "t10": stamps[min(9, len(stamps) - 1)],
                      "last": stamps[-1]}))


def run(folder: Path, csv: Path, *, workers: int = 1, scheduler: str | None = None, ship: bool = False,
        scorer: str = "fast") -> dict:
    """One timed run in a fresh process: ``wall`` (end to end) and ``steady`` (prints/s after the first 10)."""
    import json

    for p in (csv, csv.with_name(csv.name + ".ifb1-state")):
        p.unlink(missing_ok=True)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, "--child", str(folder), str(csv), str(workers),
                           scheduler or "-", "1" if ship else "0", scorer], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"run failed ({proc.returncode}): {proc.stderr[-2000:]}")
    t = json.loads(proc.stdout.strip().splitlines()[-1])
    steady = (t["n"] - 10) / (t["last"] - t["t10"]) if t["n"] > 20 else float("nan")
    return {"wall": wall, "steady": steady, "first": t["first"], "n": t["n"]}


def line(label: str, r: dict, n: int, cores: int, extra: str = "") -> str:
    return (f"  {label:<22} {r['wall']:6.2f} s  {n / r['wall']:6.1f} prints/s  {n / r['wall'] / cores:6.1f} /s/core"
            f"   steady {r['steady']:6.1f} prints/s ({r['steady'] / cores:5.1f} /s/core)   first result "
            f"{r['first']:.2f} s{extra}")


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f}"


def main() -> int:
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2:])
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=400, help="prints for the fast scorer")
    ap.add_argument("--nist-n", type=int, default=40, help="prints for the NIST scorer (0: skip)")
    ap.add_argument("--no-dask", action="store_true")
    args = ap.parse_args()

    from ifb1.sampleset.engine import map_unordered

    print(f"machine: {os.cpu_count()} cores; before: {load()}")
    ok = True
    with tempfile.TemporaryDirectory(prefix="ifb1-bench-sampleset-") as tmp:
        tmp_p = Path(tmp)
        folder = tmp_p / "set"
        for k in range((args.n + 99) // 100):
            (folder / f"{k:02d}").mkdir(parents=True)
        t0 = time.perf_counter()
        for _ in map_unordered(make_print, [(str(folder), i) for i in range(args.n)], workers=2):
            pass
        print(f"generated {args.n} prints in {time.perf_counter() - t0:.1f} s")

        ref = tmp_p / "w1.csv"
        r1 = run(folder, ref, workers=1)
        r2 = run(folder, tmp_p / "w2.csv", workers=2)
        same2 = (tmp_p / "w2.csv").read_bytes() == ref.read_bytes()
        speedup, steady_up = r1["wall"] / r2["wall"], r2["steady"] / r1["steady"]
        verdict = "PASS" if speedup >= SPEEDUP_TARGET else "FAIL"
        print(f"\nfast scorer, {args.n} prints (fresh process: imports and model loading inside; CSV written):")
        print(line("workers 1", r1, args.n, 1))
        print(line("workers 2", r2, args.n, 2, f"   CSV {'identical' if same2 else 'DIFFERENT'}"))
        print(f"  speedup 2 vs 1: end to end {speedup:.2f} x (target >= {SPEEDUP_TARGET}: {verdict}); "
              f"steady {steady_up:.2f} x")
        ok &= same2 and speedup >= SPEEDUP_TARGET

        if not args.no_dask:
            from distributed import LocalCluster

            with LocalCluster(n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1",
                              dashboard_address=None) as cluster:
                addr = cluster.scheduler_address
                rd = run(folder, tmp_p / "dask.csv", scheduler=addr)
                rs = run(folder, tmp_p / "dask_ship.csv", scheduler=addr, ship=True)
            same_d = (tmp_p / "dask.csv").read_bytes() == ref.read_bytes()
            same_s = (tmp_p / "dask_ship.csv").read_bytes() == ref.read_bytes()
            slower = rd["wall"] / r2["wall"] - 1
            verdict = "PASS" if slower <= DASK_TOLERANCE else "FAIL"
            print(line("Dask, 2 workers (cold)", rd, args.n, 2, f"   CSV {'identical' if same_d else 'DIFFERENT'}"))
            print(line("Dask, --ship-files", rs, args.n, 2, f"   CSV {'identical' if same_s else 'DIFFERENT'}"))
            print(f"  Dask vs workers 2: end to end {100 * slower:+.1f} % (target within "
                  f"{100 * DASK_TOLERANCE:.0f} %: {verdict}); steady {100 * (r2['steady'] / rd['steady'] - 1):+.1f} %")
            ok &= same_d and same_s and slower <= DASK_TOLERANCE

        if args.nist_n:
            from ifb1.quality.nist import nist_available

            if not nist_available():
                print("\nNIST scorer: nbis-py not available here, skipped")
            else:
                nist_folder = tmp_p / "nist"
                nist_folder.mkdir()
                files = sorted(folder.rglob("*.png"))[: args.nist_n]
                for f in files:
                    os.link(f, nist_folder / f.name)
                n = len(files)
                n1 = run(nist_folder, tmp_p / "nist1.csv", workers=1, scorer="nist")
                n2 = run(nist_folder, tmp_p / "nist2.csv", workers=2, scorer="nist")
                same_n = (tmp_p / "nist2.csv").read_bytes() == (tmp_p / "nist1.csv").read_bytes()
                print(f"\nNIST scorer (nbis-py NFIQ 2.3, plus ifb1's feedback), {n} prints:")
                print(line("workers 1", n1, n, 1))
                print(line("workers 2", n2, n, 2, f"   CSV {'identical' if same_n else 'DIFFERENT'}"))
                print(f"  speedup 2 vs 1: end to end {n1['wall'] / n2['wall']:.2f} x; "
                      f"steady {n2['steady'] / n1['steady']:.2f} x")
                ok &= same_n
    print(f"\nafter: {load()}")
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
