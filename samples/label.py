"""The adhesive barcode label stuck on each IFB1 form.

The symbol comes from zxing-cpp's writer (``zxingcpp.create_barcode``); its
module matrix is scaled to the label's physical size at the page resolution,
the human-readable text is printed under it, and the white label is stuck on
the page by hand (an affine placement: rotation about its centre plus a
shift), covering whatever was printed beneath it.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ifb1.samples.form import put_printed_text, px_per_mm

BARCODE_FORMATS = ("Code128", "Code39", "DataMatrix", "QRCode")
_LINEAR = ("Code128", "Code39")
LABEL_EDGE_MARGIN_MM = 2.0  # a label is stuck at least this far inside the paper's edge


@dataclass(frozen=True)
class LabelParams:
    """Physical design of the barcode label (mm).

    Attributes
    ----------
    module_mm : dict-like tuple
        Module (narrow bar / cell) width per format.
    bar_height_mm : float
        Height of a linear symbol's bars.
    quiet_modules : int
        Quiet zone each side of a linear symbol, in modules (ISO/IEC 15417: 10).
    margin_mm : float
        White label margin around the symbol (2D) and above / below.
    text_height_mm : float
        Cap height of the human-readable text under the symbol.
    paper : int
        Grey level of the label's white stock.
    edge : int
        Grey level of the label's edge (the shadow of its thickness in a scan).
    ink : int
        Grey level of the printed bars.
    """

    module_mm: tuple[tuple[str, float], ...] = (("Code128", 0.25), ("Code39", 0.22),
                                                 ("DataMatrix", 0.6), ("QRCode", 0.5))
    bar_height_mm: float = 10.0
    quiet_modules: int = 10
    margin_mm: float = 2.0
    text_height_mm: float = 2.2
    paper: int = 253
    edge: int = 215
    ink: int = 15

    def module(self, fmt: str) -> float:
        return dict(self.module_mm)[fmt]


@dataclass(frozen=True)
class RenderedLabel:
    """A label rendered at page resolution, before it is stuck on.

    Attributes
    ----------
    image : numpy.ndarray
        uint8 label (paper, bars and text).
    symbol_corners : numpy.ndarray
        (4, 2) float, the symbol's corners TL, TR, BR, BL (quiet zone excluded)
        in label pixel coordinates (pixel centres at integers).
    """

    image: np.ndarray
    symbol_corners: np.ndarray


def symbol_modules(text: str, fmt: str) -> np.ndarray:
    """The symbol's module matrix from zxing-cpp (bool, True = dark), quiet zone excluded.

    Linear symbols come back as one row.
    """
    import zxingcpp

    if fmt not in BARCODE_FORMATS:
        raise ValueError(f"barcode format must be one of {BARCODE_FORMATS}, got {fmt!r}")
    code = zxingcpp.create_barcode(text, getattr(zxingcpp.BarcodeFormat, fmt))
    img = np.asarray(code.to_image(scale=1, add_hrt=False, add_quiet_zones=False))
    if img.ndim == 3:
        img = img[..., 0]
    dark = img < 128
    return dark[:1] if fmt in _LINEAR else dark


def _scaled_modules(dark: np.ndarray, width_px: int, height_px: int) -> np.ndarray:
    """Module matrix resampled to an exact pixel size with area-exact edges (coverage 0..1)."""
    k = 8  # supersample so INTER_AREA gives sub-pixel module edges
    up = np.repeat(np.repeat(dark.astype(np.float32), k, axis=0), k, axis=1)
    if dark.shape[0] == 1:
        row = cv2.resize(up[:1], (width_px, 1), interpolation=cv2.INTER_AREA)
        return np.repeat(row, height_px, axis=0)
    return cv2.resize(up, (width_px, height_px), interpolation=cv2.INTER_AREA)


def render_label(text: str, *, fmt: str, ppi: float, params: LabelParams = LabelParams()) -> RenderedLabel:
    """Render the white label: the symbol, and the human-readable text under it.

    Parameters
    ----------
    text : str
        The encoded text (the form id).
    fmt : str
        zxing-cpp format name: ``Code128``, ``Code39``, ``DataMatrix`` or ``QRCode``.
    ppi : float
        Page resolution.
    params : LabelParams
        Label design.
    """
    s = px_per_mm(ppi)
    dark = symbol_modules(text, fmt)
    mod = params.module(fmt)
    sym_w = int(round(dark.shape[1] * mod * s))
    if fmt in _LINEAR:
        sym_h = int(round(params.bar_height_mm * s))
        quiet = params.quiet_modules * mod * s
    else:
        sym_h = int(round(dark.shape[0] * mod * s))
        quiet = max(4 * mod, params.margin_mm) * s
    margin = params.margin_mm * s
    cap = params.text_height_mm * s
    lab_w = int(round(sym_w + 2 * max(quiet, margin)))
    lab_h = int(round(sym_h + 2 * margin + cap + 1.2 * s))
    img = np.full((lab_h, lab_w), params.paper, np.uint8)
    sx = (lab_w - sym_w) // 2
    sy = int(round(margin))
    cov = _scaled_modules(dark, sym_w, sym_h)
    img[sy:sy + sym_h, sx:sx + sym_w] = np.clip(
        params.paper - cov * (params.paper - params.ink) + 0.5, 0, 255).astype(np.uint8)
    scale = cap / 21.0
    thick = max(1, int(round(cap * 0.09)))
    (tw, _), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    put_printed_text(img, text, ((lab_w - tw) / 2, sy + sym_h + 0.9 * s), cap_px=cap, value=params.ink)
    corners = np.array([[sx, sy], [sx + sym_w, sy], [sx + sym_w, sy + sym_h], [sx, sy + sym_h]],
                       np.float64) - 0.5
    return RenderedLabel(image=img, symbol_corners=corners)


def damage_label(label: RenderedLabel, rng: np.random.Generator, *, ppi: float, ink: int = 60) -> RenderedLabel:
    """Damage a label: a pen stroke or a scuffed white band across the symbol."""
    img = label.image.copy()
    c = label.symbol_corners
    x0, y0 = c[0]
    x1, y1 = c[2]
    s = px_per_mm(ppi)
    pa = (x0 + (x1 - x0) * rng.uniform(0.1, 0.4), y0 + (y1 - y0) * rng.uniform(-0.1, 0.4))
    pb = (x0 + (x1 - x0) * rng.uniform(0.6, 0.9), y0 + (y1 - y0) * rng.uniform(0.6, 1.1))
    pts = [tuple(int(round(v * 16)) for v in p) for p in (pa, pb)]
    if rng.random() < 0.5:
        cv2.line(img, pts[0], pts[1], int(ink), max(1, int(round(0.5 * s))), cv2.LINE_AA, 4)
    else:
        cv2.line(img, pts[0], pts[1], int(img[1, 1]), max(2, int(round(1.5 * s))), cv2.LINE_AA, 4)
    return RenderedLabel(image=img, symbol_corners=label.symbol_corners)


def label_placement(label_shape: tuple[int, int], centre_px: tuple[float, float], angle_deg: float) -> np.ndarray:
    """2x3 affine from label pixels to page pixels: rotate ``angle_deg`` (counter-clockwise as
    displayed) about the label's centre, then put that centre on ``centre_px``."""
    h, w = label_shape
    m = cv2.getRotationMatrix2D(((w - 1) / 2.0, (h - 1) / 2.0), float(angle_deg), 1.0)
    m[:, 2] += np.asarray(centre_px, np.float64) - np.array([(w - 1) / 2.0, (h - 1) / 2.0])
    return m


