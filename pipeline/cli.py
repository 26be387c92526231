"""``ifb1 process``: read, score and judge scanned IFB1 forms, one at a time.

Each scan goes through :func:`ifb1.pipeline.form.process_form`, the same code
path as ``ifb1 batch``: barcode, the fourteen boxes, NFIQ 2 quality and
plain-word feedback per print, the copy check and the verdict with its reasons.

Outputs for each form go to ``OUT/<safe name>/`` (see
:func:`ifb1.barcode.ids.safe_output_name`): ``prints/<position>.png`` (500 ppi,
resolution in the PNG), ``preview.jpg`` (the page, small, boxes and barcode
drawn) and ``result.json`` (:meth:`ifb1.pipeline.form.FormResult.to_dict`,
the same JSON as ``--json`` prints and as the batch writes). Files are
owner-only (0o600, folders 0o700) and written atomically (temporary file, then
rename), so a crash never leaves a half-written file and a rerun overwrites
cleanly. Input files are only read.

``ifb1 process --watch DIR`` is the same per form, in a process that stays warm
at the scanner desk (:func:`watch_folder`): it warms up the stages once
(:func:`warm_up`), then polls DIR (not its subfolders; no inotify) through
:class:`FolderWatch` and processes each new scan once it is completely written,
each content (SHA-256) once per session. Scans already in DIR when it starts
are listed, not processed. DIR is only read; nothing listens on a port.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import sys
import threading
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

from ifb1.fileio import write_private_atomic

import click

PREVIEW_HEIGHT_PX = 1000


# ----------------------------------------------------------------------------- private files


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) owner-only; tighten an existing one we own."""
    from ifb1.fileio import make_private_dirs

    make_private_dirs(path)
    try:
        os.chmod(path, 0o700)
    except PermissionError:  # a folder owned by someone else: leave it, the files are still 0o600
        pass
    return path


def png_with_ppi(image, ppi: float) -> bytes:
    """Encode a grey image as PNG with its resolution in a pHYs chunk."""
    import cv2

    # Ridge texture has few repeated strings for deflate to find: the "average" filter then
    # Huffman coding alone (level 1) is ~4x faster than level 3 with adaptive filters, and
    # ~9% smaller (14 generated 500 ppi crops: 59 ms / 3.9 MB against 245 ms / 4.3 MB).
    ok, buf = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 1,
                                           cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_AVG,
                                           cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_HUFFMAN_ONLY])
    if not ok:
        raise ValueError("PNG encoding failed")
    data = buf.tobytes()
    ppm = int(round(ppi / 0.0254))
    body = b"pHYs" + ppm.to_bytes(4, "big") * 2 + b"\x01"
    chunk = (9).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")
    # IHDR is always first: 8-byte signature + 4 length + 4 type + 13 data + 4 CRC.
    cut = 8 + 25
    return data[:cut] + chunk + data[cut:]


def render_preview(image, reading, *, height: int = PREVIEW_HEIGHT_PX) -> bytes:
    """A small JPEG of the page with the boxes (green: print, orange: empty) and barcode (blue)."""
    import cv2
    import numpy as np

    h, w = image.shape[:2]
    f = min(1.0, height / h)
    small = cv2.resize(image, (max(1, int(w * f)), max(1, int(h * f))), interpolation=cv2.INTER_AREA)
    bgr = cv2.cvtColor(small, cv2.COLOR_GRAY2BGR)
    # pixel centres: full px x -> small px (x + 0.5) * f - 0.5
    def pts(corners):
        return (np.round((np.asarray(corners, float) + 0.5) * f - 0.5)).astype(np.int32).reshape(-1, 1, 2)

    for b in reading.boxes:
        colour = (40, 170, 40) if b.present else (0, 140, 255)
        cv2.polylines(bgr, [pts(b.corners_px)], True, colour, 2, cv2.LINE_AA)
        tl = pts(b.corners_px)[0, 0]
        cv2.putText(bgr, str(b.position), (int(tl[0]) + 6, int(tl[1]) + 22), cv2.FONT_HERSHEY_SIMPLEX,
                    0.6, colour, 2, cv2.LINE_AA)
    if reading.barcode is not None:
        for hit in reading.barcode.hits:
            colour = (255, 80, 0) if hit is reading.barcode.chosen else (200, 0, 200)
            cv2.polylines(bgr, [pts(hit.corners_px)], True, colour, 2, cv2.LINE_AA)
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 80])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()


