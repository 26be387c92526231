"""Generate synthetic scanned IFB1 forms with exact ground truth.

:func:`generate_form` renders the page from the layout template (borders,
labels, hand-written details, signatures), inks fourteen synthetic
impressions of one invented person into their boxes (:mod:`ifb1.samples.fingerprint`,
:mod:`~ifb1.samples.impression`, :mod:`~ifb1.samples.ink`), sticks the barcode
label on, optionally turns the page into a scanned copy, and scans it on a
simulated flatbed. :func:`save_scan` writes the scan (PNG, TIFF/LZW, JPEG or
PDF, resolution in the metadata or not) and its ground-truth JSON.

Ground truth
------------
Every point is mapped from the template's millimetres to page pixels
(``x * ppi / 25.4 - 0.5``, pixel centres at integers) and then by the very
2x3 matrix that resampled the page into the scan (``page_to_scan`` in the
truth), so box and symbol corners are exact. Corners are TL, TR, BR, BL *as
printed*: on a sheet fed upside down, TL lands near the image's bottom right.
The barcode label is always wholly on the paper; ``barcode.damaged`` is true, with
``barcode.damage_reasons``, when a pen stroke or scuff crosses the symbol or when the
scanner cropped the sheet's edge through the symbol ("cut by the page edge": part of the
symbol outside the scanned image). ``print_bbox_px`` is ``[x0, y0, x1, y1]`` in scan pixels with exclusive ends,
the tight box of the print's foreground mask after the scan warp;
:attr:`GeneratedForm.masks` holds those masks cropped to that box.

Verdict rule
------------
A rolled print (positions 1-10) is *poor* when the synthesiser was asked for
"poor" quality for it, or when its box was left empty with no annotation.
Missing fingers annotated "AMP", "UP" or "XX" are not defects.

* An original is never "unsuitable": "review" when 3 or more rolled prints are
  poor, otherwise "suitable".
* A scanned copy is "unsuitable" when 3 or more rolled prints are poor, or when
  its copy degradation is strong (``copy_degradation >= 0.7``); otherwise
  "suitable".

``verdict_reasons`` lists which clauses fired (or why the form passed).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import cv2
import numpy as np

from ifb1.forms.layout import Layout, load_layout
from ifb1.samples.form import (Pen, PrintStyle, check_ppi, fill_fields, invented_details, mm_to_page_px,
                               page_size_px, place_density, px_per_mm, render_blank_form, write_by_hand)
from ifb1.samples.label import (BARCODE_FORMATS, LABEL_EDGE_MARGIN_MM, LabelParams, damage_label,
                                label_half_extent_mm, render_label, stick_label, symbol_in_image)
from ifb1.samples.scan import (CopyParams, ScanParams, flatbed_scan, print_and_copy, random_geometry,
                               random_look, second_generation, transform_points)

SCHEMA = "ifb1-truth/1"
FORMATS = ("png", "tiff", "jpeg", "pdf")
ANNOTATIONS = ("AMP", "UP", "XX")
POOR_ROLLED_LIMIT = 3          # this many poor rolled prints: "review" (original) / "unsuitable" (copy)
STRONG_COPY_DEGRADATION = 0.7  # a copy at least this degraded is "unsuitable"
_SUFFIX = {"png": ".png", "tiff": ".tif", "jpeg": ".jpg", "pdf": ".pdf"}


@dataclass(frozen=True)
class FormOptions:
    """What kind of form to generate. Defaults describe a typical 500 ppi original.

    Attributes
    ----------
    ppi : int
        Scan resolution: 300, 400, 500 or 600.
    copy : bool
        A scanned copy (print-out and re-scan) instead of an original.
    upside_down : bool or None
        Fed upside down; None draws it (``upside_down_rate``).
    barcode_format : str
        ``"Code128"``, ``"Code39"``, ``"DataMatrix"`` or ``"QRCode"`` (zxing-cpp names).
    rgb : bool
        Scan in colour (tinted paper) instead of 8-bit grey.
    upside_down_rate : float
        Chance of an upside-down feed when ``upside_down`` is None.
    missing_rate : float
        Chance that a form has one or two missing rolled fingers.
    annotation_rate : float
        Chance that a missing finger's box carries "AMP", "UP" or "XX".
    poor_inking_rate : float
        Chance that the officer inked this form badly (many poor prints).
    overrun_rate : float
        Chance per print of being placed off-centre enough to run over its border.
    barcode_damage_rate : float
        Chance of a pen stroke or scuff across the barcode.
    ridge_count_rate : float
        Chance per loop or whorl rolled print of a hand-written ridge count beside it.
    damage_kinds : tuple of str
        Kinds of ink damage a fair or poor print may have (``"over_ink"``, ``"under_ink"``,
        ``"smudge"``, ``"partial"``, ``"crease"``; :func:`ifb1.samples.ink.random_damage`):
        a force with one habitual fault. Empty: every kind.
    copy_degradation : tuple of float
        Range of a copy's degradation strength (0 mild .. 1 severe).
    print_compression : tuple of float
        Range of the WSQ-like loss in each synthesised print (the finest subband's
        quantiser step, :func:`ifb1.samples.ink.compression_loss`; 12 is the NBIS WSQ
        codec at 0.75 bpp); ``(0, 0)`` for none.
    clean : bool
        Geometry-only scan (no tone curve, blur, noise or copy degradation): for tests.
    layout_path : str or None
        Layout template; the bundled IFB1 template when None.
    scan, copy_params, label, style, pen
        Scanner, copy, label, print and pen parameters.
    """

    ppi: int = 500
    copy: bool = False
    upside_down: bool | None = None
    barcode_format: str = "Code128"
    rgb: bool = False
    upside_down_rate: float = 0.05
    missing_rate: float = 0.1
    annotation_rate: float = 0.75
    poor_inking_rate: float = 0.2
    overrun_rate: float = 0.12
    barcode_damage_rate: float = 0.03
    ridge_count_rate: float = 0.5
    damage_kinds: tuple[str, ...] = ()
    copy_degradation: tuple[float, float] = (0.0, 1.0)
    print_compression: tuple[float, float] = (8.0, 16.0)
    clean: bool = False
    layout_path: str | None = None
    scan: ScanParams = field(default_factory=ScanParams)
    copy_params: CopyParams = field(default_factory=CopyParams)
    label: LabelParams = field(default_factory=LabelParams)
    style: PrintStyle = field(default_factory=PrintStyle)
    pen: Pen = field(default_factory=Pen)


@dataclass(frozen=True)
class GeneratedForm:
    """A generated scan and its ground truth.

    Attributes
    ----------
    image : numpy.ndarray
        uint8 ``(H, W)`` grey or ``(H, W, 3)`` RGB, the scan as the scanner writes it.
    truth : dict
        The ground-truth object (``schema`` ``ifb1-truth/1``); ``scan``, ``format``
        and ``ppi_in_metadata`` are filled in by :func:`save_scan`.
    masks : dict of int to numpy.ndarray
        Finger position -> bool foreground mask in scan pixels, cropped to the
        box's ``print_bbox_px`` (shape ``(y1 - y0, x1 - x0)``); present prints only.
    timings : dict of str to float
        Seconds spent per stage: ``fingerprints`` (masters, impressions, ink),
        ``render`` (page, hand-writing, placing prints, label), ``copy``,
        ``scan`` and ``truth``.
    """

    image: np.ndarray = field(repr=False)
    truth: dict
    masks: dict[int, np.ndarray] = field(repr=False)
    timings: dict[str, float] = field(default_factory=dict, compare=False)


def form_id_for(seed: int, index: int) -> str:
    """The form id ``IFB1-YYYY-NNNNNN`` for a seed and index (distinct for distinct indexes
    below one million within a seed)."""
    base = np.random.default_rng([int(seed), 0x1FB1])
    year = 2024 + int(base.integers(0, 3))
    start = int(base.integers(0, 1_000_000))
    return f"IFB1-{year}-{(start + int(index)) % 1_000_000:06d}"


def _rngs(seed: int, index: int, n: int) -> list[np.random.Generator]:
    if int(seed) < 0 or int(index) < 0:
        raise ValueError(f"seed and index must be non-negative, got seed={seed}, index={index}")
    return [np.random.default_rng(s) for s in np.random.SeedSequence([int(seed), int(index)]).spawn(n)]


def _prints_api():
    from ifb1.samples.fingerprint import make_person
    from ifb1.samples.impression import plain_impression, rolled_impression, slap_impression
    from ifb1.samples.ink import compression_loss, ink_print, random_damage

    return (make_person, rolled_impression, plain_impression, slap_impression, ink_print, random_damage,
            compression_loss)


def _resize_to_ppi(arr: np.ndarray, ppi: int, *, is_mask: bool) -> np.ndarray:
    """500 ppi synthesiser arrays to the page's resolution."""
    if ppi == 500:
        return arr.astype(bool) if is_mask else arr.astype(np.float32, copy=False)
    f = ppi / 500.0
    size = (max(1, int(round(arr.shape[1] * f))), max(1, int(round(arr.shape[0] * f))))
    interp = cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR
    out = cv2.resize(arr.astype(np.float32), size, interpolation=interp)
    return out >= 0.5 if is_mask else out


