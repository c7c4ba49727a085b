"""The kernel's implicit search space, derived from its blocks, as a typed ``search.Space``.

Knobs (public Helion names): ``block_sizes`` (one power of two per tunable tile dimension),
``reduction_loops`` (None = persistent, or a chunk size, per reduction dimension), ``num_warps``,
``num_stages``. Constraints are written once here; ``space.normalize`` applies them.
"""
from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any

import search
import triton.language as tl
from search import Enum, Integer, ListOf, Permutation, PowerOfTwo, Space

from . import flatten, indexing, resources
from .codegen import ResolvedConfig, next_power_of_2, site_offsets, static_range_ok
from .ir import Block, DeviceFunction
from .reduction_loops import loopable_reductions

MAX_BLOCK = 4096          # largest block of one tiled dimension
MAX_NUMEL = 1 << 20       # Triton's limit on the elements of one tensor value
DEFAULT_NUMEL = 4096      # elements per program the heuristic default aims for (non-matmul)
COLUMN_CHUNK = 64         # default chunk of a reduction over a strided dim (rows of a column sum)
ATOMIC_ROWS = 64          # default tile of a dim summed before an atomic add
WHOLE_ROW = 32768         # the default keeps reductions up to this long in registers (longer: 2048 chunks)
ROW_PER_WARP = 2048       # ... over 8192 long, with a warp per this many elements (64 per thread)
# TMA boxes under 128 bytes were misaligned on the H100 (softmax_two_pass [1, 32] bf16, rms_norm_looped
# weight [8] and [32] bf16: "CUDA error: misaligned address"), so they are not offered.
MIN_TMA_BYTES = 128
MIN_PROGRAMS = 256        # the default splits grids until they have this many programs (~2 per SM)
MATMUL_TILE = 128         # default M and N tile of a matmul with enough output tiles
FEW_PROGRAMS = 512        # looping kernels with fewer programs get more warps and pipelined loops
HEAVY_POINTWISE = 16      # bodies with this many pointwise ops get a quarter of DEFAULT_NUMEL
RUNTIME_EXTENT_PROGRAMS = 1 << 20  # programs counted for a grid dim sized only at run time
PID_TYPES = ["flat", "xyz", "persistent_blocked", "persistent_interleaved"]
MAX_GRID_YZ = 65535       # CUDA's limit on the y and z grid dimensions (pid_type "xyz")
SHARED_MEMORY = 232448    # bytes of shared memory per block on the H100 (sm_90)
MAX_PER_THREAD = 256      # elements of the largest value per thread: beyond it ptxas spills for minutes
MAX_STATIC_TRIPS = 16     # iterations a tl.static_range may unroll
REGISTERS = 65536         # 32-bit registers per SM: maxnreg x threads per block must fit
RANGE_KNOBS = {"range_unroll_factors": 0, "range_num_stages": 0, "range_multi_buffers": None,
               "range_flattens": None, "range_warp_specializes": None}
WARP_SPECIALIZE_WARPS = 4  # Triton's Hopper pass runs a producer group and two consumer groups of 4
HAS_WARP_SPECIALIZE = "warp_specialize" in inspect.signature(tl.range.__init__).parameters


def tile_bounds(block: Block, registered: dict[int, tuple[int, int]]) -> tuple[int, int]:
    low = max(block.min_size, 1)
    if block.id in registered:
        reg_low, reg_high = registered[block.id]
        return max(low, next_power_of_2(reg_low)), max(low, next_power_of_2(reg_high))
    extent = block.extent if block.extent is not None else (block.max_extent or 256)
    return low, max(low, min(next_power_of_2(extent), MAX_BLOCK))


