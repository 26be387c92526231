"""Region-of-interest measures of NFIQ 2.3.

``ImgProcROIArea_Mean`` (``ImgProcROIFeature.cpp``): the fingerprint area is
found by eroding with a 5 x 5 square, ``GaussianBlur(41 x 41)``, Otsu
binarisation, ``GaussianBlur(91 x 91)``, Otsu again, filling the holes of the
dark (foreground) region and keeping only the dark 4-connected region whose
bounding box is largest.  The measure is the mean grey value of the original
image over that region (255 when the region is empty).  The number of region
pixels is NFIQ 2's actionable value ``SufficientFingerprintForeground``.

``OrientationMap_ROIFilter_CoherenceSum`` / ``_CoherenceRel``
(``QualityMapFeatures.cpp``): the image is tiled into 32 x 32 blocks from the
top-left (partial edge blocks included; NFIQ 2.3 uses 32 x 32 here, older
releases 16 x 16); a block is in the ROI when it holds
at least one region pixel.  For each ROI block, with centred-difference
gradients ``gx, gy`` inside the block and ``v = (gx^2 - gy^2, 2 gx gy)``, the
coherence is ``|sum v| / sum |v|`` (0 for a flat block).  ``CoherenceSum`` is
the sum over ROI blocks, ``CoherenceRel`` the sum divided by the number of ROI
blocks (0 when there is none).

Units: grey levels (area mean), pixels (foreground count), unitless
(coherence).  Reference: NIST NFIQ 2.3, ``usnistgov/NFIQ2``.  OpenCV's
``GaussianBlur`` (default ``BORDER_REFLECT_101``, sigma from the kernel size)
is reproduced bit-exactly by :func:`gaussian_blur_u8` (faster), and
``threshold(THRESH_OTSU)`` is called directly.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from ifb1.quality.blocks import TileStats, as_gray_u8, gradient_tile_sums, tile_sums

ROI_BLOCK = 32


@dataclass(frozen=True)
class RoiResult:
    """Region of interest of one image.

    Attributes
    ----------
    mask : np.ndarray
        bool, True on fingerprint-region pixels.
    n_pixels : int
        Number of region pixels (``SufficientFingerprintForeground``).
    area_mean : float
        Mean grey value over the region (``ImgProcROIArea_Mean``), 255 if empty.
    block_mask : np.ndarray
        bool per 32 x 32 tile, True when the tile holds a region pixel.
    """

    mask: np.ndarray
    n_pixels: int
    area_mean: float
    block_mask: np.ndarray


@functools.lru_cache(maxsize=8)
def _fixed_point_kernel(ksize: int) -> np.ndarray | None:
    """OpenCV's bit-exact 8-bit Gaussian kernel for ``ksize`` (sigma from the size).

    For 8-bit images ``cv::GaussianBlur`` uses integer taps in units of 1/256
    (summing to 256) in both passes and rounds ``(sum + 2**15) >> 16``.  The
    taps are read back from OpenCV itself: blurring a line of 255s gives
    ``round(255 k / 256) = k`` for every tap ``k < 128``.  Returned as float32
    ``k / 256`` with the zero tails trimmed, or None when the read-back is not
    a valid symmetric kernel (then :func:`gaussian_blur_u8` calls OpenCV).
    Cached: it is a constant of the installed OpenCV.
    """
    import cv2

    n = 2 * ksize + 8
    c = n // 2
    line = np.zeros((n, n), np.uint8)
    line[:, c] = 255
    kx = cv2.GaussianBlur(line, (ksize, ksize), 0.0)[c].astype(np.int64)
    ky = cv2.GaussianBlur(np.ascontiguousarray(line.T), (ksize, ksize), 0.0)[:, c].astype(np.int64)
    if kx.sum() != 256 or kx.max() >= 128 or not np.array_equal(kx, ky):
        return None
    nz = np.flatnonzero(kx)
    r = int(max(c - nz[0], nz[-1] - c))
    k = kx[c - r : c + r + 1]
    if not np.array_equal(k, k[::-1]):
        return None
    return (k / 256.0).astype(np.float32)


def gaussian_blur_u8(image: np.ndarray, ksize: int) -> np.ndarray:
    """``cv2.GaussianBlur(image, (ksize, ksize), 0)`` of a uint8 image, bit-exact but faster.

    OpenCV's 8-bit Gaussian blur is an exact integer filter (taps in 1/256,
    rounding half up at the end).  The same integers are summed here with a
    float32 ``sepFilter2D`` (all partial sums are multiples of 2**-16 below
    256, so float32 holds them exactly) over the non-zero taps only, and
    truncating ``x + 0.5`` reproduces the rounding.  About 3x faster for the
    91 x 91 blur of the ROI.  Border ``BORDER_REFLECT_101`` as OpenCV's default.

    Parameters
    ----------
    image : np.ndarray
        2-D uint8 image.
    ksize : int
        Odd kernel size.

    Returns
    -------
    np.ndarray
        uint8 image equal to ``cv2.GaussianBlur(image, (ksize, ksize), 0.0)``.
    """
    img = as_gray_u8(image)
    out = img.copy()
    _blur_in_place(out, ksize)
    return out


def _blur_in_place(image: np.ndarray, ksize: int, buf: np.ndarray | None = None) -> np.ndarray | None:
    """:func:`gaussian_blur_u8` written back into ``image`` (contiguous uint8).

    ``buf``: optional float32 work buffer of the image's shape, returned for
    reuse (None when OpenCV's own blur was used).  Fewer fresh whole-image
    buffers keep the ROI from page-faulting on every call.
    """
    import cv2

    k = _fixed_point_kernel(int(ksize))
    if k is None:
        cv2.GaussianBlur(image, (ksize, ksize), 0.0, dst=image)
        return None
    if buf is None or buf.shape != image.shape:
        buf = np.empty(image.shape, np.float32)
    cv2.sepFilter2D(image, cv2.CV_32F, k, k, dst=buf, delta=0.5, borderType=cv2.BORDER_REFLECT_101)
    # float -> uint8 truncates: floor(x + 0.5), OpenCV's rounding of its fixed-point sums
    np.copyto(image, buf, casting="unsafe")
    return buf


def _largest_box_region(fg: np.ndarray) -> np.ndarray:
    """The 4-connected region of ``fg`` (bool, or uint8 non-zero) with the largest bounding box.

    The first in raster order wins ties.  Returns a bool mask.
    """
    import cv2

    src = fg.view(np.uint8) if fg.dtype == bool else fg
    try:  # 16-bit labels halve the buffer; OpenCV raises if they would overflow
        n, labels = cv2.connectedComponents(src, connectivity=4, ltype=cv2.CV_16U)
    except cv2.error:
        n, labels = cv2.connectedComponents(src, connectivity=4, ltype=cv2.CV_32S)
    if n <= 2:
        return fg if fg.dtype == bool else fg != 0
    best_area, best_first, keep = -1, 0, 0
    w = fg.shape[1]
    for k in range(1, n):
        m = labels == k
        x, y, bw, bh = cv2.boundingRect(m.view(np.uint8))
        # a region's first pixel in raster order lies in the top row of its box
        first = y * w + x + int(np.argmax(m[y, x : x + bw]))
        if bw * bh > best_area or (bw * bh == best_area and first < best_first):
            best_area, best_first, keep = bw * bh, first, k
    return labels == keep


def roi(image: np.ndarray) -> RoiResult:
    """Compute NFIQ 2's image-processing ROI.

    Parameters
    ----------
    image : np.ndarray
        2-D uint8 image at 500 ppi.

    Returns
    -------
    RoiResult
    """
    import cv2

    img = as_gray_u8(image)
    h, w = img.shape
    if h == 0 or w == 0:
        return RoiResult(np.zeros((h, w), bool), 0, 255.0, np.zeros((0, 0), bool))
    # one uint8 and one float32 work image, reused in place through the steps
    work = cv2.erode(img, np.ones((5, 5), np.uint8))
    buf = _blur_in_place(work, 41)
    cv2.threshold(work, 0, 255, cv2.THRESH_OTSU, dst=work)
    _blur_in_place(work, 91, buf)
    del buf
    cv2.threshold(work, 0, 255, cv2.THRESH_OTSU, dst=work)
    # fill the holes of the dark region: flood the light background from
    # outside the image (4-connected); light pixels it does not reach are holes
    bg = cv2.copyMakeBorder(work, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=255)
    del work
    cv2.floodFill(bg, None, (0, 0), 128, 0, 0, 4)
    # keep the dark 4-connected region with the largest bounding box (the
    # first in raster order on ties), as NFIQ 2's flood-fill loop does
    fg = _largest_box_region(bg[1:-1, 1:-1] != 128)
    del bg
    count = int(np.count_nonzero(fg))
    # exact integer sum (OpenCV accumulates 8-bit sums in integers)
    total = int(cv2.sumElems(cv2.bitwise_and(img, img, mask=fg.view(np.uint8)))[0])
    mean = float(total / count) if count else 255.0
    blocks = tile_sums(fg, ROI_BLOCK) > 0
    return RoiResult(fg, count, mean, blocks)


def block_coherence(image: np.ndarray, block_mask: np.ndarray, *, tiles: TileStats | None = None) -> np.ndarray:
    """Coherence of each 32 x 32 tile selected by ``block_mask`` (0 elsewhere).

    Partial tiles at the right/bottom edges use their actual size.  With
    ``gx, gy`` the in-tile centred differences, ``|v| = gx^2 + gy^2`` exactly,
    so the three sums come from the exact per-tile gradient sums
    (:func:`ifb1.quality.blocks.gradient_tile_sums`, or ``tiles`` when given).
    """
    img = as_gray_u8(image)
    if tiles is not None and tiles.matches(img, ROI_BLOCK):
        gxx, gyy, gxy = tiles.gxx, tiles.gyy, tiles.gxy
    else:
        gxx, gyy, gxy = gradient_tile_sums(img, ROI_BLOCK)
    # doubled gradients: sum(gx^2 - gy^2) = (gxx - gyy)/4, sum(2 gx gy) = gxy/2
    sx = (gxx - gyy) / 4.0
    sy = gxy / 2.0
    s2 = (gxx + gyy) / 4.0
    s1 = np.sqrt(sx * sx + sy * sy)
    coh = np.where(s2 != 0, s1 / np.where(s2 != 0, s2, 1.0), 0.0)
    return np.where(block_mask, coh, 0.0)


def roi_features(image: np.ndarray, roi_result: RoiResult | None = None, *,
                 tiles: TileStats | None = None) -> dict[str, float]:
    """``ImgProcROIArea_Mean`` and the two ROI-filtered coherence measures.

    ``roi_result`` (:func:`roi` of ``image``) and ``tiles`` (32 x 32
    :class:`~ifb1.quality.blocks.TileStats` of ``image``) may be passed precomputed.
    """
    r = roi_result if roi_result is not None else roi(image)
    coh = block_coherence(image, r.block_mask, tiles=tiles)
    n_blocks = int(r.block_mask.sum())
    csum = float(coh[r.block_mask].sum())
    return {
        "ImgProcROIArea_Mean": r.area_mean,
        "OrientationMap_ROIFilter_CoherenceRel": csum / n_blocks if n_blocks else 0.0,
        "OrientationMap_ROIFilter_CoherenceSum": csum,
    }