def _quality_plan(rng: np.random.Generator, options: FormOptions) -> tuple[str, ...]:
    """Quality asked of the synthesiser for each of the 14 positions (index position - 1)."""
    if rng.random() < options.poor_inking_rate:
        p = (0.35, 0.35, 0.30)  # a careless or hurried inking session
    else:
        p = (0.70, 0.25, 0.05)
    return tuple(str(q) for q in rng.choice(["good", "fair", "poor"], size=14, p=p))


def _missing_plan(rng: np.random.Generator, options: FormOptions) -> dict[int, str | None]:
    """Missing rolled fingers -> annotation ("AMP", "UP", "XX" or None for an empty box)."""
    if rng.random() >= options.missing_rate:
        return {}
    n = 1 if rng.random() < 0.75 else 2
    fingers = sorted(int(f) for f in rng.choice(np.arange(1, 11), size=n, replace=False))
    return {f: (str(rng.choice(ANNOTATIONS)) if rng.random() < options.annotation_rate else None) for f in fingers}


def _placement(rng: np.random.Generator, box_rect_px, shape: tuple[int, int], s: float, overrun: bool
               ) -> tuple[int, int]:
    """Top-left page pixel of a print of ``shape`` in a box: near the centre, a little low
    (the label is at the top), sometimes pushed over a border."""
    x0, y0, x1, y1 = box_rect_px
    cx = (x0 + x1) / 2 + rng.normal(0.0, 1.2) * s
    cy = (y0 + y1) / 2 + (1.0 + rng.normal(0.0, 1.2)) * s
    if overrun:
        ang = rng.uniform(0, 2 * np.pi)
        push = rng.uniform(3.0, 6.0) * s
        # push towards a border by enough that the print crosses it
        cx += np.cos(ang) * (max(0.0, (x1 - x0 - shape[1]) / 2) + push)
        cy += np.sin(ang) * (max(0.0, (y1 - y0 - shape[0]) / 2) + push)
    return int(round(cx - shape[1] / 2)), int(round(cy - shape[0] / 2))


