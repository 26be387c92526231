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

FingerJet FX is a different extractor: it finds minutiae with its own
enhancement and quality model, so our raw counts differ in scale.  The counts
are therefore mapped linearly to FingerJet FX's scale and capped at 255 like
FingerJet (``MinutiaeCalibration``, fitted on the NFIQ 2.3 developer set by
``benchmarks/minutiae_agreement.py --fit``); the 200x200 count also gets a term
for broken valleys in the raw image (:func:`valley_endings`), where FingerJet
FX reports many minutiae that our contextual filter heals.  The two fractions
are computed exactly as NFIQ 2 does, from our minutiae positions, without
calibration.  Agreement with NFIQ 2.3 on its 768 scored developer images
(Pearson r): count 0.89, 200x200 count 0.69, Mu_2 0.86, OCL_80 0.96.

By default the minutiae come from :func:`quality_minutiae`: the same
enhancement run on the image area-resampled to half size (250 ppi, all px
parameters halved by :func:`ifb1.enhance.scale_params`), about 4x cheaper than
full resolution and as well correlated with FingerJet FX on the developer set.
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
class MinutiaeCalibration:
    """Linear map from our minutiae counts to FingerJet FX's scale.

    ``count = count_scale * n + count_offset`` and
    ``rect = rect_scale * n_rect + rect_valley * valley_endings + rect_offset``,
    rounded and clipped to ``[0, 255]`` (``rect`` also to ``count``); no
    minutiae gives 0.  ``n`` and ``n_rect`` are our minutiae counts (whole image,
    200x200 rectangle), ``valley_endings`` the count from
    :func:`valley_endings` in the same rectangle: FingerJet FX reports many
    extra minutiae where valleys are broken (over-inked or blotchy prints),
    which our contextual filter heals, so this raw count stands in for them.
    The defaults were fitted by least squares of the clipped prediction (so
    the fit sees FingerJet's 255 cap) on the 768 scored images of the NFIQ 2.3
    developer set with ``benchmarks/minutiae_agreement.py --fit``.

    Attributes
    ----------
    count_scale, count_offset : float
        For ``FingerJetFX_MinutiaeCount``.
    rect_scale, rect_valley, rect_offset : float
        For ``FingerJetFX_MinCount_COMMinRect200x200``.
    """

    count_scale: float = 0.8215
    count_offset: float = 18.392
    rect_scale: float = 0.8918
    rect_valley: float = 0.0927
    rect_offset: float = 6.399


@dataclass(frozen=True)
class MinutiaeFeatureParams:
    """Parameters of :func:`minutiae_features`.

    Attributes
    ----------
    calibration : MinutiaeCalibration
        Count scaling to FingerJet FX.
    crop_white_frame : bool
        Crop the near-white frame first, as NFIQ 2.3 does before every measure.
    scale : float
        Resampling factor of the image the minutiae are extracted from when
        :func:`minutiae_features` extracts them itself (0.5: at 250 ppi, about
        4x cheaper than full resolution, and as well correlated with
        FingerJet FX on the developer set).
    """

    calibration: MinutiaeCalibration = field(default_factory=MinutiaeCalibration)
    crop_white_frame: bool = True
    scale: float = 0.5


def quality_enhance_params(scale: float = 0.5):
    """The :class:`ifb1.enhance.EnhanceParams` used for quality measures.

    The defaults scaled by :func:`ifb1.enhance.scale_params` for an image
    resampled by ``scale``, except the STFT block step, kept at 16 px (32 px
    windows, 64 px at 500 ppi): four times fewer blocks at half resolution,
    and the coarser orientation detail does not change the counts' agreement
    with FingerJet FX.
    """
    from dataclasses import replace

    from ifb1.enhance import EnhanceParams, scale_params

    if scale == 1.0:
        return EnhanceParams()
    p = scale_params(EnhanceParams(), scale)
    return replace(p, frequency=replace(p.frequency, step=16))


