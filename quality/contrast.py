"""Contrast measures ``Mu`` and ``MMB`` of NFIQ 2.3 (``MuFeature.cpp``).

* ``Mu``: arithmetic mean grey value of the image (0 = black, 255 = white).
* ``MMB``: "mean of block means": the image is tiled into 32 x 32 blocks from
  the top-left corner (partial blocks at the right/bottom edges included) and the
  block means are averaged, each block with weight 1.
* ``sigma``: population standard deviation of the grey values; NFIQ 2 reports it
  as the actionable value ``UniformImage`` (uniform when < 1).

Units: grey levels.  Reference: NIST NFIQ 2.3, ``usnistgov/NFIQ2``,
``NFIQ2Algorithm/src/features/MuFeature.cpp``; ISO/IEC 29794-4:2017.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ifb1.quality.blocks import TileStats, as_gray_u8, tile_moments

MMB_BLOCK = 32


@dataclass(frozen=True)
class ContrastResult:
    """Contrast measures of one image.

    Attributes
    ----------
    mu : float
        Mean grey value (``Mu``).
    mmb : float
        Mean of the 32 x 32 block means (``MMB``).
    sigma : float
        Population standard deviation of the grey values (``UniformImage``).
    """

    mu: float
    mmb: float
    sigma: float


def contrast(image: np.ndarray, *, tiles: TileStats | None = None) -> ContrastResult:
    """Compute ``Mu``, ``MMB`` and sigma as NFIQ 2.3 does.

    Parameters
    ----------
    image : np.ndarray
        2-D uint8 image at 500 ppi (already cropped of its near-white frame).
    tiles : TileStats, optional
        Precomputed 32 x 32 tile statistics of ``image`` (:func:`ifb1.quality.blocks.tile_stats`).

    Returns
    -------
    ContrastResult
        All NaN for an empty image.
    """
    img = as_gray_u8(image)
    if img.size == 0:
        nan = float("nan")
        return ContrastResult(nan, nan, nan)
    if tiles is not None and tiles.matches(img, MMB_BLOCK):
        cnt, sums, sqs = tiles.count, tiles.sums, tiles.sqsums
    else:
        cnt, sums, sqs = tile_moments(img, MMB_BLOCK)
    n = float(img.size)
    s = float(sums.sum())
    ss = float(sqs.sum())
    mu = s / n
    var = (n * ss - s * s) / (n * n)
    means = sums / cnt
    mmb = float((means / means.size).sum())
    return ContrastResult(float(mu), mmb, float(np.sqrt(max(var, 0.0))))


def contrast_features(image: np.ndarray) -> dict[str, float]:
    """``{"MMB": ..., "Mu": ...}`` with NFIQ 2's feature names."""
    r = contrast(image)
    return {"MMB": r.mmb, "Mu": r.mu}