def _scan_mask(mask: np.ndarray, top_left: tuple[int, int], matrix: np.ndarray, size: tuple[int, int]
               ) -> tuple[list[int] | None, np.ndarray | None]:
    """Warp a page-space print mask into the scan: tight bbox (exclusive ends) and cropped mask."""
    h, w = mask.shape
    ox, oy = top_left
    corners = np.array([[ox - 0.5, oy - 0.5], [ox + w - 0.5, oy - 0.5], [ox + w - 0.5, oy + h - 0.5],
                        [ox - 0.5, oy + h - 0.5]])
    pc = transform_points(matrix, corners)
    bx0 = max(int(np.floor(pc[:, 0].min())) - 1, 0)
    by0 = max(int(np.floor(pc[:, 1].min())) - 1, 0)
    bx1 = min(int(np.ceil(pc[:, 0].max())) + 2, size[0])
    by1 = min(int(np.ceil(pc[:, 1].max())) + 2, size[1])
    if bx0 >= bx1 or by0 >= by1:
        return None, None
    m = np.array(matrix, np.float64)
    m[:, 2] = m[:, :2] @ np.array([ox, oy], np.float64) + m[:, 2] - (bx0, by0)
    warped = cv2.warpAffine(mask.astype(np.uint8) * 255, m, (bx1 - bx0, by1 - by0), flags=cv2.INTER_LINEAR,
                            borderValue=0) >= 128
    x, y, ww, hh = cv2.boundingRect(warped.astype(np.uint8))
    if ww == 0 or hh == 0:
        return None, None
    return [bx0 + x, by0 + y, bx0 + x + ww, by0 + y + hh], warped[y:y + hh, x:x + ww].copy()


