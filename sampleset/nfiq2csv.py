"""The CSV of NIST's ``nfiq2`` tool, written so that a killed run can resume.

Columns: exactly those of ``nfiq2 -a -v`` (NFIQ 2.3's command-line tool,
``usnistgov/NFIQ2``, ``NFIQ2/NFIQ2Algorithm/src/tool/nfiq2_ui_log.cpp``):
``"Filename",FingerCode,QualityScore,"OptionalError",Quantized,Resampled``,
then the four actionable feedback values (``-a``; NIST prints them before the
measures) and the 69 native quality measures (``-v``), in NIST's order
(``QualityMeasures::getActionableQualityFeedbackIDs`` and
``getNativeQualityMeasureIDs``). Values are written as NIST's ``formatDouble``
writes them (:func:`format_double`); a file with no score gets ``NA`` in
QualityScore and every measure column and its reason, quoted, in OptionalError,
as ``Log::printError`` does. Scripts written for NIST's CSV read ours
unchanged.

Where the tool is looser than a CSV reader, ours is stricter: a ``"`` in a file
name is doubled (RFC 4180) and control characters are escaped
(:func:`ifb1.printable.printable`), so a name can neither end a field nor a
line; in an error message ``"`` becomes ``'`` and non-printable characters a
space, as NIST's ``sanitizeErrorMsg`` does.

Resuming. NIST's columns stay exact, so what a resumed run needs (which file,
which content) is kept beside the CSV in ``FILE.ifb1-state`` (owner-only, one
JSON object a line: a header with the scorer, then per row the file's path as
listed, the SHA-256 of the bytes scored and a hash of the CSV line). A row counts
as done only when both the CSV line and its state line are there. Rows are
written with one ``write`` of a complete line each (CSV first, then its state
line) and both files are flushed to disk (``fsync``) at least every second, so
a killed run loses at most the rows in flight and a power cut at most the last
second. On the next run, :class:`ResumableCsv` drops a trailing partial line,
a row without a state line (killed between the two writes) and the rows of
files whose content changed (they are scored again), then appends.
"""

from __future__ import annotations

import csv
import errno
import hashlib
import io
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

#: The first six columns of NIST's CSV, as its header spells them (two are quoted).
BASE_COLUMNS = ("Filename", "FingerCode", "QualityScore", "OptionalError", "Quantized", "Resampled")

#: NIST's actionable feedback identifiers, in its order (``-a``).
ACTIONABLE_COLUMNS = ("UniformImage", "EmptyImageOrContrastTooLow", "FingerprintImageWithMinutiae",
                      "SufficientFingerprintForeground")


def _hist(prefix: str) -> tuple[str, ...]:
    return tuple(f"{prefix}_Bin10_{s}" for s in (*map(str, range(10)), "Mean", "StdDev"))


#: NIST's 69 native quality measure identifiers, in its order (``-v``): modules FDA,
#: FingerJetFX, FJFXMinutiaeQuality, ImgProcROI, LCS, Mu, OCLHistogram, OF, QualityMap, RVUP.
NATIVE_COLUMNS = (
    _hist("FDA")
    + ("FingerJetFX_MinCount_COMMinRect200x200", "FingerJetFX_MinutiaeCount",
       "FJFXPos_Mu_MinutiaeQuality_2", "FJFXPos_OCL_MinutiaeQuality_80", "ImgProcROIArea_Mean")
    + _hist("LCS")
    + ("MMB", "Mu")
    + _hist("OCL")
    + _hist("OF")
    + ("OrientationMap_ROIFilter_CoherenceRel", "OrientationMap_ROIFilter_CoherenceSum")
    + _hist("RVUP")
)

COLUMNS = BASE_COLUMNS + ACTIONABLE_COLUMNS + NATIVE_COLUMNS

#: The header line, byte for byte as ``nfiq2 -a -v`` prints it.
HEADER = ('"Filename",FingerCode,QualityScore,"OptionalError",Quantized,Resampled,'
          + ",".join(ACTIONABLE_COLUMNS + NATIVE_COLUMNS) + "\n")

#: Suffix of the state file beside the CSV.
STATE_SUFFIX = ".ifb1-state"
STATE_VERSION = 1

#: Seconds between two ``fsync`` of the CSV and its state file while rows are written.
SYNC_SECONDS = 1.0


