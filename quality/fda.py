"""Frequency domain analysis (FDA) of NFIQ 2.3 (``FDAFeature.cpp``).

Blocks of 32 x 32 pixels start 2 px from the top-left corner; only foreground
blocks (every pixel of the ``ridgesegment`` mask set, tiles of 32, threshold
0.1) are used.  For each block the ridge orientation is estimated from the
centred-difference gradient covariance of the block; its 36 x 36 window (block
plus 2 px) is zero-padded by 2 px and rotated (nearest neighbour) by the
orientation + 90 degrees so that the ridges run horizontally, and a 32 x 16
(rows x columns) patch at the centre is averaged along its rows into a
32-sample profile across the ridges.  With ``A`` the DFT magnitudes of that
profile without the DC term (31 values) and ``k`` the first index of their
maximum, the block value is::

    FDA = (A[k] + 0.3 (A[k-1] + A[k+1])) / sum(A[0:15])

or 1 when the maximum is at either end of ``A``.

``FDA_Bin10_0..9`` count foreground blocks per bin (NFIQ 2's boundaries
``FDA_LIMITS``); ``FDA_Bin10_Mean``/``_StdDev`` are the mean and population
standard deviation of the block values (unitless).

Reference: NIST NFIQ 2.3, ``usnistgov/NFIQ2``; Lim et al., "Fingerprint
quality and validity analysis", ICIP 2002 (the FDA measure).
"""

from __future__ import annotations

import numpy as np

from ifb1.quality.blocks import (
    OffsetGrid,
    as_gray_u8,
    histogram_features,
    ridge_orientation,
    rotated_samples,
)

FDA_LIMITS = (0.268, 0.304, 0.33, 0.355, 0.38, 0.407, 0.44, 0.50, 1.0)
FDA_BLOCK = 32


def fda_block_values(image: np.ndarray, *, grid: OffsetGrid | None = None, fg: np.ndarray | None = None,
                     orient: np.ndarray | None = None) -> np.ndarray:
    """FDA value of every foreground block, in raster order.

    Parameters
    ----------
    image : np.ndarray
        2-D uint8 image at 500 ppi.
    grid, fg, orient : optional
        Precomputed 32-px :class:`OffsetGrid`, its foreground mask and block
        orientations (shared with LCS/RVUP by :mod:`ifb1.quality.features`).
    """
    import cv2

    img = as_gray_u8(image)
    g = grid if grid is not None else OffsetGrid(img.shape, blk=FDA_BLOCK)
    if g.count == 0:
        return np.zeros(0)
    f = fg if fg is not None else g.foreground(img)
    if not f.any():
        return np.zeros(0)
    if orient is None:
        ang = ridge_orientation(g.blocks(img)[f])
    else:
        ang = orient[f]
    # 40 x 40 source (padFlag: the window grown by 2 px of real image), rotated
    # into a 36 x 36 image; NFIQ 2 crops rows 2..33 and columns 10..25 of it
    win = g.windows(img, extra=2)[f]
    c = (g.blk + 2 * g.off) // 2
    patch = rotated_samples(win, ang + np.pi / 2, rows=(c - 16, c + 16), cols=(c - 8, c + 8))
    # row means of the patch: exact integer sums (OpenCV) / 16, as numpy's mean gives
    n_blk, prow, pcol = patch.shape
    t = cv2.reduce(patch.reshape(n_blk * prow, pcol), 1, cv2.REDUCE_SUM, dtype=cv2.CV_32S)
    t = t.reshape(n_blk, prow) / float(pcol)
    amp = np.abs(np.fft.fft(t, axis=1))[:, 1:]
    k = np.argmax(amp, axis=1)
    n = amp.shape[1]
    denom = amp[:, : n // 2].sum(axis=1)
    rows = np.arange(amp.shape[0])
    km = np.maximum(k - 1, 0)
    kp = np.minimum(k + 1, n - 1)
    val = (amp[rows, k] + 0.3 * (amp[rows, km] + amp[rows, kp])) / np.where(denom != 0, denom, np.nan)
    return np.where((k == 0) | (k + 1 >= n), 1.0, val)


def fda_features(image: np.ndarray, **kw) -> dict[str, float]:
    """``FDA_Bin10_0..9``, ``FDA_Bin10_Mean``, ``FDA_Bin10_StdDev``."""
    return histogram_features("FDA_Bin10_", fda_block_values(image, **kw), FDA_LIMITS)
