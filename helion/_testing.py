"""The example harness of the public Helion examples (``from helion._testing import run_example``).

Every public example file checks its kernels with :func:`run_example`: each kernel (and each
extra baseline) against the first baseline, then a timing table of all of them. The same
functions serve our own tests and scripts.

- ``DEVICE``: ``cuda`` when a GPU is present, else ``cpu`` (kernels then run in Triton's
  interpreter; no environment variable needed).
- ``HALF_DTYPE``: the 16-bit type examples compute in: ``torch.bfloat16`` on a GPU, but
  ``torch.float32`` on the CPU, because bf16 (and fp16) arithmetic in Triton's interpreter is
  not trustworthy; an example written for bf16 then checks the same program in fp32.
- ``run_example(kernels, baselines, args, rtol=1e-2, atol=1e-1, bwd=False)``, ``do_bench``,
  ``check_example`` / ``code_and_output`` (one example kernel, its code and output),
  ``import_path``, ``EXAMPLES_DIR`` (``$HELION_EXAMPLES_DIR`` or ``<repo>/examples``), and the
  ``skipIf*`` decorators the public tests use.
"""
from __future__ import annotations

import functools
import importlib.util
import inspect
import os
import statistics
import sys
import time
import types
import unittest
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

PROJECT_ROOT: Path = Path(__file__).resolve().parent.parent
EXAMPLES_DIR: Path = Path(os.environ.get("HELION_EXAMPLES_DIR", PROJECT_ROOT / "examples"))
DEVICE: torch.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
HALF_DTYPE: torch.dtype = torch.bfloat16 if DEVICE.type == "cuda" else torch.float32
LONG_INT_TYPE: torch.dtype = torch.int64  # offsets' dtype in newer public examples
CPU_BENCH_CALLS = 3  # timed calls per function on the CPU (each runs the whole interpreter)


# --- environment -----------------------------------------------------------------------------------

def is_cuda() -> bool:
    """A CUDA GPU runs the kernels."""
    return DEVICE.type == "cuda"


def is_cpu() -> bool:
    """Kernels run on the CPU, through Triton's interpreter."""
    return DEVICE.type == "cpu"


def get_nvidia_gpu_model() -> str:
    """The GPU's name, or "" without one."""
    return torch.cuda.get_device_name() if torch.cuda.is_available() else ""


def _skip_if(condition: Callable[[], bool], reason: str) -> Callable[[Any], Any]:
    return unittest.skipIf(condition(), reason)


def skipIfRefEager(reason: str) -> Callable[[Any], Any]:  # noqa: N802 (public name)
    """Skip under ``HELION_INTERPRET=1`` (the eager reference mode)."""
    return _skip_if(lambda: os.environ.get("HELION_INTERPRET") == "1", reason)


def skipIfCpu(reason: str) -> Callable[[Any], Any]:  # noqa: N802
    """Skip without a GPU."""
    return _skip_if(is_cpu, reason)


def skipIfNotCUDA() -> Callable[[Any], Any]:  # noqa: N802
    """Skip without a CUDA GPU."""
    return _skip_if(lambda: not is_cuda(), "needs a CUDA GPU")


def skipIfRocm(reason: str) -> Callable[[Any], Any]:  # noqa: N802
    """Skip on a ROCm build of torch."""
    return _skip_if(lambda: torch.version.hip is not None, reason)


# --- checking ---------------------------------------------------------------------------------------

def _leaves(value: Any) -> list[Any]:
    """Tensors (and other leaves) of nested tuples, lists and dicts, in order."""
    if isinstance(value, (list, tuple)):
        return [leaf for item in value for leaf in _leaves(item)]
    if isinstance(value, dict):
        return [leaf for key in sorted(value) for leaf in _leaves(value[key])]
    return [value]


def assert_close(actual: Any, expected: Any, rtol: float, atol: float, what: str = "") -> None:
    """Every tensor of ``actual`` matches ``expected`` in fp32 within the tolerances (a None
    expected leaf matches anything); raises AssertionError naming the output."""
    got, want = _leaves(actual), _leaves(expected)
    if len(got) != len(want):
        raise AssertionError(f"{what}: {len(got)} outputs, expected {len(want)}")
    for i, (g, w) in enumerate(zip(got, want)):
        if w is None:
            continue
        label = f"{what} output {i}" if len(want) > 1 else what
        if not isinstance(w, torch.Tensor):
            if g != w:
                raise AssertionError(f"{label}: got {g!r}, expected {w!r}")
            continue
        if not isinstance(g, torch.Tensor):
            raise AssertionError(f"{label}: got {type(g).__name__}, expected a tensor")
        torch.testing.assert_close(g.detach().to(torch.float32).cpu(), w.detach().to(torch.float32).cpu(),
                                   rtol=rtol, atol=atol, msg=lambda m, label=label: f"{label}: {m}")