def _json_default(obj):
    """numpy scalars (from a stage's result) as plain numbers; anything else is an error."""
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


def write_outputs(result, out_dir: Path) -> dict:
    """Write one processed form's prints, preview and result.json under ``out_dir``.

    Parameters
    ----------
    result : FormResult
        A successful :func:`ifb1.pipeline.form.process_form` result (with images).
    out_dir : Path
        The output folder; the form's files go to ``out_dir/<safe name>/``.

    Returns
    -------
    dict
        :meth:`ifb1.pipeline.form.FormResult.to_dict`, with ``output`` (the
        folder, relative to ``out_dir``) and each print's ``file`` (or None) added.
    """
    from ifb1.barcode.ids import safe_output_name

    d = result.to_dict()
    if result.sha256 is None:
        return d
    name = safe_output_name(result.form_id, result.sha256)
    folder = ensure_private_dir(out_dir / name)
    prints_dir = ensure_private_dir(folder / "prints")
    by_pos = {p.position: p for p in result.prints}
    for r in d["prints"]:
        pr = by_pos.get(r["position"])
        target = prints_dir / f"{r['position']}.png"
        if pr is not None and pr.present and pr.image is not None:
            write_private_atomic(target, png_with_ppi(pr.image, pr.ppi))
            r["file"] = f"{name}/prints/{r['position']}.png"
        else:
            r["file"] = None
            if target.exists():  # stale output of an earlier run of this same scan
                target.unlink()
    if result.preview_jpeg is not None:
        write_private_atomic(folder / "preview.jpg", result.preview_jpeg)
    d["output"] = name
    write_private_atomic(folder / "result.json",
                         (json.dumps(d, indent=1, default=_json_default) + "\n").encode("utf-8"))
    return d


# ----------------------------------------------------------------------------- the human summary

_FINGER_WIDTH = 19


def _short(message: str) -> str:
    """The name of a problem: its message up to the first colon ("Too light (under-inked)")."""
    return message.split(":", 1)[0].rstrip(".")


def _print_line(p: dict, min_quality: int | None) -> str:
    """One line per box: position, finger, score and its problems, named in plain words."""
    what = f"{p['position']:>4}  {p['finger']:<{_FINGER_WIDTH}}{p['impression']:<7} "
    if not p["present"]:
        a = p.get("annotation") or {}
        if a.get("kind") == "annotated" and a.get("code"):
            return what + f"  --  no print, box marked {a['code']}"
        return what + "  --  no print in the box"
    q = p.get("quality")
    fb = p.get("feedback") or {"codes": [], "messages": []}
    if q is None:
        if p.get("quality_status") == "not-scored":
            return what + "  --  " + (p.get("quality_note") or "not scored")
        reason = ", ".join(_short(m) for m in fb["messages"]) or p.get("quality_note") or "no score"
        return what + "  --  no score: " + reason
    problems = ", ".join(_short(m) for m in fb["messages"])
    poor = min_quality is not None and q < min_quality
    label = ("POOR: " if poor else "") + (problems or ("no problem found" if not poor else "low ridge quality"))
    return what + f"{q:>4}  {label}"


