"""Synthetic master fingerprints in the spirit of SFinGe.

The method follows Cappelli, Maio & Maltoni's SFinGe ("Synthetic fingerprint-image generation",
ICPR 2000; Maltoni et al., *Handbook of Fingerprint Recognition*, ch. 8):

1. a pattern class (arch, tented arch, left loop, right loop, whorl) places the singular points;
2. an orientation field from them with the Sherlock & Monro zero-pole model (Pattern Recognition
   26(10), 1993), corrected so that ridges far from the singular points follow the fingertip
   (arch-like arcs) instead of running flat;
3. a smooth ridge-period map (8-12 px at 500 ppi);
4. the ridge pattern grown from random noise by iterated oriented Gabor filtering, each pixel using
   its own orientation and period (a bank of separable complex Gabor kernels blended per pixel);
5. a finger-shaped mask (the fingertip as rolled nail to nail).

All arrays are at 500 ppi, image axes (row = y, col = x). Orientation angles are in radians in
``[0, pi)``, measured from the +x axis (columns) towards +y (rows, downwards): the ridge tangent is
``(cos(theta), sin(theta))`` in ``(x, y)`` image coordinates.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from ._noise import smooth_noise, smoothstep

PATTERNS = ("arch", "tented_arch", "left_loop", "right_loop", "whorl")

PX_PER_MM = 500.0 / 25.4

# Pattern priors per finger of the RIGHT hand (thumb, index, middle, ring, little), in PATTERNS
# order. Loops are most common (ulnar loops, i.e. right loops on the right hand), then whorls;
# arches are rare and mostly on index fingers. Overall this gives about 4 % arches, 3 % tented
# arches, 62 % loops and 31 % whorls, close to the natural frequencies quoted by Wilson, Candela &
# Watson (NIST, 1994): A 3.7 %, T 2.9 %, L 33.8 %, R 31.7 %, W 27.9 %. Left-hand fingers swap the
# two loop columns (mirror image).
_RIGHT_HAND_PRIORS = (
    (0.02, 0.01, 0.03, 0.54, 0.40),  # thumb
    (0.08, 0.08, 0.15, 0.36, 0.33),  # index
    (0.05, 0.03, 0.03, 0.66, 0.23),  # middle
    (0.02, 0.01, 0.02, 0.50, 0.45),  # ring
    (0.02, 0.01, 0.01, 0.80, 0.16),  # little
)


@dataclass(frozen=True)
class MasterParams:
    """Parameters of the master-fingerprint generator (500 ppi).

    Attributes
    ----------
    width_mm : tuple of float
        Mean rolled (nail-to-nail) width of thumb, index, middle, ring and little finger, in mm.
        A rolled thumb is about 25-30 mm wide, a little finger about 15-18 mm.
    height_mm : tuple of float
        Mean height of the fingertip area (tip to the distal crease) for the same fingers, in mm.
    person_scale_sd : float
        Standard deviation of a per-person size factor (around 1).
    finger_scale_sd : float
        Standard deviation of a further per-finger size factor.
    mean_period_px : tuple of float
        Range from which a finger's mean ridge period is drawn, px (thumbs get +0.3 px).
    period_range_px : tuple of float
        Hard limits of the ridge-period map, px (8-12 px at 500 ppi).
    period_variation_px : float
        Amplitude of the smooth random variation of the period, px.
    margin_px : int
        Blank margin around the mask in the master canvas, px.
    phalanx_strip_mm : float
        Extra canvas below the fingertip (beyond the distal crease) where ridges are grown too,
        for rolled impressions that show a strip of the middle phalanx, mm.
    growth_scale : float
        Scale at which ridges are grown (0.5 = 250 ppi, then upsampled): 4x faster than full
        resolution and the grown pattern is band-limited (period >= 4 px) so nothing is lost.
    iterations : int
        Gabor growth iterations.
    n_orientations : int
        Orientations in the Gabor bank (per-pixel linear interpolation between neighbours).
    n_periods : int
        Maximum number of ridge periods in the bank (fewer when the finger's range is narrow).
    gabor_sigma : float
        Gaussian envelope sigma of the Gabor kernels as a fraction of the ridge period.
    """

    width_mm: tuple[float, float, float, float, float] = (27.5, 21.5, 22.0, 20.5, 16.5)
    height_mm: tuple[float, float, float, float, float] = (29.5, 24.5, 25.5, 24.0, 19.5)
    person_scale_sd: float = 0.05
    finger_scale_sd: float = 0.03
    mean_period_px: tuple[float, float] = (9.0, 10.6)
    period_range_px: tuple[float, float] = (8.0, 12.0)
    period_variation_px: float = 0.45
    margin_px: int = 20
    phalanx_strip_mm: float = 4.5
    growth_scale: float = 0.5
    iterations: int = 10
    n_orientations: int = 8
    n_periods: int = 2
    gabor_sigma: float = 0.6


@dataclass(frozen=True)
class MasterFingerprint:
    """A clean master fingerprint (the finger itself), at 500 ppi.

    Attributes
    ----------
    finger : int
        ANSI/NIST-ITL position 1-10 (1 right thumb .. 5 right little, 6 left thumb .. 10 left little).
    pattern : str
        One of :data:`PATTERNS`.
    ridges : numpy.ndarray
        float32 clean ridge map in [-1, 1], +1 at a ridge centre (where ink goes). Defined over the
        whole canvas (the pattern continues outside the mask, also below the fingertip where the
        canvas extends over the distal crease).
    mask : numpy.ndarray
        bool, the full fingertip extent as rolled nail to nail.
    orientation : numpy.ndarray
        float32 ridge direction in radians, [0, pi), see the module docstring for the convention.
    period : numpy.ndarray
        float32 ridge period in px.
    singular_points : tuple
        ``("core" | "delta", x_px, y_px)`` in canvas pixels.
    """

    finger: int
    pattern: str
    ridges: np.ndarray = field(repr=False)
    mask: np.ndarray = field(repr=False)
    orientation: np.ndarray = field(repr=False)
    period: np.ndarray = field(repr=False)
    singular_points: tuple[tuple[str, float, float], ...] = ()


def pattern_priors(finger: int) -> tuple[float, ...]:
    """Probabilities of each pattern in :data:`PATTERNS` for an ANSI/NIST finger position 1-10."""
    _check_finger(finger)
    p = _RIGHT_HAND_PRIORS[(finger - 1) % 5]
    if finger > 5:  # left hand: mirror image, loops swap direction
        p = (p[0], p[1], p[3], p[2], p[4])
    return p


def make_person(rng: np.random.Generator, *, params: MasterParams = MasterParams()
                ) -> tuple[MasterFingerprint, ...]:
    """Ten distinct master fingerprints of one person.

    Parameters
    ----------
    rng : numpy.random.Generator
        Drives everything (same state, same arrays).
    params : MasterParams
        Generator parameters.

    Returns
    -------
    tuple of MasterFingerprint
        Element ``i`` is finger position ``i + 1``.
    """
    person_scale = float(np.clip(1.0 + params.person_scale_sd * rng.standard_normal(), 0.85, 1.15))
    return tuple(_make_master(rng, finger=f, pattern=None, params=params, scale=person_scale)
                 for f in range(1, 11))


def make_master(rng: np.random.Generator, *, finger: int, pattern: str | None = None,
                params: MasterParams = MasterParams()) -> MasterFingerprint:
    """One master fingerprint.

    Parameters
    ----------
    rng : numpy.random.Generator
        Drives everything (same state, same arrays).
    finger : int
        ANSI/NIST-ITL position 1-10; sets the size and the pattern priors.
    pattern : str, optional
        One of :data:`PATTERNS`; drawn from the finger's natural frequencies when None.
    params : MasterParams
        Generator parameters.

    Returns
    -------
    MasterFingerprint
    """
    person_scale = float(np.clip(1.0 + params.person_scale_sd * rng.standard_normal(), 0.85, 1.15))
    return _make_master(rng, finger=finger, pattern=pattern, params=params, scale=person_scale)


# --------------------------------------------------------------------------------------------
def _check_finger(finger: int) -> None:
    if not isinstance(finger, (int, np.integer)) or not 1 <= int(finger) <= 10:
        raise ValueError(f"finger must be an ANSI/NIST position 1-10, got {finger!r}")


def _make_master(rng: np.random.Generator, *, finger: int, pattern: str | None,
                 params: MasterParams, scale: float) -> MasterFingerprint:
    _check_finger(finger)
    if pattern is None:
        pattern = PATTERNS[int(rng.choice(len(PATTERNS), p=pattern_priors(finger)))]
    elif pattern not in PATTERNS:
        raise ValueError(f"pattern must be one of {PATTERNS}, got {pattern!r}")
    k = (finger - 1) % 5
    fscale = scale * float(np.clip(1.0 + params.finger_scale_sd * rng.standard_normal(), 0.9, 1.1))
    w = params.width_mm[k] * fscale * PX_PER_MM
    h = params.height_mm[k] * fscale * PX_PER_MM
    m = params.margin_px
    # Even canvas dimensions so that the half-resolution growth grid maps exactly.
    W = int(np.ceil((w + 2 * m) / 2.0)) * 2
    # Below the fingertip the canvas continues over the distal crease (rolled impressions may
    # show a strip of the middle phalanx); ridges are grown there too, the mask stops.
    strip = params.phalanx_strip_mm * PX_PER_MM
    H = int(np.ceil((h + 2 * m + strip) / 2.0)) * 2
    cx, y0 = W / 2.0, float(m)
    geom = (cx, y0, w, h)

    sps = _singular_points(rng, pattern, geom)
    s = params.growth_scale
    Hs, Ws = int(round(H * s)), int(round(W * s))
    # Model fields on the growth grid (pixel centres mapped to full-resolution coordinates).
    xs = (np.arange(Ws, dtype=np.float32) + 0.5) / s - 0.5
    ys = (np.arange(Hs, dtype=np.float32) + 0.5) / s - 0.5
    theta_s = _orientation_field(xs, ys, pattern, sps, geom, rng)
    period_full_coarse = _period_field(rng, (Hs, Ws), xs, ys, sps, geom, finger, params)
    ridges_s = _grow_ridges(theta_s, period_full_coarse * s, rng, params)

    ridges = cv2.resize(ridges_s, (W, H), interpolation=cv2.INTER_CUBIC)
    np.clip(ridges, -1.0, 1.0, out=ridges)
    c2 = cv2.resize(np.cos(2 * theta_s), (W, H), interpolation=cv2.INTER_LINEAR)
    s2 = cv2.resize(np.sin(2 * theta_s), (W, H), interpolation=cv2.INTER_LINEAR)
    orientation = (np.arctan2(s2, c2) * 0.5).astype(np.float32)
    orientation[orientation < 0] += np.float32(np.pi)
    orientation[orientation >= np.float32(np.pi)] = 0.0
    period = cv2.resize(period_full_coarse, (W, H), interpolation=cv2.INTER_LINEAR)
    mask = _finger_mask(rng, (H, W), geom)
    return MasterFingerprint(finger=int(finger), pattern=pattern, ridges=ridges, mask=mask,
                             orientation=orientation, period=period,
                             singular_points=tuple((k, float(x), float(y)) for k, x, y in sps))


def _singular_points(rng: np.random.Generator, pattern: str, geom) -> list[tuple[str, float, float]]:
    """Place cores and deltas for a pattern class, relative to the finger's extent."""
    cx, y0, w, h = geom
    j = rng.uniform(-1.0, 1.0, size=6)
    core_y = y0 + h * (0.42 + 0.05 * j[0])
    if pattern == "arch":
        return []
    if pattern == "tented_arch":
        x = cx + 0.06 * w * j[1]
        return [("core", x, core_y), ("delta", x + 0.02 * w * j[2], core_y + h * (0.12 + 0.03 * j[3]))]
    if pattern in ("left_loop", "right_loop"):
        # A right loop's ridges enter and leave on the right: the delta sits on the left.
        side = -1.0 if pattern == "right_loop" else 1.0
        core_x = cx - side * w * (0.06 + 0.04 * j[1])
        dx = core_x + side * w * (0.30 + 0.05 * j[2])
        dy = core_y + h * (0.28 + 0.05 * j[3])
        return [("core", core_x, core_y), ("delta", dx, dy)]
    # whorl: two cores close together (a ring or a spiral), a delta on each side below.
    sep = h * (0.07 + 0.03 * j[1])
    tilt = 0.35 * j[2]
    c1 = (cx + 0.5 * sep * np.sin(tilt), core_y - 0.5 * sep * np.cos(tilt))
    c2 = (cx - 0.5 * sep * np.sin(tilt), core_y + 0.5 * sep * np.cos(tilt))
    dy = core_y + h * (0.27 + 0.04 * j[3])
    return [("core", c1[0], c1[1]), ("core", c2[0], c2[1]),
            ("delta", cx - w * (0.33 + 0.04 * j[4]), dy + 0.03 * h * j[5]),
            ("delta", cx + w * (0.33 + 0.04 * j[5]), dy - 0.03 * h * j[4])]


def _orientation_field(xs: np.ndarray, ys: np.ndarray, pattern: str, sps, geom,
                       rng: np.random.Generator) -> np.ndarray:
    """Zero-pole orientation field (Sherlock & Monro 1993) with an arch-like far-field correction.

    theta(z) = 1/2 * (sum_cores arg(z - c) - sum_deltas arg(z - d)). Far from the singular points
    that model is flat (horizontal ridges); real ridges above the core follow the rounded
    fingertip and those near the crease are flat, so far from the singular points the field is
    bent with the tilt of an arch-like family of curves (the level sets of
    ``y - a(y) * exp(-((x - cx) / b)^2)``): a simple stand-in for the piecewise-linear correction
    of the zero-pole model used by SFinGe (Vizcaya & Gerhardt 1996).
    """
    cx, y0, w, h = geom
    X, Y = np.meshgrid(xs, ys)
    j = rng.uniform(-1.0, 1.0, size=2)
    # Arch family: bulge amplitude decreasing towards the crease; b sets the width of the bulge.
    b = w * (0.42 + 0.05 * j[0])
    amp = h * (0.30 + 0.06 * j[1])
    ybot = y0 + h
    depth = np.clip((ybot - Y) / h, 0.15, 1.2)
    g = np.exp(-((X - cx) / b) ** 2)
    # f = Y - amp * depth * g, whose level sets bulge upwards in the middle.
    fx = amp * depth * g * (2.0 * (X - cx) / b ** 2)
    fy = 1.0 + amp * g * np.where((ybot - Y) / h > 0.15, 1.0 / h, 0.0) * np.where(
        (ybot - Y) / h < 1.2, 1.0, 0.0)
    # Tangent of a level set is (fy, -fx) -> angle atan2(-fx, fy).
    arch_tilt = np.arctan2(-fx, fy)
    if pattern == "arch":
        theta = arch_tilt
    else:
        zs = X + 1j * Y
        acc = np.zeros_like(X)
        dist = np.full_like(X, np.inf)
        for kind, px, py in sps:
            dz = zs - (px + 1j * py)
            a = np.angle(dz)
            acc += a if kind == "core" else -a
            dist = np.minimum(dist, np.abs(dz))
        theta = 0.5 * acc
        # Blend in the arch tilt away from the singular points (weight 0 near them).
        wgt = smoothstep((dist - 0.18 * h) / (0.30 * h))
        theta = theta + arch_tilt * wgt
    theta = np.mod(theta, np.pi).astype(np.float32)
    return theta


def _period_field(rng: np.random.Generator, shape, xs, ys, sps, geom, finger: int,
                  params: MasterParams) -> np.ndarray:
    """Smooth ridge-period map in full-resolution px: wider above the cores and below the deltas."""
    cx, y0, w, h = geom
    lo, hi = params.mean_period_px
    base = rng.uniform(lo, hi) + (0.3 if finger in (1, 6) else 0.0)
    Y = ys[:, None]
    cores = [p[2] for p in sps if p[0] == "core"]
    deltas = [p[2] for p in sps if p[0] == "delta"]
    top = min(cores) if cores else y0 + 0.45 * h
    bottom = max(deltas) if deltas else y0 + 0.75 * h
    per = (base
           + 0.6 * smoothstep((top - Y) / (0.35 * h))
           + 0.4 * smoothstep((Y - bottom) / (0.25 * h))
           - 0.3)
    noise = smooth_noise(rng, shape, cell_px=max(shape) / 3.0)
    per = per + params.period_variation_px * noise
    return np.clip(per, *params.period_range_px).astype(np.float32)


def _gabor_1d(period: float, sigma: float, comp: float) -> tuple[np.ndarray, np.ndarray, int]:
    """Real and imaginary parts of a 1-D complex Gabor factor with wave number component comp."""
    r = int(np.ceil(2.2 * sigma))
    t = np.arange(-r, r + 1, dtype=np.float64)
    env = np.exp(-0.5 * (t / sigma) ** 2)
    env /= env.sum()
    k = 2.0 * np.pi / period * comp
    return (env * np.cos(k * t)).astype(np.float32), (env * np.sin(k * t)).astype(np.float32), r


def _grow_ridges(theta: np.ndarray, period: np.ndarray, rng: np.random.Generator,
                 params: MasterParams) -> np.ndarray:
    """Grow a ridge pattern by iterated per-pixel oriented Gabor filtering (SFinGe step 4).

    An isotropic complex Gabor kernel is separable: g(x) g(y) with g(t) = env(t) exp(i k t), so
    the even (cosine) filter is Re = gr(x) gr(y) - gi(x) gi(y), i.e. two separable passes. Each
    pixel blends the responses of the two nearest orientations and bank periods linearly.
    """
    H, W = theta.shape
    n = params.n_orientations
    p_lo, p_hi = float(period.min()), float(period.max())
    n_p = max(2, min(params.n_periods, int(np.ceil((p_hi - p_lo) / 0.35)) + 1))
    if p_hi - p_lo < 0.25:
        p_hi = p_lo + 0.25
    periods = np.linspace(p_lo, p_hi, n_p)
    t = theta.astype(np.float32) * np.float32(n / np.pi)
    k0 = np.floor(t).astype(np.int32)
    fo = t - k0
    k0 %= n
    k1 = (k0 + 1) % n
    # Linear interpolation weights between neighbouring bank periods.
    tp = np.clip((period - p_lo) / (p_hi - p_lo) * (n_p - 1), 0.0, n_p - 1 - 1e-6).astype(np.float32)
    j0 = np.floor(tp).astype(np.int32)
    fp = tp - j0
    pw = [np.where(j0 == j, 1.0 - fp, 0.0) + np.where(j0 == j - 1, fp, 0.0) for j in range(n_p)]
    # Filters: (weight map, kernels, bbox) for every bank entry that some pixel uses.
    bank = []
    for k in range(n):
        wo = np.where(k0 == k, 1.0 - fo, 0.0) + np.where(k1 == k, fo, 0.0)
        if not np.any(wo > 0):
            continue
        ang = k * np.pi / n
        # Wave vector is normal to the ridge direction (cos a, sin a): (-sin a, cos a).
        nx, ny = -np.sin(ang), np.cos(ang)
        for jp, p in enumerate(periods):
            if not np.any(pw[jp] > 0):
                continue
            wgt = (wo * pw[jp]).astype(np.float32)
            used = wgt > 0
            rows = np.flatnonzero(used.any(axis=1))
            cols = np.flatnonzero(used.any(axis=0))
            if rows.size == 0:
                continue
            sig = params.gabor_sigma * p
            gxr, gxi, r = _gabor_1d(p, sig, nx)
            gyr, gyi, _ = _gabor_1d(p, sig, ny)
            r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
            bank.append((np.ascontiguousarray(wgt[r0:r1, c0:c1]), gxr, gxi, gyr, gyi, r,
                         r0, r1, c0, c1))
    img = rng.standard_normal((H, W)).astype(np.float32)
    mean_p = float(np.mean(periods))
    out = np.zeros((H, W), np.float32)
    for it in range(params.iterations):
        out.fill(0.0)
        for wgt, gxr, gxi, gyr, gyi, r, r0, r1, c0, c1 in bank:
            # Filter only the bounding box where this entry has weight (plus the kernel radius).
            pr0, pr1, pc0, pc1 = max(r0 - r, 0), min(r1 + r, H), max(c0 - r, 0), min(c1 + r, W)
            sub = img[pr0:pr1, pc0:pc1]
            resp = cv2.sepFilter2D(sub, cv2.CV_32F, gxr, gyr, borderType=cv2.BORDER_REFLECT)
            resp -= cv2.sepFilter2D(sub, cv2.CV_32F, gxi, gyi, borderType=cv2.BORDER_REFLECT)
            inner = resp[r0 - pr0:r1 - pr0, c0 - pc0:c1 - pc0]
            np.multiply(inner, wgt, out=inner)
            out[r0:r1, c0:c1] += inner
        # Local amplitude normalisation keeps the pattern even; saturation makes ridges grow
        # into continuous lines (minutiae appear where phases meet).
        rms = cv2.GaussianBlur(out * out, (0, 0), mean_p)
        np.sqrt(rms, out=rms)
        rms += np.float32(1e-6)
        last = it == params.iterations - 1
        gain = np.float32(1.0 if last else 2.5)
        img = np.clip(out * gain / rms, -1.0, 1.0) if not last else out / (rms * np.float32(1.25))
    return np.clip(img, -1.0, 1.0).astype(np.float32)


def _finger_mask(rng: np.random.Generator, shape, geom) -> np.ndarray:
    """Fingertip outline: rounded top, near-straight sides, square-ish bottom at the crease."""
    H, W = shape
    cx, y0, w, h = geom
    xs = (np.arange(W, dtype=np.float32) - cx) / np.float32(0.5 * w)
    ymid = y0 + 0.5 * h
    ys = (np.arange(H, dtype=np.float32) - ymid) / np.float32(0.5 * h)
    u = np.abs(xs)[None, :]
    v = ys[:, None]
    # Rolled nail to nail the print is a rounded rectangle: squarish sides, a rounded top.
    q = np.where(v < 0, np.float32(2.5), np.float32(5.0))
    val = u ** np.float32(3.0) + np.abs(v) ** q
    val += np.float32(0.05) * smooth_noise(rng, (H, W), cell_px=0.25 * w)
    return val <= 1.0
