"""Registration: the transform from the layout template (mm) to the scanned page (px).

Coarse to fine, so that a 24 MP page costs tens of milliseconds:

1. The page is reduced to ~75 ppi (area averaging) and its skew found by
   projection profiles: the rotation that makes the row and column ink
   profiles sharpest (Postl's projection-profile skew estimate; see Hull,
   "Document image skew detection: survey and annotated bibliography", 1998).
2. On the deskewed reduced page the row and column profiles are matched to the
   template's box-grid line coordinates over scale and offset, upright and
   upside down; the grid's vertical pattern (two rolled rows above the taller
   plain row) is asymmetric, so the best match also decides the 180-degree flip.
3. At full resolution, sub-pixel line centres are measured on short
   perpendicular profiles sampled along every template grid segment, and an
   affine transform is fitted to them by iteratively re-weighted least squares
   (Tukey biweight), so prints overlapping borders, labels and hand-written
   ink do not pull the fit.

The measured resolution is the scale of that fit.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ifb1.forms.layout import MM_PER_INCH, Layout


class RegistrationError(ValueError):
    """No IFB1 box grid could be found on the page."""


@dataclass(frozen=True)
class RegisterParams:
    """Registration parameters (resolution independent; lengths in mm).

    Attributes
    ----------
    work_ppi : float
        Least resolution of the coarse search (the page is halved while it
        stays above this: 300 -> 75, 400 -> 100, 500 -> 62.5, 600 -> 75 ppi).
    max_rotation_deg : float
        Largest skew searched.
    scale_range : float
        Relative scale range searched around the initial guess from the page
        size (no trusted resolution).
    scale_range_with_hint : float
        The same around a trusted metadata resolution (copies can be scaled).
    sample_step_mm : float
        Spacing of line-centre measurements along each grid segment.
    corner_clearance_mm : float
        No measurements this close to a segment's ends (crossing lines).
    search_mm : tuple of float
        Half-width of the perpendicular search window, first and second pass.
    along_mm : float
        Length of line averaged for each measurement.
    min_inlier_fraction : float
        Below this fraction of usable line measurements the page is not an
        IFB1 (or too damaged to read).
    max_residual_mm : float
        Largest robust RMS line residual accepted.
    """

    work_ppi: float = 55.0
    max_rotation_deg: float = 11.0
    scale_range: float = 0.18
    scale_range_with_hint: float = 0.08
    sample_step_mm: float = 2.5
    corner_clearance_mm: float = 2.0
    search_mm: tuple[float, float] = (2.2, 0.9)
    along_mm: float = 1.0
    min_inlier_fraction: float = 0.5
    max_residual_mm: float = 0.35


@dataclass(frozen=True)
class Registration:
    """Template-to-page transform.

    Attributes
    ----------
    transform : np.ndarray
        3x3 affine, template mm (x, y, 1) -> page px.
    rotation_deg : float
        Skew of the form on the page, counter-clockwise positive in the image
        (y-down) frame, after removing any 180-degree turn; within +-11.
    upside_down : bool
        The form was scanned rotated by 180 degrees.
    ppi_measured : float
        Page resolution measured from the form's printed geometry.
    scale_xy : tuple of float
        Pixels per mm along the template's x and y axes.
    residual_px : float
        Robust RMS distance of the measured line centres from the fitted lines.
    n_points : int
        Line-centre measurements used (inliers).
    inlier_fraction : float
    elapsed_ms : float
    """

    transform: np.ndarray
    rotation_deg: float
    upside_down: bool
    ppi_measured: float
    scale_xy: tuple[float, float]
    residual_px: float
    n_points: int
    inlier_fraction: float
    elapsed_ms: float = 0.0

    def to_page(self, pts_mm) -> np.ndarray:
        """Map template points (N, 2) in mm to page pixels."""
        p = np.asarray(pts_mm, dtype=np.float64).reshape(-1, 2)
        return p @ self.transform[:2, :2].T + self.transform[:2, 2]


# ----------------------------------------------------------------------------- template lines


def grid_segments(layout: Layout) -> tuple[np.ndarray, np.ndarray]:
    """The box grid's printed line segments, merged where boxes share borders.

    Returns
    -------
    horizontal : np.ndarray
        (N, 3) rows of ``(y, x0, x1)`` in mm.
    vertical : np.ndarray
        (M, 3) rows of ``(x, y0, y1)`` in mm.
    """

    def merge(segs):
        segs = sorted(segs)
        out: list[list[float]] = []
        for c, a, b in segs:
            if out and abs(out[-1][0] - c) < 1e-6 and a <= out[-1][2] + 1e-6:
                out[-1][2] = max(out[-1][2], b)
            else:
                out.append([c, a, b])
        return np.array(out, dtype=np.float64)

    hs, vs = [], []
    for box in layout.boxes:
        x, y, w, h = box.rect_mm
        hs += [(y, x, x + w), (y + h, x, x + w)]
        vs += [(x, y, y + h), (x + w, y, y + h)]
    return merge(hs), merge(vs)


def _profile_template(segs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Line coordinates and weights (total length at each coordinate)."""
    coords = np.unique(segs[:, 0])
    weights = np.array([np.sum(segs[segs[:, 0] == c, 2] - segs[segs[:, 0] == c, 1]) for c in coords])
    return coords, weights / weights.max()


