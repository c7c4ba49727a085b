"""The autotuning engine: what ``kernel(*args)`` runs when no config is given (and experiments too).

    cache hit? -> done
    strategy.ask(n) -> codegen (here) -> compile pool (joblib workers; sm_90 binaries into
    Triton's cache) -> resource limits -> benchmark worker per GPU (check vs baseline, time,
    cut short when clearly slow) -> strategy.tell          ... while the next batch compiles
    finalists + default re-timed interleaved -> winner -> cache entry, trial log, one line to paste

The compile pool and the benchmark workers live for the whole process, so a second kernel tunes
without their start-up cost.
"""
from __future__ import annotations

import atexit
import concurrent.futures as cf
import itertools
import logging
import platform
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import torch
import triton

import search

from .. import exc
from .bench_worker import BenchmarkWorker, WorkerDied, WorkerTimeout
from ..compiler.ir import op_counts
from .effort import Effort, budget, effort_for
from .strategies import strategy_options

SM90_SHARED_BYTES = 232448  # what an H100/H200 block may opt in to
_PATIENCE_S = 1.0  # how long a batch's lagging compiles are waited for before they are deferred
_CUT_FACTOR = 1.5  # a candidate whose screening call is this much slower than the best is not re-timed
_GRACE_S = 2.0  # how long past the search budget a batch's compiles are waited for
_log = logging.getLogger("helion.autotune")


# --------------------------------------------------------------------------------------------
# Process-wide resources


_POOLS: dict[tuple, Any] = {}
_WORKERS: dict[str, BenchmarkWorker] = {}
_SESSION_IDS = itertools.count(1)


def compile_pool(settings: Any) -> Any:
    """The compile pool of these settings' backend and worker count (kept warm)."""
    from .compile_pool import CompilePool
    key = (settings.autotune_backend, settings.autotune_precompile_jobs, settings.autotune_compile_timeout)
    if key not in _POOLS:
        _POOLS[key] = CompilePool(workers=settings.autotune_precompile_jobs, backend=settings.autotune_backend,
                                  timeout_s=settings.autotune_compile_timeout)
    return _POOLS[key]


def bench_workers(device: torch.device) -> list[BenchmarkWorker]:
    """One benchmark worker per GPU of the device's kind (the device's own first), or one for CPU."""
    devices = [device]
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        devices += [torch.device("cuda", i) for i in range(torch.cuda.device_count())
                    if i != (device.index or 0) and torch.cuda.get_device_name(i) == name]
    out = []
    for d in devices:
        if str(d) not in _WORKERS:
            _WORKERS[str(d)] = BenchmarkWorker(d)
        out.append(_WORKERS[str(d)])
    return out


def prestart(kernel: Any, args: tuple) -> None:
    """Start the benchmark worker and the compile workers of a kernel about to be bound, when
    tuning may follow: they import torch and the compiler while this process traces the kernel
    and looks up the cache (a cache hit leaves them idle)."""
    from .choose import cache_for
    from .cache import spec_string
    settings = kernel.settings
    if kernel.configs or settings.use_default_config or settings.autotune_effort == "none":
        return
    device = next((a.device for a in args if isinstance(a, torch.Tensor)), torch.device("cpu"))
    cache = cache_for(settings)
    if cache is not None and not settings.force_autotune and cache.has_spec(
            kernel.fn.__name__, kernel.source_hash, spec_string(kernel.specialization_key(args)),
            device_name(device), {"torch": torch.__version__, "triton": triton.__version__}):
        return  # most likely a cache hit: no workers needed
    bench_workers(device)[0].start()
    if device.type == "cuda" or settings.autotune_compile_target:
        compile_pool(settings).warm()


@atexit.register
def shutdown() -> None:
    """Stop the benchmark workers and compile pools (also run at exit)."""
    for worker in _WORKERS.values():
        worker.close()
    _WORKERS.clear()
    for pool in _POOLS.values():
        pool.close(wait=False)  # a compile past the search's deadline must not hold up the exit
    _POOLS.clear()


def device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu-interpreter ({platform.machine()})"


# --------------------------------------------------------------------------------------------
# One tuning run


