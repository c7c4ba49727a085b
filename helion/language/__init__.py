"""``helion.language`` (imported as ``hl``): the device-code vocabulary of Helion kernels.

Inside a ``@helion.kernel`` function, ``for tile in hl.tile(n)`` loops are device code; these
functions build tiles, tensors and memory operations there. The compiler lowers each call to Triton;
the reference mode (``HELION_INTERPRET=1``) executes them eagerly in PyTorch.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from ._dispatch import host_tracer, require


class constexpr:  # noqa: N801 (public Helion spelling)
    """Annotation for a kernel argument whose value is baked into the generated code."""

    def __init__(self, value: Any = None):
        self.value = value


class RegisteredBlockSize:
    """Host-side handle returned by :func:`register_block_size`; a tunable block size.

    Used as ``block_size=`` or a dim of ``hl.zeros`` it stays symbolic. Read as a number
    (arithmetic, ``int()``, a shape or ``range`` bound) it is the running config's block size:
    the kernel is then traced once per value of it (as for ``hl.register_tunable``)."""

    def __init__(self, block_id: int | None, low: int, high: int, value: int | None = None,
                 on_read: Any = None):
        self.block_id, self.low, self.high = block_id, low, high
        self._value, self._on_read = value, on_read

    def __repr__(self) -> str:
        return f"RegisteredBlockSize(id={self.block_id}, {self.low}..{self.high})"

    def __int__(self) -> int:
        if self._value is None:
            from .. import exc
            raise exc.UnsupportedOperation("the value of an hl.register_block_size block size is only "
                                           "known inside a @helion.kernel call")
        if self._on_read is not None:
            self._on_read(self.block_id)
        return self._value

    __index__ = __int__

    def __float__(self) -> float:
        return float(int(self))

    def __bool__(self) -> bool:
        return True

    def __hash__(self) -> int:
        return id(self)


def _block_size_arithmetic(name: str) -> None:
    def forward(self: RegisteredBlockSize, other: Any) -> Any:
        other = int(other) if isinstance(other, RegisteredBlockSize) else other
        return getattr(int(self), name)(other)
    setattr(RegisteredBlockSize, name, forward)


for _name in ("__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__floordiv__",
              "__rfloordiv__", "__truediv__", "__rtruediv__", "__mod__", "__rmod__", "__pow__", "__rpow__",
              "__lt__", "__le__", "__gt__", "__ge__", "__neg__", "__lshift__",
              "__rshift__", "__rlshift__", "__rrshift__", "__and__", "__rand__", "__or__", "__ror__"):
    if _name == "__neg__":
        setattr(RegisteredBlockSize, _name, lambda self: -int(self))
    else:
        _block_size_arithmetic(_name)


def tile(begin_or_end: Any, end_or_none: Any = None, /, block_size: Any = None) -> Any:
    """Iterate over tiles of ``range(begin, end)``; a list of sizes gives a tuple of tiles."""
    return require("tile").tile(begin_or_end, end_or_none, block_size)


def jagged_tile(parent: Any) -> Any:
    """Iterate over a ragged inner dimension: ``parent`` is a 1-D device tensor over an enclosing
    tile holding each lane's end. The loop runs to ``parent.amax()`` and every load, store and
    reduction that indexes the child tile together with the parent tile is masked to
    ``tile.index < parent`` per lane, as if each lane had its own ``hl.tile(parent[i])``::

        for tile_b in hl.tile(b):
            lengths = ends[tile_b] - starts[tile_b]
            for tile_k in hl.jagged_tile(lengths):
                acc = acc + x[starts[:, None] + tile_k.index[None, :]].sum(dim=1)
    """
    return require("jagged_tile").jagged_tile(parent)


vtile = jagged_tile  # the name newer public releases use


def grid(begin_or_end: Any, end_or_none: Any = None, /) -> Any:
    """Iterate over single indices (scalars) of ``range(begin, end)``; lists give tuples."""
    return require("grid").grid(begin_or_end, end_or_none)


def zeros(shape: Sequence[Any], dtype: torch.dtype = torch.float32, device: Any = None) -> Any:
    """A device tensor of zeros whose dims are tiles, block sizes or ints."""
    return require("zeros").full(shape, 0.0, dtype)


def full(shape: Sequence[Any], value: Any, dtype: torch.dtype = torch.float32, device: Any = None) -> Any:
    """A device tensor filled with ``value``."""
    return require("full").full(shape, value, dtype)


def arange(*args: Any, dtype: torch.dtype | None = None) -> Any:
    """``arange(length)`` or ``arange(begin, end)`` as an int32 device tensor."""
    return require("arange").arange(*args, dtype=dtype)


def dot(a: Any, b: Any, acc: Any = None, out_dtype: torch.dtype | None = None) -> Any:
    """Matrix product of device tiles (optionally batched), accumulated into ``acc`` in fp32."""
    return require("dot").dot(a, b, acc, out_dtype)


def load(tensor: torch.Tensor, index: Sequence[Any], extra_mask: Any = None,
         eviction_policy: str | None = None) -> Any:
    """Load ``tensor[index]``; ``extra_mask`` further restricts which elements are read."""
    return require("load").load(tensor, list(index), extra_mask, eviction_policy)


def store(tensor: torch.Tensor, index: Sequence[Any], value: Any, extra_mask: Any = None) -> None:
    """Store ``value`` into ``tensor[index]`` where ``extra_mask`` (and bounds) allow."""
    require("store").store(tensor, list(index), value, extra_mask)


def atomic_add(tensor: torch.Tensor, index: Sequence[Any], value: Any, sem: str = "relaxed") -> Any:
    """Atomically add ``value`` into ``tensor[index]``; returns the previous values."""
    return require("atomic_add").atomic_add(tensor, list(index), value, sem)


def _atomic(fn: str) -> Any:
    def atomic(tensor: torch.Tensor, index: Sequence[Any], value: Any, sem: str = "relaxed") -> Any:
        return require(f"atomic_{fn}").atomic_add(tensor, list(index), value, sem, fn)
    atomic.__name__ = atomic.__qualname__ = f"atomic_{fn}"
    atomic.__doc__ = f"Atomically combine ``value`` into ``tensor[index]`` with {fn}; returns the previous values."
    return atomic


atomic_max = _atomic("max")
atomic_min = _atomic("min")
atomic_xchg = _atomic("xchg")
atomic_and = _atomic("and")
atomic_or = _atomic("or")
atomic_xor = _atomic("xor")


def tile_begin(tile: Any) -> Any:
    """``tile.begin`` (public function spelling)."""
    return tile.begin


def tile_end(tile: Any) -> Any:
    """``tile.end``."""
    return tile.end


def tile_block_size(tile: Any) -> Any:
    """``tile.block_size``."""
    return tile.block_size


def tile_id(tile: Any) -> Any:
    """``tile.id``."""
    return tile.id


def tile_index(tile: Any) -> Any:
    """``tile.index``."""
    return tile.index


def subscript(tensor: Any, index: Sequence[Any]) -> Any:
    """``tensor[index]`` of a device value, where ``index`` holds ``:``, ``None`` and ``...``."""
    return tensor[tuple(index)]


def associative_scan(combine_fn: Any, input_tensor: Any, dim: int, reverse: bool = False) -> Any:
    """Inclusive scan of a tensor (or a tuple of tensors) along ``dim`` with ``combine_fn``.

    ``combine_fn(left, right)`` combines two elements elementwise and must be associative; for a
    tuple it takes the two tuples, or their elements unpacked (``fn(l0, l1, r0, r1)``), and
    returns a tuple. ``reverse=True`` scans from the end. Example, a segmented sum::

        sums, _ = hl.associative_scan(combine, (values, starts), dim=1)
    """
    return require("associative_scan").associative_scan(combine_fn, input_tensor, dim, reverse)


def cumsum(input_tensor: Any, dim: int, reverse: bool = False) -> Any:
    """Cumulative sum along ``dim`` (``hl.associative_scan(torch.add, ...)``, keeping the dtype)."""
    return require("cumsum").cumulative("cumsum", input_tensor, dim, reverse)


def cumprod(input_tensor: Any, dim: int, reverse: bool = False) -> Any:
    """Cumulative product along ``dim`` (``hl.associative_scan(torch.mul, ...)``, keeping the dtype)."""
    return require("cumprod").cumulative("cumprod", input_tensor, dim, reverse)


def reduce(combine_fn: Any, input_tensor: Any, dim: int | None = None, other: Any = 0,
           keep_dims: bool = False) -> Any:
    """Reduce a tensor (or a tuple of tensors) along ``dim`` (all dims if None) with ``combine_fn``.

    ``combine_fn`` is as for :func:`associative_scan`; ``other`` (one per tensor for a tuple) is
    the value of masked-off lanes and should be the combine function's identity. Example::

        biggest = hl.reduce(lambda a, b: torch.maximum(a, b), x, dim=1, other=float("-inf"))
    """
    return require("reduce").reduce(combine_fn, input_tensor, dim, other, keep_dims)


def static_range(begin_or_end: int, end_or_none: int | None = None, /, step: int = 1) -> range:
    """An unrolled loop in device code: ``for i in hl.static_range(4):`` repeats its body for
    i = 0..3 when the kernel is compiled (bounds must be compile-time ints)."""
    return require("static_range").static_range(begin_or_end, end_or_none, step)


def rand(shape: Sequence[Any], seed: Any, device: Any = None) -> Any:
    """Uniform float32 numbers in [0, 1) of ``shape`` (tiles and ints), from Philox with an
    explicit ``seed`` (an int or a one-element tensor). Each element's stream is its index in the
    shape's full extents, so a seed gives the same numbers whatever the block sizes::

        keep = hl.rand([tile], seed=seed) > p
    """
    return require("rand").rand(shape, seed)


def randint(shape: Sequence[Any], low: int, high: int, seed: Any, device: Any = None) -> Any:
    """Random int32 values in ``[low, high)`` of ``shape``, drawn as :func:`rand` draws."""
    return require("randint").rand(shape, seed, low, high)


def register_block_size(min_or_max: int, max_or_none: int | None = None, /) -> RegisteredBlockSize:
    """Host code: declare a tunable block size (in ``[min, max]``) for use in device code."""
    low, high = (1, min_or_max) if max_or_none is None else (min_or_max, max_or_none)
    from ._dispatch import active
    executor = active()
    if executor is not None and hasattr(executor, "register_block_size"):  # reference mode
        return executor.register_block_size(int(low), int(high))
    tracer = host_tracer()
    if tracer is not None:
        block_id, value = tracer.register_block_size(low, high)
        return RegisteredBlockSize(block_id, int(low), int(high), value, tracer.read_block_size)
    from ._dispatch import next_block_size
    return RegisteredBlockSize(None, int(low), int(high), next_block_size())


def register_tunable(name: str, fragment: Any) -> Any:
    """Host code: add a tunable value named ``name`` (a ``helion.autotuner`` fragment, e.g.
    ``PowerOfTwoFragment(1, 256)``) to the kernel's search space; returns the value the current
    config gives it (a plain Python value, usable in host and device code)."""
    from .. import exc
    from ..autotuner import ConfigSpecFragment
    from ._dispatch import active, tunable_values
    if not isinstance(name, str) or not isinstance(fragment, ConfigSpecFragment):
        raise exc.UnsupportedOperation(
            f"hl.register_tunable takes a name and a helion.autotuner fragment, got {name!r} and {fragment!r}")
    executor = active()
    if executor is not None and hasattr(executor, "register_tunable"):  # reference mode
        return executor.register_tunable(name, fragment)
    if executor is not None:
        raise exc.UnsupportedOperation("hl.register_tunable must be called in host code, before the device loops")
    tracer = host_tracer()
    if tracer is not None:
        return tracer.register_tunable(name, fragment)
    values = tunable_values()
    if values is None or name not in values:
        return fragment.default()
    return values[name]


def specialize(value: Any) -> Any:
    """Host code: bake a size into the kernel (shapes are already specialized by default)."""
    if isinstance(value, (torch.Size, tuple, list)):
        return type(value)(int(v) for v in value)
    return int(value)


__all__ = [
    "RegisteredBlockSize", "arange", "associative_scan", "atomic_add", "atomic_and", "atomic_max", "atomic_min",
    "atomic_or", "atomic_xchg", "atomic_xor", "subscript", "tile_begin", "tile_block_size", "tile_end", "tile_id",
    "tile_index", "constexpr", "cumprod", "cumsum", "dot",
    "full", "grid", "jagged_tile", "vtile", "load", "rand", "randint", "reduce", "register_block_size", "register_tunable", "specialize",
    "static_range", "store", "tile", "zeros",
]
