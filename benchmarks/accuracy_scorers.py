"""The two NFIQ 2 scorers on what ifb1 stores and exports, from generated IFB1 forms.

For every generated form (originals and scanned copies, 300 and 500 ppi) it
runs the form driver as the desk does (fast scorer) and as the nightly batch
does (``for_export``: NIST's NFIQ 2 confirms before export or deletion), and
reports in one run:

* **fast vs NIST on the stored image** of each scored print (rolled and plain
  thumbs): Pearson r, MAE, bias (fast - NIST), same side of 30, how often NIST
  computes no score while the fast scorer gives one; by original/copy and ppi;
* **the crop, on evidence**: NIST's NFIQ 2 of the whole box inside its border vs
  of the print's region (foreground + 1.5 mm), and the effect of the WSQ round
  trip (region before vs after WSQ 0.75 bpp), as failures and score shifts;
* **the export check**: each exported Type-14 record's 14.024 against NIST's
  NFIQ 2 run on its decoded 14.999 image (equal, and never a number where NFIQ 2
  gives none);
* **time**: each scorer per print, and per form the desk's path and the batch's
  path (with NIST where it applies).

Usage::

    .venv/bin/python benchmarks/accuracy_scorers.py --count 24 --seed 31 [--cache benchmarks/.cache/scorers]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np


def make_set(seed: int, count: int, cache: Path) -> list[tuple[Path, dict]]:
    from ifb1.samples.generate import FormOptions, generate_form, save_scan

    cache.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(1, count + 1):
        plan = {"ppi": (300, 500)[i % 2], "copy": i % 3 == 0}
        path = cache / f"form_{seed}_{i:04d}.png"
        if not path.exists():
            g = generate_form(seed, i, options=FormOptions(ppi=plan["ppi"], copy=plan["copy"], upside_down=False))
            save_scan(g, path, fmt="png", ppi_in_metadata=plan["ppi"])
        out.append((path, plan))
    return out


def stats(pairs: list[tuple[float | None, float | None]]) -> str:
    both = np.array([(a, b) for a, b in pairs if a is not None and b is not None], float)
    only_a = sum(1 for a, b in pairs if a is not None and b is None)
    if len(both) < 3:
        return f"n={len(both)}"
    d = both[:, 0] - both[:, 1]
    r = np.corrcoef(both.T)[0, 1]
    side = np.mean((both[:, 0] >= 30) == (both[:, 1] >= 30)) * 100
    return (f"n={len(both):4d}  r={r:.3f}  MAE={np.abs(d).mean():.2f}  bias={d.mean():+.2f}  "
            f"same side of 30={side:.1f} %  first scored, second not: {only_a}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=24)
    ap.add_argument("--seed", type=int, default=31)
    ap.add_argument("--cache", type=Path, default=Path(__file__).parent / ".cache" / "scorers")
    args = ap.parse_args(argv)

    from ifb1.export import parse_transaction
    from ifb1.export.ansi_nist import wsq_decode, wsq_encode
    from ifb1.batch import build_export
    from ifb1.pipeline.form import ProcessOptions, process_form
    from ifb1.pipeline.read import read_scan
    from ifb1.quality.feedback import assess_print
    from ifb1.quality.nist import nist_available, nist_version, score_nist

    if not nist_available():
        print("skipped: NIST's NFIQ 2 (nbis-py) does not load here")
        return 0
    forms = make_set(args.seed, args.count, args.cache)
    groups: dict[str, list] = {}
    crop_box, crop_wsq = [], []
    t_fast, t_nist, t_desk, t_batch = [], [], [], []
    export_checked = export_equal = export_invented = 0
    for path, plan in forms:
        key = f"{'copy' if plan['copy'] else 'original'} {plan['ppi']} ppi"
        t = time.perf_counter()
        desk = process_form(path, options=ProcessOptions(is_copy=plan["copy"]))
        t_desk.append(time.perf_counter() - t)
        t = time.perf_counter()
        batch = process_form(path, options=ProcessOptions(is_copy=plan["copy"], for_export=True))
        t_batch.append(time.perf_counter() - t)
        if not desk.ok:
            print(f"{path.name}: rejected: {desk.error}")
            continue
        # fast vs NIST on the stored image of every scored print
        for p in desk.prints:
            if p.scorer is None:
                continue
            t = time.perf_counter()
            fq = assess_print(p.image).quality
            t_fast.append(time.perf_counter() - t)
            t = time.perf_counter()
            nq = score_nist(p.image).quality
            t_nist.append(time.perf_counter() - t)
            groups.setdefault(key, []).append((fq, nq))
        # the crop, on evidence: whole box vs the region, and the WSQ round trip
        reading = read_scan(path)[0]
        regions = {p.position: p.image_box_px for p in desk.prints if p.image_box_px is not None}
        for b in reading.boxes:
            if not b.present or b.position > 12 or b.position not in regions:
                continue
            x0, y0, x1, y1 = regions[b.position]
            region = b.crop[y0:y1, x0:x1]
            after = score_nist(wsq_decode(wsq_encode(region))[0]).quality
            crop_box.append((score_nist(b.crop).quality, after))
            crop_wsq.append((score_nist(region).quality, after))
        # the export check: 14.024 vs NIST's NFIQ 2 of the decoded 14.999
        data = build_export(batch, case_ref=None, policy=ProcessOptions().policy)
        if data is not None:
            for rec in parse_transaction(data).prints:
                if rec.image is None or rec.position > 12:
                    continue
                export_checked += 1
                nq = score_nist(rec.image).quality
                written = rec.quality[0][1] if rec.quality else None
                export_equal += written == (255 if nq is None else nq)
                export_invented += nq is None and written is not None and written <= 100

    print(f"{len(forms)} generated forms (seed {args.seed}); reference: {nist_version()}")
    print("\nfast vs NIST NFIQ 2 on the stored image of each scored print (first = fast, second = NIST):")
    allp = [x for v in groups.values() for x in v]
    print(f"  {'all':<20} {stats(allp)}")
    for k in sorted(groups):
        print(f"  {k:<20} {stats(groups[k])}")
    print("\nthe crop (NIST NFIQ 2; first = the alternative, second = the stored image: region + 1.5 mm after WSQ):")
    print(f"  {'whole box':<20} {stats(crop_box)}")
    print(f"  {'region before WSQ':<20} {stats(crop_wsq)}")
    nb = sum(1 for a, _ in crop_box if a is None)
    nr = sum(1 for _, b in crop_box if b is None)
    print(f"  NIST computes no score: whole box {nb} of {len(crop_box)}, stored image {nr} of {len(crop_box)}")
    print(f"\nexport check: {export_equal} of {export_checked} exported prints carry in 14.024 exactly NIST NFIQ 2 "
          f"of their decoded 14.999 (255 where it computes none); a number where NFIQ 2 gives none: {export_invented}")
    ms = lambda xs: f"{np.median(xs) * 1000:.0f} ms"  # noqa: E731
    print(f"\ntime per print (median, one core): fast {ms(t_fast)}, NIST {ms(t_nist)} "
          f"({np.median(t_nist) / np.median(t_fast):.1f}x the fast scorer)")
    print(f"time per form (median): desk path (fast) {np.median(t_desk):.2f} s; batch path (NIST before export or "
          f"deletion) {np.median(t_batch):.2f} s, +{np.median(t_batch) - np.median(t_desk):.2f} s a form")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
