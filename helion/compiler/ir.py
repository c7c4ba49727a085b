"""Device IR: blocks (tile/reduction/grid dimensions) and a list of nodes per loop body.

A node is one Triton-level operation with a torch dtype and a shape of ``Dim``s. Shapes are
symbolic: a dimension is either a block (whose size the config picks) or a literal size.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass(frozen=True)
class Dim:
    """One dimension of a device value: a block id, or a literal size (1 for broadcast dims)."""

    block: int | None = None
    size: int | None = None

    def __repr__(self) -> str:
        return f"B{self.block}" if self.block is not None else str(self.size)


ONE = Dim(size=1)


@dataclass
class Block:
    """A tiled or reduced dimension of the kernel.

    ``kind`` is ``tile`` (a tunable or fixed block of a ``hl.tile`` loop), ``grid`` (block size 1,
    a scalar index) or ``reduction`` (a whole host dimension read with ``:``; persistent or looped).
    ``extent`` is the static number of elements, or None when the bounds are device values.
    """

    id: int
    kind: str
    extent: int | None
    knob: int | None = None          # index into block_sizes / reduction_loops
    fixed: int | None = None         # a block size the program fixed (block_size=..., hl.grid)
    min_size: int = 1                # 16 when the block feeds a tl.dot
    begin: int = 0                   # static start of a top-level tile
    sym: Any = None                  # the extent as a torch.SymInt when shapes are dynamic
    loopable: bool = True            # reduction: may be computed in chunks
    jagged: Any = None               # hl.jagged_tile: (parent block id, node of the per-lane ends)
    max_extent: int | None = None    # an upper bound on a runtime-bounded loop's elements (for the space)

    @property
    def symbol(self) -> str:
        return f"_BLOCK_SIZE_{self.id}"


@dataclass(eq=False)
class Node:
    """One device operation. ``args`` hold Nodes and Python constants; ``attrs`` op details."""

    op: str
    args: tuple[Any, ...]
    dtype: torch.dtype
    dims: tuple[Dim, ...]
    name: str
    attrs: dict[str, Any] = field(default_factory=dict)
    lineno: int | None = None
    body: list["Node"] | None = None  # for loops

    @property
    def rank(self) -> int:
        return len(self.dims)

    def inputs(self) -> list["Node"]:
        """Nodes this node reads (args and attrs, nested lists included; not loop bodies)."""
        found: list[Node] = []

        def visit(value: Any) -> None:
            if isinstance(value, Node):
                found.append(value)
            elif isinstance(value, (list, tuple)):
                for item in value:
                    visit(item)

        visit(self.args)
        visit(list(self.attrs.values()))
        return found

    def __repr__(self) -> str:
        return f"{self.name}={self.op}{list(self.dims)}:{str(self.dtype).replace('torch.', '')}"


@dataclass
class HostTensorArg:
    """A host tensor the device code reads or writes: a pointer parameter of the kernel."""

    name: str
    dtype: torch.dtype
    shape: tuple[int, ...]            # sizes seen while tracing (hints when dynamic)
    strides: tuple[int, ...]
    size_syms: tuple[Any, ...] = ()   # the sizes and strides as ints or SymInts
    stride_syms: tuple[Any, ...] = ()


@dataclass
class ScalarArg:
    """A host float scalar passed to the kernel at launch."""

    name: str
    dtype: torch.dtype


@dataclass
class DeviceFunction:
    """Everything codegen needs for one device loop: blocks, grid, parameters and the body."""

    name: str
    blocks: list[Block]
    grid_blocks: list[int]
    tensor_args: dict[str, HostTensorArg]
    scalar_args: dict[str, ScalarArg]
    captured: list[str]
    body: list[Node]
    uses_libdevice: bool = False
    symbols: dict[Any, tuple[str, int]] = field(default_factory=dict)  # sympy size expression -> (tensor, dim)
    elided_fills: list[str] = field(default_factory=list)  # zero-filled tensors the loop overwrites whole

    def symbol_names(self) -> dict[Any, str]:
        """Kernel parameter name of each size symbol, e.g. ``x_size_0``."""
        return {sym: f"{tensor}_size_{dim}" for sym, (tensor, dim) in self.symbols.items()}

    def block(self, block_id: int) -> Block:
        return self.blocks[block_id]

    def used_blocks(self) -> set[int]:
        """Ids of the blocks this loop's values span (``blocks`` lists every loop's blocks)."""
        return {d.block for node in self.walk() for d in node.dims if d.block is not None}

    def walk(self) -> list[Node]:
        """All nodes, nested loop bodies included, in program order."""
        out: list[Node] = []

        def visit(nodes: list[Node]) -> None:
            for node in nodes:
                out.append(node)
                if node.body is not None:
                    visit(node.body)

        visit(self.body)
        return out


_COUNTED = {"load": "loads", "store": "stores", "atomic_add": "atomics", "dot": "dots", "reduce": "reductions",
            "custom_reduce": "reductions", "scan": "scans", "for": "loops", "pointwise": "pointwise"}


def op_counts(functions: list["DeviceFunction | None"]) -> dict[str, int]:
    """How many loads, stores, atomics, dots, reductions, scans, inner loops and pointwise ops
    the device loops hold, and how many device loops there are (the trial record's
    ``kernel_info``, which cost models learn from without importing the compiler)."""
    present = [f for f in functions if f is not None]
    counts = dict.fromkeys(_COUNTED.values(), 0)
    for fn in present:
        for node in fn.walk():
            if node.op in _COUNTED:
                counts[_COUNTED[node.op]] += 1
    return {"device_loops": len(present), **counts}