def quality_minutiae(image: np.ndarray, *, scale: float = 0.5) -> tuple:
    """Minutiae for the quality measures: :func:`ifb1.enhance.enhance` on the image
    resampled by ``scale`` (area averaging), positions mapped back to ``image``.

    Parameters
    ----------
    image : ndarray, uint8, shape (H, W)
        500 ppi grey image.
    scale : float
        Resampling factor (1.0 = full resolution).

    Returns
    -------
    tuple of Minutia
        In ``image`` coordinates.
    """
    import cv2

    from ifb1.enhance import Minutia, enhance

    if scale == 1.0:
        return enhance(image, params=quality_enhance_params(1.0)).minutiae
    small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    mins = enhance(small, params=quality_enhance_params(scale)).minutiae
    # a small pixel k covers big pixels k/scale .. (k+1)/scale - 1
    off = 0.5 / scale - 0.5
    return tuple(Minutia(m.x / scale + off, m.y / scale + off, m.angle, m.type, m.quality)
                 for m in mins)


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


def valley_endings(image: np.ndarray, rect: tuple[int, int, int, int], *, margin: int = 8) -> int:
    """Valley endings of the raw (unfiltered) image inside ``rect``.

    The window is band-passed (difference of Gaussians, sigma 1 and 4 px), its
    valleys (above zero) thinned, and the crossing-number-1 pixels more than
    ``margin`` px inside the window counted.  Broken valleys (over-inking,
    blotches) raise it; FingerJet FX finds spurious minutiae there.
    """
    import cv2
    from skimage.morphology import skeletonize

    from ifb1.enhance.minutiae import CROSSING_NUMBER, _neighbour_code

    x0, y0, x1, y1 = rect
    win = np.asarray(image[y0:y1 + 1, x0:x1 + 1], dtype=np.float32)
    if min(win.shape) <= 2 * margin:
        return 0
    g = cv2.GaussianBlur(win, (0, 0), 1.0) - cv2.GaussianBlur(win, (0, 0), 4.0)
    skel = skeletonize(g > 0)
    cn = CROSSING_NUMBER[_neighbour_code(skel)]
    inner = cn[margin:-margin, margin:-margin] == 1
    return int((inner & skel[margin:-margin, margin:-margin]).sum())


def raw_counts(image: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> tuple[int, int, int]:
    """Uncalibrated ``(n, n_rect, valley_endings)`` for minutiae at ``(xs, ys)``."""
    n = len(xs)
    if n == 0:
        return 0, 0, 0
    rect = com_rect(xs, ys, image.shape)
    x0, y0, x1, y1 = rect
    xi, yi = np.asarray(xs).astype(np.int64), np.asarray(ys).astype(np.int64)
    n_rect = int(((xi >= x0) & (xi <= x1) & (yi >= y0) & (yi <= y1)).sum())
    return n, n_rect, valley_endings(image, rect)


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
        Minutiae in ``image`` coordinates (objects with ``x`` and ``y``); when
        omitted they are extracted by :func:`quality_minutiae`.
    params : MinutiaeFeatureParams
        Count calibration and frame cropping.

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
        minutiae = quality_minutiae(img, scale=params.scale)
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
    n, n_rect, valleys = raw_counts(img, xs, ys)
    count = _clip_count(cal.count_scale * n + cal.count_offset)
    out["FingerJetFX_MinutiaeCount"] = count
    out[ACTIONABLE] = count
    out["FingerJetFX_MinCount_COMMinRect200x200"] = min(_clip_count(
        cal.rect_scale * n_rect + cal.rect_valley * valleys + cal.rect_offset), count)
    q = mu_minutiae_quality(img, xs, ys)
    out["FJFXPos_Mu_MinutiaeQuality_2"] = float(((q > 0.0) & (q <= 0.5)).sum() / n)
    if min(h, w) >= OCL_BLOCK:
        ocl = ocl_at_points(img, xs, ys, block_size=OCL_BLOCK)
        out["FJFXPos_OCL_MinutiaeQuality_80"] = float(
            (np.floor(ocl * 100 + 0.5) > 80).sum() / n)
    return out
