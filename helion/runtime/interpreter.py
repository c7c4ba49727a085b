"""Runs generated kernels in Triton's CPU interpreter without ``TRITON_INTERPRET`` at import.

Triton's standard library (``tl.sum``, ``tl.max``, ``tl.sigmoid``, ...) is made of ``@triton.jit``
functions that only work in the interpreter when the variable was set before Triton was imported.
While an interpreted kernel runs, :func:`interpreted_stdlib` swaps those functions for interpreted
twins, then puts the compiled ones back, so CPU and GPU kernels can share one process.
"""
from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import triton.language as tl
import triton.language.standard as tl_standard
from triton.runtime.interpreter import InterpretedFunction
from triton.runtime.jit import JITFunction

try:  # imported lazily by Triton's launcher; it must see the compiled functions, so load it now
    import triton.experimental.gluon  # noqa: F401
except ImportError:  # older Triton
    pass

_lock = threading.RLock()
_twins: dict[int, Any] = {}


def _twin(fn: JITFunction) -> Any:
    twin = _twins.get(id(fn))
    if twin is None:
        twin = _twins[id(fn)] = InterpretedFunction(fn.fn)
    return twin


@contextlib.contextmanager
def interpreted_stdlib() -> Iterator[None]:
    """Within the block, Triton's standard-library jit functions run in the interpreter."""
    with _lock:
        saved: list[tuple[Any, str, Any]] = []
        for module in (tl, tl_standard):
            for name, value in list(vars(module).items()):
                if isinstance(value, JITFunction):
                    saved.append((module, name, value))
                    setattr(module, name, _twin(value))
        try:
            yield
        finally:
            for module, name, value in saved:
                setattr(module, name, value)
