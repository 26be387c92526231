"""Calibrated feedback codes: no false flags on an undamaged generated print, severe damage flagged."""

from __future__ import annotations

import numpy as np
import pytest

from ifb1.quality.feedback import FeedbackParams, assess_print, our_codes

OUR = {"too_dark", "too_light", "smudged", "partial", "off_centre", "too_small", "creased"}


def _boxed(seed: int, **damage) -> np.ndarray:
    """A generated rolled print placed in a white form-box-sized frame (500 ppi uint8)."""
    from ifb1.samples.fingerprint import make_master
    from ifb1.samples.impression import rolled_impression
    from ifb1.samples.ink import Damage, ink_print

    rng = np.random.default_rng(seed)
    imp = rolled_impression(make_master(rng, finger=2), rng)
    p = ink_print(imp, rng, damage=Damage(**damage))
    img = np.clip(np.rint(255 * (1 - p.density)), 0, 255).astype(np.uint8)
    h, w = img.shape
    box = np.full((h + 120, w + 160), 255, np.uint8)
    box[60:60 + h, 80:80 + w] = img
    return box


@pytest.mark.parametrize("seed", [3, 7])
def test_undamaged_print_gets_no_code(seed):
    q = assess_print(_boxed(seed))
    assert q.quality is not None
    assert not set(q.feedback.codes), q.feedback.measures


@pytest.mark.parametrize("kind, code", [("over_ink", "too_dark"), ("under_ink", "too_light"),
                                        ("smudge", "smudged"), ("crease", "creased")])
def test_severe_damage_is_flagged(kind, code):
    codes = assess_print(_boxed(7, **{kind: 0.9})).feedback.codes
    assert code in codes, codes


def test_severe_partial_is_flagged():
    # The generator's "partial" removes a half-plane of the finger inside the box; in a form the
    # box edge cuts it. Push the 0.9 partial print against the box side: the cut edge is found.
    box = _boxed(7, partial=0.9)
    ys, xs = np.nonzero(box < 200)
    shifted = np.full_like(box, 255)
    dx = xs.min()
    shifted[:, : box.shape[1] - dx] = box[:, dx:]
    codes = assess_print(shifted[:, :]).feedback.codes
    assert "partial" in codes or "off_centre" in codes, codes


def test_dark_but_clear_print_is_not_too_dark():
    # Real ink cards are often dark with clean valleys: only filled valleys mean over-inking.
    m = {"ridge_grey": 50.0, "valley_grey": 180.0, "ridge_contrast": 130.0, "low_clarity_fraction": 0.2,
         "ocl_mean": 0.6, "edge_contact": 0.0, "centre_offset": 0.05, "area_mm2": 500.0,
         "crease_length_mm": 0.0}
    assert our_codes(m) == []
    assert our_codes({**m, "ridge_contrast": 80.0, "ridge_grey": 100.0}) == ["too_dark"]
    assert our_codes({**m, "valley_grey": 130.0, "ridge_grey": 20.0, "ridge_contrast": 110.0}) == ["too_dark"]
    # Smeared mid-grey is smudged, not over-inked, and not under-inked either.
    assert our_codes({**m, "ridge_grey": 140.0, "valley_grey": 175.0, "ridge_contrast": 35.0}) == ["smudged"]
    assert our_codes({**m, "crease_length_mm": FeedbackParams().crease_min_total_mm}) == ["creased"]


@pytest.mark.parametrize("seed", [1, 5, 7])
def test_finger_partly_missing_inside_the_box_is_partial(seed):
    # The generator's partial damage: a half-plane of the finger did not touch, well inside the
    # box (no edge contact). Seeds 1 and 5 are cut at an angle (an empty corner), 7 along the
    # finger (a strip). The same print undamaged is not partial.
    cut = assess_print(_boxed(seed, partial=0.8)).feedback
    assert cut.measures["edge_contact"] == 0.0
    assert "partial" in cut.codes, cut.measures
    whole = assess_print(_boxed(seed)).feedback
    assert "partial" not in whole.codes, whole.measures


def _rounded_rect(h: int, w: int, r: int, shape=(700, 700)) -> np.ndarray:
    import cv2

    m = np.zeros(shape, np.uint8)
    y0, x0 = (shape[0] - h) // 2, (shape[1] - w) // 2
    cv2.rectangle(m, (x0 + r, y0), (x0 + w - r, y0 + h), 1, -1)
    cv2.rectangle(m, (x0, y0 + r), (x0 + w, y0 + h - r), 1, -1)
    for cx, cy in [(x0 + r, y0 + r), (x0 + w - r, y0 + r), (x0 + r, y0 + h - r), (x0 + w - r, y0 + h - r)]:
        cv2.circle(m, (cx, cy), r, 1, -1)
    return m.astype(bool)


def test_partial_outline_rules():
    from ifb1.quality.feedback import measure_print

    def codes(mask):
        image = np.where(mask, 90, 235).astype(np.uint8)
        return our_codes(measure_print(image, roi_mask=mask, features={}))

    whole = _rounded_rect(440, 380, 70)  # a rolled print: rounded rectangle, ~17 x 19 mm
    assert "partial" not in codes(whole)
    yy, xx = np.mgrid[:700, :700]
    corner_cut = whole & (xx + yy < 700 + 120)  # a diagonal cut empties one corner
    assert "partial" in codes(corner_cut)
    strip = whole & (xx < 350 - 190 + 160)  # only a 160 px strip along the finger touched
    assert "partial" in codes(strip)
    # Broken up by under-inking: empty corners, but not convex, so not judged on its outline.
    ragged = corner_cut & ~((xx // 40 + yy // 40) % 3 == 0)
    assert "partial" not in codes(ragged)
