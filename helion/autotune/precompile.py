"""Compiles a config's kernels for a GPU target without a GPU, the way a launch would.

The parent process code-generates a :class:`CompileJob` (module sources plus a picklable picture
of what each launcher received while tracing); :func:`compile_job` runs in a compile worker: it
puts a stub driver that only knows the target in place of Triton's, loads each module and runs
its ``launch`` with mock tensors while every ``@triton.jit`` kernel it calls is swapped for a
proxy that calls ``kernel.run(..., warmup=True)``. Triton's own binder then builds exactly the
specialization (dtypes, 16-byte alignment, ints equal to 1 or divisible by 16) and options the
real launch builds, so the binary lands in Triton's on-disk cache under the key the benchmark
process later looks up. :func:`compile_for_target` does the same in this process.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import signal
import threading
import time
import types
import weakref
from collections.abc import Iterator
from typing import Any

import torch

from .. import exc
from . import cubin as cubin_elf

Target = tuple[str, int, int]  # GPUTarget fields: backend, arch, warp size


@dataclasses.dataclass(frozen=True)
class TensorSpec:
    """What Triton's specialization and a launcher read of a tensor argument."""

    dtype: str            # torch dtype name: "bfloat16"
    shape: tuple[int, ...]
    stride: tuple[int, ...]
    aligned: bool         # its data pointer is a multiple of 16 bytes


class MockTensor:
    """A tensor stand-in for a launcher: dtype, sizes, strides and a data pointer, no data."""

    def __init__(self, spec: TensorSpec):
        self.dtype: torch.dtype = getattr(torch, spec.dtype)
        self.shape = torch.Size(spec.shape)
        self._stride = tuple(spec.stride)
        self._address = 0 if spec.aligned else 8
        self.device = torch.device("cuda", 0)

    def data_ptr(self) -> int:
        return self._address

    def size(self, dim: int | None = None) -> Any:
        return self.shape if dim is None else self.shape[dim]

    def stride(self, dim: int | None = None) -> Any:
        return self._stride if dim is None else self._stride[dim]

    def dim(self) -> int:
        return len(self.shape)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def numel(self) -> int:
        return self.shape.numel()

    def element_size(self) -> int:
        return self.dtype.itemsize

    def storage_offset(self) -> int:
        return 0

    def __repr__(self) -> str:
        return f"MockTensor({self.dtype}, {tuple(self.shape)}, aligned={self._address == 0})"


def launch_spec(values: Any) -> Any:
    """Traced launch values (meta or fake tensors, SymInts, host scalars) as picklable values:
    tensors become :class:`TensorSpec`, symbolic sizes their hints (the traced sizes)."""
    if isinstance(values, torch.Tensor):
        offset = _hint(values.storage_offset()) * values.element_size()
        return TensorSpec(str(values.dtype).removeprefix("torch."), tuple(_hint(s) for s in values.shape),
                          tuple(_hint(s) for s in values.stride()), offset % 16 == 0)
    if isinstance(values, (torch.SymInt, torch.SymFloat, torch.SymBool)):
        return _hint(values)
    if isinstance(values, (tuple, list)):
        return type(values)(launch_spec(v) for v in values)
    return values


def _hint(value: Any) -> Any:
    if isinstance(value, (torch.SymInt, torch.SymFloat, torch.SymBool)):
        node = value.node
        hint = node.hint if getattr(node, "hint", None) is not None else node.shape_env.size_hint(node.expr)
        return {torch.SymInt: int, torch.SymFloat: float, torch.SymBool: bool}[type(value)](hint)
    return value


def _rebuild(value: Any) -> Any:
    if isinstance(value, TensorSpec):
        return MockTensor(value)
    if isinstance(value, (tuple, list)):
        return type(value)(_rebuild(v) for v in value)
    return value


@dataclasses.dataclass(frozen=True)
class CompileJob:
    """Everything a worker needs to compile one config: picklable, no tensors, no bound kernel."""

    sources: tuple[str | None, ...]          # one generated module per device loop (None: unreached)
    launches: tuple[tuple | None, ...]       # launch_spec of what each loop's launcher receives
    target: Target = ("cuda", 90, 32)
    cache_dir: str = ""                      # where generated modules are written (Settings.cache_dir)
    timeout_s: float | None = 120.0          # hard limit: the worker process kills itself (SIGALRM)
    names: tuple[str | None, ...] = ()       # kernel names for results (default: Triton's names)
    triton_cache_dir: str | None = None      # TRITON_CACHE_DIR for the worker (None: its own)


@dataclasses.dataclass
class CompileResult:
    """The outcome of one job: ``ok``, ``compile_error`` or ``timeout``, and per kernel resources."""

    status: str
    message: str = ""
    compile_s: float = 0.0
    kernels: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    pid: int = 0                             # the process that compiled (0: none finished)


