"""The scanner desk in a terminal: ``ifb1 process --watch``, a warm process answering each new scan.

:func:`watch_folder` warms up the stages once (:func:`warm_up`), then polls the
folder through :class:`ifb1.intake.watch.FolderWatch` and processes each new scan
once it is completely written, each content (SHA-256) once per session, writing
its outputs (:func:`ifb1.outputs.folder.process_one`) and printing the operator's
summary. Scans already in the folder when it starts are listed, not processed.
The folder is only read; nothing listens on a port.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import click

from ifb1.intake.watch import FolderWatch
from ifb1.outputs.folder import json_default, png_with_ppi, process_one
from ifb1.outputs.summary import summary_lines


#: Side of the generated print used to warm up the quality path.
WARMUP_SIZE_PX = 256



def warm_up() -> float:
    """Import the stages and score one small generated print, so the first real scan is fast.

    The first call of the quality path pays for imports and set-up (scipy.fft,
    skimage.morphology, scipy.ndimage, the ONNX Runtime session): ~0.5 s that
    would otherwise land on the first form at the desk.

    Returns
    -------
    float
        Seconds taken.
    """
    t0 = time.perf_counter()
    import numpy as np

    import ifb1.pipeline.copy_detect  # noqa: F401  (imported for their start-up cost)
    import ifb1.pipeline.form  # noqa: F401
    import ifb1.pipeline.read  # noqa: F401
    import ifb1.pipeline.segment  # noqa: F401
    from ifb1.quality.feedback import assess_print

    # A disc of straight ridges, 10 px period (0.5 mm at 500 ppi, a typical ridge spacing) on
    # near-white paper: enough ridge area for every measure and the minutiae model to run.
    n = WARMUP_SIZE_PX
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float32)
    img = 128.0 + 100.0 * np.sin(2.0 * np.pi * (0.8 * xx + 0.6 * yy) / 10.0)
    img[(xx - n / 2) ** 2 + (yy - n / 2) ** 2 > (0.4 * n) ** 2] = 250.0
    img = img.astype(np.uint8)
    assess_print(img)
    png_with_ppi(img, 500.0)
    from ifb1.export.ansi_nist import wsq_decode, wsq_encode
    from ifb1.quality.nist import nist_available

    wsq_decode(wsq_encode(img))  # every print makes the export's WSQ round trip
    nist_available()  # loads NIST's NFIQ 2, the reference before an unsuitable verdict
    return time.perf_counter() - t0



def show_result(result: dict, *, as_json: bool, min_quality: int | None, out_dir: Path) -> None:
    if as_json:
        click.echo(json.dumps(result, separators=(",", ":"), default=json_default))
    else:
        from ifb1.printable import printable

        # A file name may hold a newline or a terminal escape: each line stays one line.
        click.echo("\n".join(printable(line) for line in summary_lines(result, min_quality=min_quality,
                                                                         out_dir=out_dir)))
    sys.stdout.flush()



def note(message: str) -> None:
    """A watch-mode message for the operator, on stderr (stdout carries only results)."""
    from ifb1.printable import printable

    click.echo(printable(message), err=True)
    sys.stderr.flush()



@dataclass
class WatchTally:
    """Counts of one watch session."""

    processed: int = 0
    read: int = 0
    rejected: int = 0
    duplicates: int = 0
    already_there: int = 0
    ignored: int = 0

    def line(self, why: str, seconds: float) -> str:
        """The one-line tally printed when the watch stops."""
        return (f"stopped ({why}) after {_duration(seconds)}: {_count(self.processed, 'scan')} processed "
                f"({self.read} read, {self.rejected} rejected), {_count(self.duplicates, 'duplicate')} not "
                f"processed again, {self.already_there} already there not processed, "
                f"{_count(self.ignored, 'other file')} ignored")



def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"



def _duration(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"



def _outcome(result: dict) -> str:
    """A few words on how a scan came out, to name it again when a duplicate arrives."""
    if result["status"] != "ok":
        return "rejected"
    who = f"form {result['form_id']}" if result.get("form_id") else "manual entry"
    v = result.get("verdict")
    return f"{who}, {v['verdict']}" if v else who



def watch_folder(folder: Path, *, options, out_dir: Path, as_json: bool, poll: float,
                 max_files: int | None = None, idle_exit: float | None = None) -> tuple[WatchTally, str]:
    """Process each new scan saved into ``folder`` until stopped; the ``--watch`` loop.

    Scans already in the folder are listed, not processed. Each content
    (SHA-256) is processed once per session; a file with the same content as
    one already processed is named and skipped. A file that cannot be read
    gets its REJECTED line and the watch goes on. SIGINT and SIGTERM stop it
    after the form in hand (a second Ctrl-C stops at once).

    Parameters
    ----------
    folder : Path
        The scanner's folder (only read).
    options : ProcessOptions
        For every scan of the session.
    out_dir : Path
        Output folder (must exist).
    as_json : bool
        Print JSON lines instead of the human summary.
    poll : float
        Seconds between looks at the folder.
    max_files : int, optional
        Stop after this many scans processed (tests).
    idle_exit : float, optional
        Stop after this many seconds with nothing new (tests).

    Returns
    -------
    (WatchTally, str)
        The counts and why the watch stopped.
    """
    from ifb1.fileio import sha256_file

    start = time.monotonic()
    watch = FolderWatch(folder)
    tally = WatchTally()
    stop: list[str] = []

    def on_signal(signum, frame):
        if stop and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: do not wait for the form in hand
        stop.append(signal.Signals(signum).name)

    installed = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            installed[sig] = signal.signal(sig, on_signal)
    try:
        before = watch.baseline()
        tally.already_there = len(before)
        if before:
            shown = ", ".join(before[:10]) + (f", ... ({len(before) - 10} more)" if len(before) > 10 else "")
            note(f"already there, not processed (pass them as arguments to process them): "
                  f"{_count(len(before), 'scan')}: {shown}")
        took = warm_up()
        note(f"ready, watching {folder} (warmed up in {took:.1f} s; new scans only, "
              f"every {poll:g} s; Ctrl-C to stop)")
        seen: dict[str, str] = {}  # SHA-256 -> "name (outcome)"
        last_activity = time.monotonic()
        listing_failed = False
        while not stop:
            try:
                ready = watch.poll()
                if listing_failed:
                    note(f"{folder}: can be listed again")
                listing_failed = False
            except OSError as exc:
                if not listing_failed:
                    note(f"{folder}: cannot list the folder ({exc.strerror or exc}); trying again")
                listing_failed = True
                ready = []
            for name, kind in ready:
                if stop:
                    break
                last_activity = time.monotonic()
                path = folder / name
                if kind == "link":
                    tally.ignored += 1
                    note(f"{path}: a symbolic link, not processed (save the file itself in the folder)")
                    continue
                if kind == "not-scan":
                    tally.ignored += 1
                    note(f"{path}: not a scan (no image or PDF signature), ignored")
                    continue
                try:
                    digest = sha256_file(path)
                except OSError:
                    digest = None  # process_form names the problem
                if digest is not None and digest in seen:
                    tally.duplicates += 1
                    note(f"{path}: same content as {seen[digest]}, already processed: not processed again")
                    continue
                try:
                    result = process_one(str(path), options=options, out_dir=out_dir)
                except Exception as exc:  # a bug on one odd file must not end the session at the desk
                    result = {"source": str(path), "status": "rejected", "sha256": digest, "prints": [],
                              "error": f"{path}: processing failed ({type(exc).__name__}: {exc})",
                              "timings_ms": {}}
                tally.processed += 1
                if result["status"] == "ok":
                    tally.read += 1
                else:
                    tally.rejected += 1
                if digest is not None:
                    seen[digest] = f"{name} ({_outcome(result)})"
                show_result(result, as_json=as_json, min_quality=options.policy.verdict.min_quality, out_dir=out_dir)
                last_activity = time.monotonic()
                if max_files is not None and tally.processed >= max_files:
                    stop.append(f"{max_files} scans processed")
            if watch.waiting:
                last_activity = time.monotonic()
            if not stop and idle_exit is not None and time.monotonic() - last_activity >= idle_exit:
                stop.append(f"nothing new for {idle_exit:g} s")
            wake = time.monotonic() + poll
            while not stop and (left := wake - time.monotonic()) > 0:
                time.sleep(min(left, 0.05))  # short naps: a signal is answered within 50 ms
    except KeyboardInterrupt:
        stop.append("SIGINT, twice")
    finally:
        for sig, handler in installed.items():
            signal.signal(sig, handler)
    why = stop[0]
    note(tally.line(why, time.monotonic() - start))
    return tally, why