def build_space(blocks: list[Block], functions: list[DeviceFunction],
                registered: dict[int, tuple[int, int]], hopper: bool = False,
                tunables: dict[str, Any] | None = None) -> Space:
    """The typed space of a bound kernel; its default is the heuristic config (``hopper``: for an
    sm_90 GPU, whose large matmuls default to the TMA pipeline); ``tunables``: the parameters of
    ``hl.register_tunable``, by name."""
    tiles = sorted((b for b in blocks if b.kind == "tile" and b.knob is not None), key=lambda b: b.knob)
    reductions = sorted((b for b in blocks if b.kind == "reduction"), key=lambda b: b.knob)
    loopable = set().union(*(loopable_reductions(f) for f in functions)) if functions else set()
    lows = [tile_bounds(b, registered)[0] for b in sorted(
        (b for b in blocks if b.kind == "tile" and b.knob is not None), key=lambda b: b.knob)]
    defaults = _heuristic_default(blocks, functions, registered)
    if hopper:
        defaults.update(_tma_pipeline(functions, defaults, tiles, registered))
    defaults = _fit(defaults, functions, lows)
    params: dict[str, Any] = {}
    if tiles:
        params["block_sizes"] = ListOf([
            PowerOfTwo(*tile_bounds(b, registered), default=defaults["block_sizes"][i])
            for i, b in enumerate(tiles)])
    if reductions:
        options = []
        for b in reductions:
            persistent = next_power_of_2(b.extent)
            chunks = [c for c in (16, 32, 64, 128, 256, 512, 1024, 2048, 4096) if c < persistent]
            choices = [None] + (chunks if b.id in loopable else [])
            options.append(Enum(choices, default=defaults["reduction_loops"][b.knob]))
        params["reduction_loops"] = ListOf(options)
    params.update(_site_knobs(functions))
    for knob in ("range_num_stages", "range_unroll_factors"):
        if knob in params:
            params[knob] = ListOf(Integer(0, 4, default=0), len(defaults[knob]), default=defaults[knob])
    for knob in ("range_flattens", "indexing", "l2_groupings", "epilogue_subtiles"):  # the TMA pipeline's
        if knob in params and knob in defaults:
            params[knob] = ListOf(list(params[knob].elements), default=defaults[knob])
    params["pid_type"] = Enum(PID_TYPES, default=defaults.get("pid_type", "flat"))
    params["num_sm_multiplier"] = PowerOfTwo(1, 8, default=1)
    params["maxnreg"] = Enum([None, 32, 64, 128, 256], default=None)
    params["num_warps"] = PowerOfTwo(1, 32, default=defaults["num_warps"])
    params["num_stages"] = Integer(1, 6, default=defaults["num_stages"])
    for name, param in (tunables or {}).items():
        if name in params:
            from .. import exc
            raise exc.HelionError(f"hl.register_tunable({name!r}, ...): {name!r} names a built-in knob")
        params[name] = param
    constraints = [
        search.Constraint("tensor_numel", lambda c: _max_numel(functions, c) <= MAX_NUMEL,
                          message=f"a device value would exceed Triton's limit of {MAX_NUMEL} elements"),
        search.Constraint("descriptor_blocks", lambda c: _descriptor_blocks_fit(functions, c),
                          message="a tensor descriptor's block must be <= 256 per dim, >= 16 bytes wide and "
                                  f">= {MIN_TMA_BYTES} bytes in all"),
        search.Constraint("xyz_grid", lambda c: c.get("pid_type") != "xyz" or _xyz_fits(functions, c),
                          message="pid_type 'xyz' needs at most 3 grid dims, the 2nd and 3rd <= 65535 blocks"),
        search.Constraint("sm_multiplier", lambda c: str(c.get("pid_type", "")).startswith("persistent")
                          or c.get("num_sm_multiplier", 1) == 1,
                          repair=lambda c: {**c, "num_sm_multiplier": 1},
                          message="num_sm_multiplier only applies to persistent pid types"),
        search.Constraint("maxnreg_persistent", lambda c: c.get("maxnreg") is None
                          or str(c.get("pid_type", "")).startswith("persistent"),
                          repair=lambda c: {**c, "maxnreg": None},
                          message="maxnreg only applies to persistent pid types"),
        search.Constraint("maxnreg_budget", lambda c: (c.get("maxnreg") or 0) * 32 * c["num_warps"] <= REGISTERS,
                          message=f"maxnreg x 32 x num_warps exceeds the {REGISTERS} registers of an SM"),
        search.Constraint("maxnreg_accumulator", lambda c: c.get("maxnreg") is None
                          or c["maxnreg"] > _accumulator_per_thread(functions, c),
                          message="maxnreg leaves no registers beyond a dot accumulator's elements per thread "
                                  "(wgmma accumulators cannot spill: ptxas fails)"),
        search.Constraint("static_range_trips", lambda c: _static_trips_ok(functions, c),
                          repair=lambda c: _drop_long_static_ranges(functions, c),
                          message=f"a tl.static_range would unroll more than {MAX_STATIC_TRIPS} iterations"),
        search.Constraint("static_range_options", lambda c: not _static_with_range_options(c),
                          repair=_clear_range_options,
                          message="range_* options do not apply to a loop unrolled by static_ranges"),
        search.Constraint("warp_specialize_warps", lambda c: c["num_warps"] == WARP_SPECIALIZE_WARPS
                          or not any(c.get("range_warp_specializes", [])),
                          repair=lambda c: {**c, "range_warp_specializes": [None] * len(c["range_warp_specializes"])},
                          message=f"range_warp_specializes needs num_warps={WARP_SPECIALIZE_WARPS} (on sm_90 Triton "
                                  "splits them into a producer and two consumer warp groups; otherwise it is a no-op)"),
        search.Constraint("epilogue_subtiles_tma", lambda c: not _untaken_splits(functions, c),
                          repair=lambda c: _clear_untaken_splits(functions, c),
                          message="epilogue_subtiles applies to stores through a tensor descriptor (TMA)"),
        search.Constraint("flatten_order", lambda c: not _flat_with_order(c), repair=_clear_flat_order,
                          message="loop_orders and l2_groupings do not apply to a flattened grid"),
        search.Constraint("shared_memory", lambda c: resources.shared_memory_bytes(functions, c) <= SHARED_MEMORY,
                          message=f"estimated shared memory (pipelined tiles, TMA buffers, epilogue) exceeds "
                                  f"{SHARED_MEMORY} bytes"),
        search.Constraint("registers", lambda c: _max_numel(functions, c) <= MAX_PER_THREAD * 32 * c["num_warps"],
                          message=f"more than {MAX_PER_THREAD} elements of one value per thread (raise num_warps)"),
    ]
    return Space(params, constraints=constraints)


