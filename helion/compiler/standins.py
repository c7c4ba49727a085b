"""Shapes and dtypes of torch calls without torch's meta references.

On meta tensors torch runs most ops through its Python references, whose first call imports
sympy and ``torch._dynamo`` (0.7 s on a CPU build, seconds on a CUDA one): a cost every process
would pay at its first trace, cache hits included. Two stand-ins give the same answers for the
calls tracing makes most:

- device ops whose result dims come from their operands' dims (pointwise, casts, reductions) run
  on small CPU tensors, each block dim a distinct small size that no literal dim of the operands
  has, and the result's sizes are mapped back;
- ``torch.*_like`` of a dense meta tensor in host code is an ``empty_strided`` with its strides
  (what ``preserve_format`` gives), under :class:`MetaLikes`.

Anything else, and any call the stand-in cannot run, takes the meta path as before (its errors are
the ones users see).
"""
from __future__ import annotations

from typing import Any, Callable

import torch
from torch.overrides import TorchFunctionMode

_SMALL = [p for p in range(2, 200) if all(p % d for d in range(2, int(p ** 0.5) + 1))]
_MAX_NUMEL = 1 << 20


def small_result(fn: Callable[..., Any], args: tuple, kwargs: dict, as_value: Callable[[Any], Any],
                 scalar: Callable[[Any], Any], block_size: Callable[[int], int]) -> torch.Tensor | None:
    """``fn``'s result as a meta tensor with the lowering's block sizes, computed on small CPU
    stand-ins; None when that is not possible (the caller takes the meta path).

    ``as_value(arg)`` gives the device value an argument is (None for anything else), ``scalar``
    turns other arguments into what the meta path passes, ``block_size(block)`` is the size that
    stands for a block in meta tensors.
    """
    values = [v for v in map(as_value, _flat((args, kwargs))) if v is not None]
    literal = {d.size for v in values for d in v.node.dims if d.block is None}
    sizes = iter(s for s in _SMALL if s not in literal)
    small: dict[int, int] = {}

    def stand_in(arg: Any) -> Any:
        value = as_value(arg)
        if value is not None:
            shape = [d.size if d.block is None else small.setdefault(d.block, next(sizes)) for d in value.node.dims]
            return torch.ones(shape, dtype=value.dtype)
        if isinstance(arg, (list, tuple)):
            return type(arg)(stand_in(a) for a in arg)
        return scalar(arg)

    try:
        cpu_args = stand_in(tuple(args))
        cpu_kwargs = {k: stand_in(v) for k, v in kwargs.items()}
        if any(isinstance(a, torch.Tensor) and a.numel() > _MAX_NUMEL for a in _flat((cpu_args, cpu_kwargs))):
            return None
        out = fn(*cpu_args, **cpu_kwargs)
    except Exception:  # noqa: BLE001 - the meta path decides, and reports
        return None
    if not isinstance(out, torch.Tensor):
        return None
    block_of = {size: block for block, size in small.items()}
    shape = [block_size(block_of[s]) if s in block_of else s for s in out.shape]
    return torch.empty(shape, dtype=out.dtype, device="meta")


def _flat(value: Any) -> list[Any]:
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        return [x for v in value for x in _flat(v)]
    return [value]


_LIKES = {torch.empty_like, torch.zeros_like, torch.ones_like, torch.full_like}
_PLAIN = {"dtype": None, "device": None, "layout": torch.strided, "requires_grad": False, "pin_memory": False,
          "memory_format": torch.preserve_format}


class MetaLikes(TorchFunctionMode):
    """Host tracing on meta tensors: ``torch.empty_like`` and friends of dense tensors without
    torch's Python reference (same shape, strides and dtype)."""

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        if func in _LIKES and args and isinstance(args[0], torch.Tensor) and args[0].is_meta:
            like = _dense_like(args[0], kwargs)
            if like is not None:
                return like
        return func(*args, **kwargs)


def _dense_like(t: torch.Tensor, kwargs: dict) -> torch.Tensor | None:
    for name, value in kwargs.items():
        if name == "dtype" or value is None or value == _PLAIN.get(name, object()):
            continue
        if name == "device" and torch.device(value).type == "meta":
            continue
        return None  # another device, layout or memory format: torch decides
    if not _non_overlapping_and_dense(t):
        return None
    return torch.empty_strided(t.shape, t.stride(), dtype=kwargs.get("dtype") or t.dtype, device="meta")


def _non_overlapping_and_dense(t: torch.Tensor) -> bool:
    """As torch decides it: the dims of size > 1, by stride, are a dense row-major layout."""
    expected = 1
    for d in sorted((d for d in range(t.dim()) if t.size(d) > 1), key=t.stride):
        if t.stride(d) != expected:
            return False
        expected *= t.size(d)
    return True
