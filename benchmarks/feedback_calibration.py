"""Calibrate the plain-word feedback codes (quality/feedback.py) on generated and real prints.

Two sources:

1. Generated forms (``ifb1.samples.generate.generate_form``, 300 ppi grey JPEG like the bundled
   samples, every form "badly inked" so that severe damage is common), read by the product's
   reader; each scored box is assessed exactly as ``ifb1.pipeline.form.score_print`` does. The
   truth JSON gives each box's damage. Per code: detection rate on prints whose matching damage
   is >= 0.6, false-flag rate on prints without that damage (severity 0).
2. NIST SD14 rolled ink prints in /work/shared/quality-reference (calibration only, skipped when
   absent): how often each code fires on "good" prints (NFIQ 2.3 >= 60) and "poor" ones (< 20).

The expensive part (NFIQ 2 measures, ROI) is computed once per print and cached (``--cache``);
the codes are then re-decided for the old and the new :class:`FeedbackParams` from the cached
image, ROI and measures, so the table compares thresholds on identical inputs.

    .venv/bin/python benchmarks/feedback_calibration.py --forms 12 --cache /tmp/fbcal.pkl
"""

from __future__ import annotations

import argparse
import csv
import pickle
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from unittest import mock

import numpy as np

REFERENCE = Path("/work/shared/quality-reference")
CODES = ("too_dark", "too_light", "smudged", "partial", "off_centre", "too_small", "creased")
#: The damage kind behind each code (None: a geometry code with no damage kind in the truth).
DAMAGE_OF = {"too_dark": "over_ink", "too_light": "under_ink", "smudged": "smudge", "partial": "partial",
             "creased": "crease", "off_centre": None, "too_small": None}


def before_params():
    """The thresholds before this calibration (first version of FeedbackParams).

    The first version had no ``dark_max_contrast`` (here infinite) and tested ``too_dark`` before
    the smear, so "before" here is the old thresholds under the new decision order; the
    README's "before" column is the old code itself (the codes recorded when a cache is made).
    The first version's ``partial`` was the edge-contact rule alone: the outline rules are off
    (``partial_min_solidity`` infinite).
    """
    from ifb1.quality.feedback import FeedbackParams

    return FeedbackParams(dark_valley_grey=160.0, light_ridge_grey=140.0, min_contrast=45.0,
                          smudge_low_clarity_fraction=0.5, smudge_max_ocl=0.45, smear_max_contrast=100.0,
                          smear_min_ridge_grey=95.0, smear_max_valley_grey=215.0, partial_edge_fraction=0.6,
                          off_centre_fraction=0.2, dark_max_contrast=float("inf"), very_dark_valley_grey=160.0,
                          crease_sigma_px=4.0, crease_residual_grey=18.0,
                          crease_min_length_mm=4.0, crease_min_elongation=4.0, crease_min_total_mm=12.0,
                          partial_min_solidity=float("inf"))


def _assess_capturing(image, region=None) -> dict:
    """``assess_print`` plus the inputs of its feedback (image, ROI, measures, frame) for re-deciding."""
    import ifb1.quality.feedback as fb

    seen: dict = {}
    real = fb.print_feedback

    def capture(img, **kw):
        seen.update(image=np.asarray(img), **kw)
        return real(img, **kw)

    with mock.patch.object(fb, "print_feedback", capture):
        q = fb.assess_print(image, region=region)
    if q.quality is None or "image" not in seen:
        return {"quality": q.quality, "codes": tuple(q.feedback.codes), "inputs": None}
    inputs = {k: seen[k] for k in ("image", "features", "actionable", "roi_mask", "within")}
    return {"quality": q.quality, "codes": tuple(q.feedback.codes), "inputs": inputs}


def collect_generated(n_forms: int, seed: int, log=print) -> list[dict]:
    """Assess every scored print of ``n_forms`` generated badly-inked forms."""
    from ifb1.forms import load_layout
    from ifb1.pipeline.form import SLAP_POSITIONS
    from ifb1.pipeline.read import read_scan
    from ifb1.samples.generate import FormOptions, generate_form, save_scan

    layout = load_layout(None)
    opts = FormOptions(ppi=300, poor_inking_rate=1.0, upside_down_rate=0.0, missing_rate=0.0)
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(n_forms):
            t = time.perf_counter()
            form = generate_form(seed, i, options=opts)
            path = Path(tmp) / f"form_{i:04d}.jpg"
            truth = save_scan(form, path, fmt="jpeg", ppi_in_metadata=300, jpeg_quality=85)
            damage = {b["position"]: b for b in truth["boxes"]}
            reading = read_scan(path, layout=layout)[0]
            if not reading.ok:
                log(f"form {i}: not read ({reading.error})")
                continue
            for box in reading.boxes:
                tb = damage.get(box.position) or {}
                if not box.present or box.position in SLAP_POSITIONS or not tb.get("damage"):
                    continue
                region = None
                if box.bbox is not None:  # as ifb1.pipeline.form.score_print
                    m = int(round(1.5 * box.ppi / 25.4))
                    h, w = box.crop.shape[:2]
                    x0, y0, x1, y1 = box.bbox
                    region = (max(0, x0 - m), max(0, y0 - m), min(w, x1 + m), min(h, y1 + m))
                r = _assess_capturing(box.crop, region=region)
                r.update(source=f"gen{seed}:{i}:{box.position}", damage=tb["damage"],
                         truth_quality=tb.get("quality"))
                out.append(r)
            log(f"form {i}: {time.perf_counter() - t:.1f} s, {len(out)} prints so far")
    return out