def format_double(d: float) -> str:
    """A measure as NIST's ``NFIQ2UI::formatDouble(d, 5)`` writes it.

    Zero is ``0``; whole numbers are written without decimals; other finite values
    as C++ ``std::to_string`` (``%f``, six decimals) cut to five decimals (cut, not
    rounded); NaN, infinities and subnormal values as ``std::to_string`` writes them.

    Parameters
    ----------
    d : float

    Returns
    -------
    str
    """
    d = float(d)
    if d == 0.0:
        return "0"
    if not math.isfinite(d):
        return ("-" if math.copysign(1.0, d) < 0 else "") + ("nan" if math.isnan(d) else "inf")
    s = f"{d:f}"
    if abs(d) < 2.2250738585072014e-308:  # subnormal: not FP_NORMAL, printed whole
        return s
    if abs(d) < 2.0**63 and d.is_integer():
        return str(int(d))
    dot = s.find(".")
    return s if dot < 0 or 5 >= len(s) - dot - 1 else s[: dot + 6]


def sanitize_error(msg: str) -> str:
    """NIST's ``sanitizeErrorMsg``: non-printable characters become spaces, ``"`` becomes ``'``."""
    return "".join(c if c.isprintable() else " " for c in msg).replace('"', "'")


def _filename_field(path: str) -> str:
    from ifb1.printable import printable

    return '"' + printable(path).replace('"', '""') + '"'


def row_line(path: str, result: dict, *, quantized: bool) -> str:
    """One CSV line (with its newline) for a file's answer.

    Parameters
    ----------
    path : str
        The file as listed.
    result : dict
        :func:`ifb1.sampleset.score.assess_file`'s answer.
    quantized : bool
        Whether the image was converted to 8-bit grey.

    Returns
    -------
    str
        ``nfiq2 -a -v``'s row for the file: its score and values, or ``NA`` and the reason.
    """
    resampled = "1" if result.get("resampled_from") is not None else "0"
    head = f"{_filename_field(path)},0,"  # FingerCode 0: an image file names no finger position
    q = result.get("quality")
    if q is None:
        err = sanitize_error(str(result.get("error") or "no score"))
        pad = ",NA" * (len(ACTIONABLE_COLUMNS) + len(NATIVE_COLUMNS))
        return f'{head}NA,"{err}",{int(quantized)},{resampled}{pad}\n'
    act = result.get("actionable") or {}
    feats = result.get("features") or {}
    values = [act.get(k) for k in ACTIONABLE_COLUMNS] + [feats.get(k) for k in NATIVE_COLUMNS]
    cells = ["NA" if v is None else format_double(v) for v in values]
    return f"{head}{int(q)},,{int(quantized)},{resampled}," + ",".join(cells) + "\n"


def parse_score(line: str) -> int | None:
    """QualityScore of a CSV line written by :func:`row_line` (None for ``NA``)."""
    fields = next(csv.reader(io.StringIO(line)))
    return None if fields[2] == "NA" else int(fields[2])


def _row_hash(line: bytes) -> str:
    return hashlib.sha256(line).hexdigest()[:32]


class CsvError(ValueError):
    """The CSV (or its state file) cannot be resumed or written; the message names it and says why."""


@dataclass(frozen=True)
class DoneRow:
    """A file already in the CSV: the hash of the bytes scored and its QualityScore."""

    sha256: str | None
    score: int | None


def _split_lines(data: bytes) -> tuple[list[bytes], int]:
    """Complete lines (with their newline) and the byte length they cover (a partial tail is left out)."""
    end = data.rfind(b"\n") + 1
    return data[:end].splitlines(keepends=True), end


