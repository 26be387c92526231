"""Run every benchmark in this folder and collect their reports.

Each ``bench_*.py`` / ``*_agreement.py`` / ``accuracy_*.py`` script prints its own
figures (ratios against the reference tools measured in the same run where a
peer exists). This runner executes them one after another on one core and
writes their output to ``benchmarks/results/<script>.txt``.

Usage: ``make bench`` (or ``.venv-bench/bin/python benchmarks/run_all.py [NAME...]``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PATTERNS = ("bench_*.py", "*_agreement.py", "accuracy_*.py")


def main(argv: list[str]) -> int:
    scripts = sorted({p for pat in PATTERNS for p in HERE.glob(pat)})
    if argv:
        scripts = [s for s in scripts if any(a in s.name for a in argv)]
    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    failed = []
    for script in scripts:
        print(f"== {script.name}", flush=True)
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True)
        report = proc.stdout + (f"\n[stderr]\n{proc.stderr}" if proc.returncode else "")
        (out_dir / f"{script.stem}.txt").write_text(report)
        print(report.rstrip())
        print(f"-- {script.name}: exit {proc.returncode}, {time.perf_counter() - t0:.1f} s", flush=True)
        if proc.returncode:
            failed.append(script.name)
    if failed:
        print("failed:", ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
