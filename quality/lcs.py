"""Local clarity score (LCS) of NFIQ 2.3 (``LCSFeature.cpp``).

Same block grid, foreground test and orientation as FDA (32 x 32 blocks 2 px
in from the corner, 36 x 36 windows).  The window (not padded) is rotated by
the block orientation (nearest neighbour) so the ridges run vertically, and a
16 x 32 (rows x columns) patch at its centre is taken.  Its column means are
fitted by a least-squares line; columns below the line are ridges, the others
valleys.  From the run lengths of ridge/valley columns (with NFIQ 2's MATLAB
heritage: the first run counted one short, the last run dropped) the mean
normalised ridge width ``Wr/20`` and valley width ``Wv/20`` are formed (the
normalisation is ``(500/125) * 5`` px); when ``0.15 <= mean(NWr) <= 0.5`` and
``0.1 <= mean(NWv) <= 0.5`` the block value is ``1 - (alpha + beta)/2`` with
``alpha`` the fraction of valley-column pixels darker than the line and
``beta`` the fraction of ridge-column pixels not darker than it; otherwise 0
(also 0 when there is no ridge/valley change).

``LCS_Bin10_0..9`` count foreground blocks per bin (``LCS_LIMITS``);
``_Mean``/``_StdDev`` are the mean and population standard deviation
(unitless, 0 worst .. 1 best).

Reference: NIST NFIQ 2.3, ``usnistgov/NFIQ2``; Chen, Tan & Jain / Smida
(2011, MSc thesis) local clarity; ISO/IEC 29794-4:2017.
"""

from __future__ import annotations

import numpy as np

from ifb1.quality.blocks import (
    OffsetGrid,
    histogram_features,
    ridge_valley_structure,
    rotated_block_samples,
)

LCS_LIMITS = (0.0, 0.70, 0.74, 0.77, 0.79, 0.81, 0.83, 0.85, 0.87)
LCS_BLOCK = 32
#: NFIQ 2: RscaleNorm = (500 / 125) * 5 (also used for the valley minimum)
_SCALE = (500.0 / 125.0) * 5.0
_NWR_MIN, _NWR_MAX = 3.0 / _SCALE, 10.0 / _SCALE
_NWV_MIN, _NWV_MAX = 2.0 / _SCALE, 10.0 / _SCALE


def _run_stats(ridval: np.ndarray) -> tuple[np.ndarray, ...]:
    """Sums and counts of the even/odd entries of NFIQ 2's ``Wrv`` per block.

    ``Wrv[0]`` is the index of the first change, ``Wrv[k]`` the distance
    between consecutive changes; changes are positions ``p`` with
    ``ridval[p+1] != ridval[p]``.
    """
    ch = ridval[:, 1:] != ridval[:, :-1]
    pos = np.arange(ch.shape[1])
    last = np.maximum.accumulate(np.where(ch, pos, -1), axis=1)
    prev = np.concatenate([np.zeros((ch.shape[0], 1), np.int64), np.maximum(last[:, :-1], 0)], axis=1)
    width = np.where(ch, pos[None, :] - prev, 0)
    k = np.cumsum(ch, axis=1) - 1
    even = ch & (k % 2 == 0)
    odd = ch & (k % 2 == 1)
    return (
        ch.any(axis=1),
        (width * even).sum(axis=1),
        even.sum(axis=1),
        (width * odd).sum(axis=1),
        odd.sum(axis=1),
    )


def _cv_mean(values: list[float]) -> float:
    """``cv::mean`` of a short double vector, in OpenCV's summation order.

    OpenCV sums four values at a time (``s += a + b + c + d``) and multiplies
    by the reciprocal of the count; at the clarity-test boundaries this
    rounding decides the outcome, so it is reproduced for those blocks.
    """
    s = 0.0
    i = 0
    n = len(values)
    while i <= n - 4:
        s += values[i] + values[i + 1] + values[i + 2] + values[i + 3]
        i += 4
    while i < n:
        s += values[i]
        i += 1
    return s * (1.0 / n) if n else 0.0


def _boundary_fix(ridval: np.ndarray, ok: np.ndarray, near: np.ndarray) -> np.ndarray:
    """Re-decide the clarity test exactly for blocks whose mean widths sit on a limit."""
    ok = ok.copy()
    for b in np.flatnonzero(near):
        r = ridval[b]
        ci = np.flatnonzero(r[1:] != r[:-1])
        wrv = np.diff(ci, prepend=0)
        first = [float(w) / _SCALE for w in wrv[0::2]]
        second = [float(w) / _SCALE for w in wrv[1::2]]
        nwr, nwv = (first, second) if r[0] else (second, first)
        mr = _cv_mean(nwr) if nwr else 0.0
        mv = _cv_mean(nwv) if nwv else 0.0
        ok[b] = ci.size > 0 and _NWR_MIN <= mr <= _NWR_MAX and _NWV_MIN <= mv <= _NWV_MAX
    return ok


def lcs_of_patches(v2: np.ndarray) -> np.ndarray:
    """LCS of each rotated ``(n, 16, 32)`` patch."""
    ridval, dt, _ = ridge_valley_structure(v2)
    has, s_even, n_even, s_odd, n_odd = _run_stats(ridval)
    begrid = ridval[:, 0]
    s_r = np.where(begrid, s_even, s_odd)
    n_r = np.where(begrid, n_even, n_odd)
    s_v = np.where(begrid, s_odd, s_even)
    n_v = np.where(begrid, n_odd, n_even)
    # mean widths in pixels, exact rationals compared with the limits in pixels
    mw_r = np.where(n_r > 0, s_r / np.maximum(n_r, 1), 0.0)
    mw_v = np.where(n_v > 0, s_v / np.maximum(n_v, 1), 0.0)
    ok = has & (mw_r >= 3.0) & (mw_r <= 10.0) & (mw_v >= 2.0) & (mw_v <= 10.0)
    # on a limit, NFIQ 2's floating-point mean of w/20 decides
    near = has & (
        (s_r == 3 * n_r) | (s_r == 10 * n_r) | (s_v == 2 * n_v) | (s_v == 10 * n_v)
    ) & ((n_r > 1) | (n_v > 1))
    if near.any():
        ok = _boundary_fix(ridval, ok, near)
    above = v2.astype(np.float64) >= dt[:, None, :]
    rows = v2.shape[1]
    ridge_good = (above & ridval[:, None, :]).sum(axis=(1, 2))
    valley_good = (~above & ~ridval[:, None, :]).sum(axis=(1, 2))
    ridge_px = ridval.sum(axis=1) * rows
    valley_px = (~ridval).sum(axis=1) * rows
    with np.errstate(invalid="ignore", divide="ignore"):
        alpha = valley_good / valley_px
        beta = ridge_good / ridge_px
        val = 1.0 - (alpha + beta) / 2.0
    return np.where(ok, val, 0.0)


def lcs_block_values(image: np.ndarray, *, grid: OffsetGrid | None = None, fg: np.ndarray | None = None,
                     orient: np.ndarray | None = None) -> np.ndarray:
    """LCS value of every foreground block, in raster order."""
    v2 = rotated_block_samples(image, blk=LCS_BLOCK, grid=grid, fg=fg, orient=orient)
    return np.zeros(0) if v2 is None else lcs_of_patches(v2)


def lcs_features(image: np.ndarray, **kw) -> dict[str, float]:
    """``LCS_Bin10_0..9``, ``LCS_Bin10_Mean``, ``LCS_Bin10_StdDev``."""
    return histogram_features("LCS_Bin10_", lcs_block_values(image, **kw), LCS_LIMITS)
