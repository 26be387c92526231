"""Tests of ifb1.quality's NFIQ 2.3 native measures on generated images."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ifb1.quality.blocks import (
    OffsetGrid,
    histogram_features,
    remove_near_white_frame,
    ridge_orientation,
    rotated_samples,
    segmentation_tile_mask,
)
from ifb1.quality.contrast import contrast
from ifb1.quality.features import (
    ACTIONABLE_NAMES,
    FEATURE_NAMES,
    MINUTIAE_FEATURE_NAMES,
    NATIVE_FEATURE_NAMES,
    analyse_native,
    compute_native_features,
)
from ifb1.quality.ocl import ocl_at_points, ocl_features
from ifb1.quality.resample import resample_to_500
from ifb1.quality.roi import roi, roi_features


def grating(h: int, w: int, *, period: float = 9.0, angle: float = 0.3, amp: float = 100.0) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    v = 128 + amp * np.sin(2 * np.pi * (x * np.cos(angle) + y * np.sin(angle)) / period)
    return np.clip(np.rint(v), 0, 255).astype(np.uint8)


def rings(h: int, w: int, *, period: float = 9.0) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    v = 128 + 100 * np.sin(2 * np.pi * np.hypot(x - w / 2, y - h / 2) / period)
    return np.clip(np.rint(v), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def noise() -> np.ndarray:
    return np.random.default_rng(1).integers(0, 256, (256, 256)).astype(np.uint8)


def test_feature_names_order_and_uniqueness():
    assert len(FEATURE_NAMES) == 69 and len(set(FEATURE_NAMES)) == 69
    assert FEATURE_NAMES[:12] == tuple(f"FDA_Bin10_{s}" for s in [*map(str, range(10)), "Mean", "StdDev"])
    assert FEATURE_NAMES[12:17] == (
        "FingerJetFX_MinCount_COMMinRect200x200", "FingerJetFX_MinutiaeCount",
        "FJFXPos_Mu_MinutiaeQuality_2", "FJFXPos_OCL_MinutiaeQuality_80", "ImgProcROIArea_Mean")
    assert FEATURE_NAMES[29:31] == ("MMB", "Mu")
    assert FEATURE_NAMES[55:57] == ("OrientationMap_ROIFilter_CoherenceRel", "OrientationMap_ROIFilter_CoherenceSum")
    assert FEATURE_NAMES[-1] == "RVUP_Bin10_StdDev"
    assert set(NATIVE_FEATURE_NAMES) | set(MINUTIAE_FEATURE_NAMES) == set(FEATURE_NAMES)
    out = compute_native_features(grating(96, 96))
    assert list(out) == [*NATIVE_FEATURE_NAMES, *ACTIONABLE_NAMES]


def test_histogram_bin_boundaries():
    limits = (1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0)
    h = histogram_features("X_", np.array([0.5, 1.0, 1.5, 9.0, 100.0, np.inf]), limits)
    # a value equal to a boundary goes to the upper bin, infinity to the last
    assert [h[f"X_{i}"] for i in range(10)] == [1, 2, 0, 0, 0, 0, 0, 0, 0, 3]
    e = histogram_features("X_", np.zeros(0), limits)
    assert e["X_Mean"] == 0.0 and e["X_StdDev"] == 0.0 and all(e[f"X_{i}"] == 0 for i in range(10))
    v = np.array([1.0, 2.0, 4.0])
    h = histogram_features("X_", v, limits)
    assert h["X_Mean"] == pytest.approx(v.mean()) and h["X_StdDev"] == pytest.approx(v.std())


def test_contrast_of_constant_blocks():
    img = np.zeros((70, 96), np.uint8)
    vals = np.arange(3 * 3).reshape(3, 3) * 20 + 10
    for i in range(3):
        for j in range(3):
            img[32 * i : 32 * (i + 1), 32 * j : 32 * (j + 1)] = vals[i, j]
    c = contrast(img)
    assert c.mu == pytest.approx(img.mean())
    assert c.sigma == pytest.approx(img.std())
    # MMB averages the block means, the partial bottom row (6 px) counting fully
    assert c.mmb == pytest.approx(vals.mean())
    assert c.mmb != pytest.approx(c.mu)


def test_near_white_frame_is_removed():
    inner = grating(50, 60)
    img = np.full((80, 100), 255, np.uint8)
    img[10:60, 25:85] = inner
    crop, (top, left) = remove_near_white_frame(img)
    assert (top, left) == (10, 25)
    assert crop.shape == inner.shape and np.array_equal(crop, inner)
    blank = np.full((20, 30), 255, np.uint8)
    assert remove_near_white_frame(blank)[0].shape == blank.shape


def test_ocl_grating_vs_noise(noise):
    g = ocl_features(grating(256, 256))
    n = ocl_features(noise)
    assert g["OCL_Bin10_Mean"] > 0.95
    assert g["OCL_Bin10_9"] == 64  # every 32x32 tile of a clean grating is in the top bin
    assert n["OCL_Bin10_Mean"] < 0.3
    assert ocl_features(np.full((64, 64), 90, np.uint8))["OCL_Bin10_Mean"] == 0.0  # flat blocks skipped


def test_ocl_at_points_clamps_inside_image():
    img = grating(100, 120)
    v = ocl_at_points(img, [0, 60, 119, 500], [0, 50, 99, -10])
    assert v.shape == (4,) and np.all(v > 0.95)
    flat = np.full((40, 40), 7, np.uint8)
    assert ocl_at_points(flat, [20], [20])[0] == 0.0
    with pytest.raises(ValueError):
        ocl_at_points(np.zeros((10, 10), np.uint8), [1], [1])


def test_orientation_of_grating():
    # ridges with normal at angle t: NFIQ 2's angle (atan2(c, a-b)/2, c not 2c)
    for t in (0.0, 0.4, 1.2):
        img = grating(96, 96, angle=t, period=10)
        g = OffsetGrid(img.shape, blk=32)
        ang = ridge_orientation(g.blocks(img))
        expect = math.atan2(math.sin(2 * t) / 2, math.cos(2 * t)) / 2
        assert np.allclose(ang, expect, atol=0.05)


def test_rotation_by_zero_is_identity():
    rng = np.random.default_rng(3)
    win = rng.integers(0, 256, (5, 36, 36)).astype(np.uint8)
    out = rotated_samples(win, np.zeros(5), rows=(2, 34), cols=(10, 26))
    assert np.array_equal(out, win[:, 2:34, 10:26])
    # a half turn about the window centre (18, 18) maps pixel (y, x) to (36 - y, 36 - x)
    half = rotated_samples(win, np.full(5, np.pi), rows=(1, 36), cols=(1, 36))
    assert np.array_equal(half, win[:, 35:0:-1, 35:0:-1])


def test_segmentation_mask():
    img = np.full((64, 96), 128, np.uint8)
    img[:32, :32] = grating(32, 32)
    m = segmentation_tile_mask(img, blksze=32)
    assert m.shape == (2, 3) and m[0, 0] and m.sum() == 1
    assert not segmentation_tile_mask(np.full((64, 64), 9, np.uint8), blksze=32).any()


def test_fda_lcs_rvup_of_on_grating_and_noise(noise):
    g = analyse_native(grating(256, 256)).features
    r = analyse_native(rings(256, 256)).features
    n = analyse_native(noise).features
    # 4 whole ridge periods per 32-px profile: one clean spectral peak
    g8 = analyse_native(grating(256, 256, period=8, angle=0.0)).features
    assert g8["FDA_Bin10_Mean"] > 0.6 > 0.35 > n["FDA_Bin10_Mean"]
    assert g["FDA_Bin10_Mean"] > n["FDA_Bin10_Mean"]
    assert g["LCS_Bin10_Mean"] > 0.8 > 0.2 > n["LCS_Bin10_Mean"]
    # equal ridge and valley widths: ratios near 1, noise is irregular
    assert abs(g["RVUP_Bin10_Mean"] - 1) < 0.1 < abs(n["RVUP_Bin10_Mean"] - 1)
    # constant orientation: no block changes by > 4 degrees; rings rotate
    assert sum(g[f"OF_Bin10_{i}"] for i in range(10)) == 0 and g["OF_Bin10_Mean"] == 0.0
    assert sum(r[f"OF_Bin10_{i}"] for i in range(10)) > 0 and r["OF_Bin10_Mean"] > 0.05
    assert g["OrientationMap_ROIFilter_CoherenceRel"] > 0.95 > 0.3 > n["OrientationMap_ROIFilter_CoherenceRel"]


def test_roi_blank_and_print_like():
    blank = np.full((200, 200), 255, np.uint8)
    r = roi(blank)
    assert r.n_pixels == 0 and r.area_mean == 255.0
    f = roi_features(blank, r)
    assert f["OrientationMap_ROIFilter_CoherenceSum"] == 0 and f["OrientationMap_ROIFilter_CoherenceRel"] == 0
    # a dark ridge disc on white paper: the ROI is about the disc
    img = np.full((300, 300), 245, np.uint8)
    y, x = np.mgrid[0:300, 0:300]
    disc = np.hypot(x - 150, y - 150) < 100
    img[disc] = grating(300, 300)[disc] // 2
    r = roi(img)
    overlap = (r.mask & disc).sum() / (r.mask | disc).sum()
    assert overlap > 0.8
    assert r.area_mean < 120


@pytest.mark.parametrize("img", [
    np.full((300, 300), 255, np.uint8),
    np.full((300, 300), 128, np.uint8),
    grating(20, 20),
    np.zeros((1, 1), np.uint8),
    np.full((33, 500), 200, np.uint8),
])
def test_degenerate_images_give_defined_values(img):
    out = compute_native_features(img)
    assert all(np.isfinite(v) for v in out.values())
    res = analyse_native(img)
    assert res.samples["FDA"] == sum(res.features[f"FDA_Bin10_{i}"] for i in range(10))


def test_bad_input_raises():
    with pytest.raises(ValueError):
        compute_native_features(np.zeros((10, 10), np.float32))
    with pytest.raises(ValueError):
        compute_native_features(np.zeros((10, 10, 3), np.uint8))
    with pytest.raises(ValueError):
        compute_native_features(np.zeros((0, 5), np.uint8))


def test_resample_to_500():
    img = grating(300, 200, period=18)
    assert resample_to_500(img, 500) is not None and resample_to_500(img, 500).shape == img.shape
    half = resample_to_500(img, 1000)
    assert half.shape == (150, 100)
    # low-pass then resize keeps the mean grey level
    assert abs(float(half.mean()) - float(img.mean())) < 3
    with pytest.raises(ValueError):
        resample_to_500(img, 0)


# --- the fast shared paths must equal their direct formulations (generated data) ---


@pytest.mark.parametrize("shape", [(1, 1), (3, 70), (45, 33), (97, 130), (300, 260)])
def test_gaussian_blur_u8_is_bit_exact(shape):
    import cv2

    from ifb1.quality.roi import _fixed_point_kernel, gaussian_blur_u8

    # the fast path (not the OpenCV fallback) must be in use for NFIQ 2's two kernels
    assert _fixed_point_kernel(41) is not None and _fixed_point_kernel(91) is not None
    rng = np.random.default_rng(shape[0] * 1000 + shape[1])
    grey = rng.integers(0, 256, shape).astype(np.uint8)
    binary = np.where(rng.random(shape) < 0.4, 0, 255).astype(np.uint8)
    for img in (grey, binary, grating(*shape)):
        for k in (41, 91):
            assert np.array_equal(gaussian_blur_u8(img, k), cv2.GaussianBlur(img, (k, k), 0.0)), (shape, k)


@pytest.mark.parametrize("shape", [(1, 5), (31, 33), (64, 96), (150, 70), (333, 801)])
def test_tile_stats_match_per_tile_formulas(shape):
    from ifb1.quality.blocks import doubled_gradient, grid_orientation, tile_stats

    img = np.random.default_rng(sum(shape)).integers(0, 256, shape).astype(np.uint8)
    t = tile_stats(img, 32)
    h, w = shape
    for r0 in range(0, h, 32):
        for c0 in range(0, w, 32):
            blk = img[r0 : r0 + 32, c0 : c0 + 32]
            dx = doubled_gradient(blk, -1).astype(np.int64)
            dy = doubled_gradient(blk, -2).astype(np.int64)
            i, j = r0 // 32, c0 // 32
            assert t.count[i, j] == blk.size and t.sums[i, j] == blk.sum(dtype=np.int64)
            assert t.sqsums[i, j] == (blk.astype(np.int64) ** 2).sum()
            assert (t.gxx[i, j], t.gyy[i, j], t.gxy[i, j]) == ((dx * dx).sum(), (dy * dy).sum(), (dx * dy).sum())
    g = OffsetGrid(img.shape, blk=32)
    if g.count:
        assert np.array_equal(grid_orientation(img, g), ridge_orientation(g.blocks(img)))


def test_shared_tiles_give_the_same_measures():
    from ifb1.quality.blocks import tile_stats
    from ifb1.quality.ocl import ocl_block_values

    img = rings(200, 230)
    t = tile_stats(img, 32)
    assert contrast(img, tiles=t) == contrast(img)
    assert np.array_equal(ocl_block_values(img, tiles=t), ocl_block_values(img))
    r = roi(img)
    assert roi_features(img, r, tiles=t) == roi_features(img, r)
    g = OffsetGrid(img.shape, blk=32)
    assert np.array_equal(g.foreground(img, tiles=t), g.foreground(img))
    # statistics of another shape are not used by mistake
    other = tile_stats(img[:100], 32)
    assert contrast(img, tiles=other) == contrast(img)


def test_rotated_samples_outside_window_are_zero():
    # 36 x 36 source, crop reaching the window corner at 45 degrees: some samples fall outside
    win = np.full((3, 36, 36), 7, np.uint8)
    out = rotated_samples(win, np.array([np.pi / 4, 0.0, -np.pi / 4]), rows=(0, 36), cols=(0, 36))
    assert out.dtype == np.uint8 and out.shape == (3, 36, 36)
    assert (out[0] == 0).any() and (out[0] == 7).any() and (out[1] == 7).all()
