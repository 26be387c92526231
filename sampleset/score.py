"""Scoring one file: the unit of work a sample-set run sends to a worker.

:func:`assess_file` is what ``ifb1 quality`` prints for one file (its JSON
object). :func:`score_task` is the same on a worker: it reads the file (or takes
the bytes the client sent), hashes exactly the bytes it scored, and returns a
small picklable :class:`ScoredFile`. Both never raise for a bad file: the
answer says what went wrong, naming the file.

Heavy imports (numpy, OpenCV, onnxruntime, nbis) happen inside the functions,
so importing this module is cheap on the client and in a worker's start-up.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

# nbis-py does not document its extractor as thread-safe; a Dask worker may run
# several tasks in threads of one process, so NIST scoring is one at a time per
# process (a worker with one thread, as recommended, never waits on it).
_NIST_LOCK = threading.Lock()


def _empty(source: str, scorer: str) -> dict[str, Any]:
    return {"source": source, "quality": None, "scorer": scorer, "error": None, "ppi": None,
            "ppi_source": None, "resampled_from": None, "width": None, "height": None,
            "features": {}, "actionable": {}, "feedback": {"codes": [], "messages": []}}


def _assess(source: str, load: Callable[[], Any], scorer: str) -> tuple[dict[str, Any], bool]:
    """(answer, quantized) for the image ``load()`` returns; ``load`` raises ImageReadError."""
    from ifb1.quality.feedback import assess_print
    from ifb1.quality.io import ImageReadError

    out = _empty(source, scorer)
    try:
        fp = load()
    except ImageReadError as exc:
        out["error"] = str(exc)
        return out, False
    out.update(ppi=round(fp.ppi, 2), ppi_source=fp.ppi_source,
               resampled_from=None if fp.resampled_from is None else round(fp.resampled_from, 2),
               height=int(fp.image.shape[0]), width=int(fp.image.shape[1]))
    try:
        res = assess_print(fp.image)
    except Exception as exc:  # a failure on one print must not stop the others
        out["error"] = f"{source}: quality assessment failed ({type(exc).__name__}: {exc})"
        return out, fp.quantized
    out.update(quality=res.quality, features=dict(res.features), actionable=dict(res.feedback.actionable),
               feedback={"codes": list(res.feedback.codes), "messages": list(res.feedback.messages)})
    error = res.error
    if scorer == "nist":
        from ifb1.quality.nist import score_nist

        with _NIST_LOCK:
            nq = score_nist(fp.image)
        out.update(quality=nq.quality, features=nq.features, actionable=nq.actionable)
        error = nq.error
    if out["quality"] is None:
        out["error"] = f"{source}: {error}"
    return out, fp.quantized


def assess_file(path: str, *, ppi: float | None = None, scorer: str = "fast") -> dict[str, Any]:
    """Score one fingerprint image file; never raises for a bad file.

    Parameters
    ----------
    path : str
        Image file.
    ppi : float, optional
        Resolution overriding the file's metadata.
    scorer : str
        ``"fast"`` (ifb1's NFIQ 2) or ``"nist"`` (NIST's NFIQ 2 through nbis-py: its
        score, measures and actionable values; the plain-word feedback stays ifb1's).

    Returns
    -------
    dict
        ``source``, ``quality`` (0-100 or None), ``scorer``, ``error`` (None or a message
        naming the file), ``ppi``, ``ppi_source``, ``resampled_from``, ``width``/``height``
        (scored, 500 ppi), ``features`` (NFIQ 2 names), ``actionable``, ``feedback`` (codes
        and messages).

    Raises
    ------
    NistScorerUnavailable
        With ``scorer="nist"`` when NIST's NFIQ 2 is not installed here.
    """
    from ifb1.quality.io import read_fingerprint

    return _assess(path, lambda: read_fingerprint(path, ppi=ppi), scorer)[0]


@dataclass(frozen=True)
class ScoreTask:
    """One file for a worker.

    Attributes
    ----------
    path : str
        The file as listed: how the answer and the CSV name it.
    read_path : str
        Where the worker opens it (absolute, for a cluster's workers whose working
        folder is not the client's); ignored when ``data`` is given.
    data : bytes or None
        The file's bytes, sent by the client (``--ship-files``); None: read ``read_path``.
    ppi : float or None
        Resolution overriding the file's metadata.
    scorer : str
        ``"fast"`` or ``"nist"``.
    """

    path: str
    read_path: str
    data: bytes | None = field(default=None, repr=False)
    ppi: float | None = None
    scorer: str = "fast"


@dataclass(frozen=True)
class ScoredFile:
    """A worker's answer for one file.

    Attributes
    ----------
    path : str
        The file as listed.
    result : dict
        :func:`assess_file`'s answer.
    sha256 : str or None
        SHA-256 of the bytes scored; None when the file could not be read (or the
        worker died on it), so a resumed run tries it again.
    quantized : bool
        Whether the image was converted to 8-bit grey.
    """

    path: str
    result: dict
    sha256: str | None
    quantized: bool = False

    @property
    def scored(self) -> bool:
        """Whether the file got a score."""
        return self.result.get("quality") is not None


def score_task(task: ScoreTask) -> ScoredFile:
    """Worker side: read (or take) the bytes, hash them, score them; never raises for a bad file.

    Parameters
    ----------
    task : ScoreTask

    Returns
    -------
    ScoredFile

    Raises
    ------
    NistScorerUnavailable
        With ``scorer="nist"`` on a worker without NIST's NFIQ 2 (an environment fault,
        not a fault of the file).
    """
    from ifb1.quality.io import ImageReadError, decode_fingerprint, read_image_bytes

    data = task.data
    if data is None:
        try:
            data = read_image_bytes(task.read_path, name=task.path)
        except ImageReadError as exc:
            out = _empty(task.path, task.scorer)
            out["error"] = str(exc)
            return ScoredFile(task.path, out, None)
    digest = hashlib.sha256(data).hexdigest()
    result, quantized = _assess(task.path, lambda: decode_fingerprint(data, name=task.path, ppi=task.ppi),
                                task.scorer)
    return ScoredFile(task.path, result, digest, quantized)


def failed_task(task: ScoreTask, exc: BaseException) -> ScoredFile:
    """The answer for a file whose worker failed outright (died, or raised): no score, no hash.

    Parameters
    ----------
    task : ScoreTask
    exc : BaseException
        What the engine caught (:class:`ifb1.sampleset.engine.WorkerDied`, a Dask
        ``KilledWorker``, or an unexpected exception).

    Returns
    -------
    ScoredFile
        ``sha256`` None, so a resumed run scores the file again.
    """
    out = _empty(task.path, task.scorer)
    out["error"] = f"{task.path}: not scored ({type(exc).__name__}: {exc}); it is tried again on a rerun"
    return ScoredFile(task.path, out, None)


def file_sha256(path: str) -> str | None:
    """SHA-256 of a file's bytes, or None when it cannot be read."""
    try:
        with open(path, "rb") as fh:
            return hashlib.file_digest(fh, "sha256").hexdigest()
    except OSError:
        return None