# ----------------------------------------------------------------------------- coarse search


def _rotate(img: np.ndarray, angle_deg: float) -> np.ndarray:
    import cv2

    h, w = img.shape
    m = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), angle_deg, 1.0)
    return cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def _highpass(p: np.ndarray, width: int) -> np.ndarray:
    """Profile minus its running median: keeps thin lines, drops prints and margins."""
    from scipy.ndimage import median_filter

    return np.maximum(p - median_filter(p, size=width, mode="nearest"), 0.0)


def _profiles(d: np.ndarray, angle: float, hp: int) -> tuple[np.ndarray, np.ndarray]:
    """High-passed row and column ink profiles of ``d`` rotated by ``angle``."""
    import cv2

    r = _rotate(d, angle)
    rows = cv2.reduce(r, 1, cv2.REDUCE_SUM, dtype=cv2.CV_32F)[:, 0]
    cols = cv2.reduce(r, 0, cv2.REDUCE_SUM, dtype=cv2.CV_32F)[0]
    return _highpass(rows, hp), _highpass(cols, hp)


def _sharpness(d: np.ndarray, angle: float, hp: int) -> float:
    rows, cols = _profiles(d, angle, hp)
    return float(np.dot(rows, rows) + np.dot(cols, cols))


def _peak(xs: np.ndarray, scores: np.ndarray) -> float:
    """Arg-max with parabolic interpolation."""
    i = int(np.argmax(scores))
    if 0 < i < len(xs) - 1:
        y0, y1, y2 = scores[i - 1], scores[i], scores[i + 1]
        den = y0 - 2 * y1 + y2
        off = 0.5 * (y0 - y2) / den if den < 0 else 0.0
        return float(xs[i] + np.clip(off, -0.5, 0.5) * (xs[1] - xs[0]))
    return float(xs[i])


