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
        Sensor noise standard deviation (grey levels), before sharpening.
    noise_blur_px : tuple of float
        Correlation of part of the noise (demosaicing, the scanner's own filtering): the
        Gaussian sigma, px, of the correlated half of it; below 0.3 the noise is white.
    paper_grain_range : tuple of float
        Standard deviation (grey levels) of the paper's fibre texture (correlation
        length about 0.1 mm).
    blur_sigma_mm : tuple of float
        Optical blur (Gaussian sigma) in mm; 0.03 mm is 0.6 px at 500 ppi.
    sharpen_range : tuple of float
        Amount of the scanner driver's unsharp mask (0 none, 1 doubles the fine detail),
        applied to the page and to the noise alike.
    sharpen_sigma_mm : float
        Scale of that unsharp mask.
    jpeg_quality_range : tuple of int
        JPEG quality the scanner saves with, when the scan is written as JPEG (drawn per
        scan; :func:`ifb1.samples.generate.save_scan` uses it unless told otherwise).
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
    noise_sigma_range: tuple[float, float] = (2.0, 5.0)
    noise_blur_px: tuple[float, float] = (0.0, 1.0)
    paper_grain_range: tuple[float, float] = (0.5, 2.5)
    blur_sigma_mm: tuple[float, float] = (0.025, 0.055)
    sharpen_range: tuple[float, float] = (0.0, 1.0)
    sharpen_sigma_mm: float = 0.06
    jpeg_quality_range: tuple[int, int] = (75, 92)
    shading: float = 0.04
    bed_grey: int = 238


@dataclass(frozen=True)
class CopyParams:
    """A scanned copy: the original scanned and emailed (low resolution, grey paper, sensor
    noise, JPEG), printed on an office printer (binary toner through a halftone screen or an
    ordered dither, on the printer's own 300 or 600 dpi grid), then scanned again.

    Each two-valued range is interpolated by the copy's degradation strength in [0, 1].

    Attributes
    ----------
    email_ppi : tuple of float
        Resolution of the first (emailed) scan, at strength 0 and 1.
    email_jpeg_quality : tuple of int
        JPEG quality of the emailed scan.
    email_paper_range : tuple of float
        Paper grey of the emailed scan (sampled): light grey paper prints as sparse toner
        dots where it is darker than the printer's highlight cut-off.
    email_noise_sigma : tuple of float
        Sensor noise of the emailed scan (sampled), grey levels.
    printer_dpi : tuple of int
        Printer resolutions, one drawn per copy: the screen or dither lives on this grid,
        not the re-scan's.
    screen_period_mm : tuple of float
        Halftone cell size of the print-out.
    highlight_cutoff : tuple of float
        Darkness (0-255) below which the printer lays no toner (sampled).
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
    email_paper_range: tuple[float, float] = (226.0, 252.0)
    email_noise_sigma: tuple[float, float] = (1.5, 4.0)
    printer_dpi: tuple[int, ...] = (300, 600)
    screen_period_mm: tuple[float, float] = (0.25, 0.42)
    highlight_cutoff: tuple[float, float] = (4.0, 24.0)
    toner_blur_mm: tuple[float, float] = (0.02, 0.06)
    contrast: tuple[float, float] = (0.85, 0.45)
    rescan_jpeg_quality: tuple[int, int] = (85, 40)
    dither_probability: float = 0.35


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


def _blur_wrapped(tile: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of a tile that repeats (wrapped borders, so the tiling shows no seams)."""
    r = int(np.ceil(4 * sigma)) + 1
    big = np.pad(tile, r, mode="wrap")
    return cv2.GaussianBlur(big, (0, 0), sigma)[r:-r, r:-r]


def _tiled_noise(rng: np.random.Generator, shape: tuple[int, int], look: "ScanLook", *, ppi: float,
                 sharpen_sigma_px: float) -> tuple[np.ndarray, np.ndarray]:
    """Positive and negative parts (uint8) of the scan's noise, from a random tile repeated
    over the page (a 509 px tile: no visible period, a fraction of the cost).

    The tile is sensor noise (half of it correlated over ``look.noise_blur_px`` when that is
    0.3 px or more) plus the paper's fibre texture, then put through the same unsharp mask
    as the page: a scanner sharpens what it sensed, noise included.
    """
    t = 509
    white = rng.standard_normal((t, t)).astype(np.float32)
    if look.noise_blur_px >= 0.3:
        corr = _blur_wrapped(rng.standard_normal((t, t)).astype(np.float32), look.noise_blur_px)
        corr *= np.float32(1.0 / max(float(corr.std()), 1e-6))
        white = (white + corr) * np.float32(np.sqrt(0.5))
    tile = white * np.float32(look.noise_sigma)
    if look.paper_grain > 0:
        fibre = _blur_wrapped(rng.standard_normal((t, t)).astype(np.float32), 0.05 * ppi / 25.4)
        tile += fibre * np.float32(look.paper_grain / max(float(fibre.std()), 1e-6))
    if look.sharpen > 0:
        tile = tile * np.float32(1 + look.sharpen) - _blur_wrapped(tile, sharpen_sigma_px) * np.float32(look.sharpen)
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
    noise_blur_px: float = 0.0
    paper_grain: float = 0.0
    sharpen: float = 0.0
    jpeg_quality: int = 90


