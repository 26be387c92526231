"""The hand diagram: two hands, each finger coloured by its median score, with the share below the threshold.

Drawn as plain inline SVG (no script, no font, no external file). The hands
are seen from above, palms down, as an officer sees their own hands on a
desk: the left hand on the left with its thumb on the right, the right hand
on the right with its thumb on the left. Finger positions are ANSI/NIST-ITL's
(1 right thumb .. 5 right little, 6 left thumb .. 10 left little).
"""

from __future__ import annotations

from html import escape

from ifb1.reports.figures import PositionFigures

#: Colour scale anchors (score relative to the threshold, RGB), ColorBrewer's RdYlBu: deep red at 0,
#: orange at the threshold, pale yellow just above, blue for good prints. Red-yellow-blue stays distinct
#: for the commonest colour blindness (red-green).
_ANCHORS = ((0.0, (165, 0, 38)), (0.5, (244, 109, 67)), (1.0, (253, 174, 97)))
_ABOVE = ((10.0, (254, 224, 144)), (25.0, (171, 217, 233)), (45.0, (69, 117, 180)), (1000.0, (49, 54, 149)))
NO_DATA = "#d9d9d9"

# One hand in its own 300 x 300 frame, thumb on the right (the left hand, palm down):
# (finger order from the outside in: little, ring, middle, index) centre x, top y, width.
_FINGERS = ((52, 82, 40), (97, 44, 43), (143, 26, 44), (189, 50, 43))
_FINGER_BOTTOM = 178
_PALM = (28, 158, 186, 118, 34)  # x, y, w, h, corner radius
_THUMB = (240, 200, 44, 112, 48)  # centre x, centre y, width, length, angle (degrees clockwise from vertical)
_LEFT_ORDER = (10, 9, 8, 7)  # little .. index
_RIGHT_ORDER = (5, 4, 3, 2)
_SHORT = {1: "Thumb", 2: "Index", 3: "Middle", 4: "Ring", 5: "Little",
          6: "Thumb", 7: "Index", 8: "Middle", 9: "Ring", 10: "Little"}


def _mix(a: tuple[int, int, int], b: tuple[int, int, int], t: float) -> tuple[int, int, int]:
    return tuple(int(round(x + (y - x) * t)) for x, y in zip(a, b))  # type: ignore[return-value]


def score_colour(score: float | None, threshold: float) -> str:
    """The fill colour for a median score: reds below the threshold, orange at it, blues well above."""
    if score is None:
        return NO_DATA
    s = min(max(float(score), 0.0), 100.0)
    t = max(1.0, min(float(threshold), 99.0))
    anchors = [(a * t, c) for a, c in _ANCHORS] + [(min(t + d, 100.0) if d < 1000 else 100.0, c) for d, c in _ABOVE]
    for (s0, c0), (s1, c1) in zip(anchors, anchors[1:]):
        if s <= s1:
            return "#%02x%02x%02x" % _mix(c0, c1, 0.0 if s1 <= s0 else (s - s0) / (s1 - s0))
    return "#%02x%02x%02x" % anchors[-1][1]


def text_colour(fill: str) -> str:
    """Black or white, whichever reads better on ``fill`` (relative luminance, WCAG 2)."""
    if not fill.startswith("#") or len(fill) != 7:
        return "#000"

    def lin(c: int) -> float:
        c = c / 255.0
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(fill[i:i + 2], 16) for i in (1, 3, 5))
    lum = 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b)
    return "#000" if (lum + 0.05) / 0.05 >= 1.05 / (lum + 0.05) else "#fff"


def _label(p: PositionFigures | None, threshold: int) -> tuple[str, str, str]:
    """(big number, small line, tooltip)."""
    if p is None or p.scored == 0:
        return "–", "no prints", "no scored prints"
    pct = round(100 * (p.below.value or 0.0))
    tip = (f"{p.name}: median NFIQ 2 score {p.median:.0f} of {p.scored} print(s); "
           f"{p.below.count} ({pct} %) below {threshold}")
    return f"{p.median:.0f}", f"{pct}%", tip


def _finger(x: float, y: float, w: float, h: float, p: PositionFigures | None, threshold: int, *,
            angle: float = 0.0, cx: float | None = None, cy: float | None = None) -> str:
    fill = score_colour(None if p is None or p.scored == 0 else p.median, threshold)
    ink = text_colour(fill)
    big, small, tip = _label(p, threshold)
    rot = f' transform="rotate({angle:.1f} {cx:.1f} {cy:.1f})"' if angle else ""
    tx = x + w / 2 if cx is None else cx
    ty = y + 34 if cy is None else cy - 6
    pos = "" if p is None else f' data-position="{p.position}"'
    return (f'<g class="finger"{pos}><title>{escape(tip)}</title>'
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" rx="{w / 2:.1f}" '
            f'fill="{fill}" stroke="#333" stroke-width="1.5"{rot}/>'
            f'<text x="{tx:.1f}" y="{ty:.1f}" fill="{ink}" font-size="19" font-weight="700" '
            f'text-anchor="middle">{escape(big)}</text>'
            f'<text x="{tx:.1f}" y="{ty + 17:.1f}" fill="{ink}" font-size="12" '
            f'text-anchor="middle">{escape(small)}</text>'
            + (f'<text x="{tx:.1f}" y="{ty + 29:.1f}" fill="{ink}" font-size="10" text-anchor="middle">poor</text>'
               if small.endswith("%") else "") + '</g>')