class ResumableCsv:
    """NIST-column CSV with a state file, opened for a run: reconcile, drop, append.

    Parameters
    ----------
    path : str or Path
        The CSV. Created owner-only if missing; if present it must hold this header
        and have its state file (else :class:`CsvError`: nothing is overwritten).
    scorer : str
        ``"fast"`` or ``"nist"``; a CSV written by the other scorer is not resumed.
    ppi : float or None
        The ``--ppi`` override, which changes every score: a CSV written with
        another one is not resumed.

    Notes
    -----
    Use as a context manager; :meth:`done` tells what is already there,
    :meth:`forget` drops rows to be scored again, :meth:`append` writes a row.
    Another run writing the same CSV at the same time is refused (an exclusive
    ``flock`` on the state file).
    """

    def __init__(self, path: str | os.PathLike[str], *, scorer: str, ppi: float | None):
        self.path = Path(path)
        self.state_path = self.path.with_name(self.path.name + STATE_SUFFIX)
        self.scorer = scorer
        self.ppi = None if ppi is None else float(ppi)
        self._csv_fd: int | None = None
        self._state_fd: int | None = None
        self._rows: list[tuple[bytes, dict]] = []  # kept rows: (CSV line, state entry)
        self._last_sync = time.monotonic()
        self._dirty = False

    # ------------------------------------------------------------------ opening

    def _state_header(self) -> bytes:
        return (json.dumps({"ifb1_state": STATE_VERSION, "columns": "nfiq2 -a -v", "scorer": self.scorer,
                            "ppi": self.ppi}, sort_keys=True) + "\n").encode()

    def _open(self, path: Path, *, create: bool) -> int:
        flags = os.O_RDWR | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        if create:
            flags |= os.O_CREAT
        try:
            fd = os.open(path, flags, 0o600)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise CsvError(f"{path}: is a symbolic link; give the real file") from exc
            raise CsvError(f"{path}: cannot open ({exc.strerror or exc})") from exc
        os.fchmod(fd, 0o600)  # owner-only even if it was made otherwise
        return fd

    def __enter__(self) -> "ResumableCsv":
        from ifb1.fileio import make_private_dirs

        if self.path.is_dir():
            raise CsvError(f"{self.path}: is a folder; --csv needs a file name")
        make_private_dirs(self.path.parent)
        has_rows = self.path.is_file() and self.path.stat().st_size > 0
        if has_rows and not self.state_path.exists():
            raise CsvError(f"{self.path}: exists and has no {self.state_path.name} beside it, so ifb1 cannot "
                           "tell which files it holds; give another --csv (nothing was changed)")
        self._state_fd = self._open(self.state_path, create=True)
        try:
            _lock(self._state_fd, self.path)
            self._csv_fd = self._open(self.path, create=True)
            self._reconcile(_read_fd(self._csv_fd), _read_fd(self._state_fd))
        except BaseException:
            self._close()
            raise
        return self

    def _reconcile(self, csv_data: bytes, state_data: bytes) -> None:
        header = HEADER.encode()
        lines, _ = _split_lines(csv_data)
        unchanged = f"give another --csv (nothing was changed)"
        if lines and lines[0] != header:
            raise CsvError(f"{self.path}: is not a CSV with NFIQ 2's columns as ifb1 writes them "
                           f"(its first line differs); {unchanged}")
        if not lines and not header.startswith(csv_data):
            raise CsvError(f"{self.path}: is not a CSV ifb1 wrote (no complete first line); {unchanged}")
        states, _ = _split_lines(state_data)
        if len(lines) > 1 and not states:
            raise CsvError(f"{self.state_path}: is empty while the CSV holds rows; {unchanged}")
        if states:
            try:
                head = json.loads(states[0])
            except ValueError:
                head = None
            if not isinstance(head, dict) or head.get("ifb1_state") != STATE_VERSION:
                raise CsvError(f"{self.state_path}: is not an ifb1 state file; {unchanged}")
            if head.get("scorer") != self.scorer or head.get("ppi") != self.ppi:
                was = f"--scorer {head.get('scorer')}" + ("" if head.get("ppi") is None else f" --ppi {head['ppi']:g}")
                raise CsvError(f"{self.path}: was written with {was}; rerun with the same options to resume it, "
                               "or give another --csv")
        # Row hash -> state entries, the latest last (a file scored again after a change wins).
        by_hash: dict[str, list[dict]] = {}
        for n, line in enumerate(states[1:], start=2):
            try:
                e = json.loads(line)
                by_hash.setdefault(str(e["row"]), []).append(e)
                str(e["file"])
            except (ValueError, KeyError, TypeError) as exc:
                raise CsvError(f"{self.state_path}: line {n} is damaged; {unchanged}") from exc
        kept: list[tuple[bytes, dict]] = []
        orphans_at: list[int] = []
        for k, line in enumerate(lines[1:]):
            entries = by_hash.get(_row_hash(line))
            if entries:
                kept.append((line, entries.pop()))
            else:
                orphans_at.append(k)
        # A row without its state line can only be the last ones (killed between the two
        # writes): anywhere else, or every row while the state names some, the CSV was edited.
        n_rows = len(lines) - 1
        if orphans_at and (orphans_at != list(range(n_rows - len(orphans_at), n_rows))
                           or (not kept and len(states) > 1)):
            raise CsvError(f"{self.path}: rows {orphans_at[0] + 2}.. do not match {self.state_path.name} "
                           f"(was the CSV edited?); {unchanged}")
        # The same file twice (a crash between a rewrite's two files): the later row wins.
        last = {e["file"]: k for k, (_l, e) in enumerate(kept)}
        self._rows = [r for k, r in enumerate(kept) if last[r[1]["file"]] == k]
        self._rewrite()

    def _state_bytes(self) -> bytes:
        return self._state_header() + b"".join(_state_line(e) for _l, e in self._rows)

    def _rewrite(self) -> None:
        """Make both files hold exactly the kept rows, the CSV first.

        A partial or orphan tail is cut in place; rows dropped in the middle (a file
        whose content changed) mean a new file renamed over the old one, so a crash
        leaves either the old or the new file, never half of one.
        """
        data = HEADER.encode() + b"".join(line for line, _e in self._rows)
        for attr, want, path, lock in (("_csv_fd", data, self.path, False),
                                       ("_state_fd", self._state_bytes(), self.state_path, True)):
            fd = getattr(self, attr)
            have = _read_fd(fd)
            if have == want:
                continue
            try:
                if have[: len(want)] == want:
                    os.ftruncate(fd, len(want))
                    os.fsync(fd)
                else:
                    setattr(self, attr, _replace(path, want, lock=lock))
                    os.close(fd)
            except OSError as exc:
                _raise_storage(exc, path)

    # ------------------------------------------------------------------ use

    def done(self) -> dict[str, DoneRow]:
        """Files already in the CSV: path as listed -> hash of the bytes scored (None: try again) and score."""
        return {e["file"]: DoneRow(e.get("sha256"), parse_score(line.decode("utf-8", "surrogateescape")))
                for line, e in self._rows}

    def forget(self, paths: set[str]) -> None:
        """Drop the rows of ``paths`` (their content changed or they failed to be read): scored again."""
        if not paths:
            return
        before = len(self._rows)
        self._rows = [(line, e) for line, e in self._rows if e["file"] not in paths]
        if len(self._rows) != before:
            self._rewrite()

    def append(self, path: str, line: str, sha256: str | None) -> None:
        """Write one row: the CSV line, then its state line, each in one write.

        Parameters
        ----------
        path : str
            The file as listed.
        line : str
            :func:`row_line`'s line.
        sha256 : str or None
            Hash of the bytes scored; None makes a rerun score the file again.
        """
        raw = line.encode("utf-8", "surrogateescape")
        entry = {"file": path, "sha256": sha256, "row": _row_hash(raw)}
        _write_all(self._csv_fd, raw, self.path)
        _write_all(self._state_fd, _state_line(entry), self.state_path)
        self._rows.append((raw, entry))
        self._dirty = True
        if time.monotonic() - self._last_sync >= SYNC_SECONDS:
            self.sync()

    def sync(self) -> None:
        """Flush both files to disk (the CSV first)."""
        if self._dirty:
            for fd, path in ((self._csv_fd, self.path), (self._state_fd, self.state_path)):
                try:
                    os.fsync(fd)
                except OSError as exc:
                    _raise_storage(exc, path)
            self._dirty = False
        self._last_sync = time.monotonic()

    def _close(self) -> None:
        for name in ("_csv_fd", "_state_fd"):
            fd = getattr(self, name)
            if fd is not None:
                os.close(fd)  # closing the state file releases the lock
                setattr(self, name, None)

    def __exit__(self, *exc) -> None:
        try:
            if self._csv_fd is not None:
                self.sync()
        finally:
            self._close()


