"""Triton spelling of scans and custom reductions (``combine.py``) and of ``hl.rand``/``hl.randint``.

A combine function becomes a ``@triton.jit`` helper written before the kernel. Masked-off lanes
of the scanned or reduced dim must not change valid results: a reduction replaces them with the
user's ``other``; ``cumsum``/``cumprod`` with 0 or 1; a forward scan never reads them (they come
last); a reverse scan over a dim that may be masked pairs each value with a validity flag and
scans with a wrapper that treats invalid lanes as the identity.
"""
from __future__ import annotations

from typing import Any

from .combine import CombineFunction
from .ir import Node

_NEUTRAL = {"cumsum": "0", "cumprod": "1"}


class CombineCodegen:
    """Mixin of :class:`~helion.compiler.codegen.KernelCodegen`."""

    def combine_helper(self, combine: CombineFunction, flagged: bool) -> str:
        """Write ``combine`` (or its flag-aware wrapper) once; returns the helper's name."""
        name = f"_{combine.name}" + ("_flagged" if flagged else "")
        if name in self.helper_names:
            return name
        if flagged:
            self.combine_helper(combine, False)
        saved = self.lines, self.depth
        self.lines, self.depth = [], 1
        params = [p.name for p in combine.params]
        count = len(combine.results)
        if flagged:
            lefts, rights = params[:count], params[count:]
            outs = [f"out_{i}" for i in range(count)]
            self.line(f"{', '.join(outs)} = _{combine.name}({', '.join(params)})")
            for out, left, right in zip(outs, lefts, rights):
                self.line(f"{out} = tl.where(left_valid & right_valid, {out}, tl.where(left_valid, {left}, {right}))")
            self.line(f"return {', '.join(outs)}, left_valid | right_valid")
            params = lefts + ["left_valid"] + rights + ["right_valid"]
        else:
            for node in combine.body:
                self.emit(node)
            self.line(f"return {', '.join(self.ref(r) for r in combine.results)}")
        body = "\n".join(self.lines)
        self.lines, self.depth = saved
        self.helpers.append(f"@triton.jit\ndef {name}({', '.join(params)}):\n{body}\n")
        self.helper_names.add(name)
        return name

    def _masked_lanes(self, node: Node, axis: int | None) -> str | None:
        """Mask of the valid lanes of the dim(s) a scan or reduction combines, if any may be off."""
        source = node.args[0]
        dims = source.dims if axis is None else (source.dims[axis],)
        positions = range(source.rank) if axis is None else [axis]
        parts = [self.expand(f"mask_{d.block}", [p], source.rank) for p, d in zip(positions, dims)
                 if d.block is not None and d.block in self.active and self.maskable(d.block)]
        return " & ".join(parts) if parts else None

    def _unpack(self, node: Node, expr: str, extra: int = 0) -> None:
        names = [o.name for o in node.attrs["outputs"]] + ["_"] * extra
        self.line(f"{', '.join(names)} = {expr}")

    def op_scan(self, node: Node) -> None:
        axis, reverse, kind = node.attrs["axis"], node.attrs["reverse"], node.attrs["kind"]
        inputs = [self.ref(a) for a in node.args]
        mask = self._masked_lanes(node, axis) if reverse else None
        flag = ", reverse=True" if reverse else ""
        if kind in _NEUTRAL:
            value = f"tl.where({mask}, {inputs[0]}, {_NEUTRAL[kind]})" if mask else inputs[0]
            self._unpack(node, f"tl.{kind}({value}, {axis}{flag})")
            return
        combine = node.attrs["combine"]
        if mask:
            valid = f"tl.broadcast_to({mask}, {self.shape_text(node.dims)})"
            helper = self.combine_helper(combine, flagged=True)
            self._unpack(node, f"tl.associative_scan(({', '.join(inputs)}, {valid}), {axis}, {helper}{flag})", 1)
            return
        helper = self.combine_helper(combine, flagged=False)
        values = inputs[0] if len(inputs) == 1 else f"({', '.join(inputs)})"
        self._unpack(node, f"tl.associative_scan({values}, {axis}, {helper}{flag})")

    def op_custom_reduce(self, node: Node) -> None:
        axis = node.attrs["axis"]
        mask = self._masked_lanes(node, axis)
        inputs = [self.ref(a) for a in node.args]
        if mask:
            from .codegen import literal  # (codegen imports this module)
            inputs = [f"tl.where({mask}, {value}, {literal(other)})" for value, other in zip(inputs, node.attrs["others"])]
        helper = self.combine_helper(node.attrs["combine"], flagged=False)
        values = inputs[0] if len(inputs) == 1 else f"({', '.join(inputs)})"
        keep = ", keep_dims=True" if node.attrs["keepdim"] else ""
        self._unpack(node, f"tl.reduce({values}, {axis}, {helper}{keep})")

    def op_scan_item(self, node: Node) -> None:
        pass  # named by the scan or reduction that produces it

    def op_rand(self, node: Node) -> None:
        seed, offsets = (self.ref(a) for a in node.args)
        if node.attrs["low"] is None:
            self.assign(node, f"tl.rand({seed}, {offsets})")
            return
        low, high = node.attrs["low"], node.attrs["high"]
        draw = f"(tl.randint({seed}, {offsets}) % {high - low}).to(tl.int32)"
        self.assign(node, draw if low == 0 else f"{low} + {draw}")

