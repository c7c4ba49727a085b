"""Estimates of what a config's kernels need from the GPU, before compiling them.

``shared_memory_bytes`` models Triton 3.8 on sm_90 (232448 bytes per block on the H100), fitted to
~620 sm_90 compiles of gallery kernels (``experiments/shared_memory_calibration.py``; numbers in
``experiments/data/shared_memory_sm90.md``: no config over the limit estimated under it, 4 of 478
that fit estimated over it). Per device function, a ``tile`` being the bytes of the block one
load reads or one store writes:

- **loops** (they run one after the other: the largest counts). With S the loop's
  ``range_num_stages`` (else ``num_stages``) and U its unroll factor, a tl.dot operand load holds
  ``U*S`` tiles on wgmma (M % 64 == 0, N % 8 == 0, num_warps % 4 == 0) if the dot is 2-D (a
  batch tile of one matrix counts, with its loads emitted 2-D) or the load is TMA, else
  ``U*(S-1)`` (mma.sync; or a 3-D block-pointer load reshaped for a 2-D dot, which then restages
  a non-TMA B: ``+U``); one tile when S <= 1 or under
  ``static_ranges``. A
  loop that runs once is folded away; a persistent kernel's tile loop then pipelines its
  operands with ``num_stages``. Other loads are pipelined only under an explicit
  ``range_num_stages`` >= 2 (``U*(S-1)`` tiles); a TMA load not pipelined takes U tiles, a TMA
  store one.
- **tiles** outside loops: one per TMA load or store; with a dot, each other store converts the
  accumulator's layout through shared memory, ``min(tile, 64 elements per thread)``.
- total: ``max(loops, tiles)`` (loop buffers are freed before the epilogue), but a TMA store of
  a dot result stays allocated beside the loop buffers in a persistent kernel (the next tile's
  loop overlaps it) or when it stores the fp32 accumulator itself: ``max(loops + stores, tiles)``;
  plus 512 bytes per warp for layout conversions and cross-warp reductions that live beside the
  buffers (measured up to 16 KiB with 32 warps); 128 bytes in all for a dot kernel whose stores all
  go through TMA and that reduces nothing (measured 16-56 bytes: a 128x256 bf16 matmul with 3
  stages uses 213016 bytes, with 4 stages and its store in two halves 229408).
"""
from __future__ import annotations

from typing import Any

from .codegen import ResolvedConfig, site_offsets
from .ir import DeviceFunction, Node

CONVERT_ELEMENTS_PER_THREAD = 64  # a layout conversion's scratch, at most, per thread (measured)
SCRATCH_PER_WARP = 512  # conversions and cross-warp reductions live beside the buffers (measured)
TMA_EPILOGUE_SCRATCH = 128  # a matmul storing only through TMA, without reductions (measured: 16-56)


def shared_memory_bytes(functions: list[DeviceFunction], config: dict[str, Any]) -> int:
    """Estimated shared memory per block (bytes) of the largest kernel of ``config``."""
    persistent = str(config.get("pid_type", "flat")).startswith("persistent")
    largest = 0
    for fn, sites in zip(functions, site_offsets(functions)):
        cfg = ResolvedConfig(fn, config, sites)
        dots = [n for n in fn.walk() if n.op == "dot"]
        loops = max((_loop_bytes(fn, cfg, n, persistent) for n in fn.walk() if n.op == "for"), default=0)
        tiles = resident = 0
        for node in fn.body:
            if node.op not in ("load", "store"):
                continue
            tile = _tile_bytes(fn, cfg, node)
            if cfg.indexing.get(id(node)) == "tensor_descriptor":
                tiles += tile
                if node.op == "store" and dots and (persistent or _stores_accumulator(fn, node, dots)):
                    resident += tile
            elif node.op == "store" and dots:
                itemsize = fn.tensor_args[node.attrs["tensor"]].dtype.itemsize
                tiles += min(tile, cfg.num_warps * 32 * CONVERT_ELEMENTS_PER_THREAD * itemsize)
        stores = [n for n in fn.walk() if n.op == "store"]
        tma_epilogue = dots and stores and all(cfg.indexing.get(id(n)) == "tensor_descriptor" for n in stores) \
            and not any(n.op == "reduce" for n in fn.walk())
        scratch = TMA_EPILOGUE_SCRATCH if tma_epilogue else SCRATCH_PER_WARP * cfg.num_warps
        largest = max(largest, max(loops + resident, tiles) + scratch)
    return largest