def summary_lines(result: dict, *, min_quality: int | None = None, out_dir: Path | None = None) -> list[str]:
    """The human summary of one processed form, for the operator at the scanner.

    First line: ``OK`` and the form id, or ``MANUAL ENTRY`` when no barcode
    was read (``REJECTED`` and the reason when the scan could not be read);
    then the verdict in capitals with its reasons, any warnings, one line per
    box (NFIQ 2 score and its problems by name), what to do about each problem
    found (once) and where the files went.

    Parameters
    ----------
    result : dict
        From :func:`write_outputs` or :meth:`ifb1.pipeline.form.FormResult.to_dict`.
    min_quality : int, optional
        The policy's threshold: scores below it are marked POOR.
    out_dir : Path, optional
        The output folder, to show where the files went.

    Returns
    -------
    list of str
    """
    src = result["source"]
    if result["status"] != "ok":
        error = str(result.get("error"))
        # The error names the file already (the stages' convention): do not say it twice.
        return [f"REJECTED {error}" if error.startswith(f"{src}: ") else f"REJECTED {src}: {error}"]
    bc = result.get("barcode") or {}
    if bc.get("text") is not None and not bc.get("valid_id"):
        # Read, but not a form id: say so, as the JSON does (repr: the text is from outside).
        text = bc["text"] if len(bc["text"]) <= 40 else bc["text"][:40] + "..."
        unread = f"a barcode was read but its text {text!r} is not a valid form id"
    else:
        unread = "no barcode read"
    if result.get("form_id") and not result.get("manual_entry"):
        fid = f"form {result['form_id']}"
    elif result.get("form_id"):
        fid = f"form {result['form_id']} (typed in: {unread})"
    else:
        fid = f"MANUAL ENTRY: {unread}, enter the form id by hand"
    copy = " (marked as a scanned copy)" if result.get("is_copy") else ""
    lines = [f"OK {src}: {fid}{copy}"]
    v = result.get("verdict")
    if v is not None:
        on = " (decided on NIST's NFIQ 2)" if v.get("scorer") == "nist" else ""
        lines.append(f"  VERDICT: {v['verdict'].upper()}{on}")
        lines += [f"    - {r}" for r in v["reasons"]]
    lines += [f"  WARNING: {w}" for w in result.get("warnings", [])]
    below = f", POOR below {min_quality}" if min_quality is not None else ""
    scorers = {p.get("scorer") for p in result["prints"]} - {None}
    by = {"nist": " by NIST's NFIQ 2", "fast": " by ifb1's fast NFIQ 2"}.get(scorers.pop()) if len(scorers) == 1 else ""
    lines.append(f"  Prints (NFIQ 2 score 0-100{by}{below}):")
    lines += ["  " + _print_line(p, min_quality) for p in result["prints"]]
    advice: dict[str, str] = {}
    for p in result["prints"]:
        for m in (p.get("feedback") or {}).get("messages", []):
            if ":" in m and p.get("quality") is not None:
                advice.setdefault(_short(m), m)
    if advice:
        lines.append("  What the problems mean:")
        lines += [f"    {m}" for m in advice.values()]
    n = sum(1 for p in result["prints"] if p.get("file"))
    total = result.get("timings_ms", {}).get("total")
    took = f" in {total / 1000:.1f} s" if total is not None else ""
    if result.get("output"):
        where = out_dir / result["output"] if out_dir is not None else Path(result["output"])
        lines.append(f"  Files: {where}/ ({n} prints, preview.jpg, result.json){took}")
    return lines


# ----------------------------------------------------------------------------- one form