@dataclass
class Outcome:
    """What a tuning run found."""

    config: dict[str, Any]
    time_ms: float
    default_ms: float | None
    result: search.TuneResult
    finalists: list[tuple[dict[str, Any], float]] = field(default_factory=list)
    wall_s: float = 0.0

    @property
    def trials(self) -> int:
        return self.result.trials

    @property
    def failures(self) -> int:
        return sum(r["status"] != "ok" for r in self.result.history)


@dataclass
class Batch:
    """Configs whose compiles run as one pool batch: ``slots`` are their places in it (a resumed
    batch holds the deferred configs of another)."""

    configs: list[dict[str, Any]]
    future: Any
    slots: list[int]
    resumed: bool = False


class Candidates:
    """The engine's objective for one bound kernel and its arguments (pipelined: ``submit`` starts
    a batch's compiles, ``collect`` benchmarks it while the next batch compiles)."""

    def __init__(self, bound: Any, args: tuple, effort: Effort) -> None:
        self.bound, self.args, self.effort = bound, args, effort
        self.settings = bound.settings
        self.gpu = bound.gpu
        self.workers = bench_workers(bound.device)
        self.target = _compile_target(bound, self.settings)
        self.pool = compile_pool(self.settings) if self.target is not None else None
        self.shared_limit = _shared_limit(bound.device, self.target)
        self.sid = next(_SESSION_IDS)
        self.created = time.monotonic()
        self._batches = 0
        self.best_ms: float | None = None
        self.deadline: float | None = None  # monotonic time after which no compile is waited for
        self.abandoned: list[Any] = []  # batches still compiling when their results were needed
        self.default_ms: float | None = None
        self.timeout_s = self.settings.autotune_benchmark_timeout or (60.0 if self.gpu else 300.0)
        self._default_key = search.config_key(bound.config_space.default())
        self._default_compile: tuple[Any, int] | None = None  # (batch future, index) compiling the default
        self._submitted = threading.Event()
        # the workers start (and run the baseline) while the first batch compiles
        self._opening = cf.ThreadPoolExecutor(1, thread_name_prefix="bench-open").submit(self._open)

    # -- set-up --------------------------------------------------------------------------------
    def _open(self) -> None:
        """Send the kernel and inputs to every worker and run the baseline there."""
        settings = self.settings
        expected = None
        default = self.bound.config_space.default()
        if settings.autotune_baseline_fn is not None:
            expected = settings.autotune_baseline_fn(*_clone(self.args))
        for worker in self.workers:
            worker.open(self.sid, self.bound.kernel, self.args)
        waited = self._await_default_compile()
        for worker in self.workers:
            try:
                phases = worker.baseline(self.sid, default, expected, settings.autotune_accuracy_check,
                                settings.autotune_baseline_atol, settings.autotune_baseline_rtol, self.timeout_s)
            except (WorkerDied, WorkerTimeout, RuntimeError) as e:
                if expected is not None or not settings.autotune_accuracy_check:
                    raise exc.AutotuneError(f"{self.bound.kernel.fn.__name__}: the baseline run failed: {e}") from None
                # the default config itself fails: the eager reference run is the baseline instead
                expected = self.bound.kernel.run_reference(*_clone(self.args))
                phases = worker.baseline(self.sid, default, expected, True, settings.autotune_baseline_atol,
                                         settings.autotune_baseline_rtol, self.timeout_s)
        _log.info("benchmark worker ready (baseline run) after %.2f s: waited %.2f s for the pool's compile of "
                  "the default; in the worker %s", self._since(), waited,
                  ", ".join(f"{k} {v:.2f} s" for k, v in phases.get("phases", {}).items()))

    def _await_default_compile(self) -> float:
        """Wait (a bounded time) for the pool's compile of the default config, which the first
        batch holds: the worker's baseline run then loads that binary from Triton's cache instead
        of compiling it a second time, while the pool is busy with the rest of the batch."""
        started = time.monotonic()
        if self.pool is None or not self._submitted.wait(10.0) or self._default_compile is None:
            return time.monotonic() - started
        future, index = self._default_compile
        limit = started + min(30.0, self.settings.autotune_compile_timeout or 30.0)
        while future.partial[index] is None and not future.done() and time.monotonic() < limit:
            time.sleep(0.01)
        return time.monotonic() - started

    def _since(self) -> float:
        return time.monotonic() - self.created

    def close(self) -> None:
        try:
            self._opening.result()
        except Exception:  # noqa: BLE001 - reported by collect already
            pass
        for worker in self.workers:
            try:
                worker.forget(self.sid)
            except (WorkerDied, WorkerTimeout, RuntimeError):
                pass

    # -- objective -----------------------------------------------------------------------------
    def submit(self, configs: list[dict[str, Any]]) -> Batch:
        if self.pool is None:
            return Batch(configs, None, list(range(len(configs))))
        from .precompile import job_for
        jobs = [job_for(self.bound, c, self.target, self.settings.autotune_compile_timeout) for c in configs]
        future = self.pool.submit(jobs)
        if self._default_compile is None:
            index = next((i for i, c in enumerate(configs) if search.config_key(c) == self._default_key), None)
            if index is not None:
                self._default_compile = (future, index)
        self._submitted.set()
        return Batch(configs, future, list(range(len(configs))))

    def resume(self, batch: Batch, positions: list[int]) -> Batch:
        """The configs of ``batch`` at ``positions`` (deferred: still compiling), collected later."""
        return Batch([batch.configs[p] for p in positions], batch.future, [batch.slots[p] for p in positions],
                     resumed=True)

    def ready(self, batch: Batch) -> bool:
        """Whether every compile of ``batch`` is in (collecting it will not wait for one)."""
        return batch.future is None or batch.future.done() or all(batch.future.partial[i] is not None
                                                                  for i in batch.slots)

    def collect(self, batch: Batch) -> list[Any]:
        configs = batch.configs
        self._opening.result()  # raises what opening raised
        compiled = self._compiled(batch)
        self._batches += 1
        deferred = sum(c is search.DEFERRED for c in compiled)
        _log.info("batch %d of %d configs compiled after %.2f s%s", self._batches, len(configs), self._since(),
                  f" ({deferred} still compiling: deferred)" if deferred else "")
        groups = [list(range(i, len(configs), len(self.workers))) for i in range(len(self.workers))]
        out: list[Any] = [None] * len(configs)

        def run_group(worker: BenchmarkWorker, indices: list[int]) -> None:
            for i in indices:
                out[i] = compiled[i] if compiled[i] is search.DEFERRED else \
                    self.evaluate(worker, configs[i], compiled[i])

        if len(self.workers) == 1:
            run_group(self.workers[0], groups[0])
        else:
            with cf.ThreadPoolExecutor(len(self.workers)) as threads:
                list(threads.map(run_group, self.workers, groups))
        return out

    def _compiled(self, batch: Batch) -> list[Any]:
        """The batch's compile results. A fresh batch whose last compiles lag (more than half of
        it in, the rest not within ``_PATIENCE``) has those ``search.DEFERRED``, so one slow
        compile does not hold up the batches behind it; past the search's deadline, a compile
        still running is charged a timeout."""
        future = batch.future
        if future is None:
            return [None] * len(batch.configs)
        patience_ends = None
        while not future.done():
            now = time.monotonic()
            if self.deadline is not None and now >= self.deadline:
                from .precompile import CompileResult
                self.abandoned.append(future)
                late = CompileResult("timeout", "still compiling when the search budget ran out")
                return [future.partial[i] if future.partial[i] is not None else late for i in batch.slots]
            arrived = [future.partial[i] is not None for i in batch.slots]
            if all(arrived):
                return [future.partial[i] for i in batch.slots]
            if not batch.resumed and sum(arrived) * 2 > len(arrived):
                patience_ends = patience_ends or now + _PATIENCE_S
                if now >= patience_ends:
                    return [future.partial[i] if future.partial[i] is not None else search.DEFERRED
                            for i in batch.slots]
            time.sleep(0.005)
        results = future.result()
        return [results[i] for i in batch.slots]

    def __call__(self, configs: list[dict[str, Any]]) -> list[search.Observation]:
        batch = self.submit(configs)
        batch.resumed = True  # not pipelined: nothing to defer to
        return self.collect(batch)

    def evaluate(self, worker: BenchmarkWorker, config: dict[str, Any], compiled: Any) -> search.Observation:
        compile_s = None if compiled is None else compiled.compile_s
        resources = _merge_resources(compiled.kernels) if compiled is not None and compiled.kernels else None
        if compiled is not None and compiled.status != "ok":
            return search.Observation(compiled.status, compile_s=compile_s, message=compiled.message)
        over = self._over_limits(resources)
        if over:
            return search.Observation("compile_error", compile_s=compile_s, resources=resources, message=over)
        cut = None if self.best_ms is None else _CUT_FACTOR * self.best_ms
        try:
            result = worker.request("bench", (self.sid, config, cut), self.timeout_s)
        except WorkerTimeout as e:
            return search.Observation("timeout", compile_s=compile_s, resources=resources, message=str(e))
        except WorkerDied as e:
            return search.Observation("runtime_error", compile_s=compile_s, resources=resources, message=str(e))
        resources = {**(resources or {}), **(result.get("resources") or {})} or None
        if compile_s is None:
            compile_s = result.get("load_s")
        if result["status"] != "ok":
            return search.Observation(result["status"], compile_s=compile_s, resources=resources,
                                      message=result.get("message", ""))
        if self.best_ms is None or result["time_ms"] < self.best_ms:
            self.best_ms = result["time_ms"]
        return search.Observation("ok", result["time_ms"], tuple(result["times_ms"]), compile_s, resources,
                                  "cut short" if result.get("cut") else "")

    def _over_limits(self, resources: dict[str, Any] | None) -> str:
        if not resources:
            return ""
        shared = resources.get("shared_bytes") or 0
        if self.shared_limit and shared > self.shared_limit:
            return f"needs {shared} bytes of shared memory; the device has {self.shared_limit}"
        registers, warps = resources.get("registers") or 0, resources.get("warps") or 0
        if registers and warps and registers * warps * 32 > 65536:
            return f"needs {registers} registers x {warps * 32} threads; an SM has 65536"
        return ""

    def retime(self, configs: list[dict[str, Any]]) -> list[float]:
        """Median ms of each config, called in turn (on the device's own worker)."""
        return self.workers[0].request("interleaved", (self.sid, configs, self.effort.repeats),
                                       self.timeout_s * (1 + len(configs)))


