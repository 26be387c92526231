"""NFIQ 2.3's four minutiae measures, computed from ``ifb1.enhance`` minutiae.

Definitions (NIST NFIQ 2.3, ``usnistgov/NFIQ2``: ``FingerJetFXFeature.cpp`` and
``FJFXMinutiaeQualityFeatures.cpp``), for the minutiae ``m_i = (x_i, y_i)`` of
the image after NFIQ 2's near-white frame crop:

``FingerJetFX_MinutiaeCount``
    the number of minutiae (FingerJet FX stops at 255).
``FingerJetFX_MinCount_COMMinRect200x200``
    the number of minutiae with ``cx - 100 <= x <= cx + 100`` and
    ``cy - 100 <= y <= cy + 100`` (rectangle clipped to the image), where
    ``(cx, cy)`` is the integer mean of the integer minutiae coordinates.
``FJFXPos_Mu_MinutiaeQuality_2``
    the fraction of minutiae whose 32x32 block (top-left corner at
    ``(x - 16, y - 16)`` clamped at 0, cut at the far image edges) has a mean
    grey level ``m`` with ``0 < (mu - m) / sigma <= 0.5``, ``mu`` and ``sigma``
    being the mean and standard deviation of the whole image.
``FJFXPos_OCL_MinutiaeQuality_80``
    the fraction of minutiae whose 32x32 block (clamped inside the image) has
    ``round(100 * OCL) > 80`` (OCL from :func:`ifb1.quality.ocl.ocl_at_points`).
``FingerprintImageWithMinutiae`` (actionable)
    NFIQ 2 reports the minutiae count.

FingerJet FX is a different extractor, so the minutiae are found where it
looks and the way it sees them (:func:`quality_minutiae`): only in its central
window (it works at 333 ppi on at most 256 x 400 px, :func:`fjfx_window`) and
its footprint (:func:`fjfx_footprint`: blocks with enough second-derivative
ridge energy, an absolute threshold as FingerJet's ``orimap.h``), with
:func:`ifb1.enhance.enhance` set to heal less (:func:`quality_enhance_params`),
on the window area-resampled to half size (250 ppi).  The counts are then mapped
linearly to FingerJet FX's scale and capped at 255 like FingerJet
(``MinutiaeCalibration``, fitted on the NFIQ 2.3 developer set by
``benchmarks/minutiae_agreement.py --fit``).  The two fractions are computed
exactly as NFIQ 2 does, from our minutiae positions, without calibration.
Agreement with NFIQ 2.3 on its 768 scored developer images (Pearson r):
count 0.94, 200x200 count 0.81, Mu_2 0.92, OCL_80 0.96 (before the window and
footprint: 0.89, 0.69, 0.86, 0.96).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

MINUTIAE_FEATURES = (
    "FingerJetFX_MinCount_COMMinRect200x200",
    "FingerJetFX_MinutiaeCount",
    "FJFXPos_Mu_MinutiaeQuality_2",
    "FJFXPos_OCL_MinutiaeQuality_80",
)
ACTIONABLE = "FingerprintImageWithMinutiae"
FJFX_MAX_MINUTIAE = 255
COM_RECT = 200
MU_BLOCK = 32


@dataclass(frozen=True)
class FjfxParams:
    """What FingerJet FX sees of an image, emulated at 500 ppi.

    FingerJet FX works at 333 ppi on at most 256 x 400 px: a 500 ppi image
    is cut to its central 384 x 600 px before anything else
    (``Resize_AnyTo333InPlaceOrBuffer`` in FingerJetFXOSE), and minutiae are
    kept only inside its *footprint*, the 4 x 4 px blocks (at 333 ppi) where
    the block sum of ``laplacian * (dxx - dyy, 2 dxy)`` (second derivatives,
    after Freeman & Adelson's steerable filters) is long enough, cleaned by
    majority box filters and filled along rows and columns
    (``orientation_map_and_footprint`` in ``orimap.h``).  Like FingerJet FX
    the threshold is absolute: faint or blotchy areas (capacitive, dry or
    smudged prints) fall outside, which is where FingerJet reports few
    minutiae and a healing extractor many.

    Attributes
    ----------
    window_width, window_height : int
        Central window in 500 ppi px (FingerJet's 256 x 400 at 333 ppi).
    footprint_sigma : float
        Gaussian pre-smoothing (px at 333 ppi) of the second derivatives.
    footprint_threshold : float
        Block vector length above which a block is ridge area (grey levels
        squared per px^4, summed over the 16 px of a block), chosen on the
        NFIQ 2.3 developer set with ``benchmarks/minutiae_agreement.py``.
    footprint : bool
        Set False to keep every minutia inside the window.
    """

    window_width: int = 384
    window_height: int = 600
    footprint_sigma: float = 1.5
    footprint_threshold: float = 3000.0
    footprint: bool = True


@dataclass(frozen=True)
class MinutiaeCalibration:
    """Linear map from our minutiae counts to FingerJet FX's scale.

    ``count = count_scale * n + count_offset`` and
    ``rect = rect_scale * n_rect + rect_offset``, rounded and clipped to
    ``[0, 255]`` (``rect`` also to ``count``); no minutiae gives 0.  ``n`` and
    ``n_rect`` are our counts of the minutiae FingerJet FX would see
    (:func:`fjfx_visible`) in the whole image and in the 200 x 200 rectangle.
    The defaults were fitted by least squares of the clipped prediction (so
    the fit sees FingerJet's 255 cap) on the 768 scored images of the NFIQ 2.3
    developer set with ``benchmarks/minutiae_agreement.py --fit``.

    Attributes
    ----------
    count_scale, count_offset : float
        For ``FingerJetFX_MinutiaeCount``.
    rect_scale, rect_offset : float
        For ``FingerJetFX_MinCount_COMMinRect200x200``.
    """

    count_scale: float = 0.6861
    count_offset: float = 9.238
    rect_scale: float = 0.3529
    rect_offset: float = 14.751


@dataclass(frozen=True)
class MinutiaeFeatureParams:
    """Parameters of :func:`minutiae_features`.

    Attributes
    ----------
    calibration : MinutiaeCalibration
        Count scaling to FingerJet FX.
    fjfx : FjfxParams
        FingerJet FX's window and footprint.
    crop_white_frame : bool
        Crop the near-white frame first, as NFIQ 2.3 does before every measure.
    scale : float
        Resampling factor of the image the minutiae are extracted from when
        :func:`minutiae_features` extracts them itself (0.5: at 250 ppi, about
        4x cheaper than full resolution, and as well correlated with
        FingerJet FX on the developer set).
    """

    calibration: MinutiaeCalibration = field(default_factory=MinutiaeCalibration)
    fjfx: FjfxParams = field(default_factory=FjfxParams)
    crop_white_frame: bool = True
    scale: float = 0.5


def quality_enhance_params(scale: float = 0.5):
    """The :class:`ifb1.enhance.EnhanceParams` used for the minutiae measures.

    FingerJet FX heals little: it reports broken ridges, spurs and bridges
    that :func:`ifb1.enhance.enhance`'s defaults filter and clean away.  So
    the contextual filter's radial band is twice as wide (``radial_sigma``
    0.6), the pair clean-up only merges minutiae closer than 2 px, and
    minutiae within 24 px of the foreground edge are dropped (FingerJet FX's
    footprint is smoothed inward).  Lengths are then scaled by
    :func:`ifb1.enhance.scale_params`, except the STFT block step, kept at
    16 px (32 px windows, 64 px at 500 ppi): four times fewer blocks at half
    resolution, and the coarser orientation detail does not change the
    counts' agreement with FingerJet FX.
    """
    from dataclasses import replace

    from ifb1.enhance import EnhanceParams, scale_params

    p = EnhanceParams()
    p = replace(p, filter=replace(p.filter, radial_sigma=0.6),
                minutiae=replace(p.minutiae, min_distance=2.0, border=24.0))
    if scale == 1.0:
        return p
    p = scale_params(p, scale)
    return replace(p, frequency=replace(p.frequency, step=16))


def fjfx_window(shape: tuple[int, int], *, params: FjfxParams = FjfxParams()
                ) -> tuple[int, int, int, int]:
    """``(x0, y0, width, height)`` of the central part of a 500 ppi image that
    FingerJet FX analyses (the whole image when it is small enough).

    FingerJet FX resizes by 2/3 to ``(w // 6 * 4, h // 6 * 4)`` and cuts the
    centre when that exceeds 256 x 400 px.
    """
    h, w = int(shape[0]), int(shape[1])
    ww = params.window_width if w // 6 * 4 > params.window_width * 2 // 3 else w
    wh = params.window_height if h // 6 * 4 > params.window_height * 2 // 3 else h
    return (w - ww) // 2, (h - wh) // 2, ww, wh


def fjfx_footprint(window: np.ndarray, *, params: FjfxParams = FjfxParams()) -> np.ndarray:
    """FingerJet FX-style footprint of a 500 ppi window, one cell per 6 x 6 px.

    Parameters
    ----------
    window : ndarray, uint8, shape (H, W)
        The part of the image FingerJet FX analyses (:func:`fjfx_window`).
    params : FjfxParams
        Smoothing and threshold.

    Returns
    -------
    ndarray of bool, shape (H // 6 * 4 // 4, W // 6 * 4 // 4)
        True where the block is ridge area; cell ``(i, j)`` covers 500 ppi
        pixels ``6 i .. 6 i + 5`` by ``6 j .. 6 j + 5``.
    """
    import cv2

    h, w = window.shape
    h3, w3 = h // 6 * 4, w // 6 * 4
    if h3 < 4 or w3 < 4:
        return np.zeros((h3 // 4, w3 // 4), bool)
    # 333 ppi as FingerJet FX's 3:2 reduction
    small = cv2.resize(np.ascontiguousarray(window[: h3 * 3 // 2, : w3 * 3 // 2]), (w3, h3),
                       interpolation=cv2.INTER_AREA).astype(np.float32)
    g = cv2.GaussianBlur(small, (0, 0), params.footprint_sigma)
    dxx = cv2.Sobel(g, cv2.CV_32F, 2, 0, ksize=3)
    dyy = cv2.Sobel(g, cv2.CV_32F, 0, 2, ksize=3)
    dxy = cv2.Sobel(g, cv2.CV_32F, 1, 1, ksize=3)
    lap = dxx + dyy
    hb, wb = h3 // 4, w3 // 4
    re = (lap * (dxx - dyy))[: hb * 4, : wb * 4].reshape(hb, 4, wb, 4).sum(axis=(1, 3))
    im = (lap * 2.0 * dxy)[: hb * 4, : wb * 4].reshape(hb, 4, wb, 4).sum(axis=(1, 3))
    f = (np.hypot(re, im) > params.footprint_threshold).astype(np.float32)

    def vote(a: np.ndarray, k: int, more_than: int) -> np.ndarray:
        s = cv2.boxFilter(a, -1, (k, k), normalize=False, borderType=cv2.BORDER_CONSTANT)
        return (s > more_than + 0.5).astype(np.float32)

    # FingerJet's clean-up: majority votes, row and column hole filling, erosion-like votes
    f = vote(f, 3, 3)
    f = vote(vote(f, 5, 11), 5, 11)
    for axis in (1, 0):
        f = _fill_span(f, axis)
    f = vote(vote(f, 5, 14), 5, 14)
    return f > 0


def _fill_span(f: np.ndarray, axis: int) -> np.ndarray:
    """Set every cell between the first and last set cell of each row (axis 1)
    or column (axis 0)."""
    a = f if axis == 1 else f.T
    n = a.shape[1]
    has = a.any(axis=1)
    first = a.argmax(axis=1)
    last = n - 1 - a[:, ::-1].argmax(axis=1)
    idx = np.arange(n)
    out = (has[:, None] & (idx >= first[:, None]) & (idx <= last[:, None])).astype(np.float32)
    return out if axis == 1 else out.T


def fjfx_visible(image: np.ndarray, xs: np.ndarray, ys: np.ndarray, *,
                 params: FjfxParams = FjfxParams()) -> np.ndarray:
    """Which minutiae at ``(xs, ys)`` FingerJet FX could report: inside its
    window (:func:`fjfx_window`) and, unless disabled, its footprint
    (:func:`fjfx_footprint`)."""
    xs = np.asarray(xs, dtype=np.float64)
    ys = np.asarray(ys, dtype=np.float64)
    x0, y0, ww, wh = fjfx_window(image.shape, params=params)
    lx, ly = np.floor(xs - x0), np.floor(ys - y0)
    keep = (lx >= 0) & (ly >= 0) & (lx < ww) & (ly < wh)
    if params.footprint and keep.any():
        fp = fjfx_footprint(image[y0:y0 + wh, x0:x0 + ww], params=params)
        bx, by = (lx // 6).astype(np.int64), (ly // 6).astype(np.int64)
        keep &= (bx < fp.shape[1]) & (by < fp.shape[0])
        keep[keep] = fp[by[keep], bx[keep]]
    return keep


def quality_minutiae(image: np.ndarray, *, scale: float = 0.5,
                     params: FjfxParams = FjfxParams()) -> tuple:
    """Minutiae for the quality measures, where FingerJet FX would look.

    :func:`ifb1.enhance.enhance` with :func:`quality_enhance_params` runs on
    FingerJet FX's window (:func:`fjfx_window`) resampled by ``scale`` (area
    averaging); the minutiae outside its footprint are dropped and the rest
    mapped back to ``image`` coordinates.

    Parameters
    ----------
    image : ndarray, uint8, shape (H, W)
        500 ppi grey image.
    scale : float
        Resampling factor (1.0 = full resolution).
    params : FjfxParams
        FingerJet FX's window and footprint.

    Returns
    -------
    tuple of Minutia
        In ``image`` coordinates.
    """
    import cv2

    from ifb1.enhance import Minutia, enhance

    img = np.asarray(image)
    x0, y0, ww, wh = fjfx_window(img.shape, params=params)
    win = np.ascontiguousarray(img[y0:y0 + wh, x0:x0 + ww])
    if scale != 1.0:
        win = cv2.resize(win, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    mins = enhance(win, params=quality_enhance_params(scale)).minutiae
    # a small pixel k covers big pixels k/scale .. (k+1)/scale - 1
    off = 0.5 / scale - 0.5
    mins = [Minutia(m.x / scale + off + x0, m.y / scale + off + y0, m.angle, m.type, m.quality)
            for m in mins]
    if not mins:
        return ()
    keep = fjfx_visible(img, np.array([m.x for m in mins]), np.array([m.y for m in mins]),
                        params=params)
    return tuple(m for m, k in zip(mins, keep) if k)


def com_rect(xs: np.ndarray, ys: np.ndarray, shape: tuple[int, int], *, size: int = COM_RECT
             ) -> tuple[int, int, int, int]:
    """Inclusive ``(x0, y0, x1, y1)`` of the ``size`` square centred on the minutiae's
    integer centre of mass, clipped to the image (NFIQ 2's ``computeROI``)."""
    xi = np.asarray(xs).astype(np.int64)
    yi = np.asarray(ys).astype(np.int64)
    cx, cy = int(xi.sum() // len(xi)), int(yi.sum() // len(yi))
    h, w = shape
    half = size // 2
    return max(cx - half, 0), max(cy - half, 0), min(cx + half, w - 1), min(cy + half, h - 1)


def raw_counts(image: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> tuple[int, int]:
    """Uncalibrated ``(n, n_rect)`` for minutiae at ``(xs, ys)``."""
    return len(xs), com_rect_count(xs, ys, image.shape)


def _clip_count(v: float) -> float:
    return float(min(max(round(v), 0), FJFX_MAX_MINUTIAE))


def com_rect_count(xs: np.ndarray, ys: np.ndarray, shape: tuple[int, int], *, size: int = COM_RECT) -> int:
    """Minutiae inside the ``size`` square centred on their integer centre of mass."""
    if len(xs) == 0:
        return 0
    x0, y0, x1, y1 = com_rect(xs, ys, shape, size=size)
    xi = np.asarray(xs).astype(np.int64)
    yi = np.asarray(ys).astype(np.int64)
    return int(((xi >= x0) & (xi <= x1) & (yi >= y0) & (yi <= y1)).sum())


def mu_minutiae_quality(image: np.ndarray, xs: np.ndarray, ys: np.ndarray, *,
                        block: int = MU_BLOCK) -> np.ndarray:
    """``(mean(image) - mean(block)) / std(image)`` for the block at each minutia.

    The block's top-left corner is ``(int(x) - block/2, int(y) - block/2)``
    clamped at 0 and the block is cut at the right/bottom image edges, as in
    NFIQ 2's ``computeMuMinQuality``.
    """
    import cv2

    img = np.asarray(image)
    h, w = img.shape
    mean, std = cv2.meanStdDev(img)
    me, sd = float(mean[0, 0]), float(std[0, 0])
    if len(xs) == 0 or sd == 0:
        return np.zeros(len(xs))
    x0 = np.clip(np.asarray(xs).astype(np.int64) - block // 2, 0, max(w - 1, 0))
    y0 = np.clip(np.asarray(ys).astype(np.int64) - block // 2, 0, max(h - 1, 0))
    # gather each block from a zero-padded copy; the pad is left out of the count
    pad = np.pad(img.astype(np.float32), ((0, block), (0, block)))
    off = np.arange(block)
    rows = (y0[:, None] + off[None])[:, :, None]
    cols = (x0[:, None] + off[None])[:, None, :]
    s = pad[rows, cols].sum(axis=(1, 2))
    n = (np.minimum(x0 + block, w) - x0) * (np.minimum(y0 + block, h) - y0)
    m = s / np.maximum(n, 1)
    return (me - m) / sd


def minutiae_features(image: np.ndarray, *, minutiae: Sequence | None = None,
                      params: MinutiaeFeatureParams = MinutiaeFeatureParams()) -> dict[str, float]:
    """NFIQ 2's four minutiae measures plus the ``FingerprintImageWithMinutiae`` value.

    Parameters
    ----------
    image : ndarray, uint8, shape (H, W)
        Grey fingerprint at 500 ppi.
    minutiae : sequence of Minutia, optional
        Minutiae in ``image`` coordinates (objects with ``x`` and ``y``), used
        as given; when omitted they are extracted by :func:`quality_minutiae`
        (FingerJet FX's window and footprint).  The calibration is fitted to
        the latter.
    params : MinutiaeFeatureParams
        Count calibration, FingerJet FX emulation and frame cropping.

    Returns
    -------
    dict of str to float
        Keys of :data:`MINUTIAE_FEATURES` and ``"FingerprintImageWithMinutiae"``.
        All 0 when no minutia is found (blank, uniform or tiny images).

    Raises
    ------
    ValueError
        If ``image`` is not a 2-D uint8 array.
    """
    from ifb1.quality.blocks import as_gray_u8, remove_near_white_frame
    from ifb1.quality.ocl import OCL_BLOCK, ocl_at_points

    img = as_gray_u8(image)
    top = left = 0
    if params.crop_white_frame:
        img, (top, left) = remove_near_white_frame(img)
    if minutiae is None:
        minutiae = quality_minutiae(img, scale=params.scale, params=params.fjfx)
        top = left = 0
    xs = np.array([m.x for m in minutiae], dtype=np.float64) - left
    ys = np.array([m.y for m in minutiae], dtype=np.float64) - top
    h, w = img.shape
    inside = (xs >= 0) & (ys >= 0) & (xs < w) & (ys < h)
    xs, ys = xs[inside], ys[inside]
    n = len(xs)
    cal = params.calibration
    out = dict.fromkeys(MINUTIAE_FEATURES, 0.0)
    out[ACTIONABLE] = 0.0
    if n == 0:
        return out
    n, n_rect = raw_counts(img, xs, ys)
    count = _clip_count(cal.count_scale * n + cal.count_offset)
    out["FingerJetFX_MinutiaeCount"] = count
    out[ACTIONABLE] = count
    out["FingerJetFX_MinCount_COMMinRect200x200"] = min(_clip_count(
        cal.rect_scale * n_rect + cal.rect_offset), count)
    q = mu_minutiae_quality(img, xs, ys)
    out["FJFXPos_Mu_MinutiaeQuality_2"] = float(((q > 0.0) & (q <= 0.5)).sum() / n)
    if min(h, w) >= OCL_BLOCK:
        ocl = ocl_at_points(img, xs, ys, block_size=OCL_BLOCK)
        out["FJFXPos_OCL_MinutiaeQuality_80"] = float(
            (np.floor(ocl * 100 + 0.5) > 80).sum() / n)
    return out
