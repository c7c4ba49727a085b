"""Splits a kernel into host code and device loops.

Every ``for ... in hl.tile(...)`` / ``hl.grid(...)`` loop that is not inside another device loop is
device code. The host function is rebuilt with each such loop replaced by a call
``__helion_launch__(index, (captured host values...))``; the host code then runs as plain PyTorch.
"""
from __future__ import annotations

import ast
import copy
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .. import exc
from .. import language as hl
from . import zero_fill
from .source import KernelSource

LAUNCH = "__helion_launch__"


@dataclass
class DeviceLoop:
    """One top-level device loop: its AST, the host names it reads (in order), and the zero-filled
    tensors it may overwrite whole (``zero_fill``)."""

    index: int
    node: ast.For
    captured: list[str]
    zero_filled: list[str] = field(default_factory=list)


@dataclass
class HostProgram:
    """The kernel split into a host function and its device loops."""

    source: KernelSource
    loops: list[DeviceLoop]
    make_host_fn: Callable[..., Callable[..., Any]]  # (launch, elided zero fills) -> host function


def is_device_loop(source: KernelSource, node: ast.AST) -> bool:
    if not isinstance(node, ast.For) or not isinstance(node.iter, ast.Call):
        return False
    return source.resolve_dotted(node.iter.func) in (hl.tile, hl.grid)


def _names(nodes: list[ast.AST], context: type[ast.expr_context]) -> dict[str, ast.AST]:
    """Names stored (``ast.Store``: assignments, for-targets) or read (``ast.Load``) in ``nodes``,
    each with its first site."""
    found: dict[str, ast.AST] = {}
    for root in nodes:
        for node in ast.walk(root):
            if isinstance(node, ast.Name) and isinstance(node.ctx, context):
                found.setdefault(node.id, node)
    return found


def _assigned_names(nodes: list[ast.AST]) -> dict[str, ast.AST]:
    return _names(nodes, ast.Store)


class _LoopReplacer(ast.NodeTransformer):
    """Replaces device loops by launch calls and collects them, host statements otherwise kept."""

    def __init__(self, source: KernelSource):
        self.source = source
        self.loops: list[ast.For] = []
        self.host_nodes: list[ast.AST] = []

    def visit_For(self, node: ast.For) -> ast.AST:
        if not is_device_loop(self.source, node):
            return self.generic_visit(node)
        self.loops.append(node)
        call = ast.Call(func=ast.Name(LAUNCH, ast.Load()),
                        args=[ast.Constant(len(self.loops) - 1), ast.Tuple([], ast.Load())], keywords=[])
        return ast.copy_location(ast.Expr(call), node)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        return node  # nested helper functions stay as written

    visit_Lambda = visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]


def split(source: KernelSource) -> HostProgram:
    """Find the device loops, check the host/device boundary, and build the host function maker."""
    tree = source.tree
    params = [a.arg for a in tree.args.posonlyargs + tree.args.args + tree.args.kwonlyargs]
    params += [a.arg for a in (tree.args.vararg, tree.args.kwarg) if a is not None]
    replacer = _LoopReplacer(source)
    body = [replacer.visit(stmt) for stmt in copy.deepcopy(tree).body]
    if not replacer.loops:
        raise source.error(exc.UnsupportedSyntax,
                           "a @helion.kernel needs at least one `for tile in hl.tile(...)` device loop",
                           tree)
    host_assigned = set(_assigned_names(body)) | set(params)
    device_locals: dict[str, ast.AST] = {}
    loops = []
    for index, loop in enumerate(replacer.loops):
        assigned = _assigned_names([loop.target, *loop.body])
        for name, node in assigned.items():
            if name in host_assigned:
                raise source.error(
                    exc.HostDeviceError,
                    f"device code cannot assign the host variable {name!r}; "
                    f"write results into a tensor instead (e.g. out[tile] = ...)", node)
        device_locals.update(assigned)
        loaded = _names([loop.iter, *loop.body], ast.Load)
        captured = [n for n in loaded if n in host_assigned]
        loops.append(DeviceLoop(index, loop, captured))
    for name, node in _names(body, ast.Load).items():
        if name in device_locals and name not in host_assigned:
            raise source.error(
                exc.HostDeviceError,
                f"host code reads {name!r}, a value computed in device code; "
                f"store it into a tensor inside the loop and read that tensor on the host", node)
    _fill_launch_arguments(body, loops)
    for index, names in zero_fill.mark_candidates(source, body, LAUNCH).items():
        loops[index].zero_filled = names
    return HostProgram(source, loops, _host_fn_maker(source, tree, body))




def _fill_launch_arguments(body: list[ast.stmt], loops: list[DeviceLoop]) -> None:
    for node in ast.walk(ast.Module(body=body, type_ignores=[])):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == LAUNCH:
            loop = loops[node.args[0].value]
            node.args[1] = ast.Tuple([ast.Name(n, ast.Load()) for n in loop.captured], ast.Load())


def _host_fn_maker(source: KernelSource, tree: ast.FunctionDef,
                   body: list[ast.stmt]) -> Callable[..., Callable[..., Any]]:
    """Compile the host function; the result maps a launcher (and the names whose zero fill is
    elided) to a callable host function."""
    host_def = copy.deepcopy(tree)
    host_def.body = body
    host_def.decorator_list = []
    host_def.returns = None
    for arg in ast.walk(host_def.args):
        if isinstance(arg, ast.arg):
            arg.annotation = None
    freevars = list(source.fn.__code__.co_freevars)
    maker = ast.FunctionDef(
        name="__helion_make__",
        args=ast.arguments(posonlyargs=[], args=[ast.arg(LAUNCH), ast.arg(zero_fill.ALLOC)]
                           + [ast.arg(v) for v in freevars],
                           kwonlyargs=[], kw_defaults=[], defaults=[]),
        body=[host_def, ast.Return(ast.Name(tree.name, ast.Load()))],
        decorator_list=[], returns=None)
    if hasattr(ast.FunctionDef, "type_params"):  # Python >= 3.12
        maker.type_params = []
    module = ast.fix_missing_locations(ast.Module(body=[ast.copy_location(maker, tree)], type_ignores=[]))
    namespace: dict[str, Any] = {}
    exec(compile(module, source.filename, "exec"), namespace)  # noqa: S102 (the user's own code)
    make = namespace["__helion_make__"]
    fn = source.fn

    def make_host_fn(launch: Callable[..., Any], elided: frozenset[str] = frozenset()) -> Callable[..., Any]:
        inner = make(launch, zero_fill.allocator(elided), *(source.closure.get(v) for v in freevars))
        host_fn = types.FunctionType(inner.__code__, fn.__globals__, fn.__name__, fn.__defaults__,
                                     inner.__closure__)
        host_fn.__kwdefaults__ = fn.__kwdefaults__
        return host_fn

    return make_host_fn
