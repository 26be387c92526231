"""``ifb1 report``: read the case record, compute the figures, write the pages (and PDFs, JSON).

The output folder holds one report, the latest: ``index.html`` (the national
overview), one ``force-....html`` per force (and ``force-not-recorded.html``
for the forms without a force), ``manifest.json`` listing them (what
:func:`ifb1.reports.latest_reports` reads), with ``--json`` ``report.json``
(the figures) and with ``--pdf`` ``pdf/<page>.pdf``. Files a previous report
listed in its manifest and this one does not write are removed, so the
folder never keeps an old page (pages with pictures hold personal data).
Every file is owner-only; the record is only read.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

MANIFEST = "manifest.json"
MANIFEST_SCHEMA = "ifb1-report-manifest/1"
JSON_SCHEMA = "ifb1-report/1"
FIGURES_JSON = "report.json"
INDEX = "index.html"
PDF_DIR = "pdf"
#: Problems per force page with example pictures, and pictures per problem.
EXAMPLE_PROBLEMS = 3
EXAMPLES_PER_PROBLEM = 4
# Only names this module writes are ever removed as stale.
_OURS = re.compile(r"^(index|force-[a-z0-9-]+)\.(html|pdf)$|^report\.json$")


class ReportError(Exception):
    """A report cannot be made as asked (bad period, unknown force), with a message saying why."""


@dataclass(frozen=True)
class ReportOutcome:
    """What :func:`write_reports` wrote.

    ``pages`` maps each group's name to its HTML file (``index`` is the
    overview); ``examples_shown`` / ``examples_skipped`` count the pictures
    put on pages and the candidates passed over (deleted forms, missing files).
    """

    out_dir: Path
    index: Path
    pages: dict[str, Path]
    pdfs: tuple[Path, ...]
    json_path: Path | None
    manifest: Path
    forms: int
    forces: int
    examples_shown: int
    examples_skipped: int
    seconds: float
    figures: object = field(repr=False, default=None)

    def text(self) -> str:
        """The lines ``ifb1 report`` prints."""
        lines = [f"ifb1 report: {self.forms} form(s), {self.forces} force(s) in {self.seconds:.1f} s",
                 f"  overview: {self.index}"]
        lines += [f"  {name}: {path}" for name, path in self.pages.items()]
        if self.examples_shown:
            lines.append(f"  {self.examples_shown} example print(s) on the force pages: they hold personal data "
                         "(owner-only files)")
        if self.examples_skipped:
            lines.append(f"  {self.examples_skipped} example(s) passed over: form deleted or crop file gone")
        if self.pdfs:
            lines.append(f"  {len(self.pdfs)} PDF(s) in {self.out_dir / PDF_DIR}")
        if self.json_path:
            lines.append(f"  figures: {self.json_path}")
        from ifb1.printable import printable

        return "\n".join(printable(line) for line in lines)


def parse_day(text: str, what: str) -> date:
    """A ``YYYY-MM-DD`` date.

    Raises
    ------
    ReportError
        Naming the option and the text.
    """
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ReportError(f"{what} must be a date as YYYY-MM-DD, got {text!r}") from None


def _utc_text(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _human_time(moment: datetime) -> str:
    m = moment.astimezone(timezone.utc)
    from ifb1.reports.html import long_date

    return f"{long_date(m.date().isoformat())}, {m:%H:%M} UTC"


def _select(figures, forces: Sequence[str]):
    from ifb1.reports.figures import NOT_RECORDED

    if not forces:
        return list(figures.groups)
    chosen, unknown = [], []
    for name in forces:
        wanted = None if " ".join(name.split()).casefold() == NOT_RECORDED else name
        try:
            g = figures.group(wanted)
        except KeyError:
            unknown.append(name)
            continue
        if g not in chosen:
            chosen.append(g)
    if unknown:
        known = ", ".join(g.name for g in figures.groups) or "none"
        raise ReportError(f"--force {', '.join(repr(u) for u in unknown)}: no form from such a force in the "
                          f"period (forces: {known})")
    return chosen


def _previous_files(out: Path) -> set[str]:
    try:
        data = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    if not isinstance(data, dict) or data.get("schema") != MANIFEST_SCHEMA:
        return set()
    files = data.get("files", [])
    return {f for f in files if isinstance(f, str)}


def _remove_stale(out: Path, previous: set[str], written: set[str]) -> None:
    for rel in sorted(previous - written):
        parts = rel.split("/")
        ok = (len(parts) == 1 and _OURS.match(parts[0])) or (
            len(parts) == 2 and parts[0] == PDF_DIR and _OURS.match(parts[1]) and parts[1].endswith(".pdf"))
        if not ok:
            continue  # never a name this module does not write
        path = out / rel
        if path.is_file() and not path.is_symlink():
            path.unlink()


def write_reports(
    data_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    received_from: date | None = None,
    received_to: date | None = None,
    forces: Sequence[str] = (),
    examples: bool = True,
    pdf: bool = False,
    json_figures: bool = False,
    policy=None,
    clock: Callable[[], datetime] | None = None,
) -> ReportOutcome:
    """Write the quality reports of a period from the case record.

    Parameters
    ----------
    data_dir : path
        The data folder holding the record; opened read-only.
    out_dir : path
        Where the pages go (created owner-only); it holds the latest report.
    received_from, received_to : date, optional
        The period (inclusive), by the date each form was received (UTC).
    forces : sequence of str
        Write pages only for these forces (case and spacing do not matter;
        ``"force not recorded"`` names the forms without a force); the
        overview and the national figures always cover every force.
    examples : bool
        Put example prints (thumbnails of the worst prints) on the force pages.
    pdf : bool
        Also print every page to ``pdf/`` through headless Chromium.
    json_figures : bool
        Also write the figures to ``report.json``.
    policy : ifb1.pipeline.policy.Policy, optional
        The verdict rule (threshold, defects allowed); the bundled default policy when None.
    clock : callable, optional
        The current time (timezone-aware), for tests.

    Returns
    -------
    ReportOutcome

    Raises
    ------
    ReportError
        A period that ends before it starts, or an unknown force.
    ifb1.records.RecordError
        No record in ``data_dir`` (or one this ifb1 cannot read).
    ifb1.reports.pdf.PdfError
        ``pdf`` without Chromium, or Chromium failing (the HTML pages are written first).
    """
    from ifb1.fileio import make_private_dirs, write_private_atomic
    from ifb1.records import open_record
    from ifb1.records.queries import live_crops, quality_facts
    from ifb1.reports import charts, html
    from ifb1.reports.advice import MISSING
    from ifb1.reports.examples import pick_examples
    from ifb1.reports.figures import compute_figures
    from ifb1.reports.hands import hands_svg

    t0 = time.perf_counter()
    if received_from and received_to and received_to < received_from:
        raise ReportError(f"--to {received_to} is before --from {received_from}")
    if policy is None:
        from ifb1.pipeline.policy import load_policy

        policy = load_policy()
    vp = policy.verdict
    now = (clock or (lambda: datetime.now(timezone.utc)))()
    start = received_from.isoformat() if received_from else None
    before = (received_to + timedelta(days=1)).isoformat() if received_to else None

    with open_record(data_dir, readonly=True) as rec:
        forms, prints = quality_facts(rec, received_from=start, received_before=before)
        figures = compute_figures(
            forms, prints, min_quality=vp.min_quality, max_defective_rolled=vp.max_defective_rolled,
            annotated_missing_is_defect=vp.annotated_missing_is_defect, unscored_is_defect=vp.unscored_is_defect,
            received_from=received_from, received_to=received_to)
        chosen = _select(figures, forces)
        wanted: dict[str, list[str]] = {}
        live: dict[int, set[str]] = {}
        if examples:
            for g in chosen:
                wanted[g.slug] = [p.code for p in g.problems if p.code != MISSING and g.examples.get(p.code)
                                  ][:EXAMPLE_PROBLEMS]
            keys = {c.form_key for g in chosen for code in wanted[g.slug] for c in g.examples[code]}
            live = live_crops(rec, keys)
    del forms, prints

    out = make_private_dirs(out_dir)
    previous = _previous_files(out)
    written: dict[str, bytes] = {}
    pages: dict[str, Path] = {}
    shown = skipped = 0
    generated = _human_time(now)
    nat = figures.national
    ranked_total = sum(1 for g in figures.groups if g.recorded)
    page_examples: dict[str, dict[str, int]] = {}
    # The pictures are decoded on two threads (OpenCV releases the GIL) while this one draws the charts.
    with ThreadPoolExecutor(max_workers=2) as pool, ThreadPoolExecutor(max_workers=1) as boss:
        picking = boss.submit(
            pick_examples, {(g.slug, code): g.examples[code] for g in chosen for code in wanted.get(g.slug, ())},
            live, limit=EXAMPLES_PER_PROBLEM, pool=pool)
        trend = charts.TrendChart(figures.months, nat)
        try:
            trends = {g.slug: trend.svg(g, name=f"{g.slug}-trend") for g in chosen}
            national_trend = trend.svg(nat, name="national-trend")
        finally:
            trend.close()
        picked = picking.result()
    for g in chosen:
        thumbs: dict[str, tuple] = {}
        g_skipped = 0
        for code in wanted.get(g.slug, ()):
            thumbs[code], k = picked[(g.slug, code)]
            g_skipped += k
        shown += sum(len(v) for v in thumbs.values())
        skipped += g_skipped
        page_examples[g.slug] = {c: len(v) for c, v in thumbs.items() if v}
        page = html.force_page(
            figures, g,
            hands=hands_svg(g.positions, threshold=figures.threshold, title=f"{g.name}: print quality by finger"),
            trend=trends[g.slug],
            fingers=charts.fingers_svg(g.positions, nat.positions, threshold=figures.threshold,
                                       force_name=g.name if g.recorded else "No force",
                                       name=f"{g.slug}-fingers"),
            thumbs=thumbs, skipped=g_skipped, generated=generated, ranked_total=ranked_total)
        written[f"{g.slug}.html"] = page.encode("utf-8")
        pages[g.name if g.recorded else "force not recorded"] = out / f"{g.slug}.html"
    index = html.overview_page(
        figures, pages={g.slug for g in chosen},
        hands=hands_svg(nat.positions, threshold=figures.threshold, title="All forces: print quality by finger"),
        trend=national_trend, generated=generated)
    written[INDEX] = index.encode("utf-8")

    json_path = None
    if json_figures:
        groups = []
        for g in figures.groups:
            d = g.to_dict()
            if g.slug not in page_examples:
                d["page"] = None
            d["examples_shown"] = page_examples.get(g.slug, {})
            groups.append(d)
        doc = {
            "schema": JSON_SCHEMA, "generated_utc": _utc_text(now),
            "period": {"from": figures.received_from, "to": figures.received_to, "months": list(figures.months)},
            "rule": {"threshold": figures.threshold, "max_defective_rolled": figures.max_defective_rolled,
                     "policy": policy.source},
            "national": nat.to_dict(), "forces": groups,
        }
        written[FIGURES_JSON] = (json.dumps(doc, indent=1, ensure_ascii=False) + "\n").encode("utf-8")
        json_path = out / FIGURES_JSON

    for name, data in written.items():
        write_private_atomic(out / name, data)
    files = set(written)
    pdfs: list[Path] = []
    if pdf:
        from ifb1.reports.pdf import print_pages

        make_private_dirs(out / PDF_DIR)
        jobs = [(out / name, out / PDF_DIR / (Path(name).stem + ".pdf")) for name in written if name.endswith(".html")]
        print_pages(jobs)
        pdfs = [p for _, p in jobs]
        files |= {f"{PDF_DIR}/{p.name}" for p in pdfs}
    _remove_stale(out, previous, files)
    manifest = {
        "schema": MANIFEST_SCHEMA, "generated_utc": _utc_text(now),
        "period": {"from": figures.received_from, "to": figures.received_to,
                   "first_month": figures.months[0] if figures.months else None,
                   "last_month": figures.months[-1] if figures.months else None},
        "forms": nat.forms, "index": INDEX,
        "pages": [{"force": g.name if g.recorded else None, "file": f"{g.slug}.html",
                   "pdf": f"{PDF_DIR}/{g.slug}.pdf" if pdf else None,
                   "personal_data": bool(page_examples.get(g.slug))} for g in chosen],
        "files": sorted(files),
    }
    mpath = out / MANIFEST
    write_private_atomic(mpath, (json.dumps(manifest, indent=1, ensure_ascii=False) + "\n").encode("utf-8"))
    return ReportOutcome(
        out_dir=out, index=out / INDEX, pages=pages, pdfs=tuple(pdfs), json_path=json_path, manifest=mpath,
        forms=nat.forms, forces=ranked_total, examples_shown=shown, examples_skipped=skipped,
        seconds=time.perf_counter() - t0, figures=figures)