def tune(bound: Any, args: tuple, *, initial: list[dict[str, Any]] | None = None,
         strategy: Any = None, effort: Effort | None = None, only: list[dict[str, Any]] | None = None,
         context: dict[str, Any] | None = None) -> Outcome:
    """Search ``bound``'s space on ``args`` (or time just the configs of ``only``), then re-time the
    finalists and the default interleaved; the fastest of those wins."""
    settings = bound.settings
    effort = effort or effort_for(settings, bound.gpu)
    started = time.perf_counter()
    candidates = Candidates(bound, args, effort)
    default = bound.config_space.default()
    first = [default, *(initial or [])] if only is None else _distinct(bound, only)
    batch = max(4, getattr(candidates.pool, "workers", 4)) if bound.gpu else 2
    limits = effort if only is None else Effort(len(first), 1e9, effort.finalists, effort.repeats)  # only those
    name = bound.kernel.fn.__name__
    if only is None:
        candidates.deadline = time.monotonic() + effort.seconds + _GRACE_S
    try:
        chosen = strategy or settings.autotune_strategy
        record = trial_context(bound)
        options = strategy_options(chosen, settings.autotune_cost_model, {"kernel": name, **record})
        result = search.tune(bound.config_space, candidates, chosen, budget(limits), strategy_options=options,
                             batch_size=batch, seed=settings.autotune_seed, kernel=name,
                             log_path=settings.autotune_log, context={**record, **(context or {})},
                             progress=settings.autotune_progress, initial=first, depth=3)
        ranked = _ranked(result.history)
        if not ranked:
            error = exc.AutotuneError(f"{name}: none of {result.trials} configs compiled and matched the baseline "
                                      f"output; failures: {_failure_summary(result.history)}")
            error.result = result  # type: ignore[attr-defined]  (every trial record, for the caller)
            raise error
        finalists = [c for c, _ in ranked[:effort.finalists]]
        default_key = search.config_key(default)
        if only is None and all(search.config_key(c) != default_key for c in finalists) and \
                any(search.config_key(c) == default_key for c, _ in ranked):
            finalists.append(default)
        times = candidates.retime(finalists) if len(finalists) > 1 else [ranked[0][1]]
        timed = sorted(zip(times, range(len(finalists))))
        best_ms, best_index = timed[0]
        default_ms = next((t for t, i in timed if search.config_key(finalists[i]) == default_key), None)
        return Outcome(dict(finalists[best_index]), best_ms, default_ms, result,
                       [(finalists[i], t) for t, i in timed], time.perf_counter() - started)
    finally:
        candidates.close()
        for future in candidates.abandoned:
            candidates.pool.abandon(future)


