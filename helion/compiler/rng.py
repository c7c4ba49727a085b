"""``hl.rand``/``hl.randint`` (Philox, Triton's ``tl.rand``/``tl.randint``) and ``hl.static_range``.

A random value is drawn from ``(seed, offset)`` where the offset is the element's row-major index
in the full index space of the shape's dims (a tile's loop extent, an int's size), not its place
in the block: the same seed gives the same numbers whatever the block sizes.
"""
from __future__ import annotations

from typing import Any

import torch

from .. import exc
from . import symbols
from .ir import ONE, Dim
from .values import DeviceValue, HostTensor, TileProxy


class RandomLowering:
    """Mixin of :class:`~helion.compiler.lower.DeviceLowering`."""

    def rand(self, shape: Any, seed: Any, low: int | None = None, high: int | None = None) -> DeviceValue:
        what = "hl.rand" if low is None else "hl.randint"
        entries = list(shape) if isinstance(shape, (list, tuple, torch.Size)) else [shape]
        dims = self.shape_dims(entries)
        indices, extents = [], []
        for entry, dim in zip(entries, dims):
            if isinstance(entry, TileProxy):
                indices.append(entry.index)
                extents.append(self.loop_bounds[entry.block_id][1])
            elif symbols.is_host_int(entry):
                indices.append(self.arange(entry) if dim != ONE else 0)
                extents.append(entry)
            else:
                raise exc.UnsupportedOperation(
                    f"{what}: shape entries must be tiles or ints (the offsets follow their full extents), "
                    f"not {type(entry).__name__}")
        offsets: Any = None
        stride: Any = 1
        for position in range(len(entries) - 1, -1, -1):
            index = indices[position]
            if isinstance(index, DeviceValue) and index.ndim == 1:
                spec = tuple(slice(None) if p == position else None for p in range(len(entries)))
                index = self.subscript_value(index, spec)
            term = index * stride if stride != 1 else index
            offsets = term if offsets is None else offsets + term
            extent = extents[position]
            stride = stride * (extent if not isinstance(extent, DeviceValue) else extent)
        if not isinstance(offsets, DeviceValue):
            offsets = DeviceValue(self.emit("full", (offsets,), torch.int32, (), "full"))
        if offsets.node.dims != dims:
            offsets = DeviceValue(self.emit("view", (offsets.node,), offsets.dtype, dims, "v", kind="broadcast"))
        offsets = self.cast(offsets, torch.int32)
        if low is not None and not (isinstance(low, int) and isinstance(high, int) and low < high):
            raise exc.UnsupportedOperation(f"{what}: low and high must be ints with low < high, got {low}, {high}")
        dtype = torch.float32 if low is None else torch.int32
        node = self.emit("rand", (self.as_node(self._seed(seed, what)), offsets.node), dtype, dims, "rand",
                         low=low, high=high)
        return DeviceValue(node)

    def _seed(self, seed: Any, what: str) -> Any:
        if isinstance(seed, HostTensor):
            if seed.meta.numel() != 1:
                raise exc.ShapeMismatch(f"{what}: a seed tensor must have one element, got shape {list(seed.shape)}")
            return self.load(seed, [0] * seed.meta.dim(), None, None)
        if isinstance(seed, DeviceValue) and seed.ndim == 0:
            return seed
        if isinstance(seed, int) and not isinstance(seed, bool):
            return seed
        raise exc.UnsupportedOperation(f"{what}: seed must be an int, a one-element tensor or a scalar device "
                                       f"value, got {type(seed).__name__}")

    def static_range(self, begin_or_end: Any, end: Any = None, step: int = 1) -> range:
        bounds = [begin_or_end] if end is None else [begin_or_end, end]
        if not all(symbols.is_host_int(b) and not symbols.is_symbolic(b) for b in bounds + [step]):
            raise exc.UnsupportedOperation("hl.static_range needs bounds known when the kernel is compiled "
                                           "(ints or static sizes)")
        begin, stop = (0, bounds[0]) if end is None else bounds
        return range(symbols.hint(begin), symbols.hint(stop), symbols.hint(step))
