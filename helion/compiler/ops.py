"""Lowering of torch operations and ``hl.*`` calls on device values into IR nodes.

Result dtypes and shapes come from running the same torch call on meta tensors whose sizes stand
for the symbolic dims (a distinct prime per block), so torch's own promotion and broadcasting rules
(and its error messages) apply; pointwise ops, casts and reductions run on small CPU stand-ins
first (``standins``), which skips the imports torch's meta references make. Composite ops (softmax, var, ...) are written in torch over proxies.
"""
from __future__ import annotations

import collections
import re
from typing import Any

import torch

from .. import exc
from .. import language as hl
from . import symbols
from .ir import ONE, Dim, Node
from .pointwise import POINTWISE
from .standins import small_result
from .values import DeviceValue, HostTensor, TileProxy

_PRIMES = [p for p in range(1009, 3000) if all(p % d for d in range(2, int(p ** 0.5) + 1))]
_FLOAT16 = (torch.float16, torch.bfloat16)
_REDUCTIONS = {"sum", "amax", "amin", "argmax", "argmin", "prod"}
_CASTS = {"float": torch.float32, "half": torch.float16, "bfloat16": torch.bfloat16, "double": torch.float64,
          "int": torch.int32, "long": torch.int64, "bool": torch.bool}
_VIEWS = {"reshape", "view", "permute", "transpose", "t", "unsqueeze", "squeeze", "expand", "expand_as",
          "broadcast_to", "flatten", "contiguous", "clone", "detach", "__getitem__", "swapaxes"}
_DOTS = {"matmul", "mm", "bmm", "addmm", "baddbmm", "__matmul__", "dot"}
MaxResult = collections.namedtuple("MaxResult", ["values", "indices"])


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """16-bit floats are computed in fp32 (and rounded back), as torch does per op."""
    return torch.float32 if dtype in _FLOAT16 else dtype


