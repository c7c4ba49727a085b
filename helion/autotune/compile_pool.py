"""The compile stage of the tuning engine: batches of :class:`CompileJob` on joblib workers.

``submit`` returns at once and compiles the batch on a background thread, so the caller can
benchmark the previous batch meanwhile. Workers are joblib's: loky processes by default (kept
warm between batches by loky's reusable executor), or whatever backend the caller's
``joblib.parallel_config`` names (``dask`` against a ``distributed`` cluster, ``ray``, ...).

A job that kills its worker (a crash in the compiler, or its own hard timeout) fails alone: joblib
aborts the whole call when a worker dies, so the jobs without a result are re-run once together;
those still without one after a second death run one at a time, and a death then is theirs.
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import os
import socket
import threading
import time
from typing import Any

import joblib
from joblib.parallel import BACKENDS, get_active_backend

from .precompile import CompileJob, CompileResult, compile_job


def default_workers() -> int:
    """Compile workers for this machine: all cores on small machines, else leave two for the
    parent and the benchmark worker; at most 16."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(16, cores - 2 if cores > 4 else cores))


def _warm() -> int:
    from . import precompile  # noqa: F401  (torch, triton and the code generator)
    return os.getpid()


def run_indexed(index: int, job: CompileJob, origin: tuple[str, int] | None = None) -> tuple[int, CompileResult]:
    """The task a worker runs: ``compile_job`` tagged with the job's place in its batch.

    joblib runs tasks in the calling process when it sees one worker (``n_jobs=1``, or a dask
    cluster with one worker connected while another restarts); a job from a pool that promised
    isolation (``origin``: the submitting host and pid) then goes to a loky worker process, so
    that neither its crash nor its hard timeout can end the caller.
    """
    if origin is not None and origin == _here():
        # a private executor: resizing loky's reusable one to 1 would break joblib's own use of it
        from joblib.externals.loky import ProcessPoolExecutor
        with ProcessPoolExecutor(max_workers=1) as isolated:
            return index, isolated.submit(compile_job, job).result()
    return index, compile_job(job)


def _here() -> tuple[str, int]:
    return socket.gethostname(), os.getpid()


