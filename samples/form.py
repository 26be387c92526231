"""Render the IFB1 page from the layout template, and write on it by hand.

Everything geometric comes from :class:`ifb1.forms.Layout` (millimetres); the
only constants here are typographic (text heights, insets) and pen styles.

Pixel convention used throughout :mod:`ifb1.samples`: pixel centres sit at
integer coordinates (OpenCV's convention), so page pixel ``j`` covers
``[j - 0.5, j + 0.5)`` and a point at ``x`` mm lies at ``x * ppi / 25.4 - 0.5``
px (:func:`mm_to_page_px`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from ifb1.forms.layout import Layout, MM_PER_INCH

SUPPORTED_PPI = (300, 400, 500, 600)

# Fixed-point bits for sub-pixel polygon vertices (cv2 ``shift``).
_SHIFT = 4
_ONE = 1 << _SHIFT
# Hershey fonts: cap height is 21 units at fontScale 1.
_HERSHEY_CAP = 21.0


@dataclass(frozen=True)
class PrintStyle:
    """How the blank form is printed.

    Attributes
    ----------
    ink : int
        Grey level of printed lines and text (0 black, 255 paper).
    label_height_mm : float
        Cap height of box and field labels.
    label_inset_mm : float
        Distance of a label from its box's top-left border corner.
    section_height_mm : float
        Cap height of section headings.
    title_height_mm : float
        Cap height of the title.
    """

    ink: int = 25
    label_height_mm: float = 1.6
    label_inset_mm: float = 1.2
    section_height_mm: float = 2.2
    title_height_mm: float = 5.0


def check_ppi(ppi: int) -> int:
    """Validate a page resolution, returning it as an int."""
    if int(ppi) not in SUPPORTED_PPI:
        raise ValueError(f"ppi must be one of {SUPPORTED_PPI}, got {ppi!r}")
    return int(ppi)


def px_per_mm(ppi: float) -> float:
    """Pixels per millimetre at ``ppi``."""
    return float(ppi) / MM_PER_INCH


def mm_to_page_px(x_mm: float, y_mm: float, ppi: float) -> tuple[float, float]:
    """A page point in mm to page pixel coordinates (pixel centres at integers)."""
    s = px_per_mm(ppi)
    return (x_mm * s - 0.5, y_mm * s - 0.5)


def page_size_px(layout: Layout, ppi: float) -> tuple[int, int]:
    """Page ``(width, height)`` in pixels, e.g. A4 at 500 ppi is 4134 x 5846."""
    s = px_per_mm(ppi)
    return (int(round(layout.page_mm[0] * s)), int(round(layout.page_mm[1] * s)))


def _fill_quad(img: np.ndarray, pts: np.ndarray, value: int) -> None:
    """Fill a convex polygon with sub-pixel, anti-aliased vertices."""
    fixed = np.round(np.asarray(pts, np.float64) * _ONE).astype(np.int32)
    cv2.fillConvexPoly(img, fixed, int(value), lineType=cv2.LINE_AA, shift=_SHIFT)


def draw_rect_border(img: np.ndarray, rect_mm, *, ppi: float, line_width_mm: float, value: int) -> None:
    """Draw a printed rectangle border, ``line_width_mm`` wide, centred on ``rect_mm``'s edges."""
    x, y, w, h = rect_mm
    s = px_per_mm(ppi)
    half = line_width_mm * s / 2.0
    x0, y0 = mm_to_page_px(x, y, ppi)
    x1, y1 = mm_to_page_px(x + w, y + h, ppi)
    strips = (
        (x0 - half, y0 - half, x1 + half, y0 + half),  # top
        (x0 - half, y1 - half, x1 + half, y1 + half),  # bottom
        (x0 - half, y0 - half, x0 + half, y1 + half),  # left
        (x1 - half, y0 - half, x1 + half, y1 + half),  # right
    )
    for a, b, c, d in strips:
        _fill_quad(img, np.array([[a, b], [c, b], [c, d], [a, d]]), value)


def put_printed_text(img: np.ndarray, text: str, top_left_px: tuple[float, float], *, cap_px: float,
                     value: int, bold: bool = False) -> tuple[int, int]:
    """Print sans-serif text whose cap top-left sits at ``top_left_px``; returns its size in px."""
    scale = cap_px / _HERSHEY_CAP
    thick = max(1, int(round(cap_px * (0.14 if bold else 0.09))))
    font = cv2.FONT_HERSHEY_DUPLEX if bold else cv2.FONT_HERSHEY_SIMPLEX
    (tw, _), _ = cv2.getTextSize(text, font, scale, thick)
    org = (int(round(top_left_px[0])), int(round(top_left_px[1] + cap_px)))
    cv2.putText(img, text, org, font, scale, int(value), thick, cv2.LINE_AA)
    return tw, int(round(cap_px))


