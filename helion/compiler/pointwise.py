"""Triton spellings of elementwise torch ops.

Each entry renders operand expressions (already cast to the compute dtype) to a Triton expression.
``gpu=False`` is Triton's CPU interpreter, where libdevice calls do not exist: those ops are
written with ``tl`` builtins instead.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Render = Callable[[list[str], dict[str, Any], bool], str]


@dataclass(frozen=True)
class PointwiseOp:
    render: Render
    libdevice: bool = False     # the GPU form calls libdevice
    cast_args: tuple[int, ...] | None = None  # operand positions cast to the compute dtype (None: all)


def _infix(symbol: str) -> PointwiseOp:
    return PointwiseOp(lambda a, kw, gpu: f"{a[0]} {symbol} {a[1]}")


def _call(fn: str, arity: int = 1) -> PointwiseOp:
    return PointwiseOp(lambda a, kw, gpu: f"{fn}({', '.join(a[:arity])})")


def _tanh(x: str, gpu: bool) -> str:
    return f"libdevice.tanh({x})" if gpu else f"(2.0 * tl.sigmoid(2.0 * {x}) - 1.0)"


def _gelu(a: list[str], kw: dict[str, Any], gpu: bool) -> str:
    x = a[0]
    if kw.get("approximate", "none") == "tanh":
        inner = f"0.7978845608028654 * ({x} + 0.044715 * {x} * {x} * {x})"
        return f"0.5 * {x} * (1.0 + {_tanh(inner, gpu)})"
    return f"0.5 * {x} * (1.0 + tl.erf({x} * 0.7071067811865476))"


def _pow(a: list[str], kw: dict[str, Any], gpu: bool) -> str:
    base, exponent = a
    try:
        value = float(exponent)
    except ValueError:
        value = None
    if value is not None and value.is_integer() and 0 <= value <= 4:
        return " * ".join([base] * int(value)) if value else f"tl.full([], 1.0, tl.float32) + 0 * {base}"
    if value == 0.5:
        return f"tl.sqrt({base})"
    if gpu:
        return f"libdevice.pow({base}, {exponent})"
    return f"tl.exp2({exponent} * tl.log2({base}))"


def _floor_divide(a: list[str], kw: dict[str, Any], gpu: bool) -> str:
    x, y = a
    if kw.get("_float"):
        return f"tl.floor({x} / {y})"
    q = f"({x} // {y})"  # Triton truncates toward zero; torch floors
    return f"tl.where((({x} % {y}) != 0) & (({x} < 0) != ({y} < 0)), {q} - 1, {q})"


def _remainder(a: list[str], kw: dict[str, Any], gpu: bool) -> str:
    x, y = a
    if kw.get("_float"):
        return f"({x} - tl.floor({x} / {y}) * {y})"
    r = f"({x} % {y})"  # the sign of the result follows the divisor, as in torch
    return f"tl.where(({r} != 0) & (({r} < 0) != ({y} < 0)), {r} + {y}, {r})"


def _clamp(a: list[str], kw: dict[str, Any], gpu: bool) -> str:
    out = a[0]
    if a[1] != "None":
        out = f"tl.maximum({out}, {a[1]})"
    if a[2] != "None":
        out = f"tl.minimum({out}, {a[2]})"
    return out


POINTWISE: dict[str, PointwiseOp] = {
    "add": _infix("+"), "sub": _infix("-"), "mul": _infix("*"), "div": _infix("/"),
    "true_divide": _infix("/"), "floor_divide": PointwiseOp(_floor_divide), "remainder": PointwiseOp(_remainder),
    "eq": _infix("=="), "ne": _infix("!="), "lt": _infix("<"), "le": _infix("<="), "gt": _infix(">"),
    "ge": _infix(">="), "bitwise_and": _infix("&"), "bitwise_or": _infix("|"), "bitwise_xor": _infix("^"),
    "logical_and": _infix("&"), "logical_or": _infix("|"),
    "bitwise_left_shift": _infix("<<"), "bitwise_right_shift": _infix(">>"),
    "neg": PointwiseOp(lambda a, kw, gpu: f"-{a[0]}"),
    "bitwise_not": PointwiseOp(lambda a, kw, gpu: f"~{a[0]}"),
    "logical_not": PointwiseOp(lambda a, kw, gpu: f"{a[0]} == 0"),
    "abs": _call("tl.abs"), "exp": _call("tl.exp"), "exp2": _call("tl.exp2"), "log": _call("tl.log"),
    "log2": _call("tl.log2"), "sqrt": _call("tl.sqrt"), "rsqrt": _call("tl.rsqrt"), "sin": _call("tl.sin"),
    "cos": _call("tl.cos"), "erf": _call("tl.erf"), "floor": _call("tl.floor"), "ceil": _call("tl.ceil"),
    "sigmoid": _call("tl.sigmoid"), "maximum": _call("tl.maximum", 2), "minimum": _call("tl.minimum", 2),
    "fmax": _call("tl.maximum", 2), "fmin": _call("tl.minimum", 2),
    "log1p": PointwiseOp(lambda a, kw, gpu: f"tl.log(1.0 + {a[0]})"),
    "expm1": PointwiseOp(lambda a, kw, gpu: f"(tl.exp({a[0]}) - 1.0)"),
    "reciprocal": PointwiseOp(lambda a, kw, gpu: f"1.0 / {a[0]}"),
    "square": PointwiseOp(lambda a, kw, gpu: f"{a[0]} * {a[0]}"),
    "relu": PointwiseOp(lambda a, kw, gpu: f"tl.maximum({a[0]}, 0)"),
    "silu": PointwiseOp(lambda a, kw, gpu: f"{a[0]} * tl.sigmoid({a[0]})"),
    "tanh": PointwiseOp(lambda a, kw, gpu: _tanh(a[0], gpu), libdevice=True),
    "gelu": PointwiseOp(_gelu, libdevice=True),
    "pow": PointwiseOp(_pow, libdevice=True),
    "clamp": PointwiseOp(_clamp), "clip": PointwiseOp(_clamp),
    "where": PointwiseOp(lambda a, kw, gpu: f"tl.where({a[0]}, {a[1]}, {a[2]})", cast_args=(1, 2)),
}
