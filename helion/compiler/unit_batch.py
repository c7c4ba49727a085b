"""Batched dots over one matrix at a time: which nodes codegen emits without the unit batch dim.

A batch tile of one (``block_sizes`` gives the batch dim 1) turns ``tl.dot`` of [1, M, K] x
[1, K, N] into a 2-D dot, which Hopper runs on wgmma. Around it the same dim is dropped wherever
that is safe: loads that only feed such dots (a reshape between a load and its dot stops Triton
from pipelining the load into shared memory), the accumulator carried through the k loop (a
reshape per iteration costs layout conversions) and the store of that accumulator (no 3-D
conversion in the epilogue). Codegen restores the full rank for any other user of a squeezed
value; what the plan must get right is which sites may drop the dim (``_droppable``: no mask, a
tile of one, a descriptor that indexes the tensor's first dim).
"""
from __future__ import annotations

from typing import Any

from .ir import DeviceFunction, Node


def plan(fn: DeviceFunction, sizes: dict[int, int], indexing: dict[int, str]) -> tuple[set[int], set[int]]:
    """(ids of the 2-D dots, ids of the loads and stores emitted 2-D with them)."""
    dots = {id(n) for n in fn.walk() if n.op == "dot" and n.rank == 3
            and all(_unit(arg.dims[0], sizes) for arg in n.args[:2])}
    if not dots:  # the common case, on every config the space checks
        return dots, set()
    users: dict[int, list[tuple[Node, int]]] = {}
    for node in fn.walk():
        for position, arg in enumerate(node.inputs()):
            users.setdefault(id(arg), []).append((node, position))
    sites = set()
    for node in fn.walk():
        if node.op == "load":
            uses = users.get(id(node), [])
            feeds_dots = uses and all(id(user) in dots and position < 2 for user, position in uses)
            if feeds_dots and _droppable(fn, node, sizes, indexing):
                sites.add(id(node))
        elif node.op == "store" and _from_dot(fn, node.args[0], dots) \
                and node.args[0].dims == node.attrs["index_dims"] and _droppable(fn, node, sizes, indexing):
            sites.add(id(node))
    return dots, sites


def _unit(dim: Any, sizes: dict[int, int]) -> bool:
    return sizes[dim.block] == 1 if dim.block is not None else dim.size == 1


def _from_dot(fn: DeviceFunction, value: Any, dots: set[int]) -> bool:
    """A 2-D dot's result, or the loop-carried value it updates, or a cast of either."""
    while isinstance(value, Node) and value.op == "cast":
        value = value.args[0]
    if not isinstance(value, Node):
        return False
    return id(value) in dots or any(var is value and id(final) in dots for loop in fn.walk() if loop.op == "for"
                                    for var, _, final in loop.attrs["carried"])


def _droppable(fn: DeviceFunction, site: Node, sizes: dict[int, int], indexing: dict[int, str]) -> bool:
    """A load or store whose leading dim is a literal 1 or an unmasked tile of one element: by
    pointer, or by a 2-D tensor descriptor (codegen's ``stacked_rows`` or one per matrix, its base
    moved by the batch offset) when the tile is a grid dim that indexes the tensor's first dim."""
    form = indexing.get(id(site))
    if form not in ("pointer", "tensor_descriptor") or site.attrs.get("extra_mask") is not None:
        return False
    if any(kind == "gather" for kind, _, _ in site.attrs["terms"]):
        return False
    first = (site.dims if site.op == "load" else site.attrs["index_dims"])[0]
    if first.block is None:
        return first.size == 1 and form == "pointer"
    block = fn.block(first.block)
    static = block.extent is not None and block.sym is None
    if form == "tensor_descriptor":  # (offered only where every stride is 16-byte aligned)
        kind, payload, tdim = site.attrs["terms"][0]
        if not (kind == "block" and payload == block.id and tdim == 0 and block.id in fn.grid_blocks):
            return False
    return block.kind == "tile" and sizes[block.id] == 1 and static
