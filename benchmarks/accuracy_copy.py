"""How often the copy detector (``ifb1.pipeline.copy_detect``) flags originals and copies.

Two sets of forms, each made once as an original and once as a scanned copy (the
generator's copy simulation: emailed JPEG scan with grey paper, halftone or ordered-dither
print-out on a 300 or 600 dpi printer, re-scan at 300-600 ppi, second JPEG):

* **real prints**: generated forms whose fourteen print boxes hold real scanned ink prints
  from NIST SD14 (``../shared/quality-reference/sd14``, one ten-print card per form),
  pasted in with their own texture (:func:`ifb1.samples.generate.generate_form`'s
  ``prints``). The cards are split by parity into a calibration half (even cards) and a
  held-out half (odd cards); figures are given for both.
* **generated**: fully generated forms (synthetic prints).

Half the originals are saved as JPEG at the scanner's own quality (75-92), as scanners
do; copies always carry their second JPEG. Nothing is written but the report: the pasted
forms live in memory only (real prints may never enter the repository). Without the SD14
folder only the generated set runs.

Targets: at most 2 % of originals flagged, at least 80 % of copies.

Usage::

    .venv/bin/python benchmarks/accuracy_copy.py [--real 44] [--generated 24] [--seed 9]
        [--reference /work/shared/quality-reference/sd14] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

DEFAULT_REF = Path("/work/shared/quality-reference/sd14")
PPIS = (300, 400, 500, 600)
# Which of a card's ten fingers goes in the plain boxes (11 right thumb, 12 left thumb,
# 13/14 the four-finger slaps, here the index finger of each hand).
PLAIN_FROM = {11: 1, 12: 6, 13: 2, 14: 7}


def cards(reference: Path) -> list[list[Path]]:
    """SD14 prints grouped ten by ten (one ten-print card each, in file order)."""
    files = sorted(reference.glob("*.png"))
    return [files[i:i + 10] for i in range(0, len(files) - 9, 10)]


def card_prints(card: list[Path]) -> dict[int, np.ndarray]:
    import cv2

    imgs = {}
    for finger, path in enumerate(card, start=1):
        img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if img is None:
            raise SystemExit(f"{path}: cannot read image")
        imgs[finger] = img
    out = {pos: imgs[pos] for pos in range(1, 11)}
    out.update({pos: imgs[f] for pos, f in PLAIN_FROM.items()})
    return out


def jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    import cv2

    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    return cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)


def run_one(seed: int, index: int, *, ppi: int, copy: bool, prints, save_jpeg: bool) -> dict:
    from ifb1.pipeline.copy_detect import check_copy
    from ifb1.samples.generate import FormOptions, generate_form

    g = generate_form(seed, index, options=FormOptions(ppi=ppi, copy=copy), prints=prints)
    img = g.image
    if save_jpeg and not copy:
        img = jpeg(img, g.truth["scanner_jpeg_quality"])
    t = time.perf_counter()
    e = check_copy(img, ppi=float(ppi))
    ms = (time.perf_counter() - t) * 1000.0
    cp = g.truth.get("copy_print") or {}
    return {"seed": seed, "index": index, "ppi": ppi, "copy": copy, "flagged": e.looks_like_copy,
            "ratio": e.texture_ratio, "where": e.where, "period_mm": e.period_mm, "black": e.black_level,
            "strength": g.truth["copy_degradation"], "screen": cp.get("screen"), "printer_dpi": cp.get("printer_dpi"),
            "jpeg": bool(save_jpeg and not copy), "ms": ms}


def rate(rows) -> str:
    n = len(rows)
    k = sum(r["flagged"] for r in rows)
    return f"{k}/{n} ({100.0 * k / n:.1f} %)" if n else "-"


def report(name: str, rows: list[dict]) -> dict:
    orig = [r for r in rows if not r["copy"]]
    cop = [r for r in rows if r["copy"]]
    print(f"\n{name}: originals flagged {rate(orig)}, copies flagged {rate(cop)}")
    by = defaultdict(list)
    for r in cop:
        by[(r["screen"], r["ppi"])].append(r)
    for (screen, ppi), rs in sorted(by.items()):
        print(f"  copies, {screen:<8} re-scanned at {ppi} ppi: {rate(rs)}")
    for ppi in PPIS:
        o = [r for r in orig if r["ppi"] == ppi]
        if o:
            print(f"  originals at {ppi} ppi: {rate(o)} (JPEG {rate([r for r in o if r['jpeg']])})")
    ro = sorted(r["ratio"] or 0 for r in orig)
    rc = sorted(r["ratio"] or 0 for r in cop)
    if ro and rc:
        print(f"  peak ratio: originals median {np.median(ro):.1f}, max {ro[-1]:.1f}; "
              f"copies min {rc[0]:.1f}, median {np.median(rc):.1f}")
    missed = [r for r in cop if not r["flagged"]]
    for r in missed[:8]:
        print(f"    missed copy: seed {r['seed']} form {r['index']} {r['ppi']} ppi {r['screen']} "
              f"printer {r['printer_dpi']} dpi strength {r['strength']} ratio {r['ratio']}")
    for r in [r for r in orig if r["flagged"]][:8]:
        print(f"    flagged original: seed {r['seed']} form {r['index']} {r['ppi']} ppi jpeg={r['jpeg']} "
              f"ratio {r['ratio']} at {r['period_mm']} mm in {r['where']}")
    return {"originals_flagged": sum(r["flagged"] for r in orig), "originals": len(orig),
            "copies_flagged": sum(r["flagged"] for r in cop), "copies": len(cop),
            "original_ratio_max": ro[-1] if ro else None, "copy_ratio_min": rc[0] if rc else None}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--real", type=int, default=44, help="forms with real SD14 prints (one card each)")
    ap.add_argument("--generated", type=int, default=24, help="fully generated forms")
    ap.add_argument("--seed", type=int, default=9)
    ap.add_argument("--reference", type=Path, default=DEFAULT_REF)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    results = {}
    ok = True
    groups: dict[str, list[dict]] = {"generated": []}
    for i in range(1, args.generated + 1):
        ppi = PPIS[i % len(PPIS)]
        for copy in (False, True):
            groups["generated"].append(run_one(args.seed, i, ppi=ppi, copy=copy, prints=None, save_jpeg=i % 2 == 0))
    if args.reference.is_dir() and cards(args.reference):
        groups["real prints, calibration cards"] = []
        groups["real prints, held-out cards"] = []
        for c, card in enumerate(cards(args.reference)[:args.real]):
            prints = card_prints(card)
            name = "real prints, calibration cards" if c % 2 == 0 else "real prints, held-out cards"
            ppi = PPIS[(c // 2) % len(PPIS)]
            for copy in (False, True):
                groups[name].append(run_one(args.seed + 1000, c + 1, ppi=ppi, copy=copy, prints=prints,
                                            save_jpeg=(c // 2) % 2 == 0))
    else:
        print(f"(no SD14 prints at {args.reference}: generated forms only)")
    for name, rows in groups.items():
        results[name] = report(name, rows)
    every = [r for rows in groups.values() for r in rows]
    total = report("all", every)
    results["all"] = total
    ms = defaultdict(list)
    for r in every:
        ms[r["ppi"]].append(r["ms"])
    print("\ncheck_copy time per page (median ms): " + ", ".join(f"{p} ppi {np.median(v):.0f}" for p, v in sorted(ms.items())))
    results["ms_median_by_ppi"] = {str(p): round(float(np.median(v)), 1) for p, v in sorted(ms.items())}
    results["elapsed_s"] = round(time.perf_counter() - t0, 1)
    o_rate = total["originals_flagged"] / max(1, total["originals"])
    c_rate = total["copies_flagged"] / max(1, total["copies"])
    ok = o_rate <= 0.02 and c_rate >= 0.80
    print(f"\noriginals flagged {100 * o_rate:.1f} % (target <= 2 %), copies flagged {100 * c_rate:.1f} % "
          f"(target >= 80 %): {'PASS' if ok else 'FAIL'}")
    if args.json:
        results["rows"] = {name: rows for name, rows in groups.items()}
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
