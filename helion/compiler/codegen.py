"""Device IR + config -> Triton source: the kernel and a launcher that computes the grid.

Names come from the user's variables; block sizes are ``tl.constexpr`` parameters whose values the
launcher passes, so one kernel source serves every block size. ``gpu=False`` emits only what
Triton's CPU interpreter supports.
"""
from __future__ import annotations

import math
from typing import Any

import torch

from .. import exc
from . import flatten, indexing, symbols, unit_batch
from .codegen_combine import CombineCodegen
from .ir import DeviceFunction, Dim, Node
from .pointwise import POINTWISE
from .reduction_loops import ChunkLoop, loopable_reductions, schedule

TL_DTYPES = {
    torch.float32: "tl.float32", torch.float16: "tl.float16", torch.bfloat16: "tl.bfloat16",
    torch.float64: "tl.float64", torch.int32: "tl.int32", torch.int64: "tl.int64", torch.int16: "tl.int16",
    torch.int8: "tl.int8", torch.uint8: "tl.uint8", torch.bool: "tl.int1",
    torch.float8_e4m3fn: "tl.float8e4nv", torch.float8_e5m2: "tl.float8e5",
    torch.float8_e4m3fnuz: "tl.float8e4b8", torch.float8_e5m2fnuz: "tl.float8e5b16",
}
_COMBINE = {"sum": "{acc} + {v}", "amax": "tl.maximum({acc}, {v})", "amin": "tl.minimum({acc}, {v})"}
_REDUCE_FN = {"sum": "tl.sum", "amax": "tl.max", "amin": "tl.min", "argmax": "tl.argmax", "argmin": "tl.argmin"}


def next_power_of_2(n: int) -> int:
    return 1 if n <= 1 else 1 << (n - 1).bit_length()


def tl_dtype(dtype: torch.dtype) -> str:
    try:
        return TL_DTYPES[dtype]
    except KeyError:
        raise exc.DtypeMismatch(f"dtype {dtype} is not supported in device code") from None


def literal(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, float):
        if math.isinf(value):
            return "float('inf')" if value > 0 else "-float('inf')"
        if math.isnan(value):
            return "float('nan')"
        return repr(value)
    return repr(value)


class Structure:
    """What ``ResolvedConfig`` reads of a device function that no config changes (its loops,
    memory sites and their indexing options, ...). Computed once per function: the search space's
    constraints resolve every candidate config several times."""

    def __init__(self, fn: DeviceFunction):
        nodes = fn.walk()
        self.loopable = loopable_reductions(fn)
        self.flattenable = flatten.eligible(fn)
        self.loops = [n for n in nodes if n.op == "for"]
        self.static_ok = [static_range_ok(n) for n in self.loops]
        self.memory_sites = indexing.memory_sites(fn)
        self.index_options = [indexing.options(fn, n) for n in self.memory_sites]
        self.splittable = indexing.splittable_stores(fn)
        self.loads = [n for n in nodes if n.op == "load"]

    @staticmethod
    def of(fn: DeviceFunction) -> "Structure":
        """The function's structure, cached on it (device functions do not change after lowering)."""
        cached = fn.__dict__.get("_structure")
        if cached is None:
            cached = fn.__dict__["_structure"] = Structure(fn)
        return cached


