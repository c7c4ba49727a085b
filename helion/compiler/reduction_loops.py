"""Scheduling of looped reductions.

A reduction dimension read with ``:`` is persistent by default (the whole row in registers). With a
chunk size from ``reduction_loops``, the top-level body is split into phases: each ``for`` over the
chunks accumulates the reductions whose inputs are ready, recomputing (rematerializing) the loads
and elementwise values they need; values after a reduction wait for its loop to finish. Softmax
thus becomes three passes (max, sum of exp, normalize and store), as a hand-written kernel would.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .ir import DeviceFunction, Dim, Node


@dataclass
class ChunkLoop:
    """One pass over the chunks of reduction block ``block``."""

    block: int
    nodes: list[Node] = field(default_factory=list)       # in program order, rematerialized
    reductions: list[Node] = field(default_factory=list)  # reduce nodes accumulated in this pass


def uses_block(node: Node, block: int) -> bool:
    dims = node.attrs.get("index_dims", ()) if node.op in ("store", "atomic_add") else node.dims
    return Dim(block=block) in dims or (node.op in ("store", "atomic_add") and Dim(block=block) in node.dims)


def loopable_reductions(fn: DeviceFunction) -> set[int]:
    """Reduction blocks that may be computed in chunks: used only at the top level of the body,
    never together with another reduction block in one value, and not by argmax/argmin."""
    candidates = {b.id for b in fn.blocks if b.kind == "reduction" and b.loopable}
    for node in fn.body:
        if node.body is not None:
            for inner in _walk(node.body):
                candidates -= {d.block for d in _all_dims(inner)}
        reduction_dims = {d.block for d in _all_dims(node) if d.block is not None
                          and fn.blocks[d.block].kind == "reduction"}
        if len(reduction_dims) > 1:
            candidates -= reduction_dims
        if node.op == "reduce" and node.attrs["block"] in candidates:
            if node.attrs["kind"] not in ("sum", "amax", "amin"):
                candidates.discard(node.attrs["block"])
    return candidates


def schedule(body: list[Node], block: int) -> list[Node | ChunkLoop]:
    """Split ``body`` into top-level nodes and chunk loops over reduction block ``block``."""
    index = {id(n): i for i, n in enumerate(body)}
    inside = {id(n) for n in body if uses_block(n, block)}
    level: dict[int, int] = {}  # for nodes outside the loop: chunk passes that must finish first
    phase: dict[int, int] = {}  # for nodes inside: the pass computing them
    for node in body:
        deps = [d for d in free_inputs(node) if id(d) in index]
        ready = max([phase[id(d)] if id(d) in inside else level[id(d)] for d in deps], default=0)
        if id(node) in inside:
            phase[id(node)] = ready
        elif node.op == "reduce" and node.attrs.get("block") == block:
            level[id(node)] = phase.get(id(node.args[0]), ready) + 1
            phase[id(node)] = level[id(node)] - 1
        else:
            level[id(node)] = ready
    passes = max(level.values(), default=0)
    passes = max(passes, max((phase[id(n)] + 1 for n in body if id(n) in inside), default=0))
    out: list[Node | ChunkLoop] = []
    for k in range(passes + 1):
        out.extend(n for n in body if id(n) not in inside and level[id(n)] == k
                   and not (n.op == "reduce" and n.attrs.get("block") == block))
        if k == passes:
            break
        loop = ChunkLoop(block)
        roots = [n for n in body if (n.op == "reduce" and n.attrs.get("block") == block
                                     and id(n) not in inside and level[id(n)] == k + 1)]
        effects = [n for n in body if id(n) in inside and n.op in ("store", "atomic_add") and phase[id(n)] == k]
        needed: set[int] = set()
        stack = [d for r in roots for d in free_inputs(r)] + effects
        while stack:
            n = stack.pop()
            if id(n) in inside and id(n) not in needed:
                needed.add(id(n))
                stack.extend(free_inputs(n))
        loop.nodes = [n for n in body if id(n) in needed]
        loop.reductions = roots
        out.append(loop)
    return out


def free_inputs(node: Node) -> list[Node]:
    """Nodes read by ``node``, including those read inside its loop body but defined outside."""
    found = list(node.inputs())
    if node.body is not None:
        defined = {id(n) for n in _walk(node.body)}
        defined |= {id(c[0]) for c in node.attrs.get("carried", [])}
        for inner in _walk(node.body):
            found.extend(d for d in inner.inputs() if id(d) not in defined)
        found = [d for d in found if id(d) not in defined]
    return found


def _walk(nodes: list[Node]) -> list[Node]:
    out = []
    for n in nodes:
        out.append(n)
        if n.body is not None:
            out.extend(_walk(n.body))
    return out


def _all_dims(node: Node) -> list[Dim]:
    return list(node.dims) + list(node.attrs.get("index_dims", ()))
