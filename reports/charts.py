"""The report's charts as inline SVG: the monthly trend drawn by matplotlib (Agg), the finger chart by hand.

Text stays text in the SVG (``svg.fonttype = "none"``, the browser's own
sans-serif), so a chart is small and needs no font file; the ids inside each
chart are salted with the chart's name so that several charts on one page
never share an id.

Speed: a report draws one trend per force (44 for a national report), and
building a matplotlib figure costs more than drawing it, so
:class:`TrendChart` builds its figure once per report and only updates the
data for each force; the layout is fixed (no tight bounding box, which would
draw everything twice). The finger chart is ten bars and dots: plain SVG.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Sequence
from html import escape

from ifb1.reports.figures import ROLLED, GroupFigures, PositionFigures

FORCE_COLOUR = "#1f4e79"
NATIONAL_COLOUR = "#8c8c8c"
THRESHOLD_COLOUR = "#b2182b"
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams.update({
        "svg.fonttype": "none",
        "font.family": "sans-serif",
        "font.sans-serif": ["DejaVu Sans", "Liberation Sans", "Arial", "Helvetica"],
        "font.size": 10,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.titlesize": 11,
        "axes.titleweight": "bold",
        "axes.titlelocation": "left",
    })
    return plt


def _svg(fig, name: str) -> str:  # the caller closes the figure
    """The figure as an ``<svg>`` element for inlining (no XML prolog, scales with its container)."""
    plt = _pyplot()
    plt.rcParams["svg.hashsalt"] = name
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    text = buf.getvalue()
    text = text[text.index("<svg"):]
    text = re.sub(r"\s*<metadata>.*?</metadata>", "", text, flags=re.S)  # RDF boilerplate, nothing to show
    # Size from the container (CSS), aspect ratio from the viewBox.
    head_end = text.index(">")
    head = re.sub(r'\s(width|height)="[^"]*"', "", text[:head_end])
    return f'{head} class="chart" role="img" aria-label="{name}"' + text[head_end:]


def month_label(month: str) -> str:
    """``"2025-03"`` -> ``"Mar 2025"``."""
    return f"{_MONTHS[int(month[5:7]) - 1]} {month[:4]}"


class TrendChart:
    """Month by month: the share of poor rolled prints of a group, beside the whole country.

    The forms received each month are light bars (right-hand scale); a month
    without forms from the group leaves a gap in its line. Build one per
    report (the months and the national line are fixed) and call
    :meth:`svg` for each group; :meth:`close` frees the figure.
    """

    def __init__(self, months: Sequence[str], national: GroupFigures | None):
        from matplotlib.patches import Patch

        plt = _pyplot()
        self.months = list(months)
        self.national = national
        xs = list(range(len(self.months)))
        self.fig, ax = plt.subplots(figsize=(7.2, 2.9))
        self.fig.subplots_adjust(left=0.085, right=0.915, top=0.86, bottom=0.17)
        counts = ax.twinx()
        self.bars = counts.bar(xs, [0] * len(xs), width=0.6, color="#e3e8ee", zorder=0)
        counts.set_ylabel("forms received", color="#7a8593", fontsize=8.5)
        counts.tick_params(axis="y", colors="#7a8593", labelsize=8)
        counts.spines["right"].set_visible(True)
        counts.spines["right"].set_color("#c0c7cf")
        ax.set_zorder(counts.get_zorder() + 1)
        ax.patch.set_visible(False)
        self.national_line = None
        if national is not None:
            (self.national_line,) = ax.plot(xs, self._pct(national), color=NATIONAL_COLOUR, linestyle="--",
                                            marker="o", markersize=3.5, linewidth=1.5, label="All forces")
        (self.line,) = ax.plot(xs, [math.nan] * len(xs), color=FORCE_COLOUR, marker="o", markersize=5,
                               linewidth=2.2, label="this force")
        step = max(1, (len(xs) + 11) // 12)
        labels = []
        for i, m in enumerate(self.months):
            short = month_label(m).split()[0]
            labels.append(f"{short}\n{m[:4]}" if i == 0 or m.endswith("-01") else short)
        ax.set_xticks(xs[::step])
        ax.set_xticklabels(labels[::step], fontsize=8.5)
        ax.set_ylabel("poor rolled prints (%)")
        ax.set_xlim(-0.5, max(len(xs), 1) - 0.5)
        ax.grid(axis="y", color="#e0e0e0", linewidth=0.8)
        ax.set_axisbelow(True)
        self.ax, self.counts = ax, counts
        self.handles = [h for h in (self.national_line, self.line) if h is not None]
        self.handles.append(Patch(color="#e3e8ee", label="forms received"))

    @staticmethod
    def _pct(group: GroupFigures) -> list[float]:
        return [math.nan if m.poor_prints.value is None else 100 * m.poor_prints.value for m in group.months]

    def svg(self, group: GroupFigures, *, name: str) -> str:
        """The chart of one group (its months must be the chart's)."""
        if [m.month for m in group.months] != self.months:
            raise ValueError("the group's months are not the chart's")
        alone = self.national is None or group is self.national
        values = self._pct(group)
        self.line.set_ydata(values)
        self.line.set_label("All forces" if alone else group.name)
        if self.national_line is not None:
            self.national_line.set_visible(not alone)
        forms = [m.forms for m in group.months]
        for bar, n in zip(self.bars, forms):
            bar.set_height(n)
        self.counts.set_ylim(0, max(forms + [1]) * 2.2)
        shown = values + ([] if alone or self.national is None else self._pct(self.national))
        top = max([v for v in shown if v == v] or [0.0])
        self.ax.set_ylim(0, max(10.0, min(100.0, top * 1.25 + 2)))
        handles = [h for h in self.handles if h is not self.national_line or not alone]
        self.ax.legend(handles=handles, labels=[h.get_label() for h in handles], loc="lower left",
                       bbox_to_anchor=(0.0, 1.0), frameon=False, fontsize=8.5, ncol=3)
        return _svg(self.fig, name)

    def close(self) -> None:
        _pyplot().close(self.fig)


def trend_svg(group: GroupFigures, national: GroupFigures | None, *, name: str) -> str:
    """One trend chart (see :class:`TrendChart`, cheaper for many groups)."""
    chart = TrendChart([m.month for m in group.months], national)
    try:
        return chart.svg(group, name=name)
    finally:
        chart.close()


def fingers_svg(group: Sequence[PositionFigures], national: Sequence[PositionFigures], *, threshold: int,
                force_name: str, name: str) -> str:
    """Per rolled finger: the group's median score (dot) beside all forces' median (grey bar), as plain SVG."""
    rows = [p for p in group if p.position <= ROLLED]
    nat = {p.position: p for p in national}
    W, left, right, top, row = 620.0, 118.0, 600.0, 34.0, 24.0
    bottom = top + row * len(rows)

    def x(v: float) -> float:
        return left + (right - left) * min(max(v, 0.0), 100.0) / 100.0

    parts = []
    for v in range(0, 101, 20):
        parts.append(f'<line x1="{x(v):.1f}" x2="{x(v):.1f}" y1="{top - 4}" y2="{bottom}" stroke="#eeeeee"/>'
                     f'<text x="{x(v):.1f}" y="{bottom + 16}" font-size="11" text-anchor="middle" '
                     f'fill="#333">{v}</text>')
    for i, p in enumerate(rows):
        y = top + row * i + row / 2
        parts.append(f'<text x="{left - 8}" y="{y + 4:.1f}" font-size="11.5" text-anchor="end" fill="#222">'
                     f'{escape(p.name)}</text>')
        n = nat.get(p.position)
        if n is not None and n.median is not None:
            parts.append(f'<rect x="{left}" y="{y - 7:.1f}" width="{x(n.median) - left:.1f}" height="14" '
                         f'fill="#d9d9d9"><title>All forces: median {n.median:.0f}</title></rect>')
        if p.median is not None:
            parts.append(f'<circle cx="{x(p.median):.1f}" cy="{y:.1f}" r="6.5" fill="{FORCE_COLOUR}">'
                         f'<title>{escape(force_name)}: median {p.median:.0f}</title></circle>'
                         f'<text x="{x(p.median) + 10:.1f}" y="{y + 4:.1f}" font-size="11" '
                         f'fill="{FORCE_COLOUR}">{p.median:.0f}</text>')
    tx = x(threshold)
    parts.append(f'<line x1="{tx:.1f}" x2="{tx:.1f}" y1="{top - 4}" y2="{bottom}" stroke="{THRESHOLD_COLOUR}" '
                 f'stroke-width="1.4" stroke-dasharray="2 3"/>')
    parts.append(f'<line x1="{left}" x2="{right}" y1="{bottom}" y2="{bottom}" stroke="#333"/>')
    parts.append(f'<text x="{(left + right) / 2:.1f}" y="{bottom + 34}" font-size="12" text-anchor="middle" '
                 'fill="#222">NFIQ 2 score (0-100, higher is better)</text>')
    legend = (f'<circle cx="{left + 6}" cy="12" r="6" fill="{FORCE_COLOUR}"/>'
              f'<text x="{left + 18}" y="16" font-size="11.5" fill="#222">{escape(force_name)}: median</text>'
              f'<rect x="{left + 250}" y="6" width="16" height="12" fill="#d9d9d9"/>'
              f'<text x="{left + 272}" y="16" font-size="11.5" fill="#222">All forces: median</text>'
              f'<line x1="{left + 400}" x2="{left + 420}" y1="12" y2="12" stroke="{THRESHOLD_COLOUR}" '
              f'stroke-width="1.4" stroke-dasharray="2 3"/>'
              f'<text x="{left + 426}" y="16" font-size="11.5" fill="#222">threshold {threshold}</text>')
    H = bottom + 44
    return (f'<svg class="chart" role="img" aria-label="{escape(name)}" viewBox="0 0 {W:.0f} {H:.0f}" '
            f'xmlns="http://www.w3.org/2000/svg" font-family="sans-serif">'
            f'<title>Median score per finger: {escape(force_name)} beside all forces</title>'
            f'{legend}{"".join(parts)}</svg>')
