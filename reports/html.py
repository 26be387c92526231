"""The report's pages as self-contained HTML: one stylesheet inlined, charts and pictures inline.

Every text from the record (force names above all) is escaped. Each page
carries a Content-Security-Policy that forbids loading anything (``default-src
'none'``; pictures only as ``data:`` URIs), so a page opened from a mail
attachment fetches nothing and runs nothing. On paper (print CSS) each
``<section class="page">`` is one A4 sheet.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from html import escape
from importlib import resources

from ifb1.reports.figures import GroupFigures, ReportFigures, Share

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
PERSONAL_DATA_NOTICE = (
    "<strong>Personal data.</strong> This page shows fingerprint images of the people printed "
    "(special category personal data). Keep it on secure systems, send it only by the secure route "
    "agreed with NSEC, and delete it when it is no longer needed."
)
_MONTH_NAMES = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
                "October", "November", "December")


@lru_cache(maxsize=1)
def stylesheet() -> str:
    """The report stylesheet shipped with the package (``report.css``)."""
    return resources.files("ifb1.reports").joinpath("report.css").read_text(encoding="utf-8")


def pct(value: float | None, digits: int = 0) -> str:
    """``0.123`` -> ``"12%"``; ``"–"`` for None."""
    if value is None:
        return "–"
    return f"{100 * value:.{digits}f}%"


def score(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f}"


def long_date(text: str) -> str:
    """``"2025-03-01"`` -> ``"1 March 2025"``."""
    y, m, d = int(text[:4]), int(text[5:7]), int(text[8:10])
    return f"{d} {_MONTH_NAMES[m - 1]} {y}"


def period_text(fig: ReportFigures) -> str:
    """The period in words, from the options given or else from the months covered."""
    if fig.received_from and fig.received_to:
        return f"Forms received {long_date(fig.received_from)} to {long_date(fig.received_to)}"
    if fig.received_from:
        return f"Forms received from {long_date(fig.received_from)}"
    if fig.received_to:
        return f"Forms received up to {long_date(fig.received_to)}"
    if fig.months:
        first, last = fig.months[0], fig.months[-1]
        a = f"{_MONTH_NAMES[int(first[5:7]) - 1]} {first[:4]}"
        b = f"{_MONTH_NAMES[int(last[5:7]) - 1]} {last[:4]}"
        return f"All forms in the record, received {a}" + ("" if a == b else f" to {b}")
    return "All forms in the record (none received yet)"


def interval_svg(s: Share, national: Share | None = None) -> str:
    """A small 0-100 % scale with the share's 95 % interval (bar), the share (dot) and the country's (tick)."""
    w, h, x0, x1 = 120, 16, 4, 116

    def x(v: float) -> float:
        return x0 + (x1 - x0) * v

    parts = [f'<line x1="{x0}" x2="{x1}" y1="8" y2="8" stroke="#c7ccd2" stroke-width="2"/>']
    if s.total:
        parts.append(f'<rect x="{x(s.low):.1f}" y="4" width="{max(1.5, x(s.high) - x(s.low)):.1f}" height="8" '
                     f'rx="2" fill="#f4a582"/>')
        parts.append(f'<circle cx="{x(s.value or 0.0):.1f}" cy="8" r="3.6" fill="#b2182b"/>')
    if national is not None and national.total:
        nx = x(national.value or 0.0)
        parts.append(f'<line x1="{nx:.1f}" x2="{nx:.1f}" y1="1" y2="15" stroke="#333" stroke-width="1.4"/>')
    label = (f"{pct(s.value)} (95% range {pct(s.low)} to {pct(s.high)})" if s.total else "no forms")
    return (f'<svg class="interval" viewBox="0 0 {w} {h}" xmlns="http://www.w3.org/2000/svg" role="img">'
            f'<title>{escape(label)}</title>{"".join(parts)}</svg>')


def document(*, title: str, kicker: str, heading: str, period: str, nav: str, sections: list[str],
             footer: str) -> str:
    """A whole page."""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en-GB"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="referrer" content="no-referrer">'
        f"<title>{escape(title)}</title><style>{stylesheet()}</style></head><body>"
        f'<header class="masthead"><div class="inner">{nav}<div class="kicker">{escape(kicker)}</div>'
        f"<h1>{escape(heading)}</h1><div class=\"period\">{escape(period)}</div></div></header>"
        f"<main>{''.join(sections)}</main><footer>{footer}</footer></body></html>\n"
    )


def _card(label: str, value: str, sub: str, cls: str = "") -> str:
    return (f'<div class="card {cls}"><div class="label">{escape(label)}</div>'
            f'<div class="value">{escape(value)}</div><div class="sub">{sub}</div></div>')


def cards(g: GroupFigures, national: GroupFigures | None, threshold: int) -> str:
    """The key figures of a group, each beside the country's where it has one."""
    beside = national is not None and national is not g

    def vs(value: str) -> str:
        return f" · all forces {escape(value)}" if beside else ""

    worse = beside and g.poor_forms.value is not None and national.poor_forms.value is not None \
        and g.poor_forms.value > national.poor_forms.value
    pending = f" (and {g.deletion_pending} under way)" if g.deletion_pending else ""
    return '<div class="cards">' + "".join([
        _card("Forms received", f"{g.forms}", f"{g.originals} original(s) · {g.copies} scanned cop{'y' if g.copies == 1 else 'ies'}"),
        _card("Forms with poor prints", pct(g.poor_forms.value),
              f"{g.poor_forms.count} of {g.poor_forms.total} forms{vs(pct(national.poor_forms.value) if national else '')}",
              "alert" if worse else ""),
        _card("Poor rolled prints", pct(g.poor_prints.value),
              f"{g.poor_prints.count} of {g.poor_prints.total} prints{vs(pct(national.poor_prints.value) if national else '')}"),
        _card("Median print score", score(g.median),
              f"NFIQ 2, 0-100{vs(score(national.median) if national else '')} · threshold {threshold}"),
        _card("Unsuitable copies deleted", f"{g.deleted}", f"deletion dates are in the case record{pending}"),
        _card("Barcode not read", f"{g.manual_entries}", "form id entered by hand (manual entry)"),
    ]) + "</div>"


