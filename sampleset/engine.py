"""Map a picklable function over items on this machine's cores or on a Dask cluster.

One engine for every sample-set run (``ifb1 quality``) and, later, the nightly
batch (``ifb1 batch --scheduler``):

- ``workers=1``, no client: in this process, one OpenCV thread (so N workers
  use N cores and results do not depend on the thread count);
- ``workers=N``: one process pool (``spawn``: no inherited locks, open record
  connections or threads), whole items to workers, each worker with one
  OpenCV/BLAS/OpenMP thread (set in its initializer, before numpy loads), dying
  with its parent on Linux;
- ``client``: a ``distributed.Client``; the same function runs on the cluster's
  workers, results come back to this process.

:func:`map_unordered` yields ``(index, result)`` as results complete;
:func:`map_ordered` yields results in input order (a reorder buffer, bounded by
the window of items in flight). At most ``window`` items are submitted and not
yet handed back, so memory stays flat on a million items (and shipped bytes
stay bounded).

A worker that dies (out of memory, a crash in a native library) does not stop
the run: the pool is restarted and the items that were in flight are run again,
one at a time, so only the item that kills a worker twice is given up, through
``on_error`` (:class:`WorkerDied`). Dask retries a task whose worker died by
itself and reports ``KilledWorker`` after its allowed failures.

The function must be importable on the workers (a module-level function of an
installed package): ``spawn`` and Dask pickle it by reference.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import uuid
from collections import deque
from typing import Any, Callable, Iterable, Iterator, TypeVar

T = TypeVar("T")
R = TypeVar("R")

#: Environment variables that cap the thread pools of BLAS and OpenMP; read when
#: those libraries load, so they are set before numpy is imported in a worker.
THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


class WorkerDied(RuntimeError):
    """The worker process died while running an item (it was tried twice)."""


class WorkersDoNotStart(RuntimeError):
    """The pool's worker processes die before running anything: an environment fault, not an item's."""


def _ping() -> int:
    """A task that needs nothing: whether a fresh pool's workers start at all."""
    return os.getpid()


