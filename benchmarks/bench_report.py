"""Speed of ``ifb1 report`` over a record of 10,000 forms (target: <= 10 s).

The record is synthetic, built directly through the Record API
(:func:`ifb1.samples.record.fill_record`): 43 invented forces with varied
volumes, faults and trends plus forms without a force, twelve months, the
product's own verdict rule, 70 % of the unsuitable copies deleted. Every
print has a registered crop file (a hard link to one of a few generated
500 ppi prints showing its fault), so the example pictures are read and
shrunk as in real use. Timed: the whole command in a fresh process
(``ifb1 report --data DATA --out OUT``, Python start-up included), with and
without example pictures, and with ``--json``.

Usage::

    .venv/bin/python benchmarks/bench_report.py [--forms 10000] [--forces 43] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

TARGET_S = 10.0


def build(root: Path, *, forms: int, forces: int, seed: int) -> float:
    from ifb1.records import open_record
    from ifb1.samples.record import fill_record, invented_forces, print_pool

    t = time.perf_counter()
    pool = print_pool(root / "pool", seed=seed, per_kind=4)
    with open_record(root / "data") as rec:
        fill_record(rec, n_forms=forms, profiles=invented_forces(forces, seed=seed), start=date(2025, 1, 1),
                    months=12, seed=seed, crops_dir=root / "out" / "forms", crop_pool=pool)
    return time.perf_counter() - t


def timed(args: list[str]) -> tuple[float, str]:
    exe = Path(sys.executable).with_name("ifb1")
    t = time.perf_counter()
    done = subprocess.run([str(exe), *args], capture_output=True, text=True)
    dt = time.perf_counter() - t
    if done.returncode:
        raise SystemExit(f"ifb1 {' '.join(args)} failed ({done.returncode}): {done.stderr or done.stdout}")
    return dt, done.stdout


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--forms", type=int, default=10000)
    ap.add_argument("--forces", type=int, default=43)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=2025)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="ifb1-bench-report-") as tmp:
        root = Path(tmp)
        build_s = build(root, forms=a.forms, forces=a.forces, seed=a.seed)
        data = root / "data"
        db_mb = (data / "ifb1.sqlite").stat().st_size / 1e6
        results = {}
        out_text = ""
        for label, extra in (("with examples", []), ("--no-examples", ["--no-examples"]),
                             ("with examples, --json", ["--json"])):
            times = []
            for i in range(a.runs):
                dt, out_text_i = timed(["report", "--data", str(data), "--out", str(root / f"reports-{i}"), *extra])
                times.append(dt)
                if label == "with examples" and i == 0:
                    out_text = out_text_i
            results[label] = times
        manifest = json.loads((root / "reports-0" / "manifest.json").read_text())
        sizes = [os.path.getsize(root / "reports-0" / p["file"]) for p in manifest["pages"]]
    cpu = os.cpu_count()
    print(f"ifb1 report over a synthetic record: {a.forms} forms, {a.forces} forces + forms without a force, "
          f"12 months (built in {build_s:.1f} s; ifb1.sqlite {db_mb:.0f} MB); {cpu} CPU(s)")
    print(out_text.splitlines()[0] if out_text else "")
    print(f"pages: {len(manifest['pages'])} force pages + overview; force page size median "
          f"{statistics.median(sizes) / 1e3:.0f} kB, largest {max(sizes) / 1e3:.0f} kB")
    print(f"{'run':<24} {'median s':>9} {'min s':>7} {'max s':>7}   (target <= {TARGET_S:.0f} s, whole command)")
    ok = True
    for label, times in results.items():
        med = statistics.median(times)
        ok &= med <= TARGET_S
        print(f"{label:<24} {med:>9.2f} {min(times):>7.2f} {max(times):>7.2f}")
    print("target met" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
