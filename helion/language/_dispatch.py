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
def _swapped(name: str, value: Any) -> Iterator[Any]:
    """Set ``_state.<name>`` to ``value`` inside the block, restoring the previous value after."""
    previous = getattr(_state, name, None)
    setattr(_state, name, value)
    try:
        yield value
    finally:
        setattr(_state, name, previous)


def executing(executor: Any) -> contextlib.AbstractContextManager[Any]:
    """Make ``executor`` receive ``hl.*`` calls inside the block."""
    return _swapped("executor", executor)


def host_tracer() -> Any | None:
    """The bind-time tracer of host code (registers block sizes), or None at run time."""
    return getattr(_state, "host_tracer", None)


def tracing_host(tracer: Any) -> contextlib.AbstractContextManager[Any]:
    """Make ``tracer`` the host tracer inside the block."""
    return _swapped("host_tracer", tracer)


def tunable_values() -> dict[str, Any] | None:
    """The running config's ``hl.register_tunable`` values, or None outside a compiled run."""
    return getattr(_state, "tunables", None)


def running_with(values: dict[str, Any]) -> contextlib.AbstractContextManager[Any]:
    """Make ``values`` what ``hl.register_tunable`` returns inside the block."""
    return _swapped("tunables", values)


def next_block_size() -> int | None:
    """At run time: the running config's value of the next ``hl.register_block_size`` (they are
    registered in the same order each call), or None outside a compiled run."""
    values = tunable_values()
    if values is None or "\0block_sizes" not in values:
        return None
    sizes = values["\0block_sizes"]
    count = values.get("\0taken", 0)
    values["\0taken"] = count + 1
    return sizes[count] if count < len(sizes) else None