class OpLowering:
    """Mixin of :class:`DeviceLowering`: turns torch/hl operations into nodes."""

    # --- meta inference -----------------------------------------------------------------------------
    def rep_size(self, dim: Dim) -> int:
        return _PRIMES[dim.block] if dim.block is not None else dim.size

    def meta(self, value: Any) -> Any:
        if isinstance(value, DeviceValue):
            return torch.empty([self.rep_size(d) for d in value.node.dims], dtype=value.dtype, device="meta")
        if isinstance(value, TileProxy):
            return self.meta(value._as_value())
        if isinstance(value, (list, tuple)):
            return type(value)(self.meta(v) for v in value)
        if isinstance(value, hl.RegisteredBlockSize):
            return _PRIMES[value.block_id]
        if isinstance(value, torch.SymInt):
            return symbols.hint(value)
        return value

    def device_value(self, value: Any) -> DeviceValue | None:
        if isinstance(value, TileProxy):
            return value._as_value()
        return value if isinstance(value, DeviceValue) else None

    def dims_of(self, meta: torch.Tensor) -> tuple[Dim, ...]:
        by_rep = {p: b for b, p in enumerate(_PRIMES[:len(self.blocks)])}
        return tuple(Dim(block=by_rep[s]) if s in by_rep else (ONE if s == 1 else Dim(size=s))
                     for s in meta.shape)

    def infer(self, fn: Any, args: tuple, kwargs: dict, dims_from_operands: bool = False) -> Any:
        """``fn``'s result on stand-ins of ``args`` (dims from operands: on small CPU tensors)."""
        if dims_from_operands:
            out = small_result(fn, args, kwargs, self.device_value, self.meta, _PRIMES.__getitem__)
            if out is not None:
                return out
        try:
            return fn(*self.meta(tuple(args)), **{k: self.meta(v) for k, v in kwargs.items()})
        except exc.HelionError:
            raise
        except AttributeError as e:
            raise exc.UnsupportedOperation(f"{getattr(fn, '__name__', fn)} is not supported in device code "
                                           f"({e})") from None
        except (RuntimeError, TypeError, ValueError, IndexError) as e:
            message = self.readable(str(e).split("\n")[0])
            error = exc.ShapeMismatch if "size" in message or "shape" in message else exc.DtypeMismatch
            raise error(f"{getattr(fn, '__name__', fn)}: {message}") from None

    def describe(self, dims: tuple[Dim, ...]) -> str:
        """Dims for messages: tiles and `:` dims by kind, literal sizes as numbers."""
        names = []
        for d in dims:
            if d.block is None:
                names.append(str(d.size))
            else:
                kind = self.blocks[d.block].kind
                names.append(f"<{'tile' if kind != 'reduction' else ':'} block {d.block}>")
        return "[" + ", ".join(names) + "]"

    def readable(self, message: str) -> str:
        """Torch's messages mention the stand-in sizes of block dims; name the blocks instead."""
        for block in self.blocks:
            message = re.sub(rf"\b{_PRIMES[block.id]}\b", f"<block {block.id}>", message)
        return message

    # --- helpers --------------------------------------------------------------------------------
    def as_node(self, value: Any, dtype: torch.dtype | None = None) -> Any:
        if isinstance(value, DeviceValue):
            return value.node
        if isinstance(value, TileProxy):
            return value._as_value().node
        if isinstance(value, torch.SymInt):
            if not symbols.is_symbolic(value):
                return symbols.hint(value)
            return self.emit("sym", (), torch.int32, (), "size", value=value)
        if isinstance(value, hl.RegisteredBlockSize) and value.block_id is not None:
            return self.emit("block_size", (), torch.int32, (), "block_size", block=value.block_id)
        return value

    def value(self, node: Node) -> DeviceValue:
        return DeviceValue(node)

    def cast(self, value: Any, dtype: torch.dtype) -> Any:
        if not isinstance(value, DeviceValue) or value.dtype == dtype:
            return value
        return DeviceValue(self.emit("cast", (value.node,), dtype, value.node.dims, "v"))

    def sizes_of(self, value: DeviceValue) -> list[Any]:
        sizes: list[Any] = []
        for d in value.node.dims:
            if d.block is None:
                sizes.append(d.size)
                continue
            block = self.blocks[d.block]
            if block.kind == "reduction":
                sizes.append(block.sym if block.sym is not None else block.extent)
            elif block.fixed is not None and block.extent is not None and block.extent % block.fixed == 0:
                sizes.append(block.fixed)
            else:
                sizes.append(self.tile_size(d.block))
        return sizes

    def tile_size(self, block_id: int) -> DeviceValue:
        """The elements of this tile of ``block_id`` inside its bounds, as eager PyTorch sees
        ``x[tile].size(d)``: the block size, less on a last, partial tile. As a shape entry it
        stands for the block (``hl.zeros([x[tile].size(0)])``)."""
        end = self.loop_bounds.get(block_id, (0, None))[1]
        end_node = self.as_node(end, torch.int32) if end is not None else None
        return DeviceValue(self.emit("tile_size", (end_node,), torch.int32, (), "size", block=block_id))

    def shape_dims(self, shape: Any) -> tuple[Dim, ...]:
        """Dims for hl.zeros/hl.full shapes: tiles, block sizes and ints."""
        if isinstance(shape, (int, torch.SymInt, TileProxy, DeviceValue, hl.RegisteredBlockSize)):
            shape = [shape]
        dims = []
        for item in shape:
            if isinstance(item, TileProxy):
                dims.append(ONE if item.is_grid else Dim(block=item.block_id))
            elif isinstance(item, hl.RegisteredBlockSize):
                dims.append(Dim(block=item.block_id))
            elif isinstance(item, DeviceValue) and item.node.op in ("block_size", "tile_size"):
                dims.append(Dim(block=item.node.attrs["block"]))
            elif symbols.is_host_int(item):
                one = not symbols.is_symbolic(item) and symbols.hint(item) == 1
                dims.append(ONE if one else Dim(block=self.reduction_block(item)))
            else:
                raise exc.UnsupportedOperation(
                    f"shape entries must be tiles, block sizes or ints, not {type(item).__name__}")
        return tuple(dims)

    # --- dispatch -------------------------------------------------------------------------------
    def torch_call(self, func: Any, args: tuple, kwargs: dict) -> Any:
        name = getattr(func, "__name__", str(func))
        if name in ("__getitem__", "__setitem__") and isinstance(args[0], torch.Tensor):
            _refuse_outside_tensors("indexing", args[:1], {})
        if name == "__getitem__" and isinstance(args[0], HostTensor):
            return args[0][args[1]]
        if name == "__setitem__" and isinstance(args[0], HostTensor):
            args[0][args[1]] = args[2]
            return None
        return self.lower(name, func, args, kwargs)

    def tensor_method(self, name: str, self_value: DeviceValue, args: tuple, kwargs: dict) -> Any:
        def method(meta_self: Any, *rest: Any, **kw: Any) -> Any:
            return getattr(meta_self, name)(*rest, **kw)
        method.__name__ = name
        return self.lower(name, method, (self_value, *args), kwargs)

    def binary(self, name: str, a: Any, b: Any) -> Any:
        if name == "add":
            fused = self.fuse_accumulate(a, b)
            if fused is None:
                fused = self.fuse_accumulate(b, a)
            if fused is not None:
                return fused
        if name == "matmul":
            return self.lower("matmul", torch.matmul, (a, b), {})
        return self.lower(name, getattr(torch, name), (a, b), {})

    def fuse_accumulate(self, acc: Any, product: Any) -> DeviceValue | None:
        """``acc + (a @ b)`` with an fp32 acc: accumulate inside tl.dot instead of rounding the
        product to 16 bits first (more precise, and one instruction on tensor cores)."""
        if not (isinstance(acc, DeviceValue) and isinstance(product, DeviceValue)):
            return None
        dot = product.node.args[0] if product.node.op == "cast" else product.node
        if dot.op != "dot" or dot.args[2] is not None:
            return None
        if acc.dtype != dot.dtype or acc.node.dims != dot.dims:
            return None
        return self.dot(DeviceValue(dot.args[0]), DeviceValue(dot.args[1]), acc, None)

    def subscript_value(self, value: DeviceValue, index: Any) -> Any:
        return self.lower("__getitem__", lambda v, i: v[i], (value, index), {})

    def lower(self, name: str, func: Any, args: tuple, kwargs: dict) -> Any:
        _refuse_outside_tensors(name, args, kwargs)
        if name in _DECOMPOSITIONS:
            return _DECOMPOSITIONS[name](*args, **kwargs)
        if name in _DOTS:
            return self.lower_dot_call(name, args, kwargs)
        elementwise = name in POINTWISE or name == "where" or name in _REDUCTIONS or name in _CASTS or \
            name in ("to", "type", "float")
        out = self.infer(func, args, kwargs, dims_from_operands=elementwise)
        if name in POINTWISE or name == "where":
            return self.pointwise(name, args, kwargs, out)
        if name in _REDUCTIONS:
            return self.reduction(name, args, kwargs, out)
        if name in _CASTS or name in ("to", "type", "float"):
            return self.cast(args[0], out.dtype)
        if name in _VIEWS:
            return self.view(name, args, kwargs, out)
        if name in ("zeros_like", "ones_like", "full_like", "empty_like"):
            fill = {"zeros_like": 0, "ones_like": 1, "empty_like": 0}.get(name, args[1] if len(args) > 1 else None)
            return DeviceValue(self.emit("full", (fill,), out.dtype, self.dims_of(out), "full"))
        raise exc.UnsupportedOperation(f"torch.{name} is not supported in device code")

    # --- op families ----------------------------------------------------------------------------
    def pointwise(self, name: str, args: tuple, kwargs: dict, out: torch.Tensor) -> DeviceValue:
        operands = [self.as_node(a) for a in args]
        if name in ("clamp", "clip"):
            operands = operands[:1] + [kwargs.get("min", args[1] if len(args) > 1 else None),
                                       kwargs.get("max", args[2] if len(args) > 2 else None)]
        if name in ("eq", "ne", "lt", "le", "gt", "ge"):
            compute = compute_dtype(torch.result_type(*self.meta(args[:2])))
        else:
            compute = compute_dtype(out.dtype)
        attrs = {"fn": name, "compute": compute, "kw": {k: v for k, v in kwargs.items()
                                                          if k not in ("min", "max")}}
        if name in POINTWISE and POINTWISE[name].libdevice:
            self.uses_libdevice = True
        return DeviceValue(self.emit("pointwise", tuple(operands), out.dtype, self.dims_of(out), "v", **attrs))

    def reduction(self, name: str, args: tuple, kwargs: dict, out: torch.Tensor) -> Any:
        value = args[0]
        dim = kwargs.get("dim", args[1] if len(args) > 1 else None)
        keepdim = kwargs.get("keepdim", args[2] if len(args) > 2 else False)
        axes = list(range(value.ndim)) if dim is None else ([dim] if isinstance(dim, int) else list(dim))
        axes = sorted({a % value.ndim for a in axes}, reverse=True)
        kind = name
        current = value.node
        for axis in axes:
            dims = list(current.dims)
            reduced = dims[axis]
            dims[axis] = ONE
            if not keepdim:
                del dims[axis]
            if kind in ("argmax", "argmin") and len(axes) > 1:
                raise exc.UnsupportedOperation(f"{kind} over several dims is not supported")
            result_dtype = torch.int32 if kind in ("argmax", "argmin") else compute_dtype(current.dtype)
            if reduced.block is not None and self.blocks[reduced.block].kind == "reduction" and \
                    kind in ("argmax", "argmin", "prod"):
                self.blocks[reduced.block].loopable = False
            current = self.emit("reduce", (current,), result_dtype, tuple(dims), kind,
                                kind=kind, axis=axis, keepdim=bool(keepdim), block=reduced.block,
                                compute=compute_dtype(current.dtype))
        return self.cast(DeviceValue(current), out.dtype)

    def view(self, name: str, args: tuple, kwargs: dict, out: torch.Tensor) -> DeviceValue:
        value = args[0]
        dims = self.dims_of(out)
        if name in ("contiguous", "clone", "detach"):
            return value
        if name == "__getitem__":
            index = args[1] if isinstance(args[1], tuple) else (args[1],)
            if any(not (i is None or i is Ellipsis or (isinstance(i, slice) and i.start is None
                                                         and i.stop is None and i.step is None))
                   for i in index):
                raise exc.UnsupportedOperation(
                    "device values can only be indexed with `:`, `None` and `...` (e.g. v[:, None])")
            return DeviceValue(self.emit("view", (value.node,), out.dtype, dims, "v", kind="index",
                                         index=_index_text(index, value.ndim)))
        if name == "unsqueeze":
            d = kwargs.get("dim", args[1] if len(args) > 1 else 0) % (value.ndim + 1)
            spec = tuple([slice(None)] * d + [None])
            return DeviceValue(self.emit("view", (value.node,), out.dtype, dims, "v", kind="index",
                                         index=_index_text(spec + (Ellipsis,), value.ndim)))
        if name in ("permute", "transpose", "t", "swapaxes"):
            order = _permutation(name, value.ndim, args[1:], kwargs)
            return DeviceValue(self.emit("view", (value.node,), out.dtype, dims, "v", kind="permute",
                                         order=order))
        if name in ("expand", "expand_as", "broadcast_to"):
            return DeviceValue(self.emit("view", (value.node,), out.dtype, dims, "v", kind="broadcast"))
        return DeviceValue(self.emit("view", (value.node,), out.dtype, dims, "v", kind="reshape"))

    def coerce_carried(self, final: DeviceValue, var: Node, name: str) -> Node:
        if final.node.dims != var.dims:
            shape = [self.rep_size(d) for d in var.dims]
            try:
                ok = list(torch.broadcast_shapes(tuple(self.meta(final).shape), tuple(shape))) == shape
            except RuntimeError:
                ok = False
            if not ok:
                raise exc.ShapeMismatch(
                    f"loop-carried {name!r} changes shape from {self.describe(var.dims)} to "
                    f"{self.describe(final.node.dims)}; keep the shape it had before the loop")
            final = DeviceValue(self.emit("view", (final.node,), final.dtype, var.dims, "v", kind="broadcast"))
        return self.cast(final, var.dtype).node

    # --- hl.* ----------------------------------------------------------------------------------
    def full(self, shape: Any, value: Any, dtype: torch.dtype) -> DeviceValue:
        fill = self.as_node(value)
        return DeviceValue(self.emit("full", (fill,), dtype, self.shape_dims(shape), "full"))

    def arange(self, *args: Any, dtype: torch.dtype | None = None) -> DeviceValue:
        begin, end = (0, args[0]) if len(args) == 1 else (args[0], args[1])
        if symbols.is_host_int(end) and symbols.is_host_int(begin):
            dims = self.shape_dims([end - begin])  # an int length shares the `:` dim of that size
        else:
            dims = self.shape_dims([end])
        node = self.emit("arange", (self.as_node(begin),),
                         torch.int32, dims, "arange")
        return self.cast(DeviceValue(node), dtype or torch.int32)

    def load(self, tensor: Any, index: list[Any], extra_mask: Any, eviction: Any) -> DeviceValue:
        arg = self.host_tensor(tensor)
        terms, dims = self.index_terms(arg, index)
        if extra_mask is False:  # a constant mask that keeps nothing: masked-off elements read as zero
            return DeviceValue(self.emit("full", (0,), arg.dtype, dims, "full"))
        extra_mask = self.predicated(None if extra_mask is True else extra_mask, dims, required=False)
        return DeviceValue(self.emit("load", (), arg.dtype, dims, "load", tensor=arg.name, terms=terms,
                                     extra_mask=self.as_node(extra_mask), eviction=eviction))

    def store(self, tensor: Any, index: list[Any], value: Any, extra_mask: Any) -> None:
        arg = self.host_tensor(tensor)
        terms, dims = self.index_terms(arg, index)
        if extra_mask is False:  # a constant mask that keeps nothing: nothing is written
            return
        extra_mask = self.predicated(None if extra_mask is True else extra_mask, dims, required=True)
        self.emit("store", (self.stored_value(value, dims, arg.dtype),), arg.dtype, (), "store",
                  tensor=arg.name, terms=terms, index_dims=dims, extra_mask=self.as_node(extra_mask))

    def atomic_add(self, tensor: Any, index: list[Any], value: Any, sem: str, fn: str = "add") -> DeviceValue:
        """``hl.atomic_<fn>`` (add, max, min, xchg, and, or, xor): one node op, ``fn`` names it."""
        arg = self.host_tensor(tensor)
        terms, dims = self.index_terms(arg, index)
        mask = self.as_node(self.predicated(None, dims, required=True))
        node = self.emit("atomic_add", (self.stored_value(value, dims, arg.dtype),), arg.dtype, dims,
                         "old", tensor=arg.name, terms=terms, index_dims=dims, sem=sem, extra_mask=mask, fn=fn)
        return DeviceValue(node)

    def stored_value(self, value: Any, dims: tuple[Dim, ...], dtype: torch.dtype) -> Any:
        if isinstance(value, TileProxy):
            value = value._as_value()
        if not isinstance(value, DeviceValue):
            if isinstance(value, (int, float, bool)):
                return value
            raise exc.UnsupportedOperation(f"cannot store a {type(value).__name__} into a tensor")
        vdims = value.node.dims
        if len(vdims) > len(dims) or any(v != ONE and v != d for v, d in zip(vdims[::-1], dims[::-1])):
            raise exc.ShapeMismatch(
                f"cannot store a value of shape {self.describe(vdims)} into an index of shape {self.describe(dims)}")
        return self.cast(value, dtype).node

    def index_terms(self, arg: Any, index: list[Any]) -> tuple[list[tuple], tuple[Dim, ...]]:
        """Per index element: (kind, payload, tensor_dim); and the dims of the indexed value."""
        rank = len(arg.shape)
        if any(i is Ellipsis for i in index):
            at = index.index(Ellipsis)
            fill = rank - (len([i for i in index if i is not None]) - 1)
            index = index[:at] + [slice(None)] * fill + index[at + 1:]
        consumed = len([i for i in index if i is not None])
        if consumed > rank:
            raise exc.ShapeMismatch(f"too many indices ({consumed}) for tensor {arg.name!r} of rank {rank}")
        index = list(index) + [slice(None)] * (rank - consumed)
        terms: list[tuple] = []
        dims: list[Dim] = []
        tdim = 0
        for item in index:
            if item is None:
                terms.append(("newaxis", None, None))
                dims.append(ONE)
                continue
            if isinstance(item, TileProxy) and not item.is_grid:
                terms.append(("block", item.block_id, tdim))
                if Dim(block=item.block_id) not in dims:
                    dims.append(Dim(block=item.block_id))
            elif isinstance(item, slice):
                if not (item.start is None and item.stop is None and item.step is None):
                    raise exc.UnsupportedOperation(
                        f"only full slices `:` are supported when indexing host tensors ({arg.name!r}); "
                        "index with a tile, or with `start + hl.arange(n)` for a run of n elements")
                size = arg.size_syms[tdim]
                if not symbols.is_symbolic(size) and symbols.hint(size) == 1:
                    terms.append(("zero", None, tdim))
                    dims.append(ONE)
                else:
                    block = self.reduction_block(size)
                    terms.append(("block", block, tdim))
                    dims.append(Dim(block=block))
            elif symbols.is_host_int(item) or isinstance(item, TileProxy) or \
                    (isinstance(item, DeviceValue) and item.ndim == 0):
                terms.append(("scalar", self.as_node(item), tdim))
            elif isinstance(item, DeviceValue):
                terms.append(("gather", item.node, tdim))
                dims.extend(d for d in item.node.dims if d not in dims or d == ONE)
            else:
                raise exc.UnsupportedOperation(
                    f"cannot index tensor {arg.name!r} with a {type(item).__name__}")
            tdim += 1
        return terms, tuple(dims)

    # --- matrix products ------------------------------------------------------------------------
    def lower_dot_call(self, name: str, args: tuple, kwargs: dict) -> DeviceValue:
        if name in ("addmm", "baddbmm"):
            acc, a, b = args[:3]
            for key in ("beta", "alpha"):
                if kwargs.get(key, 1) != 1:
                    raise exc.UnsupportedOperation(f"torch.{name} with {key} != 1 is not supported")
            return self.dot(a, b, acc, None)
        a, b = args[:2]
        result = self.dot(a, b, None, None)
        return self.cast(result, torch.promote_types(a.dtype, b.dtype))

    def dot(self, a: Any, b: Any, acc: Any, out_dtype: torch.dtype | None) -> DeviceValue:
        if not isinstance(a, DeviceValue) or not isinstance(b, DeviceValue):
            raise exc.UnsupportedOperation("hl.dot operands must be device tensors")
        if a.ndim not in (2, 3) or b.ndim != a.ndim:
            raise exc.ShapeMismatch(f"hl.dot needs two 2-D or two 3-D operands, got ranks {a.ndim} and {b.ndim}")
        k_a, k_b = a.node.dims[-1], b.node.dims[-2]
        if k_a != k_b:
            raise exc.ShapeMismatch(f"hl.dot: inner dimensions differ ({k_a} vs {k_b})")
        dims = a.node.dims[:-1] + (b.node.dims[-1],)
        if a.ndim == 3 and a.node.dims[0] != b.node.dims[0]:
            raise exc.ShapeMismatch("hl.dot: batch dimensions differ")
        for d in (*dims[-2:], k_a):  # tl.dot needs M, N, K >= 16 (batch dims are free)
            if d.block is not None:
                self.blocks[d.block].min_size = max(self.blocks[d.block].min_size, 16)
        if k_a.block is not None and min(a.dtype.itemsize, b.dtype.itemsize) == 1:
            self.blocks[k_a.block].min_size = 32  # 8-bit operands: sm_90's dot needs K >= 32
        if a.dtype.itemsize == 1 and b.dtype.itemsize == 1 and a.dtype.is_floating_point \
                and b.dtype.is_floating_point:
            common = a.dtype  # fp8 x fp8 (e4m3 with e5m2 too): tl.dot takes them as they are
        else:
            try:
                common = torch.promote_types(a.dtype, b.dtype)
            except RuntimeError as e:
                raise exc.DtypeMismatch(f"hl.dot of {a.dtype} and {b.dtype}: {e}") from None
            a, b = self.cast(a, common), self.cast(b, common)
        accum = torch.int32 if not common.is_floating_point else torch.float32
        acc_node = None
        if acc is not None:
            if acc.node.dims != dims:
                raise exc.ShapeMismatch(f"hl.dot: acc has shape {list(acc.node.dims)}, expected {list(dims)}")
            acc_node = self.cast(acc, accum).node
        node = self.emit("dot", (a.node, b.node, acc_node), accum, dims, "mm", k_block=k_a.block)
        target = out_dtype or (acc.dtype if acc is not None else accum)
        return self.cast(DeviceValue(node), target)


