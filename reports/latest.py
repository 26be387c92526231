"""Where the current reports are: for the morning summary of ``ifb1 batch``.

:func:`latest_reports` finds the newest report written by ``ifb1 report``
in a folder or its subfolders (``OUT/reports`` beside a batch's output is the
suggested place); :func:`reports_summary_line` is the one line a summary
prints about it. Nothing here reads the record or imports numpy.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ifb1.reports.build import MANIFEST, MANIFEST_SCHEMA


@dataclass(frozen=True)
class LatestReport:
    """The newest report in a folder: its overview page, when it was made, what it covers."""

    folder: Path
    index: Path
    generated_utc: str
    first_month: str | None
    last_month: str | None
    received_from: str | None
    received_to: str | None
    forms: int
    pages: int
    pdfs: int

    def to_dict(self) -> dict:
        """For a JSON summary (``ifb1 batch --json-summary``)."""
        return {"index": str(self.index), "generated_utc": self.generated_utc, "forms": self.forms,
                "received_from": self.received_from, "received_to": self.received_to,
                "first_month": self.first_month, "last_month": self.last_month, "pages": self.pages,
                "pdfs": self.pdfs}

    def made_before(self, moment_utc: str) -> bool:
        """Whether the report is older than ``moment_utc`` (ISO 8601 UTC, e.g. a batch's start)."""
        return _when(self.generated_utc) < _when(moment_utc)


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _read(folder: Path) -> LatestReport | None:
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        if not isinstance(data, dict) or data.get("schema") != MANIFEST_SCHEMA:
            return None
        index = folder / str(data["index"])
        if os.sep in str(data["index"]) or not index.is_file():
            return None
        period = data.get("period") or {}
        pages = data.get("pages") or []
        _when(str(data["generated_utc"]))
        return LatestReport(
            folder=folder, index=index, generated_utc=str(data["generated_utc"]),
            first_month=period.get("first_month"), last_month=period.get("last_month"),
            received_from=period.get("from"), received_to=period.get("to"), forms=int(data.get("forms", 0)),
            pages=len(pages), pdfs=sum(1 for p in pages if isinstance(p, dict) and p.get("pdf")),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def latest_reports(folder: str | os.PathLike[str], *, depth: int = 1) -> LatestReport | None:
    """The newest report under ``folder`` (itself and subfolders down to ``depth``), or None.

    Parameters
    ----------
    folder : path
        E.g. a batch's output folder; ``ifb1 report --out OUT/reports`` puts a report where
        this finds it.
    depth : int
        How many folder levels below ``folder`` are looked at (symlinked folders are not followed);
        1 finds ``OUT/reports`` without walking a batch's ``OUT/forms``.
    """
    root = Path(folder)
    found: list[LatestReport] = []
    level = [root]
    for d in range(depth + 1):
        nxt = []
        for f in level:
            r = _read(f)
            if r is not None:
                found.append(r)
            if d < depth:
                try:
                    nxt += [e for e in sorted(f.iterdir()) if e.is_dir() and not e.is_symlink()
                            and not e.name.startswith(".")]
                except OSError:
                    pass
        level = nxt
    return max(found, key=lambda r: _when(r.generated_utc), default=None)


def reports_summary_line(folder: str | os.PathLike[str], *, since_utc: str | None = None) -> str:
    """One line saying where the current quality reports are (or that there are none yet).

    Parameters
    ----------
    folder : path
        Where to look (:func:`latest_reports`).
    since_utc : str, optional
        The batch's start (ISO 8601 UTC): a report older than this is said to predate the batch.
    """
    r = latest_reports(folder)
    if r is None:
        return f"  quality reports: none under {folder} yet (ifb1 report --data DATA --out {Path(folder) / 'reports'})"
    if r.received_from or r.received_to:
        span = f"forms received {r.received_from or '...'} to {r.received_to or '...'}"
    elif r.first_month:
        span = f"forms received {r.first_month}" + ("" if r.last_month == r.first_month else f" to {r.last_month}")
    else:
        span = "no forms"
    stale = "; made before this batch: run ifb1 report again" if since_utc and r.made_before(since_utc) else ""
    return f"  quality reports: {r.index} (made {r.generated_utc}, {r.forms} form(s), {span}){stale}"