def process_one(src: str, *, options, out_dir: Path) -> dict:
    """Process one scan and write its outputs; the dict that ``--json`` prints.

    Parameters
    ----------
    src : str
        The scan file.
    options : ProcessOptions
        As for :func:`ifb1.pipeline.form.process_form`.
    out_dir : Path
        The output folder (must exist).

    Returns
    -------
    dict
        :func:`write_outputs` for a form that was read, else
        :meth:`~ifb1.pipeline.form.FormResult.to_dict` with ``status``
        ``"rejected"`` and ``error``; ``timings_ms`` has ``write`` and ``total``.
    """
    from ifb1.pipeline.form import process_form

    t0 = time.perf_counter()
    res = process_form(src, options=options)
    t = time.perf_counter()
    try:
        result = write_outputs(res, out_dir) if res.ok else res.to_dict()
    except OSError as exc:
        from ifb1.fileio import FORM_OUTPUT_FREE, storage_fault

        result = res.to_dict()
        fault = storage_fault(exc, out_dir, FORM_OUTPUT_FREE)
        if fault is not None:  # not the scan's fault: --out's disk is full or failing
            result.update(status="rejected", error=str(fault), fault="storage")
        else:
            result.update(status="rejected", error=f"{src}: cannot write outputs to {out_dir}: {exc}")
    end = time.perf_counter()
    result["timings_ms"]["write"] = round((end - t) * 1000.0, 1)
    result["timings_ms"]["total"] = round((end - t0) * 1000.0, 1)
    return result


def _show(result: dict, *, as_json: bool, min_quality: int | None, out_dir: Path) -> None:
    if as_json:
        click.echo(json.dumps(result, separators=(",", ":"), default=_json_default))
    else:
        from ifb1.printable import printable

        # A file name may hold a newline or a terminal escape: each line stays one line.
        click.echo("\n".join(printable(line) for line in summary_lines(result, min_quality=min_quality,
                                                                         out_dir=out_dir)))
    sys.stdout.flush()


def _note(message: str) -> None:
    """A watch-mode message for the operator, on stderr (stdout carries only results)."""
    from ifb1.printable import printable

    click.echo(printable(message), err=True)
    sys.stderr.flush()


# ----------------------------------------------------------------------------- watching a folder

#: Names that copy tools and scanner drivers give a file while it is still being
#: written (renamed when complete): never processed, like hidden files.
PARTIAL_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".download", "~")
#: Seconds between looks at a watched folder. A new file is seen on average half a poll after it
#: appears and confirmed one poll later: at 0.5 s the answer comes ~1.5 s after the file appears,
#: at 0.2 s ~1 s. Listing costs little (a folder of 2,000 files: ~6 ms a look, 3% of a core).
WATCH_POLL_S = 0.2
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


#: Seconds a file that does not end as its format requires (see :func:`looks_complete`) must
#: stay unchanged before it is processed anyway (and rejected with the reader's error).
INCOMPLETE_SETTLE_S = 3.0


