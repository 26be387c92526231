"""Does a scan marked "original" look like a scanned copy?

A copy of an IFB1 is the original scanned, emailed, printed on an office
printer and scanned again. The office printer renders grey as binary toner
through a halftone screen or an ordered dither, so the mid-grey parts of the
prints carry texture at the scale of the screen cell (0.25-0.4 mm), finer than
the ridges (about 0.5 mm period), while wet ink on an original varies smoothly
at that scale. The measure is the ratio of fine-scale to ridge-scale energy in
mid-grey, textured tiles of the print area, a difference-of-Gaussians band
split (cf. the halftone detectors of forensic document examination, e.g.
Kee & Farid, "Printer profiling for forensics and ballistics", 2008).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CopyCheckParams:
    """Parameters of :func:`check_copy` (distances in mm, so any ppi works).

    Attributes
    ----------
    tile_mm : float
        Side of the square tiles sampled.
    band : tuple of float
        Vertical band of the page searched (fractions of its height): the
        print boxes, whichever way up the page was fed.
    max_tiles : int
        At most this many tiles are analysed, spread evenly over the usable ones.
    grey_range : tuple of float
        Tile mean grey level taken as "mid-grey" (halftone shows only there).
    fine_sigma_mm, ridge_sigma_mm : float
        Gaussian scales separating screen-cell texture from ridges.
    threshold : float
        Median fine/ridge energy ratio above which the scan looks like a copy.
        Generated originals measure 0.43-0.53 and copies 0.5-1.5 (6 originals,
        12 copies at 300 and 600 ppi: no original above 0.6, 9 copies above).
    min_tiles : int
        Fewer usable tiles than this: no opinion (``looks_like_copy`` False).
    """

    tile_mm: float = 4.0
    band: tuple[float, float] = (0.22, 0.78)
    max_tiles: int = 96
    grey_range: tuple[float, float] = (70.0, 215.0)
    fine_sigma_mm: float = 0.068
    ridge_sigma_mm: float = 0.21
    threshold: float = 0.6
    min_tiles: int = 8


@dataclass(frozen=True)
class CopyEvidence:
    """Result of :func:`check_copy`."""

    looks_like_copy: bool
    texture_ratio: float | None  # median fine/ridge energy ratio; None without enough tiles
    tiles: int
    reason: str


def check_copy(image: np.ndarray, *, ppi: float, params: CopyCheckParams = CopyCheckParams()) -> CopyEvidence:
    """Look for halftone or dither texture in a page scan.

    Parameters
    ----------
    image : numpy.ndarray
        The page, uint8 grey (H, W) or colour (H, W, 3), at its own resolution.
    ppi : float
        The page's resolution.
    params : CopyCheckParams

    Returns
    -------
    CopyEvidence
    """
    import cv2

    grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    px_per_mm = ppi / 25.4
    t = max(16, int(round(params.tile_mm * px_per_mm)))
    h, w = grey.shape
    y0, y1 = int(h * params.band[0]), int(h * params.band[1])
    ny, nx = (y1 - y0) // t, w // t
    if ny < 1 or nx < 1:
        return CopyEvidence(False, None, 0, "page too small to judge")
    # Choose tiles on a thumbnail (one pixel per tile): cheap, no full-page filtering.
    region = grey[y0 : y0 + ny * t, : nx * t]
    means = cv2.resize(region, (nx, ny), interpolation=cv2.INTER_AREA).astype(np.float32)
    sq = cv2.resize(cv2.multiply(region, region, dtype=cv2.CV_32F), (nx, ny), interpolation=cv2.INTER_AREA)
    std = np.sqrt(np.maximum(sq - means * means, 0))
    lo, hi = params.grey_range
    usable = np.argwhere((means > lo) & (means < hi) & (std > 6))
    # An even spread over all usable tiles: the most textured ones would favour
    # high-contrast ridges, where the ridge band dominates either way.
    step = max(1, len(usable) // params.max_tiles)
    picked = [tuple(p) for p in usable[::step][: params.max_tiles]]
    if len(picked) < params.min_tiles:
        return CopyEvidence(False, None, len(picked), "too few mid-grey print areas to judge")

    fine_s = params.fine_sigma_mm * px_per_mm
    ridge_s = params.ridge_sigma_mm * px_per_mm
    pad = int(np.ceil(3 * ridge_s))
    padded = cv2.copyMakeBorder(region, pad, pad, pad, pad, cv2.BORDER_REFLECT)
    ratios = []
    for ty, tx in picked:
        patch = padded[ty * t : ty * t + t + 2 * pad, tx * t : tx * t + t + 2 * pad].astype(np.float32)
        g1 = cv2.GaussianBlur(patch, (0, 0), fine_s)
        g2 = cv2.GaussianBlur(patch, (0, 0), ridge_s)
        core = (slice(pad, pad + t), slice(pad, pad + t))
        fine = float(np.sqrt(np.mean((patch[core] - g1[core]) ** 2)))
        ridge = float(np.sqrt(np.mean((g1[core] - g2[core]) ** 2)))
        if ridge > 4.0:
            ratios.append(fine / ridge)
    if len(ratios) < params.min_tiles:
        return CopyEvidence(False, None, len(ratios), "too few textured print areas to judge")
    ratio = float(np.median(ratios))
    if ratio > params.threshold:
        reason = f"halftone or dither texture in the prints (fine/ridge energy {ratio:.2f} > {params.threshold})"
        return CopyEvidence(True, ratio, len(ratios), reason)
    return CopyEvidence(False, ratio, len(ratios), f"no copy texture (fine/ridge energy {ratio:.2f})")
