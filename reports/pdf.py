"""Each report page as a PDF, through headless Chromium's print-to-PDF (the page's print CSS: A4 sheets).

Chromium is found as ``$IFB1_CHROMIUM``, else ``/usr/bin/chromium`` (Debian's
``chromium`` package), else ``chromium`` / ``chromium-browser`` /
``google-chrome`` on the PATH. It prints into a private temporary folder with
a throw-away profile; the PDF is then written owner-only beside the pages.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

CHROMIUM_ENV = "IFB1_CHROMIUM"
_CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome")
PRINT_TIMEOUT_S = 180.0


class PdfError(Exception):
    """PDFs cannot be made (no Chromium, or it failed), with a message saying what to do."""


def find_chromium() -> str | None:
    """The Chromium executable to print with, or None when there is none."""
    env = os.environ.get(CHROMIUM_ENV)
    if env:
        return env if os.access(env, os.X_OK) else None
    for name in _CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def print_to_pdf(html: Path, pdf: Path, *, chromium: str, timeout: float = PRINT_TIMEOUT_S) -> None:
    """Print one HTML file to ``pdf`` (owner-only, replaced atomically).

    Raises
    ------
    PdfError
        When Chromium fails or writes no PDF (its last error lines are in the message).
    """
    from ifb1.fileio import write_private_atomic

    with tempfile.TemporaryDirectory(prefix="ifb1-pdf-") as tmp:  # 0o700, removed afterwards
        out = Path(tmp) / "page.pdf"
        cmd = [
            chromium, "--headless", "--disable-gpu", "--no-first-run", "--disable-extensions",
            "--disable-background-networking", "--disable-sync", "--no-default-browser-check",
            # The pages are our own, script-free (their CSP forbids scripts and loads) and local;
            # Chromium's sandbox cannot start as root or in many containers.
            "--no-sandbox",
            f"--user-data-dir={Path(tmp) / 'profile'}", "--no-pdf-header-footer",
            f"--print-to-pdf={out}", html.resolve().as_uri(),
        ]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                                  env={**os.environ, "HOME": tmp})
        except subprocess.TimeoutExpired:
            raise PdfError(f"{html}: Chromium did not finish printing within {timeout:.0f} s") from None
        except OSError as exc:
            raise PdfError(f"{chromium}: cannot run Chromium ({exc.strerror})") from exc
        if not out.is_file() or out.stat().st_size == 0:
            tail = "; ".join(line for line in done.stderr.strip().splitlines()[-3:])
            raise PdfError(f"{html}: Chromium wrote no PDF (exit status {done.returncode}): {tail}")
        write_private_atomic(pdf, out.read_bytes())


def print_pages(pages: list[tuple[Path, Path]], *, workers: int = 2) -> None:
    """Print ``(html, pdf)`` pairs, a few at a time.

    Raises
    ------
    PdfError
        When no Chromium is installed, or printing a page fails.
    """
    chromium = find_chromium()
    if chromium is None:
        raise PdfError(
            "--pdf needs headless Chromium, and none was found (looked for $IFB1_CHROMIUM, /usr/bin/chromium, "
            "chromium, chromium-browser, google-chrome). Install it (Debian: apt-get install chromium) "
            "or leave out --pdf; the HTML pages were written."
        )
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for f in [pool.submit(print_to_pdf, html, pdf, chromium=chromium) for html, pdf in pages]:
            f.result()
