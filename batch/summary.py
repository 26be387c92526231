"""The batch's progress line and its morning summary.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

from typing import TextIO


class Progress:
    """A one-line progress bar on a TTY, else a line every ``every`` seconds."""

    def __init__(self, total: int, *, stream: TextIO | None = None, tty: bool | None = None, every: float = 30.0):
        self.total = total
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.every = every
        self.start = time.monotonic()
        self.last = self.start
        self.done = 0

    def note(self, text: str) -> None:
        """A line of its own (e.g. what the batch is about to do)."""
        from ifb1.printable import printable

        self.stream.write(printable(text) + "\n")
        self.stream.flush()

    def update(self, done: int, note: str = "") -> None:
        from ifb1.printable import printable

        note = printable(note)
        self.done = done
        now = time.monotonic()
        if not self.tty and now - self.last < self.every and done < self.total:
            return
        self.last = now
        elapsed = now - self.start
        rate = done / elapsed if elapsed > 0 else 0.0
        left = (self.total - done) / rate if rate > 0 else None
        eta = "--:--" if left is None else _hms(left)
        if self.tty:
            width = 28
            fill = int(width * done / self.total) if self.total else width
            line = (f"\r[{'#' * fill}{'.' * (width - fill)}] {done}/{self.total} forms "
                    f"{rate * 60:.1f}/min, {eta} left {note[:40]:<40}")
            self.stream.write(line)
        else:
            self.stream.write(f"progress: {done}/{self.total} forms, {rate * 60:.1f}/min, about {eta} left\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty and self.total:
            self.stream.write("\n")
            self.stream.flush()



def _hms(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600:d}:{s // 60 % 60:02d}:{s % 60:02d}"



@dataclass(frozen=True)
class FileOutcome:
    """One file of the tray and what the batch did with it.

    ``action``: ``"processed"``, ``"skipped"`` (already in the record),
    ``"duplicate"`` (same bytes as another file of this tray), ``"failed"``,
    ``"ignored"`` (not a scan).
    """

    file: str
    action: str
    sha256: str | None = None
    form_key: int | None = None
    form_id: str | None = None
    verdict: str | None = None
    reasons: tuple[str, ...] = ()
    export: str | None = None  # export action (see ExportOutcome)
    export_path: str | None = None
    error: str | None = None
    flagged_copy: bool = False  # another file of an unsuitable copy's scan, registered for deletion
    note: str | None = None

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}



@dataclass(frozen=True)
class BatchSummary:
    """The outcome of one batch run (``to_dict`` is the ``--json-summary``)."""

    tray: str
    out: str
    data: str
    started_utc: str
    finished_utc: str
    seconds: float
    workers: int
    files: tuple[FileOutcome, ...]
    stage_seconds: dict = field(default_factory=dict)
    housekeeping: dict = field(default_factory=dict)

    def _with(self, action: str) -> list[FileOutcome]:
        return [f for f in self.files if f.action == action]

    @property
    def failures(self) -> list[FileOutcome]:
        """Files that failed, and forms whose export failed."""
        return [f for f in self.files
                if f.action == "failed" or f.export == "failed" or (f.action in ("processed", "skipped") and f.error)]

    @property
    def ok(self) -> bool:
        return not self.failures

    def counts(self) -> dict:
        verdicts: dict[str, int] = {}
        for f in self._with("processed"):
            verdicts[f.verdict] = verdicts.get(f.verdict, 0) + 1
        processed = self._with("processed")
        return {
            "files": len(self.files),
            "processed": len(processed),
            "skipped": len(self._with("skipped")),
            "duplicate": len(self._with("duplicate")),
            "failed": len(self._with("failed")),
            "ignored": len(self._with("ignored")),
            "verdicts": dict(sorted(verdicts.items())),
            "exported": sum(f.export in ("exported", "completed") for f in self.files),
            "export_failed": sum(f.export == "failed" for f in self.files),
            "export_held": sum(f.export == "held" for f in self.files),
            "awaiting_review": sum(f.verdict == "review" for f in processed),
            "flagged_for_deletion": sum(f.verdict == "unsuitable" for f in processed),
            "other_files_flagged_for_deletion": sum(f.flagged_copy for f in self.files),
        }

    def to_dict(self) -> dict:
        n = len(self._with("processed"))
        return {
            "schema": "ifb1-batch-summary/1",
            "tray": self.tray,
            "out": self.out,
            "data": self.data,
            "started_utc": self.started_utc,
            "finished_utc": self.finished_utc,
            "seconds": round(self.seconds, 3),
            "seconds_per_form": round(self.seconds / n, 3) if n else None,
            "workers": self.workers,
            "ok": self.ok,
            "counts": self.counts(),
            "stage_seconds": {k: round(v, 3) for k, v in self.stage_seconds.items()},
            "housekeeping": self.housekeeping,
            "failures": [{"file": f.file, "error": f.error} for f in self.failures],
            "files": [f.to_dict() for f in self.files],
        }

    def text(self) -> str:
        """The human summary printed at the end of a batch."""
        c = self.counts()
        lines = [
            f"ifb1 batch: {c['files']} file(s) in {self.tray} in {_hms(self.seconds)} ({self.workers} worker(s))",
            f"  processed {c['processed']}: " + (", ".join(f"{k} {v}" for k, v in c["verdicts"].items()) or "none"),
            f"  exported {c['exported']}; awaiting review {c['awaiting_review']}; "
            f"unsuitable copies flagged for deletion {c['flagged_for_deletion']} (ifb1 delete)"
            + (f", and {c['other_files_flagged_for_deletion']} other file(s) of their scans"
               if c["other_files_flagged_for_deletion"] else ""),
            f"  skipped (already in the record) {c['skipped']}; duplicates {c['duplicate']}; "
            f"not scans {c['ignored']}; failed {c['failed'] + c['export_failed']}",
        ]
        for f in self.files:
            if f.action == "processed" and f.verdict in ("review", "unsuitable"):
                lines.append(f"  {f.verdict.upper()} {f.file} ({f.form_id or 'no form id'}): {'; '.join(f.reasons[:3])}")
        for f in self.files:
            if f.export == "held":
                lines.append(f"  HELD {f.file} ({f.form_id}): {f.note}")
        for f in self.files:
            if f.flagged_copy:
                lines.append(f"  UNSUITABLE {f.file} ({f.form_id or 'no form id'}): {f.note}")
        for f in self.failures:
            lines.append(f"  FAILED {f.file}: {f.error}")
        for f in self._with("ignored"):
            lines.append(f"  ignored {f.file}: {f.error}")
        from ifb1.printable import printable

        # File names and errors may hold newlines or terminal escapes: each line stays one line.
        return "\n".join(printable(line) for line in lines)