def _room_below(layout: Layout, at_mm: tuple[float, float]) -> float:
    """Free height (mm) below a text anchor before the next printed border under it."""
    x, y = at_mm
    tops = [r[1] for r in (*(b.rect_mm for b in layout.boxes), *(f.rect_mm for f in (*layout.fields, *layout.footer)))
            if r[1] > y and r[0] <= x + 1.0 <= r[0] + r[2]]
    return (min(tops) - y - layout.line_width_mm) if tops else float("inf")


@lru_cache(maxsize=4)
def _blank_form_cached(layout: Layout, ppi: int, style: PrintStyle) -> np.ndarray:
    w, h = page_size_px(layout, ppi)
    s = px_per_mm(ppi)
    img = np.full((h, w), 255, np.uint8)
    lw = layout.line_width_mm
    ink = style.ink
    # Title: bold, centred in its rectangle (no border, as on most forms).
    tx, ty, tw_mm, th_mm = layout.title_rect_mm
    cap = style.title_height_mm * s
    scale = cap / _HERSHEY_CAP
    thick = max(1, int(round(cap * 0.14)))
    (text_w, _), _ = cv2.getTextSize(layout.title_text, cv2.FONT_HERSHEY_DUPLEX, scale, thick)
    cx, cy = mm_to_page_px(tx + tw_mm / 2, ty + th_mm / 2, ppi)
    put_printed_text(img, layout.title_text, (cx - text_w / 2, cy - cap / 2), cap_px=cap, value=ink, bold=True)
    # Detail and footer fields: border plus label.
    inset = style.label_inset_mm
    for field in (*layout.fields, *layout.footer):
        draw_rect_border(img, field.rect_mm, ppi=ppi, line_width_mm=lw, value=ink)
        fx, fy = field.rect_mm[:2]
        put_printed_text(img, field.label, mm_to_page_px(fx + inset, fy + inset, ppi),
                         cap_px=style.label_height_mm * s, value=ink)
    for sec in layout.section_labels:
        cap_mm = min(style.section_height_mm, _room_below(layout, sec.at_mm) * 0.8)
        put_printed_text(img, sec.text, mm_to_page_px(*sec.at_mm, ppi),
                         cap_px=cap_mm * s, value=ink, bold=True)
    for box in layout.boxes:
        draw_rect_border(img, box.rect_mm, ppi=ppi, line_width_mm=lw, value=ink)
        bx, by, bw = box.rect_mm[:3]
        cap = style.label_height_mm * s
        (text_w, _), _ = cv2.getTextSize(box.label, cv2.FONT_HERSHEY_SIMPLEX, cap / _HERSHEY_CAP,
                                         max(1, int(round(cap * 0.09))))
        room = (bw - 2 * inset - lw) * s
        if text_w > room:  # a narrow box: shrink its label to fit inside the border
            cap *= room / text_w
        put_printed_text(img, box.label, mm_to_page_px(bx + inset, by + inset, ppi), cap_px=cap, value=ink)
    img.setflags(write=False)
    return img


def render_blank_form(layout: Layout, *, ppi: int, style: PrintStyle = PrintStyle()) -> np.ndarray:
    """Render the empty printed IFB1 page.

    Parameters
    ----------
    layout : Layout
        The form template (:func:`ifb1.forms.load_layout`).
    ppi : int
        300, 400, 500 or 600.
    style : PrintStyle
        Print ink and text sizes.

    Returns
    -------
    numpy.ndarray
        uint8 ``(H, W)`` grey page, 255 paper: borders ``line_width_mm`` wide
        centred on the template's rectangles, each box's label in its top-left
        corner, the title, the section headings and the detail fields.
        A fresh writable copy (renders are cached per layout and ppi).
    """
    return _blank_form_cached(layout, check_ppi(ppi), style).copy()


# --------------------------------------------------------------------------- hand-writing

@dataclass(frozen=True)
class Pen:
    """A ball-point pen: grey level and stroke width."""

    ink: int = 55
    width_mm: float = 0.35