def verdict_bar(g: GroupFigures) -> str:
    """The verdicts as one stacked bar with a legend."""
    parts, legend = [], []
    for cls, label, n in (("suitable", "suitable", g.suitable), ("review", "review", g.review),
                          ("unsuitable", "unsuitable", g.unsuitable), ("undecided", "not yet decided", g.undecided)):
        if g.forms and n:
            parts.append(f'<span class="{cls}" style="width:{100 * n / g.forms:.2f}%" title="{label}: {n}"></span>')
        if n or cls != "undecided":
            legend.append(f'<li><i class="{cls}"></i>{label} <b>{n}</b> ({pct(n / g.forms if g.forms else None)})</li>')
    return (f'<div class="verdicts"><div class="bar" role="img" aria-label="verdicts">{"".join(parts)}</div>'
            f'<ul class="legend">{"".join(legend)}</ul></div>')


def problems_table(g: GroupFigures, *, threshold: int, limit: int = 6) -> str:
    """The problems that cost most, each with its advice."""
    rows = g.problems[:limit]
    if not rows:
        return "<p>No problems were found in the rolled prints.</p>"
    body = []
    for p in rows:
        bar = (f'<span class="share-bar" title="{pct(p.share_of_poor)} of the poor prints">'
               f'<b style="width:{100 * (p.share_of_poor or 0):.1f}%"></b></span>') if p.share_of_poor else ""
        body.append(f'<tr><td class="what">{escape(p.label)}</td><td class="num">{p.prints}</td>'
                    f'<td class="num">{p.poor}{bar}</td><td class="advice">{escape(p.advice)}</td></tr>')
    more = len(g.problems) - len(rows)
    tail = f'<p class="note">{more} rarer problem(s) not shown (in report.json).</p>' if more > 0 else ""
    return ('<table class="problems"><thead><tr><th>Problem</th><th class="num">Rolled prints</th>'
            f'<th class="num">Poor prints (&lt; {threshold} or missing)</th><th>What to do</th></tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>'
            '<p class="note">A print can have more than one problem. "Poor prints" are those the problem '
            'cost: scored below the threshold, not scored, or missing.</p>' + tail)


