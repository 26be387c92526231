"""Orientation certainty level (OCL) of NFIQ 2.3 (``OCLHistogramFeature.cpp``).

For a block, the covariance matrix ``[[a, c], [c, b]]`` of the grey-level
gradients (centred differences inside the block, one-sided at its edges) is
averaged over the block and ``OCL = 1 - lambda_min / lambda_max`` (0 = no
dominant orientation, 1 = perfectly oriented).  Blocks with ``lambda_max == 0``
(flat blocks) are left out of the histogram.

``OCL_Bin10_*``: the image is tiled into non-overlapping 32 x 32 blocks from
the top-left corner (partial blocks ignored); bins use NFIQ 2's boundaries
``OCL_LIMITS``; ``_Mean``/``_StdDev`` are the mean and population standard
deviation of the block values.  Bin values are block counts, OCL is unitless.

:func:`ocl_at_points` gives the OCL of the 32 x 32 block centred at given
points, clamped inside the image, as NFIQ 2's ``FJFXPos_OCL_MinutiaeQuality_80``
uses it (``FJFXMinutiaeQualityFeatures.cpp::computeOCLMinQuality``).

Reference: NIST NFIQ 2.3, ``usnistgov/NFIQ2``; ISO/IEC 29794-4:2017 (OCL).
"""

from __future__ import annotations

import numpy as np

from ifb1.quality.blocks import TileStats, as_gray_u8, block_covariance, gradient_tile_sums, histogram_features

OCL_BLOCK = 32
OCL_LIMITS = (0.337, 0.479, 0.579, 0.655, 0.716, 0.766, 0.81, 0.852, 0.898)


def ocl_of_blocks(blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """OCL of each block of a ``(..., b, b)`` stack.

    Returns
    -------
    ocl : np.ndarray
        OCL per block (0 where undefined).
    valid : np.ndarray
        False where the largest eigenvalue is 0 (NFIQ 2 skips those blocks).
    """
    return _ocl(*block_covariance(blocks))


def _ocl(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    root = np.sqrt((a - b) ** 2 + 4 * c * c)
    emax = ((a + b) + root) / 2.0
    emin = ((a + b) - root) / 2.0
    valid = emax != 0
    ocl = np.where(valid, 1.0 - emin / np.where(valid, emax, 1.0), 0.0)
    return ocl, valid


def ocl_block_values(image: np.ndarray, *, tiles: TileStats | None = None) -> np.ndarray:
    """OCL of every full 32 x 32 tile with a defined value, in raster order.

    ``tiles``: precomputed 32 x 32 :class:`~ifb1.quality.blocks.TileStats` of ``image``.
    """
    img = as_gray_u8(image)
    nr, nc = img.shape[0] // OCL_BLOCK, img.shape[1] // OCL_BLOCK
    if nr == 0 or nc == 0:
        return np.zeros(0)
    if tiles is not None and tiles.matches(img, OCL_BLOCK):
        gxx, gyy, gxy = tiles.gxx[:nr, :nc], tiles.gyy[:nr, :nc], tiles.gxy[:nr, :nc]
    else:
        gxx, gyy, gxy = gradient_tile_sums(img[: nr * OCL_BLOCK, : nc * OCL_BLOCK], OCL_BLOCK)
    # the same exact integer sums as block_covariance, divided the same way
    n = 4.0 * OCL_BLOCK * OCL_BLOCK
    ocl, valid = _ocl(gxx / n, gyy / n, gxy / n)
    return ocl[valid]


def ocl_features(image: np.ndarray) -> dict[str, float]:
    """``OCL_Bin10_0..9``, ``OCL_Bin10_Mean``, ``OCL_Bin10_StdDev``."""
    return histogram_features("OCL_Bin10_", ocl_block_values(image), OCL_LIMITS)


def ocl_at_points(image: np.ndarray, xs: np.ndarray, ys: np.ndarray, *, block_size: int = OCL_BLOCK) -> np.ndarray:
    """OCL of the ``block_size`` square centred at each point (x, y).

    As in NFIQ 2, the block's corner is ``(int(x) - bs/2, int(y) - bs/2)``
    clamped so the whole block lies inside the image; flat blocks give 0.

    Parameters
    ----------
    image : np.ndarray
        2-D uint8 image at least ``block_size`` in each dimension.
    xs, ys : array_like
        Point coordinates in pixels (column, row).
    block_size : int
        Block side (32 in NFIQ 2).

    Returns
    -------
    np.ndarray
        float64 OCL per point in [0, 1].

    Raises
    ------
    ValueError
        If the image is smaller than one block.
    """
    img = as_gray_u8(image)
    h, w = img.shape
    if h < block_size or w < block_size:
        raise ValueError(f"image {w}x{h} is smaller than one {block_size}x{block_size} OCL block")
    x = np.asarray(xs, dtype=np.float64).astype(np.int64).ravel()
    y = np.asarray(ys, dtype=np.float64).astype(np.int64).ravel()
    if x.size == 0:
        return np.zeros(0)
    left = np.clip(x - block_size // 2, 0, w - block_size)
    top = np.clip(y - block_size // 2, 0, h - block_size)
    win = np.lib.stride_tricks.sliding_window_view(img, (block_size, block_size))
    ocl, _ = ocl_of_blocks(win[top, left])
    return ocl
