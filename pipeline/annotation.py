"""Hand-written annotations in empty print boxes: "AMP", "XX" (amputated) or "UP" (unable to print).

An officer who cannot take a finger writes the reason in its box. This stage
reads an *empty* box's 500 ppi crop (:attr:`ifb1.pipeline.segment.BoxRegion.crop`)
and says whether it is blank, carries a hand-written annotation (and which
code), or holds print-like marks (a faint or partial print the presence test
rejected, or a neighbour's print running over the border).

The reading is structural rather than template matching, so that it does not
depend on one hand or one font:

1. **Ink**: pixels darker than the local paper level (background from a max
   filter over 5 mm, so shading and scanner vignetting cancel) by more than
   ``max(min_contrast, noise_factor * noise)``, kept by hysteresis from
   clearly dark seeds; dust and border remnants are dropped.
2. **Marks** are grouped by proximity (letters of one word sit closer than
   ``group_mm``). A group is *print-like* when its centre-line is dense
   (ridges every ~0.5 mm give ~2 mm of line per mm^2 of hull; hand-writing
   well under 1) or its strokes are wider than a pen's.
3. **Code** from topological and shape cues of the largest writing group,
   each of which survives changes of hand and slant:

   * closed bowls (holes): XX 0, UP 1 (the P), AMP 2 (A and P);
   * X-shaped crossings (a junction with four branches on a circle around
     it): XX 2, UP and AMP none;
   * characters (connected pen pieces): XX 2, UP 2, AMP 3;
   * stroke ends of the centre-line: XX 8, UP 3, AMP ~5;
   * aspect ratio (width / height): two letters ~1.2-2.2, three ~2-3.5.

   Each code's penalty is a weighted sum of its disagreements; the smallest
   wins and the margin to the next gives the confidence. When the marks are
   clearly writing but the code is uncertain, the code is ``"UP"`` with a low
   confidence: ANSI/NIST-ITL 1-2011 (Update 2015, field 14.018 AMP) says
   "if the agency is not sure of the reason a finger's image is missing, the
   UP code should be used".

The text read is kept as written ("AMP", "XX" or "UP") for the report;
:attr:`Annotation.ansi_nist_code` maps it to the two codes of field 14.018:
``"XX"`` (amputation) for both "AMP" and "XX", ``"UP"`` (unable to print).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: The texts an officer writes, and the ANSI/NIST-ITL 14.018 code each maps to.
CODES = ("XX", "UP", "AMP")
ANSI_NIST_CODE = {"XX": "XX", "AMP": "XX", "UP": "UP"}
KINDS = ("blank", "annotated", "print")

# Expected structural cues per code: (holes, X crossings, characters, stroke ends).
_EXPECTED = {
    "XX": (0.0, 2.0, 2.0, 8.0),
    "UP": (1.0, 0.0, 2.0, 3.0),
    "AMP": (2.0, 0.0, 3.0, 5.0),
}
# Aspect ratio (width / cap height) ranges per number of letters, with slack.
_ASPECT = {"XX": (1.0, 2.4), "UP": (1.0, 2.4), "AMP": (1.8, 4.0)}


@dataclass(frozen=True)
class AnnotationParams:
    """Parameters of :func:`read_annotation` (lengths in mm; 500 ppi crops).

    Attributes
    ----------
    ppi : float
        Resolution of the crop (500).
    smooth_mm : float
        Gaussian sigma applied first (scanner noise, halftone dots of copies).
    background_mm : float
        Window of the max filter that estimates the paper level (wider than
        any pen stroke).
    min_contrast : float
        Smallest darkening below paper (grey levels) that counts as ink.
    noise_factor : float
        ... and at least this many times the paper's noise (robust sigma).
    seed_factor : float
        A group of ink pixels is kept only when it reaches ``seed_factor``
        times the ink threshold somewhere (hysteresis: pen ink is dark).
    edge_margin_mm : float
        Ink lying entirely within this distance of the crop's edge is a
        remnant of the printed border, not writing.
    min_component_mm2 : float
        Smaller ink specks are dust.
    group_mm : float
        Ink pieces closer than this belong to one group (the letters of a word).
    min_text_height_mm, min_text_length_mm : float
        A group is writing only when at least this tall and with at least
        this much centre-line (the shortest annotation, a small "UP", has
        ~10 mm); smaller marks are stray dots or ticks.
    max_stroke_mm : float
        Mean stroke width above which marks are a smudge or print, not a pen.
    cover_mm : float
        Radius of the neighbourhood of the ink over which the centre-line
        density is measured.
    print_line_density : float
        Centre-line length per mm^2 of that neighbourhood above which a group
        is a print's ridges rather than writing (ridges every ~0.5 mm: ~1-2;
        letters: under 0.6).
    print_ends_per_mm : float
        Stroke ends per mm of centre-line above which a group is ridge
        fragments (each 1-3 mm long) rather than letters (under 0.4).
    min_hole_mm2 : float
        Smallest enclosed paper area that counts as a closed bowl.
    cross_radius : float
        Radius of the circle on which a junction's branches are counted, as
        a fraction of the writing's height.
    faint_contrast, faint_min_area_mm2 : float
        A box with no pen ink is reported as holding a faint print when a
        region of at least ``faint_min_area_mm2`` is shaded, on 1 mm cells, by
        more than ``faint_contrast`` grey levels (and 4 noise sigmas).
    weights : tuple of float
        Weights of the disagreements in (holes, crossings, characters, stroke
        ends, aspect ratio) of the code penalty.
    min_margin : float
        Penalty margin between the best and the second code below which the
        code is uncertain (reported as ``"UP"``).
    max_penalty : float
        Best penalty above which the code is uncertain (reported as ``"UP"``).
    print_with_writing_mm2, max_penalty_beside_print : float
        When print-like marks with at least this much ink share the box with
        writing, the writing counts as an annotation only if its best penalty
        is at most ``max_penalty_beside_print`` (else it is a ridge count
        beside a print, and the box is reported as ``"print"``).
    """

    ppi: float = 500.0
    smooth_mm: float = 0.06
    background_mm: float = 5.0
    min_contrast: float = 30.0
    noise_factor: float = 5.0
    seed_factor: float = 2.0
    edge_margin_mm: float = 0.8
    min_component_mm2: float = 0.12
    group_mm: float = 2.0
    min_text_height_mm: float = 2.0
    min_text_length_mm: float = 6.0
    max_stroke_mm: float = 3.0
    cover_mm: float = 0.75
    print_line_density: float = 0.8
    print_ends_per_mm: float = 0.6
    min_hole_mm2: float = 0.25
    cross_radius: float = 0.2
    faint_contrast: float = 8.0
    faint_min_area_mm2: float = 30.0
    weights: tuple[float, float, float, float, float] = (1.0, 1.2, 0.6, 0.25, 1.0)
    min_margin: float = 0.5
    max_penalty: float = 3.0
    print_with_writing_mm2: float = 20.0
    max_penalty_beside_print: float = 1.0


@dataclass(frozen=True)
class Annotation:
    """What an empty print box holds.

    Attributes
    ----------
    code : str or None
        The text read: ``"AMP"``, ``"XX"`` or ``"UP"`` (``"UP"`` also when the
        marks are writing but the code is uncertain); None unless annotated.
    kind : str
        ``"blank"``, ``"annotated"`` or ``"print"`` (print-like marks: a faint
        or partial print, or a neighbour's print over the border).
    confidence : float
        0-1, how sure the kind and code are.
    reason : str
        The cues in words.
    bbox : tuple of int or None
        ``(x0, y0, x1, y1)`` of the writing (or the print-like marks) in crop px.
    """

    code: str | None
    kind: str
    confidence: float
    reason: str
    bbox: tuple[int, int, int, int] | None = None

    @property
    def ansi_nist_code(self) -> str | None:
        """The ANSI/NIST-ITL 14.018 code: ``"XX"`` for "AMP" and "XX", ``"UP"``; None if not annotated."""
        return ANSI_NIST_CODE.get(self.code) if self.kind == "annotated" else None

    def as_dict(self) -> dict:
        return {"code": self.code, "kind": self.kind, "confidence": round(float(self.confidence), 3),
                "reason": self.reason, "ansi_nist_code": self.ansi_nist_code,
                "bbox_px": None if self.bbox is None else list(self.bbox)}


@dataclass(frozen=True)
class _Group:
    """Cues of one group of ink pieces."""

    bbox: tuple[int, int, int, int]
    ink_mm2: float
    length_mm: float
    hull_mm2: float
    stroke_mm: float
    pieces: int
    holes: int
    crossings: int
    ends: int
    height_mm: float
    width_mm: float
    cover_mm2: float

    @property
    def line_density(self) -> float:
        """Centre-line per mm^2 of the ink's near surroundings (ridges ~1-2, writing < 0.6)."""
        return self.length_mm / max(self.cover_mm2, 1e-6)

    @property
    def ends_per_mm(self) -> float:
        """Stroke ends per mm of centre-line (ridge fragments ~0.5-1, letters < 0.4)."""
        return self.ends / max(self.length_mm, 1e-6)


def _ink_mask(crop: np.ndarray, k: float, p: AnnotationParams) -> tuple[np.ndarray, np.ndarray]:
    """Pen-dark pixels (bool), hysteresis-thresholded against the local paper
    level, and the darkening below paper (float32 grey levels)."""
    import cv2

    g = cv2.GaussianBlur(crop.astype(np.float32), (0, 0), max(p.smooth_mm * k, 0.3))
    # Paper level: a max filter wider than any stroke, on a 4x reduced image, then smoothed.
    f = 4
    small = cv2.resize(g, (max(1, g.shape[1] // f), max(1, g.shape[0] // f)), interpolation=cv2.INTER_AREA)
    d = max(3, int(round(p.background_mm * k / f)) | 1)
    bg = cv2.dilate(small, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (d, d)))
    bg = cv2.blur(bg, (d, d))
    bg = cv2.resize(bg, (g.shape[1], g.shape[0]), interpolation=cv2.INTER_LINEAR)
    contrast = bg - g
    # Paper noise from the contrast's 10th-40th percentiles (paper there even
    # when marks or a print cover half the box): Gaussian z -1.28 .. -0.25.
    p10, p40 = (float(v) for v in np.percentile(contrast[::2, ::2], (10, 40)))
    noise = (p40 - p10) / 1.028
    med = p40 + 0.253 * noise
    t = max(p.min_contrast, med + p.noise_factor * noise)
    weak = (contrast > t).astype(np.uint8)
    n, lab, stats, _ = cv2.connectedComponentsWithStats(weak, connectivity=8)
    if n <= 1:
        return np.zeros(crop.shape, bool), contrast
    peak = np.zeros(n, np.float32)
    np.maximum.at(peak, lab.ravel(), contrast.ravel())
    keep = peak >= p.seed_factor * t
    keep &= stats[:, cv2.CC_STAT_AREA] >= p.min_component_mm2 * k * k
    # Border remnants: ink entirely inside the edge margin.
    m = int(round(p.edge_margin_mm * k))
    h, w = crop.shape
    x0, y0 = stats[:, cv2.CC_STAT_LEFT], stats[:, cv2.CC_STAT_TOP]
    x1, y1 = x0 + stats[:, cv2.CC_STAT_WIDTH], y0 + stats[:, cv2.CC_STAT_HEIGHT]
    in_edge = (x1 <= m) | (y1 <= m) | (x0 >= w - m) | (y0 >= h - m)
    keep &= ~in_edge
    keep[0] = False
    return keep[lab], contrast


def _faint_marks(contrast: np.ndarray, k: float, p: AnnotationParams
                 ) -> tuple[float, tuple[int, int, int, int]] | None:
    """A faint print (under-inked, or a light copy) with no pen-dark pixel:
    ``(area mm^2, bbox px)`` of the largest evenly shaded region, or None."""
    import cv2

    c = max(1, int(round(k)))  # 1 mm cells: averages ridges and halftone dots away
    gh, gw = contrast.shape[0] // c, contrast.shape[1] // c
    if gh < 3 or gw < 3:
        return None
    cells = cv2.resize(contrast[: gh * c, : gw * c], (gw, gh), interpolation=cv2.INTER_AREA)
    med = float(np.median(cells))
    noise = 1.4826 * float(np.median(np.abs(cells - med)))
    shaded = (cells > max(p.faint_contrast, med + 4.0 * noise)).astype(np.uint8)
    shaded = cv2.morphologyEx(shaded, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    n, _, stats, _ = cv2.connectedComponentsWithStats(shaded, connectivity=8)
    if n <= 1:
        return None
    i = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    area = float(stats[i, cv2.CC_STAT_AREA])  # cells are 1 mm^2
    if area < p.faint_min_area_mm2:
        return None
    x, y, w, h = (int(v) * c for v in stats[i, :4])  # plain ints (JSON)
    return area, (x, y, x + w, y + h)


def _skeleton_cues(ink: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Skeleton, its end points and junction points (bool arrays)."""
    import cv2
    from skimage.morphology import skeletonize

    sk = skeletonize(ink)
    s8 = sk.astype(np.float32)
    nb = cv2.filter2D(s8, -1, np.ones((3, 3), np.float32), borderType=cv2.BORDER_CONSTANT) - s8
    return sk, sk & (nb == 1), sk & (nb >= 3)


def _prune(sk: np.ndarray, n: int) -> np.ndarray:
    """Remove spurs shorter than ``n`` px from a skeleton (erode ends n times, regrow n times)."""
    import cv2

    k3 = np.ones((3, 3), np.float32)
    cur = sk.copy()
    for _ in range(n):
        nb = cv2.filter2D(cur.astype(np.float32), -1, k3, borderType=cv2.BORDER_CONSTANT) - cur
        cur &= ~(cur & (nb <= 1))
    # Regrow from the surviving end points along the original skeleton only.
    nb = cv2.filter2D(cur.astype(np.float32), -1, k3, borderType=cv2.BORDER_CONSTANT) - cur
    front = cur & (nb == 1)
    grown = cur.copy()
    for _ in range(n):
        front = cv2.dilate(front.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool) & sk & ~grown
        if not front.any():
            break
        grown |= front
    return grown


def _branches_around(ink: np.ndarray, centres: np.ndarray, r: float, opposite_tol_deg: float = 40.0
                     ) -> np.ndarray:
    """Branches leaving each junction: runs, on a circle of radius ``r``, of the
    ink connected to the junction inside the circle (other strokes passing
    nearby are not counted). Four branches count as 4 only when they form
    two roughly opposite pairs (within ``opposite_tol_deg``), else 3."""
    import cv2

    out = np.zeros(len(centres), int)
    ri = int(np.ceil(r)) + 1
    n = max(24, int(2 * np.pi * r))
    a = np.linspace(0, 2 * np.pi, n, endpoint=False)
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * ri + 1, 2 * ri + 1)).astype(bool)
    h, w = ink.shape
    pad = np.pad(ink, ri)
    for j, (cx, cy) in enumerate(centres):  # a handful of junctions per word
        x, y = int(round(cx)) + ri, int(round(cy)) + ri
        win = (pad[y - ri:y + ri + 1, x - ri:x + ri + 1] & disc).astype(np.uint8)
        _, lab = cv2.connectedComponents(win, connectivity=8)
        centre = lab[ri - 1:ri + 2, ri - 1:ri + 2]
        ids = centre[centre > 0]
        if ids.size == 0:
            continue
        own = lab == np.bincount(ids).argmax()
        xs = np.clip(np.rint(ri + r * np.cos(a)).astype(int), 0, 2 * ri)
        ys = np.clip(np.rint(ri + r * np.sin(a)).astype(int), 0, 2 * ri)
        on = own[ys, xs]
        starts = np.nonzero(on & ~np.roll(on, 1))[0]
        if len(starts) != 4:
            out[j] = len(starts)
            continue
        # An X is two strokes through one point: its four arms form two
        # opposite pairs (A's and P's joins are T- or Y-shaped, M's corners V-shaped).
        ends = np.nonzero(on & ~np.roll(on, -1))[0]
        mid = np.array([(s + ((e - s) % n) / 2.0) % n for s, e in zip(starts, ends[np.searchsorted(ends, starts) % 4])])
        ang = np.sort(mid * 2 * np.pi / n)
        opp = np.abs(((ang[2:] - ang[:2]) - np.pi + np.pi) % (2 * np.pi) - np.pi)
        out[j] = 4 if opp.max() <= np.deg2rad(opposite_tol_deg) else 3
    return out


def _group_cues(ink: np.ndarray, k: float, p: AnnotationParams) -> _Group:
    """Cues of one group's ink (bool mask cropped to the group)."""
    import cv2

    u8 = ink.astype(np.uint8)
    ink_px = float(u8.sum())
    pieces, _, pstats, _ = cv2.connectedComponentsWithStats(u8, connectivity=8)
    pieces = int((pstats[1:, cv2.CC_STAT_AREA] >= p.min_component_mm2 * 4 * k * k).sum()) or 1
    contours, hier = cv2.findContours(u8, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    holes = 0
    if hier is not None:
        for c, hh in zip(contours, hier[0]):
            if hh[3] >= 0 and cv2.contourArea(c) >= p.min_hole_mm2 * k * k:
                holes += 1
    pts = np.concatenate([c.reshape(-1, 2) for c in contours]) if contours else np.zeros((0, 2), np.int32)
    hull_px = float(cv2.contourArea(cv2.convexHull(pts))) if len(pts) >= 3 else 0.0
    # The ink's surroundings: ridges 0.5 mm apart fill them, letters' strokes do not.
    rc = max(1, int(round(p.cover_mm * k)))
    cover_px = float(cv2.dilate(np.pad(u8, rc), cv2.getStructuringElement(
        cv2.MORPH_ELLIPSE, (2 * rc + 1, 2 * rc + 1))).sum())
    sk, _, _ = _skeleton_cues(ink)
    length_px = float(sk.sum())
    stroke = ink_px / max(length_px, 1.0) / k
    # Spurs shorter than a stroke width are skeleton artefacts of a thick pen.
    sk2 = _prune(sk, max(2, int(round(stroke * k))))
    s8 = sk2.astype(np.float32)
    nb = cv2.filter2D(s8, -1, np.ones((3, 3), np.float32), borderType=cv2.BORDER_CONSTANT) - s8
    ends = int((sk2 & (nb == 1)).sum())
    junc = (sk2 & (nb >= 3)).astype(np.uint8)
    ys, xs = np.nonzero(ink.any(axis=1))[0], np.nonzero(ink.any(axis=0))[0]
    height = (ys[-1] - ys[0] + 1) / k
    width = (xs[-1] - xs[0] + 1) / k
    crossings = 0
    if junc.any():
        # A crossing's skeleton often splits into two 3-way junctions a stroke
        # width apart: merge junction pixels closer than ~1.5 strokes first.
        rad = max(1, int(round(0.75 * stroke * k)))
        merged = cv2.dilate(junc, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * rad + 1, 2 * rad + 1)))
        nj, _, _, cents = cv2.connectedComponentsWithStats(merged, connectivity=8)
        r = max(p.cross_radius * height * k, 1.5 * stroke * k)
        crossings = int((_branches_around(ink, cents[1:], r) >= 4).sum())
    bx = (int(xs[0]), int(ys[0]), int(xs[-1]) + 1, int(ys[-1]) + 1)  # plain ints (JSON)
    return _Group(bbox=bx, ink_mm2=ink_px / k / k, length_mm=length_px / k, hull_mm2=hull_px / k / k,
                  stroke_mm=stroke, pieces=pieces, holes=holes, crossings=crossings, ends=ends,
                  height_mm=height, width_mm=width, cover_mm2=cover_px / k / k)


def _penalties(g: _Group, p: AnnotationParams) -> dict[str, float]:
    """Each code's weighted disagreement with the group's cues."""
    wh, wc, wp, we, wa = p.weights
    aspect = g.width_mm / max(g.height_mm, 1e-6)
    out = {}
    for code, (holes, cross, chars, ends) in _EXPECTED.items():
        lo, hi = _ASPECT[code]
        out[code] = (wh * abs(g.holes - holes)
                     + wc * abs(min(g.crossings, 3) - cross)
                     + wp * abs(min(g.pieces, 5) - chars)
                     + we * abs(min(g.ends, 12) - ends)
                     + wa * max(lo - aspect, aspect - hi, 0.0))
    return out


def read_annotation(crop: np.ndarray, *, mask: np.ndarray | None = None,
                    params: AnnotationParams = AnnotationParams()) -> Annotation:
    """Read what is written in an empty print box.

    Parameters
    ----------
    crop : np.ndarray
        uint8 grey inner region of the box at ``params.ppi`` (500), label
        blanked, as :attr:`ifb1.pipeline.segment.BoxRegion.crop`.
    mask : np.ndarray, optional
        bool, same shape: pixels to ignore (e.g. a print region found by the
        presence test, or a known border remnant).
    params : AnnotationParams

    Returns
    -------
    Annotation
        ``kind`` ``"blank"``, ``"annotated"`` (``code`` "XX", "UP" or "AMP")
        or ``"print"``.

    Raises
    ------
    ValueError
        When ``crop`` is not a 2-D uint8 image or ``mask`` does not match it.
    """
    import cv2

    crop = np.asarray(crop)
    if crop.ndim != 2 or crop.dtype != np.uint8 or min(crop.shape) < 8:
        raise ValueError(f"read_annotation: crop must be a 2-D uint8 image, got {crop.dtype} {crop.shape}")
    if mask is not None and np.shape(mask) != crop.shape:
        raise ValueError(f"read_annotation: mask shape {np.shape(mask)} differs from crop shape {crop.shape}")
    p = params
    k = p.ppi / 25.4
    ink, contrast = _ink_mask(crop, k, p)
    if mask is not None:
        ink &= ~np.asarray(mask, bool)
        contrast = np.where(mask, 0.0, contrast)
    if not ink.any():
        faint = _faint_marks(contrast, k, p)
        if faint is not None:
            return Annotation(None, "print", 0.5, f"faint print-like shading over {faint[0]:.0f} mm2, no pen ink",
                              faint[1])
        return Annotation(None, "blank", 1.0, "no ink in the box")
    # Group the pieces of one word: dilate by half the grouping distance.
    d = max(3, int(round(p.group_mm * k)) | 1)
    grouped = cv2.dilate(ink.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (d, d)))
    n, lab, stats, _ = cv2.connectedComponentsWithStats(grouped, connectivity=8)
    writing: list[_Group] = []
    prints: list[_Group] = []
    small = 0
    for i in np.argsort(-stats[1:, cv2.CC_STAT_AREA])[:6] + 1:  # the six largest groups at most
        x, y, w, h = stats[i, :4]
        sub = ink[y:y + h, x:x + w] & (lab[y:y + h, x:x + w] == i)
        g = _group_cues(sub, k, p)
        x, y = int(x), int(y)
        g = _Group(**{**g.__dict__, "bbox": (g.bbox[0] + x, g.bbox[1] + y, g.bbox[2] + x, g.bbox[3] + y)})
        if (g.line_density > p.print_line_density or g.stroke_mm > p.max_stroke_mm
                or (g.ends >= 10 and g.ends_per_mm > p.print_ends_per_mm)):
            if g.ink_mm2 >= 4.0:
                prints.append(g)
            continue
        if g.height_mm < p.min_text_height_mm or g.length_mm < p.min_text_length_mm:
            small += 1
            continue
        writing.append(g)
    if not writing:
        if prints:
            g = max(prints, key=lambda q: q.ink_mm2)
            return Annotation(None, "print", 0.7,
                              f"print-like marks ({g.ink_mm2:.0f} mm2 of ink, {g.line_density:.2f} mm of line "
                              f"per mm2, strokes {g.stroke_mm:.2f} mm): no writing", g.bbox)
        return Annotation(None, "blank", 0.8, f"only {small or 'a few'} small stray mark(s)")
    g = max(writing, key=lambda q: q.length_mm)
    pen = {c: round(v, 2) for c, v in _penalties(g, p).items()}
    order = sorted(pen, key=pen.get)
    best, second = order[0], order[1]
    margin = pen[second] - pen[best]
    cues = (f"{g.holes} bowl(s), {g.crossings} crossing(s), {g.pieces} piece(s), {g.ends} end(s), "
            f"aspect {g.width_mm / g.height_mm:.1f}, {g.height_mm:.1f} mm high")
    big_prints = [q for q in prints if q.ink_mm2 >= p.print_with_writing_mm2]
    if big_prints and pen[best] > p.max_penalty_beside_print:
        # Officers write nothing but a ridge count beside a print: writing that
        # is not clearly a code, next to print marks, is not an annotation.
        q = max(big_prints, key=lambda q: q.ink_mm2)
        return Annotation(None, "print", 0.6, f"print-like marks ({q.ink_mm2:.0f} mm2 of ink) with writing beside "
                          f"them that is not clearly a code ({cues}): a ridge count?", q.bbox)
    if margin < p.min_margin or pen[best] > p.max_penalty:
        conf = 0.2 + 0.25 * min(1.0, margin / p.min_margin) * (pen[best] <= p.max_penalty)
        return Annotation("UP", "annotated", round(float(conf), 3),
                          f"writing ({cues}) but the code is uncertain (best {best}, then {second}): "
                          "unable to print (UP) assumed", g.bbox)
    conf = float(np.clip(0.5 + 0.5 * min(1.0, margin / 2.0) - 0.15 * pen[best], 0.46, 0.99))
    return Annotation(best, "annotated", round(conf, 3), f"writing read as {best} ({cues})", g.bbox)
