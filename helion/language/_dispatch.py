"""Routes ``hl.*`` calls to whoever is executing device code right now: the compiler's lowering
(tracing a device loop) or the eager reference mode. Outside both, device functions refuse."""
from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from .. import exc

_state = threading.local()


def active() -> Any | None:
    """The current device-code executor, or None on the host."""
    return getattr(_state, "executor", None)


def require(function: str) -> Any:
    executor = active()
    if executor is None:
        raise exc.NotInDeviceCode(
            f"hl.{function} can only be used inside a device loop (`for tile in hl.tile(...)`) "
            "of a @helion.kernel function")
    return executor


@contextlib.contextmanager
def executing(executor: Any) -> Iterator[Any]:
    """Make ``executor`` receive ``hl.*`` calls inside the block."""
    previous = active()
    _state.executor = executor
    try:
        yield executor
    finally:
        _state.executor = previous


def host_tracer() -> Any | None:
    """The bind-time tracer of host code (registers block sizes), or None at run time."""
    return getattr(_state, "host_tracer", None)


@contextlib.contextmanager
def tracing_host(tracer: Any) -> Iterator[Any]:
    previous = host_tracer()
    _state.host_tracer = tracer
    try:
        yield tracer
    finally:
        _state.host_tracer = previous
