"""Lowering of scans and reductions with a user combine function.

``hl.associative_scan(fn, x, dim)``, ``hl.reduce(fn, x, dim)`` (and ``hl.cumsum``/``hl.cumprod``,
``torch.cumsum``/``torch.cumprod``) take one tensor or a tuple of tensors. The combine function is
plain Python over device values; it is traced once on scalar parameters into a
:class:`CombineFunction`, which codegen writes as a ``@triton.jit`` helper of the kernel module.
A combine function of a tuple takes either the two tuples (``fn(left, right)``) or their
elements unpacked, lefts first (``fn(l0, l1, r0, r1)``), as in public Helion.
"""
from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from .. import exc
from .ir import ONE, Node
from .ops import compute_dtype
from .values import DeviceValue

_ELEMENTWISE = {"arg", "pointwise", "cast", "full"}


@dataclass(eq=False)
class CombineFunction:
    """A traced combine function: parameters (lefts then rights), its nodes and its results."""

    name: str
    params: list[Node]
    body: list[Node]
    results: list[Any]  # Nodes (or constants) of the input dtypes, one per input


class CombineLowering:
    """Mixin of :class:`~helion.compiler.lower.DeviceLowering` for scans and reductions."""

    def trace_combine(self, fn: Callable[..., Any], dtypes: list[torch.dtype], tupled: bool,
                      what: str) -> CombineFunction:
        if not callable(fn):
            raise exc.UnsupportedOperation(f"{what}: combine_fn must be a function, got {type(fn).__name__}")
        name = self.fresh_name(f"combine_{getattr(fn, '__name__', 'fn')}")
        params = [Node("arg", (), dtype, (), self.fresh_name(f"{side}_{i}"), {}, self.lineno)
                  for side in ("left", "right") for i, dtype in enumerate(dtypes)]
        left = [DeviceValue(p) for p in params[:len(dtypes)]]
        right = [DeviceValue(p) for p in params[len(dtypes):]]
        saved = self.body, self.statement_nodes, self.predicate
        self.body, self.predicate = [], None
        try:
            if not tupled:
                results = [fn(left[0], right[0])]
            elif _positional_count(fn) == 2:
                results = fn(tuple(left), tuple(right))
            else:
                results = fn(*left, *right)
            if tupled and not (isinstance(results, (tuple, list)) and len(results) == len(dtypes)):
                raise exc.UnsupportedOperation(
                    f"{what}: the combine function of {len(dtypes)} tensors must return a tuple of "
                    f"{len(dtypes)} values")
            results = [self._combine_result(value, dtype, what) for value, dtype in zip(results, dtypes)]
            body = self.body
        finally:
            self.body, self.statement_nodes, self.predicate = saved
        for node in body:
            if node.op not in _ELEMENTWISE or node.rank != 0:
                raise exc.UnsupportedOperation(
                    f"{what}: a combine function may only compute elementwise on its arguments "
                    f"(torch ops, operators, torch.where); it uses `{node.attrs.get('fn', node.op)}`")
        return CombineFunction(name, params, body, results)

    def _combine_result(self, value: Any, dtype: torch.dtype, what: str) -> Any:
        if isinstance(value, (int, float, bool)):
            value = DeviceValue(self.emit("full", (value,), dtype, (), "full"))
        if not isinstance(value, DeviceValue):
            raise exc.UnsupportedOperation(f"{what}: the combine function returned a {type(value).__name__}")
        return self.cast(value, dtype).node

    def _inputs(self, values: Any, what: str) -> tuple[list[DeviceValue], bool]:
        tupled = isinstance(values, (tuple, list))
        items = list(values) if tupled else [values]
        if not items or not all(isinstance(v, DeviceValue) for v in items):
            raise exc.UnsupportedOperation(f"{what} takes a device tensor or a tuple of device tensors")
        dims = items[0].node.dims
        if any(v.node.dims != dims for v in items):
            raise exc.ShapeMismatch(f"{what}: the tensors of the tuple must have one shape, got "
                                    + ", ".join(self.describe(v.node.dims) for v in items))
        return items, tupled

    def _axis(self, value: DeviceValue, dim: Any, what: str) -> int:
        if not isinstance(dim, int) or not -value.ndim <= dim < max(value.ndim, 1):
            raise exc.UnsupportedOperation(f"{what}: dim must be an int in range for rank {value.ndim}, got {dim!r}")
        axis = dim % value.ndim
        block = value.node.dims[axis].block
        if block is not None and self.blocks[block].kind == "reduction":
            self.blocks[block].loopable = False  # the whole dim is needed at once
        return axis

    def _outputs(self, node: Node, items: list[DeviceValue], tupled: bool) -> Any:
        outputs = [self.emit("scan_item", (node,), item.dtype, node.dims if node.op == "scan" else
                             node.attrs["out_dims"], "v", index=i) for i, item in enumerate(items)]
        node.attrs["outputs"] = outputs
        values = tuple(DeviceValue(o) for o in outputs)
        return values if tupled else values[0]

    def associative_scan(self, combine_fn: Any, values: Any, dim: int, reverse: bool = False) -> Any:
        items, tupled = self._inputs(values, "hl.associative_scan")
        axis = self._axis(items[0], dim, "hl.associative_scan")
        combine = self.trace_combine(combine_fn, [v.dtype for v in items], tupled, "hl.associative_scan")
        node = self.emit("scan", tuple(v.node for v in items), items[0].dtype, items[0].node.dims, "scan",
                         axis=axis, reverse=bool(reverse), combine=combine, kind="custom")
        return self._outputs(node, items, tupled)

    def cumulative(self, kind: str, value: Any, dim: int, reverse: bool = False,
                   dtype: torch.dtype | None = None) -> DeviceValue:
        """``cumsum``/``cumprod`` (Triton's own scans), computed in fp32 for 16-bit floats."""
        what = f"hl.{kind}"
        items, _ = self._inputs(value, what)
        axis = self._axis(items[0], dim, what)
        target = dtype or items[0].dtype
        source = self.cast(items[0], compute_dtype(target))
        node = self.emit("scan", (source.node,), source.dtype, source.node.dims, kind, axis=axis,
                         reverse=bool(reverse), combine=None, kind=kind)
        return self.cast(self._outputs(node, [source], False), target)

    def reduce(self, combine_fn: Any, values: Any, dim: int | None = None, other: Any = 0,
               keep_dims: bool = False) -> Any:
        items, tupled = self._inputs(values, "hl.reduce")
        axis = None if dim is None else self._axis(items[0], dim, "hl.reduce")
        if dim is None:
            for d in items[0].node.dims:
                if d.block is not None and self.blocks[d.block].kind == "reduction":
                    self.blocks[d.block].loopable = False
        others = list(other) if isinstance(other, (tuple, list)) else [other] * len(items)
        if len(others) != len(items) or not all(isinstance(o, (int, float, bool)) for o in others):
            raise exc.UnsupportedOperation("hl.reduce: other must be a number (or a tuple of one per tensor)")
        combine = self.trace_combine(combine_fn, [v.dtype for v in items], tupled, "hl.reduce")
        dims = list(items[0].node.dims)
        if axis is None:
            out_dims = tuple(ONE for _ in dims) if keep_dims else ()
        else:
            out_dims = tuple(dims[:axis] + ([ONE] if keep_dims else []) + dims[axis + 1:])
        node = self.emit("custom_reduce", tuple(v.node for v in items), items[0].dtype, out_dims, "reduce",
                         axis=axis, keepdim=bool(keep_dims), combine=combine, others=others, out_dims=out_dims)
        return self._outputs(node, items, tupled)


def _positional_count(fn: Callable[..., Any]) -> int:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return -1
    return sum(1 for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))
