"""Flatbed scan and scanned-copy (print-out and re-scan) simulation.

The page (uint8, page pixels) goes through exactly one geometric resampling,
``cv2.warpAffine`` with the page-to-scan matrix of :class:`ScanGeometry`
(rotation about the page centre, scale error, offset and, for a sheet fed
upside down, a half turn), so that ground-truth points are mapped by the very
same matrix. Photometric effects are uint8 look-up tables, a small Gaussian
blur, a low-resolution illumination field and tiled sensor noise, which keeps
a 500 ppi A4 page well under a second on one core.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class ScanParams:
    """Flatbed scanner behaviour (ranges are sampled per scan).

    Attributes
    ----------
    max_rotation_deg : float
        Skew of the sheet on the glass, uniform in +-this.
    max_offset_mm : float
        Shift of the sheet, uniform in +-this per axis.
    max_scale_error : float
        Relative scale error, uniform in +-this (0.01 = 1 %).
    paper_range : tuple of float
        Grey level of white paper in the scan.
    black_range : tuple of float
        Grey level of full black ink in the scan.
    gamma_range : tuple of float
        Tone curve exponent.
    noise_sigma_range : tuple of float
        Sensor noise standard deviation (grey levels).
    blur_sigma_mm : tuple of float
        Optical blur (Gaussian sigma) in mm; 0.03 mm is 0.6 px at 500 ppi.
    shading : float
        Peak-to-peak relative brightness variation of the illumination.
    bed_grey : int
        Grey level of the scanner lid where the sheet does not cover the bed.
    """

    max_rotation_deg: float = 5.0
    max_offset_mm: float = 3.0
    max_scale_error: float = 0.01
    paper_range: tuple[float, float] = (228.0, 250.0)
    black_range: tuple[float, float] = (10.0, 35.0)
    gamma_range: tuple[float, float] = (0.85, 1.15)
    noise_sigma_range: tuple[float, float] = (1.5, 4.0)
    blur_sigma_mm: tuple[float, float] = (0.02, 0.045)
    shading: float = 0.04
    bed_grey: int = 238


@dataclass(frozen=True)
class CopyParams:
    """A scanned copy: the original scanned and emailed (low resolution, JPEG), printed on
    an office printer (halftone or dithered toner), then scanned again.

    Each range is interpolated by the copy's degradation strength in [0, 1].

    Attributes
    ----------
    email_ppi : tuple of float
        Resolution of the first (emailed) scan, at strength 0 and 1.
    email_jpeg_quality : tuple of int
        JPEG quality of the emailed scan.
    screen_period_mm : tuple of float
        Halftone cell size of the print-out.
    toner_blur_mm : tuple of float
        Toner spread (Gaussian sigma).
    contrast : tuple of float
        Fraction of the original contrast kept (blacks wash out to grey).
    rescan_jpeg_quality : tuple of int
        JPEG quality of the second lossy generation after the re-scan.
    dither_probability : float
        Chance of an ordered-dither print instead of a clustered-dot halftone.
    """

    email_ppi: tuple[float, float] = (300.0, 150.0)
    email_jpeg_quality: tuple[int, int] = (85, 35)
    screen_period_mm: tuple[float, float] = (0.25, 0.42)
    toner_blur_mm: tuple[float, float] = (0.02, 0.06)
    contrast: tuple[float, float] = (0.85, 0.45)
    rescan_jpeg_quality: tuple[int, int] = (85, 40)
    dither_probability: float = 0.3


@dataclass(frozen=True)
class ScanGeometry:
    """Where the page lands in the scan.

    Attributes
    ----------
    matrix : numpy.ndarray
        2x3 affine from page pixels to scan pixels (pixel centres at integers):
        ``scan = R180? . (T(offset) . T(c) . R(rotation) . S(scale) . T(-c)) . page``,
        ``c`` the image centre, R counter-clockwise as displayed.
    rotation_deg, scale : float
        Skew and scale of the sheet (the half turn is not included).
    offset_px : tuple of float
        Shift of the sheet in scan pixels, before any half turn.
    upside_down : bool
        Whether the sheet was fed upside down (a further 180 degree turn).
    size : tuple of int
        Scan ``(width, height)``.
    """

    matrix: np.ndarray
    rotation_deg: float
    scale: float
    offset_px: tuple[float, float]
    upside_down: bool
    size: tuple[int, int]

    def apply(self, points) -> np.ndarray:
        """Map ``(N, 2)`` page pixel points into the scan."""
        return transform_points(self.matrix, points)


def transform_points(matrix: np.ndarray, points) -> np.ndarray:
    """Apply a 2x3 affine to ``(N, 2)`` points."""
    p = np.asarray(points, np.float64).reshape(-1, 2)
    return p @ np.asarray(matrix, np.float64)[:, :2].T + np.asarray(matrix, np.float64)[:, 2]


def make_geometry(size: tuple[int, int], *, rotation_deg: float, scale: float, offset_px: tuple[float, float],
                  upside_down: bool) -> ScanGeometry:
    """Build the page-to-scan affine for a page of ``size = (width, height)`` px."""
    w, h = size
    c = ((w - 1) / 2.0, (h - 1) / 2.0)
    m = cv2.getRotationMatrix2D(c, float(rotation_deg), float(scale))
    m[:, 2] += offset_px
    if upside_down:
        half = cv2.getRotationMatrix2D(c, 180.0, 1.0)
        m = half[:, :2] @ m
        m[:, 2] += half[:, 2]
        m = np.asarray(m)
    return ScanGeometry(matrix=np.asarray(m, np.float64), rotation_deg=float(rotation_deg), scale=float(scale),
                        offset_px=(float(offset_px[0]), float(offset_px[1])), upside_down=bool(upside_down),
                        size=(int(w), int(h)))


def random_geometry(rng: np.random.Generator, size: tuple[int, int], *, ppi: float, upside_down: bool,
                    params: ScanParams = ScanParams()) -> ScanGeometry:
    """Sample a sheet placement on the glass."""
    rot = float(rng.uniform(-params.max_rotation_deg, params.max_rotation_deg))
    scale = 1.0 + float(rng.uniform(-params.max_scale_error, params.max_scale_error))
    off = rng.uniform(-params.max_offset_mm, params.max_offset_mm, 2) * ppi / 25.4
    return make_geometry(size, rotation_deg=round(rot, 4), scale=round(scale, 6),
                         offset_px=(round(float(off[0]), 3), round(float(off[1]), 3)), upside_down=upside_down)


def _tiled_noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Positive and negative parts of Gaussian sensor noise (uint8), from a random tile
    repeated over the page (a 509 px tile: no visible period, a fraction of the cost)."""
    t = 509
    tile = rng.normal(0.0, sigma, (t, t)).astype(np.float32)
    pos = np.clip(np.rint(tile), 0, 255).astype(np.uint8)
    neg = np.clip(np.rint(-tile), 0, 255).astype(np.uint8)
    h, w = shape
    ry, rx = -(-h // t), -(-w // t)
    dy, dx = (int(v) for v in rng.integers(0, t, 2))
    pos = np.roll(pos, (dy, dx), (0, 1))
    neg = np.roll(neg, (dy, dx), (0, 1))
    return np.tile(pos, (ry, rx))[:h, :w], np.tile(neg, (ry, rx))[:h, :w]


def _tone_lut(black: float, white: float, gamma: float) -> np.ndarray:
    x = np.arange(256, dtype=np.float64) / 255.0
    return np.clip(black + (white - black) * x ** gamma + 0.5, 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class ScanLook:
    """Photometric choices made for one scan (recorded for reproducibility)."""

    paper: float
    black: float
    gamma: float
    noise_sigma: float
    blur_sigma_px: float
    tint_rgb: tuple[float, float, float]


def random_look(rng: np.random.Generator, *, ppi: float, params: ScanParams = ScanParams()) -> ScanLook:
    """Sample the scan's tone, noise, blur and paper tint."""
    blur = float(rng.uniform(*params.blur_sigma_mm)) * ppi / 25.4
    tint = (float(rng.uniform(0.97, 1.0)), float(rng.uniform(0.97, 1.0)), float(rng.uniform(0.9, 0.99)))
    return ScanLook(paper=float(rng.uniform(*params.paper_range)), black=float(rng.uniform(*params.black_range)),
                    gamma=float(rng.uniform(*params.gamma_range)),
                    noise_sigma=float(rng.uniform(*params.noise_sigma_range)), blur_sigma_px=blur, tint_rgb=tint)


def flatbed_scan(page: np.ndarray, geometry: ScanGeometry, rng: np.random.Generator, *,
                 look: ScanLook | None = None, params: ScanParams = ScanParams(), rgb: bool = False,
                 ppi: float = 500.0, clean: bool = False) -> np.ndarray:
    """Scan a page on a flatbed.

    Parameters
    ----------
    page : numpy.ndarray
        uint8 grey page in page pixels (255 = paper).
    geometry : ScanGeometry
        Page-to-scan placement; the only resampling done.
    rng : numpy.random.Generator
        Source of noise (and of ``look`` when not given).
    look : ScanLook, optional
        Photometric choices; sampled when omitted.
    params : ScanParams
        Ranges for sampling.
    rgb : bool
        Return ``(H, W, 3)`` with tinted paper instead of grey.
    ppi : float
        Scan resolution (sets the blur in pixels).
    clean : bool
        Geometry only: no tone curve, blur, shading or noise (for tests).

    Returns
    -------
    numpy.ndarray
        uint8 ``(H, W)`` or ``(H, W, 3)`` scan of ``geometry.size``.
    """
    w, h = geometry.size
    if clean:
        return cv2.warpAffine(page, geometry.matrix, (w, h), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=params.bed_grey)
    look = look if look is not None else random_look(rng, ppi=ppi, params=params)
    # Blur first, in page space (the optics blur the sheet), on uint8.
    src = cv2.GaussianBlur(page, (0, 0), look.blur_sigma_px) if look.blur_sigma_px > 0.2 else page
    img = cv2.warpAffine(src, geometry.matrix, (w, h), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=params.bed_grey)
    # Uneven illumination: a smooth low-resolution gain field, multiplied in uint8.
    field = 1.0 + params.shading * (rng.random((6, 5)) - 0.5)
    smooth = cv2.resize(field.astype(np.float32), (max(2, w // 16), max(2, h // 16)), interpolation=cv2.INTER_CUBIC)
    gain_u8 = cv2.resize(np.clip(smooth * 240.0 + 0.5, 0, 255).astype(np.uint8), (w, h),
                         interpolation=cv2.INTER_LINEAR)
    img = cv2.multiply(img, gain_u8, scale=1.0 / 240.0)
    pos, neg = _tiled_noise(rng, (h, w), look.noise_sigma)
    img = cv2.subtract(cv2.add(img, pos), neg)
    if not rgb:
        return cv2.LUT(img, _tone_lut(look.black, look.paper, look.gamma))
    chans = [cv2.LUT(img, _tone_lut(look.black * t, look.paper * t, look.gamma)) for t in look.tint_rgb]
    return cv2.merge(chans)


def _lerp(pair: tuple[float, float], t: float) -> float:
    return float(pair[0] + (pair[1] - pair[0]) * t)


def _jpeg_roundtrip(img: np.ndarray, quality: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)


def _screen_tile(period_px: float, *, dither: bool) -> np.ndarray:
    """A threshold tile (uint8, 0..255) for a 45-degree clustered-dot screen or a Bayer dither."""
    if dither:
        b = np.array([[0, 2], [3, 1]])
        for _ in range(3):  # 16x16 Bayer matrix
            b = np.block([[4 * b, 4 * b + 2], [4 * b + 3, 4 * b + 1]])
        return _threshold_levels(b)
    q = max(3, int(round(period_px)))
    n = q * max(1, 96 // q)
    y, x = np.mgrid[0:n, 0:n].astype(np.float64)
    # cos.cos is a dot screen at 45 degrees; dots grow from the cell centres.
    cc = np.cos(2 * np.pi * x / q) * np.cos(2 * np.pi * y / q)
    rank = cc.ravel().argsort(kind="stable").argsort(kind="stable").reshape(n, n)  # uniform thresholds
    return _threshold_levels(rank)


def _threshold_levels(rank: np.ndarray) -> np.ndarray:
    """Ranks 0..n-1 to thresholds spread over [10, 245]: near-white paper prints no toner and
    near-black prints solid (a printer's tone-curve clipping), with no stray dots."""
    return (10.0 + (rank + 0.5) * (235.0 / rank.size)).astype(np.uint8)


def print_and_copy(page: np.ndarray, rng: np.random.Generator, *, strength: float, ppi: float,
                   params: CopyParams = CopyParams()) -> np.ndarray:
    """Degrade a page as a scanned copy (in page pixels, before the final scan).

    The original is scanned at a low resolution and emailed as a JPEG, then
    printed: binary toner through a halftone screen (or an ordered dither),
    toner spread, washed-out blacks. The caller then scans the print-out with
    :func:`flatbed_scan` and applies :func:`second_generation`.

    Parameters
    ----------
    page : numpy.ndarray
        uint8 grey page.
    strength : float
        Degradation in [0, 1] (interpolates every :class:`CopyParams` range).
    """
    t = float(np.clip(strength, 0.0, 1.0))
    h, w = page.shape[:2]
    f = min(1.0, _lerp(params.email_ppi, t) / ppi)
    small = cv2.resize(page, (max(1, int(w * f)), max(1, int(h * f))), interpolation=cv2.INTER_AREA)
    small = _jpeg_roundtrip(small, int(round(_lerp(params.email_jpeg_quality, t))))
    img = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    # Print-out: darkness thresholded against a screen, i.e. binary toner dots.
    period = _lerp(params.screen_period_mm, t) * ppi / 25.4
    tile = _screen_tile(period, dither=bool(rng.random() < params.dither_probability))
    th, tw = tile.shape
    thr = np.tile(tile, (-(-h // th), -(-w // tw)))[:h, :w]
    ink = cv2.compare(cv2.bitwise_not(img), thr, cv2.CMP_GT)  # 255 where toner
    sigma = _lerp(params.toner_blur_mm, t) * ppi / 25.4
    ink = cv2.GaussianBlur(ink, (0, 0), max(sigma, 0.3))
    keep = _lerp(params.contrast, t)
    black = 255.0 * (1.0 - keep) * float(rng.uniform(0.7, 1.0))
    paper = 255.0 - float(rng.uniform(0.0, 12.0))
    lut = np.clip(paper - (paper - black) * np.arange(256) / 255.0 + 0.5, 0, 255).astype(np.uint8)
    return cv2.LUT(ink, lut)


def second_generation(scan: np.ndarray, *, strength: float, params: CopyParams = CopyParams()) -> np.ndarray:
    """The re-scan of a copy saved as JPEG once more (the second lossy generation)."""
    q = int(round(_lerp(params.rescan_jpeg_quality, float(np.clip(strength, 0.0, 1.0)))))
    return _jpeg_roundtrip(scan, q)
