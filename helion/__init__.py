"""Helion-compatible kernels: PyTorch with tiles, compiled to Triton and autotuned.

    import helion, helion.language as hl

    @helion.kernel()
    def add(x, y):
        out = torch.empty_like(x)
        for tile in hl.tile(out.size()):
            out[tile] = x[tile] + y[tile]
        return out
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from . import exc, language
from .runtime.config import Config
from .runtime.kernel import BoundKernel, Kernel
from .runtime.settings import Settings


def next_power_of_2(n: int) -> int:
    """Smallest power of two >= n."""
    return 1 if n <= 1 else 1 << (int(n) - 1).bit_length()


def cdiv(a: int, b: int) -> int:
    """Ceiling division."""
    return -(-a // b)


def kernel(fn: Callable[..., Any] | None = None, *, config: Config | dict | None = None,
           configs: Sequence[Config | dict] | None = None, settings: Settings | None = None,
           **setting_values: Any) -> Any:
    """Decorate a function as a kernel; usable as ``@helion.kernel`` or ``@helion.kernel(...)``.

    ``config=`` fixes the config (no tuning); ``configs=`` limits tuning to a list; any field of
    :class:`Settings` (``static_shapes``, ``autotune_strategy``, ...) may be given by keyword.
    """
    unknown = set(setting_values) - Settings.field_names()
    if unknown:
        raise exc.HelionError(f"unknown kernel settings {sorted(unknown)}; known: {sorted(Settings.field_names())}")
    resolved = (settings or Settings()).replace(**setting_values)
    from .autotune.strategies import resolve_strategy
    resolve_strategy(resolved.autotune_strategy)  # fail early on an unknown name
    chosen = [config] if config is not None else list(configs or [])

    def wrap(f: Callable[..., Any]) -> Kernel:
        return Kernel(f, configs=chosen, settings=resolved)

    return wrap(fn) if fn is not None else wrap


__all__ = ["BoundKernel", "Config", "Kernel", "Settings", "cdiv", "exc", "kernel", "language",
           "next_power_of_2"]
