"""Orientation flow (OF) of NFIQ 2.3 (``OFFeature.cpp``).

Blocks of 32 x 32 pixels start 2 px from the top-left corner (the grid of
FDA/LCS/RVUP; NFIQ 2.3 uses 32, older releases 16); each gets the ridge orientation of its
centred-difference gradient covariance (radians).  For every block the mean
absolute orientation difference to its 8 neighbours is taken (the grid is
padded with orientation 0, and angles are *not* wrapped, as in NFIQ 2).  A
block counts when it and its 8 neighbours are all foreground (``ridgesegment``
with 32 x 32 tiles, threshold 0.1; the border blocks never count) and its
difference exceeds ``angle_min`` = 4 degrees; its value is
``(diff - 4deg) / (90deg - 4deg)``.

``OF_Bin10_0..9`` count those blocks per bin (``OF_LIMITS``); ``_Mean`` /
``_StdDev`` are the mean and population standard deviation (unitless, 0 =
smooth flow).

Reference: NIST NFIQ 2.3, ``usnistgov/NFIQ2``; ISO/IEC 29794-4:2017
(orientation flow).
"""

from __future__ import annotations

import math

import numpy as np

from ifb1.quality.blocks import OffsetGrid, as_gray_u8, histogram_features, ridge_orientation

OF_LIMITS = (1.715e-2, 3.5e-2, 5.57e-2, 8.1e-2, 1.15e-1, 1.718e-1, 2.569e-1, 4.758e-1, 7.48e-1)
OF_BLOCK = 32
OF_ANGLE_MIN_DEG = 4.0


def of_block_values(image: np.ndarray, *, angle_min_deg: float = OF_ANGLE_MIN_DEG, grid: OffsetGrid | None = None,
                    fg: np.ndarray | None = None, orient: np.ndarray | None = None) -> np.ndarray:
    """OF value of every counted block, in raster order.

    ``grid``, ``fg`` and ``orient`` (orientation of *every* block) may be passed
    precomputed; NFIQ 2.3's OF grid is the same as FDA's (32 px, offset 2).
    """
    img = as_gray_u8(image)
    g = grid if grid is not None else OffsetGrid(img.shape, blk=OF_BLOCK)
    if g.count == 0:
        return np.zeros(0)
    if orient is None:
        orient = ridge_orientation(g.blocks(img))
    if fg is None:
        fg = g.foreground(img)
    p = np.pad(orient, 1)
    centre = p[1:-1, 1:-1]
    loq = np.zeros_like(orient)
    for dy in range(3):
        for dx in range(3):
            loq = loq + np.abs(centre - p[dy : dy + orient.shape[0], dx : dx + orient.shape[1]])
    loq = loq / 8.0
    pm = np.pad(fg, 1)
    all_fg = np.ones_like(fg)
    for dy in range(3):
        for dx in range(3):
            all_fg &= pm[dy : dy + fg.shape[0], dx : dx + fg.shape[1]]
    angmin = angle_min_deg * (math.pi / 180.0)
    angdiff = (90.0 - angle_min_deg) * (math.pi / 180.0)
    sel = all_fg & (loq > angmin)
    return (loq[sel] - angmin) / angdiff


def of_features(image: np.ndarray, **kw) -> dict[str, float]:
    """``OF_Bin10_0..9``, ``OF_Bin10_Mean``, ``OF_Bin10_StdDev``."""
    return histogram_features("OF_Bin10_", of_block_values(image, **kw), OF_LIMITS)