def _site_knobs(functions: list[DeviceFunction]) -> dict[str, Any]:
    """Knobs with one entry per site: program order per multi-dim grid, pipelining per loop,
    eviction policy per load."""
    grids = [len(f.grid_blocks) for f in functions if len(f.grid_blocks) > 1]
    loops = sum(1 for f in functions for n in f.walk() if n.op == "for")
    loads = sum(1 for f in functions for n in f.walk() if n.op == "load")
    knobs: dict[str, Any] = {}
    if grids:
        knobs["loop_orders"] = ListOf([Permutation(len(f.grid_blocks), default=_default_order(f))
                                       for f in functions if len(f.grid_blocks) > 1])
        knobs["l2_groupings"] = ListOf([PowerOfTwo(1, 64, default=1) for _ in grids])
        flat = [flatten.eligible(f) for f in functions if len(f.grid_blocks) > 1]
        if any(flat):
            knobs["flatten_loops"] = ListOf([Enum([False, True] if ok else [False], default=False) for ok in flat])
    if loops:
        static = [static_range_ok(n) for f in functions for n in f.walk() if n.op == "for"]
        if any(static):
            knobs["static_ranges"] = ListOf([Enum([False, True] if ok else [False], default=False)
                                             for ok in static])
        knobs["range_unroll_factors"] = ListOf(Integer(0, 4, default=0), loops)
        knobs["range_num_stages"] = ListOf(Integer(0, 4, default=0), loops)
        knobs["range_multi_buffers"] = ListOf(Enum([None, False, True], default=None), loops)
        knobs["range_flattens"] = ListOf(Enum([None, False, True], default=None), loops)
        if HAS_WARP_SPECIALIZE:
            knobs["range_warp_specializes"] = ListOf(Enum([None, False, True], default=None), loops)
    if loads:
        knobs["load_eviction_policies"] = ListOf(Enum(["", "first", "last"], default=""), loads)
    forms = [indexing.options(f, n) for f in functions for n in indexing.memory_sites(f)]
    if any(len(f) > 1 for f in forms):
        knobs["indexing"] = ListOf([Enum(f, default="pointer") for f in forms])
    splits = sum(len(indexing.splittable_stores(f)) for f in functions)
    if splits:
        knobs["epilogue_subtiles"] = ListOf(Enum([1, 2], default=1), splits)
    return knobs