def fingers_table(g: GroupFigures, national: GroupFigures, *, threshold: int) -> str:
    """Per finger position: prints scored, median, share below the threshold, beside all forces."""
    nat = {p.position: p for p in national.positions}
    rows = []
    for p in g.positions:
        if p.position > 12 and p.scored == 0:
            continue  # four-finger slaps are not scored (yet)
        n = nat[p.position]
        rows.append(f'<tr><td>{escape(p.name)}</td><td class="num">{p.scored}</td><td class="num">{score(p.median)}</td>'
                    f'<td class="num">{pct(p.below.value)}</td><td class="num">{p.missing_unannotated}</td>'
                    f'<td class="num">{score(n.median)}</td><td class="num">{pct(n.below.value)}</td></tr>')
    return ('<table class="fingers"><thead><tr><th>Finger</th><th class="num">Prints scored</th>'
            f'<th class="num">Median</th><th class="num">Below {threshold}</th><th class="num">Missing, no reason</th>'
            '<th class="num">All forces median</th><th class="num">All forces below</th></tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>')


def examples_section(g: GroupFigures, thumbs: Mapping[str, tuple], skipped: int, *, threshold: int) -> str:
    """The example prints by problem (empty string when there is none to show)."""
    blocks = []
    labels = {p.code: p for p in g.problems}
    for code, items in thumbs.items():
        if not items:
            continue
        p = labels[code]
        figs = []
        for t in items:
            poor = t.quality is None or t.quality < threshold
            sc = "no score" if t.quality is None else f"score {t.quality:.0f}"
            figs.append(f'<figure class="thumb"><img src="{t.data_uri}" width="{t.width}" height="{t.height}" '
                        f'alt="{escape(p.label)}: {escape(t.name)}, {sc}">'
                        f'<figcaption>{escape(t.name)} · <span class="score{" poor" if poor else ""}">{sc}</span>'
                        f'<br><span class="muted">received {escape(t.month)}</span></figcaption></figure>')
        blocks.append(f'<div class="problem"><h3>{escape(p.label)}</h3><p>{escape(p.advice)}</p>'
                      f'<div class="thumbs">{"".join(figs)}</div></div>')
    if not blocks:
        return ""
    note = (f'<p class="note">{skipped} example(s) could not be shown: their forms were deleted or their '
            'files are gone.</p>') if skipped else ""
    return (f'<section class="page examples" id="examples"><h2>What it looks like: the worst prints</h2>'
            f'<div class="notice">{PERSONAL_DATA_NOTICE}</div>{"".join(blocks)}{note}</section>')


def force_page(fig: ReportFigures, g: GroupFigures, *, hands: str, trend: str, fingers: str,
               thumbs: Mapping[str, tuple], skipped: int, generated: str, ranked_total: int) -> str:
    """One force's page (or the page of the forms without a force)."""
    t = fig.threshold
    nat = fig.national
    pictures = any(thumbs.values())
    notice = f'<div class="notice">{PERSONAL_DATA_NOTICE}</div>' if pictures else ""
    if g.recorded and g.rank is not None:
        rank = (f"<p>Rank <b>{g.rank}</b> of {ranked_total} forces by forms with poor prints "
                "(1 = most; ranked on the lower end of the 95% range, so a force with few forms is placed "
                "high only when the evidence is strong).</p>")
    else:
        rank = ("<p>These forms came without a force in the batch manifest. Give the force in the manifest "
                "(column <code>force</code>) so that each force gets its own report.</p>")
    interval = (f"<p>Forms with poor prints: {interval_svg(g.poor_forms, nat.poor_forms)} "
                f"{pct(g.poor_forms.value)}, 95% range {pct(g.poor_forms.low)} to {pct(g.poor_forms.high)} "
                f"(black tick: all forces, {pct(nat.poor_forms.value)}).</p>")
    summary = (
        f'<section class="page" id="summary"><h2>Summary</h2>{notice}{cards(g, nat, t)}'
        f'<div class="summary-grid"><div><h3>Verdicts</h3>{verdict_bar(g)}{interval}{rank}'
        f'<p class="note">A form has poor prints when more than {fig.max_defective_rolled} of its ten rolled '
        f'prints score below {t} or are missing without a reason (or it was found unsuitable). Such a form '
        'needs new prints.</p></div>'
        f'<figure>{hands}<figcaption>Each finger: the median NFIQ 2 score of its rolled prints (big number) '
        f'and the share scoring below {t} (poor). Red: most prints poor; blue: good. Hands seen from above, '
        'palms down.</figcaption></figure></div></section>'
    )
    problems = (
        f'<section class="page" id="problems"><h2>What goes wrong, and how to fix it</h2>'
        f'{problems_table(g, threshold=t)}'
        f'<h3>Month by month</h3><figure class="trend">{trend}<figcaption>Share of rolled prints that are poor '
        '(line) and forms received (bars), each month.</figcaption></figure></section>'
    )
    compare = (
        f'<section class="page" id="fingers"><h2>Finger by finger, beside all forces</h2>'
        f'<figure class="fingers">{fingers}<figcaption>Median score per finger: this force (dot) and all forces '
        f'(grey bar).</figcaption></figure>{fingers_table(g, nat, threshold=t)}</section>'
    )
    sections = [summary, problems, compare]
    ex = examples_section(g, thumbs, skipped, threshold=t)
    if ex:
        sections.append(ex)
    nav = '<div class="nav"><a href="index.html">All forces</a></div>'
    return document(
        title=f"{g.name}: fingerprint quality", kicker="IFB1 fingerprint quality report",
        heading=g.name if g.recorded else "Force not recorded", period=period_text(fig), nav=nav,
        sections=sections, footer=_footer(fig, generated, g.scorers),
    )


