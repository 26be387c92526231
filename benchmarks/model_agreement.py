"""Check that the shipped ONNX forest re-scores NFIQ 2.3's own feature values exactly.

For every row of ``quality-reference/nfiq2.csv`` with a score, feed its 69
native-measure columns (NFIQ 2.3's own values, full precision) to
:func:`ifb1.models.nfiq2.score_batch` and compare with the ``nfiq2`` column.
This isolates the forest conversion from our feature implementations.

Usage::

    .venv/bin/python benchmarks/model_agreement.py [--reference DIR]

Exits 0 when every row agrees, 1 on any disagreement, and 0 with a "skipped"
line when the reference folder is absent.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from pathlib import Path

DEFAULT_REFERENCE = Path(os.environ.get("IFB1_QUALITY_REFERENCE", "/work/shared/quality-reference"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reference", type=Path, default=DEFAULT_REFERENCE)
    args = ap.parse_args(argv)
    csv_path = args.reference / "nfiq2.csv"
    if not csv_path.is_file():
        print(f"skipped: {csv_path} not found")
        return 0

    import numpy as np

    from ifb1.models.nfiq2 import FEATURE_NAMES, MODEL_SHA256, load_model, score_batch

    with csv_path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    scored = [r for r in rows if r["nfiq2"] != ""]
    x = np.array([[float(r[k]) for k in FEATURE_NAMES] for r in scored])
    want = np.array([int(r["nfiq2"]) for r in scored])
    load_model()  # time inference only, not the one-off session load
    t0 = time.perf_counter()
    got = score_batch(x)
    dt = time.perf_counter() - t0
    diff = got - want
    print(f"model sha256 {MODEL_SHA256}")
    print(f"rows: {len(rows)}, scored by NFIQ 2.3: {len(scored)}, no score: {len(rows) - len(scored)}")
    print(f"exact: {int(np.sum(diff == 0))}/{len(scored)}, max |diff| {int(np.abs(diff).max())}, "
          f"batch time {dt * 1e3:.1f} ms ({dt / len(scored) * 1e6:.1f} us/row)")
    for r, g in zip(scored, got):
        if int(r["nfiq2"]) != g:
            print(f"  MISMATCH {r['path']}: NFIQ 2.3 {r['nfiq2']}, ours {g}")
    return 0 if np.all(diff == 0) else 1


if __name__ == "__main__":
    sys.exit(main())
