"""A progress bar for a sample-set run: done, rate and time left, on standard error.

:func:`progress_line` is the text (a pure function, tested as such);
:class:`Progress` draws it: redrawn in place (``\\r``) at most ten times a second
on a terminal, or as a plain line every few seconds when asked for on a pipe
or a log file. Nothing is drawn unless the run asks for it.
"""

from __future__ import annotations

import time
from typing import TextIO


def hms(seconds: float) -> str:
    """``H:MM:SS`` for a duration in seconds."""
    s = max(0, int(round(seconds)))
    return f"{s // 3600:d}:{s // 60 % 60:02d}:{s % 60:02d}"


def progress_line(done: int, total: int, elapsed: float, *, failed: int = 0, width: int = 24,
                  bar: bool = True) -> str:
    """The progress text after ``done`` of ``total`` prints in ``elapsed`` seconds.

    Parameters
    ----------
    done, total : int
        Prints scored so far (failures included) and to score in this run.
    elapsed : float
        Seconds since scoring started.
    failed : int
        Prints that got no score so far.
    width : int
        Characters of the bar.
    bar : bool
        Draw the ``[###...]`` bar (a terminal) or not (a log line).

    Returns
    -------
    str
        E.g. ``[######..................] 100/400 prints 25% 33.1/s 0:00:09 left, 2 not scored``.
    """
    frac = done / total if total else 1.0
    rate = done / elapsed if elapsed > 0 else 0.0
    left = "--:--:--" if rate <= 0 else hms((total - done) / rate)
    fill = min(width, int(width * frac))
    head = f"[{'#' * fill}{'.' * (width - fill)}] " if bar else ""
    text = f"{head}{done}/{total} prints {100 * frac:.0f}% {rate:.1f}/s {left} left"
    return text + (f", {failed} not scored" if failed else "")


class Progress:
    """Draws :func:`progress_line` on ``stream``.

    Parameters
    ----------
    total : int
        Prints to score.
    stream : TextIO
        Where to draw (standard error).
    tty : bool
        Redraw one line in place (a terminal) or write a line every ``every`` seconds.
    every : float
        Seconds between two lines when not a terminal.
    clock : callable
        Monotonic seconds (a test gives its own).
    """

    def __init__(self, total: int, *, stream: TextIO, tty: bool, every: float = 5.0, clock=time.monotonic):
        self.total = total
        self.stream = stream
        self.tty = tty
        self.every = every if not tty else 0.1
        self.clock = clock
        self.start = clock()
        self.last = None
        self.done = 0
        self.failed = 0

    def update(self, *, scored: bool) -> None:
        """One more print done (``scored`` False: it got no score)."""
        self.done += 1
        self.failed += not scored
        now = self.clock()
        if self.last is not None and now - self.last < self.every and self.done < self.total:
            return
        self.last = now
        line = progress_line(self.done, self.total, now - self.start, failed=self.failed, bar=self.tty)
        self.stream.write(f"\r{line}\x1b[K" if self.tty else f"{line}\n")
        self.stream.flush()

    def close(self) -> None:
        """End the bar's line (a terminal)."""
        if self.tty and self.last is not None:
            self.stream.write("\n")
            self.stream.flush()
