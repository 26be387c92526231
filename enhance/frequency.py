"""Local ridge frequency from short-time Fourier spectra.

Each overlapping 32x32 block (step 16) is windowed and transformed; its ridge
frequency is the spectral peak inside the band 1/15..1/3 cycles/px and inside a
wedge around the ridge normal given by the structure tensor (the "block FFT
peak" alternative to the x-signature of Hong, Wan & Jain 1998; cf. Chikkerur,
Cartwright & Govindaraju 2007).  The peak is refined to sub-bin accuracy by
Gaussian (log-parabolic) interpolation on its neighbours, then the block map is
smoothed by normalised convolution weighted with the peak's spectral
concentration, so unreliable blocks borrow from their neighbours.

The same spectra are reused by :mod:`ifb1.enhance.filter` for contextual
filtering, which is why the block tiling lives here.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
import scipy.fft as sfft


@dataclass(frozen=True)
class FrequencyParams:
    """Parameters of :func:`ridge_frequency` (500 ppi defaults).

    Attributes
    ----------
    step : int
        Block step in px; the analysis window is ``2 * step`` (16 -> 32x32).
    min_period, max_period : float
        Valid ridge period range in px (3..15, i.e. frequency 1/15..1/3).
    wedge : float
        Half-width (radians) of the search wedge around the ridge normal.
    smooth_blocks : float
        Gaussian sigma, in blocks, of the normalised-convolution smoothing.
    min_weight : float
        Smoothed weight below which a block is considered to have no estimate
        (it then takes the median of the valid blocks).
    """

    step: int = 16
    min_period: float = 3.0
    max_period: float = 15.0
    wedge: float = np.pi / 6
    smooth_blocks: float = 1.5
    min_weight: float = 0.05


@dataclass(frozen=True)
class BlockSpectra:
    """Windowed block spectra of an image.

    Attributes
    ----------
    spectra : ndarray, complex64, shape (ny, nx, w, w // 2 + 1)
        ``rfft2`` of each sine-windowed, mean-removed block.
    step : int
        Block step; block ``(i, j)`` is centred on pixel ``(i * step, j * step)``.
    shape : tuple of int
        ``(H, W)`` of the source image.
    """

    spectra: np.ndarray
    step: int
    shape: tuple[int, int]

    @property
    def window(self) -> int:
        return 2 * self.step

    @property
    def grid(self) -> tuple[int, int]:
        return self.spectra.shape[0], self.spectra.shape[1]


@lru_cache(maxsize=8)
def _window(w: int) -> np.ndarray:
    # sqrt of the periodic Hann window: applied at analysis and synthesis, its
    # square sums to one at 50 % overlap (perfect reconstruction).
    s = np.sin(np.pi * (np.arange(w) + 0.5) / w).astype(np.float32)
    return np.outer(s, s)


@lru_cache(maxsize=8)
def _polar(w: int) -> tuple[np.ndarray, np.ndarray]:
    """Radius (cycles/px) and angle of each rfft2 bin (u along x, v along y)."""
    v = np.fft.fftfreq(w)[:, None]
    u = np.fft.rfftfreq(w)[None, :]
    r = np.sqrt(u * u + v * v).astype(np.float32)
    a = np.arctan2(v, u).astype(np.float32) * np.ones_like(r)
    return r, a


def block_grid(shape: tuple[int, int], step: int) -> tuple[int, int]:
    """Number of blocks ``(ny, nx)`` covering an image of ``shape``."""
    return -(-shape[0] // step) + 1, -(-shape[1] // step) + 1


def block_spectra(image: np.ndarray, *, step: int = 16) -> BlockSpectra:
    """Windowed FFTs of overlapping ``2*step`` blocks centred every ``step`` px.

    Parameters
    ----------
    image : ndarray, float32, shape (H, W)
        Normalised image.
    step : int
        Block step (half the window).

    Returns
    -------
    BlockSpectra
    """
    h, w_img = image.shape
    ny, nx = block_grid((h, w_img), step)
    w = 2 * step
    ph, pw = (ny + 1) * step, (nx + 1) * step
    # the image sits at offset `step`, so block i (rows i*step .. i*step+w) is
    # centred on image row i*step
    padded = cv2.copyMakeBorder(image.astype(np.float32), step, ph - h - step, step,
                                pw - w_img - step, cv2.BORDER_REFLECT_101)
    view = np.lib.stride_tricks.sliding_window_view(padded, (w, w))[::step, ::step]
    win = _window(w)
    blocks = view * win
    # remove the windowed mean so DC leakage does not masquerade as a ridge
    mean = blocks.sum(axis=(2, 3), keepdims=True) / win.sum()
    blocks -= mean * win
    return BlockSpectra(sfft.rfft2(blocks, workers=1), step, (h, w_img))


def sample_blocks(image: np.ndarray, step: int, grid: tuple[int, int]) -> np.ndarray:
    """Values of a per-pixel map at the block centres (clipped to the image)."""
    ys = np.minimum(np.arange(grid[0]) * step, image.shape[0] - 1)
    xs = np.minimum(np.arange(grid[1]) * step, image.shape[1] - 1)
    return image[np.ix_(ys, xs)]


def upsample_blocks(block_map: np.ndarray, step: int, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear interpolation of a block-centre map back to pixels."""
    ny, nx = block_map.shape
    big = cv2.resize(block_map.astype(np.float32), (nx * step, ny * step),
                     interpolation=cv2.INTER_LINEAR)
    o = step // 2
    return big[o:o + shape[0], o:o + shape[1]]


def smooth_blocks(values: np.ndarray, weights: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Normalised convolution: Gaussian-smoothed ``values`` weighted by ``weights``."""
    v = np.nan_to_num(values.astype(np.float32)) * weights
    num = cv2.GaussianBlur(v, (0, 0), sigma, borderType=cv2.BORDER_REPLICATE)
    den = cv2.GaussianBlur(weights.astype(np.float32), (0, 0), sigma,
                           borderType=cv2.BORDER_REPLICATE)
    return num / np.maximum(den, 1e-9), den


def block_peak_frequency(spec: BlockSpectra, normal: np.ndarray, *,
                         params: FrequencyParams = FrequencyParams()
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Raw per-block frequency and confidence.

    Parameters
    ----------
    spec : BlockSpectra
        Block spectra.
    normal : ndarray, shape (ny, nx)
        Ridge-normal direction per block (radians), e.g. ``theta + pi/2``.
    params : FrequencyParams
        Band and wedge.

    Returns
    -------
    freq : ndarray, float32, shape (ny, nx)
        Peak frequency in cycles/px (sub-bin), inside the valid band.
    confidence : ndarray, float32, shape (ny, nx)
        In [0, 1]: 0 when the wedge holds no more energy than isotropic noise
        would (a third of the band), 1 when it holds all of it.
    """
    w = spec.window
    r, a = _polar(w)
    fmin, fmax = 1.0 / params.max_period, 1.0 / params.min_period
    band = ((r >= fmin) & (r <= fmax)).astype(np.float32)
    p = spec.spectra.real ** 2
    p += spec.spectra.imag ** 2                                   # (ny, nx, w, w/2+1)
    # inside the wedge  <=>  cos(2 (angle - normal)) >= cos(2 wedge)
    c2 = (np.cos(2 * a) * band).astype(np.float32)
    s2 = (np.sin(2 * a) * band).astype(np.float32)
    cn = np.cos(2 * normal).astype(np.float32)[..., None, None]
    sn = np.sin(2 * normal).astype(np.float32)[..., None, None]
    inside = (c2 * cn + s2 * sn) >= np.float32(np.cos(2 * params.wedge))
    pw = p * inside
    e_band = (p * band).sum(axis=(2, 3))
    e_wedge = pw.sum(axis=(2, 3))
    iso = 2 * params.wedge / np.pi                                # noise share of the wedge
    frac = e_wedge / np.maximum(e_band, 1e-12)
    conf = np.clip((frac - iso) / (1 - iso), 0.0, 1.0).astype(np.float32)

    ny, nx = spec.grid
    flat = pw.reshape(ny, nx, -1)
    k = flat.argmax(axis=2)
    kv, ku = np.divmod(k, w // 2 + 1)
    iy, ix = np.indices((ny, nx))
    eps = 1e-12
    lp = np.log(p[iy, ix, kv, ku] + eps)
    # u neighbours; at u = 0 the left neighbour is the conjugate bin (-v, +1)
    left = np.where(ku == 0, p[iy, ix, (-kv) % w, 1], p[iy, ix, kv, np.maximum(ku - 1, 0)])
    right = p[iy, ix, kv, np.minimum(ku + 1, w // 2)]
    up = p[iy, ix, (kv - 1) % w, ku]
    down = p[iy, ix, (kv + 1) % w, ku]

    def interp(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        llo, lhi = np.log(lo + eps), np.log(hi + eps)
        den = llo - 2 * lp + lhi
        off = np.where(den < -1e-9, 0.5 * (llo - lhi) / np.where(den < -1e-9, den, -1.0), 0.0)
        return np.clip(off, -0.5, 0.5)

    fu = ku + interp(left, right)
    fv = np.where(kv < w // 2, kv, kv - w) + interp(up, down)
    freq = (np.sqrt(fu * fu + fv * fv) / w).astype(np.float32)
    valid = e_wedge > 0
    conf = np.where(valid, conf, 0.0).astype(np.float32)
    freq = np.clip(np.where(valid, freq, np.nan), fmin, fmax)
    return freq.astype(np.float32), conf


def ridge_frequency(image: np.ndarray, theta: np.ndarray, mask: np.ndarray | None = None, *,
                    params: FrequencyParams = FrequencyParams(),
                    spectra: BlockSpectra | None = None
                    ) -> tuple[np.ndarray, np.ndarray, BlockSpectra]:
    """Smoothed local ridge frequency.

    Parameters
    ----------
    image : ndarray, float32, shape (H, W)
        Normalised image.
    theta : ndarray, shape (H, W)
        Ridge orientation (radians), from :func:`orientation_field`.
    mask : ndarray of bool, optional
        Foreground; background blocks get no weight.
    params : FrequencyParams
        Band, wedge and smoothing.
    spectra : BlockSpectra, optional
        Precomputed :func:`block_spectra` (same step) to avoid recomputing.

    Returns
    -------
    frequency : ndarray, float32, shape (H, W)
        Cycles/px, within [1/max_period, 1/min_period].
    block_frequency : ndarray, float32, shape (ny, nx)
        The smoothed block map (block ``(i, j)`` centred on ``(i*step, j*step)``).
    spectra : BlockSpectra
        The block spectra used.
    """
    step = params.step
    if spectra is None:
        spectra = block_spectra(image, step=step)
    grid = spectra.grid
    th = sample_blocks(theta, step, grid)
    f, conf = block_peak_frequency(spectra, th + np.pi / 2, params=params)
    wt = conf.copy()
    if mask is not None:
        wt *= sample_blocks(mask.astype(np.float32), step, grid)
    wt[np.isnan(f)] = 0.0
    fs, den = smooth_blocks(f, wt, params.smooth_blocks)
    fmin, fmax = 1.0 / params.max_period, 1.0 / params.min_period
    good = den > params.min_weight
    fill = float(np.median(fs[good])) if good.any() else 0.1
    fs = np.clip(np.where(good, fs, fill), fmin, fmax).astype(np.float32)
    return upsample_blocks(fs, step, image.shape), fs, spectra
