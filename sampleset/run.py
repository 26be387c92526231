"""One sample-set run: list, skip what the CSV already holds, score on every core or a cluster, write.

:func:`run_sampleset` is what ``ifb1 quality`` calls. The client (this process)
lists the files, decides what is already done, and alone writes the CSV; the
workers (processes here, or a Dask cluster's) only read and score, so the CSV
is the same bytes however the work was spread (rows in listing order).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from ifb1.sampleset.score import ScoredFile, ScoreTask

#: Upper edges of the score histogram's bins: 0-9, 10-19, ..., 90-100.
HISTOGRAM_BINS = tuple((lo, lo + 9 if lo < 90 else 100) for lo in range(0, 100, 10))


class ClusterError(RuntimeError):
    """The Dask scheduler cannot be reached or its workers cannot do the work; the message says why."""


@dataclass(frozen=True)
class SampleSetOptions:
    """How a sample set is scored.

    Attributes
    ----------
    scorer : str
        ``"fast"`` (ifb1's NFIQ 2) or ``"nist"`` (NIST's NFIQ 2 through nbis-py).
    ppi : float or None
        Resolution of every file, overriding its metadata (None: the file's, else 500).
    workers : int
        Processes on this machine (1: this process). Ignored with ``scheduler``.
    scheduler : str or None
        Address of a Dask scheduler (``tcp://host:8786``): the cluster's workers score.
    ship_files : bool
        With ``scheduler``: send each file's bytes to the workers instead of letting
        them open the path (which they must then share with this machine).
    window : int or None
        Files in flight at once (None: four per worker; on a cluster three tasks per thread).
    dask_batch : int or None
        Files per Dask task (None: :data:`DASK_BATCH` for the scorer). Dask spends about a
        millisecond of scheduler and client time per task: at ~40 ms a print (fast
        scorer) one print per task would cost a few per cent of the cluster's time and,
        on a large cluster, saturate the scheduler; the NIST scorer's ~0.3 s a print
        needs no batching.
    """

    scorer: str = "fast"
    ppi: float | None = None
    workers: int = 1
    scheduler: str | None = None
    ship_files: bool = False
    window: int | None = None
    dask_batch: int | None = None


#: Files per Dask task by scorer (see :attr:`SampleSetOptions.dask_batch`).
DASK_BATCH = {"fast": 8, "nist": 1}


@dataclass(frozen=True)
class SampleSetSummary:
    """What a run did.

    Attributes
    ----------
    files : int
        Files listed.
    scored : int
        Files with a score (scored now, or already in the CSV).
    failed : int
        Files without a score.
    skipped : int
        Files already in the CSV with the same content, not scored again.
    histogram : tuple of int
        Scores per bin of :data:`HISTOGRAM_BINS` (every scored file).
    seconds : float
        Wall time of the run.
    where : str
        Where it ran (``"this process"``, ``"2 processes"``, ``"Dask cluster tcp://... (4 threads)"``).
    scorer : str
    csv : str or None
        The CSV written, if any.
    failures : tuple of str
        The reason of each file without a score (first few hundred).
    """

    files: int
    scored: int
    failed: int
    skipped: int
    histogram: tuple[int, ...]
    seconds: float
    where: str
    scorer: str
    csv: str | None = None
    failures: tuple[str, ...] = field(default=(), repr=False)

    def lines(self) -> list[str]:
        """The summary as a few plain lines (a histogram bar per score bin)."""
        scored_now = self.files - self.skipped
        head = f"{self.files} file(s): {self.scored} scored, {self.failed} not scored"
        if self.csv is not None:
            head += f"; {self.skipped} already in {self.csv}, {scored_now} scored now"
        out = [head]
        if self.scored:
            who = "NIST NFIQ 2" if self.scorer == "nist" else "NFIQ 2 (ifb1 fast)"
            out.append(f"{who} scores:")
            top = max(self.histogram) or 1
            for (lo, hi), n in zip(HISTOGRAM_BINS, self.histogram):
                out.append(f"  {lo:3d}-{hi:<3d} {'#' * round(30 * n / top):<30} {n}")
        rate = scored_now / self.seconds if self.seconds > 0 else 0.0
        out.append(f"{self.seconds:.1f} s, {rate:.1f} prints/s on {self.where}")
        return out


def _histogram(scores: list[int]) -> tuple[int, ...]:
    h = [0] * len(HISTOGRAM_BINS)
    for q in scores:
        h[min(9, max(0, int(q)) // 10)] += 1
    return tuple(h)


class _Tasks:
    """One task per file, built as the engine pulls them (shipped bytes read just in time); sized."""

    def __init__(self, files: list[str], options: SampleSetOptions, *, remote: bool):
        self.files = files
        self.options = options
        self.remote = remote  # on a cluster: absolute paths, or the bytes with ship_files

    def __len__(self) -> int:
        return len(self.files)

    def __iter__(self) -> Iterator[ScoreTask]:
        remote = self.remote
        for f in self.files:
            data = None
            if remote and self.options.ship_files:
                try:
                    with open(f, "rb") as fh:
                        data = fh.read()
                except OSError:
                    data = None  # the worker tries the path and reports why it cannot be read
            yield ScoreTask(f, os.path.abspath(f) if remote else f, data, self.options.ppi, self.options.scorer)


def worker_check(scorer: str, probe: str | None) -> dict[str, Any]:
    """Run on each Dask worker before a run: its ifb1 version, and whether it can do the work.

    Parameters
    ----------
    scorer : str
        The scorer asked for (``"nist"`` needs nbis-py on the worker).
    probe : str or None
        An absolute path the worker must see (the first file), when files are not shipped.

    Returns
    -------
    dict
        ``version`` and ``problem`` (None, or what is wrong on this worker).
    """
    import ifb1

    problem = None
    if scorer == "nist":
        from ifb1.quality.nist import NistScorerUnavailable, require_nist

        try:
            require_nist()
        except NistScorerUnavailable as exc:
            problem = str(exc)
    if problem is None and probe is not None and not os.path.exists(probe):
        problem = f"cannot see {probe}: give --ship-files, or a path the workers share with this machine"
    return {"version": ifb1.__version__, "problem": problem}


def connect(address: str, *, timeout: float = 20.0) -> Any:
    """A ``distributed.Client`` for the scheduler at ``address`` (``distributed`` imported here only).

    Raises
    ------
    ClusterError
        When the scheduler cannot be reached in ``timeout`` seconds.
    """
    try:
        from distributed import Client
    except ImportError as exc:
        raise ClusterError(f"--scheduler needs the 'distributed' package ({exc})") from exc
    try:
        return Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ClusterError(f"cannot reach the Dask scheduler at {address} ({type(exc).__name__}: {exc})") from exc


def check_cluster(client: Any, *, scorer: str, probe: str | None) -> int:
    """Check every worker of ``client`` can score; their thread count.

    Raises
    ------
    ClusterError
        No workers, a worker without ifb1 (or another version), without NIST's NFIQ 2
        for ``scorer="nist"``, or not seeing the files.
    """
    import ifb1

    nthreads = client.nthreads()
    if not nthreads:
        raise ClusterError("the Dask cluster has no workers")
    try:
        answers = client.run(worker_check, scorer, probe)
    except Exception as exc:  # a worker that cannot import ifb1 fails to unpickle the function
        raise ClusterError(f"the cluster's workers cannot run ifb1 ({type(exc).__name__}: {exc}); "
                           f"install ifb1 {ifb1.__version__} on them") from exc
    for worker, a in sorted(answers.items()):
        if a["version"] != ifb1.__version__:
            raise ClusterError(f"worker {worker} has ifb1 {a['version']}, this machine {ifb1.__version__}: "
                               "install the same version on both")
        if a["problem"]:
            raise ClusterError(f"worker {worker}: {a['problem']}")
    return sum(nthreads.values())


def run_sampleset(paths: list[str] | tuple[str, ...], *, options: SampleSetOptions = SampleSetOptions(),
                  csv_path: str | os.PathLike[str] | None = None,
                  on_result: Callable[[ScoredFile], None] | None = None,
                  progress: Callable[[int], Any] | None = None, client: Any = None) -> SampleSetSummary:
    """Score a sample set: files and folders, on this machine's cores or a Dask cluster.

    Parameters
    ----------
    paths : sequence of str
        Files and folders (walked recursively, sorted, hidden entries skipped:
        :func:`ifb1.sampleset.listing.list_images`).
    options : SampleSetOptions
    csv_path : path, optional
        Write NIST ``nfiq2 -a -v``'s CSV here (owner-only), resuming it if it exists:
        files already in it with the same content are not scored again
        (:class:`ifb1.sampleset.nfiq2csv.ResumableCsv`).
    on_result : callable, optional
        Called with each file's :class:`ScoredFile` as it is scored, in listing order
        (files skipped as already done are not passed).
    progress : callable, optional
        ``progress(total)`` returns an object with ``update(scored=bool)`` and ``close()``
        (:class:`ifb1.sampleset.progress.Progress`).
    client : distributed.Client, optional
        An open client to use instead of connecting to ``options.scheduler`` (not closed here).

    Returns
    -------
    SampleSetSummary

    Raises
    ------
    ListingError
        A folder cannot be listed.
    CsvError
        The CSV exists but cannot be resumed (another tool's file, other options, edited).
    ClusterError
        The scheduler cannot be reached or its workers cannot do the work.
    StorageFault
        The disk holding the CSV is full or failing.
    """
    from ifb1.sampleset.engine import limit_threads_here, map_ordered
    from ifb1.sampleset.listing import list_images
    from ifb1.sampleset.score import failed_task, file_sha256, score_task

    t0 = time.perf_counter()
    if options.ship_files and options.scheduler is None and client is None:
        raise ValueError("ship_files needs a scheduler")
    files = list_images(list(paths))
    sink = None
    scores: list[int] = []
    failures: list[str] = []
    skipped = 0
    own_client = None
    try:
        todo = files
        if csv_path is not None:
            from ifb1.sampleset.nfiq2csv import ResumableCsv

            sink = ResumableCsv(csv_path, scorer=options.scorer, ppi=options.ppi).__enter__()
            done = {os.path.normpath(k): v for k, v in sink.done().items()}
            todo, stale = [], set()
            by_norm = {os.path.normpath(k): k for k in sink.done()}
            for f in files:
                d = done.get(os.path.normpath(f))
                if d is not None and d.sha256 is not None and file_sha256(f) == d.sha256:
                    skipped += 1
                    if d.score is None:
                        failures.append(f"{f}: not scored (as in the CSV)")
                    else:
                        scores.append(d.score)
                    continue
                if d is not None:
                    stale.add(by_norm[os.path.normpath(f)])
                todo.append(f)
            sink.forget(stale)
        use_client = client
        if todo and use_client is None and options.scheduler is not None:
            use_client = own_client = connect(options.scheduler)
        if use_client is not None:
            probe = None if options.ship_files else os.path.abspath(todo[0]) if todo else None
            threads = check_cluster(use_client, scorer=options.scorer, probe=probe) if todo else 0
            where = f"Dask cluster {options.scheduler or use_client.scheduler.address} ({threads} threads)"
        else:
            where = "this process" if options.workers == 1 else f"{options.workers} processes"
            if options.workers == 1:
                limit_threads_here()
        bar = progress(len(todo)) if progress is not None and todo else None
        batch = options.dask_batch or DASK_BATCH.get(options.scorer, 1)
        results = map_ordered(score_task, _Tasks(todo, options, remote=use_client is not None), workers=options.workers, client=use_client,
                              window=options.window, on_error=failed_task, batch=batch)
        try:
            for r in results:
                if sink is not None:
                    from ifb1.sampleset.nfiq2csv import row_line

                    sink.append(r.path, row_line(r.path, r.result, quantized=r.quantized), r.sha256)
                if r.scored:
                    scores.append(int(r.result["quality"]))
                else:
                    failures.append(str(r.result.get("error")))
                if on_result is not None:
                    on_result(r)
                if bar is not None:
                    bar.update(scored=r.scored)
        finally:
            results.close()
            if bar is not None:
                bar.close()
    finally:
        if sink is not None:
            sink.__exit__(None, None, None)
        if own_client is not None:
            own_client.close()
    return SampleSetSummary(files=len(files), scored=len(scores), failed=len(failures), skipped=skipped,
                            histogram=_histogram(scores), seconds=time.perf_counter() - t0, where=where,
                            scorer=options.scorer, csv=None if csv_path is None else str(csv_path),
                            failures=tuple(failures[:500]))