def target_name(target: Target) -> str:
    return f"sm_{target[1]}" if target[0] == "cuda" else f"{target[0]} {target[1]}"


def target_of(device: Any) -> Target:
    """``"sm_90"``/``"sm_90a"``/``90`` -> ``("cuda", 90, 32)``; a CUDA device -> its capability."""
    if isinstance(device, tuple):
        return device
    if isinstance(device, int):
        return ("cuda", device, 32)
    if isinstance(device, str) and device.startswith("sm_"):
        return ("cuda", int(device[3:].rstrip("af")), 32)
    device = torch.device(device)
    if device.type != "cuda":
        raise exc.HelionError(f"cannot compile for {device}: give a CUDA device or a target like 'sm_90'")
    major, minor = torch.cuda.get_device_capability(device)
    return ("cuda", major * 10 + minor, 32)


def job_for(bound: Any, config: dict[str, Any], target: Any = ("cuda", 90, 32),
            timeout_s: float | None = 120.0) -> CompileJob:
    """The job compiling ``bound`` under ``config`` for ``target``: the sources a launch on the
    GPU loads (GPU code even when ``bound`` was traced on meta tensors) and its launch values."""
    cfg = bound.normalize_config(config)
    bound = bound.for_config(cfg)
    sources = bound.sources(cfg, gpu=True)
    launches = tuple(None if v is None else tuple(launch_spec(v)) for v in bound.launch_values)
    names = tuple(None if f is None else f.name for f in bound.functions)
    return CompileJob(tuple(sources), launches, target_of(target), bound.settings.cache_dir, timeout_s, names,
                      os.environ.get("TRITON_CACHE_DIR"))


def compile_for_target(bound: Any, config: dict[str, Any], arch: int = 90) -> list[dict[str, Any]]:
    """Compile every device loop of ``bound`` under ``config`` for ``sm_<arch>`` in this process.

    Tensors are specialized as the launch on the GPU specializes them (16-byte aligned unless a
    view's offset says otherwise): without that Triton cannot use cp.async, does not pipeline
    pointer loads and reports less shared memory than the launch needs.

    Returns per kernel: name, registers, spills, shared memory bytes, warps. Raises
    :class:`helion.exc.HelionError` on compile errors.
    """
    result = compile_job(job_for(bound, config, ("cuda", arch, 32), timeout_s=None))
    if result.status != "ok":
        raise exc.HelionError(result.message)
    return result.kernels


def compile_job(job: CompileJob) -> CompileResult:
    """Compile ``job`` (in a compile worker); a compile error is a result, never an exception.

    With ``job.timeout_s`` set, a hard timer (``ITIMER_REAL``) kills this process with SIGALRM if
    the job overruns, even inside C++ holding the GIL: run jobs with a timeout in disposable
    worker processes only (the compile pool does).
    """
    start = time.perf_counter()
    armed = _arm_alarm(job.timeout_s)
    name = None
    try:
        kernels: list[dict[str, Any]] = []
        with _triton_cache_dir(job.triton_cache_dir), _stub_driver(job.target):
            for index, (source, values) in enumerate(zip(job.sources, job.launches)):
                if source is None:
                    continue
                name = job.names[index] if index < len(job.names) else None
                kernels += _compile_source(source, values or (), job.cache_dir, name)
        return CompileResult("ok", "", time.perf_counter() - start, kernels, os.getpid())
    except Exception as e:  # noqa: BLE001 - any failure to build the binary is a compile error
        first = _first_line(e)
        prefix = f"{name}: " if name else ""
        return CompileResult("compile_error", f"{prefix}compile for {target_name(job.target)} failed: {first}",
                             time.perf_counter() - start, [], os.getpid())
    finally:
        if armed:
            signal.setitimer(signal.ITIMER_REAL, 0)


def _first_line(error: Exception) -> str:
    """The error's first line; Triton's compilation errors start with a location ("at 2:16:")
    and end with the error itself, so those get both."""
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    if not lines:
        return type(error).__name__
    if len(lines) > 1 and re.fullmatch(r"at \d+:\d+:", lines[0]):
        return f"{lines[0]} {lines[-1]}"
    return lines[0]


def _arm_alarm(timeout_s: float | None) -> bool:
    if not timeout_s or timeout_s <= 0:
        return False
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGALRM, signal.SIG_DFL)  # the default action ends the process
    elif signal.getsignal(signal.SIGALRM) not in (signal.SIG_DFL, None):
        return False  # a Python handler would run later, in the main thread: no hard limit
    signal.setitimer(signal.ITIMER_REAL, timeout_s)
    return True


_JIT_LOCKS: weakref.WeakKeyDictionary[Any, threading.Lock] = weakref.WeakKeyDictionary()
_JIT_LOCKS_GUARD = threading.Lock()