def _estimate_skew(d: np.ndarray, max_deg: float, hp: int) -> float:
    """Projection-profile skew: the angle that maximises profile energy.

    1-degree steps on a half-size image, then 0.15-degree steps at full size.
    """
    import cv2

    half = cv2.resize(d, (d.shape[1] // 2, d.shape[0] // 2), interpolation=cv2.INTER_AREA)
    coarse = np.arange(-max_deg, max_deg + 1e-9, 1.0)
    best = _peak(coarse, np.array([_sharpness(half, a, max(3, hp // 2 | 1)) for a in coarse]))
    fine = np.arange(best - 0.9, best + 0.91, 0.15)
    return _peak(fine, np.array([_sharpness(d, a, hp) for a in fine]))


def _match_profile(profile: np.ndarray, coords: np.ndarray, weights: np.ndarray,
                   scales: np.ndarray, t_step: float = 0.5) -> tuple[float, float, float]:
    """Best (score, scale, offset) with profile[s * c + t] summed over template lines.

    All scales and offsets at once: (S, T, L) sample positions, linear interpolation.
    """
    n = len(profile)
    ts = np.arange(-scales.max() * coords.max(), n - scales.min() * coords.min(), t_step)
    idx = ts[None, :, None] + scales[:, None, None] * coords[None, None, :]
    valid = (idx >= 0) & (idx <= n - 1)
    i0 = np.clip(idx.astype(np.int64), 0, n - 2)
    f = idx - i0
    v = profile[i0] * (1 - f) + profile[i0 + 1] * f
    score = np.where(valid, v, 0.0) @ weights
    si, ti = np.unravel_index(int(np.argmax(score)), score.shape)
    return float(score[si, ti]), float(scales[si]), float(ts[ti])


def _search(profile: np.ndarray, coords: np.ndarray, weights: np.ndarray, s0: float, rng: float):
    """Coarse-to-fine scale/offset search: 1 % steps on a blurred profile, then 0.1 %."""
    from scipy.ndimage import gaussian_filter1d

    coarse = np.exp(np.arange(np.log(1 - rng), np.log(1 + rng) + 1e-9, 0.01)) * s0
    _, s1, _ = _match_profile(gaussian_filter1d(profile, 2.0), coords, weights, coarse, 1.0)
    fine = s1 * np.exp(np.arange(-0.012, 0.0121, 0.001))
    return _match_profile(profile, coords, weights, fine, 0.5)


def _coarse(image: np.ndarray, layout: Layout, ppi_guess: float, ppi_trusted: bool, params: RegisterParams):
    """Approximate template->page transform (3x3), upside-down flag and match quality."""
    import cv2
    from scipy.ndimage import gaussian_filter1d

    # Gaussian pyramid: ~4x faster than an area resize by a non-power-of-two
    # factor on 24 MP, and its smoothing suits the profile search.
    levels = max(0, int(np.floor(np.log2(ppi_guess / params.work_ppi))))
    small = image
    for _ in range(levels):
        small = cv2.pyrDown(small)
    f = 2 ** levels
    d = cv2.subtract(255, small)  # ink darkness, uint8 (fast to rotate)
    work_px_mm = ppi_guess / f / MM_PER_INCH
    hp = max(5, int(round(3.0 * work_px_mm)) | 1)
    angle = _estimate_skew(d, params.max_rotation_deg, hp)
    rows, cols = _profiles(d, angle, hp)
    rows, cols = gaussian_filter1d(rows, 1.0), gaussian_filter1d(cols, 1.0)
    hsegs, vsegs = grid_segments(layout)
    ycoords, yw = _profile_template(hsegs)
    xcoords, xw = _profile_template(vsegs)
    pw, ph = layout.page_mm
    rng = params.scale_range_with_hint if ppi_trusted else params.scale_range
    results = []
    for flip in (False, True):
        yc = (ph - ycoords) if flip else ycoords
        xc = (pw - xcoords) if flip else xcoords
        sy_score, sy, ty = _search(rows, yc, yw, work_px_mm, rng)
        # x shares the page's scale to within a copier's anisotropy (~3 %).
        sx_score, sx, tx = _search(cols, xc, xw, sy, 0.03)
        results.append((sy_score + sx_score, flip, sx, tx, sy, ty))
    results.sort(key=lambda r: -r[0])
    score, flip, sx, tx, sy, ty = results[0]
    margin = score / max(results[1][0], 1e-9)
    # template mm -> rotated small px
    if flip:
        a = np.array([[-sx, 0, sx * pw + tx], [0, -sy, sy * ph + ty], [0, 0, 1.0]])
    else:
        a = np.array([[sx, 0, tx], [0, sy, ty], [0, 0, 1.0]])
    h, w = d.shape
    rot = np.vstack([cv2.getRotationMatrix2D((w / 2.0, h / 2.0), angle, 1.0), [0, 0, 1.0]])
    # small px -> full px: pyrDown's output pixel x sits on input pixel 2x.
    up = np.array([[f, 0, 0.0], [0, f, 0.0], [0, 0, 1.0]])
    t = up @ np.linalg.inv(rot) @ a
    return t, flip, margin, f


# ----------------------------------------------------------------------------- fine fit


def _samples(layout: Layout, params: RegisterParams) -> tuple[np.ndarray, np.ndarray]:
    """Points on the template grid lines (mm) and their unit normals."""
    hsegs, vsegs = grid_segments(layout)
    pts, normals = [], []
    c = params.corner_clearance_mm
    # Crossing points of the grid, to keep measurements clear of them.
    xs_v = vsegs[:, 0]
    ys_h = hsegs[:, 0]
    for y, x0, x1 in hsegs:
        xs = np.arange(x0 + c, x1 - c + 1e-9, params.sample_step_mm)
        crossing = vsegs[(vsegs[:, 1] <= y + 1e-6) & (vsegs[:, 2] >= y - 1e-6), 0]
        if len(crossing):
            xs = xs[np.min(np.abs(xs[:, None] - crossing[None, :]), axis=1) > c]
        pts += [(x, y) for x in xs]
        normals += [(0.0, 1.0)] * len(xs)
    for x, y0, y1 in vsegs:
        ys = np.arange(y0 + c, y1 - c + 1e-9, params.sample_step_mm)
        crossing = hsegs[(hsegs[:, 1] <= x + 1e-6) & (hsegs[:, 2] >= x - 1e-6), 0]
        if len(crossing):
            ys = ys[np.min(np.abs(ys[:, None] - crossing[None, :]), axis=1) > c]
        pts += [(x, y) for y in ys]
        normals += [(1.0, 0.0)] * len(ys)
    del xs_v, ys_h
    return np.array(pts, dtype=np.float64), np.array(normals, dtype=np.float64)


def _measure(image: np.ndarray, t: np.ndarray, pts: np.ndarray, normals: np.ndarray,
             half_mm: float, along_mm: float, line_mm: float):
    """Sub-pixel offsets (px, along the page normal) of the line centre from the prediction.

    Returns offsets, page points predicted, page unit normals and a contrast per sample.
    """
    import cv2

    a = t[:2, :2]
    q = pts @ a.T + t[:2, 2]
    n_page = normals @ a.T
    tang_page = normals[:, ::-1] @ a.T
    px_mm = float(np.sqrt(abs(np.linalg.det(a))))
    n_page /= np.linalg.norm(n_page, axis=1, keepdims=True)
    tang_page /= np.linalg.norm(tang_page, axis=1, keepdims=True)
    half = max(3, int(np.ceil(half_mm * px_mm)))
    offs = np.arange(-half, half + 1, dtype=np.float64)
    nal = max(2, int(round(along_mm * px_mm / 2)))
    al = np.linspace(-along_mm * px_mm / 2, along_mm * px_mm / 2, nal)
    # (N, K, A) sample coordinates
    sx = q[:, 0, None, None] + offs[None, :, None] * n_page[:, 0, None, None] + al[None, None, :] * tang_page[:, 0, None, None]
    sy = q[:, 1, None, None] + offs[None, :, None] * n_page[:, 1, None, None] + al[None, None, :] * tang_page[:, 1, None, None]
    n, k = len(q), len(offs)
    vals = cv2.remap(image, sx.reshape(n, -1).astype(np.float32), sy.reshape(n, -1).astype(np.float32),
                     cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=255)
    prof = 255.0 - vals.reshape(n, k, nal).astype(np.float32).mean(axis=2)
    # Local baseline: the paper level around the line.
    base = np.percentile(prof, 20, axis=1, keepdims=True)
    dk = np.maximum(prof - base, 0.0)
    # A matched filter the width of the printed line picks the line, not a
    # neighbouring ridge or pen stroke of a different width.
    lw = max(1, int(round(line_mm * px_mm)))
    kern = np.ones(lw, np.float32) / lw
    sm = cv2.filter2D(dk, -1, kern[None, :], borderType=cv2.BORDER_REPLICATE)
    i = np.argmax(sm, axis=1)
    # Centroid of darkness within +-line width around the peak.
    win = lw + 1
    j = np.clip(i[:, None] + np.arange(-win, win + 1)[None, :], 0, k - 1)
    w = np.take_along_axis(dk, j, axis=1)
    centre = (w * j).sum(axis=1) / np.maximum(w.sum(axis=1), 1e-6)
    contrast = np.take_along_axis(sm, i[:, None], axis=1)[:, 0]
    edge = (i <= 1) | (i >= k - 2)
    return centre - half, q, n_page, contrast, edge


def _fit_affine(pts: np.ndarray, normals_mm: np.ndarray, obs: np.ndarray, n_page: np.ndarray,
                weights: np.ndarray) -> np.ndarray:
    """Weighted least squares affine from point-to-line constraints.

    Each measurement says: n_page . (A p + b) = n_page . obs. Linear in the six
    affine parameters.
    """
    x, y = pts[:, 0], pts[:, 1]
    nx, ny = n_page[:, 0], n_page[:, 1]
    m = np.stack([nx * x, nx * y, nx, ny * x, ny * y, ny], axis=1)
    rhs = nx * obs[:, 0] + ny * obs[:, 1]
    sw = np.sqrt(weights)
    sol, *_ = np.linalg.lstsq(m * sw[:, None], rhs * sw, rcond=None)
    return np.array([[sol[0], sol[1], sol[2]], [sol[3], sol[4], sol[5]], [0, 0, 1.0]])


def _robust_fit(pts, normals, obs, n_page, usable, scale_px):
    """IRLS with Tukey's biweight on point-to-line residuals."""
    w = usable.astype(np.float64)
    t = _fit_affine(pts[usable], normals[usable], obs[usable], n_page[usable], w[usable])
    c = 4.685
    for _ in range(6):
        pred = pts @ t[:2, :2].T + t[:2, 2]
        r = np.sum((obs - pred) * n_page, axis=1)
        mad = np.median(np.abs(r[usable])) * 1.4826
        s = max(mad, 0.05 * scale_px)
        u = r / (c * s)
        w = np.where(usable & (np.abs(u) < 1), (1 - u ** 2) ** 2, 0.0)
        if w.sum() < 12:
            break
        t = _fit_affine(pts, normals, obs, n_page, w)
    pred = pts @ t[:2, :2].T + t[:2, 2]
    r = np.sum((obs - pred) * n_page, axis=1)
    return t, r, w


def register(image: np.ndarray, *, layout: Layout, ppi_hint: float | None = None,
             params: RegisterParams = RegisterParams()) -> Registration:
    """Find the IFB1 box grid and the template-to-page transform.

    Parameters
    ----------
    image : np.ndarray
        uint8 grey page at its own resolution.
    layout : Layout
        The form template.
    ppi_hint : float, optional
        Trusted metadata resolution; without it the page size gives the first
        guess (A4 width). Either way the resolution is measured.
    params : RegisterParams

    Returns
    -------
    Registration

    Raises
    ------
    RegistrationError
        When no box grid matching the template is found.
    """
    t0 = time.perf_counter()
    if image.ndim != 2 or image.dtype != np.uint8:
        raise ValueError("register expects a uint8 grey image")
    h, w = image.shape
    pw, ph = layout.page_mm
    if ppi_hint:
        guess = float(ppi_hint)
    else:
        # The scanner's canvas is about the page: use the better-fitting side.
        guess = float(np.sqrt((w / pw) * (h / ph))) * MM_PER_INCH if w < h else max(w, h) / ph * MM_PER_INCH
    if guess * pw / MM_PER_INCH < 400:
        raise RegistrationError(f"the page is too small ({w} x {h} px) to hold a readable IFB1 form")
    t, flip, margin, _ = _coarse(image, layout, guess, bool(ppi_hint), params)

    pts, normals = _samples(layout, params)
    line_mm = layout.line_width_mm
    px_mm = float(np.sqrt(abs(np.linalg.det(t[:2, :2]))))
    usable = np.ones(len(pts), bool)
    resid = np.zeros(len(pts))
    weights = np.ones(len(pts))
    for half_mm in params.search_mm:
        off, q, n_page, contrast, edge = _measure(image, t, pts, normals, half_mm, params.along_mm, line_mm)
        obs = q + off[:, None] * n_page
        good_contrast = contrast > 0.25 * np.median(contrast[~edge]) if np.any(~edge) else contrast > 0
        usable = (~edge) & good_contrast & (contrast > 8.0)
        if usable.sum() < 12:
            raise RegistrationError("no IFB1 box grid found on the page (not an IFB1 form, or unreadable)")
        t, resid, weights = _robust_fit(pts, normals, obs, n_page, usable, px_mm)
        px_mm = float(np.sqrt(abs(np.linalg.det(t[:2, :2]))))

    inl = weights > 0
    frac = float(inl.sum()) / len(pts)
    rms = float(np.sqrt(np.sum(weights * resid ** 2) / max(weights.sum(), 1e-9)))
    if frac < params.min_inlier_fraction or rms > params.max_residual_mm * px_mm:
        raise RegistrationError(
            f"no IFB1 box grid found on the page (only {frac:.0%} of the grid's lines matched, "
            f"residual {rms / px_mm:.2f} mm)"
        )
    a = t[:2, :2]
    sx = float(np.hypot(a[0, 0], a[1, 0]))
    sy = float(np.hypot(a[0, 1], a[1, 1]))
    ang = float(np.degrees(np.arctan2(a[1, 0], a[0, 0])))
    upside = abs(ang) > 90.0
    if upside != flip:
        # The fine fit cannot turn the page: a disagreement means a bad match.
        raise RegistrationError("no consistent IFB1 box grid orientation found on the page")
    rot = ang - 180.0 if ang > 90 else ang + 180.0 if ang < -90 else ang
    return Registration(
        transform=t,
        rotation_deg=-rot,
        upside_down=upside,
        ppi_measured=float(np.sqrt(sx * sy)) * MM_PER_INCH,
        scale_xy=(sx, sy),
        residual_px=rms,
        n_points=int(inl.sum()),
        inlier_fraction=frac,
        elapsed_ms=(time.perf_counter() - t0) * 1000.0,
    )
