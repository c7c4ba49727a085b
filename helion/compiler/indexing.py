"""Which memory-access forms a load/store site may use, and how each is spelled.

``pointer`` (computed addresses and masks) always works. ``block_ptr`` (``tl.make_block_ptr``,
removed in Triton 3.9) and ``tensor_descriptor`` (``tl.make_tensor_descriptor``, TMA on Hopper) need
a rectangular tile: every index is a tile or a whole `:` dimension, in tensor order, covering the
tensor's full extent so that the hardware bound check equals the tile mask.
"""
from __future__ import annotations

import triton.language as tl

from .ir import Dim, DeviceFunction, Node

HAS_BLOCK_PTR = hasattr(tl, "make_block_ptr")
HAS_TENSOR_DESCRIPTOR = hasattr(tl, "make_tensor_descriptor")
_ELEMENT_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "float64": 8, "int32": 4, "int64": 8,
                  "int16": 2, "int8": 1, "uint8": 1, "bool": 1,
                  "float8_e4m3fn": 1, "float8_e5m2": 1, "float8_e4m3fnuz": 1, "float8_e5m2fnuz": 1}


def memory_sites(fn: DeviceFunction) -> list[Node]:
    """Loads and stores in program order: the sites of the ``indexing`` knob."""
    return [n for n in fn.walk() if n.op in ("load", "store")]


def splittable_stores(fn: DeviceFunction) -> list[Node]:
    """Stores that may go through TMA and end in a tile dim: the sites of ``epilogue_subtiles``
    (the stored block written as two halves of that dim, through half the shared memory)."""
    return [n for n in memory_sites(fn) if n.op == "store" and n.attrs["terms"]
            and n.attrs["terms"][-1][0] == "block" and fn.block(n.attrs["terms"][-1][1]).kind == "tile"
            and "tensor_descriptor" in options(fn, n)]


def options(fn: DeviceFunction, node: Node) -> list[str]:
    """The indexing forms ``node`` may use; ``pointer`` first."""
    choices = ["pointer"]
    if not _rectangular(fn, node):
        return choices
    if HAS_BLOCK_PTR:
        choices.append("block_ptr")
    if HAS_TENSOR_DESCRIPTOR and _tma_aligned(fn, node):
        choices.append("tensor_descriptor")
    return choices


def _rectangular(fn: DeviceFunction, node: Node) -> bool:
    if node.attrs.get("extra_mask") is not None or fn.symbols:
        return False
    arg = fn.tensor_args[node.attrs["tensor"]]
    terms = node.attrs["terms"]
    if len(terms) != len(arg.shape) or any(kind != "block" for kind, _, _ in terms):
        return False
    blocks = [payload for _, payload, _ in terms]
    if len(set(blocks)) != len(blocks):
        return False
    for block_id, size in zip(blocks, arg.shape):
        block = fn.block(block_id)
        if block.kind == "grid" or block.extent != size or block.begin != 0:
            return False
        if any(n.op == "for" and block_id in n.attrs["blocks"] and not all(
                isinstance(b, int) for b in n.attrs["bounds"]) for n in fn.walk()):
            return False  # a nested loop over a sub-range: the tile mask is tighter than the tensor
    if node.op == "store":
        value = node.args[0]
        if not isinstance(value, Node) or value.rank != len(blocks):
            return False
        index_dims = tuple(Dim(block=b) for b in blocks)
        if any(v != d and v.size != 1 for v, d in zip(value.dims, index_dims)):
            return False
    return True


def _tma_aligned(fn: DeviceFunction, node: Node) -> bool:
    arg = fn.tensor_args[node.attrs["tensor"]]
    width = _ELEMENT_BYTES.get(str(arg.dtype).replace("torch.", ""), 0)
    if not width or arg.strides[-1] != 1 or len(arg.shape) > 5:
        return False
    return all(stride * width % 16 == 0 for stride in arg.strides[:-1])
