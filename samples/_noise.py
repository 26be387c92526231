"""Private helpers for the fingerprint synthesiser: smooth random fields."""

from __future__ import annotations

import cv2
import numpy as np


def smooth_noise(rng: np.random.Generator, shape: tuple[int, int], cell_px: float) -> np.ndarray:
    """A smooth random field of roughly unit standard deviation.

    Normal values on a coarse grid of ``cell_px`` spacing, interpolated bicubically to ``shape``
    (for cells under 8 px: white noise blurred with a Gaussian of sigma ``cell_px / 2``). Cheap and
    fully driven by ``rng``.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.
    shape : tuple of int
        ``(rows, cols)`` of the output.
    cell_px : float
        Correlation length in pixels (grid spacing).

    Returns
    -------
    numpy.ndarray
        float32 array of ``shape``.
    """
    h, w = int(shape[0]), int(shape[1])
    if cell_px < 8:
        # Fine grain: white noise blurred to the correlation length (cheaper than interpolating).
        sigma = 0.5 * float(cell_px)
        ksize = int(round(sigma * 8 + 1)) | 1  # OpenCV's own choice for float images
        k = cv2.getGaussianKernel(ksize, sigma)
        # Uniform white noise (several times cheaper to draw than normal); after the blur it is
        # close to Gaussian. Unit-variance uniform is 12^0.5 * (u - 0.5); the blurred std is sum(k^2).
        white = rng.random((h, w), dtype=np.float32)
        out = cv2.GaussianBlur(white, (ksize, ksize), sigma)
        out -= np.float32(0.5)
        out *= np.float32(np.sqrt(12.0) / float(np.sum(k * k)))
        return out
    gh = max(2, int(np.ceil(h / cell_px)) + 3)
    gw = max(2, int(np.ceil(w / cell_px)) + 3)
    grid = rng.standard_normal((gh, gw), dtype=np.float32)
    # Output pixel (x, y) samples the grid at (x / cell + 1, y / cell + 1): the cell size does not
    # depend on the shape. Large cells: bicubic at 1/4 resolution, then bilinear (4x cheaper).
    f = 4 if cell_px >= 16 else 1
    hs, ws = -(-h // f), -(-w // f)
    inv = f / float(cell_px)
    m = np.float32([[inv, 0.0, 1.0], [0.0, inv, 1.0]])
    out = cv2.warpAffine(grid, m, (ws, hs), flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
                         borderMode=cv2.BORDER_REFLECT)
    if f > 1:
        out = cv2.resize(out, (ws * f, hs * f), interpolation=cv2.INTER_LINEAR)[:h, :w]
        out = np.ascontiguousarray(out)
    # Bicubic interpolation of unit normals has std ~0.8 between nodes; rescale to ~1.
    out *= np.float32(1.25)
    return out


def smoothstep(x: np.ndarray) -> np.ndarray:
    """Hermite smoothstep of ``x`` clipped to [0, 1] (float32): t^2 (3 - 2 t)."""
    t = np.clip(x, 0.0, 1.0).astype(np.float32, copy=False)
    out = t * t
    t *= np.float32(-2.0)
    t += np.float32(3.0)
    out *= t
    return out