def _static_trips(functions: list[DeviceFunction], config: dict[str, Any]) -> list[int]:
    """Per device loop, the iterations it runs (product over its dims)."""
    trips = []
    for fn in functions:
        cfg = ResolvedConfig(fn, config)
        for loop in (n for n in fn.walk() if n.op == "for"):
            counts = [cfg.trips(loop, i) for i in range(len(loop.attrs["blocks"]))]
            trips.append(MAX_STATIC_TRIPS + 1 if None in counts else math.prod(max(0, c) for c in counts))
    return trips


def _static_trips_ok(functions: list[DeviceFunction], config: dict[str, Any]) -> bool:
    flags = config.get("static_ranges", [])
    return all(t <= MAX_STATIC_TRIPS for t, on in zip(_static_trips(functions, config), flags) if on)


def _drop_long_static_ranges(functions: list[DeviceFunction], config: dict[str, Any]) -> dict[str, Any]:
    trips = _static_trips(functions, config)
    flags = [bool(on) and t <= MAX_STATIC_TRIPS for on, t in zip(config["static_ranges"], trips)]
    return {**config, "static_ranges": flags}


def _static_with_range_options(config: dict[str, Any]) -> bool:
    for i, on in enumerate(config.get("static_ranges", [])):
        if on and any(config.get(k, [unset] * (i + 1))[i] != unset for k, unset in RANGE_KNOBS.items()):
            return True
    return False


def _clear_range_options(config: dict[str, Any]) -> dict[str, Any]:
    out = dict(config)
    for knob, unset in RANGE_KNOBS.items():
        if knob in out:
            out[knob] = [unset if on else v for v, on in zip(out[knob], config["static_ranges"])]
    return out


def _flat_with_order(config: dict[str, Any]) -> bool:
    for i, on in enumerate(config.get("flatten_loops", [])):
        if on and (list(config["loop_orders"][i]) != sorted(config["loop_orders"][i])
                   or config["l2_groupings"][i] != 1):
            return True
    return False


def _clear_flat_order(config: dict[str, Any]) -> dict[str, Any]:
    flags = config["flatten_loops"]
    orders = [sorted(o) if on else list(o) for o, on in zip(config["loop_orders"], flags)]
    groups = [1 if on else g for g, on in zip(config["l2_groupings"], flags)]
    return {**config, "loop_orders": orders, "l2_groupings": groups}


def _untaken_splits(functions: list[DeviceFunction], config: dict[str, Any]) -> list[int]:
    """Positions in ``epilogue_subtiles`` asking to split a store that is not a TMA store."""
    splits = config.get("epilogue_subtiles", [])
    untaken: list[int] = []
    if not any(v > 1 for v in splits):
        return untaken
    for fn, sites in zip(functions, site_offsets(functions)):
        cfg = ResolvedConfig(fn, config, sites)
        for i, node in enumerate(indexing.splittable_stores(fn), sites["splits"]):
            if i < len(splits) and splits[i] > 1 and id(node) not in cfg.subtiles:
                untaken.append(i)
    return untaken


def _clear_untaken_splits(functions: list[DeviceFunction], config: dict[str, Any]) -> dict[str, Any]:
    untaken = set(_untaken_splits(functions, config))
    return {**config, "epilogue_subtiles": [1 if i in untaken else v for i, v in enumerate(config["epilogue_subtiles"])]}