class CompilePool:
    """Compiles batches of jobs on ``workers`` joblib workers; ``backend=None`` follows the
    caller's ``joblib.parallel_config`` (at ``submit`` time), else loky."""

    def __init__(self, workers: int | None = None, backend: str | None = None, timeout_s: float = 120.0):
        self.workers = workers or default_workers()
        self.backend = backend
        self.timeout_s = timeout_s
        # batches run concurrently on the same (loky: reusable) workers, so one batch's slowest
        # compile does not leave the workers idle while the next batch waits; the threads are
        # daemons, so a compile still running when the program ends does not hold up its exit
        self._slots = threading.Semaphore(_CONCURRENT_BATCHES)
        self._threads: list[threading.Thread] = []
        self._given_up: set[int] = set()  # ids of the result lists of abandoned batches

    def _background(self, fn: Any, *args: Any) -> concurrent.futures.Future:
        future: concurrent.futures.Future = concurrent.futures.Future()

        def run() -> None:
            with self._slots:
                try:
                    future.set_result(fn(*args))
                except BaseException as e:  # noqa: BLE001 - handed to the caller
                    future.set_exception(e)

        thread = threading.Thread(target=run, name="compile-pool", daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()
        return future

    def submit(self, jobs: list[CompileJob]) -> concurrent.futures.Future[list[CompileResult]]:
        """Compile ``jobs`` in the background; the future's results are in job order, and its
        ``partial`` list holds each result as soon as it is in (None until then), for a caller
        that cannot wait for the slowest compile of the batch."""
        backend, n_jobs = self._backend()
        if _in_process(backend):
            # threads of this process: a hard timer would end it, so none is armed
            jobs, origin = [dataclasses.replace(job, timeout_s=None) for job in jobs], None
        else:
            jobs = [job if job.timeout_s is not None else dataclasses.replace(job, timeout_s=self.timeout_s)
                    for job in jobs]
            origin = _here()
        partial: list[CompileResult | None] = [None] * len(jobs)
        future = self._background(self._run_batch, list(jobs), backend, n_jobs, origin, partial)
        future.partial = partial  # type: ignore[attr-defined]  (results so far, filled as they finish)
        return future

    def warm(self) -> None:
        """Start the workers now (each imports the compiler), so the first batch finds them up."""
        backend, n_jobs = self._backend()
        if not _in_process(backend):
            self._background(lambda: joblib.Parallel(n_jobs=n_jobs, backend=backend)(
                joblib.delayed(_warm)() for _ in range(n_jobs)))

    def run(self, jobs: list[CompileJob]) -> list[CompileResult]:
        """``submit(jobs).result()``."""
        return self.submit(jobs).result()

    def abandon(self, future: concurrent.futures.Future) -> None:
        """Give up a batch still compiling (the search is over): with loky, its workers are
        killed, so no process keeps compiling and the program's exit does not wait for it; the
        next batch starts fresh workers. Other backends let the batch run to its end."""
        if future.done():
            return
        self._given_up.add(id(future.partial))  # type: ignore[attr-defined]
        backend, _ = self._backend()
        if backend in ("loky", None) or type(backend).__name__ == "LokyBackend":
            from joblib.externals.loky import reusable_executor
            executor = getattr(reusable_executor, "_executor", None)
            if executor is not None:
                executor.shutdown(wait=False, kill_workers=True)

    def _abandoned(self, results: list[CompileResult | None]) -> bool:
        return id(results) in self._given_up

    def close(self, wait: bool = True) -> None:
        """Wait for the batches in flight (``wait=False``: leave them; loky's workers stay for
        other users until their idle timeout)."""
        for thread in self._threads if wait else []:
            thread.join()
        self._threads = []

    def __enter__(self) -> "CompilePool":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    # --- internals ------------------------------------------------------------------------------
    def _backend(self) -> tuple[Any, int]:
        """The backend to use, resolved in the calling thread (joblib's config is thread-local)."""
        if self.backend is not None:
            return self.backend, self.workers
        backend, n_jobs = get_active_backend()
        return backend, (n_jobs if n_jobs not in (None, -1) else self.workers)

    def _run_batch(self, jobs: list[CompileJob], backend: Any, n_jobs: int,
                   origin: tuple[str, int] | None, results: list[CompileResult | None]) -> list[CompileResult]:
        pending = list(range(len(jobs)))
        for _ in range(2):  # everything together; after a worker death, the rest once more
            if pending and not self._abandoned(results):
                self._run_some(jobs, pending, results, backend, n_jobs, origin)
                pending = [i for i in pending if results[i] is None]
        for i in pending:  # died twice with others: alone, so a death is this job's
            if self._abandoned(results):
                results[i] = CompileResult("timeout", "abandoned: the search ended while it compiled")
                continue
            start = time.perf_counter()
            error = self._run_some(jobs, [i], results, backend, n_jobs, origin)
            if results[i] is None:
                results[i] = _death(jobs[i], error, time.perf_counter() - start)
        return [r if r is not None else _death(job, None, 0.0) for r, job in zip(results, jobs)]

    @staticmethod
    def _run_some(jobs: list[CompileJob], indices: list[int], results: list[CompileResult | None],
                  backend: Any, n_jobs: int, origin: tuple[str, int] | None) -> BaseException | None:
        """Run ``indices``, filling ``results`` as they finish; the error that stopped the call."""
        # the same n_jobs every call: loky keeps one warm executor per size (no resize per call);
        # the timeout only guards against a backend that loses a task without telling joblib
        longest = max((jobs[i].timeout_s or 0.0) for i in indices)
        if _one_worker(backend, n_jobs):
            longest = 0.0  # joblib runs the call in this thread, where it has no timeout
        parallel = joblib.Parallel(n_jobs=n_jobs, backend=_reporting_lost_tasks(backend),
                                   return_as="generator_unordered", batch_size=1,
                                   timeout=longest + _GRACE_S if longest else None)
        try:
            for index, result in parallel(joblib.delayed(run_indexed)(i, jobs[i], origin) for i in indices):
                results[index] = result
        except Exception as e:  # noqa: BLE001 - a dead worker (TerminatedWorkerError, KilledWorker, ...)
            return e
        return None


_GRACE_S = 60.0
# the engine keeps up to three fresh batches in flight, and a batch whose slow compile was
# deferred keeps its thread until that compile ends: room for three such batches besides
_CONCURRENT_BATCHES = 6


def _reporting_lost_tasks(backend: Any) -> Any:
    """joblib's dask backend hands Parallel the outcome of a task only when the task returns;
    a task that dask gives up on (``KilledWorker``: the workers running it died) leaves Parallel
    waiting. Report such a task's error through the same callback so the call fails at once."""
    if type(backend).__name__ != "DaskDistributedBackend" or getattr(backend, "_reports_lost_tasks", False):
        return backend
    submit = backend.submit

    def submit_reporting(func: Any, callback: Any = None) -> Any:
        future = submit(func, callback)

        def report(done: Any) -> None:
            if callback is not None and not done.cancelled() and done.exception() is not None:
                callback(done.exception())  # joblib's retrieval re-raises it: the call fails

        future.add_done_callback(report)
        return future

    backend.submit = submit_reporting
    backend._reports_lost_tasks = True
    return backend


def _one_worker(backend: Any, n_jobs: int) -> bool:
    return n_jobs == 1 or (not isinstance(backend, str) and backend.effective_n_jobs(n_jobs) == 1)


def _in_process(backend: Any) -> bool:
    """Threads of this process (``threading``, ``sequential``), not worker processes."""
    kind = BACKENDS.get(backend) if isinstance(backend, str) else type(backend)
    return bool(getattr(kind, "uses_threads", False))


def _death(job: CompileJob, error: BaseException | None, elapsed: float) -> CompileResult:
    """The result of a job whose worker died while it ran alone."""
    text = str(error or "the worker exited").strip()
    first = text.splitlines()[0] if text else type(error).__name__
    if "SIGALRM" in text or (job.timeout_s and elapsed >= 0.9 * job.timeout_s):
        return CompileResult("timeout", f"compile timed out after {job.timeout_s:g} s", elapsed)
    return CompileResult("compile_error", f"compile worker crashed: {first}", elapsed)
