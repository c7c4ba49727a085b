"""The benchmark worker: one long-lived spawned process per device that runs candidate configs.

The tuner never runs a candidate in its own process: an illegal memory access, a hang or a crash
kills the worker (the parent restarts it and replays its sessions), never the tuner or the
user's program. A session is one bound kernel with its inputs; per candidate the worker restores
the inputs the baseline mutated, runs the config once, checks outputs and mutated inputs against
the baseline, then times it (``timing.median_ms``: cut short when clearly slower than the best).
"""
from __future__ import annotations

import linecache
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

import torch

from .accuracy import mismatch

try:  # functions defined in __main__, notebooks or other functions travel by value
    import cloudpickle
except ImportError:  # older joblib releases vendor it
    from joblib.externals import cloudpickle  # type: ignore[no-redef]

# --------------------------------------------------------------------------------------------
# What travels to the worker


@dataclass
class KernelPayload:
    """A kernel as the worker rebuilds it: the function (pickled by value when its module cannot
    be imported there), settings without callables, and its source lines (for notebooks)."""

    fn: Any
    settings: Any
    filename: str
    lines: list[str]

    @classmethod
    def of(cls, kernel: Any) -> "KernelPayload":
        import inspect
        filename = inspect.getsourcefile(kernel.fn) or "<unknown>"
        lines = linecache.getlines(filename) or []
        settings = kernel.settings.replace(autotune_baseline_fn=None, autotune_strategy="random",
                                           autotune_log=None, autotune_progress=False)
        return cls(kernel.fn, settings, filename, lines)

    def rebuild(self) -> Any:
        from ..runtime.kernel import Kernel
        if self.lines and not os.path.exists(self.filename):
            linecache.cache[self.filename] = (sum(map(len, self.lines)), None, self.lines, self.filename)
        fn = self.fn
        if fn.__code__.co_filename != self.filename:  # cloudpickle drops it from functions sent by value
            fn.__code__ = fn.__code__.replace(co_filename=self.filename)
        return Kernel(fn, settings=self.settings)


def pack(value: Any) -> Any:
    """Tensors as CPU copies of the storage they span (strides and overlaps kept), recursively."""
    if isinstance(value, torch.Tensor):
        t = value.detach()
        span = 1 + sum((s - 1) * st for s, st in zip(t.shape, t.stride())) if t.numel() else 0
        flat = t.as_strided((span,), (1,), t.storage_offset()).cpu().clone()
        return ("__tensor__", flat, tuple(t.shape), tuple(t.stride()), t.device.type)
    if isinstance(value, (list, tuple)):
        return type(value)(pack(v) for v in value)
    return value


def unpack(value: Any, device: torch.device) -> Any:
    if isinstance(value, tuple) and len(value) == 5 and value[0] == "__tensor__":
        _, flat, shape, stride, device_type = value
        target = device if device_type == "cuda" else torch.device(device_type)
        return flat.to(target).as_strided(shape, stride)
    if isinstance(value, (list, tuple)):
        return type(value)(unpack(v, device) for v in value)
    return value


def _send(conn: Any, message: Any) -> None:
    """Plain pickle, not multiprocessing's: tensors travel as bytes, not as shared-memory handles
    (the worker is no multiprocessing child and could not open those)."""
    conn.send_bytes(cloudpickle.dumps(message))


def _recv(conn: Any) -> Any:
    return cloudpickle.loads(conn.recv_bytes())


# --------------------------------------------------------------------------------------------
# Parent side


class WorkerDied(RuntimeError):
    """The worker process ended (crash, illegal memory access) before it answered."""


class WorkerTimeout(RuntimeError):
    """The worker did not answer in time; it was killed."""


