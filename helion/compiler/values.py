"""Proxy objects that device code computes with while the compiler traces a device loop.

User expressions are evaluated by Python itself; these proxies turn each operation into IR through
the active lowering context (``torch.*`` calls arrive via ``__torch_function__``).
"""
from __future__ import annotations

import os
import sys
from typing import Any

import torch

from .. import exc
from ..language._dispatch import active
from .ir import Node

_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _ctx() -> Any:
    return active()


class DeviceValue:
    """A tensor (or scalar) living in device code; wraps one IR node."""

    __slots__ = ("node",)

    def __init__(self, node: Node):
        self.node = node

    # --- metadata -----------------------------------------------------------------------------
    @property
    def dtype(self) -> torch.dtype:
        return self.node.dtype

    @property
    def ndim(self) -> int:
        return self.node.rank

    def dim(self) -> int:
        return self.node.rank

    @property
    def shape(self) -> list[Any]:
        return _ctx().sizes_of(self)

    def size(self, dim: int | None = None) -> Any:
        sizes = _ctx().sizes_of(self)
        return sizes if dim is None else sizes[dim]

    @property
    def device(self) -> torch.device:
        return _ctx().device

    @property
    def T(self) -> "DeviceValue":  # noqa: N802 (torch spelling)
        return _ctx().tensor_method("t", self, (), {})

    def __repr__(self) -> str:
        return f"DeviceValue({self.node!r})"

    # --- torch dispatch ---------------------------------------------------------------------------
    @classmethod
    def __torch_function__(cls, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        return _ctx().torch_call(func, args, kwargs or {})

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return lambda *args, **kwargs: _ctx().tensor_method(name, self, args, kwargs)

    def __getitem__(self, index: Any) -> "DeviceValue":
        return _ctx().subscript_value(self, index)

    def __setitem__(self, index: Any, value: Any) -> None:
        raise exc.UnsupportedOperation(
            "device values cannot be assigned into; compute a new value (e.g. torch.where) instead")

    def __bool__(self) -> bool:
        caller = sys._getframe(1)  # a helper function's line, when the test is in one
        error = exc.UnsupportedOperation(
            "a Python truth test on a device value (`a if cond else b`, `while`, `and`/`or` in an "
            "expression, or an `if` inside a helper function) is not supported; use torch.where, or "
            "an `if` statement in the kernel's device loop")
        if caller.f_code.co_filename != "<string>" and not caller.f_code.co_filename.startswith(_PACKAGE):
            error.at(caller.f_code.co_filename, caller.f_lineno)
        raise error

    def __len__(self) -> int:
        raise exc.UnsupportedOperation("len() of a device value is not supported; use .size(0)")

    def __iter__(self) -> Any:
        raise exc.UnsupportedOperation("iterating over a device value is not supported")

    def __index__(self) -> int:
        raise exc.UnsupportedOperation("a device value cannot be used as a Python int")

    __hash__ = object.__hash__


def _binary(op: str, reverse: bool = False) -> Any:
    def method(self: DeviceValue, other: Any) -> Any:
        a, b = (other, self) if reverse else (self, other)
        return _ctx().binary(op, a, b)
    method.__name__ = op
    return method


_BINARY = {
    "add": "add", "sub": "sub", "mul": "mul", "truediv": "div", "floordiv": "floor_divide",
    "mod": "remainder", "pow": "pow", "matmul": "matmul", "and": "bitwise_and", "or": "bitwise_or",
    "xor": "bitwise_xor", "lshift": "bitwise_left_shift", "rshift": "bitwise_right_shift",
}
for _py, _torch_name in _BINARY.items():
    setattr(DeviceValue, f"__{_py}__", _binary(_torch_name))
    setattr(DeviceValue, f"__r{_py}__", _binary(_torch_name, reverse=True))
for _py, _torch_name in {"eq": "eq", "ne": "ne", "lt": "lt", "le": "le", "gt": "gt", "ge": "ge"}.items():
    setattr(DeviceValue, f"__{_py}__", _binary(_torch_name))
DeviceValue.__neg__ = lambda self: _ctx().tensor_method("neg", self, (), {})  # type: ignore[attr-defined]
DeviceValue.__pos__ = lambda self: self  # type: ignore[attr-defined]
DeviceValue.__abs__ = lambda self: _ctx().tensor_method("abs", self, (), {})  # type: ignore[attr-defined]
DeviceValue.__invert__ = lambda self: _ctx().tensor_method("bitwise_not", self, (), {})  # type: ignore[attr-defined]


class TileProxy:
    """A tile of a ``hl.tile`` loop (or a scalar index of ``hl.grid``) inside device code."""

    def __init__(self, block_id: int, is_grid: bool = False):
        self.block_id = block_id
        self.is_grid = is_grid

    @property
    def index(self) -> DeviceValue:
        return _ctx().tile_attr(self, "index")

    @property
    def begin(self) -> DeviceValue:
        return _ctx().tile_attr(self, "begin")

    @property
    def end(self) -> DeviceValue:
        return _ctx().tile_attr(self, "end")

    @property
    def block_size(self) -> Any:
        return _ctx().tile_attr(self, "block_size")

    @property
    def id(self) -> DeviceValue:
        return _ctx().tile_attr(self, "id")

    @property
    def count(self) -> Any:
        return _ctx().tile_attr(self, "count")

    def __repr__(self) -> str:
        return f"{'grid' if self.is_grid else 'tile'}(block {self.block_id})"

    # a grid index behaves as a scalar device value in arithmetic
    def _as_value(self) -> DeviceValue:
        if not self.is_grid:
            raise exc.UnsupportedOperation(
                "a tile is not a number; use tile.index, tile.begin or tile.block_size")
        return _ctx().tile_attr(self, "index")

    @classmethod
    def __torch_function__(cls, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        return _ctx().torch_call(func, args, kwargs or {})


def _grid_binary(name: str, reverse: bool = False) -> Any:
    def method(self: TileProxy, other: Any) -> Any:
        value = self._as_value()
        other = other._as_value() if isinstance(other, TileProxy) else other
        return _ctx().binary(name, other, value) if reverse else _ctx().binary(name, value, other)
    return method


for _py, _torch_name in {**_BINARY, "eq": "eq", "ne": "ne", "lt": "lt", "le": "le", "gt": "gt",
                         "ge": "ge"}.items():
    if _py in ("matmul",):
        continue
    setattr(TileProxy, f"__{_py}__", _grid_binary(_torch_name))
    if _py not in ("eq", "ne", "lt", "le", "gt", "ge"):
        setattr(TileProxy, f"__r{_py}__", _grid_binary(_torch_name, reverse=True))
TileProxy.__hash__ = object.__hash__  # type: ignore[method-assign]


class HostTensor:
    """A host tensor seen from device code: indexing it loads, assigning into it stores."""

    def __init__(self, name: str, meta: torch.Tensor):
        self.name = name
        self.meta = meta

    @property
    def dtype(self) -> torch.dtype:
        return self.meta.dtype

    @property
    def shape(self) -> torch.Size:
        return self.meta.shape

    def size(self, dim: int | None = None) -> Any:
        return self.meta.size() if dim is None else self.meta.size(dim)

    def stride(self, dim: int | None = None) -> Any:
        return self.meta.stride() if dim is None else self.meta.stride(dim)

    def numel(self) -> int:
        return self.meta.numel()

    def dim(self) -> int:
        return self.meta.dim()

    @property
    def ndim(self) -> int:
        return self.meta.dim()

    @property
    def device(self) -> torch.device:
        return _ctx().device

    def __getitem__(self, index: Any) -> DeviceValue:
        return _ctx().load(self, _as_list(index), None, None)

    def __setitem__(self, index: Any, value: Any) -> None:
        _ctx().store(self, _as_list(index), value, None)

    def _new(self, size: Any, value: Any, dtype: torch.dtype | None) -> DeviceValue:
        shape = list(size[0]) if len(size) == 1 and isinstance(size[0], (list, tuple, torch.Size)) else list(size)
        return _ctx().full(shape, value, dtype or self.meta.dtype)

    def new_zeros(self, *size: Any, dtype: torch.dtype | None = None, **_: Any) -> DeviceValue:
        """A device tensor of zeros (as ``hl.zeros``), of this tensor's dtype unless given."""
        return self._new(size, 0, dtype)

    def new_ones(self, *size: Any, dtype: torch.dtype | None = None, **_: Any) -> DeviceValue:
        return self._new(size, 1, dtype)

    def new_full(self, size: Any, fill_value: Any, dtype: torch.dtype | None = None, **_: Any) -> DeviceValue:
        return self._new((size,), fill_value, dtype)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        raise exc.UnsupportedOperation(
            f"host tensor {self.name!r} can only be indexed in device code "
            f"(e.g. {self.name}[tile]); `.{name}` is not available there")

    def __repr__(self) -> str:
        return f"HostTensor({self.name}, {list(self.meta.shape)}, {self.meta.dtype})"


def _as_list(index: Any) -> list[Any]:
    return list(index) if isinstance(index, tuple) else [index]