def trial_context(bound: Any) -> dict[str, Any]:
    """The fields every trial record of this bound kernel carries (DESIGN.md, trial records)."""
    return {"source_hash": bound.kernel.source_hash, "key": bound.key_record(),
            "device": device_name(bound.device),
            "versions": {"torch": torch.__version__, "triton": triton.__version__},
            "timing": "cuda_events" if bound.gpu else "interpreter_wall",
            "kernel_info": op_counts(bound.functions)}


# --------------------------------------------------------------------------------------------
# Helpers


def _compile_target(bound: Any, settings: Any) -> Any:
    wanted = bound.device if bound.gpu else settings.autotune_compile_target
    if not wanted:
        return None
    from .precompile import target_of
    return target_of(wanted)


def _shared_limit(device: torch.device, target: Any) -> int | None:
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).shared_memory_per_block_optin
    return SM90_SHARED_BYTES if target is not None and tuple(target)[1] == 90 else None


def _merge_resources(kernels: list[dict[str, Any]]) -> dict[str, Any]:
    """One record for a config's kernels: the largest registers/shared/warps, the sum of spills."""
    def largest(name: str) -> Any:
        values = [k.get(name) for k in kernels if k.get(name) is not None]
        return max(values) if values else None
    spills = [k.get("spills") for k in kernels if k.get("spills") is not None]
    return {"registers": largest("registers"), "spills": sum(spills) if spills else None,
            "shared_bytes": largest("shared_bytes"), "warps": largest("warps")}


