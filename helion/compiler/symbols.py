"""Symbolic sizes for ``static_shapes=False``.

Host code is traced on fake tensors whose sizes are torch ``SymInt``s; sizes reaching device code
stay symbolic. Their expressions are printed into the kernel (as parameters named after a tensor
dimension, e.g. ``x_size_0``) and into the launcher (computed from the tensors at launch).
"""
from __future__ import annotations

from typing import Any

import torch

from .. import exc


def is_symbolic(value: Any) -> bool:
    return isinstance(value, torch.SymInt) and not _expr(value).is_number


def is_host_int(value: Any) -> bool:
    """A Python int or a SymInt (a size known on the host)."""
    return (isinstance(value, int) and not isinstance(value, bool)) or isinstance(value, torch.SymInt)


def hint(value: Any) -> int:
    """The concrete value seen while tracing (the size hint)."""
    if isinstance(value, torch.SymInt):
        return int(value.node.hint)
    return int(value)


def key(value: Any) -> Any:
    """A hashable identity: equal for the same expression, without installing guards."""
    return ("sym", str(_expr(value))) if is_symbolic(value) else hint(value)


def _expr(value: Any) -> Any:
    return value.node.expr


def free_symbols(value: Any) -> set[Any]:
    return set(_expr(value).free_symbols) if is_symbolic(value) else set()


def render(value: Any, names: dict[Any, str], python: bool = False) -> str:
    """Source text of an int or SymInt; ``names`` maps sympy symbols to variable names."""
    if not is_symbolic(value):
        return str(hint(value))
    return _print(_expr(value), names, python)


def _print(expr: Any, names: dict[Any, str], python: bool) -> str:
    if expr in names:
        return names[expr]
    if expr.is_Symbol:
        raise exc.UnsupportedOperation(
            f"static_shapes=False: the size {expr} is not a dimension of a tensor the device loop uses")
    if expr.is_Integer:
        return str(int(expr))
    args = [_print(a, names, python) for a in expr.args]
    kind = type(expr).__name__
    if kind == "Add":
        return "(" + " + ".join(args) + ")"
    if kind == "Mul":
        return "(" + " * ".join(args) + ")"
    if kind in ("FloorDiv", "CleanDiv", "IntTrueDiv"):
        return f"({args[0]} // {args[1]})"
    if kind in ("Mod", "PythonMod"):
        return f"({args[0]} % {args[1]})"
    if kind == "Pow" and expr.args[1].is_Integer and int(expr.args[1]) > 0:
        return "(" + " * ".join([args[0]] * int(expr.args[1])) + ")"
    if kind in ("Max", "Min"):
        fn = kind.lower() if python else f"tl.{'maximum' if kind == 'Max' else 'minimum'}"
        out = args[0]
        for a in args[1:]:
            out = f"{fn}({out}, {a})"
        return out
    raise exc.UnsupportedOperation(f"static_shapes=False: cannot print the size expression {expr}")