def stick_label(page: np.ndarray, label: RenderedLabel, *, centre_px: tuple[float, float], angle_deg: float,
                edge: int = LabelParams.edge) -> np.ndarray:
    """Stick ``label`` on ``page`` in place, covering what is under it.

    Returns
    -------
    numpy.ndarray
        (4, 2) symbol corners TL, TR, BR, BL in page pixels.
    """
    h, w = label.image.shape
    m = label_placement((h, w), centre_px, angle_deg)
    outline = np.array([[-0.5, -0.5], [w - 0.5, -0.5], [w - 0.5, h - 0.5], [-0.5, h - 0.5]])
    pc = outline @ m[:, :2].T + m[:, 2]
    x0 = max(int(np.floor(pc[:, 0].min())) - 2, 0)
    y0 = max(int(np.floor(pc[:, 1].min())) - 2, 0)
    x1 = min(int(np.ceil(pc[:, 0].max())) + 3, page.shape[1])
    y1 = min(int(np.ceil(pc[:, 1].max())) + 3, page.shape[0])
    mr = m.copy()
    mr[:, 2] -= (x0, y0)
    src = label.image.copy()
    src[0, :] = src[-1, :] = edge
    src[:, 0] = src[:, -1] = edge
    warped = cv2.warpAffine(src, mr, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR, borderValue=0)
    alpha = cv2.warpAffine(np.full((h, w), 255, np.uint8), mr, (x1 - x0, y1 - y0),
                           flags=cv2.INTER_LINEAR, borderValue=0).astype(np.float32) * (1.0 / 255.0)
    # warped was premultiplied by alpha at the border (borderValue 0): un-premultiply.
    roi = page[y0:y1, x0:x1]
    lab = warped.astype(np.float32)
    out = roi.astype(np.float32) * (1.0 - alpha) + np.where(alpha > 0, lab / np.maximum(alpha, 1e-3), 0) * alpha
    roi[...] = np.clip(out + 0.5, 0, 255).astype(np.uint8)
    return label.symbol_corners @ m[:, :2].T + m[:, 2]


def label_half_extent_mm(size_mm: tuple[float, float], angle_deg: float) -> tuple[float, float]:
    """Half width and half height (mm) of the axis-aligned box around a label of
    ``size_mm = (width, height)`` turned by ``angle_deg`` about its centre."""
    w, h = size_mm
    c, s = abs(np.cos(np.deg2rad(angle_deg))), abs(np.sin(np.deg2rad(angle_deg)))
    return 0.5 * (w * c + h * s), 0.5 * (w * s + h * c)



def symbol_in_image(corners_px, size: tuple[int, int]) -> bool:
    """Whether a symbol (TL, TR, BR, BL corners in image pixels, pixel centres at integers)
    lies wholly inside an image of ``size = (width, height)`` pixels. A cut quiet zone is not
    counted: a reader can pad the image's edge with white."""
    c = np.asarray(corners_px, np.float64).reshape(4, 2)
    w, h = size
    return bool(np.all(c >= -0.5) and np.all(c[:, 0] <= w - 0.5) and np.all(c[:, 1] <= h - 0.5))
