"""Runs generated kernels in Triton's CPU interpreter without ``TRITON_INTERPRET`` at import.

Triton's standard library (``tl.sum``, ``tl.max``, ``tl.sigmoid``, ``tl.rand``, ...) is made of ``@triton.jit``
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
import triton.language.random as tl_random
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


def _patched_objects() -> list[Any]:
    """What the interpreter patches while it runs (modules and classes of triton.language)."""
    core = tl.core
    return [tl, core, tl.math, tl_standard, tl_random, core.tensor, core.dtype,
            getattr(core, "tensor_descriptor_base", core.tensor)]


@contextlib.contextmanager
def interpreted_stdlib() -> Iterator[None]:
    """Within the block, Triton's standard-library jit functions run in the interpreter.

    Afterwards every attribute of ``triton.language`` is put back as it was: an interpreted
    device-function call patches the language and never restores it, which would break later
    GPU compiles in the same process.
    """
    with _lock:
        snapshot = [(obj, dict(vars(obj))) for obj in _patched_objects()]
        for module in (tl, tl_standard, tl_random):  # tl.rand calls tl.random's jit functions
            for name, value in list(vars(module).items()):
                if isinstance(value, JITFunction):
                    setattr(module, name, _twin(value))
        try:
            yield
        finally:
            for obj, before in snapshot:  # names the interpreter added (its own helpers) stay
                for name, value in before.items():
                    if vars(obj).get(name, _MISSING) is not value:
                        setattr(obj, name, value)


_MISSING = object()