def _check_backward(kernels: dict[str, Callable[..., Any]], reference: Callable[..., Any], args: tuple,
                    rtol: float, atol: float) -> None:
    """Gradients of the inputs that require them, from each kernel vs the reference."""
    inputs = [a for a in args if isinstance(a, torch.Tensor) and a.requires_grad]
    if not inputs:
        raise AssertionError("bwd=True, but no argument requires grad")
    out = reference(*args)
    grad_out = torch.randn_like(out)
    expected = torch.autograd.grad(out, inputs, grad_out, allow_unused=True)
    for name, fn in kernels.items():
        got = torch.autograd.grad(fn(*args), inputs, grad_out, allow_unused=True)
        assert_close(list(got), list(expected), rtol, atol, f"{name} backward")


# --- timing -----------------------------------------------------------------------------------------

def do_bench(fn: Callable[[], Any], warmup: int = 25, rep: int = 100, return_mode: str = "median") -> float:
    """Milliseconds per call of ``fn``: on a GPU Triton's ``do_bench`` (CUDA events, L2 flushed,
    ``warmup`` / ``rep`` in ms), on the CPU the median wall time of a few interpreted calls."""
    if is_cuda():
        import triton.testing
        return float(triton.testing.do_bench(fn, warmup=warmup, rep=rep, return_mode=return_mode))
    fn()
    times = []
    for _ in range(CPU_BENCH_CALLS):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times) if return_mode == "median" else min(times)


def _print_table(times: dict[str, float], baselines: Sequence[str]) -> None:
    best = min(times[name] for name in baselines)
    unit = "ms" if is_cuda() else "ms, interpreter"
    rule = "=" * 60
    lines = [rule, "Benchmark Results", rule, f"{'Implementation':<24} {'Time (' + unit + ')':<22} Speedup", "-" * 60]
    for name, ms in times.items():
        ratio = "1.00x (ref)" if name in baselines and ms == best else f"{best / ms:.2f}x"
        lines.append(f"{name:<24} {ms:<22.4f} {ratio}")
    print("\n".join([*lines, rule]), file=sys.stderr)


# --- the harness ------------------------------------------------------------------------------------

def run_example(kernel_fn: Callable[..., Any] | dict[str, Callable[..., Any]],
                baseline_fn: Callable[..., Any] | dict[str, Callable[..., Any]], args: Sequence[Any],
                kernel_name: str = "helion", baseline_name: str = "torch", rtol: float = 1e-2,
                atol: float = 1e-1, bwd: bool = False, benchmark: bool = True) -> dict[str, float]:
    """Check every kernel and every other baseline against the first baseline's output (compared
    in fp32; outputs may be tensors or nested tuples), optionally the gradients (``bwd``), then
    time them all and print a table to stderr. Returns the times in ms by name (empty when
    ``benchmark=False`` or ``HELION_EXAMPLE_NO_BENCH=1``). Raises AssertionError on a mismatch."""
    args = tuple(args)
    kernels = dict(kernel_fn) if isinstance(kernel_fn, dict) else {kernel_name: kernel_fn}
    baselines = dict(baseline_fn) if isinstance(baseline_fn, dict) else {baseline_name: baseline_fn}
    first_name, first = next(iter(baselines.items()))
    expected = first(*args)
    for name, fn in {**kernels, **baselines}.items():
        if name != first_name:
            print(f"Testing {name} correctness...", file=sys.stderr)
            assert_close(fn(*args), expected, rtol, atol, name)
    if bwd:
        _check_backward(kernels, first, args, rtol, atol)
    if not benchmark or os.environ.get("HELION_EXAMPLE_NO_BENCH") == "1":
        return {}
    times = {name: do_bench(functools.partial(fn, *args)) for name, fn in {**kernels, **baselines}.items()}
    _print_table(times, list(baselines))
    return times


def import_path(filename: Path | str) -> types.ModuleType:
    """Import a Python file as a module (once; later calls return the same module)."""
    path = Path(filename)
    name = f"helion._testing_examples.{path.stem}"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot import {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def code_and_output(fn: Any, args: Sequence[Any], **config: Any) -> tuple[str, Any]:
    """The Triton source of kernel ``fn`` and its output on ``args`` under ``config`` (keywords of
    ``helion.Config``; default: the kernel's own config, else the space's default)."""
    from .runtime.config import Config
    args = tuple(args)
    if fn.settings.reference_mode:
        return inspect.getsource(fn.fn), fn(*args)
    bound = fn.bind(args)
    chosen = Config(config) if config else (fn.configs[0] if fn.configs else bound.config_space.default())
    code = bound.to_triton_code(chosen)
    try:
        return code, bound.compile_config(chosen)(*args)
    except Exception:
        print(f"Failed to run kernel:\n{code}", file=sys.stderr)
        raise


def check_example(name: str, args: Sequence[Any], expected: Any, fn_name: str | None = None,
                  skip_accuracy: bool = False, static_shapes: bool | None = None, atol: float = 1e-1,
                  rtol: float = 1e-2, **config: Any) -> str:
    """Run kernel ``fn_name`` (default ``name``) of ``EXAMPLES_DIR/<name>.py`` on ``args``, check
    it against ``expected`` and return its Triton source."""
    kernel = getattr(import_path(EXAMPLES_DIR / f"{name}.py"), fn_name or name)
    if static_shapes is not None:
        kernel.settings.static_shapes = static_shapes
        kernel.reset()
    code, result = code_and_output(kernel, args, **config)
    if not skip_accuracy:
        assert_close(result, expected, rtol, atol, name)
    return code
