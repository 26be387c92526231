"""Segmentation: the fourteen print boxes, their print regions at 500 ppi and presence.

Each box's inner region (inside the printed border, its label blanked out) is
resampled straight from the page through the registration transform to the
export resolution, so rotation, an upside-down scan and the page's own
resolution are undone in one interpolation. Presence is decided on the crop
from the local density of ink: friction-ridge prints are dense (ridges and
valleys alternate every ~0.5 mm, so about half of any 2 mm patch is ink),
whereas hand-written annotations ("AMP", "UP", "XX") and stray marks are thin
strokes with mostly paper around them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ifb1.forms.layout import MM_PER_INCH, Box, Layout

from .annotation import Annotation, AnnotationParams, read_annotation
from .register import Registration


@dataclass(frozen=True)
class SegmentParams:
    """Segmentation parameters (lengths in mm, so resolution independent).

    Attributes
    ----------
    out_ppi : float
        Resolution of the print crops (500 ppi for scoring and export).
    border_clearance_mm : float
        Distance kept from the border line's centre (half the 0.4 mm line
        plus scanner blur and registration error).
    label_band_mm : float
        Height below the top border of the printed label's band (label inset
        1.2 mm + cap height 1.6 mm + margin).
    label_char_mm : float
        Generous width per printed label character; the label band is blanked
        over ``1.2 + len(label) * label_char_mm`` mm from the box's left edge.
    ink_delta : float
        Grey levels below the paper level that make a 0.4 mm cell dark.
    min_texture : float
        Smallest grey-level standard deviation within a cell that counts as
        ridge texture.
    texture_factor : float
        ... and at least this multiple of the crop's paper noise (10th
        percentile of cell standard deviations).
    density_window_mm : float
        Side of the square over which the ink fraction is averaged.
    min_density : float
        Local fraction of print-like cells above which a patch is print.
    min_area_mm2 : float
        Smallest print-like region that makes a print present.
    open_mm : float
        Diameter of the morphological opening that removes pen strokes
        (annotations, ridge counts: a few mm wide at most) from the print
        region; a fingertip, even a partial one, is wider.
    faint_window_mm, faint_min_density, faint_open_mm, faint_min_area_mm2 : float
        The second, looser pass for faint or gappy prints (texture only),
        used when the first finds nothing.
    faint_min_texture, faint_texture_factor : float
        Its lower texture threshold (as ``min_texture``, ``texture_factor``).
    faint_max_solid : float
        Largest fraction of solid (dark, untextured) cells in a faint-pass
        region: pen strokes have solid cores, faint ridges none.
    annotation : AnnotationParams
        How an empty box's hand-written annotation is read
        (:func:`ifb1.pipeline.annotation.read_annotation`).
    overrun_max_mm2 : float
        A print region smaller than this that touches the box's edge may be a
        neighbour's print running over the border: when the rest of the box
        carries an annotation read with at least ``overrun_min_confidence``,
        the box is empty (its own finger is missing) and annotated.
    overrun_min_confidence : float
        See ``overrun_max_mm2`` (the uncertain-code fallback stays below it).
    """

    out_ppi: float = 500.0
    border_clearance_mm: float = 0.7
    label_band_mm: float = 3.6
    label_char_mm: float = 1.3
    ink_delta: float = 28.0
    min_texture: float = 6.0
    texture_factor: float = 3.0
    density_window_mm: float = 1.2
    min_density: float = 0.5
    min_area_mm2: float = 50.0
    open_mm: float = 5.2
    faint_window_mm: float = 2.4
    faint_min_density: float = 0.25
    faint_open_mm: float = 7.0
    faint_min_area_mm2: float = 80.0
    faint_min_texture: float = 4.0
    faint_texture_factor: float = 2.2
    faint_max_solid: float = 0.02
    annotation: AnnotationParams = AnnotationParams()
    overrun_max_mm2: float = 250.0
    overrun_min_confidence: float = 0.75


@dataclass(frozen=True)
class BoxRegion:
    """One print box, segmented.

    Attributes
    ----------
    position : int
        ANSI/NIST finger position (1-14).
    finger, impression : str
    corners_px : tuple
        Printed border corners TL, TR, BR, BL as printed on the form, in page px.
    crop : np.ndarray
        uint8 grey inner region at ``ppi`` (label blanked to paper), upright.
    ppi : float
        Resolution of ``crop`` (500).
    crop_origin_mm : tuple of float
        Template mm of the crop's top-left pixel corner.
    present : bool
        A print is in the box.
    foreground : np.ndarray
        bool mask of the print region, same shape as ``crop`` (empty if absent).
    bbox : tuple of int or None
        ``(x0, y0, x1, y1)`` of ``foreground`` in crop px (exclusive end).
    bbox_page_px : tuple of float or None
        Axis-aligned hull of ``bbox`` in page px.
    area_mm2 : float
        Area of the print region.
    annotation : Annotation or None
        For an empty box: blank, hand-written "AMP"/"XX"/"UP", or print-like
        marks (:func:`ifb1.pipeline.annotation.read_annotation`); None when a
        print is present.
    """

    position: int
    finger: str
    impression: str
    corners_px: tuple[tuple[float, float], ...]
    crop: np.ndarray
    ppi: float
    crop_origin_mm: tuple[float, float]
    present: bool
    foreground: np.ndarray
    bbox: tuple[int, int, int, int] | None
    bbox_page_px: tuple[float, float, float, float] | None
    area_mm2: float
    annotation: Annotation | None = None


def _crop_to_page(t: np.ndarray, x0_mm: float, y0_mm: float, k: float) -> np.ndarray:
    """2x3 map from crop px (centres at +0.5) to page px through template mm."""
    m = np.array([[1 / k, 0, x0_mm + 0.5 / k], [0, 1 / k, y0_mm + 0.5 / k], [0, 0, 1.0]])
    return (t @ m)[:2]


def _foreground(crop: np.ndarray, k: float, p: SegmentParams) -> tuple[np.ndarray, float]:
    """Print-like region of a crop and its area in mm^2.

    Works on 0.4 mm cells (about one ridge/valley transition each): a cell is
    print-like when it is textured (grey-level spread well above the paper's
    noise: ridges, even faint under-inked ones) or dark (over-inked, merged
    ridges). The cells' local fraction is thresholded, pen strokes are opened
    away, and small remnants dropped.
    """
    import cv2

    h, w = crop.shape
    # Texture statistics at half resolution (ridges still span ~5 px at 250
    # ppi): a quarter of the float work.
    half = cv2.resize(crop, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    k2 = k / 2
    cell = max(1, int(round(0.4 * k2)))
    gh, gw = half.shape[0] // cell, half.shape[1] // cell
    a = half[: gh * cell, : gw * cell].astype(np.float32)
    m1 = cv2.resize(a, (gw, gh), interpolation=cv2.INTER_AREA)
    m2 = cv2.resize(a * a, (gw, gh), interpolation=cv2.INTER_AREA)
    sd = np.sqrt(np.maximum(m2 - m1 * m1, 0.0))
    paper = float(np.percentile(m1, 90))
    noise = float(np.percentile(sd, 10))
    textured = sd > max(p.min_texture, p.texture_factor * noise)
    dark = m1 < paper - p.ink_delta
    cells = (textured | dark).astype(np.float32)
    cell_mm2 = (cell / k2) ** 2
    small = _print_cells(cells, p.density_window_mm, p.min_density, p.open_mm, p.min_area_mm2, cell_mm2)
    if small is None:
        # Faint or gappy prints (under-inked, light copies): texture alone over
        # a wider window, a wider opening, and no solid pen ink in the region.
        solid = dark & ~textured
        faint = sd > max(p.faint_min_texture, p.faint_texture_factor * noise)
        small = _print_cells(faint.astype(np.float32), p.faint_window_mm, p.faint_min_density,
                             p.faint_open_mm, p.faint_min_area_mm2, cell_mm2, solid=solid,
                             max_solid=p.faint_max_solid)
    if small is None:
        return np.zeros((h, w), bool), 0.0
    area = float(small.sum() * cell_mm2)
    mask = np.zeros((h, w), np.uint8)
    c2 = 2 * cell
    mask[: gh * c2, : gw * c2] = cv2.resize(small.astype(np.uint8), (gw * c2, gh * c2),
                                            interpolation=cv2.INTER_NEAREST)
    return mask.astype(bool), area


def _print_cells(cells: np.ndarray, window_mm: float, min_density: float, open_mm: float,
                 min_area_mm2: float, cell_mm2: float, *, solid: np.ndarray | None = None,
                 max_solid: float = 1.0) -> np.ndarray | None:
    """Cells of print-like regions (bool grid), or None when there are none."""
    import cv2

    win = max(3, int(round(window_mm / 0.4)) | 1)
    dens = cv2.blur(cells, (win, win), borderType=cv2.BORDER_CONSTANT)
    fg = (dens >= min_density).astype(np.uint8)
    fg = cv2.morphologyEx(fg, cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))
    # Pen strokes are long but narrow; prints are compact blobs: an opening
    # with a disk wider than a stroke keeps only the latter.
    d = max(3, int(round(open_mm / 0.4)) | 1)
    fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (d, d)))
    n, lab, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=8)
    keep = np.zeros(n, bool)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] * cell_mm2 >= min_area_mm2 * 0.25
    if solid is not None and n > 1:
        solid_frac = np.bincount(lab.ravel(), weights=solid.ravel(), minlength=n) / np.maximum(stats[:, cv2.CC_STAT_AREA], 1)
        keep &= solid_frac <= max_solid
    small = keep[lab]
    if small.sum() * cell_mm2 < min_area_mm2:
        return None
    return small


def _touches_edge(mask: np.ndarray, margin: int) -> bool:
    """Whether ``mask`` reaches within ``margin`` px of the crop's edge (cells leave a ragged last column)."""
    m = max(1, margin)
    return bool(mask[:m].any() or mask[-m:].any() or mask[:, :m].any() or mask[:, -m:].any())