class ResolvedConfig:
    """A config's values per block: block sizes and which reductions are looped."""

    def __init__(self, fn: DeviceFunction, config: dict[str, Any], sites: dict[str, int] | None = None):
        block_sizes = list(config.get("block_sizes", []))
        reduction_loops = list(config.get("reduction_loops", []))
        known = Structure.of(fn)
        looped_ok = known.loopable
        self.sizes: dict[int, int] = {}
        self.looped: set[int] = set()
        for block in fn.blocks:
            if block.fixed is not None:
                self.sizes[block.id] = block.fixed
            elif block.kind == "tile":
                if block.knob is None or block.knob >= len(block_sizes):
                    raise exc.InvalidConfig(f"config has no block size for block {block.knob}")
                self.sizes[block.id] = int(block_sizes[block.knob])
            else:
                chunk = reduction_loops[block.knob] if block.knob < len(reduction_loops) else None
                if (chunk is not None and block.id in looped_ok and not self.looped
                        and chunk < next_power_of_2(block.extent)):  # one looped reduction at a time
                    self.sizes[block.id] = int(chunk)
                    self.looped.add(block.id)
                else:
                    self.sizes[block.id] = next_power_of_2(block.extent)
        self.num_warps = int(config.get("num_warps", 4))
        self.num_stages = int(config.get("num_stages", 2))
        sites = sites or {}
        grid = sites.get("grids", 0)
        loop = sites.get("loops", 0)
        load = sites.get("loads", 0)
        orders = config.get("loop_orders", [])
        groups = config.get("l2_groupings", [])
        multi = len(fn.grid_blocks) > 1
        self.loop_order: list[int] = list(orders[grid]) if multi and grid < len(orders) else \
            list(range(len(fn.grid_blocks)))
        self.l2_grouping = int(groups[grid]) if multi and grid < len(groups) else 1
        flattens = config.get("flatten_loops", [])
        self.flat = bool(multi and grid < len(flattens) and flattens[grid] and known.flattenable)
        self.pid_type = str(config.get("pid_type", "flat"))
        self.sm_multiplier = int(config.get("num_sm_multiplier", 1))
        maxnreg = config.get("maxnreg")
        self.maxnreg = int(maxnreg) if maxnreg and self.pid_type.startswith("persistent") else None
        loops = known.loops
        statics = config.get("static_ranges", [])
        self.static_loops = {id(node) for i, node in enumerate(loops)
                             if loop + i < len(statics) and statics[loop + i] and known.static_ok[i]}
        self.range_options: dict[int, dict[str, Any]] = {}
        for i, node in enumerate(loops):
            options: dict[str, Any] = {}
            for knob, kwarg, unset in (("range_unroll_factors", "loop_unroll_factor", 0),
                                       ("range_num_stages", "num_stages", 0),
                                       ("range_multi_buffers", "disallow_acc_multi_buffer", None),
                                       ("range_flattens", "flatten", None),
                                       ("range_warp_specializes", "warp_specialize", None)):
                values = config.get(knob, [])
                value = values[loop + i] if loop + i < len(values) else unset
                if value != unset:
                    options[kwarg] = (not value) if knob == "range_multi_buffers" else value
            self.range_options[id(node)] = options
        # a persistent kernel's top-level loop flattens into the tile loop, the only nest it can
        # flatten: the pipeliner then loads the next tile while this one's epilogue runs
        self.flatten_tiles = False
        if self.pid_type.startswith("persistent"):
            for node in fn.body:
                if node.op == "for" and self.range_options[id(node)].pop("flatten", False):
                    self.flatten_tiles = True
        forms = config.get("indexing", [])
        memory = sites.get("memory", 0)
        self.indexing = {}
        for i, node in enumerate(known.memory_sites):
            form = forms[memory + i] if memory + i < len(forms) else "pointer"
            usable = form in known.index_options[i] and not self.flat  # flat values are 1-D
            self.indexing[id(node)] = form if usable else "pointer"
        splits = config.get("epilogue_subtiles", [])
        split = sites.get("splits", 0)
        self.subtiles = {id(n): int(splits[split + i]) for i, n in enumerate(known.splittable)
                         if split + i < len(splits) and int(splits[split + i]) > 1
                         and self.indexing[id(n)] == "tensor_descriptor"}  # store site -> pieces
        policies = config.get("load_eviction_policies", [])
        self.eviction = {id(n): policies[load + i] for i, n in enumerate(known.loads)
                         if load + i < len(policies) and policies[load + i]}
        # batched dots over one matrix at a time, and the sites emitted 2-D with them
        self.squeezed_dots, self.squeezed_sites = ((set(), set()) if self.flat
                                                   else unit_batch.plan(fn, self.sizes, self.indexing))

    def numel(self, dims: tuple[Dim, ...]) -> int:
        """Elements of a value with ``dims`` under this config."""
        return math.prod(self.sizes[d.block] if d.block is not None else d.size for d in dims)

    def trips(self, loop: Node, i: int) -> int | None:
        """Iterations of dim ``i`` of a device loop; None when its bounds are known only at run time."""
        begin, end = loop.attrs["bounds"][2 * i], loop.attrs["bounds"][2 * i + 1]
        if not (isinstance(begin, int) and isinstance(end, int)):
            return None
        return -(-(end - begin) // self.sizes[loop.attrs["blocks"][i]])


def site_offsets(functions: list[DeviceFunction]) -> list[dict[str, int]]:
    """Per device function, where its sites start in the per-site knob lists (grids with several
    dims, nested loops, loads), so several device loops of one kernel share the lists."""
    offsets, counts = [], {"grids": 0, "loops": 0, "loads": 0, "memory": 0, "splits": 0}
    for fn in functions:
        known = Structure.of(fn)
        offsets.append(dict(counts))
        counts["memory"] += len(known.memory_sites)
        counts["splits"] += len(known.splittable)
        counts["grids"] += len(fn.grid_blocks) > 1
        counts["loops"] += len(known.loops)
        counts["loads"] += len(known.loads)
    return offsets


def static_range_ok(loop: Node) -> bool:
    """``tl.static_range`` needs bounds known when the kernel is compiled."""
    return all(isinstance(b, int) and not isinstance(b, bool) for b in loop.attrs["bounds"])


class KernelCodegen(CombineCodegen):
    """Writes one device function as a Triton kernel plus its launcher."""

    def __init__(self, fn: DeviceFunction, config: dict[str, Any], gpu: bool, dot_precision: str = "tf32",
                 index_dtype: torch.dtype = torch.int32, sites: dict[str, int] | None = None,
                 num_sms: int = 4):
        self.fn = fn
        self.cfg = ResolvedConfig(fn, config, sites)
        self.num_sms = num_sms
        self.gpu = gpu
        self.dot_precision = dot_precision
        self.index_dtype = index_dtype
        self.lines: list[str] = []
        self.depth = 1
        self.alias: dict[int, str] = {}
        self.dynamic: set[int] = set()  # blocks whose bounds are device values (always masked)
        self.active: set[int] = set()   # blocks whose indices/masks are in scope at this point
        self.symbol_names = fn.symbol_names()
        self.used_blocks = fn.used_blocks()
        self.squeezed: set[int] = set()  # nodes whose variable holds them without the unit batch dim,
        # after the loop too (ref() reshapes them for full-rank users)
        self.squeezed_descriptors = 0  # 2-D TMA descriptors of squeezed sites (stacked or per matrix)
        self.helpers: list[str] = []  # @triton.jit helpers (combine functions), written before the kernel
        self.helper_names: set[str] = set()

    # --- small helpers ----------------------------------------------------------------------------
    def line(self, text: str) -> None:
        self.lines.append("    " * self.depth + text)

    def ref(self, value: Any) -> str:
        if isinstance(value, Node):
            if id(value) in self.squeezed:
                return f"tl.reshape({value.name}, {self.shape_text(value.dims)})"
            return self.alias.get(id(value), value.name)
        if isinstance(value, torch.SymInt):
            return self.int_text(value)
        return literal(value)

    def squeezed_ref(self, node: Node) -> str:
        """``node`` without its leading unit dim (``unit_batch``)."""
        if id(node) in self.squeezed:
            return node.name
        return f"tl.reshape({self.ref(node)}, {self.shape_text(node.dims[1:])})"

    def int_text(self, value: Any, python: bool = False) -> str:
        """An int or symbolic size as source text (kernel parameters / launcher variables)."""
        return symbols.render(value, self.symbol_names, python)

    def extent_text(self, block_id: int, python: bool = False) -> str:
        block = self.fn.block(block_id)
        return self.int_text(block.sym if block.sym is not None else block.extent, python)

    def size_text(self, dim: Dim) -> str:
        return self.fn.block(dim.block).symbol if dim.block is not None else str(dim.size)

    def shape_text(self, dims: tuple[Dim, ...]) -> str:
        if self.cfg.flat and any(d.block is not None for d in dims):
            return f"[{self.flat_size()}]"
        return "[" + ", ".join(self.size_text(d) for d in dims) + "]"

    def flat_size(self) -> str:
        return " * ".join(self.fn.block(b).symbol for b in self.fn.grid_blocks)

    def flat_total(self, python: bool = False) -> str:
        return " * ".join(_paren(self.extent_text(b, python)) for b in self.fn.grid_blocks)

    def flat_maskable(self) -> bool:
        return any(self.maskable(b) for b in self.fn.grid_blocks)

    def maskable(self, block_id: int) -> bool:
        block = self.fn.block(block_id)
        if block.kind == "grid":
            return False
        if block.extent is None or block.sym is not None or block_id in self.dynamic:
            return True
        return block.extent % self.cfg.sizes[block_id] != 0

    def expand(self, expr: str, positions: list[int], rank: int) -> str:
        if rank <= 1 or len(positions) == rank or self.cfg.flat:  # flat: every value is one vector
            return expr
        return expr + "[" + ", ".join(":" if i in positions else "None" for i in range(rank)) + "]"

    def mask_for(self, dims: tuple[Dim, ...]) -> str | None:
        if self.cfg.flat:
            return "flat_mask" if self.flat_maskable() and any(d.block is not None for d in dims) else None
        parts = [self.expand(f"mask_{d.block}", [i], len(dims)) for i, d in enumerate(dims)
                 if d.block is not None and self.maskable(d.block)]
        parts += self.jagged_masks(dims)
        return " & ".join(parts) if parts else None

    def jagged_masks(self, dims: tuple[Dim, ...], only: int | None = None) -> list[str]:
        """Per-lane bounds of ``hl.jagged_tile`` blocks in ``dims`` (``only``: of that block):
        ``indices_k < ends`` over the (parent, child) positions."""
        blocks = [d.block for d in dims]
        parts = []
        for i, b in enumerate(blocks):
            if b is None or (only is not None and b != only) or b not in self.active:
                continue
            jagged = self.fn.block(b).jagged
            if jagged is None:
                continue
            parent, ends = jagged
            if parent not in blocks:
                raise exc.UnsupportedOperation(
                    f"a tile of hl.jagged_tile (line {ends.lineno}) must be indexed together with its "
                    "parent tile (e.g. x[tile_b, tile_k] or an index built from both), so each lane "
                    "knows its end")
            rank = len(dims)
            parts.append(f"({self.expand(f'indices_{b}', [i], rank)} < "
                         f"{self.expand(self.ref(ends), [blocks.index(parent)], rank)})")
        return parts

    def cast_text(self, expr: str, source: torch.dtype, target: torch.dtype, scalar: bool = False) -> str:
        if source == target:
            return expr
        # loop indices are Python ints in the interpreter: tl.cast accepts both
        return f"tl.cast({expr}, {tl_dtype(target)})" if scalar else f"{_paren(expr)}.to({tl_dtype(target)})"

    # --- program -------------------------------------------------------------------------------------
    def kernel_name(self) -> str:
        return f"_{self.fn.name}_kernel"

    def params(self) -> list[str]:
        names = [n for n in self.fn.captured if n in self.fn.tensor_args or n in self.fn.scalar_args]
        names += sorted(self.symbol_names.values())
        return names + [b.symbol for b in self.fn.blocks if b.kind != "grid"]

    def generate(self) -> str:
        header = ["from __future__ import annotations", "", "import triton", "import triton.language as tl"]
        if self.gpu and self.fn.uses_libdevice:
            header.append("from triton.language.extra import libdevice")
        signature = ", ".join(
            p + (": tl.constexpr" if p.startswith("_BLOCK_SIZE") else "") for p in self.params())
        self.lines = []
        self.depth = 1
        self.descriptors()
        self.persistent_loop()
        self.program_ids()
        self.matrix_descriptors()
        for block in self.fn.blocks:
            if block.kind == "reduction" and block.id not in self.cfg.looped and block.id in self.used_blocks:
                self.block_indices(block.id, "0", self.extent_text(block.id))
        items: list[Any] = list(self.fn.body)
        for block_id in self.cfg.looped:  # at most one (ResolvedConfig)
            items = schedule(self.fn.body, block_id)
        for item in items:
            self.emit_item(item)
        body = "\n".join(self.lines) if self.lines else "    pass"
        if self.gpu and (self.descriptor_names or self.squeezed_descriptors):  # device-side descriptors need scratch
            header += ["import torch", "",
                       "triton.set_allocator(lambda size, alignment, stream: "
                       "torch.empty(size, dtype=torch.int8, device='cuda'))"]
        kernel = f"@triton.jit\ndef {self.kernel_name()}({signature}):\n{body}\n"
        helpers = "".join(helper + "\n\n" for helper in self.helpers)
        return "\n".join(header) + "\n\n\n" + helpers + kernel + "\n\n" + self.launcher()

    def total_tiles(self) -> str:
        if self.cfg.flat:
            return f"({self.flat_total()} + {self.flat_size()} - 1) // ({self.flat_size()})"
        return " * ".join(_paren(self.block_count(b)) for b in self.fn.grid_blocks)

    def persistent_loop(self) -> None:
        """``persistent_*`` pid types: a grid of (SM count x multiplier) programs, each looping over
        tiles, interleaved (pid, pid + P, ...) or in one contiguous run per program; flattened with
        the tile's own loop under ``range_flattens`` (``ResolvedConfig.flatten_tiles``)."""
        if not self.cfg.pid_type.startswith("persistent"):
            return
        self.line(f"total_tiles = {self.total_tiles()}")
        flatten = ", flatten=True" if self.cfg.flatten_tiles else ""
        if self.cfg.pid_type == "persistent_interleaved":
            self.line(f"for virtual_pid in tl.range(tl.program_id(0), total_tiles, tl.num_programs(0){flatten}):")
        else:
            self.line("tiles_per_program = (total_tiles + tl.num_programs(0) - 1) // tl.num_programs(0)")
            self.line("first_tile = tl.program_id(0) * tiles_per_program")
            self.line("for virtual_pid in tl.range(first_tile, tl.minimum(first_tile + tiles_per_program, "
                      f"total_tiles){flatten}):")
        self.depth += 1

    def program_ids(self) -> None:
        """pid -> one index per grid dim: ``loop_orders`` picks the fastest-varying dim and
        ``l2_groupings`` walks the first two dims in groups of rows (tiles reuse L2); ``xyz``
        uses one hardware grid axis per dim instead."""
        grid = self.fn.grid_blocks
        source = "virtual_pid" if self.cfg.pid_type.startswith("persistent") else "tl.program_id(0)"
        if self.cfg.flat:
            self.flat_indices(source)
            return
        if self.cfg.pid_type == "xyz":
            for i in range(len(grid)):
                self.line(f"pid_{i} = tl.program_id({i})")
        elif len(grid) == 1:
            self.line(f"pid_0 = {source}")
        else:
            order = self.cfg.loop_order
            self.line(f"pid = {source}")
            group = self.cfg.l2_grouping
            first = 0
            if group > 1:
                a, b = order[0], order[1]
                count_a, count_b = _paren(self.block_count(grid[a])), _paren(self.block_count(grid[b]))
                self.line(f"num_blocks_{a} = {count_a}")
                self.line(f"num_blocks_{b} = {count_b}")
                self.line(f"inner = pid % (num_blocks_{a} * num_blocks_{b})")
                self.line(f"group_start = inner // ({group} * num_blocks_{b}) * {group}")
                self.line(f"group_rows = tl.minimum(num_blocks_{a} - group_start, {group})")
                self.line(f"pid_{a} = group_start + inner % ({group} * num_blocks_{b}) % group_rows")
                self.line(f"pid_{b} = inner % ({group} * num_blocks_{b}) // group_rows")
                first = 2
            for rank in range(first, len(order)):
                i = order[rank]
                stride = " * ".join(_paren(self.block_count(grid[p])) for p in order[:rank])
                value = "pid" if not stride else f"pid // ({stride})"
                count = _paren(self.block_count(grid[i]))
                self.line(f"pid_{i} = {value} % {count}" if rank < len(order) - 1 else f"pid_{i} = {value}")
        for i, b in enumerate(grid):
            begin, end = self.fn_bounds(b)
            block = self.fn.block(b)
            pid = f"pid_{i}" if self.index_dtype == torch.int32 else f"pid_{i}.to(tl.int64)"
            start = f"{pid} * {block.symbol}" if block.kind != "grid" else pid
            self.line(f"offset_{b} = {start}" if begin == "0" else f"offset_{b} = {begin} + {start}")
            if block.kind != "grid":
                self.block_indices(b, f"offset_{b}", end)

    def flat_indices(self, source: str) -> None:
        """``flatten_loops``: one 1-D block over the row-major elements of the grid dims; each
        dim's indices are recovered by division (the last dim varies fastest)."""
        pid = source if self.index_dtype == torch.int32 else f"{source}.to(tl.int64)"
        self.line(f"flat_index = {pid} * ({self.flat_size()}) + tl.arange(0, {self.flat_size()})")
        if self.flat_maskable():
            self.line(f"flat_mask = flat_index < {self.flat_total()}")
        grid = self.fn.grid_blocks
        for i, b in enumerate(grid):
            inner = " * ".join(_paren(self.extent_text(c)) for c in grid[i + 1:])
            value = f"flat_index // ({inner})" if inner else "flat_index"
            if i > 0:
                value += f" % {_paren(self.extent_text(b))}"
            begin = self.fn.block(b).begin
            self.line(f"indices_{b} = {value}" if begin == 0 else f"indices_{b} = {begin} + {value}")
            self.active.add(b)

    def descriptors(self) -> None:
        """Tensor descriptors are made once, at the top of the kernel."""
        self.descriptor_names: dict[tuple[str, str], str] = {}
        for node in indexing.memory_sites(self.fn):
            if self.cfg.indexing.get(id(node)) != "tensor_descriptor":
                continue
            if id(node) in self.cfg.squeezed_sites:
                if self.stacked_rows(node):  # one 2-D descriptor over the matrices stacked row-wise
                    arg = self.fn.tensor_args[node.attrs["tensor"]]
                    block_shape = self.box_text(node, [p for _, p, _ in node.attrs["terms"][1:]])
                    self.squeezed_descriptors += 1
                    self.line(f"{node.name}_desc = tl.make_tensor_descriptor({arg.name}, shape="
                              f"{[arg.shape[0] * arg.shape[1], arg.shape[2]]}, strides={list(arg.strides[1:])}, "
                              f"block_shape={block_shape})")
                continue
            arg = self.fn.tensor_args[node.attrs["tensor"]]
            block_shape = self.box_text(node, [p for _, p, _ in node.attrs["terms"]])
            key = (arg.name, block_shape)
            if key in self.descriptor_names:
                continue
            same_tensor = sum(1 for t, _ in self.descriptor_names if t == arg.name)
            name = f"{arg.name}_desc" + (f"_{same_tensor}" if same_tensor else "")
            self.descriptor_names[key] = name
            self.line(f"{name} = tl.make_tensor_descriptor({arg.name}, shape={list(arg.shape)}, "
                      f"strides={list(arg.strides)}, block_shape={block_shape})")

    def box_text(self, node: Node, blocks: list[int]) -> str:
        """A TMA site's box: its tile, the last dim cut into ``epilogue_subtiles`` pieces."""
        sizes = [self.size_text(Dim(block=b)) for b in blocks]
        pieces = self.cfg.subtiles.get(id(node), 1)
        if pieces > 1:
            sizes[-1] = f"{sizes[-1]} // {pieces}"
        return "[" + ", ".join(sizes) + "]"

    def stacked_rows(self, node: Node) -> bool:
        """Whether a TMA load of one matrix of a 3-D batch can read a 2-D view of all the
        matrices stacked row-wise (made once per kernel): the matrices are contiguous one after
        the other and the row tile divides the rows, so no box crosses into the next matrix."""
        arg = self.fn.tensor_args[node.attrs["tensor"]]
        if len(arg.shape) != 3 or arg.strides[0] != arg.shape[1] * arg.strides[1]:
            return False
        return arg.shape[1] % self.cfg.sizes[node.attrs["terms"][1][1]] == 0

    def matrix_offsets(self, node: Node) -> list[str]:
        """A squeezed TMA site's offsets in its 2-D descriptor (``stacked_rows`` or per matrix)."""
        terms = node.attrs["terms"]
        offsets = [self.block_offset(p) for _, p, _ in terms[1:]]
        if self.stacked_rows(node):  # the matrix's first row in the stacked view
            rows = self.fn.tensor_args[node.attrs["tensor"]].shape[1]
            offsets[0] = f"offset_{terms[0][1]} * {rows} + {offsets[0]}"
        return offsets

    def matrix_descriptors(self) -> None:
        """A TMA load of one matrix of a batch (``ResolvedConfig.squeezed_sites``) that cannot use
        ``stacked_rows`` reads through a 2-D descriptor of that matrix, made once its batch offset
        is known: a 3-D box reshaped for the dot would go through registers."""
        for node in indexing.memory_sites(self.fn):
            if (id(node) not in self.cfg.squeezed_sites or self.cfg.indexing.get(id(node)) != "tensor_descriptor"
                    or self.stacked_rows(node)):
                continue
            self.squeezed_descriptors += 1
            arg = self.fn.tensor_args[node.attrs["tensor"]]
            terms = node.attrs["terms"]
            block_shape = self.box_text(node, [p for _, p, _ in terms[1:]])
            self.line(f"{node.name}_desc = tl.make_tensor_descriptor({arg.name} + offset_{terms[0][1]} * "
                      f"{arg.strides[0]}, shape={list(arg.shape[1:])}, strides={list(arg.strides[1:])}, "
                      f"block_shape={block_shape})")

    def block_offset(self, block_id: int) -> str:
        """Where the current tile of a block starts (for block pointers and descriptors)."""
        block = self.fn.block(block_id)
        if block.kind == "reduction":
            return f"roffset_{block_id}" if block_id in self.cfg.looped else "0"
        return f"offset_{block_id}"

    def block_access(self, node: Node) -> tuple[str, list[int]]:
        """(block pointer or descriptor expression, dims that need a bound check) of a site."""
        arg = self.fn.tensor_args[node.attrs["tensor"]]
        blocks = [p for _, p, _ in node.attrs["terms"]]
        offsets = "[" + ", ".join(self.block_offset(b) for b in blocks) + "]"
        shape = self.shape_text(tuple(Dim(block=b) for b in blocks))
        if self.cfg.indexing[id(node)] == "tensor_descriptor":
            return f"{self.descriptor_names[(arg.name, self.box_text(node, blocks))]}", [], offsets
        order = sorted(range(len(blocks)), key=lambda d: arg.strides[d])
        checks = [d for d, b in enumerate(blocks) if self.maskable(b)]
        pointer = (f"tl.make_block_ptr({arg.name}, {list(arg.shape)}, {list(arg.strides)}, {offsets}, "
                   f"{shape}, {order})")
        return pointer, checks, offsets

    def fn_bounds(self, block_id: int) -> tuple[str, str]:
        block = self.fn.block(block_id)
        end = self.extent_text(block_id)
        return str(block.begin), end if block.begin == 0 else f"{block.begin} + {end}"

    def block_count(self, block_id: int) -> str:
        block = self.fn.block(block_id)
        if block.kind == "grid":
            return self.extent_text(block_id)
        return f"({self.extent_text(block_id)} + {block.symbol} - 1) // {block.symbol}"

    def block_indices(self, block_id: int, offset: str, end: str) -> None:
        self.active.add(block_id)
        symbol = self.fn.block(block_id).symbol
        start = "" if offset == "0" else f"{offset} + "
        self.line(f"indices_{block_id} = {start}tl.arange(0, {symbol})")
        if self.maskable(block_id):
            self.line(f"mask_{block_id} = indices_{block_id} < {end}")

    def launcher(self) -> str:
        captured = self.fn.captured
        lines = [f"def launch({', '.join(captured)}):"]
        names = self.symbol_names
        for sym, (tensor, dim) in sorted(self.fn.symbols.items(), key=lambda item: names[item[0]]):
            lines.append(f"    {names[sym]} = {tensor}.size({dim})")
        for block in self.fn.blocks:
            if block.kind == "grid":
                continue
            if block.kind == "reduction" and block.id not in self.used_blocks:
                lines.append(f"    {block.symbol} = 1  # another loop's")
            elif block.kind == "reduction" and block.sym is not None and block.id not in self.cfg.looped:
                lines.append(f"    {block.symbol} = triton.next_power_of_2({self.extent_text(block.id, True)})")
            else:
                lines.append(f"    {block.symbol} = {self.cfg.sizes[block.id]}")
        counts = [self.extent_text(b, True) if self.fn.block(b).kind == "grid" else
                  f"triton.cdiv({self.extent_text(b, True)}, {self.fn.block(b).symbol})" for b in self.fn.grid_blocks]
        grid = f"triton.cdiv({self.flat_total(True)}, {self.flat_size()})" if self.cfg.flat else " * ".join(counts)
        if self.cfg.pid_type == "xyz" and not self.cfg.flat:
            grid = ", ".join(counts)
        elif self.cfg.pid_type.startswith("persistent"):
            grid = f"min({grid}, {self.num_sms * self.cfg.sm_multiplier})"
        args = ", ".join(self.params())
        maxnreg = f", maxnreg={self.cfg.maxnreg}" if self.cfg.maxnreg else ""
        lines.append(f"    {self.kernel_name()}[({grid},)]({args}, num_warps={self.cfg.num_warps}, "
                     f"num_stages={self.cfg.num_stages}{maxnreg})")
        return "\n".join(lines) + "\n"

    # --- nodes ------------------------------------------------------------------------------------
    def emit_item(self, item: Any) -> None:
        if isinstance(item, ChunkLoop):
            self.chunk_loop(item)
        else:
            self.emit(item)

    def emit(self, node: Node) -> None:
        method = getattr(self, f"op_{node.op}")
        method(node)

    def assign(self, node: Node, expr: str) -> None:
        self.line(f"{node.name} = {expr}")

    def op_arg(self, node: Node) -> None:
        pass

    def op_var(self, node: Node) -> None:
        pass

    def op_sym(self, node: Node) -> None:
        self.alias[id(node)] = self.int_text(node.attrs["value"])

    def op_tile_index(self, node: Node) -> None:
        self.alias[id(node)] = f"indices_{node.attrs['block']}"

    def op_tile_begin(self, node: Node) -> None:
        self.alias[id(node)] = f"offset_{node.attrs['block']}"

    def op_block_size(self, node: Node) -> None:
        self.alias[id(node)] = self.fn.block(node.attrs["block"]).symbol

    def op_tile_size(self, node: Node) -> None:
        b = node.attrs["block"]
        symbol = self.fn.block(b).symbol
        if not self.maskable(b) or node.args[0] is None:
            self.alias[id(node)] = symbol
        else:
            self.assign(node, f"tl.minimum({symbol}, {self.ref(node.args[0])} - offset_{b})")

    def op_tile_end(self, node: Node) -> None:
        b = node.attrs["block"]
        self.assign(node, f"tl.minimum(offset_{b} + {self.fn.block(b).symbol}, {self.ref(node.args[0])})")

    def op_tile_id(self, node: Node) -> None:
        b = node.attrs["block"]
        begin = self.ref(node.args[0])
        offset = f"offset_{b}" if begin == "0" else f"(offset_{b} - {begin})"
        self.assign(node, f"{offset} // {self.fn.block(b).symbol}")

    def op_tile_count(self, node: Node) -> None:
        b = node.attrs["block"]
        symbol = self.fn.block(b).symbol
        self.assign(node, f"({self.ref(node.args[1])} - {self.ref(node.args[0])} + {symbol} - 1) // {symbol}")

    def op_cast(self, node: Node) -> None:
        source = node.args[0]
        if id(source) in self.squeezed:  # a cast keeps the shape: stays without the unit dim
            self.assign(node, self.cast_text(source.name, source.dtype, node.dtype))
            self.squeezed.add(id(node))
            return
        self.assign(node, self.cast_text(self.ref(source), source.dtype, node.dtype, scalar=source.rank == 0))

    def op_pointwise(self, node: Node) -> None:
        op = POINTWISE[node.attrs["fn"]]
        compute = node.attrs["compute"]
        operands = []
        for i, arg in enumerate(node.args):
            text = self.ref(arg)
            if isinstance(arg, Node) and (op.cast_args is None or i in op.cast_args):
                text = self.cast_text(text, arg.dtype, compute, scalar=arg.rank == 0)
            operands.append(text)
        expr = op.render(operands, {**node.attrs["kw"], "_float": compute.is_floating_point}, self.gpu)
        if node.dtype != torch.bool:
            expr = self.cast_text(expr, compute, node.dtype)
        self.assign(node, expr)

    def op_full(self, node: Node) -> None:
        fill = node.args[0]
        if isinstance(fill, float) and not node.dtype.is_floating_point and fill.is_integer():
            fill = int(fill)
        self.assign(node, f"tl.full({self.shape_text(node.dims)}, {self.ref(fill)}, {tl_dtype(node.dtype)})")

    def op_arange(self, node: Node) -> None:
        begin = self.ref(node.args[0])
        block = node.dims[0].block
        if block is not None and self.fn.block(block).kind == "reduction" and begin == "0":
            self.alias[id(node)] = f"indices_{block}"
            return
        expr = f"tl.arange(0, {self.size_text(node.dims[0])})"
        self.assign(node, expr if begin == "0" else f"{begin} + {expr}")

    def op_view(self, node: Node) -> None:
        source = self.ref(node.args[0])
        kind = node.attrs["kind"]
        if self.cfg.flat and (kind != "broadcast" or node.args[0].rank > 0):
            self.alias[id(node)] = source  # flat: a view of a vector is the same vector
            return
        if kind == "index":
            self.assign(node, f"{source}{node.attrs['index']}")
        elif kind == "permute":
            order = node.attrs["order"]
            self.assign(node, f"tl.trans({source})" if order == [1, 0] else f"tl.permute({source}, {order})")
        elif kind == "broadcast":
            self.assign(node, f"tl.broadcast_to({source}, {self.shape_text(node.dims)})")
        else:
            self.assign(node, f"tl.reshape({source}, {self.shape_text(node.dims)})")

    def neutral(self, kind: str, dtype: torch.dtype) -> str:
        if kind == "sum":
            return "0"
        low = kind in ("amax", "argmax")
        if dtype.is_floating_point:
            return "-float('inf')" if low else "float('inf')"
        info = torch.iinfo(dtype) if dtype != torch.bool else None
        return str(info.min if low else info.max) if info else ("0" if low else "1")

    def op_reduce(self, node: Node) -> None:
        source = node.args[0]
        kind, axis, block = node.attrs["kind"], node.attrs["axis"], node.attrs["block"]
        value = self.cast_text(self.ref(source), source.dtype, node.attrs["compute"])
        if block is not None and block in self.active and self.maskable(block):
            mask = " & ".join([self.expand(f"mask_{block}", [axis], source.rank)]
                              + self.jagged_masks(source.dims, only=block))
            value = f"tl.where({mask}, {value}, {self.neutral(kind, node.attrs['compute'])})"
        keep = ", keep_dims=True" if node.attrs["keepdim"] else ""
        expr = f"{_REDUCE_FN[kind]}({value}, {axis}{keep})"
        self.assign(node, expr)

    def op_dot(self, node: Node) -> None:
        a, b, acc = node.args
        k = node.attrs["k_block"]
        squeeze = id(node) in self.cfg.squeezed_dots  # one matrix of a batch: a 2-D dot (tensor cores)
        rank = a.rank - 1 if squeeze else a.rank
        operands = []
        for operand, axis in ((a, rank - 1), (b, rank - 2)):
            text = self.squeezed_ref(operand) if squeeze else self.ref(operand)
            if k is not None and self.maskable(k) and not _zero_filled(operand):
                text = f"tl.where({self.expand(f'mask_{k}', [axis], rank)}, {text}, 0)"
            operands.append(text)
        extra = ""
        if acc is not None:
            extra = f", acc={self.squeezed_ref(acc) if squeeze else self.ref(acc)}"
        if self.gpu and a.dtype == torch.float32:
            extra += f", input_precision={self.dot_precision!r}"
        extra += f", out_dtype={tl_dtype(node.dtype)}"
        self.assign(node, f"tl.dot({operands[0]}, {operands[1]}{extra})")
        if squeeze:
            self.squeezed.add(id(node))

    def pointer(self, node: Node, dims: tuple[Dim, ...], dropped: int | None = None) -> str:
        """``arg + offsets`` of a site over ``dims``; ``dropped``: a tile of one element left out
        of ``dims`` (a squeezed site), indexed by its scalar offset."""
        arg = self.fn.tensor_args[node.attrs["tensor"]]
        rank = len(dims)
        parts = []
        shaped = False
        for kind, payload, tdim in node.attrs["terms"]:
            if kind in ("newaxis", "zero"):
                continue
            stride = arg.stride_syms[tdim] if arg.stride_syms else arg.strides[tdim]
            stride = self.int_text(stride) if symbols.is_symbolic(stride) else symbols.hint(stride)
            if kind == "block" and payload == dropped:
                expr = f"offset_{payload}"
            elif kind == "block":
                expr = self.expand(f"indices_{payload}", [dims.index(Dim(block=payload))], rank)
            elif kind == "scalar":
                expr = self.ref(payload)
            else:  # gather
                positions = [dims.index(d) for d in payload.dims]
                expr = self.expand(self.ref(payload), positions, rank)
            parts.append(expr if stride == 1 else f"{expr} * {stride}")
            shaped = shaped or (kind == "gather" or (kind == "block" and payload != dropped))
        if rank and not shaped:
            # Every indexed dim has one element (``t[:]`` of a length-1 dim, ``None``): the site's
            # value still has dims [1, ...], so the pointer does too (a store of a [1] block
            # through a scalar pointer does not compile).
            parts.append(f"tl.zeros({self.shape_text(dims)}, tl.int32)")
        return f"{arg.name} + ({' + '.join(parts)})" if parts else arg.name

    def _mask_with_extra(self, dims: tuple[Dim, ...], extra: Any) -> str | None:
        mask = self.mask_for(dims)
        if isinstance(extra, Node):
            mask = f"({mask}) & ({self.ref(extra)})" if mask else self.ref(extra)
        return mask

    def op_load(self, node: Node) -> None:
        form = self.cfg.indexing.get(id(node), "pointer")
        if form == "tensor_descriptor" and id(node) in self.cfg.squeezed_sites:
            self.assign(node, f"{node.name}_desc.load([{', '.join(self.matrix_offsets(node))}])")
            self.squeezed.add(id(node))
            return
        if form != "pointer":
            access, checks, offsets = self.block_access(node)
            if form == "tensor_descriptor":
                self.assign(node, f"{access}.load({offsets})")
            else:
                check = f", boundary_check={tuple(checks)}, padding_option='zero'" if checks else ""
                self.assign(node, f"tl.load({access}{check})")
            return
        squeeze = id(node) in self.cfg.squeezed_sites
        dims = node.dims[1:] if squeeze else node.dims
        mask = self._mask_with_extra(dims, node.attrs.get("extra_mask"))
        args = [self.pointer(node, dims, node.dims[0].block if squeeze else None)]
        if mask:  # a float zero: Triton casts no int constant to fp8
            args += [mask, "other=0.0" if node.dtype.is_floating_point else "other=0"]
        eviction = node.attrs.get("eviction") or self.cfg.eviction.get(id(node))
        if eviction in ("first", "last"):  # config spelling (as public Helion) -> Triton's
            eviction = f"evict_{eviction}"
        if eviction:
            args.append(f"eviction_policy={eviction!r}")
        self.assign(node, f"tl.load({', '.join(args)})")
        if squeeze:
            self.squeezed.add(id(node))

    def op_store(self, node: Node) -> None:
        dims = node.attrs["index_dims"]
        form = self.cfg.indexing.get(id(node), "pointer")
        if id(node) in self.cfg.squeezed_sites:  # one matrix of a batch, from a 2-D accumulator
            value = self.squeezed_ref(node.args[0])
            if form == "tensor_descriptor":
                self.tma_store(node, f"{node.name}_desc", self.matrix_offsets(node), value, dims[1:])
                return
            mask = self.mask_for(dims[1:])
            pointer = self.pointer(node, dims[1:], dims[0].block)
            self.line(f"tl.store({pointer}, {value}{', ' + mask if mask else ''})")
            return
        if form != "pointer":
            access, checks, offsets = self.block_access(node)
            value = self.ref(node.args[0])
            if node.args[0].dims != dims:
                value = f"tl.broadcast_to({value}, {self.shape_text(dims)})"
            if form == "tensor_descriptor":
                self.tma_store(node, access, [self.block_offset(p) for _, p, _ in node.attrs["terms"]], value, dims)
            else:
                check = f", boundary_check={tuple(checks)}" if checks else ""
                self.line(f"tl.store({access}, {value}{check})")
            return
        mask = self._mask_with_extra(dims, node.attrs.get("extra_mask"))
        args = [self.pointer(node, dims), self.ref(node.args[0])]
        if mask:
            args.append(mask)
        self.line(f"tl.store({', '.join(args)})")

    def tma_store(self, node: Node, descriptor: str, offsets: list[str], value: str, dims: tuple[Dim, ...]) -> None:
        """``descriptor.store``; under ``epilogue_subtiles`` the block goes as two halves of its
        last dim, each through half the shared-memory buffer (so a deeper pipeline fits)."""
        if self.cfg.subtiles.get(id(node), 1) == 1:
            self.line(f"{descriptor}.store([{', '.join(offsets)}], {value})")
            return
        sizes = [self.size_text(d) for d in dims]
        half = f"{sizes[-1]} // 2"
        rank = len(dims)
        self.line(f"{node.name}_pair = tl.permute(tl.reshape({value}, [{', '.join(sizes[:-1] + ['2', half])}]), "
                  f"{list(range(rank - 1)) + [rank, rank - 1]})")
        self.line(f"{node.name}_0, {node.name}_1 = tl.split({node.name}_pair)")
        for piece in range(2):
            at = offsets[:-1] + [offsets[-1] if piece == 0 else f"{offsets[-1]} + {half}"]
            self.line(f"{descriptor}.store([{', '.join(at)}], {node.name}_{piece})")

    def op_atomic_add(self, node: Node) -> None:
        dims = node.attrs["index_dims"]
        mask = self._mask_with_extra(dims, node.attrs.get("extra_mask"))
        args = [self.pointer(node, dims), self.ref(node.args[0])]
        if mask:
            args.append(f"mask={mask}")
        args.append(f"sem={node.attrs['sem']!r}")
        self.assign(node, f"tl.atomic_{node.attrs.get('fn', 'add')}({', '.join(args)})")

    def op_for(self, node: Node) -> None:
        # an accumulator of a 2-D dot is carried 2-D: reshaping it every iteration costs layout conversions
        squeezed = {id(var) for var, _, final in node.attrs["carried"] if id(final) in self.cfg.squeezed_dots}
        for var, init, _ in node.attrs["carried"]:
            self.line(f"{var.name} = {self.squeezed_ref(init) if id(var) in squeezed else self.ref(init)}")
        self.squeezed |= squeezed
        bounds = node.attrs["bounds"]
        opened = 0
        for i, b in enumerate(node.attrs["blocks"]):
            begin, end = self.ref(bounds[2 * i]), self.ref(bounds[2 * i + 1])
            block = self.fn.block(b)
            if not (isinstance(bounds[2 * i], int) and isinstance(bounds[2 * i + 1], int)):
                self.dynamic.add(b)
            step = "" if block.kind == "grid" else f", {block.symbol}"
            if id(node) in self.cfg.static_loops:  # unrolled when the kernel is compiled
                self.line(f"for offset_{b} in tl.static_range({begin}, {end}{step}):")
            else:
                options = "".join(f", {k}={v!r}" for k, v in self.cfg.range_options.get(id(node), {}).items())
                self.line(f"for offset_{b} in tl.range({begin}, {end}{step}{options}):")
            self.depth += 1
            opened += 1
            if block.kind != "grid":
                self.block_indices(b, f"offset_{b}", end)
        for inner in node.body:
            self.emit(inner)
        for var, _, final in node.attrs["carried"]:
            self.line(f"{var.name} = {self.squeezed_ref(final) if id(var) in squeezed else self.ref(final)}")
        self.depth -= opened
        self.active -= set(node.attrs["blocks"])

    def op_if(self, node: Node) -> None:
        """A Triton ``if`` on a scalar; names merged after it are assigned at the end of each branch."""
        carried = node.attrs["carried"]
        for var, init, _, _ in carried:
            if init is not None:
                self.line(f"{var.name} = {self.ref(init)}")
        orelse = next(n for n in node.body if n.op == "else")
        branches = [([n for n in node.body if n is not orelse], 2), (orelse.body, 3)]
        for (nodes, position), header in zip(branches, (f"if {self.ref(node.args[0])}:", "else:")):
            if header == "else:" and not nodes and not carried:
                break
            self.line(header)
            self.depth += 1
            start = len(self.lines)
            for inner in nodes:
                self.emit(inner)
            for carry in carried:
                self.line(f"{carry[0].name} = {self.ref(carry[position])}")
            if len(self.lines) == start:
                self.line("pass")
            self.depth -= 1

    def op_else(self, node: Node) -> None:
        raise exc.InternalError("an else branch outside its if")  # emitted by op_if

    def chunk_loop(self, loop: ChunkLoop) -> None:
        block = self.fn.block(loop.block)
        for red in loop.reductions:
            source = red.args[0]
            self.line(f"{red.name}_acc = tl.full({self.shape_text(source.dims)}, "
                      f"{self.neutral(red.attrs['kind'], red.attrs['compute'])}, {tl_dtype(red.attrs['compute'])})")
        extent = self.extent_text(block.id)
        self.line(f"for roffset_{block.id} in tl.range(0, {extent}, {block.symbol}):")
        self.depth += 1
        self.block_indices(block.id, f"roffset_{block.id}", extent)
        for node in loop.nodes:
            self.emit(node)
        for red in loop.reductions:
            source = red.args[0]
            value = self.cast_text(self.ref(source), source.dtype, red.attrs["compute"])
            if self.maskable(block.id):
                mask = self.expand(f"mask_{block.id}", [red.attrs["axis"]], source.rank)
                value = f"tl.where({mask}, {value}, {self.neutral(red.attrs['kind'], red.attrs['compute'])})"
            combined = _COMBINE[red.attrs["kind"]].format(acc=f"{red.name}_acc", v=value)
            self.line(f"{red.name}_acc = {combined}")
        self.depth -= 1
        self.active.discard(block.id)
        for red in loop.reductions:
            keep = ", keep_dims=True" if red.attrs["keepdim"] else ""
            self.line(f"{red.name} = {_REDUCE_FN[red.attrs['kind']]}({red.name}_acc, {red.attrs['axis']}{keep})")


def _paren(expr: str) -> str:
    simple = expr.replace("_", "").replace(".", "").isalnum()
    return expr if simple else f"({expr})"


def _zero_filled(node: Node) -> bool:
    """True when masked-off elements of ``node`` are known to be zero (a load with other=0)."""
    while node.op == "cast":
        node = node.args[0]
    return node.op == "load" and node.attrs.get("extra_mask") is None


def generate(fn: DeviceFunction, config: dict[str, Any], gpu: bool, **options: Any) -> str:
    """The Triton module source (kernel + ``launch``) of ``fn`` under ``config``."""
    return KernelCodegen(fn, config, gpu, **options).generate()


__all__ = ["generate", "next_power_of_2", "tl_dtype"]
