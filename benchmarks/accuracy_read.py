"""Accuracy of reading IFB1 scans (intake, barcode, registration, presence) on generated forms.

Generates a set of forms with ground truth (mixing resolutions, rotations,
file formats, stated resolutions, copies, barcode symbologies and upside-down
feeds), reads each scan file with :func:`ifb1.pipeline.read.read_scan`, and
compares with the truth:

* box corner error (mm): median and worst over all corners of all boxes;
* barcode: read on every undamaged label (form id equal to the truth);
* presence right for >= 99 % of boxes;
* no valid form rejected.

Usage::

    .venv/bin/python benchmarks/accuracy_read.py --count 200 --seed 7 [--cache benchmarks/.cache/read]

Scans are cached (keyed by seed and index) so a rerun only re-reads.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

FORMATS = ("png", "tiff", "jpeg", "pdf")
BARCODES = ("Code128", "Code128", "Code39", "DataMatrix", "QRCode")
PPIS = (300, 400, 500, 600)


def plan(seed: int, index: int) -> dict:
    """The mix for form ``index``: deterministic from (seed, index)."""
    rng = np.random.default_rng([seed, index, 991])
    ppi = int(rng.choice(PPIS))
    fmt = FORMATS[index % len(FORMATS)]
    meta = rng.choice(["true", "true", "none", "lie"])
    return {
        "ppi": ppi,
        "fmt": fmt,
        "copy": bool(rng.random() < 0.25),
        "upside_down": bool(rng.random() < 0.12),
        "barcode_format": str(rng.choice(BARCODES)),
        "ppi_in_metadata": ppi if meta == "true" else (None if meta == "none" else int(rng.choice([72, 96]))),
        "rgb": bool(rng.random() < 0.15),
    }


def make_set(seed: int, count: int, cache: Path) -> list[Path]:
    """Generate (or reuse) ``count`` scans under ``cache``; returns their paths."""
    from ifb1.samples.generate import FormOptions, generate_form, save_scan, suffix_for

    cache.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(1, count + 1):
        p = plan(seed, i)
        path = cache / f"form_{seed}_{i:04d}{suffix_for(p['fmt'])}"
        if not path.exists() or not path.with_suffix(".json").exists():
            opts = FormOptions(ppi=p["ppi"], copy=p["copy"], upside_down=p["upside_down"],
                               barcode_format=p["barcode_format"], rgb=p["rgb"])
            form = generate_form(seed, i, options=opts)
            save_scan(form, path, fmt=p["fmt"], ppi_in_metadata=p["ppi_in_metadata"])
        paths.append(path)
    return paths


def compare(truth: dict, result: dict) -> dict:
    """Per-form comparison of a result object with its truth."""
    ppi = float(truth["ppi"])
    out = {"ok": result["status"] == "ok", "error": result.get("error")}
    if not out["ok"]:
        return out
    got = {p["position"]: p for p in result["prints"]}
    errs, presence = [], []
    for b in truth["boxes"]:
        g = got[b["position"]]
        d = np.linalg.norm(np.asarray(g["corners_px"], float) - np.asarray(b["corners_px"], float), axis=1)
        errs.extend((d / ppi * 25.4).tolist())
        presence.append(bool(g["present"]) == bool(b["present"]))
    out["corner_err_mm"] = errs
    out["presence"] = presence
    out["presence_wrong"] = [b["position"] for b, ok in zip(truth["boxes"], presence) if not ok]
    bc = truth.get("barcode") or {}
    out["barcode_damaged"] = bool(bc.get("damaged"))
    out["barcode_ok"] = result.get("form_id") == truth["form_id"]
    out["upside_ok"] = bool(result["upside_down"]) == bool(truth["upside_down"])
    out["timings"] = result["timings_ms"]
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--cache", type=Path, default=Path(__file__).parent / ".cache" / "read")
    ap.add_argument("--json", type=Path, default=None, help="Write the figures to this JSON file.")
    args = ap.parse_args(argv)

    from ifb1.forms import load_layout
    from ifb1.pipeline.read import read_scan

    t0 = time.perf_counter()
    paths = make_set(args.seed, args.count, args.cache)
    gen_s = time.perf_counter() - t0
    layout = load_layout()
    rows = []
    t0 = time.perf_counter()
    for path in paths:
        truth = json.loads(path.with_suffix(".json").read_text())
        reading = read_scan(path, layout=layout)[0]
        c = compare(truth, reading.to_dict())
        c.update(scan=path.name, ppi=truth["ppi"], format=truth["format"], copy=truth["copy"],
                 upside_down=truth["upside_down"], barcode_format=truth["barcode"]["format"])
        rows.append(c)
        if not c["ok"] or (not c["barcode_damaged"] and not c["barcode_ok"]) or c.get("presence_wrong") \
                or max(c.get("corner_err_mm", [0])) > 1.5:
            print(f"  {path.name}: ok={c['ok']} err={c.get('error')} barcode_ok={c.get('barcode_ok')} "
                  f"presence_wrong={c.get('presence_wrong')} max_corner={max(c.get('corner_err_mm', [0])):.2f} mm",
                  file=sys.stderr)
    read_s = time.perf_counter() - t0
    ok = [r for r in rows if r["ok"]]
    errs = np.concatenate([r["corner_err_mm"] for r in ok]) if ok else np.array([np.nan])
    pres = np.concatenate([r["presence"] for r in ok]) if ok else np.array([False])
    undamaged = [r for r in ok if not r["barcode_damaged"]]
    figures = {
        "forms": len(rows),
        "rejected": len(rows) - len(ok),
        "corner_err_mm_median": round(float(np.median(errs)), 4),
        "corner_err_mm_p99": round(float(np.percentile(errs, 99)), 4),
        "corner_err_mm_max": round(float(np.max(errs)), 4),
        "barcode_read_undamaged": f"{sum(r['barcode_ok'] for r in undamaged)}/{len(undamaged)}",
        "barcode_read_damaged": f"{sum(r['barcode_ok'] for r in ok if r['barcode_damaged'])}/"
                                f"{sum(r['barcode_damaged'] for r in ok)}",
        "presence_accuracy": round(float(np.mean(pres)), 5),
        "presence_wrong_boxes": int(np.sum(~pres)),
        "upside_down_right": f"{sum(r['upside_ok'] for r in ok)}/{len(ok)}",
        "mix": {
            "ppi": {str(p): sum(r["ppi"] == p for r in rows) for p in PPIS},
            "format": {f: sum(r["format"] == f for r in rows) for f in FORMATS},
            "copies": sum(bool(r["copy"]) for r in rows),
            "upside_down": sum(bool(r["upside_down"]) for r in rows),
            "barcode": {b: sum(r["barcode_format"] == b for r in rows) for b in sorted(set(BARCODES))},
        },
        "generate_s": round(gen_s, 1),
        "read_s": round(read_s, 1),
    }
    print(json.dumps(figures, indent=1))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1) + "\n")
    passed = (figures["rejected"] == 0 and figures["corner_err_mm_median"] <= 0.5
              and figures["corner_err_mm_max"] <= 1.5 and figures["presence_accuracy"] >= 0.99
              and all(r["barcode_ok"] for r in undamaged))
    print("PASS" if passed else "FAIL")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