def verdict_for(boxes: list[dict], *, copy: bool, copy_degradation: float | None) -> tuple[str, list[str]]:
    """The documented verdict rule (see the module docstring)."""
    poor = [b["position"] for b in boxes if b["impression"] == "rolled" and b["poor"]]
    reasons: list[str] = []
    if copy:
        if len(poor) >= POOR_ROLLED_LIMIT:
            reasons.append(f"copy with {len(poor)} poor rolled prints (positions {poor})")
        if copy_degradation is not None and copy_degradation >= STRONG_COPY_DEGRADATION:
            reasons.append(f"copy strongly degraded ({copy_degradation:.2f} >= {STRONG_COPY_DEGRADATION})")
        if reasons:
            return "unsuitable", reasons
        return "suitable", [f"copy with {len(poor)} poor rolled prints and degradation {copy_degradation:.2f}"]
    if len(poor) >= POOR_ROLLED_LIMIT:
        return "review", [f"original with {len(poor)} poor rolled prints (positions {poor})"]
    return "suitable", [f"original with {len(poor)} poor rolled prints"]


def external_density(image: np.ndarray, *, max_size_px: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Ink density and foreground mask of a grey print image given by the caller (500 ppi).

    The image (a scanned ink print, paper light) keeps its own texture: density is
    ``1 - grey / paper`` with the paper level taken as its 99th percentile, so the scan's
    noise, ink grain and compression loss come along. It is cut to at most
    ``max_size_px = (width, height)`` around its ink's centre of mass.

    Returns
    -------
    density : numpy.ndarray
        float32 in [0, 1].
    mask : numpy.ndarray
        bool, where ink varies (ridges), closed: the print's foreground.
    """
    img = np.asarray(image)
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    if img.dtype != np.uint8 or img.ndim != 2 or min(img.shape) < 32:
        raise ValueError(f"a print image must be uint8 grey of at least 32 x 32 px, got {img.dtype} {img.shape}")
    paper = max(1.0, float(np.percentile(img, 99)))
    dens = np.clip(1.0 - img.astype(np.float32) / np.float32(paper), 0.0, 1.0)
    mw, mh = max_size_px
    h, w = dens.shape
    if w > mw or h > mh:
        wsum = cv2.GaussianBlur(dens, (0, 0), 8.0)
        ys, xs = np.mgrid[0:h, 0:w]
        tot = float(wsum.sum()) or 1.0
        cy, cx = float((wsum * ys).sum() / tot), float((wsum * xs).sum() / tot)
        cw, ch = min(w, mw), min(h, mh)
        x0 = int(np.clip(round(cx - cw / 2), 0, w - cw))
        y0 = int(np.clip(round(cy - ch / 2), 0, h - ch))
        dens = np.ascontiguousarray(dens[y0:y0 + ch, x0:x0 + cw])
    mean = cv2.blur(dens, (17, 17))
    var = cv2.blur(dens * dens, (17, 17)) - mean * mean
    fg = (np.sqrt(np.clip(var, 0, None)) > 0.08).astype(np.uint8)
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (25, 25))
    fg = cv2.morphologyEx(cv2.morphologyEx(fg, cv2.MORPH_CLOSE, k), cv2.MORPH_OPEN, k)
    return dens, fg.astype(bool)


def generate_form(seed: int, index: int, *, options: FormOptions = FormOptions(),
                  prints: Mapping[int, np.ndarray] | None = None) -> GeneratedForm:
    """Generate one scanned IFB1 form and its ground truth.

    Parameters
    ----------
    seed, index : int
        Non-negative; the same pair (and options) always gives the same scan.
    options : FormOptions
        Resolution, copy or original, feed direction, barcode format, rates.
    prints : mapping of int to numpy.ndarray, optional
        Print images to use instead of synthesised ones: box position -> uint8 grey
        image at 500 ppi, paper light (e.g. real scanned ink prints, for benchmarks
        that must not put them in the repository). Each is cut to fit its box
        (:func:`external_density`) and placed near the box's centre; its truth has
        ``source`` ``"external"``, no damage and no quality (never "poor").

    Returns
    -------
    GeneratedForm
    """
    clock = time.perf_counter
    t_start = clock()
    t_fp = 0.0
    ppi = check_ppi(options.ppi)
    if options.barcode_format not in BARCODE_FORMATS:
        raise ValueError(f"barcode_format must be one of {BARCODE_FORMATS}, got {options.barcode_format!r}")
    (make_person, rolled_impression, plain_impression, slap_impression, ink_print, random_damage,
     compression_loss) = _prints_api()
    layout: Layout = load_layout(options.layout_path)
    r_plan, r_details, r_fp, r_place, r_label, r_copy, r_scan = _rngs(seed, index, 7)
    s = px_per_mm(ppi)
    form_id = form_id_for(seed, index)
    year = int(form_id[5:9])

    page = render_blank_form(layout, ppi=ppi, style=options.style)
    fill_fields(page, layout, invented_details(r_details, year=year), ppi=ppi, rng=r_details, pen=options.pen,
                style=options.style)

    missing = _missing_plan(r_plan, options)
    quality = _quality_plan(r_plan, options)
    u = r_plan.random()  # drawn always, so that forcing the feed direction changes nothing else
    upside_down = bool(u < options.upside_down_rate) if options.upside_down is None else bool(options.upside_down)
    damaged_label = bool(r_plan.random() < options.barcode_damage_rate)

    t0 = clock()
    masters = make_person(r_fp)
    t_fp += clock() - t0
    placed: dict[int, tuple[np.ndarray, tuple[int, int]]] = {}
    box_truth: dict[int, dict] = {}
    for box in layout.boxes:
        pos = box.position
        x, y, w, h = box.rect_mm
        bx0, by0 = mm_to_page_px(x, y, ppi)
        bx1, by1 = mm_to_page_px(x + w, y + h, ppi)
        if box.impression == "rolled":
            fingers = (pos,)
        elif pos in (11, 12):
            fingers = (1,) if pos == 11 else (6,)
        else:
            fingers = (2, 3, 4, 5) if pos == 13 else (7, 8, 9, 10)
        entry = {"position": pos, "finger": box.finger, "impression": box.impression, "fingers": list(fingers),
                 "present": True, "annotation": None, "print_bbox_px": None, "damage": None,
                 "quality": None, "poor": False, "source": "synthetic",
                 "pattern": masters[fingers[0] - 1].pattern if len(fingers) == 1 else None,
                 "patterns": [masters[f - 1].pattern for f in fingers]}
        if prints is not None and pos in prints:
            # A caller's print image (a real scanned ink print for a benchmark): placed as it is.
            room = (int((bx1 - bx0) - 2.0 * s), int((by1 - by0) - 6.0 * s))  # below the box's label
            room500 = (int(room[0] * 500 / ppi), int(room[1] * 500 / ppi))
            dens, mask = external_density(prints[pos], max_size_px=room500)
            dens = _resize_to_ppi(dens, ppi, is_mask=False)
            mask = _resize_to_ppi(mask, ppi, is_mask=True)
            tl = (int(round((bx0 + bx1) / 2 - dens.shape[1] / 2)),
                  int(round(by1 - 1.0 * s - dens.shape[0])))
            place_density(page, dens, tl, strength=1.0)
            placed[pos] = (mask, tl)
            entry.update(source="external", pattern=None, patterns=[])
            box_truth[pos] = entry
            continue
        present_fingers = tuple(f for f in fingers if f not in missing)
        if not present_fingers:
            note = missing[fingers[0]]
            entry.update(present=False, annotation=note, pattern=None, patterns=[],
                         poor=box.impression == "rolled" and note is None)
            if note is not None:
                hgt = float(r_place.uniform(5.0, 8.0)) * s
                at = ((bx0 + bx1) / 2 - hgt * len(note) * 0.4 + r_place.normal(0, 2) * s,
                      (by0 + by1) / 2 - hgt / 2 + r_place.normal(0, 2) * s)
                write_by_hand(page, note, at, height_px=hgt, rng=r_place, pen=options.pen, ppi=ppi)
            box_truth[pos] = entry
            continue
        q = quality[pos - 1]
        t0 = clock()
        if box.impression == "rolled":
            imp = rolled_impression(masters[pos - 1], r_fp)
        elif len(fingers) == 1:
            imp = plain_impression(masters[fingers[0] - 1], r_fp)
        else:
            imp = slap_impression([masters[f - 1] for f in fingers], r_fp, hand="right" if pos == 13 else "left")
        damage = random_damage(r_fp, quality=q, kinds=tuple(options.damage_kinds))
        inked = ink_print(imp, r_fp, damage=damage)
        step = float(r_fp.uniform(*options.print_compression))
        dens, mask = compression_loss(inked.density, step), inked.mask
        t_fp += clock() - t0
        if len(present_fingers) != len(fingers):
            # A missing finger of a slap: lift its contact off the paper.
            gone = np.zeros(mask.shape, bool)
            for f, fm in zip(imp.fingers, imp.finger_masks):
                if f not in present_fingers:
                    gone |= fm
            gone = cv2.dilate(gone.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
            dens = np.where(gone, 0.0, dens).astype(np.float32)
            mask = mask & ~gone
        dens = _resize_to_ppi(dens, ppi, is_mask=False)
        mask = _resize_to_ppi(mask, ppi, is_mask=True)
        tl = _placement(r_place, (bx0, by0, bx1, by1), dens.shape, s, bool(r_place.random() < options.overrun_rate))
        place_density(page, dens, tl, strength=float(r_place.uniform(0.82, 0.95)))
        placed[pos] = (mask, tl)
        entry.update(damage={k: round(float(v), 4) for k, v in damage.as_dict().items()}, quality=q,
                     poor=box.impression == "rolled" and q == "poor",
                     patterns=[masters[f - 1].pattern for f in present_fingers])
        if len(present_fingers) != len(fingers):
            entry["fingers"] = list(present_fingers)
        box_truth[pos] = entry
        # Ridge counts scribbled beside loops and whorls, as fingerprint officers do.
        if box.impression == "rolled" and entry["pattern"] in ("left_loop", "right_loop", "whorl") \
                and r_place.random() < options.ridge_count_rate:
            count = str(int(r_place.integers(6, 22)))
            if entry["pattern"] == "whorl" and r_place.random() < 0.5:
                count = f"{count}/{int(r_place.integers(4, 20))}"
            hgt = float(r_place.uniform(2.5, 3.5)) * s
            at = (bx1 - (3.5 + 1.8 * len(count)) * s + r_place.normal(0, 0.7) * s,
                  by1 - 6.0 * s + r_place.normal(0, 0.7) * s)
            write_by_hand(page, count, at, height_px=hgt, rng=r_place, pen=options.pen, ppi=ppi)

    # The barcode label, stuck by hand near its zone.
    label = render_label(form_id, fmt=options.barcode_format, ppi=ppi, params=options.label)
    if damaged_label:
        label = damage_label(label, r_label, ppi=ppi)
    zx, zy, zw, zh = layout.barcode_zone_mm
    lh_mm, lw_mm = label.image.shape[0] / s, label.image.shape[1] / s
    cx_mm = zx + zw / 2 + float(r_label.uniform(-10, 10))
    cy_mm = zy + zh / 2 + float(r_label.uniform(-10, 10))
    angle = float(r_label.uniform(-10, 10))
    # Keep the whole (turned) label on the sheet, 2 mm in from its edge: nobody sticks a label
    # hanging over the paper's edge.
    half_w, half_h = label_half_extent_mm((lw_mm, lh_mm), angle)
    cx_mm = float(np.clip(cx_mm, half_w + LABEL_EDGE_MARGIN_MM, layout.page_mm[0] - half_w - LABEL_EDGE_MARGIN_MM))
    cy_mm = float(np.clip(cy_mm, half_h + LABEL_EDGE_MARGIN_MM, layout.page_mm[1] - half_h - LABEL_EDGE_MARGIN_MM))
    symbol_page = stick_label(page, label, centre_px=mm_to_page_px(cx_mm, cy_mm, ppi), angle_deg=angle,
                              edge=options.label.edge)

    t_render_end = clock()
    copy_strength = None
    copy_print: dict | None = None
    if options.copy:
        copy_strength = round(float(r_copy.uniform(*options.copy_degradation)), 4)
        if not options.clean:
            copy_print = {}
            page = print_and_copy(page, r_copy, strength=copy_strength, ppi=ppi, params=options.copy_params,
                                  record=copy_print)

    t_copy_end = clock()
    size = page_size_px(layout, ppi)
    geom = random_geometry(r_scan, size, ppi=ppi, upside_down=upside_down, params=options.scan)
    look = random_look(r_scan, ppi=ppi, params=options.scan)
    image = flatbed_scan(page, geom, r_scan, look=look, params=options.scan, rgb=options.rgb, ppi=ppi,
                         clean=options.clean)
    if options.copy and not options.clean:
        image = second_generation(image, strength=copy_strength, params=options.copy_params)
    t_scan_end = clock()

    def to_scan(pts_mm) -> list[list[float]]:
        page_px = [mm_to_page_px(px, py, ppi) for px, py in pts_mm]
        return [[round(float(a), 3), round(float(b), 3)] for a, b in geom.apply(page_px)]

    masks: dict[int, np.ndarray] = {}
    boxes_out = []
    for box in layout.boxes:
        entry = box_truth[box.position]
        entry["corners_px"] = to_scan(box.corners_mm())
        if box.position in placed:
            bbox, m = _scan_mask(*placed[box.position], geom.matrix, size)
            entry["print_bbox_px"] = bbox
            if m is not None:
                masks[box.position] = m
            else:
                entry["present"] = False  # ran entirely off the scan
        boxes_out.append({k: entry[k] for k in ("position", "finger", "impression", "fingers", "corners_px",
                                                "present", "annotation", "print_bbox_px", "damage", "quality",
                                                "poor", "source", "pattern", "patterns")})
    sym = geom.apply(symbol_page)
    label_damage = ["pen stroke or scuff across the symbol"] if damaged_label else []
    # The label is on the paper, but the scanner may crop the sheet's edge: a symbol whose
    # bars are not wholly inside the scan cannot be read.
    if not symbol_in_image(sym, size):
        label_damage.append("cut by the page edge")
    verdict, reasons = verdict_for(boxes_out, copy=options.copy, copy_degradation=copy_strength)
    truth = {
        "schema": SCHEMA,
        "scan": None, "seed": int(seed), "index": int(index),
        "form_id": form_id,
        "ppi": ppi, "ppi_in_metadata": None,
        "format": None, "copy": bool(options.copy), "upside_down": upside_down,
        "rotation_deg": geom.rotation_deg, "scale": geom.scale, "offset_px": list(geom.offset_px),
        "page_to_scan": [[round(float(v), 9) for v in row] for row in geom.matrix],
        "image_size_px": [int(size[0]), int(size[1])],
        "color": "rgb" if options.rgb else "grey",
        "copy_degradation": copy_strength,
        "copy_print": copy_print,
        "scanner_jpeg_quality": look.jpeg_quality,
        "barcode": {"text": form_id, "format": options.barcode_format,
                    "corners_px": [[round(float(a), 3), round(float(b), 3)] for a, b in sym],
                    "angle_on_page_deg": round(angle, 3), "damaged": bool(label_damage),
                    "damage_reasons": label_damage},
        "boxes": boxes_out,
        "verdict": verdict, "verdict_reasons": reasons,
    }
    timings = {"fingerprints": t_fp, "render": t_render_end - t_start - t_fp, "copy": t_copy_end - t_render_end,
               "scan": t_scan_end - t_copy_end, "truth": clock() - t_scan_end}
    return GeneratedForm(image=image, truth=truth, masks=masks, timings=timings)


# --------------------------------------------------------------------------- writing

def _open_private(path: Path):
    """Open ``path`` for writing, created owner-only (0o600)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    return os.fdopen(fd, "wb")


def _write_private(path: Path, writer) -> None:
    """Write via a temporary owner-only file, then rename into place (no half-written files)."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with _open_private(tmp) as fh:
            writer(fh)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def png_bytes(image: np.ndarray, *, ppi_in_metadata: int | None, compress_level: int = 1) -> bytes:
    """PNG-encode with OpenCV's libpng (faster than Pillow's at low compression levels) and
    add a ``pHYs`` chunk carrying the resolution (pixels per metre) when one is given."""
    import struct
    import zlib

    src = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image
    ok, buf = cv2.imencode(".png", src, [cv2.IMWRITE_PNG_COMPRESSION, int(compress_level)])
    if not ok:
        raise RuntimeError("PNG encoding failed")
    data = buf.tobytes()
    if not ppi_in_metadata:
        return data
    ppm = int(round(ppi_in_metadata / 0.0254))
    body = b"pHYs" + struct.pack(">IIB", ppm, ppm, 1)
    chunk = struct.pack(">I", 9) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)
    ihdr_end = 8 + 4 + 4 + 13 + 4  # signature, IHDR length, type, data, CRC
    return data[:ihdr_end] + chunk + data[ihdr_end:]


def encode_image(image: np.ndarray, fh, *, fmt: str, ppi_in_metadata: int | None, jpeg_quality: int = 90,
                 png_compress_level: int = 1) -> None:
    """Encode a scan with Pillow to an open binary file, with the resolution in its
    metadata (or none), and no timestamps (same image, same bytes)."""
    from PIL import Image

    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")
    if fmt == "png":
        fh.write(png_bytes(image, ppi_in_metadata=ppi_in_metadata, compress_level=png_compress_level))
        return
    im = Image.fromarray(image, mode="RGB" if image.ndim == 3 else "L")
    kw: dict = {}
    if fmt == "tiff":
        if ppi_in_metadata:
            kw["dpi"] = (ppi_in_metadata, ppi_in_metadata)
        im.save(fh, format="TIFF", compression="tiff_lzw", **kw)
    elif fmt == "jpeg":
        if ppi_in_metadata:
            kw["dpi"] = (ppi_in_metadata, ppi_in_metadata)
        im.save(fh, format="JPEG", quality=int(jpeg_quality), **kw)
    else:
        import time

        # A PDF page always has a size; without a stated resolution Pillow assumes 72 dpi.
        fixed = time.gmtime(0)
        im.save(fh, format="PDF", resolution=float(ppi_in_metadata or 72), title="IFB1 scan",
                creationDate=fixed, modDate=fixed)


def save_scan(form: GeneratedForm, path: Path, *, fmt: str, ppi_in_metadata: int | None,
              masks: bool = False, jpeg_quality: int | None = None) -> dict:
    """Write a scan, its ground-truth JSON beside it (``<stem>.json``) and, optionally, masks.

    Parameters
    ----------
    form : GeneratedForm
        From :func:`generate_form`.
    path : Path
        The scan file to write; its directory must exist. Files are owner-only (0o600).
    fmt : str
        ``"png"``, ``"tiff"`` (LZW), ``"jpeg"`` or ``"pdf"``.
    ppi_in_metadata : int or None
        Resolution written into the file (may differ from the true one, e.g. a
        72 dpi lie); None writes none (a PDF then gets Pillow's 72 dpi page size).
    masks : bool
        Also write each present print's foreground mask as ``<stem>_mask_PP.png``
        (cropped to its ``print_bbox_px``).
    jpeg_quality : int, optional
        JPEG quality when ``fmt`` is ``"jpeg"``; by default the scanner's own for this scan
        (``scanner_jpeg_quality`` in the truth, drawn in 75-92).

    Returns
    -------
    dict
        The truth object as written (``scan``, ``format``, ``ppi_in_metadata`` filled in).
    """
    path = Path(path)
    if fmt not in FORMATS:
        raise ValueError(f"{path}: format must be one of {FORMATS}, got {fmt!r}")
    if ppi_in_metadata is not None and not (1 <= int(ppi_in_metadata) <= 10000):
        raise ValueError(f"{path}: ppi_in_metadata must be a positive resolution or None, got {ppi_in_metadata!r}")
    truth = dict(form.truth)
    truth["scan"] = path.name
    truth["format"] = fmt
    # A PDF always states a page size; the truth says what a reader will infer from it.
    truth["ppi_in_metadata"] = int(ppi_in_metadata) if ppi_in_metadata else (72 if fmt == "pdf" else None)
    if jpeg_quality is None:
        jpeg_quality = int(truth.get("scanner_jpeg_quality") or 90)
    truth["jpeg_quality"] = int(jpeg_quality) if fmt == "jpeg" else None
    _write_private(path, lambda fh: encode_image(form.image, fh, fmt=fmt, ppi_in_metadata=ppi_in_metadata,
                                                 jpeg_quality=jpeg_quality))
    if masks:
        from PIL import Image

        names = {}
        for pos, m in sorted(form.masks.items()):
            mpath = path.with_name(f"{path.stem}_mask_{pos:02d}.png")
            img = Image.fromarray(m.astype(np.uint8) * 255, mode="L")
            _write_private(mpath, lambda fh, img=img: img.save(fh, format="PNG", compress_level=6))
            names[str(pos)] = mpath.name
        truth["masks"] = names
    text = json.dumps(truth, indent=1)
    _write_private(path.with_suffix(".json"), lambda fh: fh.write(text.encode("utf-8")))
    return truth


def suffix_for(fmt: str) -> str:
    """File suffix for a format name."""
    return _SUFFIX[fmt]