def segment_box(image: np.ndarray, registration: Registration, box: Box, *, line_width_mm: float,
                params: SegmentParams = SegmentParams()) -> BoxRegion:
    """Segment one print box (see :func:`segment`)."""
    import cv2

    p = params
    t = registration.transform
    k = p.out_ppi / MM_PER_INCH
    x, y, w, h = box.rect_mm
    c = line_width_mm / 2 + p.border_clearance_mm
    x0, y0 = x + c, y + c
    wpx, hpx = int(round((w - 2 * c) * k)), int(round((h - 2 * c) * k))
    m = _crop_to_page(t, x0, y0, k)
    page_ppi = registration.ppi_measured
    interp = cv2.INTER_CUBIC if page_ppi < p.out_ppi * 0.95 else cv2.INTER_LINEAR
    crop = cv2.warpAffine(image, m, (wpx, hpx), flags=interp | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=255)
    # Blank the printed label (top-left band) to paper.
    band = int(round((y + p.label_band_mm - y0) * k))
    lw = int(round((x + 1.2 + len(box.label) * p.label_char_mm - x0) * k))
    if band > 0 and lw > 0:
        paper = int(np.percentile(crop[::4, ::4], 95))
        crop[:band, :lw] = paper
    fg, area = _foreground(crop, k, p)
    present = bool(fg.any())
    annotation = None
    if present and area < p.overrun_max_mm2 and _touches_edge(fg, int(round(k))):
        # A neighbour's print running over the border into a box whose own
        # finger is missing and annotated: the writing beside it decides.
        d = max(3, int(round(2.0 * k)) | 1)  # 1 mm around it: the region is found on 0.4 mm cells
        near = cv2.dilate(fg.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (d, d))).astype(bool)
        a = read_annotation(crop, mask=near, params=p.annotation)
        if a.kind == "annotated" and a.confidence >= p.overrun_min_confidence:
            present, annotation, area = False, a, 0.0
            fg = np.zeros_like(fg)
    bbox = bbox_page = None
    if present:
        ys, xs = np.nonzero(fg.any(axis=1))[0], np.nonzero(fg.any(axis=0))[0]
        bbox = (int(xs[0]), int(ys[0]), int(xs[-1]) + 1, int(ys[-1]) + 1)
        q = np.array([[bbox[0], bbox[1]], [bbox[2], bbox[1]], [bbox[2], bbox[3]], [bbox[0], bbox[3]]], float) - 0.5
        qp = q @ m[:, :2].T + m[:, 2]
        bbox_page = (float(qp[:, 0].min()), float(qp[:, 1].min()), float(qp[:, 0].max()), float(qp[:, 1].max()))
    # An empty box may say why: "AMP"/"XX" (amputated) or "UP" (unable to print).
    if not present and annotation is None:
        annotation = read_annotation(crop, params=p.annotation)
    corners = registration.to_page(box.corners_mm())
    return BoxRegion(
        position=box.position,
        finger=box.finger,
        impression=box.impression,
        corners_px=tuple((float(a), float(b)) for a, b in corners),
        crop=crop,
        ppi=p.out_ppi,
        crop_origin_mm=(x0, y0),
        present=present,
        foreground=fg,
        bbox=bbox,
        bbox_page_px=bbox_page,
        area_mm2=area,
        annotation=annotation,
    )


def segment(image: np.ndarray, registration: Registration, *, layout: Layout,
            params: SegmentParams = SegmentParams()) -> tuple[BoxRegion, ...]:
    """The fourteen print boxes: corners, 500 ppi print crops and presence.

    Parameters
    ----------
    image : np.ndarray
        uint8 grey page at its own resolution.
    registration : Registration
        Template-to-page transform from :func:`ifb1.pipeline.register.register`.
    layout : Layout
        The form template.
    params : SegmentParams

    Returns
    -------
    tuple of BoxRegion
        Ordered by finger position 1-14.
    """
    boxes = sorted(layout.boxes, key=lambda b: b.position)
    return tuple(segment_box(image, registration, b, line_width_mm=layout.line_width_mm, params=params)
                 for b in boxes)