def write_by_hand(img: np.ndarray, text: str, top_left_px: tuple[float, float], *, height_px: float,
                  rng: np.random.Generator, pen: Pen = Pen(), ppi: float = 500.0,
                  slant: float | None = None, angle_deg: float | None = None) -> tuple[int, int, int, int]:
    """Write ``text`` in a jittery script hand (Hershey script font) onto ``img`` in place.

    Each character gets its own baseline and size jitter; the word is then
    slanted and tilted as a whole, and darkened into the page (``min``).

    Returns
    -------
    tuple of int
        The written region ``(x0, y0, x1, y1)`` in page px (exclusive end).
    """
    if not text:
        return (0, 0, 0, 0)
    font = cv2.FONT_HERSHEY_SCRIPT_SIMPLEX
    scale0 = height_px / _HERSHEY_CAP
    thick = max(1, int(round(pen.width_mm * px_per_mm(ppi))))
    widths = [cv2.getTextSize(c, font, scale0, thick)[0][0] for c in text]
    pad = int(height_px * 0.8) + thick * 2
    pw = int(sum(widths) * 1.15) + 2 * pad
    ph = int(height_px * 1.9) + 2 * pad
    patch = np.zeros((ph, pw), np.uint8)  # ink coverage, 255 = ink
    x = float(pad)
    base = pad + height_px * 1.2
    drift = rng.normal(0.0, 0.03) * height_px
    for i, (c, cw) in enumerate(zip(text, widths)):
        sc = scale0 * float(rng.uniform(0.9, 1.1))
        dy = rng.normal(0.0, 0.06) * height_px + drift * i / max(1, len(text))
        cv2.putText(patch, c, (int(round(x)), int(round(base + dy))), font, sc, 255, thick, cv2.LINE_AA)
        x += cw * (sc / scale0) * float(rng.uniform(0.92, 1.05))
    sl = float(rng.uniform(-0.1, 0.3)) if slant is None else slant
    ang = float(rng.normal(0.0, 1.5)) if angle_deg is None else angle_deg
    c = np.cos(np.deg2rad(ang))
    s = np.sin(np.deg2rad(ang))
    # Shear (slant) then rotate about the patch's left baseline point.
    a = np.array([[c, -s], [s, c]]) @ np.array([[1.0, -sl], [0.0, 1.0]])
    o = np.array([pad, base])
    m = np.hstack([a, (o - a @ o)[:, None]])
    patch = cv2.warpAffine(patch, m, (pw, ph), flags=cv2.INTER_LINEAR, borderValue=0)
    # Patch origin so that the baseline start lands at top_left + cap height.
    ox = int(round(top_left_px[0] - pad))
    oy = int(round(top_left_px[1] + height_px - base))
    return _darken_with_coverage(img, patch, ox, oy, pen.ink)


def _darken_with_coverage(img: np.ndarray, coverage: np.ndarray, ox: int, oy: int, ink: int
                          ) -> tuple[int, int, int, int]:
    """Lay ink of grey level ``ink`` with coverage (uint8, 255 full) at ``(ox, oy)``; clipped."""
    h, w = img.shape[:2]
    ph, pw = coverage.shape
    x0, y0 = max(ox, 0), max(oy, 0)
    x1, y1 = min(ox + pw, w), min(oy + ph, h)
    if x0 >= x1 or y0 >= y1:
        return (0, 0, 0, 0)
    cov = coverage[y0 - oy:y1 - oy, x0 - ox:x1 - ox].astype(np.float32) * (1.0 / 255.0)
    roi = img[y0:y1, x0:x1]
    inked = roi.astype(np.float32) * (1.0 - cov) + float(ink) * cov
    np.minimum(roi, np.clip(inked + 0.5, 0, 255).astype(np.uint8), out=roi)
    return (x0, y0, x1, y1)


def scribble_signature(img: np.ndarray, rect_px: tuple[float, float, float, float], *,
                       rng: np.random.Generator, pen: Pen = Pen(), ppi: float = 500.0) -> None:
    """Draw a looping signature-like scribble inside ``rect_px`` = ``(x0, y0, x1, y1)``."""
    x0, y0, x1, y1 = rect_px
    w, h = x1 - x0, y1 - y0
    n = 300
    t = np.linspace(0.0, 1.0, n)
    loops = rng.uniform(4, 9)
    x = x0 + w * (0.08 + 0.6 * t + 0.04 * np.sin(2 * np.pi * loops * t + rng.uniform(0, 6)))
    amp = h * rng.uniform(0.12, 0.25)
    y = y0 + h * 0.62 + amp * np.sin(2 * np.pi * loops * 0.9 * t) * (0.6 + 0.4 * np.sin(5 * t + rng.uniform(0, 6)))
    y += np.cumsum(rng.normal(0, h * 0.004, n))
    pts = np.round(np.stack([x, y], 1) * _ONE).astype(np.int32)
    thick = max(1, int(round(pen.width_mm * px_per_mm(ppi))))
    cv2.polylines(img, [pts], False, int(pen.ink), thick, cv2.LINE_AA, _SHIFT)


# --------------------------------------------------------------------------- invented details

_SYLLABLES = ("ka", "ro", "mi", "ta", "sel", "dor", "va", "lin", "mer", "zo", "bra", "ne", "ul", "fen",
              "ris", "ta", "mo", "qua", "den", "sa", "vi", "tor", "ha", "el", "nor", "pi", "gu", "lez")
