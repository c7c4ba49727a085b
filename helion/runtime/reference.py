"""Reference mode (``HELION_INTERPRET=1``): run the kernel body eagerly in PyTorch, tiles as slices.

Slow but transparent: every ``hl.*`` call does the obvious torch thing, so a kernel can be stepped
through in a debugger and compared with its compiled form.
"""
from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import torch



class RefTile:
    """A tile in reference mode: behaves as a slice when indexing tensors."""

    def __init__(self, begin: int, end: int, block_size: int, tile_id: int):
        self.begin, self.end, self.block_size, self.id = begin, end, block_size, tile_id

    @property
    def index(self) -> torch.Tensor:
        return torch.arange(self.begin, self.end)

    @property
    def count(self) -> int:
        return self.end - self.begin

    def as_slice(self) -> slice:
        return slice(self.begin, self.end)

    @classmethod
    def __torch_function__(cls, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        return func(*_convert(args), **_convert(kwargs or {}))


def _convert(value: Any) -> Any:
    if isinstance(value, RefTile):
        return value.as_slice()
    if isinstance(value, tuple):
        return tuple(_convert(v) for v in value)
    if isinstance(value, list):
        return [_convert(v) for v in value]
    if isinstance(value, dict):
        return {k: _convert(v) for k, v in value.items()}
    return value


def _size(item: Any) -> int:
    if isinstance(item, RefTile):
        return item.end - item.begin
    if hasattr(item, "block_id") and hasattr(item, "high"):  # hl.RegisteredBlockSize
        return item.reference_size
    return int(item)


class ReferenceExecutor:
    """Receives ``hl.*`` calls in reference mode.

    Tile sizes come from the kernel's config when it has one: ``block_sizes`` are handed out to
    ``hl.register_block_size`` calls and tile loops in the order they are first reached, as the
    compiler numbers them; otherwise every tile is ``block_size`` wide.
    """

    def __init__(self, block_sizes: list[int] | None = None, block_size: int = 32,
                 tunables: dict[str, Any] | None = None):
        self.block_sizes = list(block_sizes or [])
        self.tunables = dict(tunables or {})
        self.block_size = block_size
        self.knobs: dict[Any, list[int]] = {}
        self.next_knob = 0

    def take_knobs(self, site: Any, count: int) -> list[int]:
        if site not in self.knobs:
            self.knobs[site] = list(range(self.next_knob, self.next_knob + count))
            self.next_knob += count
        return [self.block_sizes[k] if k < len(self.block_sizes) else self.block_size
                for k in self.knobs[site]]

    def register_block_size(self, low: int, high: int) -> Any:
        from ..language import RegisteredBlockSize
        import sys
        frame = sys._getframe(2)
        size = self.take_knobs((frame.f_code, frame.f_lineno, "register"), 1)[0]
        value = min(max(size, low), high)
        handle = RegisteredBlockSize(None, low, high, value)  # read as a number: this size
        handle.reference_size = value
        return handle

    def register_tunable(self, name: str, fragment: Any) -> Any:
        """The value the kernel's config gives ``name``, else the fragment's default."""
        return self.tunables.get(name, fragment.default())

    def _ranges(self, begin_or_end: Any, end: Any) -> list[tuple[int, int]]:
        multi = isinstance(begin_or_end, (list, tuple, torch.Size))
        if end is None:
            ends = list(begin_or_end) if multi else [begin_or_end]
            return [(0, int(e)) for e in ends]
        begins = list(begin_or_end) if multi else [begin_or_end]
        ends = list(end) if isinstance(end, (list, tuple)) else [end]
        return [(int(b), int(e)) for b, e in zip(begins, ends)]

    def tile(self, begin_or_end: Any, end: Any, block_size: Any) -> Iterator[Any]:
        """Tiles of the loop; the knobs are taken now, at the call (a generator would run its
        body only at the first ``next``, whose caller frame is not the user's loop)."""
        import sys
        multi = isinstance(begin_or_end, (list, tuple, torch.Size))
        ranges = self._ranges(begin_or_end, end)
        frame = sys._getframe(2)
        if isinstance(block_size, int):
            sizes = [block_size] * len(ranges)
        elif block_size is not None:
            sizes = [_size(block_size)] * len(ranges)
        else:
            sizes = self.take_knobs((frame.f_code, frame.f_lineno), len(ranges))
        per_dim = [[RefTile(s, min(s + size, e), size, i) for i, s in enumerate(range(b, e, size))]
                   for (b, e), size in zip(ranges, sizes)]
        combos = (tuple(reversed(c)) for c in itertools.product(*reversed(per_dim)))
        return (c if multi else c[0] for c in combos)

    def grid(self, begin_or_end: Any, end: Any) -> Iterator[Any]:
        multi = isinstance(begin_or_end, (list, tuple, torch.Size))
        ranges = [range(b, e) for b, e in self._ranges(begin_or_end, end)]
        for combo in itertools.product(*reversed(ranges)):
            combo = tuple(reversed(combo))
            yield combo if multi else combo[0]

    def full(self, shape: Any, value: Any, dtype: torch.dtype) -> torch.Tensor:
        shape = shape if isinstance(shape, (list, tuple)) else [shape]
        return torch.full([_size(s) for s in shape], value, dtype=dtype)

    def arange(self, *args: Any, dtype: torch.dtype | None = None) -> torch.Tensor:
        return torch.arange(*[_size(a) for a in args], dtype=dtype or torch.int32)

    def dot(self, a: torch.Tensor, b: torch.Tensor, acc: Any, out_dtype: Any) -> torch.Tensor:
        result = torch.matmul(a.float(), b.float())
        if acc is not None:
            return (acc.float() + result).to(acc.dtype)
        return result.to(out_dtype or torch.float32)

    def load(self, tensor: torch.Tensor, index: list[Any], extra_mask: Any, eviction: Any) -> torch.Tensor:
        value = tensor[tuple(_convert(index))]
        if extra_mask is not None:
            value = torch.where(extra_mask, value, torch.zeros((), dtype=value.dtype))
        return value

    def store(self, tensor: torch.Tensor, index: list[Any], value: Any, extra_mask: Any) -> None:
        key = tuple(_convert(index))
        if extra_mask is not None:
            value = torch.where(extra_mask, value, tensor[key])
        tensor[key] = value

    def atomic_add(self, tensor: torch.Tensor, index: list[Any], value: Any, sem: str,
                   fn: str = "add") -> torch.Tensor:
        key = tuple(_convert(index))
        old = tensor[key].clone()
        combine = {"add": torch.add, "max": torch.maximum, "min": torch.minimum,
                   "xchg": lambda a, b: torch.as_tensor(b, dtype=a.dtype).expand_as(a),
                   "and": torch.bitwise_and, "or": torch.bitwise_or, "xor": torch.bitwise_xor}[fn]
        tensor[key] = combine(old, torch.as_tensor(value, dtype=old.dtype, device=old.device))
        return old


    # --- scans and reductions (sequential, for clarity) ---------------------------------------
    def associative_scan(self, combine_fn: Any, values: Any, dim: int, reverse: bool = False) -> Any:
        tupled = isinstance(values, (tuple, list))
        items = [v.movedim(dim, 0) for v in (values if tupled else [values])]
        order = range(items[0].size(0) - 1, -1, -1) if reverse else range(items[0].size(0))
        outs = [torch.empty_like(v) for v in items]
        acc = None
        for i in order:
            current = tuple(v[i] for v in items)
            acc = current if acc is None else _combine(combine_fn, acc, current, tupled)  # as torch's
            for out, a in zip(outs, acc):
                out[i] = a
        outs = [o.movedim(0, dim) for o in outs]
        return tuple(outs) if tupled else outs[0]

    def cumulative(self, kind: str, value: Any, dim: int, reverse: bool = False, dtype: Any = None) -> Any:
        source = value.flip(dim) if reverse else value
        out = getattr(torch, kind)(source, dim, dtype=dtype or value.dtype)
        return out.flip(dim) if reverse else out

    def reduce(self, combine_fn: Any, values: Any, dim: Any = None, other: Any = 0, keep_dims: bool = False) -> Any:
        tupled = isinstance(values, (tuple, list))
        items = list(values) if tupled else [values]
        if dim is None:
            items, dim = [v.reshape(-1) for v in items], 0
        moved = [v.movedim(dim, 0) for v in items]
        acc = tuple(v[0] for v in moved)
        for i in range(1, moved[0].size(0)):
            acc = _combine(combine_fn, acc, tuple(v[i] for v in moved), tupled)
        if keep_dims:
            acc = tuple(a.unsqueeze(dim) for a in acc)
        return tuple(acc) if tupled else acc[0]

    def static_range(self, begin_or_end: int, end: int | None = None, step: int = 1) -> range:
        return range(0, begin_or_end, step) if end is None else range(begin_or_end, end, step)

    def rand(self, shape: Any, seed: Any, low: Any = None, high: Any = None) -> Any:
        from .. import exc
        raise exc.UnsupportedOperation("hl.rand/hl.randint are not available in reference mode (Triton's "
                                       "Philox stream has no eager twin here); run the compiled kernel")

    def jagged_tile(self, parent: Any) -> Any:
        from .. import exc
        raise exc.UnsupportedOperation("hl.jagged_tile is not available in reference mode (its per-lane "
                                       "masks have no eager twin here); run the compiled kernel")


def _combine(fn: Any, left: tuple, right: tuple, tupled: bool) -> tuple:
    if not tupled:
        return (fn(left[0], right[0]),)
    import inspect
    try:
        pair = len([p for p in inspect.signature(fn).parameters.values()
                    if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]) == 2
    except (TypeError, ValueError):
        pair = False
    return tuple(fn(left, right) if pair else fn(*left, *right))