def _footer(fig: ReportFigures, generated: str, scorers: Mapping[str, int]) -> str:
    used = ", ".join(f"{'NIST NFIQ 2' if k == 'nist' else 'ifb1 fast NFIQ 2'} {v}" for k, v in scorers.items())
    return (f"Made by ifb1 on {escape(generated)} from the case record. Threshold {fig.threshold} "
            f"(verdict policy min_quality). Scores of rolled prints by scorer: {escape(used or 'none')}.")


def overview_page(fig: ReportFigures, *, pages: set[str], hands: str, trend: str, generated: str) -> str:
    """The national overview: forces ranked, with counts and confidence, linking to each page."""
    nat = fig.national
    rows = []
    for g in fig.groups:
        name = escape(g.name if g.recorded else "Force not recorded")
        link = f'<a href="{g.slug}.html">{name}</a>' if g.slug in pages else name
        rows.append(
            f'<tr class="{"" if g.recorded else "unranked"}"><td class="num">{g.rank if g.rank else "–"}</td>'
            f'<td class="name">{link}</td><td class="num">{g.forms}</td><td class="num">{g.originals} / {g.copies}</td>'
            f'<td class="num">{g.poor_forms.count} ({pct(g.poor_forms.value)})</td>'
            f'<td>{interval_svg(g.poor_forms, nat.poor_forms)}</td>'
            f'<td class="num">{pct(g.poor_prints.value)}</td><td class="num">{score(g.median)}</td>'
            f'<td class="num">{g.unsuitable}</td><td class="num">{g.deleted}</td>'
            f'<td class="num">{g.manual_entries}</td></tr>')
    table = (
        '<div class="table-wrap"><table class="ranking"><thead><tr><th class="num">Rank</th><th>Force</th>'
        '<th class="num">Forms</th><th class="num">Originals / copies</th><th class="num">Forms with poor prints</th>'
        '<th>95% range</th><th class="num">Poor rolled prints</th><th class="num">Median score</th>'
        '<th class="num">Unsuitable</th><th class="num">Deleted</th><th class="num">Manual entry</th></tr></thead>'
        f'<tbody>{"".join(rows)}</tbody></table></div>'
    )
    ranked = sum(1 for g in fig.groups if g.recorded)
    s1 = (
        f'<section class="page" id="ranking"><h2>Forces ranked by forms with poor prints</h2>'
        f'{cards(nat, None, fig.threshold)}{table}'
        f'<p class="note">{ranked} force(s). Ranked by the lower end of the 95% range (Wilson interval) of the '
        'share of forms with poor prints, so a force with 3 forms is not placed like one with 300: the bar is '
        'the range, the dot the force\'s share, the black tick all forces. A form has poor prints when more than '
        f'{fig.max_defective_rolled} of its ten rolled prints score below {fig.threshold} or are missing without '
        'a reason, or it was found unsuitable. Forms without a force are listed, never ranked.</p></section>'
    )
    s2 = (
        f'<section class="page" id="national"><h2>All forces together</h2>'
        f'<figure>{hands}<figcaption>Median NFIQ 2 score of each finger\'s rolled prints and the share below '
        f'{fig.threshold}, all forces.</figcaption></figure>'
        f'<h3>Month by month</h3><figure>{trend}<figcaption>Share of rolled prints that are poor, all forces.'
        '</figcaption></figure></section>'
    )
    return document(
        title="IFB1 fingerprint quality by force", kicker="IFB1 fingerprint quality report · national overview",
        heading="Fingerprint quality by police force", period=period_text(fig), nav="",
        sections=[s1, s2], footer=_footer(fig, generated, nat.scorers),
    )