def _refuse_outside_tensors(name: str, args: tuple, kwargs: dict) -> None:
    """Device code reaches host tensors through the kernel's arguments (and tensors host code
    made) only: a tensor read from a global or closure variable has no pointer in the kernel."""
    for value in (*args, *kwargs.values()):
        for item in (value if isinstance(value, (list, tuple)) else (value,)):
            if isinstance(item, torch.Tensor):
                raise exc.UnsupportedOperation(
                    f"{name}: device code uses a torch.Tensor that is neither a kernel argument nor "
                    f"made by the kernel's host code (a global or closure variable?); pass it to the "
                    "kernel as an argument")


def _index_text(index: tuple, rank: int) -> str:
    parts: list[str] = []
    explicit = len([i for i in index if i is not None and i is not Ellipsis])
    for item in index:
        if item is None:
            parts.append("None")
        elif item is Ellipsis:
            parts.extend([":"] * (rank - explicit))
        else:
            parts.append(":")
    if Ellipsis not in index:
        parts.extend([":"] * (rank - explicit))
    return "[" + ", ".join(parts) + "]"


def _permutation(name: str, rank: int, args: tuple, kwargs: dict) -> list[int]:
    if name == "t" or (name in ("transpose", "swapaxes") and not args and not kwargs):
        return [1, 0]
    if name in ("transpose", "swapaxes"):
        a, b = (args[0] % rank, args[1] % rank)
        order = list(range(rank))
        order[a], order[b] = order[b], order[a]
        return order
    dims = args[0] if len(args) == 1 and isinstance(args[0], (list, tuple)) else args
    return [d % rank for d in (dims or kwargs["dims"])]


