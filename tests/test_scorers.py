"""Two NFIQ 2 scorers: the stored image is the scored image, NIST's NFIQ 2 decides what cannot be undone."""

from __future__ import annotations

import json
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest

from ifb1.pipeline import form as form_mod
from ifb1.pipeline.form import PrintResult, confirm_on_reference, print_image, score_print
from ifb1.pipeline.policy import VerdictPolicy, decide, load_policy
from ifb1.quality.nist import NistScorerUnavailable, nist_available, score_nist

needs_nist = pytest.mark.skipif(not nist_available(), reason="NIST's NFIQ 2 (nbis-py) does not load here")


def _print(seed: int = 7, **damage) -> np.ndarray:
    from ifb1.samples.fingerprint import make_master
    from ifb1.samples.impression import rolled_impression
    from ifb1.samples.ink import Damage, ink_print

    rng = np.random.default_rng(seed)
    p = ink_print(rolled_impression(make_master(rng, finger=2), rng), rng, damage=Damage(**damage))
    return np.clip(np.rint(255 * (1 - p.density)), 0, 255).astype(np.uint8)


def _box(img: np.ndarray, *, scribble: bool = False):
    """A 700 x 700 box crop holding ``img``, as the reader gives it (foreground, bbox)."""
    h, w = img.shape
    crop = np.full((700, 700), 250, np.uint8)
    y, x = (700 - h) // 2, (700 - w) // 2
    crop[y:y + h, x:x + w] = img
    if scribble:  # a hand-written ridge count in the corner, far from the print
        crop[20:30, 20:120] = 30
    fg = np.zeros_like(crop, bool)
    ys, xs = np.nonzero(img < 200)
    fg[y + ys, x + xs] = True
    yy, xx = np.nonzero(fg)
    bbox = (int(xx.min()), int(yy.min()), int(xx.max()) + 1, int(yy.max()) + 1)
    return SimpleNamespace(position=2, finger="right index", impression="rolled", present=True, area_mm2=300.0,
                           ppi=500.0, annotation=None, crop=crop, bbox=bbox, foreground=fg)


def test_print_image_is_the_region_after_the_wsq_round_trip():
    from ifb1.export.ansi_nist import wsq_decode

    box = _box(_print(), scribble=True)
    pim = print_image(box)
    x0, y0, x1, y1 = pim.box_px
    bx0, by0, bx1, by1 = box.bbox
    m = 30  # 1.5 mm at 500 ppi
    assert (x0, y0, x1, y1) == (max(0, bx0 - m), max(0, by0 - m), min(700, bx1 + m), min(700, by1 + m))
    assert y0 > 30  # the scribble at the top is left out
    assert np.array_equal(pim.image, wsq_decode(pim.wsq)[0])
    assert pim.image.shape == (y1 - y0, x1 - x0)
    # close to the crop, but not equal: WSQ is lossy
    diff = np.abs(pim.image.astype(int) - box.crop[y0:y1, x0:x1])
    assert 0 < diff.mean() < 6


def test_score_print_scores_the_stored_pixels():
    from ifb1.quality.feedback import assess_print

    box = _box(_print())
    pr = score_print(box)
    assert pr.scorer == "fast" and pr.scores == {"fast": pr.quality} and pr.quality is not None
    assert pr.image_box_px is not None and pr.wsq is not None
    assert assess_print(pr.image).quality == pr.quality
    d = pr.to_dict()
    assert d["scorer"] == "fast" and d["scores"] == {"fast": pr.quality} and d["image_box_px"] == list(pr.image_box_px)


@needs_nist
def test_nist_scorer_scores_a_print_and_agrees_with_the_fast_one():
    box = _box(_print())
    pr = score_print(box, scorer="nist")
    assert pr.scorer == "nist" and set(pr.scores) == {"fast", "nist"} and pr.quality == pr.scores["nist"]
    nq = score_nist(pr.image)
    assert nq.quality == pr.quality and len(nq.features) == 69 and "UniformImage" in nq.actionable
    # the same NFIQ 2, computed twice: close on a clean generated print
    assert abs(pr.scores["fast"] - pr.scores["nist"]) <= 10, pr.scores


@needs_nist
@pytest.mark.parametrize("image, why", [(np.full((400, 400), 255, np.uint8), "blank"),
                                        (np.full((400, 400), 128, np.uint8), "uniform"),
                                        (_print()[200:300, 200:300], "too small")])
def test_nist_gives_no_number_where_nfiq2_computes_none(image, why):
    nq = score_nist(image)
    assert nq.quality is None and why in nq.error and nq.features == {}


def test_nist_scorer_refuses_other_resolutions_and_shapes():
    with pytest.raises(ValueError, match="500 ppi"):
        score_nist(np.zeros((300, 300), np.uint8), ppi=1000)
    with pytest.raises(ValueError, match="2-D uint8"):
        score_nist(np.zeros((300, 300, 3), np.uint8))


# ----------------------------------------------------------------------------- reference confirmation


def _prints(fast: dict[int, int | None]) -> tuple[PrintResult, ...]:
    img = np.full((300, 300), 128, np.uint8)
    return tuple(PrintResult(position=pos, finger="f", impression="rolled", present=True, quality=q,
                             quality_status="scored" if q is not None else "failed", image=img,
                             scorer="fast", scores={"fast": q}) for pos, q in fast.items())