def _loop_bytes(fn: DeviceFunction, cfg: ResolvedConfig, loop: Node, persistent: bool) -> int:
    options = cfg.range_options[id(loop)]
    stages = int(options.get("num_stages", cfg.num_stages))
    unroll = max(int(options.get("loop_unroll_factor", 1)), 1)
    explicit = "num_stages" in options
    if id(loop) in cfg.static_loops:  # tl.static_range: unrolled, not pipelined
        stages, unroll, explicit = 1, 1, False
    elif all(_runs_once(cfg, loop, i) for i in range(len(loop.attrs["blocks"]))):
        # folded away: only a persistent kernel's tile loop (num_stages, no options) pipelines it
        stages, unroll, explicit = (cfg.num_stages if persistent else 1), 1, False
    body = [n for n in loop.body if n.op != "for"]  # nested loops have their own buffers
    operands: dict[int, int] = {}  # dot operand load id -> its tiles
    total = 0
    for dot in (n for n in body if n.op == "dot"):
        wgmma = _wgmma(cfg, dot)
        for i, arg in enumerate(dot.args[:2]):
            load = _source_load(arg)
            if load is None:
                if isinstance(arg, Node):  # a computed operand is staged once
                    total += cfg.numel(arg.dims) * arg.dtype.itemsize
                continue
            tma = cfg.indexing.get(id(load)) == "tensor_descriptor"
            if stages <= 1:
                tiles = 1
            elif wgmma and (dot.rank == 2 or tma or id(load) in cfg.squeezed_sites):
                tiles = unroll * stages
            else:
                tiles = unroll * (stages - 1)
                if wgmma and i == 1:  # a 2-D dot of a reshaped 3-D load restages B
                    tiles += unroll
            operands[id(load)] = max(operands.get(id(load), 0), tiles)
    for node in body:
        if node.op not in ("load", "store"):
            continue
        tma = cfg.indexing.get(id(node)) == "tensor_descriptor"
        if id(node) in operands:
            tiles = operands[id(node)]
        elif node.op == "load" and explicit and stages >= 2:
            tiles = unroll * (stages - 1)
        elif tma:
            tiles = unroll if node.op == "load" else 1  # unrolled stores wait for the buffer
        else:
            tiles = 0
        total += tiles * _tile_bytes(fn, cfg, node)
    return total


def _wgmma(cfg: ResolvedConfig, dot: Node) -> bool:
    """Whether Triton can run the dot on Hopper's wgmma (operands in shared memory, one more
    stage): 2-D, or batched over a tile of one matrix (codegen squeezes it to 2-D)."""
    *batch, m, n = (cfg.sizes[d.block] if d.block is not None else d.size for d in dot.dims)
    return all(b == 1 for b in batch) and m % 64 == 0 and n % 8 == 0 and cfg.num_warps % 4 == 0


def _stores_accumulator(fn: DeviceFunction, store: Node, dots: list[Node]) -> bool:
    """The store writes a dot's accumulator dtype, i.e. the accumulator itself without a cast."""
    return fn.tensor_args[store.attrs["tensor"]].dtype in {d.dtype for d in dots}


def _source_load(value: Any) -> Node | None:
    while isinstance(value, Node) and value.op == "cast":
        value = value.args[0]
    return value if isinstance(value, Node) and value.op == "load" else None


def _runs_once(cfg: ResolvedConfig, loop: Node, i: int) -> bool:
    trips = cfg.trips(loop, i)
    return trips is not None and trips <= 1  # bounds known only at run time: a real loop


def _tile_bytes(fn: DeviceFunction, cfg: ResolvedConfig, node: Node) -> int:
    """Bytes of the block a load reads or a store writes (a TMA store cut into
    ``epilogue_subtiles`` pieces buffers one piece at a time)."""
    dims = node.dims if node.op == "load" else node.attrs["index_dims"]
    return cfg.numel(dims) * fn.tensor_args[node.attrs["tensor"]].dtype.itemsize // cfg.subtiles.get(id(node), 1)


__all__ = ["shared_memory_bytes"]
