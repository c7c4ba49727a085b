"""Zero-filled outputs that a device loop overwrites whole are allocated empty instead.

``out = torch.zeros_like(x)`` before a loop that stores every element of ``out`` writes the
tensor twice: the fill is a pass over memory as large as a masked copy's own output traffic.
When the loop's one store covers ``out`` (its index is exactly the loop's tiles, each spanning a
whole dim from 0), the host allocates ``out`` with ``torch.empty_like`` (``torch.empty``,
``new_empty``), and a masked store (``hl.store(out, idx, v, extra_mask=keep)``) writes
``torch.where(keep, v, 0)`` under the bounds mask alone, so every element is still written.

Host side (:func:`mark_candidates`, syntax only): a top-level ``NAME = torch.zeros(...)``,
``torch.zeros_like(...)`` or ``x.new_zeros(...)`` without ``out=``, NAME assigned nowhere else and
named by no nested function or lambda, and the next top-level statement that mentions NAME is a
device loop. Device side (:func:`covering_store`, after tracing): that loop stores to NAME once,
in its body's top level (not in an inner loop), over the whole tensor, and never reads it.
"""
from __future__ import annotations

import ast
from collections.abc import Callable
from typing import Any

import torch

from . import symbols
from .ir import DeviceFunction, Node
from .source import KernelSource

ALLOC = "__helion_alloc__"
ZERO_FILLS = (torch.zeros, torch.zeros_like)  # and the method Tensor.new_zeros
EMPTY_OF: dict[Any, Callable[..., Any]] = {  # the twin that skips the fill (tests poison it)
    torch.zeros: torch.empty, torch.zeros_like: torch.empty_like,
    "new_zeros": lambda tensor: tensor.new_empty}


def mark_candidates(source: KernelSource, body: list[ast.stmt], launch: str) -> dict[int, list[str]]:
    """Wrap each candidate allocation's function in ``__helion_alloc__(NAME, fn)`` (in ``body``,
    the host body with loops replaced by ``launch(index, (captured...))`` calls); returns the
    candidate names per device loop index."""
    stores: dict[str, int] = {}
    for node in ast.walk(ast.Module(body=body, type_ignores=[])):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            stores[node.id] = stores.get(node.id, 0) + 1
    params = {a.arg for a in ast.walk(source.tree.args) if isinstance(a, ast.arg)}
    closures = {n.id for fn in ast.walk(ast.Module(body=body, type_ignores=[]))
                if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
                for n in ast.walk(fn) if isinstance(n, ast.Name)}  # may read NAME at any time
    found: dict[int, list[str]] = {}
    for at, stmt in enumerate(body):
        name = _zeros_assignment(source, stmt)
        if name is None or stores[name] != 1 or name in params or name in closures:
            continue
        loop = next((_launch_index(s, launch) for s in body[at + 1:] if _mentions(s, name)), None)
        if loop is None:
            continue
        call = stmt.value  # type: ignore[attr-defined]
        call.func = ast.Call(ast.Name(ALLOC, ast.Load()), [ast.Constant(name), call.func], [])
        found.setdefault(loop, []).append(name)
    return found


def _zeros_assignment(source: KernelSource, stmt: ast.stmt) -> str | None:
    if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)
            and isinstance(stmt.value, ast.Call)):
        return None
    if any(k.arg == "out" for k in stmt.value.keywords):  # fills a tensor that exists already
        return None
    func = stmt.value.func
    resolved = source.resolve_dotted(func)
    if (isinstance(func, ast.Attribute) and func.attr == "new_zeros") or any(resolved is f for f in ZERO_FILLS):
        return stmt.targets[0].id
    return None


def _mentions(stmt: ast.stmt, name: str) -> bool:
    return any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(stmt))


def _launch_index(stmt: ast.stmt, launch: str) -> int | None:
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call) and \
            isinstance(stmt.value.func, ast.Name) and stmt.value.func.id == launch:
        return stmt.value.args[0].value  # type: ignore[attr-defined]
    return None


def allocator(elided: frozenset[str]) -> Callable[[str, Callable[..., Any]], Callable[..., Any]]:
    """``__helion_alloc__`` for a host function: the empty twin of ``zeros`` for elided names."""
    def alloc(name: str, zeros: Callable[..., Any]) -> Callable[..., Any]:
        if name not in elided:
            return zeros
        if getattr(zeros, "__name__", None) == "new_zeros" and isinstance(getattr(zeros, "__self__", None),
                                                                        torch.Tensor):
            return EMPTY_OF["new_zeros"](zeros.__self__)
        return EMPTY_OF.get(zeros, zeros)
    return alloc


def covering_store(fn: DeviceFunction, name: str, bounds: dict[int, tuple[Any, Any]]) -> Node | None:
    """The store that writes every element of tensor ``name`` exactly once, if the loop has one
    and no other access to it; ``bounds`` maps each grid block to its loop's (begin, end)."""
    uses = [n for n in fn.walk() if n.attrs.get("tensor") == name]
    if len(uses) != 1 or uses[0].op != "store" or not any(n is uses[0] for n in fn.body):
        return None
    store = uses[0]
    terms = store.attrs["terms"]
    sizes = fn.tensor_args[name].size_syms
    if len(terms) != len(sizes) or any(kind != "block" for kind, _, _ in terms):
        return None
    if sorted(block for _, block, _ in terms) != sorted(fn.grid_blocks):
        return None  # a grid dim missing from the index: several programs write one element
    for _, block, tdim in terms:
        begin, end = bounds[block]
        if symbols.key(begin) != 0 or symbols.key(end) != symbols.key(sizes[tdim]):
            return None
    return store
