"""Spaces and objectives shared by the tests of `search` (also run in a subprocess)."""

from __future__ import annotations

import json
import math
import sys

import search
from search import Boolean, Constraint, Enum, Failure, Integer, ListOf, Permutation, PowerOfTwo, Space


def _halve_block_m(config):
    while config["block_m"] * config["block_sizes"][0] > 4096 and config["block_m"] > 16:
        config["block_m"] //= 2
    return config


def mixed_space() -> Space:
    """Every parameter type, a heterogeneous ListOf, one constraint with a repair and one without."""
    return Space(
        {
            "block_m": PowerOfTwo(16, 256, default=64),
            "warps": PowerOfTwo(1, 32, default=4),
            "stages": Integer(1, 8, default=2),
            "order": Permutation(3),
            "mode": Enum(["a", "b", "c"]),
            "flag": Boolean(),
            "evict": ListOf(Enum(["", "first", "last"]), 2),
            "block_sizes": ListOf([PowerOfTwo(16, 128), PowerOfTwo(1, 64, default=8)]),
        },
        constraints=[
            Constraint("tile_area", lambda c: c["block_m"] * c["block_sizes"][0] <= 4096, repair=_halve_block_m,
                       message="block_m * block_sizes[0] must be <= 4096"),
            ("warps_fit", lambda c: c["warps"] <= c["block_m"]),
        ],
    )


def mixed_objective(configs):
    """Deterministic times with a few failures (stages == 7 fails to compile)."""
    out = []
    for c in configs:
        if c["stages"] == 7:
            out.append(Failure("compile_error"))
            continue
        t = (1.0 + 0.2 * abs(math.log2(c["block_m"]) - 6) + 0.3 * abs(math.log2(c["warps"]) - 2)
             + 0.1 * abs(c["stages"] - 3) + 0.05 * c["order"][0] + 0.2 * (c["mode"] != "b") + 0.1 * c["flag"]
             + 0.05 * sum(e == "first" for e in c["evict"]) + 0.1 * abs(math.log2(c["block_sizes"][1]) - 3))
        out.append(t)
    return out


def small_space() -> Space:
    """200 configs before constraints, 192 valid; `small_objective` has one optimum, SMALL_OPTIMUM."""
    return Space(
        {"block": PowerOfTwo(16, 256), "warps": PowerOfTwo(1, 16), "stages": Integer(1, 4), "order": Permutation(2)},
        constraints=[("threads", lambda c: c["block"] * c["warps"] <= 2048)],
    )


SMALL_OPTIMUM = {"block": 64, "warps": 4, "stages": 3, "order": [0, 1]}


def small_objective(configs):
    """A smooth bowl over the small space, minimal (1.0 ms) at SMALL_OPTIMUM."""
    return [1.0 + 0.3 * (math.log2(c["block"]) - 6) ** 2 + 0.2 * (math.log2(c["warps"]) - 2) ** 2
            + 0.1 * (c["stages"] - 3) ** 2 + 0.25 * c["order"][0] for c in configs]


def tiny_space() -> Space:
    """Six configs."""
    return Space({"flag": Boolean(), "mode": Enum(["x", "y", "z"])})


def proposals(name: str, seed: int, rounds: int = 3, batch: int = 4) -> list:
    """Every batch a strategy asks on the mixed space over a few ask/tell rounds."""
    strategy = search.make_strategy(name, mixed_space(), seed=seed)
    batches = []
    for _ in range(rounds):
        configs = strategy.ask(batch)
        strategy.tell(configs, mixed_objective(configs))
        batches.append(configs)
    return batches


if __name__ == "__main__":
    print(json.dumps({name: proposals(name, int(sys.argv[1])) for name in search.available_strategies()}))
