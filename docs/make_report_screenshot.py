"""Make the README's screenshot of an ``ifb1 report`` force page (generated data only).

Builds a synthetic record (:mod:`ifb1.samples.record`: invented forces, generated print images as
crops), writes the report, opens the largest force's page in Debian's headless Chromium through
Playwright at 1280 px wide and saves its summary and problems (the first two sections) to
``docs/img/report-force-page.png``. Needs the test extra (playwright) and ``/usr/bin/chromium``::

    .venv/bin/python docs/make_report_screenshot.py
"""

from __future__ import annotations

import sys
import tempfile
from datetime import date, datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "img" / "report-force-page.png"


def main() -> int:
    from playwright.sync_api import sync_playwright

    from ifb1.records import open_record
    from ifb1.reports import write_reports
    from ifb1.samples.record import fill_record, invented_forces, print_pool

    with tempfile.TemporaryDirectory(prefix="ifb1-screenshot-") as tmp:
        root = Path(tmp)
        pool = print_pool(root / "pool", seed=7, per_kind=4)
        with open_record(root / "data") as rec:
            fill_record(rec, n_forms=900, profiles=invented_forces(10, seed=7), start=date(2025, 1, 1), months=12,
                        seed=7, crops_dir=root / "out" / "forms", crop_pool=pool)
        outcome = write_reports(root / "data", root / "reports",
                                clock=lambda: datetime(2026, 1, 5, 7, 30, tzinfo=timezone.utc))
        figures = outcome.figures
        biggest = max((g for g in figures.groups if g.recorded), key=lambda g: g.forms)
        page_path = outcome.pages[biggest.name]
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.goto(page_path.as_uri())
            bottom = page.evaluate("document.querySelector('#problems').getBoundingClientRect().bottom + 20")
            page.screenshot(path=str(OUT), full_page=True, clip={"x": 0, "y": 0, "width": 1280, "height": bottom})
            browser.close()
    print(f"{OUT}: {biggest.name}, {biggest.forms} forms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