def _compile_source(source: str, values: tuple, cache_dir: str, name: str | None) -> list[dict[str, Any]]:
    """Run the module's ``launch`` on mock values with warm-up proxies for its kernels."""
    from triton.runtime.jit import JITFunction

    from ..runtime.loader import load_module
    module = load_module(source, interpret=False, cache_dir=cache_dir)
    compiled: list[Any] = []
    proxies = {k: _WarmupKernel(v, compiled) for k, v in vars(module).items() if isinstance(v, JITFunction)}
    launch = module.launch
    # the same code with the proxies in its globals: the module itself stays untouched for launches
    launcher = types.FunctionType(launch.__code__, {**vars(module), **proxies}, launch.__name__,
                                  launch.__defaults__, launch.__closure__)
    with contextlib.ExitStack() as stack:
        for proxy in proxies.values():
            stack.enter_context(_fresh_binders(proxy.kernel))
        launcher(*_rebuild(tuple(values)))
    return [_resources(kernel, name) for kernel in compiled]


class _WarmupKernel:
    """``kernel[grid](*args, **kw)`` -> ``kernel.run(*args, grid=grid, warmup=True, **kw)``."""

    def __init__(self, kernel: Any, compiled: list[Any]):
        self.kernel = kernel
        self.compiled = compiled

    def __getitem__(self, grid: Any) -> Any:
        def warmup(*args: Any, **kwargs: Any) -> None:
            self.compiled.append(self.kernel.run(*args, grid=grid, warmup=True, **kwargs))
        return warmup


@contextlib.contextmanager
def _fresh_binders(kernel: Any) -> Iterator[None]:
    """Run with empty per-device caches (the binder captures the driver's target) and put the
    previous ones back after, so neither a stub target nor compiled binaries stay behind."""
    with _JIT_LOCKS_GUARD:
        lock = _JIT_LOCKS.setdefault(kernel, threading.Lock())
    with lock:
        saved = dict(kernel.device_caches)
        kernel.device_caches.clear()
        try:
            yield
        finally:
            kernel.device_caches.clear()
            kernel.device_caches.update(saved)


def _resources(kernel: Any, name: str | None) -> dict[str, Any]:
    metadata = kernel.metadata
    binary = kernel.asm.get("cubin") if hasattr(kernel.asm, "get") else None
    found = cubin_elf.kernel_resources(binary).get(metadata.name, {}) if binary else {}
    frame = found.get("frame_bytes")
    return {"kernel": name or metadata.name, "shared_bytes": getattr(metadata, "shared", None),
            "warps": getattr(metadata, "num_warps", None),  # more than asked: warp-specialized
            "registers": found.get("registers"), "spills": None if frame is None else frame // 4}


class StubDriver:
    """Stands in for Triton's GPU driver where there is no GPU: it only knows the target."""

    def __init__(self, target: Target):
        from triton.backends.compiler import GPUTarget
        self.target = GPUTarget(*target)

    def get_current_target(self) -> Any:
        return self.target

    def get_current_device(self) -> int:
        return 0

    def get_current_stream(self, device: int | None = None) -> int:
        return 0

    def get_active_torch_device(self) -> torch.device:
        return torch.device("cpu")


class _StubSlot:
    """Which target the stub driver serves, how many threads compile under it, what to restore."""

    def __init__(self) -> None:
        self.changed = threading.Condition()
        self.target: Target | None = None
        self.users = 0
        self.restore: tuple[str, Any] = ("", None)


_STUB = _StubSlot()


@contextlib.contextmanager
def _stub_driver(target: Target) -> Iterator[None]:
    """Triton's active driver is the stub while any thread compiles (one target at a time)."""
    from triton.runtime import driver
    with _STUB.changed:
        _STUB.changed.wait_for(lambda: _STUB.users == 0 or _STUB.target == target)
        if _STUB.users == 0:
            # triton >= 3.5 keeps the active driver in ``_active`` (None: not made yet), older
            # releases in ``active``; reading the attribute must not create the default driver
            slot = "_active" if "_active" in vars(driver) else "active"
            _STUB.target, _STUB.restore = target, (slot, vars(driver).get(slot))
            driver.set_active(StubDriver(target))
        _STUB.users += 1
    try:
        yield
    finally:
        with _STUB.changed:
            _STUB.users -= 1
            if _STUB.users == 0:
                slot, previous = _STUB.restore
                setattr(driver, slot, previous)
                _STUB.target = None
                _STUB.changed.notify_all()


@contextlib.contextmanager
def _triton_cache_dir(path: str | None) -> Iterator[None]:
    if path is None:
        yield
        return
    previous = os.environ.get("TRITON_CACHE_DIR")
    os.environ["TRITON_CACHE_DIR"] = path
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("TRITON_CACHE_DIR", None)
        else:
            os.environ["TRITON_CACHE_DIR"] = previous