def _descriptor_blocks_fit(functions: list[DeviceFunction], config: dict[str, Any]) -> bool:
    """TMA boxes (a store's cut into its ``epilogue_subtiles``): at most 256 elements per dim, at
    least 16 bytes in the contiguous dim and ``MIN_TMA_BYTES`` in all."""
    forms = config.get("indexing", [])
    position = 0
    for fn, sites in zip(functions, site_offsets(functions)):
        cfg = ResolvedConfig(fn, config, sites)
        sizes = cfg.sizes
        for node in indexing.memory_sites(fn):
            form = forms[position] if position < len(forms) else "pointer"
            position += 1
            if form != "tensor_descriptor":
                continue
            box = [sizes[p] for _, p, _ in node.attrs["terms"]]
            box[-1] //= cfg.subtiles.get(id(node), 1)
            width = fn.tensor_args[node.attrs["tensor"]].dtype.itemsize
            if max(box) > 256 or box[-1] * width < 16 or math.prod(box) * width < MIN_TMA_BYTES:
                return False
    return True


def _fit(defaults: dict[str, Any], functions: list[DeviceFunction], lows: list[int]) -> dict[str, Any]:
    """Shrink the widest tunable block of the default until its values fit the budgets (e.g. a
    fixed inner block the heuristic did not count); drop the default loop pipelining if its
    buffers would not fit in shared memory."""
    config = {k: (list(v) if isinstance(v, list) else v) for k, v in defaults.items()}
    sizes = config["block_sizes"]
    while _max_numel(functions, config) > min(MAX_NUMEL, MAX_PER_THREAD * 32 * config["num_warps"]):
        shrinkable = [i for i, size in enumerate(sizes) if size > lows[i]]
        if not shrinkable:
            break
        widest = max(shrinkable, key=lambda i: sizes[i])
        sizes[widest] //= 2
    if resources.shared_memory_bytes(functions, config) > SHARED_MEMORY:  # pipelined loop buffers
        for knob in ("range_num_stages", "range_unroll_factors"):
            config[knob] = [0] * len(config.get(knob, []))
    _fit_shared_memory(config, functions, lows)
    return config


def _fit_shared_memory(config: dict[str, Any], functions: list[DeviceFunction], lows: list[int]) -> None:
    """Fewer stages (down to 2), then halve the block that saves the most shared memory, then one
    stage, until the estimate fits (e.g. a dot over a whole 1024-long row of each operand)."""
    sizes = config["block_sizes"]
    while (used := resources.shared_memory_bytes(functions, config)) > SHARED_MEMORY:
        if config["num_stages"] > 2:
            config["num_stages"] -= 1
            continue
        savings = []
        for i, size in enumerate(sizes):
            if size > lows[i]:
                sizes[i] //= 2
                savings.append((used - resources.shared_memory_bytes(functions, config), size, -i))
                sizes[i] *= 2
        best = max(savings, default=None)
        if best is not None and best[0] > 0:
            sizes[-best[2]] //= 2
        elif config["num_stages"] > 1:
            config["num_stages"] -= 1
        else:
            return


def _accumulator_per_thread(functions: list[DeviceFunction], config: dict[str, Any]) -> int:
    """The most elements of one dot result per thread (fp32 accumulators live in registers)."""
    largest = 0
    for fn in functions:
        cfg = ResolvedConfig(fn, config)
        largest = max([largest] + [cfg.numel(n.dims) // (32 * config["num_warps"]) for n in fn.walk()
                                   if n.op == "dot"])
    return largest


