"""Barcode labels on degraded scanned copies: read, sent to manual entry, or (never) a wrong id.

Generates scanned copies re-scanned at 300 and 400 ppi (by default all ordered-dither
print-outs, the hardest case: a dither on a 300 or 600 dpi printer grid, re-scanned
coarsely, after an emailed JPEG), reads each with :func:`ifb1.pipeline.read.read_scan`
and counts, over labels that are not damaged (no pen stroke, not cut by the scan edge):

* **read**: the form id equals the truth;
* **manual entry**: no id returned (staff key it in);
* **wrong id**: an id returned that is not the form's. The target is none, ever.

Damaged labels are counted apart (they may be read or go to manual entry, but must not
give a wrong id either).

Usage::

    .venv/bin/python benchmarks/accuracy_barcode_copies.py [--count 80] [--seed 31] [--screen dither|halftone|any]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

BARCODES = ("Code128", "Code39", "DataMatrix", "QRCode")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=80)
    ap.add_argument("--seed", type=int, default=31)
    ap.add_argument("--ppi", default="300,400")
    ap.add_argument("--screen", default="dither", choices=("dither", "halftone", "any"))
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)

    from ifb1.forms import load_layout
    from ifb1.pipeline.read import read_scan
    from ifb1.samples.generate import FormOptions, generate_form, save_scan
    from ifb1.samples.scan import CopyParams

    ppis = [int(p) for p in args.ppi.split(",")]
    dither = {"dither": 1.0, "halftone": 0.0, "any": CopyParams().dither_probability}[args.screen]
    layout = load_layout()
    rows = []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ifb1-bc-") as tmp:
        for i in range(1, args.count + 1):
            ppi = ppis[i % len(ppis)]
            fmt = BARCODES[(i // len(ppis)) % len(BARCODES)]
            opts = FormOptions(ppi=ppi, copy=True, barcode_format=fmt, copy_params=CopyParams(dither_probability=dither))
            g = generate_form(args.seed, i, options=opts)
            path = Path(tmp) / f"copy_{i:04d}.png"
            save_scan(g, path, fmt="png", ppi_in_metadata=ppi)
            reading = read_scan(path, layout=layout)[0]
            got = reading.form_id if reading.ok else None
            truth = g.truth["form_id"]
            outcome = "read" if got == truth else ("manual" if got is None else "WRONG")
            rows.append({"index": i, "ppi": ppi, "format": fmt, "damaged": g.truth["barcode"]["damaged"],
                         "screen": g.truth["copy_print"]["screen"], "printer_dpi": g.truth["copy_print"]["printer_dpi"],
                         "strength": g.truth["copy_degradation"], "outcome": outcome, "got": got, "truth": truth,
                         "rejected": not reading.ok, "barcode_ms": reading.timings_ms.get("barcode")})
            path.unlink()
    elapsed = time.perf_counter() - t0
    by = defaultdict(Counter)
    for r in rows:
        key = ("damaged" if r["damaged"] else "undamaged", r["format"], r["ppi"])
        by[key][r["outcome"]] += 1
    print(f"{len(rows)} scanned copies ({args.screen}), {elapsed:.0f} s")
    for key in sorted(by):
        c = by[key]
        print(f"  {key[0]:<9} {key[1]:<10} {key[2]} ppi: read {c['read']}, manual entry {c['manual']}, "
              f"wrong id {c['WRONG']}")
    und = [r for r in rows if not r["damaged"]]
    tot = Counter(r["outcome"] for r in und)
    wrong = [r for r in rows if r["outcome"] == "WRONG"]
    print(f"undamaged labels: read {tot['read']}/{len(und)}, manual entry {tot['manual']}, wrong id {tot['WRONG']}")
    print(f"damaged labels: {Counter(r['outcome'] for r in rows if r['damaged'])}")
    for r in wrong:
        print(f"  WRONG: form {r['index']} {r['format']} {r['ppi']} ppi read {r['got']!r} for {r['truth']!r}")
    for r in [r for r in und if r["outcome"] == "manual"][:12]:
        print(f"  manual: form {r['index']} {r['format']} {r['ppi']} ppi {r['screen']} printer {r['printer_dpi']} dpi "
              f"strength {r['strength']}")
    figures = {"copies": len(rows), "undamaged": len(und), "read": tot["read"], "manual": tot["manual"],
               "wrong": len(wrong), "elapsed_s": round(elapsed, 1)}
    if args.json:
        args.json.write_text(json.dumps({"figures": figures, "rows": rows}, indent=1) + "\n")
    ok = not wrong
    print("PASS (no wrong id)" if ok else "FAIL (wrong ids)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