class BenchmarkWorker:
    """Handle of one worker process for one device; (re)started on demand."""

    def __init__(self, device: torch.device) -> None:
        self.device = torch.device(device)
        self._process: Any = None
        self._conn: Any = None
        self._sessions: dict[int, bytes] = {}  # session id -> open payload, replayed after a restart
        self._baselines: dict[int, tuple] = {}
        self._starts = 0

    # -- process -------------------------------------------------------------------------------
    def _start(self) -> None:
        """Start ``python -m helion.autotune.bench_worker``: a fresh interpreter that never imports
        the user's main module (a script without a ``__main__`` guard would tune again there)."""
        parent, child = multiprocessing.Pipe()
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p),
                   HELION_WORKER_SPAWNED=repr(time.time()))
        self._starts += 1
        self._log = tempfile.TemporaryFile(mode="w+")
        self._process = subprocess.Popen(
            [sys.executable, "-m", "helion.autotune.bench_worker", str(child.fileno()), str(self.device)],
            pass_fds=[child.fileno()], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=self._log)
        child.close()
        self._conn = parent
        for sid, blob in self._sessions.items():
            self._ask("open", (sid, blob), 600.0)
            if sid in self._baselines:
                self._ask("baseline", self._baselines[sid], 600.0)

    def start(self) -> None:
        """Start the process now if it is not running (it warms up while the caller works)."""
        if not self.alive():
            self._start()

    @property
    def restarts(self) -> int:
        """How often the worker was started again after it died, hung or was closed."""
        return max(0, self._starts - 1)

    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def kill(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait(10)
        if self._conn is not None:
            self._conn.close()
        self._process = self._conn = None

    def log_tail(self, lines: int = 5) -> str:
        """The last lines the worker wrote to stderr (why it died, usually)."""
        log = getattr(self, "_log", None)
        if log is None:
            return ""
        log.seek(0)
        return " | ".join(line.strip() for line in log.read().splitlines()[-lines:] if line.strip())

    def close(self) -> None:
        """Stop the worker (it is restarted by the next request)."""
        if self.alive():
            try:
                _send(self._conn, ("exit", ()))
                self._process.wait(5)
            except (OSError, EOFError, subprocess.TimeoutExpired):
                pass
        self.kill()

    def _ask(self, op: str, args: tuple, timeout_s: float) -> Any:
        try:
            _send(self._conn, (op, args))
            if not self._conn.poll(timeout_s):
                self.kill()
                raise WorkerTimeout(f"no answer to {op!r} within {timeout_s:.0f} s")
            status, value = _recv(self._conn)
        except (EOFError, OSError, BrokenPipeError) as e:
            self.kill()
            tail = self.log_tail()
            raise WorkerDied(f"the benchmark worker died during {op!r}" + (f": {tail}" if tail else "")) from e
        if status == "fatal":  # the worker answered, then exits (its CUDA context is gone)
            self.kill()
        if status == "raise":
            raise RuntimeError(value)
        return value

    def request(self, op: str, args: tuple, timeout_s: float) -> Any:
        """Send one request; WorkerTimeout / WorkerDied when the worker hangs or dies (it is then
        killed and restarts, with its sessions, at the next request)."""
        if not self.alive():
            self._start()
        return self._ask(op, args, timeout_s)

    # -- sessions ------------------------------------------------------------------------------
    def open(self, sid: int, kernel: Any, args: tuple) -> None:
        blob = cloudpickle.dumps((KernelPayload.of(kernel), pack(args)))
        self._sessions[sid] = blob
        if self.alive():
            self._ask("open", (sid, blob), 600.0)

    def baseline(self, sid: int, config: dict[str, Any], expected: Any, check: bool,
                 atol: float | None, rtol: float | None, timeout_s: float) -> dict[str, Any]:
        """Run the baseline (``config``, or take the user's ``expected`` outputs)."""
        self._baselines[sid] = (sid, config, pack(expected) if expected is not None else None, check, atol, rtol)
        return self.request("baseline", self._baselines[sid], timeout_s)

    def forget(self, sid: int) -> None:
        self._sessions.pop(sid, None)
        self._baselines.pop(sid, None)
        if self.alive():
            self._ask("close", (sid,), 60.0)


# --------------------------------------------------------------------------------------------
# Worker side


@dataclass
class _Session:
    bound: Any
    pristine: tuple
    args: tuple
    expected: Any = None
    mutated: list[int] = field(default_factory=list)
    expected_inputs: dict[int, torch.Tensor] = field(default_factory=dict)
    check: bool = True
    atol: float | None = None
    rtol: float | None = None


class _Server:
    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.gpu = device.type == "cuda"
        if self.gpu:
            torch.cuda.set_device(device)
        self.sessions: dict[int, _Session] = {}
        self._timer: Any = None
        # seconds from spawn to serving (interpreter, torch, CUDA, warm-up), then per session
        self.phases: dict[str, float] = {}
        spawned = os.environ.get("HELION_WORKER_SPAWNED")
        if spawned:
            self.phases["start"] = time.time() - float(spawned)

    @property
    def timer(self) -> Any:
        if self._timer is None:
            from .timing import Timer
            flush = 2 * getattr(torch.cuda.get_device_properties(self.device), "L2_cache_size", 0) if self.gpu else 0
            self._timer = Timer(self.device, 1, 1, flush_bytes=max(flush, 64 * 2**20))
        return self._timer

    def open(self, sid: int, blob: bytes) -> None:
        started = time.perf_counter()
        payload, args = cloudpickle.loads(blob)
        kernel = payload.rebuild()
        args = unpack(args, self.device)
        pristine = tuple(a.clone() if isinstance(a, torch.Tensor) else a for a in args)
        self.sessions[sid] = _Session(kernel.bind(args), pristine, args)
        self.phases["open"] = time.perf_counter() - started

    def close(self, sid: int) -> None:
        self.sessions.pop(sid, None)
        if self.gpu:
            torch.cuda.empty_cache()  # the session's inputs go back to the GPU, not to this process

    def _restore(self, session: _Session, indices: Any = None) -> None:
        for i in range(len(session.args)) if indices is None else indices:
            if isinstance(session.args[i], torch.Tensor):
                session.args[i].copy_(session.pristine[i])

    def _sync(self) -> None:
        if self.gpu:
            torch.cuda.synchronize(self.device)

    def baseline(self, sid: int, config: dict, expected: Any, check: bool, atol: Any, rtol: Any) -> dict:
        session = self.sessions[sid]
        session.check, session.atol, session.rtol = check, atol, rtol
        self._restore(session)
        started = time.perf_counter()
        try:
            run = session.bound.compile_config(config)
            loaded = time.perf_counter()
            out = run(*session.args)  # compiles the default, or loads the pool's binary
            self._sync()
            self.phases.update(codegen=loaded - started, first_run=time.perf_counter() - loaded)
        except Exception:
            if expected is None:
                raise  # no baseline at all: the parent falls back to the eager reference
            out = None  # the given baseline stands; the default is just one more candidate
            self._restore(session)
        session.mutated = [i for i, (a, p) in enumerate(zip(session.args, session.pristine))
                           if isinstance(a, torch.Tensor) and not torch.equal(a, p)]
        session.expected_inputs = {i: session.args[i].clone() for i in session.mutated}
        session.expected = unpack(expected, self.device) if expected is not None else out
        phases, self.phases = self.phases, {}
        return {"mutated": session.mutated, "phases": phases}

    def bench(self, sid: int, config: dict, cut_ms: float | None) -> dict[str, Any]:
        """Check then time one config: {"status", "time_ms", "times_ms", "load_s", "cut", "resources"}."""
        from .. import exc
        from .timing import median_ms
        session = self.sessions[sid]
        started = time.perf_counter()
        try:
            run = session.bound.compile_config(config)
        except exc.InvalidConfig as e:
            return {"status": "invalid", "message": str(e).splitlines()[0]}
        except Exception as e:  # noqa: BLE001 - a config that does not build is an outcome
            return {"status": "compile_error", "message": _first_line(e)}
        self._restore(session, session.mutated)
        try:
            out = run(*session.args)  # loads the binary (or compiles it, if the pool missed)
            self._sync()
        except Exception as e:  # noqa: BLE001
            kind = "compile_error" if _is_compile_error(e) else "runtime_error"
            return {"status": kind, "message": _first_line(e)}
        load_s = time.perf_counter() - started
        if session.check:
            problem = mismatch(out, session.expected, session.atol, session.rtol)
            for i in session.mutated:
                problem = problem or mismatch(session.args[i], session.expected_inputs[i], session.atol,
                                              session.rtol, f"input {i} (mutated)")
            if problem:
                return {"status": "inaccurate", "message": problem, "load_s": load_s}
        median, samples, cut = median_ms(self.timer, lambda: run(*session.args), cut_ms=cut_ms)
        return {"status": "ok", "time_ms": median, "times_ms": samples, "cut": cut, "load_s": load_s,
                "resources": _resources(run)}

    def interleaved(self, sid: int, configs: list[dict], repeats: int) -> list[float]:
        """Median ms of each config, one call of each in turn per repeat (finalists)."""
        import statistics
        session = self.sessions[sid]
        runs = [session.bound.compile_config(c) for c in configs]
        calls = [(lambda r=r: r(*session.args)) for r in runs]
        times, _ = self.timer.interleaved_ms(calls, repeats=repeats if self.gpu else 1)
        return [statistics.median(t) for t in times]

    def context_lost(self) -> bool:
        if not self.gpu:
            return False
        try:
            torch.cuda.synchronize(self.device)
            return float(torch.ones(1, device=self.device).sum()) != 1.0
        except Exception:  # noqa: BLE001
            return True


def _serve(conn: Any, device: str) -> None:
    """The worker's loop: one request, one answer, until "exit" or a lost CUDA context."""
    server = _Server(torch.device(device))
    handlers = {"open": server.open, "close": server.close, "baseline": server.baseline,
                "bench": server.bench, "interleaved": server.interleaved,
                "ping": lambda: os.getpid(), "hang": lambda s: time.sleep(s), "crash": lambda: os.abort()}
    while True:
        try:
            op, args = _recv(conn)
        except (EOFError, OSError):
            return
        if op == "exit":
            return
        try:
            _send(conn, ("ok", handlers[op](*args)))
        except Exception as e:  # noqa: BLE001 - reported to the parent
            if server.context_lost():
                _send(conn, ("fatal", {"status": "runtime_error", "message": _first_line(e), "fatal": True}))
                os._exit(3)
            _send(conn, ("raise", f"{op}: {_first_line(e)}\n{traceback.format_exc(limit=8)}"))
        if op == "bench" and server.context_lost():  # a candidate broke the context: start afresh
            os._exit(3)


def main(argv: list[str]) -> None:
    """Entry point of the worker process: ``python -m helion.autotune.bench_worker FD DEVICE``."""
    from multiprocessing.connection import Connection
    _warm_tracing()
    _serve(Connection(int(argv[0])), argv[1])


def _warm_tracing() -> None:
    """Trace a small kernel on meta tensors: torch imports what tracing needs (seconds, once per
    process) while the parent is still binding, not when the first candidate arrives."""
    from .. import kernel as make_kernel
    from .. import language as hl

    def warm_up(x: torch.Tensor) -> torch.Tensor:
        out = torch.empty_like(x)
        for tile in hl.tile(x.size(0)):
            row = x[tile, :].to(torch.float32)
            out[tile, :] = (row * torch.rsqrt(torch.mean(row * row, dim=-1) + 1e-5)[:, None]).to(out.dtype)
        return out

    try:
        make_kernel(warm_up, use_default_config=True).bind((torch.empty(64, 64, device="meta"),))
    except Exception:  # noqa: BLE001 - only a warm-up
        pass


def _resources(run: Any) -> dict[str, Any] | None:
    """Registers, spills and shared memory of the binaries a runner launched (GPU only)."""
    kernels = []
    for module in getattr(run, "modules", []):
        for value in vars(module).values():
            caches = getattr(value, "device_caches", None)
            if not caches:
                continue
            for cache in caches.values():
                kernels += [k for k in cache[0].values() if hasattr(k, "metadata")]
    if not kernels:
        return None
    return {"registers": max((getattr(k, "n_regs", 0) or 0) for k in kernels),
            "spills": sum((getattr(k, "n_spills", 0) or 0) for k in kernels),
            "shared_bytes": max((getattr(k.metadata, "shared", 0) or 0) for k in kernels)}


_COMPILE_ERRORS = ("OutOfResources", "CompilationError", "PTXASError", "CompileTimeAssertionFailure")


def _is_compile_error(error: BaseException) -> bool:
    return type(error).__name__ in _COMPILE_ERRORS or "out of resource" in str(error).lower()


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"[:300]


if __name__ == "__main__":
    main(sys.argv[1:])
