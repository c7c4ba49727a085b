"""Helpers to run a gallery kernel on seeded inputs and check it against its reference.

Used by the gallery tests and by scripts that run the gallery on a GPU.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import torch


def stable_seed(*parts: object) -> int:
    """A seed that depends only on ``parts`` (not on Python's per-process string hashing)."""
    return zlib.crc32(repr(parts).encode())


def make_inputs(
    module: ModuleType, size: Any, dtype: torch.dtype, device: torch.device | str, seed: int
) -> tuple[Any, ...]:
    """Fresh inputs for ``module`` at ``size``, drawn from a CPU generator seeded with ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    return tuple(module.make_args(size, dtype, device, generator))


def clone_inputs(args: Sequence[Any]) -> tuple[Any, ...]:
    """Copies of the tensor arguments (other arguments as they are)."""
    return tuple(a.clone() if isinstance(a, torch.Tensor) else a for a in args)


def assert_inputs_unchanged(before: Sequence[Any], after: Sequence[Any], context: str = "") -> None:
    """Raises AssertionError when a kernel wrote into one of its input tensors."""
    for position, (old, new) in enumerate(zip(before, after, strict=True)):
        if isinstance(old, torch.Tensor) and not torch.equal(old, new):
            raise AssertionError(f"{context}: input {position} was modified by the kernel")


def _as_tuple(value: Any) -> tuple[Any, ...]:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


def assert_matches(actual: Any, expected: Any, tolerance: dict[str, float], context: str = "") -> None:
    """Checks a kernel's outputs (a tensor or a tuple of tensors) against the reference's.

    Shapes and dtypes must be equal and values close within ``tolerance``. Floating outputs must
    also be finite wherever the reference is, and not all zero unless the reference is, so that an
    output the kernel never wrote (often zero-filled memory) cannot pass by accident.
    """
    actual_items, expected_items = _as_tuple(actual), _as_tuple(expected)
    if len(actual_items) != len(expected_items):
        raise AssertionError(f"{context}: {len(actual_items)} outputs, expected {len(expected_items)}")
    for position, (got, want) in enumerate(zip(actual_items, expected_items)):
        where = f"{context}: output {position}" if len(expected_items) > 1 else f"{context}"
        if not isinstance(got, torch.Tensor):
            raise AssertionError(f"{where}: got {type(got).__name__}, expected a tensor")
        if got.shape != want.shape or got.dtype != want.dtype:
            raise AssertionError(
                f"{where}: got shape {tuple(got.shape)} {got.dtype}, expected {tuple(want.shape)} {want.dtype}"
            )
        if got.is_floating_point():
            bad = ~torch.isfinite(got) & torch.isfinite(want)
            if bad.any():
                raise AssertionError(f"{where}: {int(bad.sum())} non-finite values where the reference is finite")
            if got.numel() > 0 and not got.any() and want.any():
                raise AssertionError(f"{where}: output is all zeros (never written?)")
        torch.testing.assert_close(got.cpu(), want.cpu(), **tolerance, msg=lambda m: f"{where}: {m}")
