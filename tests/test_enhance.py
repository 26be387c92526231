"""Tests for ifb1.enhance and the minutiae quality measures (generated data only)."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from ifb1.enhance import EnhanceParams, Enhanced, enhance
from ifb1.enhance.frequency import ridge_frequency
from ifb1.enhance.minutiae import CROSSING_NUMBER, extract_minutiae
from ifb1.enhance.normalise import foreground_mask, normalise
from ifb1.enhance.orientation import orientation_field
from ifb1.quality.minutiae import (MINUTIAE_FEATURES, com_rect_count, minutiae_features,
                                   mu_minutiae_quality)


def grating(shape, direction, period, *, contrast=80.0):
    """uint8 sine grating whose ridges (dark) run along ``direction`` (radians, y down)."""
    y, x = np.mgrid[: shape[0], : shape[1]].astype(np.float64)
    n = direction + math.pi / 2
    phase = 2 * math.pi * (x * math.cos(n) + y * math.sin(n)) / period
    return np.clip(128 - contrast * np.cos(phase), 0, 255).astype(np.uint8)


def angle_diff(a, b):
    """Absolute difference of axial angles (mod pi), radians."""
    return np.abs(np.angle(np.exp(2j * (np.asarray(a) - np.asarray(b))))) / 2


@pytest.mark.parametrize("deg,period", [(0, 9.0), (30, 8.0), (75, 11.0), (120, 6.5), (160, 13.0)])
def test_grating_orientation_and_frequency(deg, period):
    img = grating((256, 256), math.radians(deg), period)
    norm = normalise(img)
    theta, coh = orientation_field(norm)
    c = (slice(40, -40), slice(40, -40))
    err = np.degrees(angle_diff(theta[c], math.radians(deg)))
    assert np.median(err) < 2.0 and err.max() < 4.0
    assert coh[c].mean() > 0.9
    mask = foreground_mask(norm, coh)
    assert mask[c].all()
    freq, _, _ = ridge_frequency(norm, theta, mask)
    est = 1.0 / freq[c]
    assert abs(np.median(est) - period) / period < 0.05
    assert np.abs(est - period).max() / period < 0.08


def test_circular_grating_orientation_follows_angle():
    h = w = 320
    y, x = np.mgrid[:h, :w].astype(np.float64)
    cx, cy = 160.3, 150.7
    r = np.hypot(x - cx, y - cy)
    img = np.clip(128 - 80 * np.cos(2 * np.pi * r / 9.0), 0, 255).astype(np.uint8)
    theta, coh = orientation_field(normalise(img))
    tangent = np.arctan2(y - cy, x - cx) + np.pi / 2      # rings run tangentially
    ring = (r > 40) & (r < 130)
    err = np.degrees(angle_diff(theta[ring], tangent[ring]))
    assert np.median(err) < 2.0
    assert np.percentile(err, 99) < 6.0


def test_enhancement_raises_correlation_with_clean_grating():
    rng = np.random.default_rng(3)
    h = w = 256
    y, x = np.mgrid[:h, :w].astype(np.float64)
    r = np.hypot(x - 100, y - 140)
    clean = np.cos(2 * np.pi * r / 9.5)
    noisy = np.clip(128 - 50 * clean + rng.normal(0, 70, clean.shape), 0, 255).astype(np.uint8)
    res = enhance(noisy)
    assert isinstance(res, Enhanced)
    c = (slice(32, -32), slice(32, -32))
    before = np.corrcoef(-noisy[c].ravel().astype(float), clean[c].ravel())[0, 1]
    after = np.corrcoef(res.enhanced[c].ravel(), clean[c].ravel())[0, 1]
    assert before < 0.6
    assert after > 0.9 and after > before + 0.3
    # binarised ridges match the clean ridges almost everywhere inside the mask
    agree = (res.binary == (clean > 0))[c][res.mask[c]].mean()
    assert agree > 0.93


def test_crossing_number_table():
    assert CROSSING_NUMBER[0b00000001] == 1          # one neighbour: ending
    assert CROSSING_NUMBER[0b00010001] == 2          # E and W: ridge continues
    assert CROSSING_NUMBER[0b01010001] == 3          # E, W, S: bifurcation
    assert CROSSING_NUMBER[0b00000011] == 1          # two adjacent neighbours: still an end
    assert CROSSING_NUMBER[0b01010101] == 4


def test_synthetic_skeleton_gives_one_ending_and_one_bifurcation():
    h = w = 300
    skel = np.zeros((h, w), np.uint8)
    cv2.line(skel, (100, 150), (200, 150), 1)        # stem, free end at x=100
    cv2.line(skel, (200, 150), (299, 51), 1)         # branches leave the image
    cv2.line(skel, (200, 150), (299, 249), 1)
    cv2.line(skel, (0, 20), (299, 20), 1)            # a ridge crossing the whole image
    mask = np.ones((h, w), bool)
    theta = np.zeros((h, w), np.float32)
    coh = np.ones((h, w), np.float32)
    mins = extract_minutiae(skel.astype(bool), mask, theta, coh)
    assert len(mins) == 2
    end = [m for m in mins if m.type == "ending"]
    bif = [m for m in mins if m.type == "bifurcation"]
    assert len(end) == 1 and len(bif) == 1
    assert abs(end[0].x - 100) <= 1 and abs(end[0].y - 150) <= 1
    assert abs(bif[0].x - 200) <= 2 and abs(bif[0].y - 150) <= 2
    # the ending points along its ridge (towards +x), the bifurcation towards its branches
    assert abs(math.remainder(end[0].angle, 2 * math.pi)) < 0.1
    assert abs(math.remainder(bif[0].angle, 2 * math.pi)) < 0.1
    assert all(0.0 <= m.quality <= 1.0 for m in mins)


def test_close_minutiae_pairs_are_removed():
    skel = np.zeros((200, 200), np.uint8)
    cv2.line(skel, (0, 100), (95, 100), 1)           # short break of 6 px
    cv2.line(skel, (102, 100), (199, 100), 1)
    mins = extract_minutiae(skel.astype(bool), np.ones((200, 200), bool),
                            np.zeros((200, 200), np.float32), np.ones((200, 200), np.float32))
    assert mins == ()


@pytest.mark.parametrize("image,flag", [
    (np.full((200, 200), 255, np.uint8), "uniform"),
    (np.full((300, 300), 128, np.uint8), "uniform"),
    (np.zeros((20, 20), np.uint8), "too_small"),
    (np.zeros((0, 0), np.uint8), "too_small"),
    (np.full((1, 500), 7, np.uint8), "too_small"),
])
def test_degenerate_inputs_are_flagged(image, flag):
    res = enhance(image)
    assert flag in res.flags
    assert res.minutiae == ()
    assert res.mask.shape == image.shape and not res.mask.any()
    assert not res.ok


def test_blank_paper_with_noise_is_flagged():
    rng = np.random.default_rng(1)
    paper = np.clip(rng.normal(240, 2.0, (300, 300)), 0, 255).astype(np.uint8)
    res = enhance(paper)
    assert set(res.flags) & {"blank", "no_ridges"}
    assert res.minutiae == ()


def test_bad_input_raises_clear_error():
    with pytest.raises(ValueError, match="2-D"):
        enhance(np.zeros((100, 100, 3), np.uint8))
    with pytest.raises(ValueError, match="NaN"):
        enhance(np.full((100, 100), np.nan))


def test_float_image_in_unit_range_is_accepted():
    img = grating((200, 200), 0.3, 9.0).astype(np.float64) / 255.0
    res = enhance(img)
    assert res.ok and res.mask.mean() > 0.9


def test_scale_params_halves_lengths():
    from ifb1.enhance import scale_params

    p = EnhanceParams()
    h = scale_params(p, 0.5)
    assert h.frequency.step == p.frequency.step // 2
    assert h.orientation.tensor_sigma == pytest.approx(p.orientation.tensor_sigma / 2)
    assert h.minutiae.min_distance == pytest.approx(p.minutiae.min_distance / 2)
    assert h.frequency.min_period >= 2.2
    assert h.min_foreground == p.min_foreground // 4


def test_default_params_are_frozen():
    p = EnhanceParams()
    with pytest.raises(Exception):
        p.min_size = 3  # type: ignore[misc]


def test_minutiae_measures_blank_image_are_zero():
    feats = minutiae_features(np.full((300, 300), 255, np.uint8))
    assert set(MINUTIAE_FEATURES) <= set(feats)
    assert all(v == 0.0 for v in feats.values())
    feats = minutiae_features(np.full((300, 300), 200, np.uint8), minutiae=())
    assert all(v == 0.0 for v in feats.values())


def test_minutiae_measures_definitions():
    class M:
        def __init__(self, x, y):
            self.x, self.y = x, y

    # centre of mass (150, 150): the rectangle 50..250 holds 3 of the 4 points
    xs = np.array([150.0, 60.0, 249.0, 280.0])
    ys = np.array([150.0, 150.0, 240.0, 110.0])
    assert com_rect_count(xs, ys, (400, 400)) == 3
    # Mu: a block darker than the image mean by 0.25 sd counts, one at the mean does not
    img = np.full((200, 200), 200, np.uint8)
    img[:, 100:] = 100                     # mean 150, sd 50
    q = mu_minutiae_quality(img, np.array([150.0, 50.0]), np.array([100.0, 100.0]))
    assert q[0] == pytest.approx(1.0) and q[1] == pytest.approx(-1.0)
    img2 = np.full((200, 200), 200, np.uint8)
    img2[:, 100:] = 100
    img2[84:116, 34:66] = 137              # block mean 137.5 -> (150 - 137.5)/50 = 0.25
    feats = minutiae_features(img2, minutiae=[M(50, 100), M(150, 100)],
                              params=__import__("ifb1.quality.minutiae", fromlist=["x"])
                              .MinutiaeFeatureParams(crop_white_frame=False))
    assert feats["FJFXPos_Mu_MinutiaeQuality_2"] == pytest.approx(0.5)
    assert feats["FJFXPos_OCL_MinutiaeQuality_80"] == 0.0   # flat blocks: OCL 0


def test_minutiae_measures_on_grating_print():
    # a grating with four edge dislocations: each adds one ridge that starts
    # (an ending or a bifurcation, depending on the polarity of the phase)
    y, x = np.mgrid[:400, :400].astype(np.float64)
    phase = 2 * np.pi * (x * math.cos(1.2) + y * math.sin(1.2)) / 9.0
    for cx, cy in [(120, 130), (280, 120), (130, 290), (270, 280)]:
        phase += np.arctan2(y - cy, x - cx)
    img = np.clip(128 - 80 * np.cos(phase), 0, 255).astype(np.uint8)
    res = enhance(img)
    pts = np.array([[m.x, m.y] for m in res.minutiae])
    for cx, cy in [(120, 130), (280, 120), (130, 290), (270, 280)]:
        assert np.hypot(pts[:, 0] - cx, pts[:, 1] - cy).min() < 8
    feats = minutiae_features(img)
    assert feats["FingerJetFX_MinutiaeCount"] > 0
    assert feats["FingerJetFX_MinCount_COMMinRect200x200"] <= feats["FingerJetFX_MinutiaeCount"]
    assert 0.0 <= feats["FJFXPos_Mu_MinutiaeQuality_2"] <= 1.0
    assert 0.0 <= feats["FJFXPos_OCL_MinutiaeQuality_80"] <= 1.0
    assert feats["FingerprintImageWithMinutiae"] == feats["FingerJetFX_MinutiaeCount"]


def _dislocated(shape, centres, *, period=9.0, angle=1.2, contrast=80.0):
    """Grating with an edge dislocation (one minutia) at each of ``centres``."""
    y, x = np.mgrid[: shape[0], : shape[1]].astype(np.float64)
    phase = 2 * np.pi * (x * math.cos(angle) + y * math.sin(angle)) / period
    for cx, cy in centres:
        phase += np.arctan2(y - cy, x - cx)
    return np.clip(128 - contrast * np.cos(phase), 0, 255).astype(np.uint8)


def test_fjfx_window_is_fingerjets_central_part():
    from ifb1.quality.minutiae import fjfx_window

    # FingerJet FX: 2/3 size capped at 256 x 400 px -> central 384 x 600 px at 500 ppi
    assert fjfx_window((704, 768)) == (192, 52, 384, 600)
    assert fjfx_window((300, 300)) == (0, 0, 300, 300)
    assert fjfx_window((374, 388)) == (0, 0, 388, 374)       # 388 // 6 * 4 = 256: fits
    assert fjfx_window((1000, 400)) == (8, 200, 384, 600)


def test_fjfx_footprint_follows_ridge_contrast():
    from ifb1.quality.minutiae import fjfx_footprint

    img = grating((300, 300), 0.7, 9.0)
    img[:, 150:] = 128                                       # right half: no ridges
    fp = fjfx_footprint(img)
    assert fp.shape == (50, 50)                              # one cell per 6 x 6 px
    assert fp[5:45, 3:20].mean() > 0.95
    assert fp[:, 30:].mean() < 0.05
    # the threshold is absolute, as FingerJet FX's: faint ridges are no footprint
    assert fjfx_footprint(grating((300, 300), 0.7, 9.0, contrast=4.0)).mean() < 0.05
    assert not fjfx_footprint(np.full((300, 300), 200, np.uint8)).any()


def test_quality_minutiae_only_where_fingerjet_looks():
    from ifb1.quality.minutiae import fjfx_visible, quality_minutiae

    centres = [(420, 300), (480, 420), (60, 300)]            # the last is outside the window
    img = _dislocated((700, 900), centres)
    pts = np.array([[m.x, m.y] for m in quality_minutiae(img)])
    assert len(pts)
    for cx, cy in centres[:2]:
        assert np.hypot(pts[:, 0] - cx, pts[:, 1] - cy).min() < 10
    assert pts[:, 0].min() >= 258                             # window x0 = (900 - 384) // 2
    # the footprint drops minutiae on a flat area inside the window
    flat = img.copy()
    flat[:, 450:] = 128
    vis = fjfx_visible(flat, np.array([420.0, 600.0]), np.array([300.0, 300.0]))
    assert vis.tolist() == [True, False]