@pytest.fixture
def fake_nist(monkeypatch):
    """NIST's scores from a table; records which prints were scored again."""
    table: dict[int, int | None] = {}
    calls: list[int] = []

    def rescore(pr, *, scorer="nist"):
        calls.append(pr.position)
        q = table[pr.position]
        return replace(pr, quality=q, scorer="nist", scores={**pr.scores, "nist": q},
                       quality_status="scored" if q is not None else "failed")

    monkeypatch.setattr(form_mod, "rescore_print", rescore)
    return table, calls


def _decider(is_copy=True):
    def again(outcomes, scorer):
        return decide(outcomes, is_copy=is_copy, policy=VerdictPolicy(), scorer=scorer)
    return again


def _run(fast, *, for_export=False):
    prints = _prints(fast)
    verdict = _decider()([p.outcome() for p in prints], "fast")
    return verdict, confirm_on_reference(prints, verdict, decide_again=_decider(), reference="nist",
                                         for_export=for_export)


def test_unsuitable_is_confirmed_by_nist_on_the_lowest_prints_only(fake_nist):
    table, calls = fake_nist
    fast = {1: 10, 2: 12, 3: 14, 4: 16, 5: 60, 6: 70, 7: 70, 8: 70, 9: 70, 10: 70}
    table.update({1: 8, 2: 11, 3: 15, 4: 20})
    before, (prints, verdict) = _run(fast)
    assert before.verdict == "unsuitable"
    assert verdict.verdict == "unsuitable" and verdict.scorer == "nist"
    assert calls == [1, 2, 3]  # three NIST defects are enough (more than max_defective_rolled = 2)
    assert [p.scorer for p in prints] == ["nist"] * 3 + ["fast"] * 7
    assert verdict.defective_positions == (1, 2, 3, 4)  # the reasons still list every defect


def test_nist_undoing_an_unsuitable_verdict_stops_the_deletion(fake_nist):
    table, calls = fake_nist
    fast = {1: 10, 2: 12, 3: 14, 4: 60, 5: 60, 6: 70, 7: 70, 8: 70, 9: 70, 10: 70}
    table.update({1: 45, 2: 50, 3: 12})
    _, (prints, verdict) = _run(fast)
    assert verdict.verdict != "unsuitable" and verdict.scorer == "mixed"
    assert calls == [1]  # after the first print the copy is no longer unsuitable


def test_a_print_nist_cannot_score_counts_as_defective(fake_nist):
    table, _ = fake_nist
    fast = {1: 20, 2: 21, 3: 22, 4: 60, 5: 60, 6: 70, 7: 70, 8: 70, 9: 70, 10: 70}
    table.update({1: None, 2: None, 3: None})
    _, (prints, verdict) = _run(fast)
    assert verdict.verdict == "unsuitable" and verdict.scorer == "nist"
    assert [p.quality for p in prints[:3]] == [None, None, None]


def test_an_exported_form_has_every_print_scored_by_nist(fake_nist):
    table, calls = fake_nist
    fast = {pos: 60 + pos for pos in range(1, 11)}
    table.update({pos: 58 + pos for pos in range(1, 11)})
    _, (prints, verdict) = _run(fast, for_export=True)
    assert verdict.verdict == "suitable" and verdict.scorer == "nist" and sorted(calls) == list(range(1, 11))
    assert all(p.scorer == "nist" and p.quality == 58 + p.position for p in prints)
    # at the scanner desk (nothing exported) the fast scores stay
    calls.clear()
    _, (prints, verdict) = _run(fast, for_export=False)
    assert verdict.scorer == "fast" and calls == []


def test_without_nist_a_copy_is_never_found_unsuitable(monkeypatch):
    def unavailable(pr, *, scorer="nist"):
        raise NistScorerUnavailable("NIST's NFIQ 2 is not available")

    monkeypatch.setattr(form_mod, "rescore_print", unavailable)
    verdict, (prints, after) = _run({pos: 10 for pos in range(1, 11)})
    assert verdict.verdict == "unsuitable" and after.verdict == "review"
    assert any("never decided on ifb1's fast scorer alone" in r for r in after.reasons)


# ----------------------------------------------------------------------------- policy and CLI


def test_quality_policy_keys(tmp_path):
    assert load_policy().quality.scorer == "fast" and load_policy().quality.reference_scorer == "nist"
    f = tmp_path / "p.toml"
    f.write_text('[quality]\nscorer = "nist"\nreference = "none"\n', encoding="utf-8")
    q = load_policy(f).quality
    assert q.scorer == "nist" and q.reference_scorer is None
    f.write_text('[quality]\nscorer = "exact"\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"p.toml \[quality\].*scorer"):
        load_policy(f)
    f.write_text('[export]\nlocal_quality_vendor = "12"\n', encoding="utf-8")
    with pytest.raises(ValueError, match="local_quality_vendor"):
        load_policy(f)


@needs_nist
def test_quality_command_with_the_nist_scorer(tmp_path):
    import cv2
    from click.testing import CliRunner

    from ifb1.commands.quality import quality

    path = tmp_path / "print.png"
    cv2.imwrite(str(path), _box(_print()).crop)
    res = CliRunner().invoke(quality, [str(path), "--json", "--scorer", "nist"])
    assert res.exit_code == 0, res.output
    r = json.loads(res.output)
    assert r["scorer"] == "nist" and r["quality"] == score_nist(cv2.imread(str(path), 0)).quality
    assert len(r["features"]) == 69
    text = CliRunner().invoke(quality, [str(path), "--scorer", "nist"])
    assert "NIST NFIQ 2 = " in text.output