def _hand(positions: dict[int, PositionFigures], *, right: bool, dx: float, threshold: int) -> str:
    """One hand; the right hand is the left hand mirrored (coordinates mirrored, text upright)."""
    W = 300.0

    def mx(x: float) -> float:
        return dx + (W - x if right else x)

    order = _RIGHT_ORDER if right else _LEFT_ORDER
    parts = []
    px, py, pw, ph, pr = _PALM
    parts.append(f'<rect x="{mx(px + pw) if right else mx(px):.1f}" y="{py}" width="{pw}" height="{ph}" '
                 f'rx="{pr}" fill="#f3efe9" stroke="#333" stroke-width="1.5"/>')
    for (cx, top, w), pos in zip(_FINGERS, order):
        x = mx(cx) - w / 2
        parts.append(_finger(x, top, w, _FINGER_BOTTOM - top, positions.get(pos), threshold))
        parts.append(f'<text x="{mx(cx):.1f}" y="{_FINGER_BOTTOM + 14}" font-size="10.5" fill="#444" '
                     f'text-anchor="middle">{_SHORT[pos]}</text>')
    tcx, tcy, tw, tl, ta = _THUMB
    thumb = 1 if right else 6
    cx = mx(tcx)
    angle = -ta if right else ta
    parts.append(_finger(cx - tw / 2, tcy - tl / 2, tw, tl, positions.get(thumb), threshold,
                         angle=angle, cx=cx, cy=tcy))
    title = "Right hand" if right else "Left hand"
    parts.append(f'<text x="{dx + W / 2:.1f}" y="{py + ph - 22}" font-size="15" font-weight="700" '
                 f'fill="#333" text-anchor="middle">{title}</text>')
    return "".join(parts)


def _legend(threshold: int, y: float, width: float) -> str:
    stops = "".join(f'<stop offset="{s / 100:.2f}" stop-color="{score_colour(s, threshold)}"/>'
                    for s in range(0, 101, 10))
    x0, w = width / 2 - 160, 320
    tick = x0 + w * threshold / 100
    return (f'<defs><linearGradient id="hand-scale">{stops}</linearGradient></defs>'
            f'<rect x="{x0}" y="{y}" width="{w}" height="12" fill="url(#hand-scale)" stroke="#666" stroke-width="0.8"/>'
            f'<line x1="{tick:.1f}" x2="{tick:.1f}" y1="{y - 4}" y2="{y + 16}" stroke="#000" stroke-width="1.5"/>'
            f'<text x="{x0 - 6}" y="{y + 10}" font-size="11" text-anchor="end" fill="#333">0</text>'
            f'<text x="{x0 + w + 6}" y="{y + 10}" font-size="11" fill="#333">100</text>'
            f'<text x="{tick:.1f}" y="{y + 29}" font-size="11" text-anchor="middle" fill="#333">'
            f'threshold {threshold}</text>'
            f'<text x="{x0 - 30}" y="{y + 10}" font-size="11" text-anchor="end" fill="#333">'
            f'median NFIQ 2 score</text>')


def hands_svg(positions: tuple[PositionFigures, ...] | list[PositionFigures], *, threshold: int,
              title: str = "Print quality by finger") -> str:
    """The two-hand diagram as an inline ``<svg>`` element.

    Parameters
    ----------
    positions : sequence of PositionFigures
        At least the rolled positions 1-10 (others are ignored).
    threshold : int
        The policy's ``min_quality``: the colour scale turns from red to blue there.
    title : str
        The SVG's accessible title.

    Returns
    -------
    str
        ``<svg role="img" ...>`` markup; each finger has a tooltip with its figures.
    """
    by_pos = {p.position: p for p in positions if p.position <= 10}
    width, height = 640.0, 352.0
    body = (_hand(by_pos, right=False, dx=10, threshold=threshold)
            + _hand(by_pos, right=True, dx=330, threshold=threshold)
            + _legend(threshold, 308, width))
    return (f'<svg class="hands" role="img" viewBox="0 0 {width:.0f} {height:.0f}" '
            f'xmlns="http://www.w3.org/2000/svg" font-family="sans-serif">'
            f'<title>{escape(title)}</title>{body}</svg>')