def _state_line(entry: dict) -> bytes:
    # ASCII JSON: a file name's odd characters are escaped, never a newline.
    return (json.dumps(entry, sort_keys=True, ensure_ascii=True) + "\n").encode()


def _lock(fd: int, path: Path) -> None:
    """An exclusive lock on the state file: one run at a time writes a CSV."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        raise CsvError(f"{path}: another ifb1 run is writing this CSV now") from exc


def _replace(path: Path, data: bytes, *, lock: bool) -> int:
    """Write ``data`` to a new owner-only file renamed over ``path``; its open append descriptor.

    The new state file is locked before it takes the name, and the descriptor that
    holds the lock is the one kept, so no other run can take the lock in between.
    """
    import fcntl
    import tempfile

    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        if lock:
            _lock(fd, path)
        _write_all(fd, data, path)
        os.fsync(fd)
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_APPEND)
        os.replace(tmp, path)
    except BaseException:
        os.close(fd)
        Path(tmp).unlink(missing_ok=True)
        raise
    try:
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)  # the rename itself reaches the disk
        finally:
            os.close(dfd)
    except OSError:
        pass
    return fd


def _read_fd(fd: int) -> bytes:
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while True:
        b = os.read(fd, 1 << 20)
        if not b:
            return b"".join(chunks)
        chunks.append(b)


def _raise_storage(exc: OSError, path: Path):
    from ifb1.fileio import storage_fault

    fault = storage_fault(exc, path.parent, 1 << 20)
    if fault is not None:
        raise fault from exc
    raise CsvError(f"{path}: cannot write ({exc.strerror or exc})") from exc


def _write_all(fd: int, data: bytes, path: Path) -> None:
    """``data`` to an O_APPEND file: one ``write`` (a short write, which only a full disk causes, is finished)."""
    view = memoryview(data)
    try:
        while view:
            n = os.write(fd, view)
            view = view[n:]
    except OSError as exc:
        _raise_storage(exc, path)
