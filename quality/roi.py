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
and ``threshold(THRESH_OTSU)`` are called directly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ifb1.quality.blocks import doubled_gradient, as_gray_u8, tile_starts, tile_sums

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


def _fill_holes(fg: np.ndarray) -> np.ndarray:
    """Fill background components not 4-connected to the image border."""
    import cv2

    bg = np.pad((~fg).astype(np.uint8), 1, constant_values=1)
    # flood the background from the outside; what stays unreached is a hole
    cv2.floodFill(bg, None, (0, 0), 2, flags=4)
    return bg[1:-1, 1:-1] != 2


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
    eroded = cv2.erode(img, np.ones((5, 5), np.uint8))
    blur = cv2.GaussianBlur(eroded, (41, 41), 0.0)
    _, th = cv2.threshold(blur, 0, 255, cv2.THRESH_OTSU)
    blur2 = cv2.GaussianBlur(th, (91, 91), 0.0)
    _, th2 = cv2.threshold(blur2, 0, 255, cv2.THRESH_OTSU)
    fg = _fill_holes(th2 == 0)
    # keep the dark 4-connected region with the largest bounding box (the
    # first in raster order on ties), as NFIQ 2's flood-fill loop does
    n, labels, stats, _ = cv2.connectedComponentsWithStats(fg.astype(np.uint8), connectivity=4)
    if n > 2:
        area = stats[1:, cv2.CC_STAT_WIDTH].astype(np.int64) * stats[1:, cv2.CC_STAT_HEIGHT]
        best = np.flatnonzero(area == area.max()) + 1
        if best.size > 1:
            flat = labels.ravel()
            first = [int(np.argmax(flat == k)) for k in best]
            keep = int(best[int(np.argmin(first))])
        else:
            keep = int(best[0])
        fg = labels == keep
    count = int(fg.sum())
    mean = float(img[fg].sum(dtype=np.int64) / count) if count else 255.0
    blocks = tile_sums(fg.astype(np.int64), ROI_BLOCK) > 0
    return RoiResult(fg, count, mean, blocks)


def block_coherence(image: np.ndarray, block_mask: np.ndarray) -> np.ndarray:
    """Coherence of each 32 x 32 tile selected by ``block_mask`` (0 elsewhere).

    Partial tiles at the right/bottom edges use their actual size.
    """
    img = as_gray_u8(image)
    h, w = img.shape
    out = np.zeros(block_mask.shape)
    b = ROI_BLOCK
    nr, nc = h // b, w // b
    rs, cs = tile_starts(h, b), tile_starts(w, b)
    # groups of equally sized tiles: full interior, right column, bottom row, corner
    groups = [(slice(0, nr), slice(0, nc))]
    if w % b:
        groups.append((slice(0, nr), slice(nc, nc + 1)))
    if h % b:
        groups.append((slice(nr, nr + 1), slice(0, nc)))
    if w % b and h % b:
        groups.append((slice(nr, nr + 1), slice(nc, nc + 1)))
    for gr, gc in groups:
        sel = block_mask[gr, gc]
        if not sel.any():
            continue
        r0, r1 = gr.start, gr.stop
        c0, c1 = gc.start, gc.stop
        y0, x0 = rs[r0], cs[c0]
        y1 = min(h, rs[r1 - 1] + b)
        x1 = min(w, cs[c1 - 1] + b)
        bh = min(b, h - rs[r0])
        bw = min(b, w - cs[c0])
        tiles = img[y0:y1, x0:x1].reshape(r1 - r0, bh, c1 - c0, bw).transpose(0, 2, 1, 3)[sel]
        gx = doubled_gradient(tiles, -1) * 0.5
        gy = doubled_gradient(tiles, -2) * 0.5
        vy = 2 * gx * gy
        vx = gx * gx - gy * gy
        sy = vy.sum(axis=(-2, -1))
        sx = vx.sum(axis=(-2, -1))
        s2 = np.sqrt(vy * vy + vx * vx).sum(axis=(-2, -1))
        s1 = np.sqrt(sx * sx + sy * sy)
        coh = np.where(s2 != 0, s1 / np.where(s2 != 0, s2, 1.0), 0.0)
        sub = out[gr, gc]
        sub[sel] = coh
        out[gr, gc] = sub
    return out


def roi_features(image: np.ndarray, roi_result: RoiResult | None = None) -> dict[str, float]:
    """``ImgProcROIArea_Mean`` and the two ROI-filtered coherence measures."""
    r = roi_result if roi_result is not None else roi(image)
    coh = block_coherence(image, r.block_mask)
    n_blocks = int(r.block_mask.sum())
    csum = float(coh[r.block_mask].sum())
    return {
        "ImgProcROIArea_Mean": r.area_mean,
        "OrientationMap_ROIFilter_CoherenceRel": csum / n_blocks if n_blocks else 0.0,
        "OrientationMap_ROIFilter_CoherenceSum": csum,
    }