def collect_sd14(reference: Path, *, good: float = 60.0, poor: float = 20.0, log=print) -> list[dict]:
    """Assess the SD14 rolled prints with NFIQ 2.3 >= ``good`` or < ``poor`` (empty if absent)."""
    from PIL import Image

    table = reference / "nfiq2.csv"
    if not table.is_file():
        log(f"{reference}: absent, SD14 part skipped")
        return []
    out = []
    with table.open(newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["path"].startswith("sd14/") and r["nfiq2"]]
    for r in rows:
        s = float(r["nfiq2"])
        if poor <= s < good:
            continue
        img = np.asarray(Image.open(reference / r["path"]).convert("L"))
        a = _assess_capturing(img)
        a.update(source=r["path"], nist=s, group="good" if s >= good else "poor")
        out.append(a)
    log(f"SD14: {sum(x['group'] == 'good' for x in out)} good, {sum(x['group'] == 'poor' for x in out)} poor")
    return out


def decide(rec: dict, params) -> set[str]:
    """The feedback codes of one cached print under ``params``."""
    from ifb1.quality.feedback import print_feedback

    if rec["inputs"] is None:
        return set(rec["codes"])
    return set(print_feedback(**rec["inputs"], params=params).codes)


def rates(gen: list[dict], sd14: list[dict], params, *, severe: float = 0.6) -> dict[str, dict]:
    """Per code: generated detection (damage >= ``severe``), false flags (damage 0), SD14 rates."""
    gcodes = [decide(r, params) for r in gen]
    scodes = [decide(r, params) for r in sd14]
    res = {}
    for c in CODES + ("any",):
        row = {}
        kind = DAMAGE_OF.get(c)
        if c == "any":
            clean = [cs for r, cs in zip(gen, gcodes) if max(r["damage"].values()) == 0]
            row["gen_det"] = (float("nan"), 0)
            flagged = [bool(cs & set(CODES)) for cs in clean]
            row["gen_false"] = (np.mean(flagged) if flagged else float("nan"), len(flagged))
        elif kind is None:
            row["gen_det"] = (float("nan"), 0)
            flagged = [c in cs for cs in gcodes]
            row["gen_false"] = (np.mean(flagged) if flagged else float("nan"), len(flagged))
        else:
            det = [c in cs for r, cs in zip(gen, gcodes) if r["damage"][kind] >= severe]
            fal = [c in cs for r, cs in zip(gen, gcodes) if r["damage"][kind] == 0]
            row["gen_det"] = (np.mean(det) if det else float("nan"), len(det))
            row["gen_false"] = (np.mean(fal) if fal else float("nan"), len(fal))
        for g in ("good", "poor"):
            hit = [(bool(cs & set(CODES)) if c == "any" else c in cs)
                   for r, cs in zip(sd14, scodes) if r["group"] == g]
            row[f"sd14_{g}"] = (np.mean(hit) if hit else float("nan"), len(hit))
        res[c] = row
    return res


def _fmt(v: tuple[float, int]) -> str:
    return "  -  " if np.isnan(v[0]) else f"{100 * v[0]:3.0f} %"


def table(before: dict, after: dict) -> str:
    """Markdown table, before -> after per code."""
    cols = ("gen_det", "gen_false", "sd14_good", "sd14_poor")
    n = {c: next((after[k][c][1] for k in CODES if after[k][c][1]), 0) for c in cols}
    head = ("| code | generated detection (sev >= 0.6) | generated false flags (sev 0) "
            f"| SD14 good (n={n['sd14_good']}) | SD14 poor (n={n['sd14_poor']}) |")
    lines = [head, "|---|---|---|---|---|"]
    for c in CODES + ("any",):
        cells = []
        for col in cols:
            b, a = before[c][col], after[c][col]
            cells.append("-" if np.isnan(a[0]) and np.isnan(b[0]) else f"{_fmt(b)} -> {_fmt(a)} (n={a[1]})")
        lines.append(f"| {c if c != 'any' else 'any code (undamaged prints)'} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--forms", type=int, default=12, help="generated forms (about 12 scored prints each)")
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--reference", type=Path, default=REFERENCE)
    ap.add_argument("--cache", type=Path, help="pickle of the assessed prints: reused when present")
    ap.add_argument("--no-sd14", action="store_true")
    args = ap.parse_args(argv)
    from ifb1.quality.feedback import FeedbackParams

    if args.cache and args.cache.is_file():
        with args.cache.open("rb") as fh:
            gen, sd14 = pickle.load(fh)
    else:
        gen = collect_generated(args.forms, args.seed)
        sd14 = [] if args.no_sd14 else collect_sd14(args.reference)
        if args.cache:
            with args.cache.open("wb") as fh:
                pickle.dump((gen, sd14), fh)
    if not sd14:
        print("SD14 reference absent or skipped: only the generated columns are measured")
    before = rates(gen, sd14, before_params())
    after = rates(gen, sd14, FeedbackParams())
    print(f"{len(gen)} generated prints from {args.forms} forms; {len(sd14)} SD14 prints")
    print(table(before, after))
    return 0


if __name__ == "__main__":
    sys.exit(main())
