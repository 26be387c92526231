"""Read the IFB1 barcode label with zxing-cpp.

The label zone is tried first, on a crop deskewed with the page's measured
transform (a crop reads in a few ms and reads degraded labels better than
the whole page; a long 1D code tilted past ~10 degrees does not read at all,
so the page rotation is removed first). The whole page is read only when the
zone yields nothing. zxing-cpp can report a second, wrong text at the
location of a right one, so results are grouped by location and each text is
validated before use.

When the zone's quick tries fail, a harder read follows for dense linear
codes on degraded copies (halftone screens, dot gain, low-resolution
emailed scans), where 2D binarisation loses the narrow spaces: the label's
own angle is found from the bar energy, the bar block is averaged along the
bars into one profile (which removes the screen and noise), and its edges
are placed at the profile's inflection points (zero crossings of the second
derivative), which stay near the true edges even where blur has merged a
narrow space into its neighbours' grey. The edges are redrawn as a clean
symbol for zxing twice: as measured, and as narrow/wide for two-width codes
(Code 39: each character's three widest elements wide), because blur
pulls wide and narrow widths towards each other past zxing's 1.5x ratio
test while keeping their order. The hard read costs ~150-300 ms and runs
only on labels the quick tries could not read.

A wrong id is worse than none (a wrong id files the prints on another child's
case; none sends the form to manual entry). Code 128, DataMatrix, QR and PDF417
carry a check character or error detection that zxing verifies; Code 39 as
printed on labels usually has none, so one misjudged bar can turn it into another
valid-looking id. A Code 39 id is therefore trusted only when two reads agree
(two crop variants, angles, profile rows or redraws); one read alone goes to
manual entry.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ifb1.barcode.ids import validate_form_id

# Formats seen on IFB1 labels; limiting zxing to them is ~15-20% faster.
EXPECTED_FORMATS = ("Code128", "Code39", "DataMatrix", "QRCode", "PDF417")
# Symbologies whose reads carry no check the decoder verifies: an id needs two agreeing reads.
UNCHECKED_FORMATS = ("Code39",)
_MAX_TEXT = 256


@dataclass(frozen=True)
class BarcodeParams:
    """Barcode search parameters.

    Attributes
    ----------
    formats : tuple of str
        zxing-cpp format names to look for.
    zone_margin_mm : float
        Margin added around the template's label zone (labels are stuck by
        hand, up to 10 mm off).
    crop_max_ppi : float
        The zone crop is resampled to at most this resolution (finer adds
        time, not reads).
    extra_angles_deg : tuple of float
        Further crop rotations tried when the deskewed crop fails (the label
        itself may be stuck up to 10 degrees off the form's axes). Each crop
        is read as is, blurred, and thresholded (see ``_variants``).
    page_max_ppi : float
        Resolution of the deskewed whole-page fallback.
    same_location_mm : float
        Hits whose centres are closer than this are one symbol.
    hard_read : bool
        Try the profile read of a linear label (see the module docstring)
        when the quick zone tries fail.
    hard_angle_range_deg : float
        The label's own angle is searched in +-this about the deskewed zone
        (labels are stuck up to 10 degrees off).
    hard_search_ppi : float
        Resolution of the angle search (enough to resolve 0.2 mm bars).
    hard_max_ppi : float
        Resolution cap of the crop the profile is taken from.
    confirm_unchecked : int
        Agreeing reads needed before an id in a symbology without a check character
        (Code 39) is trusted; fewer sends the form to manual entry.
    bar_height_mm : float
        Length averaged along the bars for the angle search (shorter than a
        label's bars, longer than the halftone period).
    profile_upsample : int
        The profile is upsampled this much (cubic) before edges are placed.
    edge_sigma_mm : tuple of float
        Smoothing of the profile before the second derivative, one read per
        value; about one scan pixel at 500 ppi, then a little more.
    """

    formats: tuple[str, ...] = EXPECTED_FORMATS
    zone_margin_mm: float = 14.0
    crop_max_ppi: float = 400.0
    extra_angles_deg: tuple[float, ...] = (4.0, -4.0, 8.0, -8.0)
    page_max_ppi: float = 300.0
    same_location_mm: float = 6.0
    hard_read: bool = True
    hard_angle_range_deg: float = 12.0
    hard_search_ppi: float = 300.0
    hard_max_ppi: float = 600.0
    confirm_unchecked: int = 2
    bar_height_mm: float = 4.0
    profile_upsample: int = 4
    edge_sigma_mm: tuple[float, ...] = (0.05, 0.08, 0.12)


@dataclass(frozen=True)
class BarcodeHit:
    """One symbol found on the page.

    Attributes
    ----------
    text : str
        Decoded text (truncated to 256 characters; untrusted).
    format : str
        zxing-cpp format name, e.g. ``"Code128"``.
    corners_px : tuple
        TL, TR, BR, BL of the symbol as printed, in page pixels.
    valid_id : bool
        Whether ``text`` is a valid form id.
    """

    text: str
    format: str
    corners_px: tuple[tuple[float, float], ...]
    valid_id: bool

    @property
    def centre_px(self) -> tuple[float, float]:
        c = np.asarray(self.corners_px, dtype=float).mean(axis=0)
        return float(c[0]), float(c[1])

    def as_dict(self) -> dict:
        return {
            "text": self.text,
            "format": self.format,
            "corners_px": [[round(x, 1), round(y, 1)] for x, y in self.corners_px],
            "valid_id": self.valid_id,
        }


@dataclass(frozen=True)
class BarcodeResult:
    """The outcome of the barcode search.

    Attributes
    ----------
    form_id : str or None
        The validated form id of the chosen symbol; None means manual entry.
    chosen : BarcodeHit or None
        The symbol nearest the label zone (a valid id preferred).
    hits : tuple of BarcodeHit
        Every distinct symbol found (one per location).
    searched : str
        ``"zone"`` when the zone crop answered, ``"page"`` when the whole page
        was read, ``"none"`` when nothing was found.
    elapsed_ms : float
    unconfirmed : tuple of str
        Valid-looking ids read only once in a symbology without a check character
        (Code 39): not trusted, so the form goes to manual entry (``chosen`` is None
        unless another symbol was trusted).
    """

    form_id: str | None
    chosen: BarcodeHit | None
    hits: tuple[BarcodeHit, ...] = field(default_factory=tuple)
    searched: str = "none"
    elapsed_ms: float = 0.0
    unconfirmed: tuple[str, ...] = ()


def _formats(names):
    import zxingcpp

    return [getattr(zxingcpp.BarcodeFormat, n) for n in names]


def _format_name(fmt) -> str:
    name = getattr(fmt, "name", str(fmt))
    return "Code39" if name.startswith("Code39") else name


def _read(img: np.ndarray, formats, binarizer: str = "LocalAverage", **options) -> list[tuple[str, str, np.ndarray]]:
    """zxing-cpp on a grey image: (text, format, 4x2 corners in img px)."""
    import zxingcpp

    out = []
    found = zxingcpp.read_barcodes(np.ascontiguousarray(img), formats=formats,
                                   binarizer=getattr(zxingcpp.Binarizer, binarizer), **options)
    for r in found:
        if not r.valid:
            continue
        p = r.position
        pts = np.array(
            [[p.top_left.x, p.top_left.y], [p.top_right.x, p.top_right.y],
             [p.bottom_right.x, p.bottom_right.y], [p.bottom_left.x, p.bottom_left.y]],
            dtype=np.float64,
        )
        out.append((r.text[:_MAX_TEXT], _format_name(r.format), pts))
    return out


def _variants(crop: np.ndarray):
    """The zone crop as read, then cleaned up for scanned copies.

    Copies carry a halftone screen and thickened bars (dot gain): a light blur
    removes the screen, and thresholds below the mid-grey thin the bars back.
    Generated lazily: most labels read on the first.
    """
    import cv2

    yield crop
    soft = cv2.GaussianBlur(crop, (0, 0), 1.0)
    yield soft
    lo, hi = np.percentile(crop[::3, ::3], [2, 98])
    for frac in (0.35, 0.5):
        yield np.where(soft < lo + (hi - lo) * frac, 0, 255).astype(np.uint8)


def _apply(m23: np.ndarray, pts: np.ndarray) -> np.ndarray:
    return pts @ m23[:, :2].T + m23[:, 2]


def _warp(image: np.ndarray, crop_to_page: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    import cv2

    return cv2.warpAffine(
        image, crop_to_page, size, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT, borderValue=255,
    )


def _crop_affine(transform: np.ndarray, x0_mm: float, y0_mm: float, px_per_mm: float,
                 angle_deg: float = 0.0, centre_mm=(0.0, 0.0)) -> np.ndarray:
    """2x3 map crop px -> page px through template mm (optionally rotated about centre_mm)."""
    s = 1.0 / px_per_mm
    a = np.deg2rad(angle_deg)
    c, si = np.cos(a), np.sin(a)
    cx, cy = centre_mm
    # crop px -> unrotated mm
    m = np.array([[s, 0.0, x0_mm], [0.0, s, y0_mm], [0.0, 0.0, 1.0]])
    rot = np.array([[c, -si, cx - c * cx + si * cy], [si, c, cy - si * cx - c * cy], [0, 0, 1.0]])
    full = transform @ rot @ m
    full = full / full[2, 2]
    return full[:2]


_LINEAR = ("Code128", "Code39")


def _bar_energy(crop: np.ndarray, bar_px: int) -> np.ndarray:
    """|d/dx| of the crop averaged along (vertical) bars: high on a deskewed linear symbol."""
    import cv2

    v = cv2.boxFilter(crop.astype(np.float32), -1, (1, max(1, bar_px)), borderType=cv2.BORDER_REPLICATE)
    return np.abs(np.diff(v, axis=1))


def _label_angle(image, transform, x0, y0, size_mm, centre_mm, params: BarcodeParams, page_px_per_mm: float):
    """Angle (crop rotation, degrees) that makes the bars in the zone vertical: coarse then fine
    search for the largest along-bar-averaged horizontal gradient energy."""
    px = min(page_px_per_mm, params.hard_search_ppi / 25.4)
    size = (int(round(size_mm[0] * px)), int(round(size_mm[1] * px)))
    bar_px = int(round(params.bar_height_mm * px))

    def energy(a):
        crop = _warp(image, _crop_affine(transform, x0, y0, px, a, centre_mm), size)
        return float(_bar_energy(crop, bar_px).sum())

    r = params.hard_angle_range_deg
    coarse = np.arange(-r, r + 1e-9, 2.0)
    best = max(coarse, key=energy)
    fine = (best - 1.0, best - 0.5, best + 0.5, best + 1.0)
    return float(max((best, *fine), key=energy))


def _bar_block(crop: np.ndarray, px_mm: float, bar_px: int) -> tuple[int, int, int, int] | None:
    """Bounding box (x0, y0, x1, y1) of the densest bar region of a deskewed crop."""
    import cv2

    e = _bar_energy(crop, bar_px)
    k = max(3, int(round(3.0 * px_mm)))
    dens = cv2.boxFilter(e, -1, (k, k), borderType=cv2.BORDER_CONSTANT)
    peak = float(dens.max())
    if peak <= 0:
        return None
    mask = (dens >= 0.5 * peak).astype(np.uint8)
    _, lab = cv2.connectedComponents(mask, connectivity=8)
    yy, xx = np.nonzero(lab == lab.flat[int(np.argmax(dens))])
    return int(xx.min()), int(yy.min()), int(xx.max()) + 2, int(yy.max()) + 1


def _profile_edges(profile: np.ndarray, *, sigma_px: float, min_slope_frac: float = 0.04) -> np.ndarray:
    """Edges of a 1D bar profile at its inflection points, from the first bar to the last.

    Between two neighbouring edges of a blurred symbol the profile's second
    derivative changes sign near the true edge even where blur has pulled a
    narrow element's level past any fixed or local threshold. Crossings with
    a weak slope (noise, the flat tops of wide elements) are dropped, and so
    are repeats of the same polarity.

    Returns
    -------
    numpy.ndarray
        Sample positions of alternating edges, starting with a falling one
        (into the first bar) and ending with a rising one (empty if none).
    """
    import cv2

    g = cv2.GaussianBlur(profile.astype(np.float32)[None], (0, 0), sigma_px, borderType=cv2.BORDER_REPLICATE)[0]
    d1 = np.gradient(g)
    d2 = np.gradient(d1)
    zc = np.flatnonzero(np.signbit(d2[:-1]) != np.signbit(d2[1:]))
    zc = zc[np.abs(d1[zc]) > min_slope_frac * float(np.abs(d1).max())]
    falling = d1[zc] < 0
    keep = np.r_[True, falling[1:] != falling[:-1]] if zc.size else np.zeros(0, bool)
    zc, falling = zc[keep], falling[keep]
    if zc.size and not falling[0]:
        zc, falling = zc[1:], falling[1:]
    if zc.size and falling[-1]:
        zc = zc[:-1]
    return zc if zc.size >= 2 else zc[:0]


def _two_widths(widths: np.ndarray) -> np.ndarray:
    """Wide (True) or narrow element, for two-width codes.

    Blur shrinks wide elements and widens narrow ones towards each other,
    past zxing's fixed 1.5x narrow/wide ratio test, but their order
    survives. When the element count fits Code 39 (characters of 9 elements
    and a gap), each character's 3 widest are its wide ones (ISO/IEC 16388:
    3 of 9 wide); otherwise a two-means split per polarity (dot gain makes
    bars wider than spaces).
    """
    n = widths.size
    w = widths.astype(np.float64)
    wide = np.zeros(n, bool)
    if (n + 1) % 10 == 0:
        chars = np.r_[w, np.inf].reshape(-1, 10)[:, :9]  # drop the inter-character gaps
        top = np.argsort(-chars, axis=1, kind="stable")[:, :3]
        mark = np.zeros(chars.shape, bool)
        np.put_along_axis(mark, top, True, axis=1)
        wide = np.c_[mark, np.zeros((mark.shape[0], 1), bool)].ravel()[:n]
        return wide
    for par in (0, 1):
        v = w[par::2]
        if v.size < 3:
            continue
        t = 0.5 * (np.percentile(v, 20) + np.percentile(v, 95))
        for _ in range(10):
            lo, hi = v[v <= t], v[v > t]
            if lo.size == 0 or hi.size == 0:
                break
            t = 0.5 * (lo.mean() + hi.mean())
        wide[par::2] = v > t
    return wide


def _render_elements(widths: np.ndarray, *, quiet: int, rows: int = 24) -> np.ndarray:
    """A clean symbol image (bar first, alternating) with white quiet zones."""
    widths = np.maximum(np.rint(widths).astype(np.int64), 1)
    level = np.where(np.arange(widths.size) % 2 == 0, 0, 255).astype(np.uint8)
    row = np.r_[np.full(quiet, 255, np.uint8), np.repeat(level, widths), np.full(quiet, 255, np.uint8)]
    return np.pad(np.repeat(row[None], rows, axis=0), ((8, 8), (0, 0)), constant_values=255)


def _trusted_texts(reads, confirm: int) -> set[str]:
    """Valid ids among ``(text, format)`` reads that can be trusted: any read of a checked
    symbology, or ``confirm`` agreeing reads of an unchecked one (Code 39)."""
    out = set()
    counts: dict[str, int] = {}
    for text, fmt in reads:
        fid = validate_form_id(text)
        if fid is None:
            continue
        if fmt not in UNCHECKED_FORMATS:
            out.add(text)
        else:
            counts[text] = counts.get(text, 0) + 1
            if counts[text] >= confirm:
                out.add(text)
    return out


def _hard_linear_read(image, transform, x0, y0, size_mm, centre_mm, params: BarcodeParams,
                      page_px_per_mm: float, formats) -> list[tuple[str, str, np.ndarray, np.ndarray]]:
    """The profile read of a dense linear label in the zone (module docstring).

    Stops at the first trusted id (:func:`_trusted_texts`). Returns (text, format,
    corners in crop px, crop -> page affine) per symbol read.
    """
    import cv2

    confirm = max(1, int(params.confirm_unchecked))
    angle = _label_angle(image, transform, x0, y0, size_mm, centre_mm, params, page_px_per_mm)
    px = min(page_px_per_mm, params.hard_max_ppi / 25.4)
    a = _crop_affine(transform, x0, y0, px, angle, centre_mm)
    crop = _warp(image, a, (int(round(size_mm[0] * px)), int(round(size_mm[1] * px))))
    box = _bar_block(crop, px, int(round(params.bar_height_mm * px)))
    if box is None:
        return []
    bx0, by0, bx1, by1 = box
    h = by1 - by0
    if h < 2.0 * px or bx1 - bx0 < 10.0 * px:  # not a label's bar block
        return []
    # Just past the block: its end bars lie on its border, the label's edge (a grey line) lies
    # beyond the 2 mm quiet zone and must not be read as a bar.
    qz = int(round(1.5 * px))
    cx0, cx1 = max(0, bx0 - qz), min(crop.shape[1], bx1 + qz)
    up = max(1, int(params.profile_upsample))
    unit = 6  # px per narrow module of the redrawn two-width symbol
    out = []
    # The middle of the bars, then each half (one may carry a stain or a pen stroke).
    for r0, r1 in ((by0 + h // 6, by1 - h // 6), (by0 + h // 8, by0 + h // 2), (by0 + h // 2, by1 - h // 8)):
        prof = crop[r0:r1, cx0:cx1].astype(np.float32).mean(axis=0)
        prof = cv2.resize(prof[None], (prof.size * up, 1), interpolation=cv2.INTER_CUBIC)[0]
        for sigma_mm in params.edge_sigma_mm:
            edges = _profile_edges(prof, sigma_px=max(0.5, sigma_mm * px * up))
            if edges.size < 20:
                continue
            widths = np.diff(edges)
            quiet = int(edges[0])  # what the symbol's left quiet zone spans in profile px
            # As measured (multi-width codes), then redrawn narrow/wide (two-width codes).
            redrawn = np.where(_two_widths(widths), 2.5 * unit, 1.0 * unit)
            for ws, scale in ((widths, None), (redrawn, (edges[-1] - edges[0]) / redrawn.sum())):
                q = int(max(20 * unit, 0.1 * ws.sum()))
                sym = _render_elements(ws, quiet=q)
                for text, fmt, pts in _read(sym, formats, "FixedThreshold", try_rotate=False,
                                             try_downscale=False, try_invert=False):
                    xs = (pts[:, 0] - q) * (1.0 if scale is None else scale) + quiet
                    xl, xr = float(xs.min()) / up + cx0, float(xs.max()) / up + cx0
                    corners = np.array([[xl, r0], [xr, r0], [xr, r1], [xl, r1]], np.float64)
                    out.append((text, fmt, corners, a))
                if _trusted_texts([(t, f) for t, f, *_ in out], confirm):
                    return out
    return out


def _group(hits: list[BarcodeHit], same_px: float) -> list[BarcodeHit]:
    """One hit per location: valid ids first, then the most frequent text."""
    groups: list[list[BarcodeHit]] = []
    for h in hits:
        c = np.array(h.centre_px)
        for g in groups:
            if np.hypot(*(np.array(g[0].centre_px) - c)) < same_px:
                g.append(h)
                break
        else:
            groups.append([h])
    out = []
    for g in groups:
        texts = [h.text for h in g]
        best = max(g, key=lambda h: (h.valid_id, texts.count(h.text)))
        out.append(best)
    return out


def decode_barcode(
    image: np.ndarray,
    *,
    transform: np.ndarray | None = None,
    layout=None,
    ppi_hint: float | None = None,
    params: BarcodeParams = BarcodeParams(),
) -> BarcodeResult:
    """Find and decode the form's barcode label.

    Parameters
    ----------
    image : np.ndarray
        uint8 grey page (H, W).
    transform : np.ndarray, optional
        3x3 template-mm -> page-px transform from registration. Without it the
        zone is taken axis-aligned from ``ppi_hint`` (upright page assumed).
    layout : Layout, optional
        The form template (for the label zone); the bundled one when omitted.
    ppi_hint : float, optional
        Page resolution, used only when ``transform`` is None.
    params : BarcodeParams

    Returns
    -------
    BarcodeResult
        ``form_id`` None when no valid id was read (manual entry).
    """
    import cv2

    t0 = time.perf_counter()
    if layout is None:
        from ifb1.forms import load_layout

        layout = load_layout()
    formats = _formats(params.formats)
    zx, zy, zw, zh = layout.barcode_zone_mm
    zone_centre_mm = np.array([zx + zw / 2, zy + zh / 2])

    if transform is None:
        ppi = float(ppi_hint) if ppi_hint else image.shape[1] / (layout.page_mm[0] / 25.4)
        k = ppi / 25.4
        transform = np.array([[k, 0, 0], [0, k, 0], [0, 0, 1.0]])
    transform = np.asarray(transform, dtype=np.float64)
    page_px_per_mm = float(np.sqrt(abs(np.linalg.det(transform[:2, :2]))))
    same_px = params.same_location_mm * page_px_per_mm
    zone_centre_px = _apply(transform[:2] / transform[2, 2], zone_centre_mm[None])[0]

    def collect(found, crop_to_page):
        hits = []
        for text, fmt, pts in found:
            corners = _apply(crop_to_page, pts)
            hits.append(BarcodeHit(text, fmt, tuple((float(x), float(y)) for x, y in corners),
                                   validate_form_id(text) is not None))
        return hits

    # 1. The label zone, deskewed through the registration transform.
    m = params.zone_margin_mm
    x0, y0 = zx - m, zy - m
    w_mm, h_mm = zw + 2 * m, zh + 2 * m
    px_mm = min(page_px_per_mm, params.crop_max_ppi / 25.4)
    size = (int(round(w_mm * px_mm)), int(round(h_mm * px_mm)))
    hits: list[BarcodeHit] = []
    searched = "none"
    confirm = max(1, int(params.confirm_unchecked))

    def trusted() -> set[str]:
        return _trusted_texts([(h.text, h.format) for h in hits], confirm)

    for angle in (0.0, *params.extra_angles_deg):
        a = _crop_affine(transform, x0, y0, px_mm, angle, tuple(zone_centre_mm))
        crop = _warp(image, a, size)
        for variant in _variants(crop):
            hits += collect(_read(variant, formats), a)
            if trusted():
                break
        if trusted():
            break
    # 1b. Dense linear codes on degraded copies: the profile read (only after the quick tries failed).
    linear = _formats([f for f in params.formats if f in _LINEAR])
    if params.hard_read and linear and not trusted():
        for text, fmt, pts, a in _hard_linear_read(image, transform, x0, y0, (w_mm, h_mm), tuple(zone_centre_mm),
                                                   params, page_px_per_mm, linear):
            hits += collect([(text, fmt, pts)], a)
    if hits:
        searched = "zone"
    # 2. The whole page, deskewed and at a modest resolution.
    if not trusted():
        pw_mm, ph_mm = layout.page_mm
        px_mm = min(page_px_per_mm, params.page_max_ppi / 25.4)
        margin = 10.0  # a slightly larger canvas than the page keeps shifted labels
        a = _crop_affine(transform, -margin, -margin, px_mm)
        size = (int(round((pw_mm + 2 * margin) * px_mm)), int(round((ph_mm + 2 * margin) * px_mm)))
        page = _warp(image, a, size)
        more = collect(_read(page, formats), a)
        if more:
            hits = hits + more
            searched = "page"
    ok = trusted()
    unconfirmed = tuple(sorted({h.text for h in hits if h.valid_id and h.text not in ok}))
    # An id read once in a symbology without a check character is not an id (manual entry).
    hits = _group([h if h.valid_id <= (h.text in ok) else BarcodeHit(h.text, h.format, h.corners_px, False)
                   for h in hits], same_px)
    chosen = None
    if hits:
        def key(h):
            d = np.hypot(*(np.array(h.centre_px) - zone_centre_px))
            return (not h.valid_id, d)

        hits.sort(key=key)
        chosen = hits[0]
        if not chosen.valid_id and chosen.text in unconfirmed:
            chosen = None
    form_id = validate_form_id(chosen.text) if chosen is not None and chosen.valid_id else None
    return BarcodeResult(
        form_id=form_id,
        chosen=chosen,
        hits=tuple(hits),
        searched=searched,
        elapsed_ms=(time.perf_counter() - t0) * 1000.0,
        unconfirmed=unconfirmed,
    )