def random_look(rng: np.random.Generator, *, ppi: float, params: ScanParams = ScanParams()) -> ScanLook:
    """Sample the scan's tone, noise, blur, sharpening, paper tint and JPEG quality."""
    blur = float(rng.uniform(*params.blur_sigma_mm)) * ppi / 25.4
    tint = (float(rng.uniform(0.97, 1.0)), float(rng.uniform(0.97, 1.0)), float(rng.uniform(0.9, 0.99)))
    return ScanLook(paper=float(rng.uniform(*params.paper_range)), black=float(rng.uniform(*params.black_range)),
                    gamma=float(rng.uniform(*params.gamma_range)),
                    noise_sigma=float(rng.uniform(*params.noise_sigma_range)), blur_sigma_px=blur, tint_rgb=tint,
                    noise_blur_px=float(rng.uniform(*params.noise_blur_px)),
                    paper_grain=float(rng.uniform(*params.paper_grain_range)),
                    sharpen=float(rng.uniform(*params.sharpen_range)),
                    jpeg_quality=int(rng.integers(params.jpeg_quality_range[0], params.jpeg_quality_range[1] + 1)))


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
    # Blur first, in page space (the optics blur the sheet), on uint8; the driver's unsharp
    # mask folded in as a second, wider blur subtracted (both are linear, the warp nearly so).
    src = cv2.GaussianBlur(page, (0, 0), look.blur_sigma_px) if look.blur_sigma_px > 0.2 else page
    sharpen_px = params.sharpen_sigma_mm * ppi / 25.4
    if look.sharpen > 0.02:
        wide = cv2.GaussianBlur(page, (0, 0), float(np.hypot(max(look.blur_sigma_px, 0.2), sharpen_px)))
        src = cv2.addWeighted(src, 1.0 + look.sharpen, wide, -look.sharpen, 0.0)
    img = cv2.warpAffine(src, geometry.matrix, (w, h), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=params.bed_grey)
    # Uneven illumination: a smooth low-resolution gain field, multiplied in uint8.
    field = 1.0 + params.shading * (rng.random((6, 5)) - 0.5)
    smooth = cv2.resize(field.astype(np.float32), (max(2, w // 16), max(2, h // 16)), interpolation=cv2.INTER_CUBIC)
    gain_u8 = cv2.resize(np.clip(smooth * 240.0 + 0.5, 0, 255).astype(np.uint8), (w, h),
                         interpolation=cv2.INTER_LINEAR)
    img = cv2.multiply(img, gain_u8, scale=1.0 / 240.0)
    pos, neg = _tiled_noise(rng, (h, w), look, ppi=ppi, sharpen_sigma_px=sharpen_px)
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


def _screen_tile(period_px: float, *, dither: bool, lowest: float = 10.0) -> np.ndarray:
    """A threshold tile (uint8) for a 45-degree clustered-dot screen or a Bayer dither."""
    if dither:
        b = np.array([[0, 2], [3, 1]])
        for _ in range(3):  # 16x16 Bayer matrix
            b = np.block([[4 * b, 4 * b + 2], [4 * b + 3, 4 * b + 1]])
        return _threshold_levels(b, lowest)
    q = max(3, int(round(period_px)))
    n = q * max(1, 96 // q)
    y, x = np.mgrid[0:n, 0:n].astype(np.float64)
    # cos.cos is a dot screen at 45 degrees; dots grow from the cell centres.
    cc = np.cos(2 * np.pi * x / q) * np.cos(2 * np.pi * y / q)
    rank = cc.ravel().argsort(kind="stable").argsort(kind="stable").reshape(n, n)  # uniform thresholds
    return _threshold_levels(rank, lowest)


def _threshold_levels(rank: np.ndarray, lowest: float = 10.0) -> np.ndarray:
    """Ranks 0..n-1 to thresholds spread over [lowest, 245]: paper lighter than the printer's
    highlight cut-off prints no toner and near-black prints solid (tone-curve clipping)."""
    return (lowest + (rank + 0.5) * ((245.0 - lowest) / rank.size)).astype(np.uint8)


def _tiled_normal(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """Gaussian noise (float32) from a random 251 px tile repeated over ``shape``."""
    t = 251
    tile = rng.normal(0.0, sigma, (t, t)).astype(np.float32)
    h, w = shape
    return np.tile(tile, (-(-h // t), -(-w // t)))[:h, :w]


def print_and_copy(page: np.ndarray, rng: np.random.Generator, *, strength: float, ppi: float,
                   params: CopyParams = CopyParams(), record: dict | None = None) -> np.ndarray:
    """Degrade a page as a scanned copy (in page pixels, before the final scan).

    The original is scanned at a low resolution (grey paper, sensor noise) and emailed as a
    JPEG, then printed: binary toner through a halftone screen (or an ordered dither) on
    the printer's grid, toner spread, washed-out blacks. The caller then scans the
    print-out with :func:`flatbed_scan` and applies :func:`second_generation`.

    Parameters
    ----------
    page : numpy.ndarray
        uint8 grey page.
    strength : float
        Degradation in [0, 1] (interpolates every :class:`CopyParams` range).
    record : dict, optional
        Filled with what was drawn: ``screen`` (``"halftone"`` or ``"dither"``),
        ``printer_dpi``, ``screen_period_mm`` (halftones), ``email_ppi``.
    """
    t = float(np.clip(strength, 0.0, 1.0))
    h, w = page.shape[:2]
    f = min(1.0, _lerp(params.email_ppi, t) / ppi)
    small = cv2.resize(page, (max(1, int(w * f)), max(1, int(h * f))), interpolation=cv2.INTER_AREA)
    # The emailed scan: its own tone (grey paper), noise and JPEG.
    e_paper = float(rng.uniform(*params.email_paper_range))
    e_black = float(rng.uniform(10.0, 35.0))
    small = cv2.LUT(small, _tone_lut(e_black, e_paper, 1.0))
    noise = _tiled_normal(rng, small.shape[:2], float(rng.uniform(*params.email_noise_sigma)))
    small = np.clip(small.astype(np.float32) + noise + 0.5, 0, 255).astype(np.uint8)
    small = _jpeg_roundtrip(small, int(round(_lerp(params.email_jpeg_quality, t))))
    # Print-out on the printer's grid: darkness thresholded against a screen (binary toner).
    dpi = float(params.printer_dpi[int(rng.integers(0, len(params.printer_dpi)))])
    pw, ph = max(1, int(round(w * dpi / ppi))), max(1, int(round(h * dpi / ppi)))
    img = cv2.resize(small, (pw, ph), interpolation=cv2.INTER_LINEAR)
    period = _lerp(params.screen_period_mm, t) * dpi / 25.4
    dither = bool(rng.random() < params.dither_probability)
    tile = _screen_tile(period, dither=dither, lowest=float(rng.uniform(*params.highlight_cutoff)))
    th, tw = tile.shape
    thr = np.tile(tile, (-(-ph // th), -(-pw // tw)))[:ph, :pw]
    if record is not None:
        record.update(screen="dither" if dither else "halftone", printer_dpi=int(dpi),
                      screen_period_mm=None if dither else round(max(3, int(round(period))) * 25.4 / dpi, 4),
                      email_ppi=round(ppi * f, 1))
    ink = cv2.compare(cv2.bitwise_not(img), thr, cv2.CMP_GT)  # 255 where toner
    sigma = _lerp(params.toner_blur_mm, t) * dpi / 25.4
    ink = cv2.GaussianBlur(ink, (0, 0), max(sigma, 0.3))
    if (pw, ph) != (w, h):
        ink = cv2.resize(ink, (w, h), interpolation=cv2.INTER_AREA if dpi > ppi else cv2.INTER_LINEAR)
    keep = _lerp(params.contrast, t)
    black = 255.0 * (1.0 - keep) * float(rng.uniform(0.7, 1.0))
    paper = 255.0 - float(rng.uniform(0.0, 12.0))
    lut = np.clip(paper - (paper - black) * np.arange(256) / 255.0 + 0.5, 0, 255).astype(np.uint8)
    return cv2.LUT(ink, lut)


def second_generation(scan: np.ndarray, *, strength: float, params: CopyParams = CopyParams()) -> np.ndarray:
    """The re-scan of a copy saved as JPEG once more (the second lossy generation)."""
    q = int(round(_lerp(params.rescan_jpeg_quality, float(np.clip(strength, 0.0, 1.0)))))
    return _jpeg_roundtrip(scan, q)