_NATIONALITIES = ("ERITREAN", "SUDANESE", "AFGHAN", "ALBANIAN", "VIETNAMESE", "IRANIAN", "SYRIAN",
                  "IRAQI", "ETHIOPIAN", "KURDISH", "UNKNOWN")
_FORCES = ("WEXMOOR CONSTABULARY", "NORTH ANSTEY POLICE", "ELMSHIRE POLICE", "PORT HALLOW POLICE",
           "BRAMLEIGH CONSTABULARY")


def invented_name(rng: np.random.Generator, *, syllables: tuple[int, int] = (2, 3)) -> str:
    """An invented (never a real person's) name made from random syllables."""
    n = int(rng.integers(syllables[0], syllables[1] + 1))
    return "".join(str(rng.choice(_SYLLABLES)) for _ in range(n)).capitalize()


def invented_details(rng: np.random.Generator, *, year: int) -> dict[str, str]:
    """Invented personal details for the form's fields (keyed by field name)."""
    dob_year = year - int(rng.integers(8, 18))
    d, m = int(rng.integers(1, 29)), int(rng.integers(1, 13))
    td, tm = int(rng.integers(1, 29)), int(rng.integers(1, 13))
    return {
        "family_name": invented_name(rng).upper(),
        "first_names": invented_name(rng),
        "date_of_birth": f"{d:02d}/{m:02d}/{dob_year}",
        "nationality": str(rng.choice(_NATIONALITIES)).capitalize(),
        "gender": str(rng.choice(["M", "F"])),
        "reference": f"CCU/{int(rng.integers(10000, 99999))}/{year % 100:02d}",
        "force": str(rng.choice(_FORCES)).title(),
        "date_taken": f"{td:02d}/{tm:02d}/{year}",
        "officer": f"PC {int(rng.integers(100, 9999))} {invented_name(rng)}",
        "responsible_adult": f"{invented_name(rng)} {invented_name(rng).upper()}",
    }


def fill_fields(img: np.ndarray, layout: Layout, details: dict[str, str], *, ppi: int,
                rng: np.random.Generator, pen: Pen = Pen(), style: PrintStyle = PrintStyle()) -> None:
    """Hand-write ``details`` into the detail fields and sign the footer boxes, in place.

    Fields whose name is not in ``details`` are signed (footer) or left empty.
    """
    s = px_per_mm(ppi)
    below_label = style.label_inset_mm + style.label_height_mm + 1.0
    for field in (*layout.fields, *layout.footer):
        x, y, w, h = field.rect_mm
        text = details.get(field.name)
        if text is not None:
            avail = h - below_label - 0.8
            height_mm = min(3.6, max(1.8, avail * 0.75))
            at = mm_to_page_px(x + 2.0 + float(rng.uniform(0, 3)), y + below_label + float(rng.uniform(0, 0.5)), ppi)
            write_by_hand(img, text, at, height_px=height_mm * s, rng=rng, pen=pen, ppi=ppi)
        elif field.name.startswith("signature") or (field.name.startswith("authoris") and rng.random() < 0.7):
            x0, y0 = mm_to_page_px(x + 3, y + below_label, ppi)
            x1, y1 = mm_to_page_px(x + min(w - 3, 60), y + h - 1, ppi)
            scribble_signature(img, (x0, y0, x1, y1), rng=rng, pen=pen, ppi=ppi)


def place_density(img: np.ndarray, density: np.ndarray, top_left: tuple[int, int], *, strength: float
                  ) -> tuple[int, int, int, int]:
    """Darken ``img`` multiplicatively by an ink density map, in place.

    ``page *= 1 - strength * density`` over the overlap of the map placed at
    ``top_left = (x, y)`` with the page; the map may run off the page.

    Returns
    -------
    tuple of int
        The page region written ``(x0, y0, x1, y1)`` (exclusive end).
    """
    h, w = img.shape[:2]
    dh, dw = density.shape
    ox, oy = top_left
    x0, y0 = max(ox, 0), max(oy, 0)
    x1, y1 = min(ox + dw, w), min(oy + dh, h)
    if x0 >= x1 or y0 >= y1:
        return (0, 0, 0, 0)
    d = density[y0 - oy:y1 - oy, x0 - ox:x1 - ox].astype(np.float32, copy=False)
    if not np.isfinite(d).all():
        raise ValueError("ink density map has non-finite values (NaN or inf)")
    roi = img[y0:y1, x0:x1]
    out = roi.astype(np.float32) * (1.0 - float(strength) * np.clip(d, 0.0, 1.0))
    roi[...] = np.clip(out + 0.5, 0, 255).astype(np.uint8)
    return (x0, y0, x1, y1)
