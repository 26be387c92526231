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
# Arguments that reproduce the README's figures; scripts not named run with their defaults.
# (report name, script, arguments); a script may run more than once.
RUNS = (
    ("bench_quality", "bench_quality.py", ["--agree-n", "40"]),  # fingerprint-fqa takes ~5 s a print
    ("quality_agreement_unified", "bench_quality.py", ["--skip-speed", "--agree-n", "0", "--peers", ""]),
    ("bench_end_to_end", "bench_end_to_end.py", ["--pages", "24"]),
    ("accuracy_read", "accuracy_read.py", ["--seed", "2027"]),
    ("bench_enhance", "bench_enhance.py", ["--n", "9"]),
    ("realism", "realism.py", ["--n-gen", "12", "--n-real", "40"]),
    ("accuracy_scorers", "accuracy_scorers.py", ["--count", "12", "--seed", "31"]),
)


def main(argv: list[str]) -> int:
    scripts = sorted({p.name for pat in PATTERNS for p in HERE.glob(pat)})
    named = {script for _, script, _ in RUNS}
    runs = [(name, script, args) for name, script, args in RUNS if (HERE / script).exists()]
    runs += [(Path(script).stem, script, []) for script in scripts if script not in named]
    if argv:
        runs = [r for r in runs if any(a in r[0] for a in argv)]
    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    failed = []
    for name, script, args in runs:
        print(f"== {name}: {script} {' '.join(args)}", flush=True)
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, str(HERE / script), *args], env=env, capture_output=True, text=True)
        report = proc.stdout + (f"\n[stderr]\n{proc.stderr}" if proc.returncode else "")
        (out_dir / f"{name}.txt").write_text(report)
        print(report.rstrip())
        print(f"-- {name}: exit {proc.returncode}, {time.perf_counter() - t0:.1f} s", flush=True)
        if proc.returncode:
            failed.append(name)
    if failed:
        print("failed:", ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
