"""Grey-level normalisation and foreground segmentation at 500 ppi.

Normalisation follows Hong, Wan & Jain (1998), "Fingerprint image enhancement:
algorithm and performance evaluation" (IEEE PAMI 20(8)): every pixel is mapped
to a prescribed mean and variance.  The foreground mask combines the block
standard deviation of the normalised grey levels with the coherence of the
gradient structure tensor (Bazen & Gerez 2001, "Segmentation of fingerprint
images"), then is cleaned morphologically.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class NormaliseParams:
    """Parameters of :func:`normalise`.

    Attributes
    ----------
    mean : float
        Target mean M0 of Hong et al. (0 here: the output is centred).
    std : float
        Target standard deviation sqrt(V0) (1 here).
    invert : bool
        Flip the sign so that ridges (dark ink) become positive, the convention
        of the synthetic master maps (+1 = ridge centre).
    """

    mean: float = 0.0
    std: float = 1.0
    invert: bool = True


@dataclass(frozen=True)
class MaskParams:
    """Parameters of :func:`foreground_mask` (500 ppi defaults).

    Attributes
    ----------
    block : int
        Block side in px for the block statistics (16 px, about 1.5 ridge periods).
    std_ratio : float
        A block is foreground candidate when its grey-level standard deviation
        exceeds ``std_ratio`` times the 90th percentile over all blocks.
    min_coherence : float
        ... and its structure-tensor coherence (block averaged) exceeds this.
    strong_std_ratio : float
        Blocks above ``strong_std_ratio`` x the 90th percentile are kept even with
        low coherence (singular points, dense ridges).
    close_blocks, open_blocks : int
        Radii (in blocks) of the morphological closing (bridges small gaps,
        fills creases) and opening (drops isolated specks).
    min_component_frac : float
        Connected components smaller than this fraction of the largest one are
        dropped (keeps the four fingers of a slap, drops stray text).
    erode_px : int
        Final erosion in px: pulls the mask edge inside the print so that the
        block smear at the edge does not count as foreground.
    """

    block: int = 16
    std_ratio: float = 0.25
    min_coherence: float = 0.25
    strong_std_ratio: float = 0.6
    close_blocks: int = 2
    open_blocks: int = 1
    min_component_frac: float = 0.1
    erode_px: int = 4


def normalise(image: np.ndarray, *, params: NormaliseParams = NormaliseParams()) -> np.ndarray:
    """Normalise grey levels to a prescribed mean and variance (Hong et al. 1998).

    Parameters
    ----------
    image : ndarray, shape (H, W)
        Grey image (uint8 or float), dark ridges on light paper.
    params : NormaliseParams
        Target mean/std and polarity.

    Returns
    -------
    ndarray, float32, shape (H, W)
        ``M0 +/- sqrt(V0 (I - M)^2 / V)``, i.e. a global standardisation; sign
        flipped when ``params.invert`` so ridges are positive.  A constant image
        maps to ``M0`` everywhere.
    """
    img = np.asarray(image, dtype=np.float32)
    mean, std = cv2.meanStdDev(img)
    m, s = float(mean[0, 0]), float(std[0, 0])
    out = img - m
    if s > 1e-6:
        out *= params.std / s
    else:
        out[...] = 0.0
    if params.invert:
        out = -out
    if params.mean:
        out += params.mean
    return out


def block_statistics(norm: np.ndarray, coherence: np.ndarray, block: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Block standard deviation and mean coherence on a ``block`` grid.

    Parameters
    ----------
    norm : ndarray, float32
        Normalised image.
    coherence : ndarray, float32
        Per-pixel coherence in [0, 1].
    block : int
        Block side in px.

    Returns
    -------
    std, coh : ndarray, float32, shape (ceil(H/block), ceil(W/block))
    """
    h, w = norm.shape
    gh, gw = -(-h // block), -(-w // block)
    # INTER_AREA to an exact integer factor is a block mean; pad to a multiple first.
    pad = ((0, gh * block - h), (0, gw * block - w))
    n = np.pad(norm, pad, mode="reflect") if any(p[1] for p in pad) else norm
    c = np.pad(coherence, pad, mode="reflect") if any(p[1] for p in pad) else coherence
    m1 = cv2.resize(n, (gw, gh), interpolation=cv2.INTER_AREA)
    m2 = cv2.resize(n * n, (gw, gh), interpolation=cv2.INTER_AREA)
    coh = cv2.resize(c, (gw, gh), interpolation=cv2.INTER_AREA)
    std = np.sqrt(np.maximum(m2 - m1 * m1, 0.0))
    return std, coh


def foreground_mask(norm: np.ndarray, coherence: np.ndarray, *,
                    params: MaskParams = MaskParams()) -> np.ndarray:
    """Segment the fingerprint foreground.

    Parameters
    ----------
    norm : ndarray, float32, shape (H, W)
        Output of :func:`normalise`.
    coherence : ndarray, float32, shape (H, W)
        Structure-tensor coherence (see :func:`ifb1.enhance.orientation.orientation_field`).
    params : MaskParams
        Thresholds and morphology.

    Returns
    -------
    ndarray, bool, shape (H, W)
        True on the print.  All False when nothing qualifies.
    """
    b = params.block
    h, w = norm.shape
    std, coh = block_statistics(norm, coherence, b)
    ref = float(np.percentile(std, 90)) if std.size else 0.0
    if ref <= 1e-6:
        return np.zeros((h, w), dtype=bool)
    cand = ((std > params.std_ratio * ref) & (coh > params.min_coherence)) | (
        std > params.strong_std_ratio * ref)
    m = cand.astype(np.uint8)
    if params.close_blocks > 0:
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * params.close_blocks + 1,) * 2)
        # pad so that closing does not glue the mask to the image border
        p = params.close_blocks
        m = cv2.morphologyEx(np.pad(m, p), cv2.MORPH_CLOSE, k)[p:-p, p:-p]
    if params.open_blocks > 0:
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * params.open_blocks + 1,) * 2)
        m = cv2.morphologyEx(m, cv2.MORPH_OPEN, k)
    m = _fill_holes(m)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=4)
    if n <= 1:
        return np.zeros((h, w), dtype=bool)
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = np.zeros(n, dtype=bool)
    keep[1:] = areas >= params.min_component_frac * areas.max()
    m = keep[labels].astype(np.uint8)
    # bilinear upsampling then a 0.5 threshold gives a smooth outline through
    # the block edges (block (i, j) covers px [i*b, (i+1)*b))
    full = cv2.resize(m.astype(np.float32), (m.shape[1] * b, m.shape[0] * b),
                      interpolation=cv2.INTER_LINEAR)[:h, :w] > 0.5
    if params.erode_px > 0:
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * params.erode_px + 1,) * 2)
        full = cv2.erode(full.astype(np.uint8), k).astype(bool)
    return full


def _fill_holes(m: np.ndarray) -> np.ndarray:
    """Fill background regions not connected to the image border (uint8 0/1)."""
    inv = (1 - m).astype(np.uint8)
    n, labels = cv2.connectedComponents(np.pad(inv, 1, constant_values=1), connectivity=4)
    outside = labels[0, 0]
    filled = (labels[1:-1, 1:-1] != outside).astype(np.uint8)
    return filled
