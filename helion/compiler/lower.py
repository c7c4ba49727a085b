"""Lowers one device loop (Python AST) into device IR.

Statements are walked here (assignment, nested ``hl.tile`` loops with loop-carried values, static
``for``; ``if`` in ``branches.py``); expressions are evaluated by Python over proxy values (``values.py``), which call
back into :class:`DeviceLowering` to emit IR nodes. Errors carry the user's file and line.
"""
from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch

from .. import exc
from .. import language as hl
from ..language._dispatch import executing
from . import ops, zero_fill
from .branches import BranchLowering, Unavailable
from .combine import CombineLowering
from .rng import RandomLowering
from .host_split import DeviceLoop, _assigned_names
from .ir import Block, DeviceFunction, Dim, HostTensorArg, Node, ScalarArg
from . import symbols
from .source import KernelSource
from .values import DeviceValue, HostTensor, TileProxy

_RESERVED = re.compile(r"^(pid|offset|indices|mask|v|load|tl|triton|libdevice|num_blocks)(_\d+)?$")


@dataclass
class TileLoopSpec:
    """What ``hl.tile``/``hl.grid`` return in device code: the loop dims, before blocks exist."""

    dims: list[tuple[Any, Any, Any]]  # (begin, end, block_size) per dim
    multi: bool                        # called with a list: the target is a tuple of tiles
    is_grid: bool
    jagged: Any = None                 # hl.jagged_tile: the DeviceValue of per-lane ends


