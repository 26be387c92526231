"""``ifb1 report``: figures from the case record, pages, examples, PDF, and the batch summary's line.

Two records, both of generated data only:

- a synthetic record of a few hundred forms built directly through the Record
  API (:mod:`ifb1.samples.record`), whose truth is known form by form: the
  report's figures are checked against it;
- a record filled by ``ifb1 batch`` with generated scans from several forces,
  each with its own habitual ink damage (``FormOptions.damage_kinds``): the
  report finds each force's fault, and its pages open in headless Chromium
  (Debian's ``/usr/bin/chromium`` driven by Playwright) with no console error
  and every picture loaded, and print to the expected number of PDF pages.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import shutil
import stat
import subprocess
import sys
from collections import Counter
from datetime import date
from pathlib import Path
from statistics import median

import numpy as np
import pytest
from click.testing import CliRunner

from ifb1.cli import main
from ifb1.records import open_record

CHROMIUM = "/usr/bin/chromium"
THRESHOLD = 30
MAX_DEFECTIVE = 2


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def run_report(*args: str) -> dict | None:
    res = CliRunner().invoke(main, ["report", *args])
    assert res.exit_code == 0, res.output
    return json.loads(res.output) if "--json" in args else None


# --------------------------------------------------------------------------- small parts


def test_wilson_interval_known_values():
    from ifb1.reports.figures import wilson

    # Brown, Cai & DasGupta (2001), Table 1 style values; n = 10.
    lo, hi = wilson(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.2775, abs=1e-4)
    lo, hi = wilson(5, 10)
    assert (lo, hi) == (pytest.approx(0.2366, abs=1e-4), pytest.approx(0.7634, abs=1e-4))
    # The same share is far less certain from 3 forms than from 300.
    small, big = wilson(3, 3), wilson(300, 300)
    assert small[0] < 0.5 < big[0]
    assert wilson(0, 0) == (0.0, 1.0)


def test_advice_reuses_the_feedback_wording_and_says_what_to_do():
    from ifb1.quality.feedback import MESSAGES
    from ifb1.reports.advice import MISSING, NO_CAUSE, advice_for, code_of

    assert code_of("too dark") == "too_dark" and code_of("off centre") == "off_centre"
    assert code_of("four-finger slap: not scored until slaps are split into fingers") is None
    a = advice_for("too_dark")
    assert a.label == "Too dark (over-inked)" and "Use less ink and lighter pressure." in a.advice
    for code in (*MESSAGES, MISSING, NO_CAUSE):
        a = advice_for(code)
        assert a.label and a.advice and a.label != a.advice
    assert "XX" in advice_for(MISSING).advice and "UP" in advice_for(MISSING).advice


def test_damage_kinds_restrict_the_faults_and_keep_the_draws():
    from ifb1.samples.ink import random_damage

    for seed in range(40):
        a, b = np.random.default_rng(seed), np.random.default_rng(seed)
        d = random_damage(a, quality="poor", kinds=("over_ink",))
        random_damage(b, quality="poor")
        assert d.over_ink >= 0.65 and max(d.under_ink, d.smudge, d.partial, d.crease) < 0.15
        assert a.random() == b.random()  # the same draws were made either way
    with pytest.raises(ValueError, match="damage kinds"):
        random_damage(np.random.default_rng(0), quality="fair", kinds=("ketchup",))


def test_force_page_names_never_come_from_the_raw_text():
    from ifb1.reports.figures import force_slug

    a, b = force_slug("../../etc/Kent Police"), force_slug("kent   POLICE")
    assert re.fullmatch(r"force-[a-z0-9-]+", a) and "/" not in a and ".." not in a
    assert b == force_slug("Kent Police") and a != b
    assert force_slug(None) == force_slug("  ") == "force-not-recorded"


# --------------------------------------------------------------------------- a synthetic record, known truth

def _profiles():
    from ifb1.samples.record import ForceProfile

    return (
        ForceProfile("Northshire Police", 3.0, 40.0, (("too_dark", 0.35),), missing_rate=0.03, copy_rate=0.5),
        ForceProfile("Eastvale Constabulary", 2.0, 70.0, (("too_light", 0.1),), missing_rate=0.0, copy_rate=0.2),
        ForceProfile("Westmoor Police", 0.15, 30.0, (("smudged", 0.5),), missing_rate=0.05, copy_rate=0.5),
        ForceProfile(None, 0.6, 55.0, (("partial", 0.2),)),
    )


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    from ifb1.samples.record import fill_record, print_pool

    root = tmp_path_factory.mktemp("synthetic")
    pool = print_pool(root / "pool", seed=4, per_kind=1)
    with open_record(root / "data") as rec:
        truth = fill_record(rec, n_forms=240, profiles=_profiles(), start=date(2025, 1, 1), months=4, seed=11,
                            crops_dir=root / "out" / "crops", crop_pool=pool)
    return root, truth


def _expected(forms) -> dict:
    """The figures of a group of synthetic forms, counted here from the truth."""
    rolled = [p for f in forms for p in f.prints if p.position <= 10]
    scored = [p.quality for p in rolled if p.present and p.quality is not None]
    poor_prints = sum(1 for p in rolled if (p.present and p.quality is not None and p.quality < THRESHOLD)
                      or (not p.present and p.annotation_code is None) or (p.present and p.quality is None))
    boxes = sum(1 for p in rolled if p.present or p.annotation_code is None)

    def poor(f) -> bool:
        bad = sum(1 for p in f.prints if p.position <= 10 and (
            (p.present and (p.quality is None or p.quality < THRESHOLD)) or (not p.present and p.annotation_code is None)))
        return bad > MAX_DEFECTIVE or f.verdict == "unsuitable"

    by_pos = {}
    for pos in range(1, 13):
        q = [p.quality for f in forms for p in f.prints if p.position == pos and p.present and p.quality is not None]
        by_pos[pos] = (median(q) if q else None, sum(v < THRESHOLD for v in q), len(q))
    codes = Counter(c for p in rolled for c in p.feedback)
    return {
        "forms": len(forms), "copies": sum(f.is_copy for f in forms),
        "verdicts": Counter(f.verdict for f in forms), "deleted": sum(f.deleted for f in forms),
        "manual": sum(f.manual_entry for f in forms), "median": median(scored) if scored else None,
        "poor_prints": (poor_prints, boxes), "poor_forms": sum(poor(f) for f in forms),
        "positions": by_pos, "codes": codes,
        "months": Counter(f.received_utc[:7] for f in forms),
    }


def _wilson_low(k: int, n: int) -> float:
    z = 1.959963984540054
    p = k / n
    return (p + z * z / (2 * n) - z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))) / (1 + z * z / n)


def _check_group(g: dict, exp: dict) -> None:
    assert g["forms"]["total"] == exp["forms"]
    assert g["forms"]["copies"] == exp["copies"] and g["forms"]["originals"] == exp["forms"] - exp["copies"]
    for v in ("suitable", "review", "unsuitable"):
        assert g["verdicts"][v] == exp["verdicts"].get(v, 0), v
    assert g["deletions"]["done"] == exp["deleted"]
    assert g["manual_entries"] == exp["manual"]
    assert g["median_rolled_score"] == exp["median"]
    assert (g["poor_rolled_prints"]["count"], g["poor_rolled_prints"]["total"]) == exp["poor_prints"]
    assert g["forms_with_poor_prints"]["count"] == exp["poor_forms"]
    for p in g["positions"][:12]:
        med, below, n = exp["positions"][p["position"]]
        assert (p["median"], p["below_threshold"]["count"], p["scored"]) == (med, below, n), p["position"]
    flagged = {p["code"]: p["prints"] for p in g["problems"] if p["code"] not in ("missing_unannotated",
                                                                                    "no_single_cause")}
    assert flagged == {c.replace(" ", "_"): k for c, k in exp["codes"].items()}
    assert {m["month"]: m["forms"] for m in g["months"] if m["forms"]} == dict(exp["months"])


def test_figures_match_the_synthetic_truth(synthetic, tmp_path):
    root, truth = synthetic
    out = tmp_path / "reports"
    doc = run_report("--data", str(root / "data"), "--out", str(out), "--json")
    assert doc["schema"] == "ifb1-report/1" and doc["rule"]["threshold"] == THRESHOLD
    assert doc["period"]["months"] == ["2025-01", "2025-02", "2025-03", "2025-04"]
    _check_group(doc["national"], _expected(truth))
    groups = {g["name"]: g for g in doc["forces"]}
    assert set(groups) == {"Northshire Police", "Eastvale Constabulary", "Westmoor Police", "force not recorded"}
    for name, g in groups.items():
        forms = [f for f in truth if (f.force or "force not recorded") == name]
        _check_group(g, _expected(forms))
    # Forms without a force are reported, never ranked; the forces are ranked on the interval's lower end.
    assert groups["force not recorded"]["rank"] is None and not groups["force not recorded"]["force_recorded"]
    ranked = sorted((g for g in doc["forces"] if g["rank"]), key=lambda g: g["rank"])
    lows = [_wilson_low(g["forms_with_poor_prints"]["count"], g["forms_with_poor_prints"]["total"]) for g in ranked]
    assert lows == sorted(lows, reverse=True)
    assert [g["forms_with_poor_prints"]["low"] for g in ranked] == [round(v, 4) for v in lows]
    # Each force's habitual fault is its first problem.
    assert groups["Northshire Police"]["problems"][0]["code"] == "too_dark"
    assert groups["Westmoor Police"]["problems"][0]["code"] == "smudged"
    # Pages: one per group and the overview, all owner-only; pictures only with the personal-data notice.
    manifest = json.loads((out / "manifest.json").read_text())
    assert len(manifest["pages"]) == 4 and mode(out) == 0o700
    for f in manifest["files"]:
        assert mode(out / f) == 0o600, f
    for page in manifest["pages"]:
        text = (out / page["file"]).read_text()
        assert ("data:image/jpeg;base64," in text) == page["personal_data"] == ("Personal data." in text)
        # Self-contained: nothing to run, nothing fetched (links only to the other pages, pictures inline).
        assert not re.search(r"<script|<link|@import|url\((?!#)", text)
        assert set(re.findall(r'(?:src|href)="([^"#][^":]*):', text)) <= {"data"}
    assert all(p["personal_data"] for p in manifest["pages"])
    index = (out / "index.html").read_text()
    assert "data:image" not in index and "Personal data." not in index
    for g in groups.values():
        assert f'href="{g["page"]}"' in index


def test_period_and_force_selection(synthetic, tmp_path):
    root, truth = synthetic
    out = tmp_path / "reports"
    run_report("--data", str(root / "data"), "--out", str(out))
    before = set(json.loads((out / "manifest.json").read_text())["files"])
    doc = run_report("--data", str(root / "data"), "--out", str(out), "--from", "2025-02-01", "--to", "2025-03-31",
                     "--force", "northshire  police", "--force", "force not recorded", "--json", "--no-examples")
    inside = [f for f in truth if "2025-02-01" <= f.received_utc[:10] <= "2025-03-31"]
    _check_group(doc["national"], _expected(inside))
    assert doc["period"] == {"from": "2025-02-01", "to": "2025-03-31", "months": ["2025-02", "2025-03"]}
    pages = {g["name"]: g["page"] for g in doc["forces"]}
    assert pages["Eastvale Constabulary"] is None and pages["Westmoor Police"] is None
    assert pages["Northshire Police"] and pages["force not recorded"]
    # The folder holds this report only: the other forces' pages of the run before are gone.
    now = set(json.loads((out / "manifest.json").read_text())["files"])
    assert {p.name for p in out.iterdir()} == now | {"manifest.json"}
    assert before - now and all(not (out / f).exists() for f in before - now)
    for name in now:
        if name.endswith(".html"):
            assert "data:image" not in (out / name).read_text()  # --no-examples: no pictures at all


def test_bad_options_fail_clearly(synthetic, tmp_path):
    root, _ = synthetic
    args = ["report", "--data", str(root / "data"), "--out", str(tmp_path / "r")]
    for extra, message in ((["--force", "Atlantis Police"], "Atlantis Police"),
                           (["--from", "2025-13-01"], "--from must be a date"),
                           (["--from", "2025-03-01", "--to", "2025-02-01"], "before --from")):
        res = CliRunner().invoke(main, [*args, *extra])
        assert res.exit_code == 2 and message in res.output, res.output
    res = CliRunner().invoke(main, ["report", "--data", str(tmp_path / "nothing"), "--out", str(tmp_path / "r")])
    assert res.exit_code == 2 and "no ifb1 record here" in res.output


def test_examples_skip_deleted_forms_and_missing_files(synthetic, tmp_path):
    from ifb1.records.queries import live_crops
    from ifb1.reports.examples import pick_examples
    from ifb1.reports.figures import ExampleCandidate

    root, truth = synthetic
    deleted = next(f for f in truth if f.deleted)
    kept = [f for f in truth if not f.deleted and any(p.crop_path for p in f.prints)][:2]
    cands = [ExampleCandidate(f.form_key, p.position, p.quality, p.crop_path, f.received_utc[:7])
             for f in (deleted, *kept) for p in f.prints if p.crop_path and p.position <= 2]
    gone = Path(next(c.crop_path for c in cands if c.form_key == kept[1].form_key))
    spare = tmp_path / "spare.png"
    shutil.copy(gone, spare)
    gone.unlink()  # registered, but the file is gone
    try:
        with open_record(root / "data", readonly=True) as rec:
            live = live_crops(rec, {c.form_key for c in cands})
        assert deleted.form_key not in live
        thumbs, skipped = pick_examples({"k": tuple(cands)}, live, limit=10)["k"]
    finally:
        shutil.copy(spare, gone)
    n_deleted = sum(1 for c in cands if c.form_key == deleted.form_key)
    assert len(thumbs) == len(cands) - n_deleted - 1 and skipped == n_deleted + 1
    assert all(t.data_uri.startswith("data:image/jpeg;base64,") and max(t.width, t.height) <= 200 for t in thumbs)


def test_latest_reports_for_the_batch_summary(synthetic, tmp_path):
    from ifb1.reports import latest_reports, reports_summary_line

    root, truth = synthetic
    out = tmp_path / "out"
    assert latest_reports(out) is None
    assert "none under" in reports_summary_line(out)
    run_report("--data", str(root / "data"), "--out", str(out / "reports"), "--no-examples")
    r = latest_reports(out)
    assert r is not None and r.index == out / "reports" / "index.html" and r.forms == len(truth) and r.pages == 4
    line = reports_summary_line(out)
    assert str(r.index) in line and "2025-01 to 2025-04" in line and "made before" not in line
    assert "made before this batch" in reports_summary_line(out, since_utc="2999-01-01T00:00:00Z")
    assert json.loads(json.dumps(r.to_dict()))["index"] == str(r.index)


def test_report_help_does_not_import_numpy():
    code = ("import sys, ifb1.cli; ifb1.cli.main(['report', '--help'], standalone_mode=False); "
            "print('numpy' in sys.modules, 'matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("False False")


# --------------------------------------------------------------------------- a record filled by ifb1 batch

# Each force inks badly in its own way (the generator's damage kinds); 300 ppi keeps it fast.
FORCES = {"Over Ink Police": "over_ink", "Under Ink Constabulary": "under_ink", "Smudge Police": "smudge"}
EXPECTED_PROBLEM = {"over_ink": "too_dark", "under_ink": "too_light", "smudge": "smudged"}
COPY_FORCE = "Copies Constabulary"
BASE = dict(ppi=300, upside_down=False, poor_inking_rate=1.0, missing_rate=0.0, barcode_damage_rate=0.0)
POLICY = """[quality]
reference = "none"
require_reference_for_deletion = false
"""


@pytest.fixture(scope="module")
def batch_record(tmp_path_factory):
    from ifb1.samples.generate import FormOptions, generate_form, save_scan

    root = tmp_path_factory.mktemp("batch")
    tray = root / "tray"
    tray.mkdir()
    rows, index = [], 0
    for force, kind in FORCES.items():
        for _ in range(2):
            index += 1
            name = f"f{index:02d}.png"
            save_scan(generate_form(21, index, options=FormOptions(**BASE, damage_kinds=(kind,))), tray / name,
                      fmt="png", ppi_in_metadata=300)
            rows.append((name, "no", force))
    # A badly degraded copy (unsuitable, then deleted) and a form whose force nobody wrote down.
    save_scan(generate_form(3, 3, options=FormOptions(ppi=300, copy=True, poor_inking_rate=1.0,
                                                      copy_degradation=(1.0, 1.0), upside_down=False)),
              tray / "copy.png", fmt="png", ppi_in_metadata=300)
    rows.append(("copy.png", "yes", COPY_FORCE))
    save_scan(generate_form(21, 99, options=FormOptions(**BASE)), tray / "noforce.png", fmt="png", ppi_in_metadata=300)
    rows.append(("noforce.png", "no", ""))
    for p in tray.glob("*.json"):
        p.unlink()
    manifest = root / "manifest.csv"
    with manifest.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "copy", "force", "case_ref"])
        w.writerows((*r, "") for r in rows)
    policy = root / "policy.toml"
    policy.write_text(POLICY)
    data, out = root / "data", root / "out"
    res = CliRunner().invoke(main, ["batch", str(tray), "--out", str(out), "--data", str(data), "--workers", "2",
                                    "--manifest", str(manifest), "--policy", str(policy)])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(main, ["delete", "--data", str(data)])
    assert res.exit_code == 0 and "1 deleted" in res.output, res.output
    reports = out / "reports"
    res = CliRunner().invoke(main, ["report", "--data", str(data), "--out", str(reports), "--json"])
    assert res.exit_code == 0, res.output
    return root, json.loads(res.output), reports


def test_batch_record_report_finds_each_forces_fault(batch_record):
    root, doc, reports = batch_record
    groups = {g["name"]: g for g in doc["forces"]}
    assert set(groups) == {*FORCES, COPY_FORCE, "force not recorded"}
    assert groups["force not recorded"]["forms"]["total"] == 1  # never dropped
    for force, kind in FORCES.items():
        g = groups[force]
        assert g["forms"] == {"total": 2, "originals": 2, "copies": 0, "processed": 2}
        top = max((p for p in g["problems"] if p["code"] not in ("missing_unannotated", "no_single_cause")),
                  key=lambda p: p["prints"])
        assert top["code"] == EXPECTED_PROBLEM[kind], g["problems"]
    copies = groups[COPY_FORCE]
    assert copies["forms"]["copies"] == 1 and copies["verdicts"]["unsuitable"] == 1
    assert copies["deletions"] == {"done": 1, "pending": 0}
    assert doc["national"]["deletions"] == {"done": 1, "pending": 0}
    # The figures are the record's: counted here through the Record API.
    with open_record(root / "data", readonly=True) as rec:
        forms = rec.forms()
        for name, g in groups.items():
            mine = [f for f in forms if (f.force or "force not recorded") == name]
            scores = [p.quality for f in mine for p in rec.prints(f.form_key)
                      if p.position <= 10 and p.present and p.quality is not None]
            assert g["median_rolled_score"] == (median(scores) if scores else None)
            for v in ("suitable", "review", "unsuitable"):
                assert g["verdicts"][v] == sum(f.verdict == v for f in mine)
            flagged = Counter(c for f in mine for p in rec.prints(f.form_key) if p.position <= 10
                              for c in p.feedback if c in ("too dark", "too light", "smudged", "partial"))
            got = {p["code"]: p["prints"] for p in g["problems"]}
            for c, k in flagged.items():
                assert got[c.replace(" ", "_")] == k


def _browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed (Debian: apt-get install chromium)")
    playwright = pytest.importorskip("playwright.sync_api", reason="playwright is in the test extra")
    return playwright.sync_playwright()


def test_pages_open_in_chromium_without_errors_and_every_image_loads(batch_record, tmp_path):
    _, doc, reports = batch_record
    manifest = json.loads((reports / "manifest.json").read_text())
    pages = ["index.html"] + [p["file"] for p in manifest["pages"]]
    with _browser() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            problems: list[str] = []
            page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type in (
                "error", "warning") else None)
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
            for name in pages:
                page.goto((reports / name).as_uri())
                page.wait_for_load_state("load")
                images = page.eval_on_selector_all(
                    "img", "els => els.map(e => [e.complete, e.naturalWidth, e.getAttribute('src').slice(0, 22)])")
                assert all(ok and w > 0 and src.startswith("data:image/jpeg") for ok, w, src in images), (name, images)
                assert page.locator("svg.hands").count() == 1 and page.locator("svg.chart").count() >= 1
                # Nothing is drawn outside the page's width (a table or chart that does not fit).
                assert page.evaluate("document.documentElement.scrollWidth") <= 1280, name
                if name != "index.html":
                    expect = next(p for p in manifest["pages"] if p["file"] == name)["personal_data"]
                    assert (len(images) > 0) == expect
            over = next(p["file"] for p in manifest["pages"] if p["force"] == "Over Ink Police")
            page.goto((reports / over).as_uri())
            shot = tmp_path / "force-page.png"
            page.screenshot(path=str(shot), full_page=True)
            clean = list(problems)
            # The check can fail: a page that tries to fetch a picture gets a console error (its CSP).
            tampered = tmp_path / "tampered.html"
            tampered.write_text((reports / over).read_text().replace("<main>", '<main><img src="https://example.invalid/x.png">'))
            page.goto(tampered.as_uri())
            page.wait_for_load_state("load")
        finally:
            browser.close()
    assert clean == []
    assert any("example.invalid" in p or "Content Security Policy" in p for p in problems), problems
    from PIL import Image

    with Image.open(shot) as im:
        assert im.width == 1280 and im.height > 1500


def test_pdf_has_one_sheet_per_section(batch_record, tmp_path):
    import pypdfium2

    root, _, _ = batch_record
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed (Debian: apt-get install chromium)")
    out = tmp_path / "pdfs"
    res = CliRunner().invoke(main, ["report", "--data", str(root / "data"), "--out", str(out), "--pdf"])
    assert res.exit_code == 0, res.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert sorted(p.name for p in (out / "pdf").iterdir()) == sorted(
        [Path(p["pdf"]).name for p in manifest["pages"]] + ["index.pdf"])
    for p in manifest["pages"]:
        html = (out / p["file"]).read_text()
        sections = html.count('<section class="page')
        assert sections == (4 if p["personal_data"] else 3)
        pdf = out / p["pdf"]
        assert mode(pdf) == 0o600
        assert len(pypdfium2.PdfDocument(pdf)) == sections, p["file"]
    assert len(pypdfium2.PdfDocument(out / "pdf" / "index.pdf")) == 2


def test_pdf_without_chromium_says_what_to_do(synthetic, tmp_path, monkeypatch):
    root, _ = synthetic
    monkeypatch.setenv("IFB1_CHROMIUM", str(tmp_path / "no-such-chromium"))
    res = CliRunner().invoke(main, ["report", "--data", str(root / "data"), "--out", str(tmp_path / "r"), "--pdf",
                                    "--no-examples"])
    assert res.exit_code == 2 and "needs headless Chromium" in res.output and "apt-get install chromium" in res.output
    assert (tmp_path / "r" / "index.html").is_file()  # the HTML pages were written first
