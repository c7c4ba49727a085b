"""Lowering of ``if`` statements in device code.

Three cases, by the type of the condition:

- a host value (a Python bool, int, a size): specialised, only the taken branch is lowered;
- a scalar device value (e.g. ``if n_valid > 0:`` on a count loaded from a tensor): an ``if``
  node, emitted as a Triton ``if``; names assigned in a branch and used after it are merged
  through variables assigned at the end of each branch (as loop-carried values are);
- a tensor condition (e.g. ``if x > 0:`` on a tile of values): predication. Both branches are
  lowered one after the other, stores and atomics inside them are masked by the condition (and
  loads where the condition's dims allow), and each name assigned in a branch becomes
  ``torch.where(cond, then_value, else_value)`` after the ``if``.

Conditions may combine device values with ``and``, ``or`` and ``not`` (elementwise).
"""
from __future__ import annotations

import ast
from typing import Any

import torch

from .. import exc
from .ir import ONE, Dim, Node
from .values import DeviceValue, TileProxy


class Unavailable:
    """Marks a name that device code bound where it does not reach (a loop body, one branch)."""

    def __init__(self, name: str, reason: str):
        self.name, self.reason = name, reason


_MISSING = object()


class BranchLowering:
    """Mixin of :class:`~helion.compiler.lower.DeviceLowering`: ``if`` statements and the
    predicate (the condition of enclosing tensor ``if``s) that masks memory effects."""

    predicate: DeviceValue | None = None

    # --- conditions ------------------------------------------------------------------------------
    def eval_condition(self, node: ast.expr) -> Any:
        """Evaluate an ``if`` test; ``and``/``or``/``not`` over device values become elementwise."""
        if isinstance(node, ast.BoolOp):
            values = []
            for operand in node.values:
                value = self.eval_condition(operand)
                if not isinstance(value, (DeviceValue, TileProxy)):
                    if bool(value) == isinstance(node.op, ast.Or):  # decided by a host value
                        return value
                    continue
                values.append(self.truth(value))
            if not values:
                return isinstance(node.op, ast.And)
            result = values[0]
            for value in values[1:]:
                result = self.binary("bitwise_and" if isinstance(node.op, ast.And) else "bitwise_or", result, value)
            return result
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            value = self.eval_condition(node.operand)
            if isinstance(value, (DeviceValue, TileProxy)):
                return self.tensor_method("logical_not", self.truth(value), (), {})
            return not value
        return self.eval(node)

    def truth(self, value: Any) -> DeviceValue:
        """A device value as a bool device value (``!= 0`` unless it is one already)."""
        if isinstance(value, TileProxy):
            value = value._as_value()
        if value.dtype == torch.bool:
            return value
        return self.binary("ne", value, 0)

    # --- statements --------------------------------------------------------------------------------
    def stmt_If(self, stmt: ast.If) -> None:
        test = self.eval_condition(stmt.test)
        if not isinstance(test, (DeviceValue, TileProxy)):
            self.walk(stmt.body if test else stmt.orelse)  # a host value: specialised
            return
        cond = self.truth(test)
        if cond.ndim == 0:
            self._scalar_if(stmt, cond)
        else:
            self._masked_if(stmt, cond)

    def _branches(self, stmt: ast.If, predicates: tuple[Any, Any]) -> list[tuple[list[Node], dict[str, Any]]]:
        """Lower each branch from the environment before the ``if``: (nodes, environment after)."""
        before = dict(self.env)
        outer_body, outer_predicate = self.body, self.predicate
        results = []
        for statements, predicate in zip((stmt.body, stmt.orelse), predicates):
            self.env, self.body, self.predicate = dict(before), [], predicate
            self.walk(statements)
            results.append((self.body, self.env))
        self.env, self.body, self.predicate = before, outer_body, outer_predicate
        self.lineno = stmt.lineno
        return results

    def _changed(self, before: dict[str, Any], envs: list[dict[str, Any]]) -> list[str]:
        names = []
        for env in envs:
            for name, value in env.items():
                if before.get(name, _MISSING) is not value and name not in names:
                    names.append(name)
        return names

    def _scalar_if(self, stmt: ast.If, cond: DeviceValue) -> None:
        before = dict(self.env)
        (then_body, then_env), (else_body, else_env) = self._branches(stmt, (self.predicate, self.predicate))
        merged: list[tuple[str, Node, Any, DeviceValue, DeviceValue]] = []
        for name in self._changed(before, [then_env, else_env]):
            first, second = then_env.get(name, _MISSING), else_env.get(name, _MISSING)
            if any(v is _MISSING or isinstance(v, Unavailable) for v in (first, second)):
                self.env[name] = Unavailable(name, "is assigned in only one branch of an `if` on a device value; "
                                                   f"assign it before the `if` (e.g. {name} = hl.zeros(...))")
                continue
            if not (isinstance(first, DeviceValue) and isinstance(second, DeviceValue)):
                if first is second or _same_host_value(first, second):
                    self.env[name] = first
                    continue
                raise exc.UnsupportedOperation(
                    f"{name!r} gets a different host value in each branch of an `if` on a device value; "
                    "only device values can differ between the branches")
            dims, dtype = self._merged_type(name, first, second)
            var = Node("var", (), dtype, dims, self.fresh_name(name, user=True), {}, stmt.lineno)
            init = before.get(name)
            merged.append((name, var, init if isinstance(init, DeviceValue) else None, first, second))
        finals = {}
        for index, body in ((0, then_body), (1, else_body)):
            saved, self.body = self.body, body
            for name, var, _, *values in merged:
                self.lineno = self.assigned_at.get(name, stmt.lineno)
                finals[(name, index)] = self.coerce_carried(values[index], var, name)
            self.body = saved
        self.lineno = stmt.lineno
        orelse = Node("else", (), torch.int32, (), "else", {}, stmt.lineno, else_body)
        carried = [(var, init.node if init is not None else None, finals[(name, 0)], finals[(name, 1)])
                   for name, var, init, _, _ in merged]
        self.emit("if", (cond.node,), torch.int32, (), "branch", body=then_body + [orelse], carried=carried)
        for name, var, *_ in merged:
            self.env[name] = DeviceValue(var)

    def _merged_type(self, name: str, a: DeviceValue, b: DeviceValue) -> tuple[tuple[Dim, ...], torch.dtype]:
        try:
            shape = torch.broadcast_shapes(tuple(self.meta(a).shape), tuple(self.meta(b).shape))
        except RuntimeError:
            raise exc.ShapeMismatch(
                f"{name!r} has shape {self.describe(a.node.dims)} in one branch of an `if` and "
                f"{self.describe(b.node.dims)} in the other") from None
        return self.dims_of(torch.empty(shape, device="meta")), torch.promote_types(a.dtype, b.dtype)

    def _masked_if(self, stmt: ast.If, cond: DeviceValue) -> None:
        before = dict(self.env)
        outer = self.predicate
        then_predicate = cond if outer is None else self.binary("bitwise_and", outer, cond)
        else_predicate = None
        if stmt.orelse:
            negated = self.tensor_method("logical_not", cond, (), {})
            else_predicate = negated if outer is None else self.binary("bitwise_and", outer, negated)
        (then_body, then_env), (else_body, else_env) = self._branches(stmt, (then_predicate, else_predicate))
        self.body.extend(then_body)
        self.body.extend(else_body)
        for name in self._changed(before, [then_env, else_env]):
            first = then_env.get(name, before.get(name, _MISSING))
            second = else_env.get(name, before.get(name, _MISSING))
            if any(v is _MISSING or isinstance(v, Unavailable) for v in (first, second)):
                self.env[name] = Unavailable(name, "is assigned in only one branch of an `if` on a tensor "
                                                   "condition; assign it before the `if` so the other lanes "
                                                   "keep a value")
                continue
            if first is second or _same_host_value(first, second):
                self.env[name] = first
                continue
            if not all(isinstance(v, (DeviceValue, int, float, bool)) for v in (first, second)):
                raise exc.UnsupportedOperation(
                    f"{name!r} gets a different {type(first).__name__} in each branch of an `if` on a tensor "
                    "condition; only device values and numbers can be selected elementwise")
            self.lineno = self.assigned_at.get(name, stmt.lineno)
            self.env[name] = self.lower("where", torch.where, (cond, first, second), {})
        self.lineno = stmt.lineno

    # --- masking of memory effects --------------------------------------------------------------
    def predicated(self, extra_mask: Any, dims: tuple[Dim, ...], required: bool) -> Any:
        """``extra_mask`` of a load/store over ``dims`` combined with the enclosing predicate.
        A store must be masked (``required``); a load that cannot be stays unmasked (it reads
        in-bounds elements and its value is only selected where the condition holds)."""
        if self.predicate is None:
            return extra_mask
        aligned = self.aligned(self.predicate, dims)
        if aligned is None:
            if not required:
                return extra_mask
            raise exc.ShapeMismatch(
                f"a store inside an `if` on a tensor condition of shape {self.describe(self.predicate.node.dims)} "
                f"writes an index of shape {self.describe(dims)}; index every dim of the condition so each "
                "element is written only where the condition holds")
        if extra_mask is None or extra_mask is True:
            return aligned
        if isinstance(extra_mask, DeviceValue):
            extra_mask = self.aligned(extra_mask, dims) or extra_mask
        return self.binary("bitwise_and", extra_mask, aligned)

    def aligned(self, value: DeviceValue, dims: tuple[Dim, ...]) -> DeviceValue | None:
        """``value`` viewed with one dim per entry of ``dims`` (its own dims in order, unit dims
        inserted), or None when its dims do not appear in ``dims`` in order."""
        own = value.node.dims
        if own == dims:
            return value
        spec: list[Any] = []
        j = 0
        for target in dims:
            if j < len(own) and (own[j] == target or own[j] == ONE):
                spec.append(slice(None))
                j += 1
            else:
                spec.append(None)
        if j != len(own):
            return None
        return self.subscript_value(value, tuple(spec))


def _same_host_value(a: Any, b: Any) -> bool:
    try:
        return type(a) is type(b) and not isinstance(a, (DeviceValue, TileProxy)) and bool(a == b)
    except Exception:  # noqa: BLE001 - values without a plain equality
        return False
