"""`ifb1 process`: quality, feedback, copy check and verdict per form (generated 300 ppi forms)."""

from __future__ import annotations

import json
import stat

import numpy as np
import pytest
from click.testing import CliRunner

from ifb1.commands.process import process
from ifb1.outputs.summary import summary_lines
from ifb1.pipeline.form import SLAP_POSITIONS, CopyCheck, FormResult, PrintResult
from ifb1.pipeline.policy import Verdict
from ifb1.samples.generate import FormOptions, generate_form, save_scan

SEED = 23
READ_STAGES = {"decode", "register", "barcode", "segment"}
FORM_STAGES = {"quality", "copy_check", "verdict", "preview", "write", "total"}


@pytest.fixture(scope="module")
def scan(tmp_path_factory):
    """One generated original at 300 ppi (PNG, resolution in the file) and its ground truth."""
    d = tmp_path_factory.mktemp("scan")
    form = generate_form(SEED, 1, options=FormOptions(ppi=300, upside_down=False, missing_rate=1.0,
                                                       annotation_rate=0.0))
    path = d / "form.png"
    truth = save_scan(form, path, fmt="png", ppi_in_metadata=300)
    return path, truth


@pytest.fixture(scope="module")
def strict_policy(tmp_path_factory):
    """Every print is poor (threshold 100, no borderline band): the verdict hinges on --copy."""
    p = tmp_path_factory.mktemp("policy") / "strict.toml"
    p.write_text("[verdict]\nmin_quality = 100\nborderline_margin = 0\n", encoding="utf-8")
    return p


def _mode(p):
    return stat.S_IMODE(p.stat().st_mode)


