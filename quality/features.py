"""All NFIQ 2.3 native quality measures of a 500 ppi fingerprint image.

:func:`compute_native_features` returns the 65 image-based measures of NFIQ 2.3
(everything except the four FingerJet FX minutiae measures) under NFIQ 2's
exact names, plus three of NFIQ 2's actionable values:

``UniformImage``
    standard deviation of the grey values (NFIQ 2 flags < 1);
``EmptyImageOrContrastTooLow``
    mean grey value ``Mu`` (NFIQ 2 flags > 250);
``SufficientFingerprintForeground``
    number of pixels of the ROI of :mod:`ifb1.quality.roi` (NFIQ 2 flags < 50000).

:func:`compute_features` adds the minutiae measures and
``FingerprintImageWithMinutiae`` from :mod:`ifb1.quality.minutiae`.
:data:`FEATURE_NAMES` is the order of the 69 measures in NFIQ 2's random
forest (``RandomForestML.cpp``), which is also the column order of the
reference CSV.

As NFIQ 2 does, the near-white frame is removed first
(:func:`ifb1.quality.blocks.remove_near_white_frame`).

Undefined values.  NFIQ 2.3 computes nothing for a uniform (sigma < 1) or
near-white (Mu > 250) image and reports an error when a histogram module has
too few blocks.  Here every measure is always defined and finite for a
non-empty image: a histogram with no blocks has all counts 0 and mean/std 0
(NFIQ 2's "a failed feature is mapped to 0" convention); ROI measures of an
image with no fingerprint region are area mean 255 and coherence 0.  The
sample counts behind each histogram are in :class:`NativeResult` so callers
can apply NFIQ 2's stricter rules.  An empty (0-pixel) image raises
``ValueError``.

Reference: NIST NFIQ 2.3, ``usnistgov/NFIQ2`` (public domain);
ISO/IEC 29794-4:2017.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

HIST_SUFFIXES = tuple(str(i) for i in range(10)) + ("Mean", "StdDev")


def _hist(prefix: str) -> tuple[str, ...]:
    return tuple(f"{prefix}_Bin10_{s}" for s in HIST_SUFFIXES)


#: The 69 NFIQ 2.3 native quality measures in random-forest order.
FEATURE_NAMES: tuple[str, ...] = (
    _hist("FDA")
    + (
        "FingerJetFX_MinCount_COMMinRect200x200",
        "FingerJetFX_MinutiaeCount",
        "FJFXPos_Mu_MinutiaeQuality_2",
        "FJFXPos_OCL_MinutiaeQuality_80",
        "ImgProcROIArea_Mean",
    )
    + _hist("LCS")
    + ("MMB", "Mu")
    + _hist("OCL")
    + _hist("OF")
    + ("OrientationMap_ROIFilter_CoherenceRel", "OrientationMap_ROIFilter_CoherenceSum")
    + _hist("RVUP")
)

#: The four measures that come from minutiae (:mod:`ifb1.quality.minutiae`).
MINUTIAE_FEATURE_NAMES: tuple[str, ...] = FEATURE_NAMES[12:16]

#: The 65 image-based measures computed here.
NATIVE_FEATURE_NAMES: tuple[str, ...] = tuple(n for n in FEATURE_NAMES if n not in MINUTIAE_FEATURE_NAMES)

#: NFIQ 2's actionable values computed here (``FingerprintImageWithMinutiae`` comes from minutiae).
ACTIONABLE_NAMES: tuple[str, ...] = ("UniformImage", "EmptyImageOrContrastTooLow", "SufficientFingerprintForeground")


@dataclass(frozen=True)
class NativeParams:
    """Parameters of :func:`compute_native_features`.

    Attributes
    ----------
    crop_white_frame : bool
        Remove the near-white frame first, as NFIQ 2 does (default True;
        cropping an already cropped image again is normally a no-op).
    """

    crop_white_frame: bool = True


@dataclass(frozen=True)
class NativeResult:
    """Native measures of one image.

    Attributes
    ----------
    features : dict
        The 65 measures (:data:`NATIVE_FEATURE_NAMES`).
    actionable : dict
        :data:`ACTIONABLE_NAMES` values.
    samples : dict
        Number of histogram samples per family (``"FDA"``, ``"LCS"``,
        ``"OCL"``, ``"OF"``, ``"RVUP"``).
    origin : tuple of int
        ``(top, left)`` of the measured (cropped) image in the input.
    shape : tuple of int
        Shape of the measured image.
    timings_ms : dict
        Wall time per module in milliseconds (``tiles``: the 32 x 32 tile
        statistics shared by contrast, ROI, OCL and the segmentation;
        ``grid``: segmentation and block orientations shared by FDA, LCS,
        RVUP and OF).
    roi_mask : np.ndarray
        The ROI of :mod:`ifb1.quality.roi` in measured-image coordinates.
    """

    features: dict[str, float]
    actionable: dict[str, float]
    samples: dict[str, int]
    origin: tuple[int, int]
    shape: tuple[int, int]
    timings_ms: dict[str, float] = field(default_factory=dict)
    roi_mask: np.ndarray | None = None


def analyse_native(image: np.ndarray, *, params: NativeParams = NativeParams()) -> NativeResult:
    """Compute the 65 native measures with their sample counts and timings.

    Parameters
    ----------
    image : np.ndarray
        2-D uint8 grey image at 500 ppi.
    params : NativeParams
        Options.

    Returns
    -------
    NativeResult

    Raises
    ------
    ValueError
        If the image is not 2-D uint8 or has no pixels.
    """
    from time import perf_counter

    from ifb1.quality.blocks import (
        OffsetGrid,
        as_gray_u8,
        grid_orientation,
        histogram_features,
        remove_near_white_frame,
        tile_stats,
    )
    from ifb1.quality.contrast import contrast
    from ifb1.quality.fda import FDA_BLOCK, FDA_LIMITS, fda_block_values
    from ifb1.quality.lcs import LCS_LIMITS, lcs_block_values
    from ifb1.quality.ocl import OCL_LIMITS, ocl_block_values
    from ifb1.quality.of import OF_LIMITS, of_block_values
    from ifb1.quality.roi import roi, roi_features
    from ifb1.quality.rvup import RVUP_LIMITS, rvup_block_values

    img = as_gray_u8(image)
    if img.size == 0:
        raise ValueError("image has no pixels")
    origin = (0, 0)
    if params.crop_white_frame:
        img, origin = remove_near_white_frame(img)
    t = {}
    feats: dict[str, float] = {}
    samples: dict[str, int] = {}

    # the 32 x 32 tiling from the corner is shared by contrast, ROI coherence,
    # OCL and ridgesegment: moments and gradient sums computed once
    t0 = perf_counter()
    tiles = tile_stats(img, 32)
    t["tiles"] = perf_counter() - t0

    t0 = perf_counter()
    c = contrast(img, tiles=tiles)
    feats.update({"MMB": c.mmb, "Mu": c.mu})
    t["contrast"] = perf_counter() - t0

    t0 = perf_counter()
    r = roi(img)
    feats.update(roi_features(img, r, tiles=tiles))
    t["roi"] = perf_counter() - t0

    t0 = perf_counter()
    v = ocl_block_values(img, tiles=tiles)
    samples["OCL"] = int(v.size)
    feats.update(histogram_features("OCL_Bin10_", v, OCL_LIMITS))
    t["ocl"] = perf_counter() - t0

    # FDA, LCS, RVUP and OF share the 32-px slanted-block grid, mask and orientation
    t0 = perf_counter()
    grid = OffsetGrid(img.shape, blk=FDA_BLOCK)
    fg = grid.foreground(img, tiles=tiles) if grid.count else np.zeros((grid.nr, grid.nc), bool)
    orient = grid_orientation(img, grid)
    t["grid"] = perf_counter() - t0
    for name, fn, limits in (("FDA", fda_block_values, FDA_LIMITS), ("LCS", lcs_block_values, LCS_LIMITS),
                             ("RVUP", rvup_block_values, RVUP_LIMITS), ("OF", of_block_values, OF_LIMITS)):
        t0 = perf_counter()
        v = fn(img, grid=grid, fg=fg, orient=orient)
        samples[name] = int(v.size)
        feats.update(histogram_features(f"{name}_Bin10_", v, limits))
        t[name.lower()] = perf_counter() - t0

    actionable = {
        "UniformImage": c.sigma,
        "EmptyImageOrContrastTooLow": c.mu,
        "SufficientFingerprintForeground": float(r.n_pixels),
    }
    ordered = {k: float(feats[k]) for k in NATIVE_FEATURE_NAMES}
    return NativeResult(ordered, actionable, samples, origin, img.shape,
                        {k: 1000.0 * s for k, s in t.items()}, r.mask)


def compute_native_features(image: np.ndarray, *, params: NativeParams = NativeParams()) -> dict[str, float]:
    """The 65 NFIQ 2.3 image-based measures plus 3 actionable values.

    Parameters
    ----------
    image : np.ndarray
        2-D uint8 grey image at 500 ppi (resample first, see
        :mod:`ifb1.quality.resample`).
    params : NativeParams
        Options.

    Returns
    -------
    dict of str to float
        :data:`NATIVE_FEATURE_NAMES` (in forest order) then :data:`ACTIONABLE_NAMES`.
    """
    res = analyse_native(image, params=params)
    return {**res.features, **res.actionable}


def compute_features(image: np.ndarray, *, minutiae=None, params: NativeParams = NativeParams()) -> dict[str, float]:
    """All 69 NFIQ 2.3 measures (forest order) plus the 4 actionable values.

    Parameters
    ----------
    image : np.ndarray
        2-D uint8 grey image at 500 ppi.
    minutiae : sequence, optional
        Minutiae (objects with ``x``, ``y``) in ``image`` coordinates, passed to
        :func:`ifb1.quality.minutiae.minutiae_features`; extracted there when None.
    params : NativeParams
        Options of the native measures.

    Returns
    -------
    dict of str to float
        :data:`FEATURE_NAMES` in order, then ``UniformImage``,
        ``EmptyImageOrContrastTooLow``, ``FingerprintImageWithMinutiae``,
        ``SufficientFingerprintForeground``.
    """
    from ifb1.quality.minutiae import minutiae_features

    res = analyse_native(image, params=params)
    minu = minutiae_features(image, minutiae=minutiae)
    out = {k: float(res.features[k]) if k in res.features else float(minu[k]) for k in FEATURE_NAMES}
    out["UniformImage"] = res.actionable["UniformImage"]
    out["EmptyImageOrContrastTooLow"] = res.actionable["EmptyImageOrContrastTooLow"]
    out["FingerprintImageWithMinutiae"] = float(minu["FingerprintImageWithMinutiae"])
    out["SufficientFingerprintForeground"] = res.actionable["SufficientFingerprintForeground"]
    return out
