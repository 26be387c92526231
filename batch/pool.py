"""The batch's workers: one process pool fed whole forms; each worker reads, scores and stages one form.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from ifb1.batch.export import build_export
from ifb1.outputs.staging import stage_outputs
from ifb1.pipeline.form import FormResult, ProcessOptions, process_form


@dataclass(frozen=True)
class Job:
    """One scan for a worker: where it is, what it hashed to, how to process it."""

    rel: str
    path: str
    sha256: str
    options: ProcessOptions
    staging_root: str
    case_ref: str | None = None



@dataclass(frozen=True)
class JobResult:
    """What a worker sends back: the result without images and, for a suitable form, its export."""

    result: FormResult
    export: bytes | None = field(default=None, repr=False)
    fault: str | None = None  # a full or failing disk: the batch stops (see StorageFault)



def run_job(job: Job) -> JobResult:
    """Worker side: process one scan, stage its outputs and build its export if suitable.

    Returns the result without images (small to send back). Never raises for
    a bad scan or an unexpected error in a stage: the result is ``rejected``
    with the error, so one file cannot stop the batch.
    """
    try:
        result = process_form(job.path, options=job.options)
        if result.ok and result.sha256 != job.sha256:
            return JobResult(FormResult(source=job.path, status="rejected", sha256=result.sha256,
                                        error=f"{job.path}: the file changed while the batch ran; "
                                              "it is tried again next run"))
        if not result.ok:
            return JobResult(result.without_images())
        t = time.perf_counter()
        try:
            stage_outputs(result, Path(job.staging_root))
        except OSError as exc:
            from ifb1.fileio import FORM_OUTPUT_FREE, storage_fault

            fault = storage_fault(exc, Path(job.staging_root).parent, FORM_OUTPUT_FREE)
            if fault is None:
                raise
            return JobResult(result.without_images(), fault=str(fault))
        t1 = time.perf_counter()
        data = build_export(result, case_ref=job.case_ref, policy=job.options.policy)
        t2 = time.perf_counter()
        timings = result.timings_ms | {"stage_outputs": (t1 - t) * 1000.0, "export_build": (t2 - t1) * 1000.0}
        return JobResult(replace(result, timings_ms=timings).without_images(), data)
    except Exception as exc:  # keep the batch going; the message names the file
        return JobResult(FormResult(source=job.path, status="rejected", sha256=job.sha256,
                                    error=f"{job.path}: processing failed ({type(exc).__name__}: {exc})"))



def _init_worker(parent_pid: int) -> None:
    """Worker start-up: die with the parent, one OpenCV thread."""
    # A batch killed outright (SIGKILL, power button) must not leave workers
    # computing on: ask Linux to kill this worker when its parent dies.
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        os._exit(1)
    # One OpenCV thread per worker: the pool already uses every core.
    import cv2

    cv2.setNumThreads(1)



def pool_results(jobs: list[Job], workers: int) -> Iterator[tuple[Job, JobResult]]:
    """Results in job order; N == 1 runs in this process, else one spawn pool."""
    if workers <= 1:
        # Same as a pool worker: one OpenCV thread, so N workers use N cores.
        import cv2

        threads = cv2.getNumThreads()
        cv2.setNumThreads(1)
        try:
            for job in jobs:
                yield job, run_job(job)
        finally:
            cv2.setNumThreads(threads)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    ctx = multiprocessing.get_context("spawn")  # no inherited record connection or lock
    todo = deque(jobs)
    window = 2 * workers
    while todo:
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                                 initargs=(os.getpid(),)) as ex:
            pending: deque = deque()
            broken = False
            while (todo or pending) and not broken:
                while todo and len(pending) < window:
                    job = todo.popleft()
                    pending.append((job, ex.submit(run_job, job)))
                job, fut = pending.popleft()
                try:
                    res = fut.result()
                except BrokenProcessPool:
                    broken = True
                    res = JobResult(FormResult(source=job.path, status="rejected", sha256=job.sha256,
                                               error=f"{job.path}: the worker process died while processing it "
                                                     "(out of memory?); it is tried again next run"))
                except Exception as exc:
                    res = JobResult(FormResult(source=job.path, status="rejected", sha256=job.sha256,
                                               error=f"{job.path}: processing failed ({type(exc).__name__}: {exc})"))
                yield job, res
            if broken:  # start a fresh pool for the jobs that were waiting
                todo.extendleft(reversed([j for j, _f in pending]))
                for _j, f in pending:
                    f.cancel()
