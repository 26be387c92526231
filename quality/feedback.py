"""Actionable quality feedback for one fingerprint: NFIQ 2's four values and ours in plain words.

NFIQ 2's actionable feedback (NIST NFIQ 2.3, ``nfiq2_qualitymeasures_impl.cpp``), with NIST's
thresholds:

==================================  ==========================================  =============
value                                what it is                                  flag when
==================================  ==========================================  =============
``UniformImage``                     standard deviation of the grey values       < 1.0
``EmptyImageOrContrastTooLow``       mean grey value ``Mu``                      > 250.0
``FingerprintImageWithMinutiae``     number of FingerJet FX minutiae             < 5
``SufficientFingerprintForeground``  ROI (fingerprint area) pixels at 500 ppi    < 50,000
==================================  ==========================================  =============

Ours describe what went wrong in words an operator or a police force acts on. Each comes from a
measured quantity (all in :attr:`Feedback.measures`), at 500 ppi:

* ``too_dark`` (over-inked): the *valleys* are dark and the ridges run into them. Per 16 x 16
  foreground block the 90th grey percentile is the valley (paper) level; its median over the print
  below ``FeedbackParams.dark_valley_grey`` (185) with a ridge-valley contrast below
  ``dark_max_contrast`` (95), or below ``very_dark_valley_grey`` (140) whatever the contrast,
  means ink has filled the valleys (a dark but well-separated print, common on real ink cards,
  is not flagged).
* ``too_light`` (under-inked): the *ridges* are pale. The median of the per-block 10th percentile
  (ridge level) above ``light_ridge_grey`` (158), or a ridge-valley contrast (valley minus ridge
  level) below ``min_contrast`` (45) on clean paper-white valleys.
* ``smudged``: ink is present and of normal tone but the ridge structure is lost: the fraction of
  foreground blocks with NFIQ 2 local clarity (LCS) in its three lowest bins above
  ``smudge_low_clarity_fraction`` together with mean orientation certainty (OCL) below
  ``smudge_max_ocl``; or ink smeared into mid-grey (ridges paler than 95 *and* valleys darker
  than 215 with a contrast below 50 between them, ``smear_*``).
* ``partial``: part of the finger is missing. Either the print is cut off by the box: the
  fingerprint area touches the image edge along more than ``partial_edge_fraction`` of one side;
  or part of the finger did not touch the card, so the ridges end along a roughly straight line
  across the print. A complete rolled print is a rounded rectangle (the fingertip, the flexion
  crease and the two rolled sides) that fills each quarter of its bounding box about equally;
  a cut across it at an angle empties one corner and a cut along it leaves a strip. So, on a
  convex fingerprint area (area / convex-hull area at least ``partial_min_solidity`` (0.85): a ragged,
  under-inked area says nothing about the finger's outline), ``partial`` when the emptiest
  quarter of the bounding box is filled below ``partial_corner_fill`` (0.25) or the minimum-area
  rectangle is more than ``partial_max_elongation`` (2.0) times longer than wide.
* ``off_centre``: the centre of the fingerprint area is more than ``off_centre_fraction`` of the
  image width/height away from the image centre.
* ``too_small``: the fingerprint area is below ``min_area_mm2``.
* ``creased``: long, thin, pale lines cross the print: after a blur that merges ridges and
  valleys (sigma ~ one ridge period) the pale residual is split into components; those longer
  than ``crease_min_length_mm`` and elongated (length / width > ``crease_min_elongation``)
  are creases, flagged when their total length exceeds ``crease_min_total_mm`` (16 mm).

The defaults were calibrated (``benchmarks/feedback_calibration.py``) on 709 prints of 60
generated badly-inked forms read by the product (known damage: detection at severity >= 0.6,
false flags at severity 0) and on NIST SD14 rolled ink prints (codes should be rare on those
NFIQ 2.3 scores >= 60, more frequent below 20); see the README's feedback section.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

PX_PER_MM = 500.0 / 25.4

#: NFIQ 2.3 actionable feedback names and thresholds (``NFIQ2::Thresholds::ActionableQualityFeedback``).
NFIQ2_ACTIONABLE_THRESHOLDS: dict[str, float] = {
    "UniformImage": 1.0,
    "EmptyImageOrContrastTooLow": 250.0,
    "FingerprintImageWithMinutiae": 5.0,
    "SufficientFingerprintForeground": 50000.0,
}

#: Plain-word messages, by code.
MESSAGES: dict[str, str] = {
    "uniform_image": "No fingerprint: the image is blank or a single flat tone.",
    "empty_or_low_contrast": "Almost nothing printed: the image is nearly white (no print, or far too little ink).",
    "few_minutiae": "Too few ridge details (minutiae) were found to compare this print.",
    "too_dark": "Too dark (over-inked): the ridges run together. Use less ink and lighter pressure.",
    "too_light": "Too light (under-inked): the ridges are faint or broken. Use more ink, spread evenly.",
    "smudged": "Smudged: the ridges are blurred, the finger probably slipped. Roll once, without sliding.",
    "partial": ("Partial: part of the fingerprint is missing or cut off at the edge. Roll the whole finger, "
                "nail to nail, pressing evenly."),
    "off_centre": "Off-centre: the print is not centred in its box.",
    "too_small": "Too small: the printed area is much smaller than a fingertip.",
    "creased": "Creased: pale lines (creases or scars) cross the ridges.",
}


@dataclass(frozen=True)
class FeedbackParams:
    """Thresholds of the feedback codes (500 ppi; grey levels 0 = black, 255 = white).

    Attributes
    ----------
    dark_valley_grey : float
        ``too_dark`` when the median valley level is below this ...
    dark_max_contrast : float
        ... and the ridge-valley contrast below this (and the ink is not smeared, see ``smear_*``).
    very_dark_valley_grey : float
        ``too_dark`` whatever the contrast when the median valley level is below this (an
        unscanned or high-contrast image keeps a high contrast even when over-inked).
    light_ridge_grey : float
        ``too_light`` when the median ridge level is above this.
    min_contrast : float
        ``too_light`` also when valley minus ridge level is below this and the valleys are
        paper-white (at least ``smear_max_valley_grey``; not too dark).
    smudge_low_clarity_fraction : float
        ``smudged`` when more than this fraction of LCS blocks fall in LCS bins 0-2 ...
    smudge_max_ocl : float
        ... and ``OCL_Bin10_Mean`` is below this.
    smear_max_contrast, smear_min_ridge_grey, smear_max_valley_grey : float
        ``smudged`` also when ink is smeared into mid-grey: ridge-valley contrast below the first,
        ridges paler than the second and valleys darker than the third (such a print is never
        ``too_dark``: over-inked ridges stay black).
    partial_edge_fraction : float
        ``partial`` when the fingerprint area covers more than this fraction of one image side.
    partial_min_solidity : float
        The outline rules below apply only when the fingerprint area fills at least this fraction
        of its convex hull (a cut keeps the area convex; an under-inked, broken-up area does not,
        and its outline is not the finger's). Undamaged generated prints: 0.90-0.98; generated
        partial damage >= 0.6: 0.79-0.98; real SD14 rolled prints: median 0.94.
    partial_corner_fill : float
        ``partial`` when the emptiest quarter of the area's bounding box is filled below this.
        Undamaged generated prints: 0.59-0.89 (rounded corners); the 449 real SD14 rolled
        prints: none below 0.25, 2 below 0.3; generated partial damage >= 0.6: median 0.26.
    partial_max_elongation : float
        ``partial`` when the area's minimum-area rectangle is longer than this times its width
        (a strip left by a cut along the finger). Undamaged generated prints: up to 1.5; the
        real SD14 rolled prints: 99 % up to 1.8, 1 in 449 above 2.
    off_centre_fraction : float
        ``off_centre`` when the area's centre is further than this fraction of the image size
        from the image centre.
    min_area_mm2 : float
        ``too_small`` below this fingerprint area; default NFIQ 2's ``SufficientFingerprintForeground``
        limit (50,000 px = 129 mm2). A plain fingertip is ~150-300 mm2 and a rolled one ~400-800 mm2,
        so a caller that knows the box is rolled may raise it (e.g. to 300).
    crease_sigma_px, crease_residual_grey, crease_min_length_mm, crease_min_elongation,
    crease_min_total_mm : float
        Crease detector: blur sigma, how much paler than its surroundings a line must be, the
        minimum length and elongation of one crease, and the total crease length that is flagged.
    block : int
        Block size for the ridge/valley grey levels.
    """

    dark_valley_grey: float = 185.0
    dark_max_contrast: float = 95.0
    very_dark_valley_grey: float = 140.0
    light_ridge_grey: float = 158.0
    min_contrast: float = 45.0
    smudge_low_clarity_fraction: float = 0.5
    smudge_max_ocl: float = 0.45
    smear_max_contrast: float = 50.0
    smear_min_ridge_grey: float = 95.0
    smear_max_valley_grey: float = 215.0
    partial_edge_fraction: float = 0.6
    partial_min_solidity: float = 0.85
    partial_corner_fill: float = 0.25
    partial_max_elongation: float = 2.0
    off_centre_fraction: float = 0.2
    min_area_mm2: float = 50000.0 / PX_PER_MM**2  # NFIQ 2's 50,000 px = 129 mm2
    crease_sigma_px: float = 4.0
    crease_residual_grey: float = 18.0
    crease_min_length_mm: float = 4.0
    crease_min_elongation: float = 4.0
    crease_min_total_mm: float = 16.0
    block: int = 16


@dataclass(frozen=True)
class Feedback:
    """Feedback for one print.

    Attributes
    ----------
    codes : tuple of str
        Problem codes found (keys of :data:`MESSAGES`), NFIQ 2's first; empty when none.
    messages : tuple of str
        One plain-word message per code, same order.
    actionable : dict
        NFIQ 2's four actionable values by NFIQ 2 name (NaN where not computed).
    measures : dict
        The quantities behind our codes (grey levels, mm, mm2, fractions).
    """

    codes: tuple[str, ...]
    messages: tuple[str, ...]
    actionable: dict[str, float]
    measures: dict[str, float] = field(default_factory=dict)


def nfiq2_actionable_codes(actionable: Mapping[str, float]) -> list[str]:
    """Our codes for NFIQ 2's actionable values that fail NIST's thresholds."""
    t = NFIQ2_ACTIONABLE_THRESHOLDS
    out = []
    a = {k: float(actionable.get(k, np.nan)) for k in t}
    if a["UniformImage"] < t["UniformImage"]:
        out.append("uniform_image")
    if a["EmptyImageOrContrastTooLow"] > t["EmptyImageOrContrastTooLow"]:
        out.append("empty_or_low_contrast")
    if a["FingerprintImageWithMinutiae"] < t["FingerprintImageWithMinutiae"]:
        out.append("few_minutiae")
    if a["SufficientFingerprintForeground"] < t["SufficientFingerprintForeground"]:
        out.append("too_small")
    return out


def _block_levels(image: np.ndarray, mask: np.ndarray, block: int) -> tuple[float, float, int]:
    """Median over mostly-foreground blocks of the 10th (ridge) and 90th (valley) grey percentile."""
    h, w = image.shape
    hb, wb = h // block, w // block
    if hb == 0 or wb == 0:
        return float("nan"), float("nan"), 0
    tiles = image[: hb * block, : wb * block].reshape(hb, block, wb, block).swapaxes(1, 2)
    cover = mask[: hb * block, : wb * block].reshape(hb, block, wb, block).mean(axis=(1, 3))
    sel = tiles[cover > 0.75].reshape(-1, block * block)
    if len(sel) == 0:
        return float("nan"), float("nan"), 0
    p10, p90 = np.percentile(sel, [10, 90], axis=1)
    return float(np.median(p10)), float(np.median(p90)), len(sel)


def _wide_blur(smooth: np.ndarray, sigma_in: float, sigma: float, *, factor: int = 4) -> np.ndarray:
    """Gaussian blur of sigma ``sigma`` of an image, given ``smooth``, its blur of sigma ``sigma_in``.

    Blurs compose (variances add), and an image already blurred by ``sigma_in`` can be
    area-resampled by ``factor`` without aliasing, blurred by the remaining sigma there and
    interpolated back: ~6x cheaper than the full-resolution blur, within 0.5 grey level of it
    inside the image (a few levels at the very border).
    """
    import cv2

    h, w = smooth.shape
    f = factor
    rest = sigma**2 - sigma_in**2 - (f * f - 1) / 12.0  # the area average adds (f^2 - 1)/12 px^2
    if rest <= 0 or min(h, w) < 4 * f:
        return cv2.GaussianBlur(smooth, (0, 0), float(np.sqrt(max(sigma**2 - sigma_in**2, 1e-6))))
    ph, pw = (-h) % f, (-w) % f
    padded = cv2.copyMakeBorder(smooth, 0, ph, 0, pw, cv2.BORDER_REFLECT_101) if ph or pw else smooth
    small = cv2.resize(padded, ((w + pw) // f, (h + ph) // f), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), float(np.sqrt(rest)) / f)
    return cv2.resize(small, (w + pw, h + ph), interpolation=cv2.INTER_LINEAR)[:h, :w]


def _creases(image: np.ndarray, mask: np.ndarray, p: FeedbackParams) -> tuple[float, int]:
    """Total length (mm) and number of long, thin, pale lines inside the print."""
    import cv2

    img = image.astype(np.float32)
    # A blur of about one ridge period turns ridge/valley alternation into a flat tone;
    # an ink-free line stays paler than its neighbourhood.
    smooth = cv2.GaussianBlur(img, (0, 0), p.crease_sigma_px)
    background = _wide_blur(smooth, p.crease_sigma_px, 4 * p.crease_sigma_px)
    inner = cv2.erode(mask.astype(np.uint8), np.ones((15, 15), np.uint8)) > 0
    pale = ((smooth - background) > p.crease_residual_grey) & inner
    n, labels, stats, _ = cv2.connectedComponentsWithStats(pale.astype(np.uint8), connectivity=8)
    if n <= 1:
        return 0.0, 0
    total, count = 0.0, 0
    min_len = p.crease_min_length_mm * PX_PER_MM
    for k in np.flatnonzero(stats[1:, cv2.CC_STAT_AREA] >= min_len) + 1:
        x, y, bw, bh = stats[k, :4]
        ys, xs = np.nonzero(labels[y:y + bh, x:x + bw] == k)
        # Principal axes of the component: length ~ sqrt(12 * major variance).
        cov = np.cov(np.vstack([xs, ys]).astype(np.float64))
        ev = np.sort(np.linalg.eigvalsh(cov))[::-1]
        length = float(np.sqrt(12.0 * max(ev[0], 0.0)))
        width = float(np.sqrt(12.0 * max(ev[1], 0.0))) + 1.0
        if length >= min_len and length / width >= p.crease_min_elongation:
            total += length / PX_PER_MM
            count += 1
    return total, count


#: Subsampling of the fingerprint area for its outline measures: NFIQ 2's ROI is smoothed by a
#: 91 px blur, so every 4th pixel (~0.2 mm) keeps its shape and makes them ~16x cheaper.
_OUTLINE_STEP = 4


def _outline_shape(mask: np.ndarray) -> tuple[float, float, float]:
    """Solidity, emptiest-quarter fill and elongation of the fingerprint area (NaN when too small).

    Solidity is the area over its convex hull's area (both as pixel counts); the quarter fill is
    the lowest foreground fraction of the four quarters of the area's bounding box; elongation is
    the long over the short side of the minimum-area rectangle around the area.
    """
    import cv2

    small = np.ascontiguousarray(mask[::_OUTLINE_STEP, ::_OUTLINE_STEP], dtype=np.uint8)
    rows, cols = np.flatnonzero(small.any(axis=1)), np.flatnonzero(small.any(axis=0))
    if len(rows) < 4 or len(cols) < 4:
        return float("nan"), float("nan"), float("nan")
    sub = small[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    h, w = sub.shape
    hy, hx = h // 2, w // 2
    quarters = [sub[:hy, :hx], sub[:hy, hx:], sub[hy:, :hx], sub[hy:, hx:]]
    corner = min(float(q.mean()) for q in quarters)
    hull = cv2.convexHull(cv2.findNonZero(sub))
    filled = np.zeros_like(sub)
    cv2.fillConvexPoly(filled, hull, 1)
    solidity = float(np.count_nonzero(sub)) / max(float(np.count_nonzero(filled)), 1.0)
    _, (rw, rh), _ = cv2.minAreaRect(hull)
    # Pixel extents, not centre-to-centre distances (a one-row strip is 1 px wide, not 0).
    elongation = (max(rw, rh) + 1.0) / (min(rw, rh) + 1.0)
    return solidity, corner, float(elongation)


def measure_print(image: np.ndarray, *, roi_mask: np.ndarray, features: Mapping[str, float],
                  params: FeedbackParams = FeedbackParams(),
                  within: tuple[int, int, int, int] | None = None) -> dict[str, float]:
    """The quantities our feedback codes are decided on.

    Parameters
    ----------
    image : np.ndarray
        uint8 grey print at 500 ppi.
    roi_mask : np.ndarray
        bool fingerprint area, same shape (NFIQ 2's ROI, :func:`ifb1.quality.roi.roi`).
    features : mapping
        NFIQ 2 native measures by name (uses ``LCS_Bin10_*`` and ``OCL_Bin10_Mean``).
    params : FeedbackParams
        Block size and crease-detector settings.
    within : tuple of int, optional
        ``(top, left, height, width)``: where ``image`` lies in a larger frame (the print box
        it was cut from). Centre offset and edge contact are then judged against that frame's
        centre and sides (a side of the frame is touched only where ``image`` reaches it);
        default: ``image`` itself is the frame.

    Returns
    -------
    dict
        ``ridge_grey``, ``valley_grey``, ``ridge_contrast`` (grey levels), ``area_mm2``,
        ``foreground_fraction``, ``centre_offset`` (fraction of image size), ``edge_contact``
        (largest fraction of one side touched), ``outline_solidity``, ``corner_fill``,
        ``outline_elongation`` (shape of the fingerprint area, see :class:`FeedbackParams`),
        ``low_clarity_fraction``, ``ocl_mean``, ``crease_length_mm``, ``crease_count``.
    """
    h, w = image.shape
    mask = np.asarray(roi_mask, dtype=bool)
    if mask.shape != image.shape:
        raise ValueError(f"roi_mask shape {mask.shape} differs from image shape {image.shape}")
    top, left, fh, fw = (0, 0, h, w) if within is None else (int(v) for v in within)
    if top < 0 or left < 0 or top + h > fh or left + w > fw:
        raise ValueError(f"within={within} does not contain an image of shape {image.shape}")
    n = int(mask.sum())
    ridge, valley, _ = _block_levels(image, mask, params.block)
    if n:
        ys, xs = np.nonzero(mask)
        offset = max(abs(xs.mean() + left + 0.5 - fw / 2) / fw, abs(ys.mean() + top + 0.5 - fh / 2) / fh)
        # Only the frame's sides count: the image's own sides may be cut inside the frame.
        sides = [mask[0].sum() / fw if top == 0 else 0.0,
                 mask[-1].sum() / fw if top + h == fh else 0.0,
                 mask[:, 0].sum() / fh if left == 0 else 0.0,
                 mask[:, -1].sum() / fh if left + w == fw else 0.0]
        edge = max(sides)
        solidity, corner, elongation = _outline_shape(mask)
        crease_mm, crease_n = _creases(image, mask, params)
    else:
        offset, edge, crease_mm, crease_n = float("nan"), 0.0, 0.0, 0
        solidity = corner = elongation = float("nan")
    lcs = np.array([float(features.get(f"LCS_Bin10_{i}", np.nan)) for i in range(10)])
    low_clarity = float(lcs[:3].sum() / lcs.sum()) if np.nansum(lcs) > 0 else float("nan")
    return {
        "ridge_grey": ridge,
        "valley_grey": valley,
        "ridge_contrast": valley - ridge,
        "area_mm2": n / PX_PER_MM**2,
        "foreground_fraction": n / float(fh * fw) if fh * fw else 0.0,
        "centre_offset": float(offset),
        "edge_contact": float(edge),
        "outline_solidity": solidity,
        "corner_fill": corner,
        "outline_elongation": elongation,
        "low_clarity_fraction": low_clarity,
        "ocl_mean": float(features.get("OCL_Bin10_Mean", np.nan)),
        "crease_length_mm": float(crease_mm),
        "crease_count": float(crease_n),
    }


def our_codes(measures: Mapping[str, float], *, params: FeedbackParams = FeedbackParams()) -> list[str]:
    """Our plain-word codes from :func:`measure_print`'s quantities (NaN never flags)."""
    p, m = params, measures
    out = []
    # Smeared ink is mid-grey: pale ridges, darkened valleys, little between them. Over-inking
    # darkens the valleys too but keeps the ridges black, so the two are told apart by contrast.
    smeared = (m["ridge_contrast"] < p.smear_max_contrast and m["ridge_grey"] > p.smear_min_ridge_grey
               and m["valley_grey"] < p.smear_max_valley_grey)
    # A well-inked dark print (black ridges, clear valleys) has a high contrast: not over-inked.
    dark = not smeared and (m["valley_grey"] < p.very_dark_valley_grey or (
        m["valley_grey"] < p.dark_valley_grey and m["ridge_contrast"] < p.dark_max_contrast))
    if dark:
        out.append("too_dark")
    elif m["ridge_grey"] > p.light_ridge_grey or (
            m["ridge_contrast"] < p.min_contrast and m["valley_grey"] >= p.smear_max_valley_grey):
        out.append("too_light")
    unclear = m["low_clarity_fraction"] > p.smudge_low_clarity_fraction and m["ocl_mean"] < p.smudge_max_ocl
    if not dark and (unclear or smeared):
        out.append("smudged")
    # Cut by the box edge, or part of the finger never touched: a convex area with an empty
    # corner (cut at an angle) or left as a strip (cut along the finger).
    nan = float("nan")
    cut = m.get("outline_solidity", nan) >= p.partial_min_solidity and (
        m.get("corner_fill", nan) < p.partial_corner_fill
        or m.get("outline_elongation", nan) > p.partial_max_elongation)
    if m["edge_contact"] > p.partial_edge_fraction or cut:
        out.append("partial")
    if m["centre_offset"] > p.off_centre_fraction:
        out.append("off_centre")
    if m["area_mm2"] < p.min_area_mm2:
        out.append("too_small")
    if m["crease_length_mm"] >= p.crease_min_total_mm:
        out.append("creased")
    return out


def print_feedback(image: np.ndarray, *, features: Mapping[str, float],
                   actionable: Mapping[str, float] | None = None,
                   roi_mask: np.ndarray | None = None,
                   params: FeedbackParams = FeedbackParams(),
                   within: tuple[int, int, int, int] | None = None) -> Feedback:
    """Feedback for one print: NFIQ 2's actionable values and our plain-word codes.

    Parameters
    ----------
    image : np.ndarray
        uint8 grey print at 500 ppi, the image the features were computed on.
    features : mapping
        NFIQ 2 native measures by name (``Mu``, ``FingerJetFX_MinutiaeCount``, ``LCS_Bin10_*``,
        ``OCL_Bin10_Mean``); missing ones leave the dependent values NaN.
    actionable : mapping, optional
        NFIQ 2's four actionable values when already computed; otherwise they are computed here
        (sigma of the grey values, ``Mu``, the minutiae count, the ROI pixel count).
    roi_mask : np.ndarray, optional
        The fingerprint area; default :func:`ifb1.quality.roi.roi` of ``image``.
    params : FeedbackParams
        Thresholds.
    within : tuple of int, optional
        ``(top, left, height, width)`` of ``image`` in the print box it was cut from, for
        ``off_centre`` and ``partial`` (see :func:`measure_print`).

    Returns
    -------
    Feedback
    """
    from ifb1.quality.blocks import as_gray_u8

    img = as_gray_u8(image)
    if roi_mask is None or (actionable is None):
        from ifb1.quality.roi import roi

        r = roi(img)
        roi_mask = r.mask if roi_mask is None else roi_mask
        n_roi = r.n_pixels
    else:
        n_roi = int(np.count_nonzero(roi_mask))
    if actionable is None:
        sigma = float(img.std()) if img.size else float("nan")
        actionable = {
            "UniformImage": sigma,
            "EmptyImageOrContrastTooLow": float(features.get("Mu", img.mean() if img.size else np.nan)),
            "FingerprintImageWithMinutiae": float(features.get("FingerJetFX_MinutiaeCount", np.nan)),
            "SufficientFingerprintForeground": float(n_roi),
        }
    act = {k: float(actionable.get(k, np.nan)) for k in NFIQ2_ACTIONABLE_THRESHOLDS}
    codes = nfiq2_actionable_codes(act)
    if "uniform_image" in codes or "empty_or_low_contrast" in codes:
        # Nothing printed: describing the ridges of an empty box would only confuse.
        measures: dict[str, float] = {}
    else:
        measures = measure_print(img, roi_mask=roi_mask, features=features, params=params, within=within)
        codes += [c for c in our_codes(measures, params=params) if c not in codes]
    return Feedback(tuple(codes), tuple(MESSAGES[c] for c in codes), act, measures)


@dataclass(frozen=True)
class PrintQuality:
    """NFIQ 2 result for one 500 ppi print.

    Attributes
    ----------
    quality : int or None
        Unified score 0..100; None when no score can be given (see ``error``).
    error : str or None
        Why there is no score (blank image, as NFIQ 2 refuses uniform/empty images).
    features : dict
        The 69 native quality measures by NFIQ 2 name (empty when not computed).
    feedback : Feedback
        NFIQ 2's actionable values and our plain-word codes.
    """

    quality: int | None
    error: str | None
    features: dict[str, float]
    feedback: Feedback


def assess_print(image: np.ndarray, *, params: FeedbackParams = FeedbackParams(),
                 region: tuple[int, int, int, int] | None = None) -> PrintQuality:
    """NFIQ 2 unified score, native measures and feedback of one 500 ppi print.

    The measures are those of :func:`ifb1.quality.features.compute_features` applied to the
    image after NFIQ 2's near-white frame crop, computed without repeated work: the frame crop
    is shared by the native and the minutiae measures, and the feedback reuses the native
    measures' ROI instead of computing it again.

    Parameters
    ----------
    image : np.ndarray
        uint8 grey fingerprint at 500 ppi (resample first, :mod:`ifb1.quality.io`), e.g. a
        whole print box.
    params : FeedbackParams
        Feedback thresholds.
    region : tuple of int, optional
        ``(x0, y0, x1, y1)`` (exclusive ends) of the print within ``image``, e.g. its
        foreground with a margin: only this part is scored, as NFIQ 2 expects an image of the
        print, not of the whole box; ``off_centre`` and ``partial`` are still judged against
        the whole ``image``. Default: the whole image.

    Returns
    -------
    PrintQuality
        ``quality`` None for a blank or near-white image: NFIQ 2 computes no features
        for them (UniformImage < 1 or Mu > 250) and neither do we.

    Raises
    ------
    ValueError
        If the image is not 2-D uint8 or ``region`` is empty or outside it; errors of the
        measures propagate.
    """
    from ifb1.models.nfiq2 import FEATURE_NAMES, score
    from ifb1.quality.blocks import as_gray_u8, remove_near_white_frame
    from ifb1.quality.contrast import contrast

    img = as_gray_u8(image)
    h, w = img.shape
    x0, y0, x1, y1 = (0, 0, w, h) if region is None else (int(v) for v in region)
    if not (0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h):
        raise ValueError(f"region {region} is empty or outside the {w} x {h} image")
    sub = img[y0:y1, x0:x1]
    # NFIQ 2 measures the image after cropping its near-white frame.
    cropped, (t1, l1) = remove_near_white_frame(sub)
    c = contrast(cropped)
    pre = {"UniformImage": c.sigma, "EmptyImageOrContrastTooLow": c.mu}
    pre_codes = nfiq2_actionable_codes({**pre, "FingerprintImageWithMinutiae": np.inf,
                                        "SufficientFingerprintForeground": np.inf})
    if pre_codes or cropped.size == 0:
        act = {k: float(pre.get(k, np.nan)) for k in NFIQ2_ACTIONABLE_THRESHOLDS}
        codes = tuple(pre_codes) or ("uniform_image",)
        fb = Feedback(codes, tuple(MESSAGES[k] for k in codes), act, {})
        return PrintQuality(None, "no fingerprint: " + "; ".join(fb.messages), {}, fb)

    from ifb1.quality.features import analyse_native
    from ifb1.quality.minutiae import MinutiaeFeatureParams, minutiae_features

    # compute_features(cropped) crops the frame again (normally a no-op, not always): the
    # native measures do that crop once and the minutiae measures use the same pixels.
    nat = analyse_native(cropped)
    (t2, l2), (h2, w2) = nat.origin, nat.shape
    measured = cropped[t2:t2 + h2, l2:l2 + w2]
    minu = minutiae_features(measured, params=MinutiaeFeatureParams(crop_white_frame=False))
    feats = {**nat.features, **{k: float(v) for k, v in minu.items()}}
    missing = [k for k in FEATURE_NAMES if k not in feats]
    if missing:
        raise RuntimeError(f"quality measures missing: {missing}")
    native = {k: float(feats[k]) for k in FEATURE_NAMES}
    act = {
        "UniformImage": float(nat.actionable["UniformImage"]),
        "EmptyImageOrContrastTooLow": float(nat.actionable["EmptyImageOrContrastTooLow"]),
        "FingerprintImageWithMinutiae": float(minu["FingerprintImageWithMinutiae"]),
        "SufficientFingerprintForeground": float(nat.actionable["SufficientFingerprintForeground"]),
    }
    # The ROI of the native measures, back in region coordinates (no second ROI pass).
    roi_mask = np.zeros(sub.shape, bool)
    roi_mask[t1 + t2:t1 + t2 + h2, l1 + l2:l1 + l2 + w2] = nat.roi_mask
    # Position and size are judged in the image as given (the print box), not the cropped one.
    fb = print_feedback(sub, features=native, actionable=act, roi_mask=roi_mask, params=params,
                        within=(y0, x0, h, w))
    # NFIQ 2 maps a failed measure to 0 before the forest.
    return PrintQuality(score(native, nan="zero"), None, native, fb)
