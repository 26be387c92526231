"""Tests of the synthetic fingerprints (ifb1.samples.fingerprint / impression / ink)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from ifb1.samples.fingerprint import (PATTERNS, PX_PER_MM, MasterParams, make_master,
                                      make_person, pattern_priors)
from ifb1.samples.impression import plain_impression, rolled_impression, slap_impression
from ifb1.samples.ink import Damage, InkedPrint, ink_print, random_damage


@pytest.fixture(scope="module")
def person():
    return make_person(np.random.default_rng(1))


# ---------------------------------------------------------------- helpers (estimators) -------
def structure_tensor_orientation(img: np.ndarray, sigma: float = 7.0) -> tuple[np.ndarray, np.ndarray]:
    """Ridge direction (radians, [0, pi), image convention) and coherence from the gradients."""
    f = img.astype(np.float32)
    gx = cv2.Sobel(f, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(f, cv2.CV_32F, 0, 1, ksize=3)
    gxx = cv2.GaussianBlur(gx * gx, (0, 0), sigma)
    gyy = cv2.GaussianBlur(gy * gy, (0, 0), sigma)
    gxy = cv2.GaussianBlur(gx * gy, (0, 0), sigma)
    grad_dir = 0.5 * np.arctan2(2 * gxy, gxx - gyy)
    coh = np.sqrt((gxx - gyy) ** 2 + 4 * gxy ** 2) / (gxx + gyy + 1e-9)
    return np.mod(grad_dir + np.pi / 2, np.pi), coh


def angular_error(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = np.abs(np.mod(a - b, np.pi))
    return np.minimum(d, np.pi - d)


def fft_period(patch: np.ndarray) -> float:
    """Dominant period (px) of a patch: centroid of the peak of its radial power spectrum."""
    n = patch.shape[0]
    win = np.outer(np.hanning(n), np.hanning(n))
    power = np.abs(np.fft.fftshift(np.fft.fft2((patch - patch.mean()) * win))) ** 2
    yy, xx = np.mgrid[:n, :n] - n // 2
    r = np.hypot(xx, yy)
    power[r < 4] = 0
    r_peak = r.flat[np.argmax(power)]
    near = np.abs(r - r_peak) < 2.0
    return float(n / (np.sum(r[near] * power[near]) / np.sum(power[near])))


def ridge_correlation(inked: InkedPrint, imp) -> float:
    """Pearson correlation of the inked density with the clean ink transfer, inside the true mask."""
    m = imp.mask
    return float(np.corrcoef(inked.density[m], imp.contact[m])[0, 1])


def mask_width_mm(mask: np.ndarray) -> float:
    cols = np.flatnonzero(mask.any(axis=0))
    return (cols[-1] - cols[0] + 1) / PX_PER_MM


# ---------------------------------------------------------------- determinism -----------------
def test_same_seed_same_arrays_different_seed_different():
    def run(seed):
        rng = np.random.default_rng(seed)
        m = make_master(rng, finger=3)
        imp = rolled_impression(m, rng)
        ink = ink_print(imp, rng, damage=random_damage(rng, quality="fair"))
        return m, imp, ink

    a, b, c = run(7), run(7), run(8)
    for x, y in ((a[0].ridges, b[0].ridges), (a[0].mask, b[0].mask),
                 (a[0].orientation, b[0].orientation), (a[1].contact, b[1].contact),
                 (a[2].density, b[2].density), (a[2].mask, b[2].mask)):
        assert np.array_equal(x, y)
    assert a[2].damage == b[2].damage
    assert a[0].ridges.shape != c[0].ridges.shape or not np.array_equal(a[0].ridges, c[0].ridges)
    assert a[2].density.shape != c[2].density.shape or not np.array_equal(a[2].density, c[2].density)


def test_master_contract(person):
    assert len(person) == 10
    assert [m.finger for m in person] == list(range(1, 11))
    for m in person:
        assert m.pattern in PATTERNS
        shp = m.ridges.shape
        assert m.mask.shape == m.orientation.shape == m.period.shape == shp
        assert m.ridges.dtype == np.float32 and m.mask.dtype == bool
        assert -1.0 <= m.ridges.min() and m.ridges.max() <= 1.0
        assert 0.0 <= m.orientation.min() and m.orientation.max() < np.pi
        assert 8.0 <= m.period.min() and m.period.max() <= 12.0
        assert m.mask.mean() > 0.5


@pytest.mark.parametrize("pattern,n_core,n_delta", [("arch", 0, 0), ("tented_arch", 1, 1),
                                                    ("left_loop", 1, 1), ("right_loop", 1, 1),
                                                    ("whorl", 2, 2)])
def test_pattern_singular_points(pattern, n_core, n_delta):
    m = make_master(np.random.default_rng(3), finger=7, pattern=pattern)
    kinds = [k for k, _, _ in m.singular_points]
    assert m.pattern == pattern
    assert kinds.count("core") == n_core and kinds.count("delta") == n_delta
    for _, x, y in m.singular_points:
        assert m.mask[int(y), int(x)]
    if pattern in ("left_loop", "right_loop"):
        (_, cx, _), (_, dx, _) = m.singular_points
        # A right loop opens to the right: its delta lies left of the core.
        assert (dx < cx) == (pattern == "right_loop")


def test_class_frequencies_realistic():
    priors = np.array([pattern_priors(f) for f in range(1, 11)]).mean(axis=0)
    freq = dict(zip(PATTERNS, priors))
    assert freq["left_loop"] + freq["right_loop"] > 0.5
    assert freq["arch"] < 0.06 and freq["tented_arch"] < 0.06
    assert freq["whorl"] > 0.2
    # Right hands mostly right loops, left hands mostly left loops.
    assert pattern_priors(3)[3] > pattern_priors(3)[2]
    assert pattern_priors(8)[2] > pattern_priors(8)[3]
    rng = np.random.default_rng(0)
    drawn = [make_master(rng, finger=f, params=MasterParams(iterations=1)).pattern
             for f in (2, 3) for _ in range(10)]
    assert sum(p.endswith("loop") for p in drawn) >= sum(p == "arch" for p in drawn)


# ---------------------------------------------------------------- orientation and period -----
@pytest.mark.parametrize("pattern", PATTERNS)
def test_estimated_orientation_matches_generator(pattern):
    rng = np.random.default_rng(11)
    m = make_master(rng, finger=2, pattern=pattern)
    imp = rolled_impression(m, rng)
    ink = ink_print(imp, rng)
    est, coh = structure_tensor_orientation(ink.density)
    inner = cv2.erode(imp.mask.view(np.uint8), np.ones((31, 31), np.uint8)).astype(bool)
    yy, xx = np.mgrid[:inner.shape[0], :inner.shape[1]]
    for _, x, y in m.singular_points:
        inner &= np.hypot(xx - x, yy - y) > 35
    assert inner.sum() > 20000
    err = np.degrees(angular_error(est, imp.orientation))[inner]
    assert np.median(err) < 10.0, np.median(err)
    assert np.mean(err < 20.0) > 0.85


def test_ridge_period_matches_map(person):
    rng = np.random.default_rng(5)
    rel_err, measured_all = [], []
    for m in person[::3]:
        imp = rolled_impression(m, rng)
        ink = ink_print(imp, rng)
        H, W = ink.density.shape
        for y in range(64, H - 64, 48):
            for x in range(64, W - 64, 48):
                win = (slice(y - 64, y + 64), slice(x - 64, x + 64))
                if not imp.mask[win].all():
                    continue
                measured = fft_period(ink.density[win])
                truth = float(np.median(m.period[win]))
                measured_all.append(measured)
                rel_err.append(abs(measured - truth) / truth)
    assert len(rel_err) >= 20
    # (a rare patch at a minutia cluster or a bad ink spot may mislead the spectrum peak)
    assert 7.5 <= np.quantile(measured_all, 0.05) and np.quantile(measured_all, 0.95) <= 12.5
    assert np.mean((np.array(measured_all) > 7.0) & (np.array(measured_all) < 13.0)) > 0.97
    assert np.median(rel_err) < 0.07, np.median(rel_err)
    assert np.quantile(rel_err, 0.9) < 0.15, np.quantile(rel_err, 0.9)


# ---------------------------------------------------------------- damage ----------------------
@pytest.mark.parametrize("kind", ["over_ink", "under_ink", "smudge", "partial", "crease"])
def test_damage_lowers_ridge_fidelity_monotonically(person, kind):
    imp = rolled_impression(person[1], np.random.default_rng(2))
    scores = []
    for sev in (0.0, 0.5, 1.0):
        ink = ink_print(imp, np.random.default_rng(9), damage=Damage(**{kind: sev}))
        assert ink.density.dtype == np.float32 and ink.density.shape == imp.contact.shape
        assert 0.0 <= ink.density.min() and ink.density.max() <= 1.0
        scores.append(ridge_correlation(ink, imp))
    assert scores[0] > 0.7
    assert scores[0] - 0.015 > scores[1] > scores[2] + 0.015, scores


def test_partial_damage_shrinks_mask(person):
    imp = rolled_impression(person[2], np.random.default_rng(2))
    areas = [ink_print(imp, np.random.default_rng(4), damage=Damage(partial=s)).mask.sum()
             for s in (0.0, 0.5, 1.0)]
    assert areas[0] > areas[1] > areas[2] > 0.2 * areas[0]


def test_random_damage_by_quality():
    rng = np.random.default_rng(0)
    for _ in range(20):
        good = random_damage(rng, quality="good").as_dict()
        poor = random_damage(rng, quality="poor").as_dict()
        assert max(good.values()) <= 0.15
        assert max(poor.values()) >= 0.65
        assert set(poor) == {"over_ink", "under_ink", "smudge", "partial", "crease"}
    with pytest.raises(ValueError, match="quality"):
        random_damage(rng, quality="bad")
    with pytest.raises(ValueError, match="smudge"):
        Damage(smudge=1.5)


# ---------------------------------------------------------------- same finger, impressions ---
def best_match(density: np.ndarray, mask: np.ndarray, ridges: np.ndarray) -> float:
    """Best normalised cross-correlation of a central patch of a print against a master's ridges,
    searched over rotations (+-16 deg), scales (+-3 %) and translations, at half resolution."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    cy, cx = (rows[0] + rows[-1]) / 2.0, (cols[0] + cols[-1]) / 2.0
    ref = cv2.resize(ridges, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    img = cv2.resize(density, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    cy, cx = cy / 2.0, cx / 2.0
    best = -1.0
    for ang in np.arange(-16.0, 16.1, 2.0):
        for scale in (0.97, 1.0, 1.03):
            # Rotate and scale about the centre and cut a 56 px patch (112 px at full resolution).
            rot = cv2.getRotationMatrix2D((cx, cy), ang, scale)
            rot[0, 2] += 28.0 - cx
            rot[1, 2] += 28.0 - cy
            patch = cv2.warpAffine(img, rot, (56, 56), flags=cv2.INTER_LINEAR)
            res = cv2.matchTemplate(ref, patch, cv2.TM_CCOEFF_NORMED)
            best = max(best, float(res.max()))
    return best


def test_plain_impression_recognisably_same_finger(person):
    rng = np.random.default_rng(21)
    for f in (1, 6):  # the plain thumbs
        plain = plain_impression(person[f - 1], rng)
        ink = ink_print(plain, rng)
        own = best_match(ink.density, ink.mask, person[f - 1].ridges)
        others = [best_match(ink.density, ink.mask, person[g - 1].ridges) for g in (2, 5, 7)]
        assert own > 0.5, own
        assert own > max(others) + 0.2, (own, others)


def test_slap_fingers_recognisable_and_in_order(person):
    rng = np.random.default_rng(4)
    slap = slap_impression(person, rng, hand="right")
    ink = ink_print(slap, rng)
    assert slap.fingers == (2, 3, 4, 5)
    assert len(slap.finger_masks) == 4
    for fm, f in zip(slap.finger_masks, slap.fingers):
        sub = np.where(fm, ink.density, 0).astype(np.float32)
        own = best_match(sub, fm, person[f - 1].ridges)
        others = [best_match(sub, fm, person[g - 1].ridges)
                  for g in (1 + f % 10, 1 + (f + 4) % 10, 1 + (f + 6) % 10)]
        assert own > 0.45 and own > max(others) + 0.15, (f, own, others)


# ---------------------------------------------------------------- sizes and slap geometry ----
def test_thumbs_larger_than_little_fingers(person):
    rolled = [rolled_impression(m, np.random.default_rng(0)) for m in person]
    for thumb, little in ((0, 4), (5, 9)):
        assert person[thumb].mask.sum() > 1.5 * person[little].mask.sum()
        assert 24.0 <= mask_width_mm(person[thumb].mask) <= 32.0
        assert 14.0 <= mask_width_mm(person[little].mask) <= 19.0
        assert rolled[thumb].mask.sum() > rolled[little].mask.sum()


@pytest.mark.parametrize("hand,order", [("right", (2, 3, 4, 5)), ("left", (10, 9, 8, 7))])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_slap_geometry(person, hand, order, seed):
    slap = slap_impression(person, np.random.default_rng(seed), hand=hand)
    assert slap.kind == "slap" and slap.fingers == order
    assert len(slap.finger_masks) == 4
    h, w = slap.mask.shape
    assert w / PX_PER_MM <= 66.5 and h / PX_PER_MM <= 51.5
    xs, tops = [], []
    for fm in slap.finger_masks:
        assert fm.shape == slap.mask.shape and fm.sum() > 20000
        assert not (fm & ~slap.mask).any()
        yy, xx = np.nonzero(fm)
        xs.append(xx.mean())
        tops.append(yy.min())
    assert xs == sorted(xs)
    for i in range(3):
        assert not (slap.finger_masks[i] & slap.finger_masks[i + 1]).any()
    middle = slap.fingers.index(order[1] if hand == "right" else 8)
    little = slap.fingers.index(5 if hand == "right" else 10)
    assert tops[middle] == min(tops)
    assert tops[little] == max(tops)


def test_rolled_may_show_distal_crease_and_strip(person):
    shown = 0
    for seed in range(12):
        imp = rolled_impression(person[2], np.random.default_rng(seed))
        assert imp.mask.shape == person[2].mask.shape
        last = np.flatnonzero(person[2].mask.any(axis=1))[-1]
        rows = imp.mask.any(axis=1)
        if rows[last + 1:].any():
            shown += 1
            # A band with no contact separates the fingertip from the strip below it.
            cols = np.flatnonzero(imp.mask.any(axis=0))
            mid = (cols[0] + cols[-1]) // 2
            gaps = [np.diff(np.flatnonzero(imp.mask[:, c])).max() for c in range(mid - 20, mid + 21, 10)]
            assert np.median(gaps) >= 5, gaps
            assert (imp.contact[last + 1:] > 0.5).any()
    assert 2 <= shown <= 10  # shown with probability RolledParams.crease_probability (0.4)


def test_bad_arguments_raise(person):
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="finger"):
        make_master(rng, finger=11)
    with pytest.raises(ValueError, match="pattern"):
        make_master(rng, finger=1, pattern="spiral")
    with pytest.raises(ValueError, match="hand"):
        slap_impression(person, rng, hand="both")
    with pytest.raises(ValueError, match="fingers"):
        slap_impression(person[5:9], rng, hand="right")
