"""End-to-end speed of ``ifb1 batch``: from scan file to ANSI/NIST-ITL export.

Generates a few 500 ppi PNG scans with the sample generator (cached in
``benchmarks/.cache/e2e``), then runs ``ifb1 batch`` on them as a separate
process with 1 and with 2 workers (fresh record and output folder each time)
and reports:

- time per page per core (wall time x workers / pages), whole run included;
- each stage's share of the per-form work (decode, read = register + barcode +
  segment, quality, verdict, preview/staging, record, publish, export = WSQ
  encode + write), from the batch's JSON summary;
- throughput with 2 workers relative to 1;
- peak memory: ``ru_maxrss`` of the batch process tree (``os.wait4``), i.e. the
  largest single process (with 1 worker the batch itself, with 2 the larger
  of the parent and its workers).

Targets: <= 1.5 s per page per core, 2 workers >= 1.8x of 1, <= 600 MB per worker.
The machine's load average is printed: other work on the cores inflates times.

Usage: ``.venv/bin/python benchmarks/bench_end_to_end.py [--pages N]``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CACHE = HERE / ".cache" / "e2e"
SEED = 2026
TARGET_S_PER_PAGE_CORE = 1.5
TARGET_SPEEDUP_2 = 1.8
TARGET_MB_PER_WORKER = 600.0

# Stage groups as reported (keys of the batch summary's stage_seconds).
GROUPS = {
    "decode": ("decode",),
    "read (register, barcode, segment)": ("register", "barcode", "segment"),
    "quality (NFIQ 2 + feedback)": ("quality",),
    "verdict + copy check": ("verdict", "copy_check"),
    "preview + staging files": ("preview", "stage_outputs"),
    "record (SQLite, one transaction)": ("record",),
    "publish (rename)": ("publish",),
    "export: WSQ encode + Type-14 (worker)": ("export_build",),
    "export: write + log (parent)": ("export",),
    "hash (SHA-256)": ("hash",),
}


def make_scans(n: int) -> list[Path]:
    """n generated 500 ppi PNG scans (originals, a mix of qualities), cached."""
    from ifb1.samples.generate import FormOptions, generate_form, save_scan

    CACHE.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(1, n + 1):
        p = CACHE / f"form_{i:03d}.png"
        if not p.is_file():
            form = generate_form(SEED, i, options=FormOptions(ppi=500, copy=(i % 3 == 0)))
            save_scan(form, p, fmt="png", ppi_in_metadata=500)
        paths.append(p)
    return paths


def run_batch(scans: list[Path], workers: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="ifb1-e2e-") as tmp:
        tmp = Path(tmp)
        tray = tmp / "tray"
        tray.mkdir()
        for p in scans:
            shutil.copyfile(p, tray / p.name)
        summary = tmp / "summary.json"
        cmd = [sys.executable, "-m", "ifb1", "batch", str(tray), "--out", str(tmp / "out"), "--data", str(tmp / "data"),
               "--workers", str(workers), "--json-summary", str(summary)]
        env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
        with open(tmp / "log", "wb") as log:
            t0 = time.perf_counter()
            proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
            _, status, ru = os.wait4(proc.pid, 0)
            wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            raise SystemExit(f"ifb1 batch failed (exit {proc.returncode}):\n{(tmp / 'log').read_text()}")
        s = json.loads(summary.read_text())
        return {"wall": wall, "summary": s, "maxrss_mb": ru.ru_maxrss / 1024.0,
                "cpu": ru.ru_utime + ru.ru_stime}


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", type=int, default=6)
    args = ap.parse_args(argv)
    t = time.perf_counter()
    scans = make_scans(args.pages)
    print(f"scans: {len(scans)} generated 500 ppi PNG forms in {CACHE} ({time.perf_counter() - t:.1f} s to make/load)")
    print(f"machine: {os.cpu_count()} cores, load average before {os.getloadavg()[0]:.2f}")

    results = {}
    for workers in (1, 2):
        r = run_batch(scans, workers)
        results[workers] = r
        c = r["summary"]["counts"]
        print(f"\n{workers} worker(s): {r['wall']:.1f} s wall for {len(scans)} pages, CPU {r['cpu']:.1f} s, "
              f"verdicts {c['verdicts']}, exported {c['exported']}, peak RSS {r['maxrss_mb']:.0f} MB "
              f"(load average now {os.getloadavg()[0]:.2f})")

    one, two = results[1], results[2]
    n = len(scans)
    per_page_core = one["wall"] / n
    per_page_cpu = one["cpu"] / n
    speedup = one["wall"] / two["wall"]
    stages = one["summary"]["stage_seconds"]
    total = sum(stages.values())
    print("\nstage shares (1 worker, summed over forms):")
    for name, keys in GROUPS.items():
        s = sum(stages.get(k, 0.0) for k in keys)
        print(f"  {name:36s} {s / n:6.2f} s/page  {100 * s / total:5.1f} %")
    print(f"  {'(all measured stages)':36s} {total / n:6.2f} s/page")
    print("\nresult:")
    print(f"  time per page per core (1 worker, wall, incl. start-up): {per_page_core:.2f} s "
          f"(CPU {per_page_cpu:.2f} s)  target <= {TARGET_S_PER_PAGE_CORE} s: "
          f"{'MET' if per_page_core <= TARGET_S_PER_PAGE_CORE else 'NOT MET'}")
    print(f"  throughput 2 workers / 1 worker: {speedup:.2f}x  target >= {TARGET_SPEEDUP_2}x: "
          f"{'MET' if speedup >= TARGET_SPEEDUP_2 else 'NOT MET'}")
    worst = max(one["maxrss_mb"], two["maxrss_mb"])
    print(f"  peak memory per worker: {one['maxrss_mb']:.0f} MB (1 worker, in-process), "
          f"{two['maxrss_mb']:.0f} MB (largest process with 2 workers)  target <= {TARGET_MB_PER_WORKER:.0f} MB: "
          f"{'MET' if worst <= TARGET_MB_PER_WORKER else 'NOT MET'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
