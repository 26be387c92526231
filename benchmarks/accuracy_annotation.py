"""Accuracy of reading hand-written annotations ("AMP", "XX", "UP") in empty print boxes.

Generates forms with a raised missing-finger rate (a missing rolled finger
empties its box, and a missing thumb also its plain-thumb box; 75 % of them
are annotated), mixing resolutions and scanned copies, reads each scan with
:func:`ifb1.pipeline.read.read_scan` and compares every box the truth says is
empty (rolled 1-10 and plain thumbs 11-12) with what the reader says:

* blank vs annotated detection: annotated boxes read as annotated, blank
  boxes read as blank (a blank box read as annotated would hide a missing
  finger from the verdict: the costly error);
* code accuracy among annotated boxes read as annotated (the text read:
  AMP / XX / UP) and ANSI/NIST code accuracy (AMP and XX both export as XX);
* the confusion table, truth rows by read columns (``present``: the presence
  test found a print in the box, so no annotation was read);
* time of :func:`ifb1.pipeline.annotation.read_annotation` per empty box.

Usage::

    .venv/bin/python benchmarks/accuracy_annotation.py --count 100 --seed 4242 [--cache benchmarks/.cache/annotation]

Scans are cached (keyed by seed and index) so a rerun only re-reads.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

PPIS = (300, 400, 500, 600)
TRUTHS = ("AMP", "UP", "XX", "blank")
READS = ("AMP", "UP", "XX", "blank", "print", "present")


def make_set(seed: int, count: int, cache: Path, missing_rate: float) -> list[Path]:
    """Generate (or reuse) ``count`` scans under ``cache``; returns their paths."""
    from ifb1.samples.generate import FormOptions, generate_form, save_scan

    cache.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(1, count + 1):
        rng = np.random.default_rng([seed, i, 77])
        ppi = int(rng.choice(PPIS))
        copy = bool(rng.random() < 0.25)
        path = cache / f"form_{seed}_{i:04d}_{ppi}{'c' if copy else ''}.png"
        if not path.exists() or not path.with_suffix(".json").exists():
            opts = FormOptions(ppi=ppi, copy=copy, missing_rate=missing_rate, annotation_rate=0.75)
            save_scan(generate_form(seed, i, options=opts), path, fmt="png", ppi_in_metadata=ppi)
        paths.append(path)
    return paths


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=100)
    ap.add_argument("--seed", type=int, default=4242)
    ap.add_argument("--missing-rate", type=float, default=0.9)
    ap.add_argument("--cache", type=Path, default=Path(__file__).parent / ".cache" / "annotation")
    ap.add_argument("--json", type=Path, default=None, help="Write the figures to this JSON file.")
    args = ap.parse_args(argv)

    from ifb1.forms import load_layout
    from ifb1.pipeline.annotation import read_annotation
    from ifb1.pipeline.read import read_scan

    t0 = time.perf_counter()
    paths = make_set(args.seed, args.count, args.cache, args.missing_rate)
    gen_s = time.perf_counter() - t0
    layout = load_layout()
    table: Counter = Counter()
    by_copy: Counter = Counter()
    times = []
    rejected = 0
    for path in paths:
        truth = json.loads(path.with_suffix(".json").read_text())
        reading = read_scan(path, layout=layout)[0]
        if not reading.ok:
            rejected += 1
            print(f"  {path.name}: rejected: {reading.error}", file=sys.stderr)
            continue
        boxes = {b.position: b for b in reading.boxes}
        for t in truth["boxes"]:
            if t["present"] or t["position"] > 12:
                continue
            b = boxes[t["position"]]
            want = t["annotation"] or "blank"
            if b.present:
                got = "present"
            else:
                t1 = time.perf_counter()
                read_annotation(b.crop)  # timed alone (the reader already ran it in segment)
                times.append(time.perf_counter() - t1)
                a = b.annotation
                got = a.code if a.kind == "annotated" else a.kind
            table[(want, got)] += 1
            by_copy[(bool(truth["copy"]), want == got or (want == "blank" and got == "print"))] += 1
            if got != want:
                print(f"  {path.name} box {t['position']}: truth {want}, read {got}"
                      + ("" if b.present else f" ({b.annotation.reason})"), file=sys.stderr)
    read_s = time.perf_counter() - t0 - gen_s

    def n(rows, cols):
        return sum(table[(r, c)] for r in rows for c in cols)

    codes = ("AMP", "UP", "XX")
    annotated = n(codes, READS)
    blank = n(("blank",), READS)
    detected = n(codes, codes)
    code_ok = sum(table[(c, c)] for c in codes)
    ansi = {"AMP": "XX", "XX": "XX", "UP": "UP"}
    ansi_ok = sum(table[(w, g)] for w in codes for g in codes if ansi[w] == ansi[g])
    figures = {
        "forms": len(paths),
        "rejected": rejected,
        "empty_boxes": annotated + blank,
        "annotated_boxes": annotated,
        "blank_boxes": blank,
        "annotated_detected": f"{detected}/{annotated}",
        "annotated_detection_rate": round(detected / max(annotated, 1), 4),
        "blank_read_blank_or_print": f"{n(('blank',), ('blank', 'print'))}/{blank}",
        "blank_read_as_annotated": n(("blank",), codes),
        "code_accuracy_of_detected": round(code_ok / max(detected, 1), 4),
        "ansi_nist_code_accuracy_of_detected": round(ansi_ok / max(detected, 1), 4),
        "correct_originals": f"{by_copy[(False, True)]}/{by_copy[(False, True)] + by_copy[(False, False)]}",
        "correct_copies": f"{by_copy[(True, True)]}/{by_copy[(True, True)] + by_copy[(True, False)]}",
        "confusion": {w: {g: table[(w, g)] for g in READS} for w in TRUTHS},
        "read_annotation_ms_median": round(1000 * float(np.median(times)), 1) if times else None,
        "read_annotation_ms_max": round(1000 * float(np.max(times)), 1) if times else None,
        "generate_s": round(gen_s, 1),
        "read_s": round(read_s, 1),
    }
    print(json.dumps({k: v for k, v in figures.items() if k != "confusion"}, indent=1))
    print("\nconfusion (rows: truth, columns: read)")
    print(f"{'':>8}" + "".join(f"{c:>9}" for c in READS))
    for w in TRUTHS:
        print(f"{w:>8}" + "".join(f"{table[(w, g)]:>9}" for g in READS))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1) + "\n")
    passed = (rejected == 0 and figures["annotated_detection_rate"] >= 0.95
              and figures["code_accuracy_of_detected"] >= 0.95 and figures["blank_read_as_annotated"] == 0)
    print("PASS" if passed else "FAIL")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
