"""Wet ink on paper: texture of an inked impression, then damage of graded severity.

Starting from an impression's ink transfer (:attr:`Impression.contact`) this adds what real inked
ten-print cards show (NIST SD14 was used for calibration): uneven ink amount, pores and small
gaps along ridges, paper grain, slight ink spread. Then five kinds of damage, each with a severity
in [0, 1]: over-inking (ridges merge, blobs), under-inking (faint ridges, gaps), smudge (the finger
slipped: a smear along one direction and a ghost copy), partial print (part missing) and creases
or scars (white lines).

For a given generator state the random draws do not depend on the severities, so damage grows
monotonically with severity (the damage at 0.5 is contained in the damage at 1).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from ._noise import smooth_noise, smoothstep
from .impression import Impression

QUALITIES = ("good", "fair", "poor")
_KINDS = ("over_ink", "under_ink", "smudge", "partial", "crease")


@dataclass(frozen=True)
class Damage:
    """Severity of each kind of ink damage, each in [0, 1] (0 = none)."""

    over_ink: float = 0.0
    under_ink: float = 0.0
    smudge: float = 0.0
    partial: float = 0.0
    crease: float = 0.0

    def __post_init__(self) -> None:
        for k in _KINDS:
            v = getattr(self, k)
            if not (isinstance(v, (int, float, np.floating)) and 0.0 <= float(v) <= 1.0):
                raise ValueError(f"Damage.{k} must be a number in [0, 1], got {v!r}")

    def as_dict(self) -> dict[str, float]:
        """Severities by name, as plain floats (for the ground-truth JSON)."""
        return {k: float(getattr(self, k)) for k in _KINDS}


@dataclass(frozen=True)
class InkParams:
    """Ink-on-paper parameters (500 ppi).

    Attributes
    ----------
    ink_level : float
        Mean ink density of a fully inked ridge (1 = black).
    unevenness : float
        Amplitude of the smooth variation of the ink amount.
    unevenness_cell_px : float
        Correlation length of that variation, px.
    pores_per_kpx : float
        Pores (small white dots on ridges) per 1000 px of ridge area.
    pore_radius_px : float
        Mean pore radius, px.
    grain : float
        Amplitude of fine ink/paper speckle (multiplicative).
    mottle : float
        Amplitude of the mottling of the ink along ridges (3-5 px blotches).
    valley_tone : float
        Fraction of the nearby ridge ink that stains the valleys.
    valley_haze : float
        Ink left in the valleys of well-inked areas after damage (a film of ink between
        the ridges, as on real cards: SD14's valleys are about 0.12 dense), rising with
        the local ink cover, so under-inked, partial and creased areas stay light.
    breaks_threshold : float
        Ridge breaks: a fine noise field below this level (in standard deviations) removes ink
        where the print is well inked (a few % of the ridge length at -1.8); the threshold rises
        where little ink reached the paper, so faint areas and rolled edges break up.
    spread_sigma_px : float
        Gaussian ink spread into the paper, px.
    """

    ink_level: float = 0.76
    unevenness: float = 0.2
    unevenness_cell_px: float = 60.0
    pores_per_kpx: float = 7.0
    pore_radius_px: float = 1.2
    grain: float = 0.45
    mottle: float = 0.35
    valley_tone: float = 0.4
    valley_haze: float = 0.09
    breaks_threshold: float = -1.3
    spread_sigma_px: float = 0.95


@dataclass(frozen=True)
class InkedPrint:
    """An inked print as it lies on the paper, at 500 ppi.

    Attributes
    ----------
    density : numpy.ndarray
        float32 [0, 1] ink density (0 paper, 1 full black).
    mask : numpy.ndarray
        bool foreground after damage (what a segmenter should find).
    damage : Damage
        The damage applied.
    """

    density: np.ndarray = field(repr=False)
    mask: np.ndarray = field(repr=False)
    damage: Damage = Damage()


def random_damage(rng: np.random.Generator, *, quality: str, kinds: tuple[str, ...] = ()) -> Damage:
    """Draw damage severities for a print of the given overall quality.

    ``"good"``: each kind absent or slight (< 0.15); ``"fair"``: one or two kinds moderate
    (0.25-0.55); ``"poor"``: one kind severe (0.65-1) and possibly another moderate.

    Parameters
    ----------
    rng : numpy.random.Generator
        Drives the draw.
    quality : str
        One of ``"good"``, ``"fair"``, ``"poor"``.
    kinds : tuple of str
        Restrict the moderate and severe faults to these kinds (names of :class:`Damage`'s
        fields), keeping their usual relative chances: a force that always over-inks, say.
        Empty: every kind. The random draws are the same either way.

    Returns
    -------
    Damage
    """
    if quality not in QUALITIES:
        raise ValueError(f"quality must be one of {QUALITIES}, got {quality!r}")
    unknown = [k for k in kinds if k not in _KINDS]
    if unknown:
        raise ValueError(f"damage kinds must be among {_KINDS}, got {unknown}")
    sev = np.zeros(len(_KINDS))
    slight = rng.uniform(0.0, 0.15, size=len(_KINDS)) * (rng.random(len(_KINDS)) < 0.35)
    order = rng.permutation(len(_KINDS))
    # Over- and under-inking are the commonest faults, partial prints the rarest.
    weights = np.array([0.28, 0.28, 0.16, 0.12, 0.16])
    allowed = np.array([not kinds or k in kinds for k in _KINDS])
    if kinds:
        weights = np.where(allowed, weights, 0.0) / weights[allowed].sum()
    main = int(rng.choice(len(_KINDS), p=weights))
    others = [int(k) for k in order if k != main and allowed[k]]
    second = others[0] if others else None
    if quality == "good":
        sev = slight
    elif quality == "fair":
        sev = slight
        sev[main] = rng.uniform(0.25, 0.55)
        if rng.random() < 0.4:
            extra = rng.uniform(0.2, 0.4)
            if second is not None:
                sev[second] = max(sev[second], extra)
    else:
        sev = slight
        sev[main] = rng.uniform(0.65, 1.0)
        if rng.random() < 0.5:
            extra = rng.uniform(0.3, 0.6)
            if second is not None:
                sev[second] = max(sev[second], extra)
    if sev[0] > 0 and sev[1] > 0:  # a print is not both over- and under-inked
        sev[0 if sev[0] < sev[1] else 1] = 0.0
    return Damage(**{k: float(round(v, 3)) for k, v in zip(_KINDS, sev)})


def _disc_kernel(radius: float) -> np.ndarray:
    r = max(1, int(np.ceil(radius)))
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


def ink_print(impression: Impression, rng: np.random.Generator, *, damage: Damage = Damage(),
              params: InkParams = InkParams()) -> InkedPrint:
    """Put an impression on paper with wet ink, then damage it.

    Parameters
    ----------
    impression : Impression
        Source impression (its ``contact`` is the ink transfer before damage).
    rng : numpy.random.Generator
        Drives everything; the draws do not depend on ``damage`` (see the module docstring).
    damage : Damage
        Severities of each kind of damage.
    params : InkParams
        Ink parameters.

    Returns
    -------
    InkedPrint
        Same shape as the impression.
    """
    if not isinstance(damage, Damage):
        raise TypeError(f"damage must be a Damage, got {type(damage).__name__}")
    contact = impression.contact
    H, W = contact.shape
    base_mask = impression.mask
    rows = np.flatnonzero(base_mask.any(axis=1))
    cols = np.flatnonzero(base_mask.any(axis=0))
    if rows.size == 0:
        return InkedPrint(density=np.zeros((H, W), np.float32), mask=np.zeros((H, W), bool),
                          damage=damage)
    # Work on the foreground's bounding box (plus room for smears) only: slaps are mostly paper.
    pad = 40
    r0, r1 = max(0, rows[0] - pad), min(H, rows[-1] + 1 + pad)
    c0, c1 = max(0, cols[0] - pad), min(W, cols[-1] + 1 + pad)
    d = contact[r0:r1, c0:c1].astype(np.float32, copy=True)
    m = base_mask[r0:r1, c0:c1]
    h, w = d.shape
    shape = (h, w)

    # --- all random draws first, independent of the severities -------------------------------
    uneven = smooth_noise(rng, shape, params.unevenness_cell_px)
    grain = smooth_noise(rng, shape, 1.5)
    frag = smooth_noise(rng, shape, 4.0)
    n_pores = int(rng.poisson(params.pores_per_kpx * 1e-3 * float(d.sum())))
    pore_y = rng.integers(0, h, n_pores)
    pore_x = rng.integers(0, w, n_pores)
    blot_field = rng.standard_normal((max(2, h // 60 + 2), max(2, w // 60 + 2))).astype(np.float32)
    n_blobs = 8
    blob_xy = rng.uniform(0.0, 1.0, size=(n_blobs, 2))
    blob_ax = rng.uniform(6.0, 28.0, size=(n_blobs, 2))
    blob_ang = rng.uniform(0.0, 180.0, size=n_blobs)
    gap_field = rng.standard_normal((max(2, h // 64 + 2), max(2, w // 64 + 2))).astype(np.float32)
    smear_ang = rng.uniform(0.0, np.pi)
    smear_region = rng.standard_normal((4, 4)).astype(np.float32)
    part_ang = rng.uniform(0.0, 2.0 * np.pi)
    part_wobble = rng.standard_normal((6, 6)).astype(np.float32)
    n_lines = 10
    line_kind = rng.random(n_lines)  # < 0.6 crease (long, near horizontal), else scar (short)
    line_pos = rng.uniform(0.1, 0.9, size=(n_lines, 2))
    line_ang = rng.uniform(-25.0, 25.0, size=n_lines)
    line_ang2 = rng.uniform(0.0, 180.0, size=n_lines)
    line_len = rng.uniform(0.25, 0.5, size=n_lines)
    line_w = rng.uniform(2.0, 6.0, size=n_lines)
    line_bend = rng.uniform(-0.08, 0.08, size=n_lines)

    def field_up(grid: np.ndarray) -> np.ndarray:
        return cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)

    # --- ink texture ----------------------------------------------------------------------------
    # Where little ink reached the paper (edges, light pressure) ridges break into fragments.
    small = cv2.resize(d, ((w + 3) // 4, (h + 3) // 4), interpolation=cv2.INTER_AREA)
    local = cv2.resize(cv2.GaussianBlur(small, (0, 0), 2.0), (w, h), interpolation=cv2.INTER_LINEAR)
    strength = np.clip(local * np.float32(2.2), 0.0, 1.0)
    q = np.float32(params.breaks_threshold) + np.float32(1.8) * (np.float32(1.0) - strength)
    d *= smoothstep((frag - q) * np.float32(2.0) + np.float32(0.5))
    amount = np.clip(np.float32(params.ink_level) * (1.0 + np.float32(params.unevenness) * uneven),
                     0.1, 1.0)
    d *= amount
    if n_pores:
        pores = np.zeros(shape, np.float32)
        pores[pore_y, pore_x] = 1.0
        pores = cv2.dilate(pores, _disc_kernel(params.pore_radius_px))
        pores = cv2.GaussianBlur(pores, (0, 0), 0.7)
        d *= 1.0 - np.float32(0.85) * pores
    # Mottle and speckle: ink sits unevenly on the ridge skin and on the paper fibres.
    d *= 1.0 - np.float32(params.mottle) * np.clip(frag * np.float32(0.4) + np.float32(0.4), 0.0, 1.0)
    d *= 1.0 - np.float32(params.grain) * np.clip(grain * np.float32(0.5) + np.float32(0.5), 0.0, 1.0)
    # A little ink stains the valleys next to the ridges.
    d += np.float32(params.valley_tone) * cv2.GaussianBlur(d, (0, 0), 2.5)
    np.clip(d, 0.0, 1.0, out=d)

    # --- damage ----------------------------------------------------------------------------------
    keep = np.ones(shape, np.float32)
    s = damage.over_ink
    if s > 0:
        # Excess ink fills the valleys (ridges merge) and leaves blots; darker overall.
        spread = cv2.GaussianBlur(d, (0, 0), 1.0 + 2.0 * s)
        fill = smoothstep(field_up(blot_field) * 0.6 + 0.5 + 0.8 * (s - 0.5))
        d = np.maximum(d, np.clip(spread * np.float32(1.0 + 1.2 * s), 0.0, 1.0) *
                       (np.float32(0.4 * s) + np.float32(0.6) * fill))
        d = np.clip(d * np.float32(1.0 + 0.35 * s), 0.0, 1.0)
        blobs = np.zeros(shape, np.uint8)
        ys_m, xs_m = rows[[0, -1]] - r0, cols[[0, -1]] - c0
        for i in range(int(round(n_blobs * s * s))):
            cx = int(xs_m[0] + blob_xy[i, 0] * (xs_m[1] - xs_m[0]))
            cy = int(ys_m[0] + blob_xy[i, 1] * (ys_m[1] - ys_m[0]))
            ax = (int(blob_ax[i, 0] * (0.5 + s)), int(blob_ax[i, 1] * (0.5 + s)))
            cv2.ellipse(blobs, (cx, cy), ax, float(blob_ang[i]), 0, 360, 255, -1, cv2.LINE_AA)
        if blobs.any():
            # Irregular blot outlines: blur the ellipses, perturb with the fine field, re-threshold.
            bl = cv2.GaussianBlur(blobs.astype(np.float32) * np.float32(1 / 255), (0, 0), 4.0)
            bl = smoothstep((bl + np.float32(0.12) * frag - np.float32(0.45)) * np.float32(4.0))
            bl *= m
            d = np.maximum(d, bl * np.float32(0.95))
    s = damage.under_ink
    if s > 0:
        # Too little ink: only the ridge crests print (thin ridges), a little fainter; in dry
        # patches the ridges break up into dots and fragments.
        dry = smoothstep(field_up(gap_field) * np.float32(0.4) + np.float32(s * 1.3 - 0.65))
        t = np.float32(0.25 * s) + np.float32(0.45) * dry
        d = np.clip((d - t) / (np.float32(1.0) - t), 0.0, 1.0) * np.float32(1.0 - 0.35 * s)
        q = np.float32(-3.0 + 1.0 * s) + np.float32(3.3) * dry
        d *= smoothstep((frag - q) * np.float32(1.5) + np.float32(0.5))
    s = damage.smudge
    if s > 0:
        # The finger slipped: ink smeared along one direction, with a displaced ghost.
        length = 4.0 + 22.0 * s
        k = int(np.ceil(length)) | 1
        ker = np.zeros((k, k), np.float32)
        c = k // 2
        dx, dy = np.cos(smear_ang) * c, np.sin(smear_ang) * c
        cv2.line(ker, (int(round(c - dx)), int(round(c - dy))),
                 (int(round(c + dx)), int(round(c + dy))), 1.0, 1, cv2.LINE_AA)
        ker /= ker.sum()
        smear = cv2.filter2D(d, -1, ker, borderType=cv2.BORDER_CONSTANT)
        # Squeezed ink also spreads sideways, whatever the slip direction.
        smear = cv2.GaussianBlur(smear, (0, 0), 0.5 + 1.1 * s)
        shift = np.float32([[1, 0, 0.5 * length * np.cos(smear_ang)],
                            [0, 1, 0.5 * length * np.sin(smear_ang)]])
        ghost = cv2.warpAffine(d, shift, (w, h), flags=cv2.INTER_LINEAR)
        region = smoothstep(field_up(smear_region) * 0.45 + (s * 1.7 - 0.35))
        smeared = np.maximum(smear * np.float32(1.15), ghost * np.float32(0.55 * s))
        d = d + region * (np.clip(smeared, 0.0, 1.0) - d)
    s = damage.partial
    if s > 0:
        # Part of the finger did not touch: a half-plane with a wobbly edge is missing.
        yy, xx = np.nonzero(m[::4, ::4])
        proj_sub = (xx * np.cos(part_ang) + yy * np.sin(part_ang)) * 4.0
        lo, hi = float(proj_sub.min()), float(proj_sub.max())
        X = np.arange(w, dtype=np.float32)[None, :]
        Y = np.arange(h, dtype=np.float32)[:, None]
        proj = X * np.float32(np.cos(part_ang)) + Y * np.float32(np.sin(part_ang))
        cut = hi - (hi - lo) * 0.6 * s
        proj = proj + field_up(part_wobble) * np.float32(0.025 * (hi - lo))
        keep = smoothstep((np.float32(cut) - proj) / np.float32(10.0))
        d *= keep
    crease_lines = None
    s = damage.crease
    if s > 0:
        # Creases (long white lines across the pad) and scars (short ones).
        lines = np.zeros(shape, np.uint8)
        ys_m, xs_m = rows[[0, -1]] - r0, cols[[0, -1]] - c0
        bw, bh = xs_m[1] - xs_m[0], ys_m[1] - ys_m[0]
        for i in range(int(round(n_lines * s))):
            px = xs_m[0] + line_pos[i, 0] * bw
            py = ys_m[0] + line_pos[i, 1] * bh
            crease = line_kind[i] < 0.6
            ang = np.deg2rad(line_ang[i] if crease else line_ang2[i])
            half = line_len[i] * (1.4 * bw if crease else 0.5 * bw)
            t = np.linspace(-1.0, 1.0, 9)
            bx = px + np.cos(ang) * half * t - np.sin(ang) * line_bend[i] * half * (1 - t ** 2) * 2
            by = py + np.sin(ang) * half * t + np.cos(ang) * line_bend[i] * half * (1 - t ** 2) * 2
            pts = np.round(np.stack([bx, by], 1) * 4).astype(np.int32)  # 2 fractional bits
            width = max(1, int(round(line_w[i] * (0.4 + 1.2 * s))))
            cv2.polylines(lines, [pts], False, 255, width, cv2.LINE_AA, shift=2)
        if lines.any():
            ln = cv2.GaussianBlur(lines.astype(np.float32) * np.float32(1 / 255), (0, 0), 1.2)
            # Ragged edges: skin folds are not ruled lines.
            ln = smoothstep((ln + np.float32(0.15) * frag - np.float32(0.2)) * np.float32(2.5))
            d *= 1.0 - ln
            crease_lines = ln
    # --- a film of ink in the valleys where the finger was well inked ----------------------------
    if params.valley_haze > 0:
        cover = np.clip(cv2.GaussianBlur(d, (0, 0), 4.0) * np.float32(1 / 0.35), 0.0, 1.0)
        haze = np.float32(params.valley_haze) * cover * cover
        if crease_lines is not None:
            haze *= 1.0 - crease_lines
        d += haze * (np.float32(1.0) - d)
    # --- ink spread into the paper --------------------------------------------------------------
    d = cv2.GaussianBlur(d, (0, 0), params.spread_sigma_px)
    np.clip(d, 0.0, 1.0, out=d)
    # Foreground after damage: the contact area minus what is missing, grown by any smear, and
    # only where some ink is left nearby.
    fg = m & (keep > 0.5)
    if damage.smudge > 0:
        fg |= (cv2.dilate(fg.view(np.uint8), _disc_kernel(2 + 8 * damage.smudge)) > 0) & (d > 0.08)
    local_ink = cv2.boxFilter(d, -1, (25, 25))
    fg &= local_ink > 0.04
    density = np.zeros((H, W), np.float32)
    density[r0:r1, c0:c1] = d
    mask = np.zeros((H, W), bool)
    mask[r0:r1, c0:c1] = fg
    return InkedPrint(density=density, mask=mask, damage=damage)


def compression_loss(density: np.ndarray, step: float, *, levels: int = 3) -> np.ndarray:
    """WSQ-like lossy coding of a print's ink density (500 ppi), as real card prints carry.

    Real ten-print prints reach us compressed: NIST SD14 was stored as WSQ (a wavelet
    subband coder). This imitates its loss cheaply: a Laplacian pyramid of ``levels``
    band-pass subbands (Burt & Adelson 1983), each quantised uniformly with a dead zone
    (the WSQ specification's quantiser shape), the finest bands hardest, then rebuilt.
    ``step`` is the finest band's quantiser step in grey levels (density x 255); 12
    matches the NBIS WSQ codec at 0.75 bit per pixel (PSNR about 34 dB on generated
    prints), 8 is lighter and 16 heavier.

    Parameters
    ----------
    density : numpy.ndarray
        float32 ink density in [0, 1].
    step : float
        Quantiser step of the finest subband; 0 or less returns the input.

    Returns
    -------
    numpy.ndarray
        float32 density in [0, 1], same shape.
    """
    if step <= 0 or min(density.shape) < 2 ** (levels + 1):
        return density
    cur = density.astype(np.float32) * np.float32(255.0)
    bands = []
    for _ in range(levels):
        down = cv2.pyrDown(cur)
        bands.append(cur - cv2.pyrUp(down, dstsize=(cur.shape[1], cur.shape[0])))
        cur = down
    for i in reversed(range(levels)):
        d = bands[i]
        q = np.float32(step * 0.6 ** i)
        # Dead-zone uniform quantiser: |x| < 0.75 q goes to zero, then steps of q.
        mag = np.maximum(np.floor(np.abs(d) / q + np.float32(0.25)), 0.0)
        cur = cv2.pyrUp(cur, dstsize=(d.shape[1], d.shape[0])) + np.copysign(mag * q, d)
    return np.clip(cur * np.float32(1.0 / 255.0), 0.0, 1.0)
