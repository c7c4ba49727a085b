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
        handle = RegisteredBlockSize(None, low, high)
        handle.reference_size = min(max(size, low), high)
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

    def atomic_add(self, tensor: torch.Tensor, index: list[Any], value: Any, sem: str) -> torch.Tensor:
        key = tuple(_convert(index))
        old = tensor[key].clone()
        tensor[key] = old + value
        return old