def looks_complete(path: Path) -> bool | None:
    """Whether a scan file ends the way its format says a whole file must.

    JPEG: the end-of-image marker ``FF D9`` in the last 32 bytes (some writers
    pad after it); PNG: the ``IEND`` chunk in the last 32 bytes; PDF:
    ``%%EOF`` in the last 1024 bytes; BMP: at least the size its header gives.
    A file still being written fails these checks (its end is not written
    yet) even when the writer pauses for longer than the poll.

    Returns
    -------
    bool or None
        None for formats with no end marker (TIFF) or when the file cannot be
        read: the caller relies on size and time alone.
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
            size = fh.seek(0, os.SEEK_END)
            fh.seek(max(0, size - 1024))
            tail = fh.read()
    except OSError:
        return None
    if head.startswith(b"\xff\xd8\xff"):
        return b"\xff\xd9" in tail[-32:]
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return b"IEND" in tail[-32:]
    if head.startswith(b"%PDF-"):
        return b"%%EOF" in tail
    if head.startswith(b"BM") and len(head) >= 6:
        return size >= int.from_bytes(head[2:6], "little")
    return None


class FolderWatch:
    """Polls one folder (not its subfolders) for new scan files that have finished being written.

    A file is ready when it is not empty, its size and modification time are
    the same at two successive polls (the scanner may still be writing it),
    and it ends as its format requires (:func:`looks_complete`); a file that
    does not, or stays empty, is held until unchanged for
    ``incomplete_settle_s`` and then returned anyway, so a truncated or
    empty scan still gets its error. Each version
    of a file (size, mtime, inode) is returned once; hidden files and names in
    :data:`PARTIAL_SUFFIXES` are never returned. Nothing in the folder is
    changed.

    Parameters
    ----------
    folder : Path
        The folder the scanner saves into.
    incomplete_settle_s : float
        See :data:`INCOMPLETE_SETTLE_S`.
    """

    def __init__(self, folder: Path, *, incomplete_settle_s: float = INCOMPLETE_SETTLE_S):
        self.folder = Path(folder)
        self.incomplete_settle_s = incomplete_settle_s
        self._pending: dict[str, tuple] = {}   # name -> (signature at the previous poll, first seen so)
        self._settled: dict[str, tuple] = {}   # name -> signature already dealt with

    def _entries(self) -> dict[str, tuple]:
        found = {}
        with os.scandir(self.folder) as it:
            for e in it:
                if e.name.startswith(".") or e.name.lower().endswith(PARTIAL_SUFFIXES):
                    continue
                try:
                    st = e.stat(follow_symlinks=False)
                except FileNotFoundError:  # removed between listing and stat
                    continue
                if stat.S_ISLNK(st.st_mode):
                    kind = "link"
                elif stat.S_ISREG(st.st_mode):
                    kind = "file"
                else:  # folders (e.g. OUT inside the folder), sockets, FIFOs
                    continue
                found[e.name] = (kind, st.st_size, st.st_mtime_ns, st.st_ino)
        return found

    def _kind(self, name: str, sig: tuple) -> str:
        from ifb1.pipeline.batch import _looks_like_scan  # the batch's own scan test: suffix or signature

        if sig[0] == "link":
            return "link"
        return "scan" if _looks_like_scan(self.folder / name) else "not-scan"

    def baseline(self) -> list[str]:
        """Mark everything now in the folder as dealt with; the scans among it, sorted.

        Raises
        ------
        OSError
            When the folder cannot be listed.
        """
        entries = self._entries()
        self._settled = dict(entries)
        self._pending.clear()
        return sorted(n for n, sig in entries.items() if sig[1] > 0 and self._kind(n, sig) == "scan")

    @property
    def waiting(self) -> int:
        """Files seen but not yet stable."""
        return len(self._pending)

    def poll(self) -> list[tuple[str, str]]:
        """Look at the folder once.

        Returns
        -------
        list of (str, str)
            Files that became ready since the previous poll, oldest first, each
            with its kind: ``"scan"``, ``"not-scan"`` (no image or PDF suffix or
            signature) or ``"link"`` (a symbolic link: not followed).

        Raises
        ------
        OSError
            When the folder cannot be listed.
        """
        entries = self._entries()
        for table in (self._pending, self._settled):
            for name in [n for n in table if n not in entries]:
                del table[name]  # gone: a new file under that name is new
        ready = []
        now = time.monotonic()
        for name, sig in entries.items():
            if self._settled.get(name) == sig:
                continue
            seen = self._pending.get(name)
            if seen is None or seen[0] != sig:
                self._pending[name] = (sig, now)
                continue
            if sig[0] == "file" and now - seen[1] < self.incomplete_settle_s and (
                    sig[1] == 0 or looks_complete(self.folder / name) is False):
                continue  # created but nothing written yet, or its end not written yet
            del self._pending[name]
            self._settled[name] = sig
            ready.append(name)
        ready.sort(key=lambda n: (entries[n][2], n))
        return [(n, self._kind(n, entries[n])) for n in ready]


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
    from ifb1.pipeline.batch import sha256_file

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
            _note(f"already there, not processed (pass them as arguments to process them): "
                  f"{_count(len(before), 'scan')}: {shown}")
        took = warm_up()
        _note(f"ready, watching {folder} (warmed up in {took:.1f} s; new scans only, "
              f"every {poll:g} s; Ctrl-C to stop)")
        seen: dict[str, str] = {}  # SHA-256 -> "name (outcome)"
        last_activity = time.monotonic()
        listing_failed = False
        while not stop:
            try:
                ready = watch.poll()
                if listing_failed:
                    _note(f"{folder}: can be listed again")
                listing_failed = False
            except OSError as exc:
                if not listing_failed:
                    _note(f"{folder}: cannot list the folder ({exc.strerror or exc}); trying again")
                listing_failed = True
                ready = []
            for name, kind in ready:
                if stop:
                    break
                last_activity = time.monotonic()
                path = folder / name
                if kind == "link":
                    tally.ignored += 1
                    _note(f"{path}: a symbolic link, not processed (save the file itself in the folder)")
                    continue
                if kind == "not-scan":
                    tally.ignored += 1
                    _note(f"{path}: not a scan (no image or PDF signature), ignored")
                    continue
                try:
                    digest = sha256_file(path)
                except OSError:
                    digest = None  # process_form names the problem
                if digest is not None and digest in seen:
                    tally.duplicates += 1
                    _note(f"{path}: same content as {seen[digest]}, already processed: not processed again")
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
                _show(result, as_json=as_json, min_quality=options.policy.verdict.min_quality, out_dir=out_dir)
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
    _note(tally.line(why, time.monotonic() - start))
    return tally, why


# ----------------------------------------------------------------------------- the command


def recorded_output_holder(out_dir: Path) -> str | None:
    """Why ``out_dir`` may not take ``ifb1 process`` outputs, or None.

    A folder that is, or lies inside, a batch's output folder (``forms/``
    and ``.staging/`` next to each other) or a record's data folder
    (``ifb1.sqlite``) holds files registered in the case record: writing
    there would overwrite a form's recorded ``result.json`` or leave copies
    of its prints that ``ifb1 delete`` does not know of.
    """
    from ifb1.pipeline.batch import FORMS, STAGING
    from ifb1.records.db import DB_FILE

    here = Path(os.path.realpath(out_dir))
    for folder in (here, *here.parents):
        if (folder / FORMS).is_dir() and (folder / STAGING).is_dir():
            return f"{out_dir} is inside the batch output folder {folder}, whose files are recorded in the case record"
        if (folder / DB_FILE).is_file():
            return f"{out_dir} is inside the data folder {folder}, which holds the case record"
    return None


class _CannotUse(click.ClickException):
    """The output folder cannot be used (its disk is full or failing, or it holds recorded files): exit status 2."""

    exit_code = 2

    def __init__(self, message: str):
        from ifb1.printable import printable

        super().__init__(printable(message))


@click.command("process")
@click.argument("scans", nargs=-1, type=click.Path(dir_okay=False, path_type=str))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output folder (created owner-only).")
@click.option("--watch", "watch_dir", default=None,
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Stay running and process each new scan saved into this folder (instead of SCAN arguments).")
@click.option("--poll", default=None, type=click.FloatRange(min=0.05),
              help=f"With --watch: seconds between looks at the folder (default {WATCH_POLL_S}).")
@click.option("--max-files", default=None, type=click.IntRange(min=1), hidden=True,
              help="With --watch: stop after N scans processed (tests).")
@click.option("--idle-exit", default=None, type=click.FloatRange(min=0, min_open=True), hidden=True,
              help="With --watch: stop after SECONDS with nothing new (tests).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per form (JSON Lines).")
@click.option("--form-id", "form_id", default=None,
              help="Form id to use where no barcode can be read (validated; not with --watch).")
@click.option("--copy", "is_copy", is_flag=True,
              help="The scans are scanned copies, not originals (only copies can be judged unsuitable).")
@click.option("--policy", "policy_file", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="Verdict policy TOML (default: the bundled default-policy.toml).")
@click.option("--scorer", type=click.Choice(["fast", "nist"]), default=None,
              help="NFIQ 2 scorer for every print: fast (ifb1's, about 30 ms a print) or nist (NIST's NFIQ 2, "
                   "about 0.3-0.6 s a print); default: the policy's [quality] scorer (fast).")
def process(scans: tuple[str, ...], out_dir: Path, watch_dir: Path | None, poll: float | None,
            max_files: int | None, idle_exit: float | None, as_json: bool, form_id: str | None, is_copy: bool,
            policy_file: Path | None, scorer: str | None) -> None:
    """Read scanned IFB1 forms: barcode, the fourteen prints, their quality and the verdict.

    For each scan: the form id (or MANUAL ENTRY), the verdict (SUITABLE,
    UNSUITABLE or REVIEW) with its reasons, each print's NFIQ 2 score and
    problems in plain words, and where the files went (OUT/<form>/: prints,
    preview.jpg, result.json). Exit status 0 when every input was read, 1 when
    any was rejected.

    With --watch DIR (no SCAN arguments) it stays running at the scanner desk:
    each new scan saved into DIR is processed once it has finished being
    written (size and time unchanged over two looks), each content once per
    session. Scans already in DIR when it starts are listed, not processed
    (pass them as arguments). Files in DIR are only read. Ctrl-C stops it
    with a tally.
    """
    from ifb1.barcode.ids import FORM_ID_PATTERN, validate_form_id
    from ifb1.pipeline.form import ProcessOptions
    from ifb1.pipeline.policy import load_policy

    if watch_dir is not None:
        if scans:
            raise click.UsageError("give either SCAN files or --watch DIR, not both")
        if form_id is not None:
            raise click.UsageError("--form-id is for one scan, not for every scan of a --watch session: "
                                   "process a form with no readable barcode again with SCAN --form-id ID")
        if os.path.realpath(out_dir) == os.path.realpath(watch_dir):
            raise click.UsageError("--out must not be the watched folder (files in it are only read): "
                                   "use another folder or a subfolder")
    else:
        if not scans:
            raise click.UsageError("give the SCAN files to process, or --watch DIR to process each new scan "
                                   "saved into a folder")
        given = [n for n, v in (("--poll", poll), ("--max-files", max_files), ("--idle-exit", idle_exit))
                 if v is not None]
        if given:
            raise click.UsageError(f"{', '.join(given)} only go with --watch DIR")
    if form_id is not None and validate_form_id(form_id) is None:
        raise click.BadParameter(f"{form_id!r} is not a valid form id (pattern {FORM_ID_PATTERN})",
                                 param_hint="--form-id")
    try:
        policy = load_policy(policy_file)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--policy") from exc
    if scorer is not None:
        from dataclasses import replace

        from ifb1.quality.nist import NistScorerUnavailable, require_nist

        if scorer == "nist":
            try:
                require_nist()
            except NistScorerUnavailable as exc:
                raise click.UsageError(f"--scorer nist: {exc}") from exc
        policy = replace(policy, quality=replace(policy.quality, scorer=scorer))
    options = ProcessOptions(is_copy=is_copy, form_id=form_id, policy=policy, preview_height=PREVIEW_HEIGHT_PX)
    holder = recorded_output_holder(out_dir)
    if holder is not None:
        raise _CannotUse(f"--out: {holder}; give ifb1 process a folder of its own")
    try:
        ensure_private_dir(out_dir)
    except OSError as exc:
        from ifb1.fileio import FORM_OUTPUT_FREE, storage_fault

        fault = storage_fault(exc, out_dir, FORM_OUTPUT_FREE)
        if fault is None:
            raise
        raise _CannotUse(str(fault)) from exc
    if watch_dir is not None:
        tally, _ = watch_folder(watch_dir, options=options, out_dir=out_dir, as_json=as_json,
                                poll=WATCH_POLL_S if poll is None else poll, max_files=max_files, idle_exit=idle_exit)
        if tally.rejected:
            sys.exit(1)
        return
    all_ok = True
    for src in scans:
        result = process_one(src, options=options, out_dir=out_dir)
        if result.get("fault"):  # a full disk: every next scan would fail the same way
            raise _CannotUse(result["error"])
        all_ok &= result["status"] == "ok"
        _show(result, as_json=as_json, min_quality=policy.verdict.min_quality, out_dir=out_dir)
    if not all_ok:
        sys.exit(1)