def available_cores() -> int:
    """Cores this process may run on (the CPU affinity mask where there is one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _one_thread() -> None:
    """One OpenCV thread in this process (the pool, not OpenCV, uses the cores)."""
    import cv2

    cv2.setNumThreads(1)


def init_worker(parent_pid: int) -> None:
    """Pool worker start-up: one BLAS/OpenMP/OpenCV thread, die with the parent.

    Parameters
    ----------
    parent_pid : int
        The client's process id: a worker whose parent is already gone exits.
    """
    for name in THREAD_ENV:
        os.environ[name] = "1"
    # A run killed outright (SIGKILL, a closed terminal) must not leave workers
    # computing on: ask Linux to kill this worker when its parent dies.
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        os._exit(1)
    _one_thread()


_DASK_READY = False

# glibc mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


@contextlib.contextmanager
def _heap_for_arrays() -> Iterator[None]:
    """During one task: let glibc reuse freed array memory; afterwards, Dask's settings and a trim.

    A Dask nanny starts its workers with ``MALLOC_TRIM_THRESHOLD_=65536``
    (``distributed.nanny.pre-spawn-environ``) so that freed memory goes back to the
    system at once. Setting it also turns off glibc's sliding mmap threshold, so every
    array over 128 KiB is a fresh ``mmap`` whose pages fault in again: measured on
    ifb1's fast scorer, 15-25 % more CPU a print than in a plain process. For the time
    of our task only, arrays up to 32 MiB come from the heap and it is not trimmed;
    then the worker's own values are put back and the heap is trimmed
    (``malloc_trim``), so the worker holds no more memory between tasks than Dask
    intends. Nothing changes where the variable is not set, or without glibc.
    """
    trim = os.environ.get("MALLOC_TRIM_THRESHOLD_")
    libc = None
    if trim is not None and sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None)
            libc.mallopt, libc.malloc_trim  # noqa: B018  glibc only (not musl)
            trim_value = int(trim)
            mmap_value = int(os.environ.get("MALLOC_MMAP_THRESHOLD_", 128 * 1024))
        except (OSError, AttributeError, ValueError):
            libc = None
    if libc is None:
        yield
        return
    libc.mallopt(_M_MMAP_THRESHOLD, 32 << 20)  # glibc's maximum on 64-bit
    libc.mallopt(_M_TRIM_THRESHOLD, 256 << 20)
    try:
        yield
    finally:
        libc.mallopt(_M_TRIM_THRESHOLD, trim_value)
        libc.mallopt(_M_MMAP_THRESHOLD, mmap_value)
        libc.malloc_trim(0)


def _on_dask_worker(fn: Callable[[T], R], items: list[T]) -> list[tuple[bool, Any]]:
    """Run ``fn`` on each of ``items`` on a Dask worker: ``(True, result)`` or ``(False, exception)`` each.

    One OpenCV thread there: the nanny already caps BLAS/OpenMP threads
    (``distributed.nanny.pre-spawn-environ``); OpenCV's own pool is set here, once
    per worker process, rather than by a plugin that would change a shared cluster
    for every other client. An item that raises does not lose the others of its task.
    """
    global _DASK_READY
    if not _DASK_READY:
        _one_thread()
        _DASK_READY = True
    out: list[tuple[bool, Any]] = []
    with _heap_for_arrays():
        for item in items:
            try:
                out.append((True, fn(item)))
            except Exception as exc:
                out.append((False, exc))
    return out


def _handle(item: Any, exc: BaseException, on_error: Callable[[Any, BaseException], Any] | None) -> Any:
    if on_error is None:
        raise exc
    return on_error(item, exc)


def _local(fn, items, on_error) -> Iterator[tuple[int, Any]]:
    import cv2

    # Same as a pool worker: one OpenCV thread. BLAS threads cannot be changed once
    # numpy is loaded; the command line sets them before (see :func:`limit_threads_here`).
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        for i, item in enumerate(items):
            try:
                r = fn(item)
            except Exception as exc:  # one bad item must not stop the run
                r = _handle(item, exc, on_error)
            yield i, r
    finally:
        cv2.setNumThreads(threads)


def limit_threads_here() -> None:
    """Cap BLAS/OpenMP threads of this process to one, if numpy is not loaded yet.

    For the command line, which scores in its own process with ``--workers 1``:
    the variables take effect only when the libraries load, so a library caller
    that already imported numpy keeps its own settings.
    """
    if "numpy" not in sys.modules and "cv2" not in sys.modules:
        for name in THREAD_ENV:
            os.environ.setdefault(name, "1")


class _Budget:
    """Items taken from the source and not yet handed back to the caller, at most ``window``."""

    def __init__(self, window: int):
        self.window = max(1, window)
        self.taken = 0
        self.released = 0

    def room(self) -> bool:
        return self.taken - self.released < self.window


def _pool(fn, items, workers, budget: _Budget, on_error) -> Iterator[tuple[int, Any]]:
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    ctx = multiprocessing.get_context("spawn")
    source = iter(enumerate(items))
    suspects: deque[tuple[int, Any]] = deque()  # in flight when a worker died: run again, alone
    exhausted = False
    died = WorkerDied("the worker process died while running it (out of memory, or a crash in a "
                      "native library), twice")
    started = False  # a worker of this run has run something
    while not (exhausted and not suspects):
        ex = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=init_worker,
                                 initargs=(os.getpid(),))
        pending: dict = {}  # future -> (index, item, ran alone)
        broken = False
        try:
            if suspects and not started:
                # The first pool broke before anything ran: do workers start at all?
                try:
                    ex.submit(_ping).result()
                except BrokenProcessPool as exc:
                    raise WorkersDoNotStart(
                        "the pool's worker processes die at start-up (is the function's module importable "
                        "by a fresh Python? a script needs an `if __name__ == '__main__':` guard)") from exc
                started = True
            while not broken:
                alone_running = any(a for _i, _it, a in pending.values())
                if suspects or alone_running:
                    # One at a time, nothing beside it: if it kills the worker, it is the one.
                    if suspects and not pending:
                        i, item = suspects.popleft()
                        pending[ex.submit(fn, item)] = (i, item, True)
                else:
                    while not exhausted and budget.room():
                        try:
                            i, item = next(source)
                        except StopIteration:
                            exhausted = True
                            break
                        budget.taken += 1
                        pending[ex.submit(fn, item)] = (i, item, False)
                if not pending:
                    if exhausted and not suspects:
                        break
                    raise RuntimeError("engine stalled: no item in flight and no room for one")
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    i, item, alone = pending.pop(fut)
                    try:
                        r = fut.result()
                    except BrokenProcessPool:
                        broken = True
                        if alone:
                            yield i, _handle(item, died, on_error)
                        else:
                            suspects.append((i, item))
                        continue
                    except Exception as exc:
                        r = _handle(item, exc, on_error)
                    started = True
                    yield i, r
            # A dead worker breaks the whole pool: what finished is kept, the rest runs again.
            for fut, (i, item, _alone) in pending.items():
                if fut.done() and not fut.cancelled() and fut.exception() is None:
                    yield i, fut.result()
                else:
                    suspects.append((i, item))
            pending.clear()
        finally:
            # Not waiting: every result is in (or no longer wanted); idle workers exit by
            # themselves on the shutdown sentinel, and with their parent at the latest.
            ex.shutdown(wait=False, cancel_futures=True)


def _dask(fn, items, client, budget: _Budget, on_error, batch: int) -> Iterator[tuple[int, Any]]:
    from distributed import as_completed

    try:
        remaining = len(items)  # known: the last tasks are made smaller, so no worker idles at the end
    except TypeError:
        remaining = None
    threads = sum(client.nthreads().values()) or 1
    run = uuid.uuid4().hex[:12]
    source = iter(enumerate(items))
    futures = as_completed(loop=client.loop)
    meta: dict[str, tuple[list[tuple[int, Any]], Any]] = {}  # key -> ([(index, item)], future)
    exhausted = False

    def submit_more() -> None:
        nonlocal exhausted
        # A task holds up to `batch` items; a partial one only at the end, or when nothing is in flight.
        while not exhausted and (budget.window - (budget.taken - budget.released) >= batch
                                 or (not meta and budget.room())):
            size = batch
            if remaining is not None:
                size = max(1, min(batch, -(-(remaining - budget.taken) // (2 * threads))))
            chunk: list[tuple[int, Any]] = []
            while len(chunk) < size and budget.room():
                try:
                    chunk.append(next(source))
                except StopIteration:
                    exhausted = True
                    break
                budget.taken += 1
            if not chunk:
                return
            key = f"ifb1-{run}-{chunk[0][0]}"
            fut = client.submit(_on_dask_worker, fn, [item for _i, item in chunk], key=key, pure=False)
            meta[key] = (chunk, fut)
            futures.add(fut)

    submit_more()
    try:
        for fut in futures:
            chunk, _f = meta.pop(fut.key)
            try:
                answers = fut.result()
            except Exception as exc:  # KilledWorker (the worker died, retried), or a failure to unpickle
                answers = [(False, exc)] * len(chunk)
            fut.release()  # free the result on the cluster at once
            for (i, item), (ok, value) in zip(chunk, answers):
                yield i, value if ok else _handle(item, value, on_error)
            submit_more()
    finally:
        if meta:  # stopped early (error, Ctrl-C): do not leave our tasks running on the cluster
            client.cancel([f for _c, f in meta.values()], force=True)


def default_window(workers: int) -> int:
    """Items in flight for ``workers`` parallel workers: enough to keep each busy."""
    return max(4, 4 * workers)


def _window(workers: int, client: Any, window: int | None, batch: int) -> int:
    if window is not None:
        return max(1, int(window))
    if client is not None:  # per thread: a task running, one queued, one on its way back
        return 3 * batch * (sum(client.nthreads().values()) or 1)
    return default_window(workers)


def _core(fn, items, workers, client, budget, on_error, batch) -> Iterator[tuple[int, Any]]:
    if client is not None:
        return _dask(fn, items, client, budget, on_error, batch)
    if workers == 1:
        return _local(fn, items, on_error)
    return _pool(fn, items, workers, budget, on_error)


def _check(workers: int, batch: int) -> None:
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if batch < 1:
        raise ValueError(f"batch must be at least 1, got {batch}")


def map_unordered(fn: Callable[[T], R], items: Iterable[T], *, workers: int = 1, client: Any = None,
                  window: int | None = None, on_error: Callable[[T, BaseException], R] | None = None,
                  batch: int = 1) -> Iterator[tuple[int, R]]:
    """``fn`` over ``items``, yielding ``(index, result)`` as results complete.

    Parameters
    ----------
    fn : callable
        A module-level function of an installed package (pickled by reference).
    items : iterable
        Picklable items; consumed lazily, at most ``window`` ahead. When it has a length,
        the last Dask tasks hold fewer items (the work ends evenly on every worker).
    workers : int
        Processes on this machine; 1 runs in this process. Ignored with ``client``.
    client : distributed.Client, optional
        Run on this Dask cluster instead.
    window : int, optional
        Items submitted and not yet yielded (default :func:`default_window` of the
        workers, or of the cluster's threads).
    on_error : callable, optional
        ``on_error(item, exc)`` gives the result of an item whose run raised or whose
        worker died (:class:`WorkerDied`); None re-raises.
    batch : int
        With ``client``: items per Dask task. Dask costs about a millisecond of
        scheduler and client time per task, so items much shorter than 0.1 s are
        better sent a few per task (their results still come back one by one).

    Yields
    ------
    (int, result)
        The item's index in ``items`` and ``fn(item)``.

    Raises
    ------
    ValueError
        If ``workers`` < 1.
    """
    _check(workers, batch)
    budget = _Budget(_window(workers, client, window, batch))
    for i, r in _core(fn, items, workers, client, budget, on_error, batch):
        budget.released += 1
        yield i, r


def map_ordered(fn: Callable[[T], R], items: Iterable[T], *, workers: int = 1, client: Any = None,
                window: int | None = None, on_error: Callable[[T, BaseException], R] | None = None,
                batch: int = 1) -> Iterator[R]:
    """:func:`map_unordered`, with results yielded in the order of ``items``.

    Results that complete early wait in a buffer; the items in flight plus that
    buffer never exceed the window, so one slow item holds back submission, not
    memory. Parameters as :func:`map_unordered`.

    Yields
    ------
    result
        ``fn(item)`` for each item, in input order.
    """
    _check(workers, batch)
    budget = _Budget(_window(workers, client, window, batch))
    buffer: dict[int, Any] = {}
    nxt = 0
    for i, r in _core(fn, items, workers, client, budget, on_error, batch):
        buffer[i] = r
        while nxt in buffer:
            yield buffer.pop(nxt)
            nxt += 1
            budget.released += 1
