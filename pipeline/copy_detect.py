"""Does a scan marked "original" look like a scanned copy?

A copy of an IFB1 is the original scanned, emailed as a JPEG, printed on an office
printer and scanned again. What a copy has and an original does not:

* **A print screen.** The printer renders grey as binary toner through a halftone
  screen or an ordered dither, a pattern that repeats at one fixed period and angle over
  the whole sheet, in the prints and (when the emailed scan's paper was grey) in the
  paper. In the page's 2-D power spectrum, averaged over many tiles, it gives sharp,
  isolated peaks. Wet ink, paper fibre, sensor noise, scanner sharpening and WSQ or
  JPEG loss are not periodic; ridges are, but each tile's ridges run their own way at
  their own period, and a printed line or word is in a few tiles only, so the median
  spectrum over tiles keeps the screen and drops them; what is left of lines (the scan's
  own JPEG 8 x 8 grid, the page's borders) are lines in the spectrum, not isolated points.
  (Periodicity in the Fourier domain is the classic halftone cue, e.g. Kee & Farid,
  "Printer profiling for forensics and ballistics", 2008; resampling and JPEG grids
  likewise, Popescu & Farid 2005.)
* **A second JPEG grid.** The emailed JPEG's 8 x 8 blocks, enlarged and turned with the
  print-out, repeat at another period and angle than the scan's own JPEG grid: isolated
  peaks too, found by the same search.
* **Washed blacks.** Toner on paper re-scanned is grey, not black. The page's darkest
  ink (printed lines, labels, ink) is black on an original; grey well above any
  scanner's black point is taken as a copy too (it catches the dithered copies whose
  fine dither the re-scan blurred away).

The score is the strongest isolated peak's ratio to its surroundings, where
"surroundings" is the larger of two robust levels: the spectrum on both sides of the
peak along the best direction (so a line or a ring through the point is not a peak) and
the ring of bins around it. Tiles are 128 px at any resolution, their origins on the
scan's own 8 px JPEG grid, so that grid's energy falls exactly on the lattice of
multiples of 1/8 cycle per pixel, whose bins are left out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_TILE = 128


@dataclass(frozen=True)
class CopyCheckParams:
    """Parameters of :func:`check_copy` (distances in mm, so any ppi works).

    Attributes
    ----------
    band : tuple of float
        Vertical band of the page searched (fractions of its height): the print boxes,
        whichever way up the page was fed.
    max_tiles : int
        At most this many print tiles (and as many paper tiles) are analysed, spread
        evenly over the usable ones; each is 128 x 128 px.
    grey_range : tuple of float
        Tile mean grey level taken as print ("mid-grey": a screen shows only there).
    min_print_std : float
        A print tile's grey levels vary at least this much (ridges, not flat paper).
    paper_min_grey, paper_max_std : float
        Paper tiles: mean grey at least this, standard deviation at most this.
    period_range_mm : tuple of float
        Periods searched: office screens and dithers (0.1-0.7 mm) and enlarged JPEG
        blocks, but not the page's layout or the ridges' low harmonics.
    min_ratio_bins : float
        Half-width (bins) of the neighbourhood compared with a peak.
    threshold : float
        Peak ratio at or above which the scan looks like a copy. Calibrated on generated
        scans and on forms holding real SD14 ink prints (``benchmarks/accuracy_copy.py``):
        originals measured 2-9 (median 3.6), halftone copies 50 to thousands, dithered
        copies from a fine (600 dpi) printer re-scanned coarsely as low as 3.
    washed_black : float
        Darkest ink (grey level) at or above which the blacks are washed out: the scan
        looks like a copy whatever its spectrum. Originals' printed lines and ink measured
        at most 51 (scanner black 10-35); copies 35-150, above 85 for most copies that
        show no screen.
    min_tiles : int
        Fewer usable tiles than this (print and paper together), or fewer than 4 print
        tiles: no opinion.
    """

    band: tuple[float, float] = (0.22, 0.78)
    max_tiles: int = 48
    grey_range: tuple[float, float] = (70.0, 215.0)
    min_print_std: float = 6.0
    paper_min_grey: float = 185.0
    paper_max_std: float = 12.0
    period_range_mm: tuple[float, float] = (0.1, 0.7)
    min_ratio_bins: float = 4.0
    threshold: float = 16.0
    washed_black: float = 85.0
    min_tiles: int = 8


@dataclass(frozen=True)
class CopyEvidence:
    """Result of :func:`check_copy`.

    Attributes
    ----------
    looks_like_copy : bool
    texture_ratio : float or None
        The strongest isolated spectral peak's ratio to its surroundings (print or paper
        tiles, whichever is higher); None without enough tiles.
    tiles : int
        Tiles analysed (print and paper).
    reason : str
        In words, for the operator.
    period_mm, angle_deg : float or None
        Period and direction (degrees, image axes) of that peak.
    where : str or None
        ``"print"`` or ``"paper"``: the tiles the peak was found in.
    print_ratio, paper_ratio : float or None
        The peak ratio in each kind of tile (None when too few of that kind).
    black_level : float or None
        The page's darkest grey (0.2th percentile of the band): about 10-40 on originals,
        higher on copies whose blacks washed out.
    """

    looks_like_copy: bool
    texture_ratio: float | None
    tiles: int
    reason: str
    period_mm: float | None = None
    angle_deg: float | None = None
    where: str | None = None
    print_ratio: float | None = None
    paper_ratio: float | None = None
    black_level: float | None = None


_WINDOW: np.ndarray | None = None


def _window() -> np.ndarray:
    global _WINDOW
    if _WINDOW is None:
        w = np.hanning(_TILE).astype(np.float32)
        _WINDOW = np.outer(w, w)
    return _WINDOW


def average_spectrum(tiles) -> np.ndarray:
    """Median power spectrum (fft-shifted, float32 ``(N, N)``) of equal square tiles, each
    with its mean removed and a Hann window applied.

    The median over tiles keeps what every tile has (a print screen, a JPEG grid) and drops
    what only some have (a printed line, a word, one print's ridges).
    """
    import cv2

    tiles = list(tiles)
    n = tiles[0].shape[0]
    win = _window() if n == _TILE else np.outer(np.hanning(n), np.hanning(n)).astype(np.float32)
    stack = np.empty((len(tiles), n, n), np.float32)
    for i, t in enumerate(tiles):
        p = t.astype(np.float32)
        p -= np.float32(p.mean())
        p *= win
        f = cv2.dft(p, flags=cv2.DFT_COMPLEX_OUTPUT)
        stack[i] = cv2.magnitude(f[..., 0], f[..., 1])
    med = np.median(stack, axis=0) if len(tiles) > 2 else stack.mean(axis=0)
    return np.fft.fftshift(med * med)


def spectral_peak(power: np.ndarray, *, min_period_px: float, max_period_px: float, radius: float = 4.0,
                  exclude_jpeg_grid: bool = True) -> tuple[float, float | None, float | None]:
    """The most isolated peak of a centred power spectrum.

    For each bin, its surroundings are the larger of (a) the highest, over directions,
    of the smaller of the two bins ``radius`` away on either side (a line or a ring
    through the bin lifts this; an isolated peak does not), and (b) the median of the
    ring of bins at that distance; the bin's ratio to them is its isolation.

    Parameters
    ----------
    power : numpy.ndarray
        ``(N, N)`` centred power spectrum (:func:`average_spectrum`).
    min_period_px, max_period_px : float
        Periods searched, pixels.
    radius : float
        Distance (bins) at which the surroundings are sampled.
    exclude_jpeg_grid : bool
        Leave out the rows and columns at multiples of N / 8 (the scan's own JPEG grid,
        when the tiles lie on it).

    Returns
    -------
    ratio : float
        The highest isolation found (1 when nothing stands out).
    period_px : float or None
        Period of that peak.
    angle_deg : float or None
        Direction of its frequency vector (image axes, y down), in [0, 180).
    """
    n = power.shape[0]
    c = n // 2
    fy, fx = np.mgrid[0:n, 0:n] - c
    r = np.hypot(fx, fy)
    floor = np.float32(1e-9 * float(power.max()) + 1e-12)
    p = power + floor
    angles = np.linspace(0.0, np.pi, 12, endpoint=False)
    pair = np.zeros_like(p)
    ring = []
    for a in angles:
        dx, dy = int(round(radius * np.cos(a))), int(round(radius * np.sin(a)))
        fwd = np.roll(p, (-dy, -dx), (0, 1))
        bwd = np.roll(p, (dy, dx), (0, 1))
        np.maximum(pair, np.minimum(fwd, bwd), out=pair)
        ring += [fwd, bwd]
    ring_med = np.median(np.stack(ring), axis=0)
    iso = p / np.maximum(pair, ring_med)
    mask = (r >= n / max_period_px) & (r <= n / min_period_px)
    mask &= (np.abs(fx) > 1) | (np.abs(fy) > 1)
    if exclude_jpeg_grid:
        grid = (np.abs(fx) % (n // 8) == 0) | (np.abs(fy) % (n // 8) == 0)
        mask &= ~grid
    if not mask.any():
        return 1.0, None, None
    masked = np.where(mask, iso, 0.0)
    i = int(np.argmax(masked))
    y, x = divmod(i, n)
    f = float(np.hypot(fx[y, x], fy[y, x])) / n
    ang = float(np.degrees(np.arctan2(fy[y, x], fx[y, x]))) % 180.0
    return float(masked[y, x]), 1.0 / f, ang


def _pick_tiles(grey: np.ndarray, params: CopyCheckParams) -> tuple[list[np.ndarray], list[np.ndarray], float | None]:
    """Print and paper tiles of the band (origins on the 8 px grid), and the band's black."""
    h, w = grey.shape
    y0 = (int(h * params.band[0]) // 8) * 8
    y1 = int(h * params.band[1])
    ny, nx = (y1 - y0) // _TILE, w // _TILE
    if ny < 1 or nx < 1:
        return [], [], None
    region = grey[y0:y0 + ny * _TILE, : nx * _TILE]
    # Tile statistics from every 4th pixel: cheap, and enough to sort print from paper.
    sub = region[::4, ::4].astype(np.float32)
    k = _TILE // 4
    blocks = sub.reshape(ny, k, nx, k)
    means = blocks.mean(axis=(1, 3))
    std = blocks.std(axis=(1, 3))
    black = float(np.percentile(sub, 0.2))
    lo, hi = params.grey_range
    out = []
    for ok in ((means > lo) & (means < hi) & (std > params.min_print_std),
               (means >= params.paper_min_grey) & (std <= params.paper_max_std)):
        usable = np.argwhere(ok)
        # An even spread over all usable tiles: no preference for the most textured ones.
        step = max(1, len(usable) // params.max_tiles)
        picked = usable[::step][: params.max_tiles]
        out.append([region[ty * _TILE:(ty + 1) * _TILE, tx * _TILE:(tx + 1) * _TILE] for ty, tx in picked])
    return out[0], out[1], black


def check_copy(image: np.ndarray, *, ppi: float, params: CopyCheckParams = CopyCheckParams()) -> CopyEvidence:
    """Look for a print screen, a second JPEG grid and washed blacks in a page scan.

    Parameters
    ----------
    image : numpy.ndarray
        The page, uint8 grey (H, W) or colour (H, W, 3), at its own resolution (not
        resampled: the scan's own JPEG grid must stay on the pixel grid).
    ppi : float
        The page's resolution.
    params : CopyCheckParams

    Returns
    -------
    CopyEvidence
    """
    import cv2

    grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    px_per_mm = float(ppi) / 25.4
    prints, paper, black = _pick_tiles(grey, params)
    n_tiles = len(prints) + len(paper)
    # Without ink on the page there is nothing to judge by (and no black to measure).
    if n_tiles < params.min_tiles or len(prints) < 4:
        return CopyEvidence(False, None, n_tiles, "too few print or paper areas to judge", black_level=black)
    lo_mm, hi_mm = params.period_range_mm
    lo_px, hi_px = max(2.0, lo_mm * px_per_mm), hi_mm * px_per_mm
    found = {}
    for where, tiles in (("print", prints), ("paper", paper)):
        if len(tiles) >= 4:
            found[where] = spectral_peak(average_spectrum(tiles), min_period_px=lo_px, max_period_px=hi_px,
                                         radius=params.min_ratio_bins)
    if not found:
        return CopyEvidence(False, None, n_tiles, "too few print or paper areas to judge", black_level=black)
    where = max(found, key=lambda k: found[k][0])
    ratio, period_px, angle = found[where]
    period_mm = None if period_px is None else period_px / px_per_mm
    common = dict(period_mm=None if period_mm is None else round(period_mm, 3),
                  angle_deg=None if angle is None else round(angle, 1), where=where,
                  print_ratio=round(found["print"][0], 2) if "print" in found else None,
                  paper_ratio=round(found["paper"][0], 2) if "paper" in found else None,
                  black_level=None if black is None else round(black, 1))
    washed = f"; darkest ink {black:.0f}" if black is not None else ""
    if ratio >= params.threshold:
        reason = (f"halftone or dither texture: a periodic pattern of {period_mm:.2f} mm in the {where} "
                  f"(peak {ratio:.0f}x its surroundings >= {params.threshold:g}){washed}")
        return CopyEvidence(True, ratio, n_tiles, reason, **common)
    if black is not None and black >= params.washed_black:
        reason = (f"washed-out blacks, as toner re-scanned: the darkest ink is grey {black:.0f} "
                  f">= {params.washed_black:g} (strongest periodic peak {ratio:.1f}x)")
        return CopyEvidence(True, ratio, n_tiles, reason, **common)
    return CopyEvidence(False, ratio, n_tiles, f"no copy texture (strongest periodic peak {ratio:.1f}x, "
                                               f"below {params.threshold:g}){washed}", **common)
