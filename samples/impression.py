"""Impressions of a master fingerprint: rolled, plain (single thumb) and four-finger slap.

An impression is a geometric view of a master (the same ridges, warped) plus the ink transfer
before any ink damage: finger pressure sets how wide the ridges print and how far the contact area
reaches. Rolled prints show the fingertip nail to nail with edges fading out irregularly; plain
prints show a smaller, roughly elliptical contact area, slightly rotated and elastically distorted
(plastic distortion model after Cappelli, Maio & Maltoni, "Modelling plastic distortion in
fingerprint images", ICAPR 2001: a rigid centre and a displacement growing towards the border).

All arrays are at 500 ppi; orientation angles follow :mod:`ifb1.samples.fingerprint`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from ._noise import smooth_noise, smoothstep
from .fingerprint import PX_PER_MM, MasterFingerprint


@dataclass(frozen=True)
class Impression:
    """One impression of one finger (rolled, plain) or four fingers (slap), at 500 ppi.

    Attributes
    ----------
    kind : str
        ``"rolled"``, ``"plain"`` or ``"slap"``.
    fingers : tuple of int
        Finger positions it contains; a slap's four in left-to-right order as printed.
    contact : numpy.ndarray
        float32 [0, 1] ridge ink transfer before ink damage (0 paper, 1 full ink).
    mask : numpy.ndarray
        bool contact area (the union for slaps).
    ridges : numpy.ndarray
        float32 master ridge map warped into this frame, [-1, 1], 0 outside ``mask``.
    finger_masks : tuple of numpy.ndarray
        One bool mask per finger, in ``fingers`` order.
    orientation : numpy.ndarray
        float32 master orientation warped into this frame (radians, [0, pi)).
    """

    kind: str
    fingers: tuple[int, ...]
    contact: np.ndarray = field(repr=False)
    mask: np.ndarray = field(repr=False)
    ridges: np.ndarray = field(repr=False)
    finger_masks: tuple[np.ndarray, ...] = field(repr=False)
    orientation: np.ndarray = field(repr=False)


@dataclass(frozen=True)
class ContactParams:
    """How pressure turns ridges into ink transfer (shared by all impression kinds).

    Attributes
    ----------
    threshold : float
        Ridge-map level above which a ridge touches the paper at medium pressure (0 gives
        ridges about half a period wide: 4-5 px at 500 ppi).
    width_gain : float
        How much the threshold drops with pressure (harder press, wider ridges).
    softness : float
        Width of the ridge-edge transition, in ridge-map units.
    pressure_sd : float
        Standard deviation of the smooth random pressure variation.
    pressure_cell_px : float
        Correlation length of the pressure variation, px.
    """

    threshold: float = -0.12
    width_gain: float = 0.45
    softness: float = 0.35
    pressure_sd: float = 0.18
    pressure_cell_px: float = 90.0


@dataclass(frozen=True)
class RolledParams:
    """Rolled impression (nail to nail), 500 ppi.

    Attributes
    ----------
    edge_fade_px : float
        Width of the zone along the left and right edges where contact fades out, px.
    edge_noise_cell_px : float
        Correlation length of the irregularity of the faded edge, px.
    bottom_cut : tuple of float
        Range of the fraction of the fingertip height printed (the rest, below, is not inked)
        when the distal crease is not shown.
    distortion_px : float
        Amplitude of the smooth elastic distortion from rolling, px.
    crease_probability : float
        Probability that the print shows the distal flexion crease (a white band) and, below it,
        a strip of the middle phalanx, as ten-print cards often do.
    crease_band_px : tuple of float
        Range of the crease band's height, px.
    strip_px : tuple of float
        Range of the height of the middle-phalanx strip below the crease, px (limited by the
        master's canvas, see ``MasterParams.phalanx_strip_mm``).
    contact : ContactParams
        Pressure-to-ink parameters.
    """

    edge_fade_px: float = 70.0
    edge_noise_cell_px: float = 24.0
    bottom_cut: tuple[float, float] = (0.85, 1.0)
    distortion_px: float = 2.5
    crease_probability: float = 0.4
    crease_band_px: tuple[float, float] = (5.0, 14.0)
    strip_px: tuple[float, float] = (30.0, 85.0)
    contact: ContactParams = ContactParams()


@dataclass(frozen=True)
class PlainParams:
    """Plain (flat, not rolled) impression of one finger, 500 ppi.

    Attributes
    ----------
    width_fraction : tuple of float
        Range of the contact width as a fraction of the rolled (nail-to-nail) width.
    height_fraction : tuple of float
        Range of the contact height as a fraction of the fingertip height.
    rotation_deg : float
        Maximum absolute rotation (uniform in +-), degrees.
    scale_sd : float
        Standard deviation of an isotropic scale change (clipped at 2 standard deviations).
    distortion_px : float
        Amplitude of the elastic (plastic) distortion near the contact border, px.
    rigid_fraction : float
        Radius of the undistorted centre as a fraction of the contact half-size.
    edge_noise : float
        Irregularity of the contact outline (relative radius).
    margin_px : int
        Blank margin around the contact area, px.
    contact : ContactParams
        Pressure-to-ink parameters.
    """

    width_fraction: tuple[float, float] = (0.62, 0.74)
    height_fraction: tuple[float, float] = (0.78, 0.92)
    rotation_deg: float = 8.0
    scale_sd: float = 0.015
    distortion_px: float = 5.0
    rigid_fraction: float = 0.35
    edge_noise: float = 0.035
    margin_px: int = 16
    contact: ContactParams = ContactParams(threshold=-0.08)


@dataclass(frozen=True)
class SlapParams:
    """Four-finger slap (plain impressions taken simultaneously), 500 ppi.

    Fingers are listed index, middle, ring, little; for the right hand they print left to right
    in that order, for the left hand mirrored.

    Attributes
    ----------
    tip_drop_mm : tuple of float
        How far below the middle finger's tip each fingertip sits (index, middle, ring, little): the
        tips lie on an arc with the middle finger highest.
    tilt_deg : tuple of float
        Finger axis tilt for the right hand (index .. little), degrees, positive clockwise; the
        fingers fan out. Mirrored for the left hand.
    gap_mm : float
        Mean horizontal gap between neighbouring contact areas, mm.
    jitter_mm : float
        Random jitter of each fingertip position, mm.
    jitter_deg : float
        Random jitter of each tilt, degrees.
    max_size_mm : tuple of float
        The slap is scaled down if its extent would exceed this ``(width, height)`` (the IFB1 slap
        box is 70 x 55 mm).
    plain : PlainParams
        Per-finger plain-impression parameters (rotation is set by the tilt instead).
    """

    tip_drop_mm: tuple[float, float, float, float] = (3.0, 0.0, 2.0, 9.0)
    tilt_deg: tuple[float, float, float, float] = (-9.0, -2.0, 5.0, 13.0)
    gap_mm: float = 1.2
    jitter_mm: float = 1.0
    jitter_deg: float = 3.0
    max_size_mm: tuple[float, float] = (66.0, 51.0)
    plain: PlainParams = PlainParams(width_fraction=(0.56, 0.66), height_fraction=(0.75, 0.88))


# --------------------------------------------------------------------------------------------
def _ridge_contact(ridges: np.ndarray, pressure: np.ndarray, cp: ContactParams) -> np.ndarray:
    """Ink transfer of the ridges under a pressure map in [0, 1] (0.5 = medium)."""
    thr = np.float32(cp.threshold) - np.float32(cp.width_gain) * (pressure - np.float32(0.5))
    t = (ridges - thr) * np.float32(1.0 / cp.softness) + np.float32(0.5)
    return smoothstep(t)


def _pressure(rng: np.random.Generator, shape, cp: ContactParams, cell: float) -> np.ndarray:
    return (np.float32(0.5) + np.float32(cp.pressure_sd) * smooth_noise(rng, shape, cell))


def _mask_bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        raise ValueError("empty master mask")
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def _remap(master: MasterFingerprint, mx: np.ndarray, my: np.ndarray, rot: float):
    """Warp a master's ridges, mask and orientation with a backward map (output -> master)."""
    mx = mx.astype(np.float32, copy=False)
    my = my.astype(np.float32, copy=False)
    ridges = cv2.remap(master.ridges, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    mask = cv2.remap(master.mask.view(np.uint8), mx, my, cv2.INTER_NEAREST,
                     borderMode=cv2.BORDER_CONSTANT, borderValue=0).astype(bool)
    theta = cv2.remap(master.orientation, mx, my, cv2.INTER_NEAREST,
                      borderMode=cv2.BORDER_REFLECT)
    if rot:
        theta = np.mod(theta + np.float32(rot), np.float32(np.pi)).astype(np.float32)
    return ridges, mask, theta


def rolled_impression(master: MasterFingerprint, rng: np.random.Generator, *,
                      params: RolledParams = RolledParams()) -> Impression:
    """Rolled impression: the whole fingertip nail to nail, edges fading out irregularly.

    Parameters
    ----------
    master : MasterFingerprint
        The finger.
    rng : numpy.random.Generator
        Drives everything.
    params : RolledParams
        Rolled-impression parameters.

    Returns
    -------
    Impression
        In the master's canvas frame (same shape), slightly distorted by rolling. Its mask may
        include a strip of the middle phalanx below the distal crease (outside the master's mask).
    """
    H, W = master.ridges.shape
    r0, r1, c0, c1 = _mask_bbox(master.mask)
    # Small smooth distortion (the skin stretches as the finger rolls).
    gx, gy = np.meshgrid(np.arange(W, dtype=np.float32), np.arange(H, dtype=np.float32))
    d = np.float32(params.distortion_px)
    mx = gx + d * smooth_noise(rng, (H, W), 120.0)
    my = gy + d * smooth_noise(rng, (H, W), 120.0)
    ridges, mask, theta = _remap(master, mx, my, 0.0)
    # Contact: fade along the rolled edges (the finger's sides touch lightly), a random bottom cut.
    xs = np.arange(W, dtype=np.float32)
    fade_l = (xs - c0) / np.float32(params.edge_fade_px)
    fade_r = (c1 - xs) / np.float32(params.edge_fade_px)
    side = np.minimum(fade_l, fade_r)[None, :]
    edge_noise = (smooth_noise(rng, (H, W), params.edge_noise_cell_px)
                  + np.float32(0.5) * smooth_noise(rng, (H, W), 0.3 * params.edge_noise_cell_px))
    ys = np.arange(H, dtype=np.float32)[:, None]
    top_fade = (ys - r0) / np.float32(0.5 * params.edge_fade_px)
    reach = np.minimum(side, top_fade) + np.float32(0.12) * edge_noise
    cut = r0 + (r1 - r0) * rng.uniform(*params.bottom_cut)
    # The distal flexion crease: cards often show it as a white band with, below it, a strip of
    # the middle phalanx (the master's ridges continue below its mask).
    show_crease = rng.random() < params.crease_probability
    band = rng.uniform(*params.crease_band_px)
    strip = min(rng.uniform(*params.strip_px), H - r1 - 0.5 * band - 4.0)
    slope = rng.uniform(-0.06, 0.06)
    if show_crease and strip > 15:
        f32 = np.float32
        # Crease centre line (slightly tilted), the fingertip above it, the strip below it.
        yc = (f32(r1 - 0.5 * band) + f32(slope) * (xs - f32(0.5 * (c0 + c1))))[None, :]
        above = (yc - f32(0.5 * band) - ys) / f32(6.0) + f32(0.15) * edge_noise
        top_s = (ys - yc - f32(0.5 * band)) / f32(6.0) + f32(0.15) * edge_noise
        bot_s = (yc + f32(0.5 * band + strip) - ys) / f32(10.0) + f32(0.3) * edge_noise
        inset = f32(0.03 * (c1 - c0))
        side_s = np.minimum(xs - c0 - inset, c1 - inset - xs) / f32(0.5 * params.edge_fade_px)
        side_s = side_s[None, :]
        reach_strip = np.minimum(np.minimum(top_s, bot_s), side_s + f32(0.12) * edge_noise)
        reach = np.minimum(reach, above)
        in_strip = reach_strip > 0.05
        mask = (mask & (reach > 0.05)) | in_strip
        reach = np.where(in_strip, reach_strip, reach)
    else:
        bottom = (np.float32(cut) - ys) / np.float32(12.0) + np.float32(0.2) * edge_noise
        reach = np.minimum(reach, bottom)
        mask &= reach > 0.05
    pressure = _pressure(rng, (H, W), params.contact, params.contact.pressure_cell_px)
    pressure -= np.float32(0.35) * (1.0 - smoothstep(reach * np.float32(0.8)))
    contact = _ridge_contact(ridges, pressure, params.contact)
    contact *= smoothstep(reach * np.float32(2.0))
    contact[~mask] = 0.0
    ridges = np.where(mask, ridges, np.float32(0.0)).astype(np.float32)
    return Impression(kind="rolled", fingers=(master.finger,), contact=contact.astype(np.float32),
                      mask=mask, ridges=ridges, finger_masks=(mask,), orientation=theta)


def _plain_local(master: MasterFingerprint, rng: np.random.Generator, params: PlainParams,
                 rot: float):
    """A plain contact of one master in a local frame; returns arrays and the contact centre."""
    r0, r1, c0, c1 = _mask_bbox(master.mask)
    w, h = c1 - c0, r1 - r0
    j = rng.uniform(-1.0, 1.0, size=4)
    a = 0.5 * w * rng.uniform(*params.width_fraction)
    b = 0.5 * h * rng.uniform(*params.height_fraction)
    # Contact centre on the pad: slightly below the tip, jittered.
    mcx = 0.5 * (c0 + c1) + 0.04 * w * j[0]
    mcy = r0 + b + 0.03 * h * (1.0 + j[1])
    scale = float(1.0 + params.scale_sd * np.clip(rng.standard_normal(), -2.0, 2.0))
    cr, sr = float(np.cos(rot)), float(np.sin(rot))
    # Output frame: bounding box of the rotated ellipse plus a margin.
    hw = np.hypot(a * cr, b * sr) * scale + params.margin_px
    hh = np.hypot(a * sr, b * cr) * scale + params.margin_px
    Wo, Ho = int(np.ceil(2 * hw)), int(np.ceil(2 * hh))
    ocx, ocy = Wo / 2.0, Ho / 2.0
    gx, gy = np.meshgrid(np.arange(Wo, dtype=np.float32) - np.float32(ocx),
                         np.arange(Ho, dtype=np.float32) - np.float32(ocy))
    # Inverse similarity: output -> master (rotate by -rot, divide by scale).
    inv = np.float32(1.0 / scale)
    ux = (cr * gx + sr * gy) * inv
    uy = (-sr * gx + cr * gy) * inv
    # Elliptical radius in the finger's own frame (1 on the contact border).
    rad = np.sqrt((ux / np.float32(a)) ** 2 + (uy / np.float32(b)) ** 2)
    # Plastic distortion: none in the rigid centre, growing towards the border.
    wd = smoothstep((rad - np.float32(params.rigid_fraction)) / np.float32(1.0 - params.rigid_fraction))
    cell = 0.6 * min(a, b)
    dpx = np.float32(params.distortion_px)
    mx = np.float32(mcx) + ux + dpx * wd * smooth_noise(rng, (Ho, Wo), cell)
    my = np.float32(mcy) + uy + dpx * wd * smooth_noise(rng, (Ho, Wo), cell)
    ridges, mask, theta = _remap(master, mx, my, rot)
    edge = np.float32(params.edge_noise) * smooth_noise(rng, (Ho, Wo), 0.3 * min(a, b))
    reach = (np.float32(1.0) - rad + edge) * np.float32(min(a, b) / 30.0)
    mask &= reach > 0.0
    pressure = _pressure(rng, (Ho, Wo), params.contact, params.contact.pressure_cell_px)
    pressure -= np.float32(0.3) * (1.0 - smoothstep(reach))
    contact = _ridge_contact(ridges, pressure, params.contact)
    contact *= smoothstep(reach * np.float32(3.0))
    contact[~mask] = 0.0
    ridges = np.where(mask, ridges, np.float32(0.0)).astype(np.float32)
    return contact.astype(np.float32), mask, ridges, theta


def plain_impression(master: MasterFingerprint, rng: np.random.Generator, *,
                     params: PlainParams = PlainParams()) -> Impression:
    """Plain (flat) impression: smaller contact area, slight rotation, elastic distortion.

    Parameters
    ----------
    master : MasterFingerprint
        The finger (same master as its rolled impression).
    rng : numpy.random.Generator
        Drives everything.
    params : PlainParams
        Plain-impression parameters.

    Returns
    -------
    Impression
        In its own frame: the contact area's bounding box plus ``params.margin_px``.
    """
    rot = float(np.deg2rad(params.rotation_deg) * rng.uniform(-1.0, 1.0))
    contact, mask, ridges, theta = _plain_local(master, rng, params, rot)
    return Impression(kind="plain", fingers=(master.finger,), contact=contact, mask=mask,
                      ridges=ridges, finger_masks=(mask,), orientation=theta)


def slap_impression(masters: Sequence[MasterFingerprint], rng: np.random.Generator, *,
                    hand: str, params: SlapParams = SlapParams()) -> Impression:
    """Four-finger slap of one hand: plain impressions with fingertips on an arc.

    Parameters
    ----------
    masters : sequence of MasterFingerprint
        Either a whole person (10 masters, element ``i`` is finger ``i + 1``) or the hand's four
        fingers index, middle, ring, little.
    rng : numpy.random.Generator
        Drives everything.
    hand : str
        ``"right"`` (printed left to right: index, middle, ring, little) or ``"left"`` (little,
        ring, middle, index).
    params : SlapParams
        Slap parameters.

    Returns
    -------
    Impression
        ``fingers`` in printed left-to-right order, one mask per finger in the same order.
    """
    if hand not in ("right", "left"):
        raise ValueError(f"hand must be 'right' or 'left', got {hand!r}")
    wanted = (2, 3, 4, 5) if hand == "right" else (7, 8, 9, 10)
    if len(masters) == 10:
        fingers4 = [masters[f - 1] for f in wanted]
    elif len(masters) == 4:
        fingers4 = list(masters)
    else:
        raise ValueError(f"slap needs 10 masters (a person) or 4 (index..little), got {len(masters)}")
    got = tuple(m.finger for m in fingers4)
    if got != wanted:
        raise ValueError(f"{hand} slap needs fingers {wanted} (index..little), got {got}")
    mirror = -1.0 if hand == "left" else 1.0
    locals_ = []
    for i, m in enumerate(fingers4):
        tilt = mirror * (params.tilt_deg[i] + params.jitter_deg * rng.uniform(-1.0, 1.0))
        contact, mask, ridges, theta = _plain_local(m, rng, params.plain, float(np.deg2rad(tilt)))
        drop = (params.tip_drop_mm[i] + params.jitter_mm * rng.uniform(-1.0, 1.0)) * PX_PER_MM
        locals_.append((m.finger, contact, mask, ridges, theta, drop))
    if hand == "left":  # printed left to right: little, ring, middle, index
        locals_ = locals_[::-1]
    # Place left to right: each contact's top at its tip drop, a gap between neighbours.
    gap = params.gap_mm * PX_PER_MM
    placed = []
    x = 0.0
    for fng, contact, mask, ridges, theta, drop in locals_:
        r0, r1, c0, c1 = _mask_bbox(mask)
        ox = x - c0
        oy = drop - r0
        placed.append((ox, oy))
        x = ox + c1 + gap + params.jitter_mm * PX_PER_MM * rng.uniform(-0.5, 0.5)
    margin = 16
    xs0 = min(ox for ox, _ in placed)
    ys0 = min(oy for _, oy in placed)
    offs = [(int(round(ox - xs0)) + margin, int(round(oy - ys0)) + margin) for ox, oy in placed]
    Wc = max(o[0] + loc[1].shape[1] for o, loc in zip(offs, locals_)) + margin
    Hc = max(o[1] + loc[1].shape[0] for o, loc in zip(offs, locals_)) + margin
    contact_c = np.zeros((Hc, Wc), np.float32)
    ridges_c = np.zeros((Hc, Wc), np.float32)
    theta_c = np.zeros((Hc, Wc), np.float32)
    finger_masks = []
    for (ox, oy), (fng, contact, mask, ridges, theta, _) in zip(offs, locals_):
        h, w = mask.shape
        sl = (slice(oy, oy + h), slice(ox, ox + w))
        np.maximum(contact_c[sl], contact, out=contact_c[sl])
        ridges_c[sl] = np.where(mask, ridges, ridges_c[sl])
        theta_c[sl] = np.where(mask, theta, theta_c[sl])
        fm = np.zeros((Hc, Wc), bool)
        fm[sl] = mask
        finger_masks.append(fm)
    union = np.logical_or.reduce(finger_masks)
    # Keep the slap within the box: shrink if needed (rarely, for very large hands).
    max_w, max_h = (v * PX_PER_MM for v in params.max_size_mm)
    f = min(1.0, max_w / Wc, max_h / Hc)
    if f < 1.0:
        size = (max(1, int(Wc * f)), max(1, int(Hc * f)))
        contact_c = cv2.resize(contact_c, size, interpolation=cv2.INTER_AREA)
        ridges_c = cv2.resize(ridges_c, size, interpolation=cv2.INTER_AREA)
        theta_c = cv2.resize(theta_c, size, interpolation=cv2.INTER_NEAREST)
        finger_masks = [cv2.resize(m.view(np.uint8), size, interpolation=cv2.INTER_NEAREST)
                        .astype(bool) for m in finger_masks]
        union = np.logical_or.reduce(finger_masks)
    return Impression(kind="slap", fingers=tuple(loc[0] for loc in locals_), contact=contact_c,
                      mask=union, ridges=ridges_c, finger_masks=tuple(finger_masks),
                      orientation=theta_c)
