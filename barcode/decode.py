"""Read the IFB1 barcode label with zxing-cpp.

The label zone is tried first, on a crop deskewed with the page's measured
transform (a crop reads in a few ms and reads degraded labels better than
the whole page; a long 1D code tilted past ~10 degrees does not read at all,
so the page rotation is removed first). The whole page is read only when the
zone yields nothing. zxing-cpp can report a second, wrong text at the
location of a right one, so results are grouped by location and each text is
validated before use.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ifb1.barcode.ids import validate_form_id

# Formats seen on IFB1 labels; limiting zxing to them is ~15-20% faster.
EXPECTED_FORMATS = ("Code128", "Code39", "DataMatrix", "QRCode", "PDF417")
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
    """

    formats: tuple[str, ...] = EXPECTED_FORMATS
    zone_margin_mm: float = 14.0
    crop_max_ppi: float = 400.0
    extra_angles_deg: tuple[float, ...] = (4.0, -4.0, 8.0, -8.0)
    page_max_ppi: float = 300.0
    same_location_mm: float = 6.0


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
    """

    form_id: str | None
    chosen: BarcodeHit | None
    hits: tuple[BarcodeHit, ...] = field(default_factory=tuple)
    searched: str = "none"
    elapsed_ms: float = 0.0


def _formats(names):
    import zxingcpp

    return [getattr(zxingcpp.BarcodeFormat, n) for n in names]


def _format_name(fmt) -> str:
    name = getattr(fmt, "name", str(fmt))
    return "Code39" if name.startswith("Code39") else name


def _read(img: np.ndarray, formats, binarizer: str = "LocalAverage") -> list[tuple[str, str, np.ndarray]]:
    """zxing-cpp on a grey image: (text, format, 4x2 corners in img px)."""
    import zxingcpp

    out = []
    found = zxingcpp.read_barcodes(np.ascontiguousarray(img), formats=formats,
                                   binarizer=getattr(zxingcpp.Binarizer, binarizer))
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
    for angle in (0.0, *params.extra_angles_deg):
        a = _crop_affine(transform, x0, y0, px_mm, angle, tuple(zone_centre_mm))
        crop = _warp(image, a, size)
        for variant in _variants(crop):
            hits += collect(_read(variant, formats), a)
            if any(h.valid_id for h in hits):
                break
        if any(h.valid_id for h in hits):
            break
    if hits:
        searched = "zone"
    # 2. The whole page, deskewed and at a modest resolution.
    if not any(h.valid_id for h in hits):
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
    hits = _group(hits, same_px)
    chosen = None
    if hits:
        def key(h):
            d = np.hypot(*(np.array(h.centre_px) - zone_centre_px))
            return (not h.valid_id, d)

        hits.sort(key=key)
        chosen = hits[0]
    form_id = validate_form_id(chosen.text) if chosen is not None else None
    return BarcodeResult(
        form_id=form_id,
        chosen=chosen,
        hits=tuple(hits),
        searched=searched,
        elapsed_ms=(time.perf_counter() - t0) * 1000.0,
    )