def _xyz_fits(functions: list[DeviceFunction], config: dict[str, Any]) -> bool:
    for fn in functions:
        sizes = ResolvedConfig(fn, config).sizes
        grid = fn.grid_blocks
        if len(grid) > 3:
            return False
        for b in grid[1:]:
            block = fn.block(b)
            if -(-(block.extent or 1) // sizes[b]) > MAX_GRID_YZ:
                return False
    return True


def _max_numel(functions: list[DeviceFunction], config: dict[str, Any]) -> int:
    largest = 1
    for fn in functions:
        cfg = ResolvedConfig(fn, config)
        largest = max([largest] + [cfg.numel(node.dims) for node in fn.walk()])
    return largest


def _contiguous_weight(functions: list[DeviceFunction]) -> dict[int, int]:
    """Per block, the elements of the tensors whose stride-1 dimension it indexes: the blocks
    that deserve the wide (coalesced) block sizes."""
    weight: dict[int, int] = {}
    for fn in functions:
        for node in fn.walk():
            if node.op in ("load", "store", "atomic_add"):
                arg = fn.tensor_args[node.attrs["tensor"]]
                numel = 1
                for size in arg.shape:
                    numel *= size
                for kind, payload, tdim in node.attrs["terms"]:
                    if kind == "block" and arg.strides[tdim] == 1:
                        weight[payload] = weight.get(payload, 0) + numel
    return weight


def _default_order(fn: DeviceFunction) -> list[int]:
    """Program order of a grid (fastest-varying dim first): a batched dot's batch dim varies
    slowest, so programs running together share one matrix's operands in L2."""
    batch = {n.dims[0].block for n in fn.walk() if n.op == "dot" and n.rank == 3}
    grid = fn.grid_blocks
    return [i for i, b in enumerate(grid) if b not in batch] + [i for i, b in enumerate(grid) if b in batch]


def _heuristic_default(blocks: list[Block], functions: list[DeviceFunction],
                       registered: dict[int, tuple[int, int]]) -> dict[str, Any]:
    """A reasonable untuned config. Matmuls: 128x128x64 tiles, or 64 where 128 would leave fewer than
    ``MIN_PROGRAMS`` programs (K: 64). Else about
    ``DEFAULT_NUMEL`` elements per program, given first to dims that index a stride-1 dim
    (coalesced), with each inner loop sized on its own (sibling loops never live together).
    Reductions over a strided dim (column sums) are looped in chunks of 64 rows so the stride-1
    tile can be wide; dims summed away before an atomic add get 64, so fewer atomics run; grids
    are split until they have ``MIN_PROGRAMS`` programs."""
    tiles = sorted((b for b in blocks if b.kind == "tile" and b.knob is not None), key=lambda b: b.knob)
    reductions = sorted((b for b in blocks if b.kind == "reduction"), key=lambda b: b.knob)
    has_dot = any(n.op == "dot" for f in functions for n in f.walk())
    k_blocks = {n.attrs["k_block"] for f in functions for n in f.walk() if n.op == "dot"}
    weight = _contiguous_weight(functions)
    loops = [n for f in functions for n in f.walk() if n.op == "for"]
    inner = {b for n in loops for b in n.attrs["blocks"]}
    wide = any(weight.get(b.id, 0) > 0 for b in tiles)
    loopable = set().union(*(loopable_reductions(f) for f in functions))
    reduction_loops: list[Any] = []
    persistent = 1
    for b in reductions:
        size = next_power_of_2(b.extent)
        chunk = None
        if b.id in loopable and size > WHOLE_ROW:  # too long for registers
            chunk = 2048
        elif b.id in loopable and wide and not weight.get(b.id) and size > COLUMN_CHUNK:  # a column sum
            chunk = COLUMN_CHUNK
        reduction_loops.append(chunk)
        persistent = max(persistent, chunk or size)
    pointwise = sum(1 for f in functions for n in f.walk() if n.op == "pointwise")
    numel_goal = DEFAULT_NUMEL // 4 if pointwise >= HEAVY_POINTWISE else DEFAULT_NUMEL  # fewer spills
    budget = max(1, numel_goal // persistent)
    by_knob: dict[int, int] = {}
    order = sorted(reversed(tiles), key=lambda b: -weight.get(b.id, 0))  # stride-1 dims first
    for b in order:  # inner loops first, each against the whole budget
        if b.id in inner and not has_dot:
            low, high = tile_bounds(b, registered)
            by_knob[b.knob] = min(high, max(low, next_power_of_2(budget) if weight.get(b.id) else low))
    by_id = {b.id: b for b in blocks}
    loop_numel = [math.prod(by_knob.get(by_id[b].knob, by_id[b].fixed or 1) for b in n.attrs["blocks"])
                  for n in loops]  # elements of one iteration's tile, per inner loop
    budget = max(1, budget // max(loop_numel, default=1))
    for b in _atomic_reduced(functions, by_id):  # summed before an atomic add: fewer atomics
        if b.knob is not None and b.knob not in by_knob:
            low, high = tile_bounds(b, registered)
            by_knob[b.knob] = min(high, max(low, ATOMIC_ROWS))
            budget = max(1, budget // by_knob[b.knob])
    top = [b for b in order if weight.get(b.id, 0) == weight.get(order[0].id, 0) > 0] if order else []
    top = [b for b in top if b.knob not in by_knob]
    if len(top) > 1 and not has_dot:  # e.g. a transpose: both dims are contiguous somewhere
        share = next_power_of_2(int(budget ** (1 / len(top)))) if budget > 1 else 1
        for b in top:
            by_knob[b.knob] = min(tile_bounds(b, registered)[1], share)
            budget = max(1, budget // by_knob[b.knob])
    # output tiles of MATMUL_TILE (one matrix of a batch each) where that still leaves MIN_PROGRAMS
    large = has_dot and _programs(functions, lambda b: MATMUL_TILE if b.min_size >= 16 and b.id not in k_blocks
                                  else 1) >= MIN_PROGRAMS
    for b in order:
        if b.knob in by_knob:
            continue
        low, high = tile_bounds(b, registered)
        if has_dot and b.min_size >= 16:
            wide_tile = 64 if b.id in k_blocks else (MATMUL_TILE if large else 64)
            size = min(high, wide_tile if b.extent is None or b.extent >= 64 else max(low, 16))
        elif has_dot:
            size = low  # batch dims of a matmul: one matrix per program
        else:
            size = min(high, max(low, next_power_of_2(budget)))
            budget = max(1, budget // size)
        by_knob[b.knob] = size
    if not has_dot:
        _split_grid(functions, tiles, by_knob, registered)
    sizes = [by_knob[b.knob] for b in tiles]
    numel = persistent * max(loop_numel, default=1)
    for b in tiles:
        if b.id not in inner:
            numel *= by_knob[b.knob]
    num_warps = 4 if numel <= 8192 else 8
    if persistent > 8192:  # a long row in registers: more warps, 64 elements per thread at most
        num_warps = min(32, persistent // ROW_PER_WARP)
    range_num_stages = [0] * len(loops)
    range_unroll_factors = [0] * len(loops)
    programs = _programs(functions, lambda b: by_knob[b.knob] if b.knob in by_knob else b.fixed or 1)
    if not has_dot and (loops or persistent < max((next_power_of_2(b.extent) for b in reductions), default=1)) \
            and programs < FEW_PROGRAMS:
        # few programs, each looping: bandwidth needs more loads in flight per program. Loops that
        # store are pipelined and unrolled (Triton pipelines only dot loads by itself), with 16
        # elements per thread; reduction loops get more warps instead, 8 elements per thread
        # (H100: chunk_sums 1 warp 0.108 ms vs 4 warps 0.38; sum_first 16 warps 0.058 vs 8 0.082)
        storing = [any(m.op == "store" for m in n.body) for n in loops]
        per_thread = 16 if any(storing) else 8
        num_warps = min(16, max(1, next_power_of_2(numel // (32 * per_thread))))
        range_num_stages = [4 if store else 0 for store in storing]
        range_unroll_factors = [2 if store else 0 for store in storing]
    return {"block_sizes": sizes, "reduction_loops": reduction_loops, "num_warps": num_warps,
            "num_stages": 3 if has_dot else 2, "range_num_stages": range_num_stages,
            "range_unroll_factors": range_unroll_factors}


def _tma_pipeline(functions: list[DeviceFunction], defaults: dict[str, Any], tiles: list[Block],
                  registered: dict[int, tuple[int, int]]) -> dict[str, Any]:
    """The Hopper default of a large matmul, batched over one matrix at a time or not (one dot,
    one k loop): 128 x 256 x 64 tiles read and written through TMA where the sites allow it, the
    output stored in two halves so that 4 pipeline stages fit (else 3), 8 warps, on a persistent
    grid whose tile loop is flattened with the k loop (the next tile's loads overlap this one's
    epilogue), in interleaved order with L2 groups of 8 row tiles (2 for a batch: programs
    running together stay within few matrices). Empty (no change) for anything else, with fewer
    than ``MIN_PROGRAMS`` tiles, or when the buffers do not fit (e.g. fp32 operands).
    H100, of the tuned best (runs 28, 29): matmul 4096^3, 8192^3, 16384x4096x512 within 2%, bmm
    16x1024^3 at 0.0565 ms vs 0.0695 for the 128 x 128 pointer default."""
    if len(functions) != 1:
        return {}
    fn = functions[0]
    dots = [n for n in fn.walk() if n.op == "dot"]
    loops = [n for n in fn.walk() if n.op == "for"]
    if len(dots) != 1 or dots[0].rank not in (2, 3) or len(loops) != 1:
        return {}
    *batch, rows, cols = (d.block for d in dots[0].dims)
    by_id = {b.id: b for b in tiles}
    if {*batch, rows, cols} != set(fn.grid_blocks) or not {rows, cols} <= set(by_id):
        return {}
    sizes = dict(zip((b.knob for b in tiles), defaults["block_sizes"]))
    if any(b not in by_id or sizes[by_id[b].knob] != 1 for b in batch):
        return {}  # a batch tile of one matrix: the dot is emitted 2-D
    sizes[by_id[rows].knob] = min(tile_bounds(by_id[rows], registered)[1], MATMUL_TILE)
    sizes[by_id[cols].knob] = min(tile_bounds(by_id[cols], registered)[1], 2 * MATMUL_TILE)
    if _programs(functions, lambda b: sizes.get(b.knob, 1)) < MIN_PROGRAMS:
        return {}
    operands = {id(n) for n in dots[0].inputs() if n.op == "load"}
    sites = indexing.memory_sites(fn)
    forms = ["tensor_descriptor" if "tensor_descriptor" in indexing.options(fn, n) else "pointer" for n in sites]
    if any(form != "tensor_descriptor" for n, form in zip(sites, forms) if id(n) in operands):
        return {}
    pipeline = {"block_sizes": [sizes[b.knob] for b in tiles], "indexing": forms,
                "pid_type": "persistent_interleaved", "l2_groupings": [2 if batch else 8], "range_flattens": [True],
                "epilogue_subtiles": [2] * len(indexing.splittable_stores(fn)), "num_warps": 8}
    for stages in (4, 3):
        config = {**defaults, **pipeline, "num_stages": stages}
        if resources.shared_memory_bytes(functions, config) <= SHARED_MEMORY and _descriptor_blocks_fit(
                functions, config):
            return {**pipeline, "num_stages": stages}
    return {}


def _programs(functions: list[DeviceFunction], size_of: Callable[[Block], int]) -> int:
    """Programs of the smallest grid when each grid block is tiled by ``size_of(block)``; a grid
    dim whose extent is known only at run time counts as large."""
    counts = []
    for fn in functions:
        count = 1
        for b in fn.grid_blocks:
            block = fn.block(b)
            count *= RUNTIME_EXTENT_PROGRAMS if block.extent is None else -(-block.extent // size_of(block))
        counts.append(count)
    return min(counts, default=RUNTIME_EXTENT_PROGRAMS)


def _atomic_reduced(functions: list[DeviceFunction], by_id: dict[int, Block]) -> list[Block]:
    """Grid dims of a device loop with an atomic add that the added value does not index."""
    out = []
    for fn in functions:
        atomics = [n for n in fn.walk() if n.op == "atomic_add"]
        if not atomics:
            continue
        indexed = {d.block for n in atomics for d in n.attrs["index_dims"]}
        out += [by_id[b] for b in fn.grid_blocks if b not in indexed]
    return out


def _split_grid(functions: list[DeviceFunction], tiles: list[Block], by_knob: dict[int, int],
                registered: dict[int, tuple[int, int]]) -> None:
    """Halve the widest grid tile until every device loop launches ``MIN_PROGRAMS`` programs."""
    for fn in functions:
        grid = [b for b in tiles if b.id in fn.grid_blocks and b.extent is not None]
        if len(grid) != len(fn.grid_blocks):
            continue
        while math.prod(-(-b.extent // by_knob[b.knob]) for b in grid) < MIN_PROGRAMS:
            shrinkable = [b for b in grid if by_knob[b.knob] > max(tile_bounds(b, registered)[0], 16)]
            if not shrinkable:
                break
            widest = max(shrinkable, key=lambda b: by_knob[b.knob])
            by_knob[widest.knob] //= 2
