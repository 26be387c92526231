"""Ridge-valley uniformity (RVUP) of NFIQ 2.3 (``RVUPHistogramFeature.cpp``).

Same block grid, foreground test and orientation as FDA/LCS.  The 36 x 36
window is zero-padded by 2 px and rotated (nearest neighbour) by the block
orientation; the central 16 x 32 patch is split into ridge and valley columns
by the least-squares line through its column means (as in LCS).  Ignoring the
incomplete runs at both ends, the run lengths ``D_1 .. D_m`` of alternating
ridge/valley columns between the changes (NFIQ 2 also drops the first complete
run and considers the change at the last column pair) are taken in reverse
order and each value is the ratio of neighbouring runs, oriented as ridge width
/ valley width (NFIQ 2 inverts every other ratio, starting with the first when
the complete part begins with a valley).  Every ratio of every foreground block
is one histogram sample.

``RVUP_Bin10_0..9`` count ratios per bin (``RVUP_LIMITS``); ``_Mean`` /
``_StdDev`` are the mean and population standard deviation of all ratios
(unitless; 1 = equal ridge and valley widths).

Reference: NIST NFIQ 2.3, ``usnistgov/NFIQ2``; Andersen & Nielsen (DTU 2011)
ridge-valley uniformity; ISO/IEC 29794-4:2017.
"""

from __future__ import annotations

import numpy as np

from ifb1.quality.blocks import (
    OffsetGrid,
    histogram_features,
    ridge_valley_structure,
    rotated_block_samples,
)

RVUP_LIMITS = (0.5, 0.667, 0.8, 1.0, 1.25, 1.5, 2.0, 24.0, 30.0)
RVUP_BLOCK = 32


def rvu_of_patches(v2: np.ndarray) -> np.ndarray:
    """All ridge/valley width ratios of a stack of rotated ``(n, 16, 32)`` patches."""
    ridval, _, _ = ridge_valley_structure(v2)
    ncol = ridval.shape[1]
    # NFIQ 2 looks at changes between columns p and p+1 for p = 0 .. ncol-3
    ch = ridval[:, 1 : ncol - 1] != ridval[:, : ncol - 2]
    nch = ch.sum(axis=1)
    big = ncol + 1
    pos = np.sort(np.where(ch, np.arange(ch.shape[1])[None, :], big), axis=1)
    # D_i = p_{i+1} - p_i for i = 1 .. nch-2 (first complete run dropped)
    d = pos[:, 2:] - pos[:, 1:-1]
    nd = np.maximum(nch - 2, 0)
    # begrid: ridval just after the first change
    first = pos[:, 0]
    begrid = ridval[np.arange(len(first)), np.minimum(first + 1, ncol - 1)].astype(np.int64)
    out = []
    if d.shape[1] < 2:
        return np.zeros(0)
    # reversed list E_j = D_{nd - j} (1-based D), ratios E_j / E_{j+1}, j < nd-1
    j = np.arange(d.shape[1] - 1)
    valid = j[None, :] < (nd - 1)[:, None]
    # E_j = d[:, nd-1-j], E_{j+1} = d[:, nd-2-j]  (0-based columns of d)
    ia = np.clip(nd[:, None] - 1 - j[None, :], 0, d.shape[1] - 1)
    ib = np.clip(nd[:, None] - 2 - j[None, :], 0, d.shape[1] - 1)
    ea = np.take_along_axis(d, ia, axis=1).astype(np.float64)
    eb = np.take_along_axis(d, ib, axis=1).astype(np.float64)
    inv = (j[None, :] % 2) == (begrid[:, None] % 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(inv, 1.0 / (ea / eb), ea / eb)
    out = r[valid]
    return out


def rvup_block_values(image: np.ndarray, *, grid: OffsetGrid | None = None, fg: np.ndarray | None = None,
                      orient: np.ndarray | None = None) -> np.ndarray:
    """All RVU ratios of the foreground blocks, block by block in raster order."""
    v2 = rotated_block_samples(image, blk=RVUP_BLOCK, grid=grid, fg=fg, orient=orient, extra=2)
    return np.zeros(0) if v2 is None else rvu_of_patches(v2)


def rvup_features(image: np.ndarray, **kw) -> dict[str, float]:
    """``RVUP_Bin10_0..9``, ``RVUP_Bin10_Mean``, ``RVUP_Bin10_StdDev``."""
    return histogram_features("RVUP_Bin10_", rvup_block_values(image, **kw), RVUP_LIMITS)