def _distinct(bound: Any, configs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The configs normalized for ``bound``, each once (an invalid one raises: the caller gave it)."""
    out: dict[tuple, dict[str, Any]] = {}
    for config in configs:
        normalized = bound.normalize_config(config)
        out.setdefault(search.config_key(normalized), normalized)
    return list(out.values())


def _ranked(history: list[dict[str, Any]]) -> list[tuple[dict[str, Any], float]]:
    """Distinct measured configs, fastest first (configs cut short keep their one timing)."""
    best: dict[tuple, tuple[float, dict[str, Any]]] = {}
    for record in history:
        if record["status"] == "ok":
            key = search.config_key(record["config"])
            if key not in best or record["time_ms"] < best[key][0]:
                best[key] = (record["time_ms"], record["config"])
    return [(c, t) for t, c in sorted(best.values(), key=lambda item: item[0])]


def _failure_summary(history: list[dict[str, Any]]) -> str:
    counts: dict[str, int] = {}
    for record in history:
        if record["status"] != "ok":
            counts[record["status"]] = counts.get(record["status"], 0) + 1
    first = next((r.get("message") for r in history if r["status"] != "ok" and r.get("message")), "")
    return ", ".join(f"{n} {k}" for k, n in counts.items()) + (f" (first: {first})" if first else "")


def _clone(args: tuple) -> tuple:
    return tuple(a.clone() if isinstance(a, torch.Tensor) else a for a in args)


def report(name: str, outcome: Outcome, gpu: bool) -> str:
    """The lines printed after tuning: what was found, and the decorator to paste."""
    unit = "ms" if gpu else "ms in the CPU interpreter"
    rate = outcome.trials / max(outcome.wall_s, 1e-9)
    vs_default = "" if outcome.default_ms is None else f" (default {outcome.default_ms:.4f})"
    from ..runtime.config import Config
    return (f"[helion] {name}: {outcome.trials} trials in {outcome.wall_s:.1f} s ({rate:.1f}/s, "
            f"{outcome.failures} failed, {outcome.result.strategy}): best {outcome.time_ms:.4f} {unit}{vs_default}\n"
            f"[helion] to skip tuning: @helion.kernel(config={Config(outcome.config)!r})")


def print_report(name: str, outcome: Outcome, gpu: bool) -> None:
    print(report(name, outcome, gpu), file=sys.stderr)
