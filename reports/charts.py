"""The report's charts: matplotlib (Agg backend) rendered to inline SVG.

Text stays text in the SVG (``svg.fonttype = "none"``, the browser's own
sans-serif), so a chart is small and needs no font file; the ids inside each
chart are salted with the chart's name so that several charts on one page
never share an id.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence

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


def _svg(fig, name: str) -> str:
    """The figure as an ``<svg>`` element for inlining (no XML prolog, scales with its container)."""
    plt = _pyplot()
    plt.rcParams["svg.hashsalt"] = name
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None}, bbox_inches="tight", pad_inches=0.05)
    plt.close(fig)
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


def trend_svg(group: GroupFigures, national: GroupFigures | None, *, name: str) -> str:
    """Month by month: the share of poor rolled prints, the group beside the whole country.

    The forms received each month are light bars (right-hand scale); a month
    without forms from the group leaves a gap in its line.
    """
    plt = _pyplot()
    months = [m.month for m in group.months]
    fig, ax = plt.subplots(figsize=(7.2, 2.9))
    xs = list(range(len(months)))
    alone = national is None or national is group

    def pct(ms):
        return [float("nan") if m.poor_prints.value is None else 100 * m.poor_prints.value for m in ms]

    counts = ax.twinx()
    counts.bar(xs, [m.forms for m in group.months], width=0.6, color="#e3e8ee", zorder=0)
    counts.set_ylim(0, max([m.forms for m in group.months] + [1]) * 2.2)
    counts.set_ylabel("forms received", color="#7a8593", fontsize=8.5)
    counts.tick_params(axis="y", colors="#7a8593", labelsize=8)
    counts.spines["right"].set_visible(True)
    counts.spines["right"].set_color("#c0c7cf")
    ax.set_zorder(counts.get_zorder() + 1)
    ax.patch.set_visible(False)
    if not alone:
        ax.plot(xs, pct(national.months), color=NATIONAL_COLOUR, linestyle="--", marker="o", markersize=3.5,
                linewidth=1.5, label="All forces")
    ax.plot(xs, pct(group.months), color=FORCE_COLOUR, marker="o", markersize=5, linewidth=2.2,
            label="All forces" if alone else group.name)
    step = max(1, (len(months) + 11) // 12)
    labels = []
    for i, m in enumerate(months):
        short = month_label(m).split()[0]
        labels.append(f"{short}\n{m[:4]}" if i == 0 or m.endswith("-01") else short)
    ax.set_xticks(xs[::step])
    ax.set_xticklabels(labels[::step], fontsize=8.5)
    ax.set_ylabel("poor rolled prints (%)")
    top = max([v for v in pct(group.months) + ([] if alone else pct(national.months)) if v == v] or [0.0])
    ax.set_ylim(0, max(10.0, min(100.0, top * 1.25 + 2)))
    ax.set_xlim(-0.5, len(months) - 0.5)
    ax.grid(axis="y", color="#e0e0e0", linewidth=0.8)
    ax.set_axisbelow(True)
    handles, texts = ax.get_legend_handles_labels()
    from matplotlib.patches import Patch

    handles.append(Patch(color="#e3e8ee", label="forms received"))
    ax.legend(handles=handles, loc="lower left", bbox_to_anchor=(0.0, 1.0), frameon=False, fontsize=8.5, ncol=3)
    return _svg(fig, name)


def fingers_svg(group: Sequence[PositionFigures], national: Sequence[PositionFigures], *, threshold: int,
                force_name: str, name: str) -> str:
    """Per rolled finger: the group's median score (dot) beside the national median (grey bar)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.2, 3.0))
    rows = [p for p in group if p.position <= ROLLED]
    nat = {p.position: p for p in national}
    ys = list(range(len(rows)))[::-1]
    for y, p in zip(ys, rows):
        n = nat.get(p.position)
        if n is not None and n.median is not None:
            ax.barh(y, n.median, height=0.55, color="#d9d9d9", edgecolor="none")
        if p.median is not None:
            ax.plot([p.median], [y], "o", color=FORCE_COLOUR, markersize=8)
            ax.text(p.median + 2.0, y, f"{p.median:.0f}", va="center", fontsize=8.5, color=FORCE_COLOUR)
    ax.axvline(threshold, color=THRESHOLD_COLOUR, linewidth=1.2, linestyle=":")
    ax.set_yticks(ys)
    ax.set_yticklabels([p.name for p in rows], fontsize=9)
    ax.set_xlim(0, 100)
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.set_xlabel("NFIQ 2 score (0-100, higher is better)")
    ax.grid(axis="x", color="#eeeeee", linewidth=0.8)
    ax.set_axisbelow(True)
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [Line2D([], [], marker="o", linestyle="none", color=FORCE_COLOUR, markersize=8,
                      label=f"{force_name}: median"),
               Patch(color="#d9d9d9", label="All forces: median"),
               Line2D([], [], color=THRESHOLD_COLOUR, linestyle=":", linewidth=1.2, label=f"threshold {threshold}")]
    ax.legend(handles=handles, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=3, frameon=False, fontsize=8.5)
    return _svg(fig, name)