# --- composite ops, written in torch over proxies ------------------------------------------------

def _reduced_count(x: DeviceValue, dim: Any) -> int:
    from ..language._dispatch import active
    ctx = active()
    axes = range(x.ndim) if dim is None else ([dim] if isinstance(dim, int) else dim)
    count = 1
    for axis in axes:
        d = x.node.dims[axis % x.ndim]
        if d.block is None:
            count *= d.size
        elif ctx.blocks[d.block].kind == "reduction":
            block = ctx.blocks[d.block]
            count = count * (block.sym if block.sym is not None else block.extent)
        else:  # the tile's elements inside the bounds, as eager PyTorch counts them
            count = count * ctx.tile_size(d.block)
    return count


def _mean(x: DeviceValue, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> DeviceValue:
    source = x.to(dtype) if dtype is not None else x
    total = torch.sum(source.to(compute_dtype(source.dtype)), dim=dim, keepdim=keepdim)
    return (total / _reduced_count(x, dim)).to(source.dtype)


def _var(x: DeviceValue, dim: Any = None, unbiased: Any = None, keepdim: bool = False, *,
         correction: Any = None) -> DeviceValue:
    if isinstance(unbiased, (int, list, tuple)) and not isinstance(unbiased, bool) and dim is None:
        dim, unbiased = unbiased, None
    if correction is None:
        correction = 1 if unbiased is None or unbiased else 0
    xf = x.to(compute_dtype(x.dtype))
    centered = xf - _mean(xf, dim, keepdim=True)
    squares = torch.sum(centered * centered, dim=dim, keepdim=keepdim)
    count = _reduced_count(x, dim) - correction
    return (squares / (max(count, 1) if isinstance(count, int) else count)).to(x.dtype)


def _var_mean(x: DeviceValue, dim: Any = None, unbiased: Any = None, keepdim: bool = False, *,
              correction: Any = None) -> tuple[DeviceValue, DeviceValue]:
    """``torch.var_mean``: (variance, mean), each as ``torch.var``/``torch.mean`` give it."""
    if isinstance(unbiased, (int, list, tuple)) and not isinstance(unbiased, bool) and dim is None:
        dim, unbiased = unbiased, None
    return (_var(x, dim, unbiased, keepdim, correction=correction), _mean(x, dim, keepdim))


def _std(x: DeviceValue, *args: Any, **kwargs: Any) -> DeviceValue:
    return torch.sqrt(_var(x, *args, **kwargs))


def _softmax(x: DeviceValue, dim: int, dtype: Any = None, _stacklevel: int = 3) -> DeviceValue:
    target = dtype or x.dtype
    xf = x.to(compute_dtype(target))
    shifted = xf - torch.amax(xf, dim=dim, keepdim=True)
    e = torch.exp(shifted)
    return (e / torch.sum(e, dim=dim, keepdim=True)).to(target)


def _log_softmax(x: DeviceValue, dim: int, dtype: Any = None, _stacklevel: int = 3) -> DeviceValue:
    target = dtype or x.dtype
    xf = x.to(compute_dtype(target))
    shifted = xf - torch.amax(xf, dim=dim, keepdim=True)
    return (shifted - torch.log(torch.sum(torch.exp(shifted), dim=dim, keepdim=True))).to(target)


def _max_or_min(kind: str) -> Any:
    def lower(x: Any, dim: Any = None, keepdim: bool = False) -> Any:
        if isinstance(dim, (DeviceValue, TileProxy, float)):
            return getattr(torch, "maximum" if kind == "max" else "minimum")(x, dim)
        if dim is None:
            return getattr(torch, f"a{kind}")(x)
        values = getattr(torch, f"a{kind}")(x, dim=dim, keepdim=keepdim)
        indices = getattr(torch, f"arg{kind}")(x, dim=dim, keepdim=keepdim)
        return MaxResult(values, indices)
    return lower


def _masked_fill(x: DeviceValue, mask: Any, value: Any) -> DeviceValue:
    """``x.masked_fill(mask, value)``: ``value`` where ``mask`` holds, in ``x``'s dtype."""
    return torch.where(mask, value, x).to(x.dtype)


def _cumulative(kind: str) -> Any:
    def lower(x: Any, dim: int, *, dtype: Any = None) -> Any:
        from ..language._dispatch import active
        out = torch.empty(0, dtype=x.dtype).cumsum(0, dtype=dtype).dtype  # torch's result dtype
        return active().cumulative(kind, x, dim, dtype=out)
    return lower


_DECOMPOSITIONS = {
    "cumsum": _cumulative("cumsum"), "cumprod": _cumulative("cumprod"),
    "mean": _mean, "var": _var, "var_mean": _var_mean, "std": _std, "softmax": _softmax, "log_softmax": _log_softmax,
    "max": _max_or_min("max"), "min": _max_or_min("min"), "masked_fill": _masked_fill,
}