class DeviceLowering(BranchLowering, CombineLowering, RandomLowering, ops.OpLowering):
    """Traces one device loop into a :class:`DeviceFunction`."""

    def __init__(self, source: KernelSource, loop: DeviceLoop, host_values: dict[str, Any],
                 blocks: list[Block], device: torch.device, name: str):
        self.source = source
        self.loop = loop
        self.device = device
        self.blocks = blocks
        self.name = name
        self.tensor_args: dict[str, HostTensorArg] = {}
        self.scalar_args: dict[str, ScalarArg] = {}
        self.body: list[Node] = []
        self.names: set[str] = set()
        self.lineno: int | None = loop.node.lineno
        self.statement_nodes: list[Node] = []
        self.uses_libdevice = False
        self.env: dict[str, Any] = {n: self._wrap_host(n, v) for n, v in host_values.items()}
        self._code_cache: dict[int, Any] = {}
        self.assigned_at: dict[str, int | None] = {}
        self.loop_bounds: dict[int, tuple[Any, Any]] = {}  # block id -> (begin, end) of its loop

    # --- entry -------------------------------------------------------------------------------
    def run(self) -> DeviceFunction:
        with executing(self):
            try:
                spec = self.eval(self.loop.node.iter)
                grid_blocks = self._open_blocks(spec, top_level=True)
                self.assign(self.loop.node.target, self._tile_proxies(spec, grid_blocks))
                self.walk(self.loop.node.body)
            except exc.HelionError as e:
                raise e.at(self.source.filename, self.lineno) from None
            except NameError as e:
                raise exc.UndefinedName(f"{e} in device code").at(self.source.filename, self.lineno) from None
            except Exception as e:  # noqa: BLE001 - every other failure becomes a located error
                raise exc.InternalError(f"{type(e).__name__}: {e}").at(
                    self.source.filename, self.lineno) from None
        remove_dead_nodes(self.body)
        fn = DeviceFunction(self.name, self.blocks, grid_blocks, self.tensor_args, self.scalar_args,
                            self.loop.captured, self.body, self.uses_libdevice, self._size_symbols())
        bounds = {block: (begin, end) for block, (begin, end, _) in zip(grid_blocks, spec.dims)}
        for name in self.loop.zero_filled:
            store = zero_fill.covering_store(fn, name, bounds)
            if store is not None and self._store_unmasked(store):
                fn.elided_fills.append(name)
        return fn

    def _store_unmasked(self, store: Node) -> bool:
        """Rewrite ``store`` with an ``extra_mask`` into a store of ``torch.where(mask, value, 0)``
        (for an output that is no longer zero-filled); False if that cannot be expressed."""
        mask = store.attrs.get("extra_mask")
        if mask is None:
            return True
        value = store.args[0]
        saved, self.body = self.body, []
        self.lineno = store.lineno
        try:
            where = self.lower("where", torch.where,
                               (DeviceValue(mask), DeviceValue(value) if isinstance(value, Node) else value, 0), {})
            where.node.attrs["compute"] = where.node.dtype  # a select: nothing to widen
            stored = self.stored_value(where, store.attrs["index_dims"], store.dtype)
        except (exc.HelionError, AttributeError, RuntimeError, TypeError, ValueError):
            return False  # e.g. a mask torch.where does not take: the fill stays
        finally:
            added, self.body = self.body, saved
        at = next(i for i, node in enumerate(self.body) if node is store)
        self.body[at:at] = added
        store.args = (stored,)
        store.attrs["extra_mask"] = None
        return True

    def _size_symbols(self) -> dict[Any, tuple[str, int]]:
        """Each symbolic size found as a whole dimension of a tensor the loop captures, plain
        (``n``) or compound (``batch * seq`` of a flattened tensor): read from it at launch."""
        found: dict[Any, tuple[str, int]] = {}
        for name in self.loop.captured:
            value = self.env.get(name)
            if isinstance(value, HostTensor):
                for dim, size in enumerate(value.meta.shape):
                    if symbols.is_symbolic(size):
                        found.setdefault(size.node.expr, (name, dim))
        return found

    # --- host values ---------------------------------------------------------------------------
    def _wrap_host(self, name: str, value: Any) -> Any:
        if isinstance(value, torch.Tensor):
            if any(symbols.is_symbolic(s) for s in value.shape):
                return HostTensor(name, value)  # a fake tensor with symbolic sizes
            meta = torch.empty_strided(value.shape, value.stride(), dtype=value.dtype, device="meta")
            return HostTensor(name, meta)
        if isinstance(value, float):
            self.scalar_args[name] = ScalarArg(name, torch.float32)
            self.names.add(name)
            return DeviceValue(Node("arg", (), torch.float32, (), name))
        return value

    def host_tensor(self, tensor: Any) -> HostTensorArg:
        if not isinstance(tensor, HostTensor):
            raise exc.UnsupportedOperation(
                f"expected a host tensor argument, got {type(tensor).__name__}; device code can load "
                "from and store to tensors that host code created or received")
        arg = self.tensor_args.get(tensor.name)
        if arg is None:
            meta = tensor.meta
            arg = HostTensorArg(tensor.name, meta.dtype, tuple(symbols.hint(d) for d in meta.shape),
                                tuple(symbols.hint(d) for d in meta.stride()), tuple(meta.shape),
                                tuple(meta.stride()))
            self.tensor_args[tensor.name] = arg
            self.names.add(tensor.name)
        return arg

    # --- nodes ------------------------------------------------------------------------------------
    def fresh_name(self, hint: str, user: bool = False) -> str:
        """A unique Triton variable name; user names are kept when free, generated ones numbered."""
        hint = re.sub(r"\W", "_", hint) or "v"
        if user:
            if _RESERVED.match(hint):
                hint += "_"
            if hint not in self.names:
                self.names.add(hint)
                return hint
        i = 0
        while f"{hint}_{i}" in self.names:
            i += 1
        self.names.add(f"{hint}_{i}")
        return f"{hint}_{i}"

    def emit(self, op: str, args: tuple, dtype: torch.dtype, dims: tuple[Dim, ...],
             hint: str = "v", body: list[Node] | None = None, **attrs: Any) -> Node:
        node = Node(op, tuple(args), dtype, tuple(dims), self.fresh_name(hint), attrs, self.lineno, body)
        self.body.append(node)
        self.statement_nodes.append(node)
        return node

    # --- statements -----------------------------------------------------------------------------
    def walk(self, statements: list[ast.stmt]) -> None:
        for stmt in statements:
            self.lineno = stmt.lineno
            self.statement_nodes = []
            method = getattr(self, f"stmt_{type(stmt).__name__}", None)
            if method is None:
                raise exc.UnsupportedSyntax(
                    f"{type(stmt).__name__} statements are not supported in device code")
            method(stmt)

    def stmt_Pass(self, stmt: ast.Pass) -> None:
        pass

    def stmt_Expr(self, stmt: ast.Expr) -> None:
        if isinstance(stmt.value, ast.Constant):
            return  # docstring or comment-like constant
        self.eval(stmt.value)

    def stmt_Assign(self, stmt: ast.Assign) -> None:
        value = self.eval(stmt.value)
        for target in stmt.targets:
            self.assign(target, value)

    def stmt_AnnAssign(self, stmt: ast.AnnAssign) -> None:
        if stmt.value is not None:
            self.assign(stmt.target, self.eval(stmt.value))

    def stmt_AugAssign(self, stmt: ast.AugAssign) -> None:
        op = _AUG_OPS.get(type(stmt.op))
        if op is None:
            raise exc.UnsupportedSyntax(f"augmented assignment {type(stmt.op).__name__} is not supported")
        if isinstance(stmt.target, ast.Name):
            self.assign(stmt.target, self.binary(op, self.eval_name(stmt.target.id), self.eval(stmt.value)))
        elif isinstance(stmt.target, ast.Subscript):
            tensor = self.eval(stmt.target.value)
            index = self.eval(stmt.target.slice)
            current = tensor[index]
            tensor[index] = self.binary(op, current, self.eval(stmt.value))
        else:
            raise exc.UnsupportedSyntax("unsupported augmented assignment target")

    def assign(self, target: ast.expr, value: Any) -> None:
        if isinstance(target, ast.Name):
            if isinstance(value, DeviceValue) and any(value.node is n for n in self.statement_nodes) \
                    and value.node.op not in ("arg",) and not value.node.attrs.get("named"):
                self.names.discard(value.node.name)
                value.node.name = self.fresh_name(target.id, user=True)
                value.node.attrs["named"] = True
            self.env[target.id] = value
            self.assigned_at[target.id] = self.lineno
        elif isinstance(target, (ast.Tuple, ast.List)):
            values = list(value) if not isinstance(value, DeviceValue) else None
            if values is None or len(values) != len(target.elts):
                raise exc.UnsupportedSyntax("cannot unpack this value in device code")
            for t, v in zip(target.elts, values):
                self.assign(t, v)
        elif isinstance(target, ast.Subscript):
            base = self.eval(target.value)
            base[self.eval(target.slice)] = value
        else:
            raise exc.UnsupportedSyntax(f"cannot assign to {type(target).__name__} in device code")

    def stmt_For(self, stmt: ast.For) -> None:
        if stmt.orelse:
            raise exc.UnsupportedSyntax("for-else is not supported in device code")
        iterable = self.eval(stmt.iter)
        if isinstance(iterable, TileLoopSpec):
            self._device_loop(stmt, iterable)
        elif isinstance(iterable, (range, list, tuple)) and len(iterable) <= 64:
            for item in iterable:  # static loop: unrolled at compile time
                self.assign(stmt.target, item)
                self.walk(stmt.body)
        else:
            raise exc.UnsupportedSyntax(
                "device code can loop over hl.tile/hl.grid or over a short static range/list")

    def _device_loop(self, stmt: ast.For, spec: TileLoopSpec) -> None:
        line = stmt.lineno
        blocks = self._open_blocks(spec, top_level=False)
        assigned = _assigned_names(stmt.body)
        carried = [(n, self.env[n]) for n in assigned
                   if isinstance(self.env.get(n), DeviceValue)]
        outer_body, self.body = self.body, []
        vars_: list[Node] = []
        for name, init in carried:
            var = Node("var", (), init.node.dtype, init.node.dims, self.fresh_name(name, user=True), {}, line)
            vars_.append(var)
            self.env[name] = DeviceValue(var)
        before = dict(self.env)
        self.assign(stmt.target, self._tile_proxies(spec, blocks))
        self.walk(stmt.body)
        self.lineno = line
        finals = []
        for (name, init), var in zip(carried, vars_):
            final = self.env[name]
            self.lineno = self.assigned_at.get(name, line)
            if not isinstance(final, DeviceValue):
                raise exc.UnsupportedOperation(f"loop-carried {name!r} must stay a device value")
            finals.append(self.coerce_carried(final, var, name))
        self.lineno = line
        loop_body, self.body = self.body, outer_body
        bounds = [(self.as_node(begin), self.as_node(end)) for begin, end, _ in spec.dims]
        self.emit("for", (), torch.int32, (), "loop", body=loop_body, blocks=blocks,
                  bounds=[b for pair in bounds for b in pair],
                  carried=[(var, init.node, final) for (_, init), var, final in zip(carried, vars_, finals)])
        for name in list(self.env):  # names first bound inside the loop do not escape it
            if name not in before and name not in [c[0] for c in carried]:
                self.env[name] = Unavailable(name, "is defined inside a device loop and cannot be used after "
                                                   f"it; define it before the loop (e.g. {name} = hl.zeros(...)) "
                                                   "to carry it")
        for (name, _), var in zip(carried, vars_):
            self.env[name] = DeviceValue(var)

    # --- expressions ------------------------------------------------------------------------------
    def eval(self, node: ast.expr) -> Any:
        cached = self._code_cache.get(id(node))
        if cached is None:
            expr = ast.fix_missing_locations(ast.Expression(body=node))
            nested = any(isinstance(n, (ast.Lambda, ast.ListComp, ast.GeneratorExp, ast.SetComp, ast.DictComp))
                         for n in ast.walk(node))
            cached = self._code_cache[id(node)] = (compile(expr, self.source.filename, "eval"), nested)
        code, nested = cached
        scope = dict(self.source.closure)
        scope.update(self.env)
        if nested:  # a lambda or comprehension looks names up in its globals: give it the locals too
            value = eval(code, {**self.source.fn.__globals__, **scope})  # noqa: S307 (the user's own code)
        else:
            value = eval(code, self.source.fn.__globals__, scope)  # noqa: S307
        if isinstance(value, Unavailable):
            raise exc.UnsupportedOperation(f"{value.name!r} {value.reason}")
        return value

    def eval_name(self, name: str) -> Any:
        node = ast.Name(name, ast.Load(), lineno=self.lineno, col_offset=0, end_lineno=self.lineno,
                        end_col_offset=len(name))
        return self.eval(node)

    # --- tiles and blocks ---------------------------------------------------------------------------
    def tile(self, begin_or_end: Any, end: Any, block_size: Any) -> TileLoopSpec:
        return self._spec(begin_or_end, end, block_size, is_grid=False)

    def grid(self, begin_or_end: Any, end: Any) -> TileLoopSpec:
        return self._spec(begin_or_end, end, 1, is_grid=True)

    def jagged_tile(self, parent: Any) -> TileLoopSpec:
        """A tile loop to ``parent.amax()`` whose accesses are masked per parent lane."""
        if not isinstance(parent, DeviceValue) or parent.node.rank != 1 or parent.node.dims[0].block is None \
                or self.fn_block(parent.node.dims[0].block).kind == "reduction":
            raise exc.UnsupportedOperation(
                "hl.jagged_tile takes a 1-D device tensor over an enclosing tile (each lane's end), "
                "e.g. hl.jagged_tile(lengths) with lengths = ends[tile_b] - starts[tile_b]")
        if parent.node.dtype.is_floating_point or parent.node.dtype == torch.bool:
            raise exc.UnsupportedOperation("hl.jagged_tile needs integer ends, got " + str(parent.node.dtype))
        end = parent.amax()
        return TileLoopSpec([(0, end, None)], False, False, jagged=parent)

    def fn_block(self, block_id: int) -> Any:
        return self.blocks[block_id]

    def _spec(self, begin_or_end: Any, end: Any, block_size: Any, is_grid: bool) -> TileLoopSpec:
        multi = isinstance(begin_or_end, (list, tuple, torch.Size))
        if end is None:
            ends = list(begin_or_end) if multi else [begin_or_end]
            begins = [0] * len(ends)
        else:
            begins = list(begin_or_end) if multi else [begin_or_end]
            ends = list(end) if isinstance(end, (list, tuple, torch.Size)) else [end]
        sizes = list(block_size) if isinstance(block_size, (list, tuple)) else [block_size] * len(ends)
        if len(begins) != len(ends) or len(sizes) != len(ends):
            raise exc.UnsupportedOperation("hl.tile: begin, end and block_size lengths differ")
        return TileLoopSpec(list(zip(begins, ends, sizes)), multi, is_grid)

    def _open_blocks(self, spec: TileLoopSpec, top_level: bool) -> list[int]:
        if not isinstance(spec, TileLoopSpec):
            raise exc.UnsupportedSyntax("a device loop must iterate over hl.tile(...) or hl.grid(...)")
        ids = []
        for begin, end, block_size in spec.dims:
            static = symbols.is_host_int(begin) and symbols.is_host_int(end)
            if top_level and (not static or symbols.is_symbolic(begin)):
                raise exc.UnsupportedOperation("the bounds of a top-level hl.tile must be host integers "
                                               "(and its start a constant)")
            extent = symbols.hint(end) - symbols.hint(begin) if static else None
            sym = end - begin if static and (symbols.is_symbolic(begin) or symbols.is_symbolic(end)) else None
            if spec.is_grid:
                block = self._new_block("grid", extent, fixed=1)
            elif isinstance(block_size, hl.RegisteredBlockSize):
                block = self.blocks[block_size.block_id]
                block.extent = max(block.extent or 0, extent or 0) or None
            elif block_size is None:
                block = self._new_block("tile", extent, knob=True)
            elif isinstance(block_size, int):
                block = self._new_block("tile", extent, fixed=block_size)
            else:
                raise exc.UnsupportedOperation("block_size must be None, an int or hl.register_block_size")
            if top_level:
                block.begin = symbols.hint(begin)
            if sym is not None:
                block.sym = sym
            if spec.jagged is not None:
                block.jagged = (spec.jagged.node.dims[0].block, spec.jagged.node)
            if extent is None and not spec.is_grid:
                bound = self._extent_bound(begin, end)
                block.max_extent = max(block.max_extent or 0, bound or 0) if bound else block.max_extent
            ids.append(block.id)
        return ids

    def _static_bound(self, value: Any, which: int) -> int | None:
        """A host integer bounding ``value`` (which=0: from below, 1: from above): the value itself,
        or for a tile's ``begin``/``end`` the matching static bound of that tile's loop."""
        if symbols.is_host_int(value):
            return symbols.hint(value)
        node = getattr(value, "node", None)
        if node is None or node.op != ("tile_begin", "tile_end")[which] or "block" not in node.attrs:
            return None
        bound = self.loop_bounds.get(node.attrs["block"], (None, None))[which]
        return self._static_bound(bound, which) if bound is not None else None

    def _extent_bound(self, begin: Any, end: Any) -> int | None:
        """At most how many elements ``hl.tile(begin, end)`` with device bounds walks, when ``begin``
        is bounded below and ``end`` above by host integers (``hl.tile(0, tile.end)``), else None."""
        low, high = self._static_bound(begin, 0), self._static_bound(end, 1)
        return max(high - low, 1) if low is not None and high is not None else None

    def _new_block(self, kind: str, extent: int | None, knob: bool = False, fixed: int | None = None) -> Block:
        index = None
        if knob:
            index = sum(1 for b in self.blocks if b.kind == "tile" and b.knob is not None)
        block = Block(len(self.blocks), kind, extent, knob=index, fixed=fixed)
        self.blocks.append(block)
        return block

    def reduction_block(self, size: int) -> int:
        """The block of a whole host dimension of ``size`` elements (shared by equal sizes)."""
        for block in self.blocks:
            if block.kind == "reduction" and symbols.key(block.sym if block.sym is not None else block.extent) \
                    == symbols.key(size):
                return block.id
        index = sum(1 for b in self.blocks if b.kind == "reduction")
        block = Block(len(self.blocks), "reduction", symbols.hint(size), knob=index,
                      sym=size if symbols.is_symbolic(size) else None)
        self.blocks.append(block)
        return block.id

    def _tile_proxies(self, spec: TileLoopSpec, ids: list[int]) -> Any:
        tiles = [TileProxy(i, is_grid=spec.is_grid) for i in ids]
        for (begin, end, _), i in zip(spec.dims, ids):
            self.loop_bounds[i] = (begin, end)
        return tuple(tiles) if spec.multi else tiles[0]

    def tile_attr(self, tile: TileProxy, attr: str) -> Any:
        b = tile.block_id
        begin, end = self.loop_bounds[b]
        if attr == "index":
            if tile.is_grid:
                return DeviceValue(self.emit("tile_begin", (), torch.int32, (), f"offset_{b}", block=b))
            return DeviceValue(self.emit("tile_index", (), torch.int32, (Dim(block=b),), f"index_{b}", block=b))
        if attr == "begin":
            return DeviceValue(self.emit("tile_begin", (), torch.int32, (), "begin", block=b))
        if attr == "end":
            end_node = self.as_node(end, torch.int32)
            return DeviceValue(self.emit("tile_end", (end_node,), torch.int32, (), "end", block=b))
        if attr == "block_size":
            return DeviceValue(self.emit("block_size", (), torch.int32, (), "block_size", block=b))
        if attr == "id":
            return DeviceValue(self.emit("tile_id", (self.as_node(begin),),
                                         torch.int32, (), "tile_id", block=b))
        if attr == "count":
            return DeviceValue(self.emit("tile_count", (self.as_node(begin), self.as_node(end)),
                                         torch.int32, (), "count", block=b))
        raise exc.UnsupportedOperation(f"tiles have no attribute {attr!r}")


_AUG_OPS = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "div", ast.FloorDiv: "floor_divide",
            ast.Mod: "remainder", ast.Pow: "pow", ast.BitAnd: "bitwise_and", ast.BitOr: "bitwise_or",
            ast.BitXor: "bitwise_xor", ast.MatMult: "matmul"}


_EFFECTS = ("store", "atomic_add", "for", "if", "else")


def remove_dead_nodes(body: list[Node]) -> None:
    """Drop nodes whose values nobody reads (e.g. a product fused into a dot accumulator)."""
    while True:
        used = {id(d) for n in iter_nodes(body) for d in n.inputs()}
        removed = _prune(body, used)
        if not removed:
            return


def _prune(nodes: list[Node], used: set[int]) -> bool:
    removed = False
    keep = []
    for node in nodes:
        if node.body is not None:
            removed |= _prune(node.body, used)
        if node.op in _EFFECTS or id(node) in used:
            keep.append(node)
        else:
            removed = True
    nodes[:] = keep
    return removed


def iter_nodes(nodes: list[Node]) -> Iterator[Node]:
    for node in nodes:
        yield node
        if node.body:
            yield from iter_nodes(node.body)