def test_json_has_quality_feedback_copy_check_verdict_and_timings(scan, tmp_path):
    path, truth = scan
    out = tmp_path / "out"
    res = CliRunner().invoke(process, [str(path), "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    r = json.loads(res.output)
    assert r["status"] == "ok" and r["form_id"] == truth["form_id"]
    # The reader's keys are all still there.
    assert {"barcode", "ppi", "ppi_source", "upside_down", "rotation_deg", "manual_entry", "output"} <= set(r)
    assert READ_STAGES | FORM_STAGES <= set(r["timings_ms"])
    assert r["timings_ms"]["total"] >= r["timings_ms"]["quality"] > 0

    present_truth = {b["position"] for b in truth["boxes"] if b.get("present", True)}
    assert len(present_truth) < 14  # the form has missing fingers: absent boxes are covered
    for p in r["prints"]:
        assert {"quality", "quality_status", "quality_note", "feedback", "file"} <= set(p)
        assert set(p["feedback"]) == {"codes", "messages"}
        assert len(p["feedback"]["codes"]) == len(p["feedback"]["messages"])
        if not p["present"]:
            assert p["quality"] is None and p["quality_status"] == "absent" and p["file"] is None
        elif p["position"] in SLAP_POSITIONS:
            # Slaps are not scored until split: null quality, the reason in the feedback.
            assert p["quality"] is None and p["quality_status"] == "not-scored"
            assert p["feedback"]["codes"] == ["not_scored"] and "slap" in p["feedback"]["messages"][0]
        else:
            assert p["quality_status"] == "scored" and isinstance(p["quality"], int) and 0 <= p["quality"] <= 100
    assert {p["position"] for p in r["prints"] if p["present"]} == present_truth

    assert r["is_copy"] is False
    assert r["copy"]["checked"] is True and r["copy"]["marked_copy"] is False
    assert isinstance(r["copy"]["looks_like_copy"], bool) and r["copy"]["note"]
    v = r["verdict"]
    assert v["verdict"] in ("suitable", "review", "unsuitable") and v["reasons"]
    missing_rolled = sorted(set(range(1, 11)) - present_truth)
    assert set(missing_rolled) <= set(v["defective_positions"])
    assert v["verdict"] != "unsuitable"  # an original is never unsuitable

    folder = out / r["output"]
    saved = json.loads((folder / "result.json").read_text())
    assert saved["verdict"] == v and [p["quality"] for p in saved["prints"]] == [p["quality"] for p in r["prints"]]
    for f in [folder / "result.json", folder / "preview.jpg", *(folder / "prints").iterdir()]:
        assert _mode(f) == 0o600, f
    assert sorted(f.name for f in (folder / "prints").iterdir()) == sorted(
        f"{p}.png" for p in present_truth)


def test_copy_flag_and_policy_decide_the_verdict(scan, strict_policy, tmp_path):
    path, _ = scan
    out = tmp_path / "out"
    original = CliRunner().invoke(process, [str(path), "--out", str(out), "--json", "--policy", str(strict_policy)])
    copy = CliRunner().invoke(process, [str(path), "--out", str(out), "--json", "--policy", str(strict_policy),
                                        "--copy"])
    assert original.exit_code == 0 and copy.exit_code == 0, (original.output, copy.output)
    o, c = json.loads(original.output), json.loads(copy.output)
    # An original with poor prints goes to review (never deleted); the same scan marked a copy is unsuitable.
    assert o["verdict"]["verdict"] == "review"
    assert any("original with poor prints is never deleted" in x for x in o["verdict"]["reasons"])
    assert c["verdict"]["verdict"] == "unsuitable" and c["is_copy"] is True
    assert c["copy"] == {"marked_copy": True, "looks_like_copy": False, "checked": False,
                         "note": "marked as a scanned copy: not checked"}
    assert any("below 100" in x for x in c["verdict"]["reasons"])

    human = CliRunner().invoke(process, [str(path), "--out", str(out), "--policy", str(strict_policy), "--copy"])
    assert human.exit_code == 0, human.output
    lines = human.output.splitlines()
    assert lines[0].startswith("OK ") and "marked as a scanned copy" in lines[0]
    # an unsuitable copy is decided on NIST's NFIQ 2 where it is installed
    from ifb1.quality.nist import nist_available

    assert lines[1] == "  VERDICT: UNSUITABLE" + (" (decided on NIST's NFIQ 2)" if nist_available() else "")
    finger_lines = [ln for ln in lines if ln[:8].strip().isdigit()]
    assert [int(ln.split()[0]) for ln in finger_lines] == list(range(1, 15))
    scored = [ln for ln in finger_lines if "POOR" in ln]
    assert len(scored) == sum(1 for p in c["prints"] if p["quality"] is not None)
    assert lines[-1].startswith(f"  Files: {out / c['output']}/")


def test_bad_policy_file_is_named(scan, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[verdict]\nmin_quality = 'high'\n", encoding="utf-8")
    res = CliRunner().invoke(process, [str(scan[0]), "--out", str(tmp_path / "o"), "--policy", str(bad)])
    assert res.exit_code == 2 and "bad.toml" in res.output and "min_quality" in res.output


def _result(**kw) -> FormResult:
    prints = tuple(
        PrintResult(position=i, finger="right thumb", impression="rolled" if i <= 10 else "plain", present=True,
                    quality=55, quality_status="scored", feedback_codes=("too_dark",),
                    feedback=("Too dark (over-inked): the ridges run together. Use less ink and lighter pressure.",))
        for i in range(1, 13))
    reading = {"source": "a.png", "status": "ok", "form_id": None, "manual_entry": True,
               "prints": [{"position": p.position, "finger": p.finger, "impression": p.impression,
                           "present": True} for p in prints]}
    base = dict(source="a.png", status="ok", sha256="0" * 64, prints=prints, reading=reading,
                verdict=Verdict("review", ("the barcode could not be read: enter the form id by hand",), ()),
                copy=CopyCheck(looks_like_copy=True, checked=True, note="halftone texture 0.9 > 0.6"))
    return FormResult(**{**base, **kw})


def test_original_that_looks_like_a_copy_is_warned_and_summary_reads_well():
    d = _result().to_dict()
    assert any("looks like a scanned copy" in w and "--copy" in w for w in d["warnings"])
    lines = summary_lines(d, min_quality=30)
    assert lines[0] == "OK a.png: MANUAL ENTRY: no barcode read, enter the form id by hand"
    assert lines[1] == "  VERDICT: REVIEW" and lines[2].startswith("    - the barcode could not be read")
    assert any(ln.startswith("  WARNING: marked as an original but looks like a scanned copy") for ln in lines)
    # A line per print with its score and its problem by name; the advice once.
    assert sum("55  Too dark (over-inked)" in ln for ln in lines) == 12
    assert sum("Use less ink" in ln for ln in lines) == 1
    # Marked as a copy: no warning (the detector is not even run on copies).
    d2 = _result(is_copy=True, copy=CopyCheck(False, False, "marked as a scanned copy: not checked")).to_dict()
    assert d2["warnings"] == []


def test_scoring_region_gives_the_features_of_the_print_and_judges_position_in_the_box():
    from ifb1.quality.features import FEATURE_NAMES, compute_features
    from ifb1.quality.feedback import assess_print
    from ifb1.samples.fingerprint import make_master
    from ifb1.samples.impression import rolled_impression
    from ifb1.samples.ink import Damage, ink_print

    rng = np.random.default_rng(3)
    p = ink_print(rolled_impression(make_master(rng, finger=2), rng), rng, damage=Damage())
    fp = np.clip(np.rint(255 * (1 - p.density)), 0, 255).astype(np.uint8)
    h, w = fp.shape
    box = np.full((h + 200, w + 600), 245, np.uint8)
    box[20:20 + h, 580:580 + w] = fp  # far right of its box
    box[h // 2:h // 2 + 8, 40:300] = 30  # a pen stroke beside the print, outside the region
    region = (560, 0, 600 + w, 40 + h)
    q = assess_print(box, region=region)
    ref = compute_features(box[0:40 + h, 560:600 + w])
    assert q.features == {k: ref[k] for k in FEATURE_NAMES}
    assert "off_centre" in q.feedback.codes and q.feedback.measures["centre_offset"] > 0.2
    alone = assess_print(box[0:40 + h, 560:600 + w]).feedback
    assert "off_centre" not in alone.codes and alone.measures["area_mm2"] == q.feedback.measures["area_mm2"]
    with pytest.raises(ValueError, match="region"):
        assess_print(box, region=(0, 0, box.shape[1] + 1, 10))


def test_a_barcode_read_but_not_a_valid_form_id_is_said_as_the_json_says():
    d = _result().to_dict()
    d["barcode"] = {"text": "HELLO WORLD\n#1", "format": "Code128", "corners_px": [], "valid_id": False}
    lines = summary_lines(d, min_quality=30)
    assert "no barcode read" not in lines[0], lines[0]
    assert lines[0].startswith("OK a.png: MANUAL ENTRY: a barcode was read but its text ")
    assert "'HELLO WORLD\\n#1'" in lines[0] and "not a valid form id" in lines[0]
    typed = dict(d, form_id="IFB1-2025-000001", form_id_source="operator")
    line = summary_lines(typed)[0]
    assert "typed in" in line and "not a valid form id" in line and "no barcode read" not in line
