"""Synthetic landscapes shaped like kernel configuration spaces, as replayable trial records.

Each landscape is a `search.Space` plus a noise-free model of a kernel's time (or its failure) for
every config; `make_landscape(name, seed)` enumerates the space, adds seeded measurement noise and
returns exhaustive trial records (DESIGN.md, "Trial records") that `search.ReplayObjective` can
replay. The models are rough caricatures of H100 kernels, built to show the features that make
kernel spaces hard to search:

- ``tile_cliffs``: a GEMM. Time jumps when a power-of-two step in a tile overflows registers
  (spills) or changes how many blocks fit on an SM; tiles that overflow shared memory do not
  compile; very slow configs time out.
- ``reduction_basins``: a row softmax with three reduction strategies, each a basin of its own;
  one basin holds the global optimum, another comes within a few percent; a persistent reduction
  whose block does not cover the row is inaccurate.
- ``edge_of_feasibility``: a flash-attention-like kernel with list and permutation parameters whose
  optimum sits right next to the configs that overflow shared memory or spill (so the fastest
  region borders the invalid one).

Every landscape is deterministic for a seed, and its optimum is unique: the recorded best beats
the runner-up by at least `OPTIMUM_MARGIN`.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Union

import numpy as np

import search

OPTIMUM_MARGIN = 1.01  # the recorded optimum is at least 1% faster than any other config
SAMPLES = 5  # noisy samples per config; time_ms is their median
SMS = 132  # streaming multiprocessors of the modelled chip
SHARED_MEMORY = 232448  # bytes of shared memory one block may use

ModelOutcome = Union[float, str]  # a noise-free time in ms, or a failure kind


@dataclass(frozen=True)
class Model:
    """A landscape's ingredients: its space, the noise-free outcome of a config, its compile time
    in seconds, and the relative standard deviation of the timing noise."""

    space: search.Space
    outcome: Callable[[dict], ModelOutcome]
    compile_s: Callable[[dict], float]
    noise: float
    description: str


@dataclass(frozen=True)
class Landscape:
    """A named, seeded landscape: its space and one exhaustive trial record per config."""

    name: str
    seed: int
    description: str
    space: search.Space
    records: tuple[dict, ...]

    @property
    def ok_records(self) -> list[dict]:
        """Records of the configs that ran."""
        return [r for r in self.records if r["status"] == "ok"]

    @property
    def optimum(self) -> dict:
        """The record of the fastest config."""
        return min(self.ok_records, key=lambda r: r["time_ms"])

    def times(self) -> list[float]:
        """Sorted times (ms) of the configs that ran."""
        return sorted(r["time_ms"] for r in self.ok_records)

    def status_counts(self) -> dict[str, int]:
        """How many configs ended in each status."""
        counts: dict[str, int] = {}
        for record in self.records:
            counts[record["status"]] = counts.get(record["status"], 0) + 1
        return counts


def _log2_distance(value: float, center: float) -> float:
    return math.log2(value / center)


def _wave_quantization(programs: int, slots: int) -> float:
    """How much longer than ideal the last, partly filled wave of programs makes the kernel."""
    waves = math.ceil(programs / slots)
    return waves * slots / programs


# ----------------------------------------------------------------------------------------------
# tile_cliffs: a 4096^3 bf16 GEMM


def _gemm_outcome(c: dict) -> ModelOutcome:
    bm, bn, bk, warps, stages = c["block_m"], c["block_n"], c["block_k"], c["num_warps"], c["num_stages"]
    shared = (bm + bn) * bk * 2 * stages
    if shared > SHARED_MEMORY:
        return "compile_error"
    accumulators = bm * bn / (32 * warps)
    if accumulators > 512:
        return "compile_error"  # register allocation gives up
    intensity = min(1.0, (bm * bn / (bm + bn)) / 80)  # flops per byte of the tile, vs the ridge
    tensor_cores = min(1.0, bm / 64) ** 0.5 * min(1.0, bn / 64) ** 0.3
    spills = 1.0 if accumulators <= 128 else 1.0 + 0.9 * math.log2(accumulators / 128)  # cliff
    few_accumulators = 1.0 + 0.4 * max(0.0, math.log2(16 / accumulators))
    blocks_per_sm = max(1, min(SHARED_MEMORY // shared, 64 // warps, 4))
    latency = 1.0 + 0.9 / (stages * min(blocks_per_sm, 2)) ** 1.5
    loop_overhead = 1.0 + 6.0 / bk
    programs = math.ceil(4096 / bm) * math.ceil(4096 / bn)
    waves = _wave_quantization(programs, SMS * blocks_per_sm)
    ideal_ms = 2 * 4096**3 / 750e12 * 1e3
    time_ms = ideal_ms * waves * spills * few_accumulators * latency * loop_overhead
    time_ms /= intensity * tensor_cores
    return "timeout" if time_ms > 25 * ideal_ms else time_ms


def _gemm_compile_s(c: dict) -> float:
    tile = c["block_m"] * c["block_n"] + (c["block_m"] + c["block_n"]) * c["block_k"]
    return 0.35 + 0.08 * c["num_stages"] + 0.5 * tile / 32768


def _tile_cliffs() -> Model:
    space = search.Space({
        "block_m": search.PowerOfTwo(16, 256, default=64),
        "block_n": search.PowerOfTwo(16, 256, default=64),
        "block_k": search.PowerOfTwo(16, 128, default=32),
        "num_warps": search.PowerOfTwo(2, 16, default=4),
        "num_stages": search.Integer(1, 5, default=2),
    })
    return Model(space, _gemm_outcome, _gemm_compile_s, noise=0.02,
                 description="4096^3 GEMM: register-spill and occupancy cliffs, shared-memory failures")


# ----------------------------------------------------------------------------------------------
# reduction_basins: softmax over 16384 rows of 4096

ROW = 4096
#: strategy -> (depth of its basin, best block_n, best rows per program, best warps)
BASINS = {"persistent": (1.00, 4096, 2, 8), "looped": (1.05, 1024, 1, 4), "split": (1.15, 512, 8, 16)}


def _softmax_outcome(c: dict) -> ModelOutcome:
    strategy, block_n, rows, warps = c["reduction"], c["block_n"], c["rows_per_program"], c["num_warps"]
    depth, best_n, best_rows, best_warps = BASINS[strategy]
    if strategy == "persistent" and block_n < ROW:
        return "inaccurate"  # the block does not cover the row, so part of it is never reduced
    elements = block_n * rows
    if elements > 65536:
        return "compile_error"
    bowl = (1.0 + 0.05 * _log2_distance(block_n, best_n) ** 2 + 0.04 * _log2_distance(rows, best_rows) ** 2
            + 0.06 * _log2_distance(warps, best_warps) ** 2)
    starved = 1.3 if elements / (32 * warps) <= 2 else 1.0  # too little work per thread to hide latency
    fast_math = 0.96 if c["fast_math"] and strategy != "split" else 1.0
    ideal_ms = 2 * 16384 * ROW * 2 / 3.0e12 * 1e3
    time_ms = ideal_ms * depth * bowl * starved * fast_math
    return "timeout" if time_ms > 8 * ideal_ms else time_ms


def _softmax_compile_s(c: dict) -> float:
    return 0.25 + 0.1 * math.log2(c["block_n"] * c["rows_per_program"]) / 4 + (0.2 if c["reduction"] == "split" else 0)


def _reduction_basins() -> Model:
    space = search.Space({
        "reduction": search.Enum(["looped", "persistent", "split"], default="looped"),
        "block_n": search.PowerOfTwo(128, 8192, default=1024),
        "rows_per_program": search.PowerOfTwo(1, 32, default=1),
        "num_warps": search.PowerOfTwo(1, 32, default=4),
        "fast_math": search.Boolean(default=False),
    })
    return Model(space, _softmax_outcome, _softmax_compile_s, noise=0.015,
                 description="softmax: three reduction-strategy basins, a decoy within 5%, inaccurate region")


# ----------------------------------------------------------------------------------------------
# edge_of_feasibility: attention forward, 4 x 32 heads x 4096 tokens, head dim 128

HEAD_DIM = 128
#: loop order (batch, head, query block) -> L2 reuse penalty; query blocks innermost reuse K and V best
ORDER_PENALTY = {(0, 1, 2): 1.00, (1, 0, 2): 1.03, (0, 2, 1): 1.12, (2, 0, 1): 1.18, (1, 2, 0): 1.15,
                 (2, 1, 0): 1.22}


def _attention_outcome(c: dict) -> ModelOutcome:
    (block_q, block_kv), warps, stages = c["block_sizes"], c["num_warps"], c["num_stages"]
    shared = (block_q * HEAD_DIM + 2 * block_kv * HEAD_DIM * stages) * 2  # Q once, K and V per stage
    if shared > SHARED_MEMORY:
        return "compile_error"
    registers = (block_q * block_kv + block_q * HEAD_DIM) / (32 * warps)  # S tile and O accumulator
    if registers > 192:
        return "timeout"  # spills to local memory: slower than the cut-off
    if block_q < 16 * warps // 2:
        return "compile_error"  # fewer than 16 query rows per warp pair: no MMA layout
    intensity = min(1.0, (block_q * block_kv / (block_q + block_kv)) / 64) ** 0.6
    pipeline = {1: 1.5, 2: 1.12, 3: 1.0, 4: 0.99, 5: 0.99}[stages]
    warp_fit = 1.0 + 0.08 * abs(_log2_distance(warps, max(block_q / 16, 1)))
    programs = math.ceil(4096 / block_q) * 32 * 4
    ideal_ms = 4 * 4 * 32 * 4096 * 4096 * HEAD_DIM / 600e12 * 1e3
    time_ms = (ideal_ms * pipeline * warp_fit * ORDER_PENALTY[tuple(c["loop_order"])]
               * _wave_quantization(programs, SMS) / intensity)
    return "timeout" if time_ms > 10 * ideal_ms else time_ms


def _attention_compile_s(c: dict) -> float:
    block_q, block_kv = c["block_sizes"]
    return 0.6 + 0.15 * c["num_stages"] + (block_q * block_kv) / 16384


def _edge_of_feasibility() -> Model:
    space = search.Space({
        "block_sizes": search.ListOf(search.PowerOfTwo(16, 256, default=64), 2),
        "num_warps": search.PowerOfTwo(2, 16, default=4),
        "num_stages": search.Integer(1, 5, default=2),
        "loop_order": search.Permutation(3),
    })
    return Model(space, _attention_outcome, _attention_compile_s, noise=0.02,
                 description="attention: optimum on the border of shared-memory and spill failures")


# ----------------------------------------------------------------------------------------------
# Hard landscapes (HARD_LANDSCAPES): mostly invalid spaces with cliffs and one narrow basin. They
# sit outside LANDSCAPES because their invalid fraction is far above that set's 70% ceiling.

SPLIT_K_SHAPE = (2048, 2048, 8192)  # M, N, K of the split-K GEMM
#: The centre of the good basin: block_m, block_n, block_k (log2), warps (log2), stages, split_k (log2)
NARROW_CENTRE = (7, 8, 6, 3, 4, 1)


def _split_k_outcome(c: dict) -> ModelOutcome:
    """A split-K GEMM: most tiles overflow shared memory or registers, or leave threads idle; the
    fast configs form one narrow basin on a plateau that slopes the wrong way."""
    bm, bn, bk, warps, stages, split = (c["block_m"], c["block_n"], c["block_k"], c["num_warps"],
                                        c["num_stages"], c["split_k"])
    m, n, k = SPLIT_K_SHAPE
    if (bm + bn) * bk * 2 * stages > SHARED_MEMORY:
        return "compile_error"
    accumulators = bm * bn / (32 * warps)
    if accumulators > 256:
        return "compile_error"  # register allocation gives up
    if accumulators < 16:
        return "compile_error"  # fewer than 16 outputs per thread: no MMA layout for this tile
    if warps > 16 or bm * bn > 65536:
        return "compile_error"  # over the thread or register-file limit of a block
    if k // split < bk * stages:
        return "runtime_error"  # the pipeline is deeper than the K loop of one split
    spills = 1.0 if accumulators <= 128 else 1.9  # power-of-two cliff: twice the registers spill
    programs = math.ceil(m / bm) * math.ceil(n / bn) * split
    blocks_per_sm = max(1, min(SHARED_MEMORY // ((bm + bn) * bk * 2 * stages), 32 // max(warps, 1), 2))
    waves = _wave_quantization(programs, SMS * blocks_per_sm)
    reduce = 1.0 + 0.04 * (split - 1)  # the split partial sums are added in a second pass
    # A plateau that improves towards big K blocks and few warps (away from the basin)...
    plateau = 1.6 + 0.08 * (8 - math.log2(bk)) + 0.06 * math.log2(warps)
    # ... and one narrow basin: within about one power-of-two step of its centre on every knob.
    point = (math.log2(bm), math.log2(bn), math.log2(bk), math.log2(warps), stages, math.log2(split))
    distance2 = sum((a - b) ** 2 for a, b in zip(point, NARROW_CENTRE))
    basin = 1.0 - 0.45 * math.exp(-distance2 / 6.0)
    ideal_ms = 2 * m * n * k / 750e12 * 1e3
    time_ms = ideal_ms * plateau * basin * spills * waves * reduce
    return "timeout" if time_ms > 12 * ideal_ms else time_ms


def _split_k_compile_s(c: dict) -> float:
    tile = c["block_m"] * c["block_n"] + (c["block_m"] + c["block_n"]) * c["block_k"]
    return 0.4 + 0.08 * c["num_stages"] + 0.5 * tile / 32768


def _narrow_basin() -> Model:
    space = search.Space({
        "block_m": search.PowerOfTwo(16, 512, default=64),
        "block_n": search.PowerOfTwo(16, 512, default=64),
        "block_k": search.PowerOfTwo(16, 256, default=32),
        "num_warps": search.PowerOfTwo(1, 32, default=4),
        "num_stages": search.Integer(1, 6, default=2),
        "split_k": search.PowerOfTwo(1, 8, default=1),
    })
    return Model(space, _split_k_outcome, _split_k_compile_s, noise=0.02,
                 description="split-K GEMM: mostly invalid, register-spill cliff, one narrow basin on a "
                             "plateau sloping away from it")


def _masked_rows_outcome(c: dict) -> ModelOutcome:
    """A fused layer norm + activation: 90% of configs fail (too many elements per program, a block
    that does not cover the row for the one-pass variant, warps that outnumber the rows' lanes),
    and the fast configs sit at the border of the failing region."""
    block, rows, warps, one_pass, vector = (c["block_n"], c["rows_per_program"], c["num_warps"], c["one_pass"],
                                            c["vector_width"])
    row = 2048
    elements = block * rows
    if elements > 16384 or elements * vector > 65536:
        return "compile_error"
    if one_pass and block < row:
        return "inaccurate"
    if 32 * warps * vector > elements or 32 * warps * vector * 64 < elements:
        return "compile_error"  # more lanes than elements, or more than 64 vectors per lane
    if c["eviction"] == "last" and elements > 4096:
        return "runtime_error"  # keeping big blocks in L2 thrashes it: the kernel faults
    if vector > 1 and block % (32 * vector):
        return "compile_error"
    ideal_ms = 2 * 8192 * row * 4 / 3.0e12 * 1e3
    passes = 1.0 if one_pass else 1.55
    per_thread = elements / (32 * warps * vector)
    latency = 1.0 + 0.6 / per_thread + 0.02 * per_thread  # too little work hides nothing, too much spills
    vectorised = {1: 1.35, 2: 1.12, 4: 1.0, 8: 1.06}[vector]
    cliff = 1.8 if per_thread > 32 else 1.0  # register cliff one power of two past the sweet spot
    time_ms = ideal_ms * passes * latency * vectorised * cliff * (1.0 + 0.03 * abs(math.log2(rows) - 2))
    return "timeout" if time_ms > 10 * ideal_ms else time_ms


def _masked_rows_compile_s(c: dict) -> float:
    return 0.3 + 0.05 * math.log2(c["block_n"] * c["rows_per_program"])


def _mostly_invalid() -> Model:
    space = search.Space({
        "block_n": search.PowerOfTwo(64, 8192, default=1024),
        "rows_per_program": search.PowerOfTwo(1, 64, default=1),
        "num_warps": search.PowerOfTwo(1, 32, default=4),
        "one_pass": search.Boolean(default=False),
        "vector_width": search.PowerOfTwo(1, 8, default=1),
        "eviction": search.Enum(["", "first", "last"], default=""),
    })
    return Model(space, _masked_rows_outcome, _masked_rows_compile_s, noise=0.015,
                 description="layer norm: about 90% of configs fail; the optimum borders the failures")


HARD_LANDSCAPES: dict[str, Callable[[], Model]] = {
    "narrow_basin": _narrow_basin,
    "mostly_invalid": _mostly_invalid,
}


LANDSCAPES: dict[str, Callable[[], Model]] = {
    "tile_cliffs": _tile_cliffs,
    "reduction_basins": _reduction_basins,
    "edge_of_feasibility": _edge_of_feasibility,
}


# ----------------------------------------------------------------------------------------------
# From a model to records


def make_landscape(name: str, seed: int = 0) -> Landscape:
    """The landscape `name` with the measurement noise of `seed` (same name and seed, same records)."""
    known = {**LANDSCAPES, **HARD_LANDSCAPES}
    if name not in known:
        raise KeyError(f"unknown landscape {name!r}; choose one of {sorted(known)}")
    model = known[name]()
    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
    fingerprint = model.space.fingerprint()
    base = {"kernel": f"synthetic/{name}", "key": {"landscape": name, "seed": seed}, "device": "synthetic",
            "versions": {"landscapes": "1"}, "space_fingerprint": fingerprint, "strategy": "exhaustive",
            "seed": seed}
    records, elapsed = [], 0.0
    for trial, config in enumerate(model.space.enumerate()):
        outcome = model.outcome(config)
        compile_s = round(max(0.05, model.compile_s(config) * (1 + 0.1 * rng.standard_normal())), 4)
        record = {**base, "trial": trial, "config": config, "status": "ok", "time_ms": None, "times_ms": None,
                  "compile_s": compile_s, "elapsed_s": None, "resources": {}}
        if isinstance(outcome, str):
            record["status"] = outcome
        else:
            times = outcome * np.clip(1 + model.noise * rng.standard_normal(SAMPLES), 0.5, None)
            record["times_ms"] = [round(float(t), 6) for t in times]
            record["time_ms"] = statistics.median(record["times_ms"])
            elapsed += sum(record["times_ms"]) / 1e3
        elapsed += compile_s
        record["elapsed_s"] = round(elapsed, 4)
        records.append(record)
    _separate_optimum(records)
    return Landscape(name, seed, model.description, model.space, tuple(records))


def _separate_optimum(records: list[dict]) -> None:
    """Makes the fastest record at least OPTIMUM_MARGIN faster than the runner-up (in place)."""
    ok = sorted((r for r in records if r["status"] == "ok"), key=lambda r: r["time_ms"])
    if len(ok) < 2 or ok[0]["time_ms"] * OPTIMUM_MARGIN <= ok[1]["time_ms"]:
        return
    scale = ok[1]["time_ms"] / OPTIMUM_MARGIN / ok[0]["time_ms"]
    ok[0]["times_ms"] = [round(t * scale, 6) for t in ok[0]["times_ms"]]
    ok[0]["time_ms"] = statistics.median(ok[0]["times_ms"])


def write_landscape(landscape: Landscape, out_dir: Path) -> Path:
    """Writes <name>.jsonl and <name>.space.json into out_dir; returns the JSONL path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"synthetic_{landscape.name}.jsonl"
    search.write_records(path, landscape.records)
    (out_dir / f"synthetic_{landscape.name}.space.json").write_text(
        json.dumps(landscape.space.to_json(), indent=1) + "\n")
    return path


def describe(landscape: Landscape) -> dict[str, Any]:
    """Summary numbers of a landscape (size, failures, optimum, how many configs lie near it)."""
    times = landscape.times()
    best = times[0]
    return {"name": landscape.name, "configs": len(landscape.records), "ok": len(times),
            "failures": {k: v for k, v in landscape.status_counts().items() if k != "ok"},
            "optimum_ms": best, "median_ms": statistics.median(times), "worst_ms": times[-1],
            "within_2pct": sum(t <= 1.02 * best for t in times),
            "within_10pct": sum(t <= 1.10 * best for t in times),
            "optimum": landscape.optimum["config"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Summarize (and optionally write) the synthetic landscapes.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--names", nargs="*", default=sorted(LANDSCAPES),
                        choices=sorted({**LANDSCAPES, **HARD_LANDSCAPES}))
    parser.add_argument("--write", type=Path, default=None, help="folder for <name>.jsonl and space JSON")
    args = parser.parse_args(argv)
    print("| landscape | configs | ok | failures | optimum ms | median/opt | within 2% | within 10% | optimum |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in args.names:
        landscape = make_landscape(name, args.seed)
        d = describe(landscape)
        print(f"| {name} | {d['configs']} | {d['ok']} | {d['failures']} | {d['optimum_ms']:.4f} | "
              f"{d['median_ms'] / d['optimum_ms']:.2f} | {d['within_2pct']} | {d['within_10pct']} | {d['optimum']} |")
        if args.write is not None:
            print(f"  wrote {write_landscape(landscape, args.write)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
