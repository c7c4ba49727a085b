"""Which device loops may be flattened: a multi-dim tile run as one 1-D block (``flatten_loops``).

A flattened program covers ``prod(block sizes)`` consecutive elements of the row-major index
space of its grid dims, so partial tiles at the edges of a dim cost no masked-off lanes. Every
value then is one vector over those elements, which is only possible when the body is elementwise
over the tile: no reductions, dots, inner loops or per-tile scalars, and every dim of every value
is a grid dim or has size 1.
"""
from __future__ import annotations

from .ir import DeviceFunction

_ELEMENTWISE = {"arg", "var", "sym", "block_size", "cast", "pointwise", "full", "load", "store",
                "atomic_add", "tile_index", "view"}


def eligible(fn: DeviceFunction) -> bool:
    grid = fn.grid_blocks
    if len(grid) < 2 or any(fn.block(b).kind != "tile" for b in grid):
        return False
    for node in fn.walk():
        if node.op not in _ELEMENTWISE:
            return False
        if node.op == "view" and node.attrs["kind"] == "reshape" and _squeezed(node.dims) != _squeezed(
                node.args[0].dims):
            return False
        if any(d.block not in grid and d.size != 1 for d in node.dims):
            return False
        if node.op in ("store", "atomic_add") and any(
                d.block not in grid and d.size != 1 for d in node.attrs["index_dims"]):
            return False
    return True


def _squeezed(dims: tuple) -> tuple:
    return tuple(d for d in dims if d.block is not None or d.size != 1)
