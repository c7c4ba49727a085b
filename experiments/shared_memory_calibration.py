"""Shared memory per block on sm_90: what Triton allocates vs what the space's estimates say.

Compiles random and edge-case configs of gallery kernels at their first GPU size for sm_90 on the
CPU (``compile_for_target``; no GPU needed) and records Triton's ``shared`` bytes per config. The
space's ``shared_memory`` constraint is dropped while sampling so that configs beyond the H100's
232448 bytes are measured too. Then compares the measurements with the old estimate
(``old_estimate`` here, formerly ``space._dot_shared_bytes``: stages x dot operand tiles) and with
``helion.compiler.resources.shared_memory_bytes``.

    python -m experiments.shared_memory_calibration            # collect (2 processes), summarize
    python -m experiments.shared_memory_calibration --summarize-only   # re-read the jsonl

Writes ``experiments/data/shared_memory_sm90.jsonl`` (one record per config) and
``experiments/data/shared_memory_sm90.md`` (the summary). The ``near`` group is picked with the
estimates of the code at hand, so it changes with the model; the other groups depend on the seed.
"""
from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import statistics
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

import search
from experiments.kernels import GALLERY
from helion.runtime.kernel import BoundKernel

LIMIT = 232448  # bytes of shared memory per block on the H100 (sm_90)
DATA = Path(__file__).parent / "data"
JSONL = DATA / "shared_memory_sm90.jsonl"
SUMMARY = DATA / "shared_memory_sm90.md"

# (module, kernel, random samples, edge cases, near the limit)
KERNELS = [
    ("matmul", "matmul", 40, 70, 60),
    ("matmul", "matmul_dot", 10, 0, 0),
    ("matmul_bias_relu", "matmul_bias_relu", 25, 35, 30),
    ("bmm", "bmm", 25, 35, 40),
    ("softmax", "softmax", 20, 8, 10),
    ("softmax", "softmax_two_pass", 20, 12, 15),
    ("rms_norm", "rms_norm", 15, 8, 5),
    ("rms_norm", "rms_norm_looped", 15, 12, 15),
    ("layer_norm", "layer_norm", 15, 8, 5),
    ("sum_first", "sum_first", 15, 8, 5),
    ("row_sum_loop", "row_sum_loop", 15, 12, 15),
]

_BOUND: dict[tuple[str, str], Any] = {}


def bind(module_name: str, kernel_name: str) -> Any:
    """The kernel bound on meta tensors at its first GPU size (bf16), without the shared-memory
    constraint so that configs beyond the limit can be compiled and measured."""
    key = (module_name, kernel_name)
    if key not in _BOUND:
        module = GALLERY[module_name]
        args = module.make_args(module.GPU_SIZES[0], torch.bfloat16, "meta", torch.Generator().manual_seed(0))
        kernel = module.KERNELS[kernel_name]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # a private BoundKernel: kernel.bind's cached one keeps its constraint for everyone else
            bound = BoundKernel(kernel, kernel.normalize_args(tuple(args), {}))
        space = bound.config_space
        bound.config_space = search.Space(dict(space.params),
                                          constraints=[c for c in space.constraints if c.name != "shared_memory"])
        _BOUND[key] = bound
    return _BOUND[key]


def functions(bound: Any) -> list[Any]:
    return [f for f in bound.functions if f is not None]


# --- configs ----------------------------------------------------------------------------------------
def _indexing_all(space: search.Space, form: str) -> list[str] | None:
    """Every memory site in ``form`` where it may (others pointer)."""
    if "indexing" not in space.params:
        return None
    return [form if form in e.choices else "pointer" for e in space["indexing"].elements]


def edge_configs(bound: Any, count: int, rng: np.random.Generator) -> list[dict[str, Any]]:
    """Large tiles, many stages, per-loop stage overrides and every indexing form."""
    space = bound.config_space
    if count == 0:
        return []
    base = space.default()
    names = space.params
    n_tiles = len(names["block_sizes"].elements) if "block_sizes" in names else 0
    n_loops = len(names["range_num_stages"].elements) if "range_num_stages" in names else 0
    has_dot = any(n.op == "dot" for f in functions(bound) for n in f.walk())
    out: list[dict[str, Any]] = []
    tries = 0
    while len(out) < count and tries < 50 * count:
        tries += 1
        c = dict(base)
        if has_dot:
            tiles = [int(x) for x in rng.choice([64, 128, 256], size=2)]
            k = int(rng.choice([32, 64, 128, 256]))
            sizes = ([1] * (n_tiles - 3)) + tiles + [k]  # bmm: batch tile 1
            if n_tiles > 3 and rng.random() < 0.3:
                sizes[0] = 2
            c["block_sizes"] = sizes
            c["num_warps"] = int(rng.choice([4, 8, 8, 16]))
        else:
            sizes = []
            for e in names.get("block_sizes", search.ListOf([])).elements if n_tiles else []:
                hi = e.high
                sizes.append(int(min(hi, rng.choice([1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096]))))
            if n_tiles:
                c["block_sizes"] = sizes
            if "reduction_loops" in names:
                c["reduction_loops"] = [e.choices[int(rng.integers(len(e.choices)))]
                                        for e in names["reduction_loops"].elements]
            c["num_warps"] = int(rng.choice([4, 8, 16, 32]))
        c["num_stages"] = int(rng.choice([2, 3, 4, 5, 6]))
        if n_loops:
            c["range_num_stages"] = [int(rng.choice([0, 0, 2, 3, 4])) for _ in range(n_loops)]
        if "indexing" in names:
            c["indexing"] = _indexing_all(space, str(rng.choice(["pointer", "block_ptr", "tensor_descriptor"])))
        if "pid_type" in names and rng.random() < 0.3:
            c["pid_type"] = str(rng.choice(["persistent_blocked", "persistent_interleaved"]))
        try:
            c = space.normalize(c)
        except search.InvalidConfig:
            continue
        if c not in out:
            out.append(c)
    return out


def near_limit_configs(bound: Any, count: int, rng: np.random.Generator) -> list[dict[str, Any]]:
    """Random and edge configs that either estimate puts within [0.5, 1.5] x the limit: where a
    wrong estimate costs a failed launch or a lost config. Drawn after the model was fitted to
    the other groups, so they also validate it."""
    if count == 0:
        return []
    fns = functions(bound)
    out: list[dict[str, Any]] = []
    for _ in range(100):
        candidates = [bound.config_space.sample(rng) for _ in range(20)] + edge_configs(bound, 20, rng)
        for c in candidates:
            old, new = estimates_of(fns, c)
            if any(0.5 * LIMIT <= e <= 1.5 * LIMIT for e in (old, new)) and c not in out:
                out.append(c)
        if len(out) >= count:
            break
    return out[:count]


def no_static(space: search.Space, config: dict[str, Any]) -> dict[str, Any]:
    """``static_ranges`` off: a fully unrolled loop of many iterations compiles for minutes."""
    if "static_ranges" not in space.params or not any(config.get("static_ranges", [])):
        return config
    return space.normalize({**config, "static_ranges": [False] * len(config["static_ranges"])})


STATIC_CASES = {  # (block_sizes, num_warps, num_stages): tl.static_range over 4..8 iterations of K
    "matmul": [([64, 64, 512], 8, 3), ([64, 64, 1024], 16, 3), ([128, 64, 512], 8, 4)],
}


def static_configs(kernel_name: str, bound: Any) -> list[dict[str, Any]]:
    space = bound.config_space
    if "static_ranges" not in space.params:
        return []
    out = []
    for sizes, warps, stages in STATIC_CASES.get(kernel_name, []):
        try:
            out.append(space.normalize({**space.default(), "block_sizes": sizes, "num_warps": warps,
                                        "num_stages": stages, "static_ranges": [True]}))
        except search.InvalidConfig:
            pass
    return out


def plan(seed: int = 0) -> list[tuple[str, str, dict[str, Any], str]]:
    jobs = []
    for module_name, kernel_name, n_random, n_edge, n_near in KERNELS:
        bound = bind(module_name, kernel_name)
        rng = np.random.default_rng(seed)
        configs = [("default", bound.config_space.default())]
        configs += [("random", bound.config_space.sample(rng)) for _ in range(n_random)]
        configs += [("edge", c) for c in edge_configs(bound, n_edge, rng)]
        configs += [("near", c) for c in near_limit_configs(bound, n_near, np.random.default_rng(seed + 1))]
        configs = [(origin, no_static(bound.config_space, c)) for origin, c in configs]
        configs += [("static", c) for c in static_configs(kernel_name, bound)]
        seen = []
        for origin, c in configs:
            if c not in seen:
                seen.append(c)
                jobs.append((module_name, kernel_name, c, origin))
    return jobs


# --- compiling ----------------------------------------------------------------------------------------
def measure(job: tuple[str, str, dict[str, Any], str]) -> dict[str, Any]:
    from helion.autotune.precompile import compile_for_target
    module_name, kernel_name, config, origin = job
    bound = bind(module_name, kernel_name)
    record: dict[str, Any] = {"module": module_name, "kernel": kernel_name,
                              "size": list(GALLERY[module_name].GPU_SIZES[0]), "origin": origin, "config": config}
    start = time.perf_counter()
    try:
        results = compile_for_target(bound, config)
        record["status"] = "ok"
        record["shared_bytes"] = max(r["shared_bytes"] for r in results)
        record["per_kernel"] = results
    except Exception as e:  # noqa: BLE001
        record["status"] = "error"
        record["error"] = str(e).splitlines()[0][:300]
    record["compile_s"] = round(time.perf_counter() - start, 2)
    return record


def collect(processes: int, seed: int) -> list[dict[str, Any]]:
    jobs = plan(seed)
    print(f"{len(jobs)} configs to compile with {processes} processes")
    records = []
    DATA.mkdir(exist_ok=True)
    with multiprocessing.get_context("spawn").Pool(processes) as pool, JSONL.open("w") as f:
        for i, record in enumerate(pool.imap_unordered(measure, jobs, chunksize=1)):
            records.append(record)
            f.write(json.dumps(record) + "\n")
            f.flush()
            if (i + 1) % 25 == 0:
                print(f"  {i + 1}/{len(jobs)}", flush=True)
    return records


# --- summary --------------------------------------------------------------------------------------------
def old_estimate(fns: list[Any], config: dict[str, Any]) -> int:
    """The estimate space.py used before ``resources``: stages x (A + B tile) of each tl.dot."""
    from helion.compiler.codegen import ResolvedConfig, site_offsets
    largest = 0
    for fn, sites in zip(fns, site_offsets(fns)):
        cfg = ResolvedConfig(fn, config)
        loops = [n for n in fn.walk() if n.op == "for"]
        stages_per_loop = config.get("range_num_stages", [])
        for i, loop in enumerate(loops):
            index = sites["loops"] + i
            override = stages_per_loop[index] if index < len(stages_per_loop) else 0
            stages = max(override or int(config.get("num_stages", 2)), 1)
            inner = [n for n in fn.walk() if n is not loop and _inside(n, loop)]
            for dot in (n for n in inner if n.op == "dot"):
                tiles = sum(math.prod(cfg.sizes[d.block] if d.block is not None else d.size for d in x.dims)
                            * x.dtype.itemsize for x in dot.args[:2])
                largest = max(largest, stages * tiles)
    return largest


def _inside(node: Any, loop: Any) -> bool:
    stack = list(loop.body)
    while stack:
        item = stack.pop()
        if item is node:
            return True
        stack.extend(item.body or [])
    return False


def estimates_of(fns: list[Any], config: dict[str, Any]) -> tuple[int, int]:
    """(old, new) estimates of a config."""
    from helion.compiler.resources import shared_memory_bytes
    return old_estimate(fns, config), shared_memory_bytes(fns, config)


def estimates(record: dict[str, Any]) -> tuple[int, int]:
    return estimates_of(functions(bind(record["module"], record["kernel"])), record["config"])


def summarize(records: list[dict[str, Any]], note: str = "") -> str:
    ok = [r for r in records if r["status"] == "ok"]
    for r in ok:
        r["old"], r["new"] = estimates(r)
    lines = ["# Shared memory per block on sm_90: Triton vs estimates", "",
             "Written by `python -m experiments.shared_memory_calibration` (triton "
             f"{__import__('triton').__version__}, compiled on the CPU for sm_90 with `compile_for_target`, "
             "tensor arguments marked 16-byte aligned as at launch). `actual` is Triton's `shared` bytes "
             "(the largest over a config's kernels); `old` is the former `space._dot_shared_bytes` (stages x dot "
             "operand tiles), `new` is `helion.compiler.resources.shared_memory_bytes`. Limit: "
             f"{LIMIT} bytes. A false accept is estimate <= limit < actual (a config Triton rejects at "
             "launch); a false reject is estimate > limit >= actual. Error = estimate - actual; `under`: how "
             "many configs the estimate puts below the actual.", "",
             *([note, ""] if note else []),
             f"{len(records)} configs, {len(ok)} compiled, {len(records) - len(ok)} compile errors.", ""]

    def stats(rows: list[dict[str, Any]], key: str) -> list[str]:
        over = [r for r in rows if r["shared_bytes"] > LIMIT]
        fits = [r for r in rows if r["shared_bytes"] <= LIMIT]
        false_accept = sum(1 for r in over if r[key] <= LIMIT)
        false_reject = sum(1 for r in fits if r[key] > LIMIT)
        errors = [r[key] - r["shared_bytes"] for r in rows]
        under = [e for e in errors if e < 0]
        return [f"{false_accept}/{len(over)}", f"{false_reject}/{len(fits)}",
                f"{min(errors):+d} / {max(errors):+d}" if errors else "-",
                f"{statistics.median(abs(e) for e in errors):.0f}" if errors else "-",
                f"{len(under)}"]

    header = ("| {} | configs | actual > limit | actual min..max | old: false accepts | old: false rejects "
              "| old: error min / max | old: median abs error | old: under | new: false accepts "
              "| new: false rejects | new: error min / max | new: median abs error | new: under |")
    rule = "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"

    def row(name: str, rows: list[dict[str, Any]]) -> str:
        actual = [r["shared_bytes"] for r in rows]
        return (f"| {name} | {len(rows)} | {sum(a > LIMIT for a in actual)} | {min(actual)}..{max(actual)} | "
                + " | ".join(stats(rows, "old")) + " | " + " | ".join(stats(rows, "new")) + " |")

    groups: dict[str, list[dict[str, Any]]] = {}
    for r in ok:
        groups.setdefault(r["kernel"], []).append(r)
    fit = [r for r in ok if r["origin"] != "near"]
    near = [r for r in ok if r["origin"] == "near"]
    lines += ["## By origin", "",
              "`fit`: the default, random samples, edge cases and `static_ranges` cases the model was fitted "
              "to; `near`: configs that either estimate puts within 0.5..1.5 x the limit, drawn after a first fit "
              "as a check (two later tweaks, the per-warp scratch allowance and one buffer per unrolled TMA "
              "store, saw them too).", "",
              header.format("group"), rule, row("fit", fit), row("near", near), row("**all**", ok), "",
              "## Per kernel", "", header.format("kernel"), rule]
    lines += [row(name, rows) for name, rows in groups.items()]
    lines += ["", "## Configs within 0.8..1.25 x the limit, and every misjudged one", "",
              "| kernel | blocks | reduction loops | warps | stages | range stages | unroll | indexing | pid | actual "
              "| old | new |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    shown = [r for r in ok if 0.8 * LIMIT <= r["shared_bytes"] <= 1.25 * LIMIT
             or (r["old"] > LIMIT) != (r["shared_bytes"] > LIMIT) or (r["new"] > LIMIT) != (r["shared_bytes"] > LIMIT)]
    for r in sorted(shown, key=lambda r: (r["kernel"], r["shared_bytes"])):
        c = r["config"]
        lines.append(f"| {r['kernel']} | {c.get('block_sizes')} | {c.get('reduction_loops', '')} | "
                     f"{c['num_warps']} | {c['num_stages']} | {c.get('range_num_stages', '')} | "
                     f"{c.get('range_unroll_factors', '')} | "
                     f"{','.join(x[:3] for x in c.get('indexing', []))} | {c.get('pid_type')} | "
                     f"{r['shared_bytes']} | {r['old']} | {r['new']} |")
    errors = [r for r in records if r["status"] != "ok"]
    if errors:
        lines += ["", "## Compile errors", ""]
        lines += [f"- {r['kernel']} {r['config'].get('block_sizes')}: {r['error']}" for r in errors]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--summarize-only", action="store_true", help="re-read the jsonl instead of compiling")
    parser.add_argument("--note", default="", help="a line on the code state, written into the summary")
    args = parser.parse_args()
    if args.summarize_only:
        records = [json.loads(line) for line in JSONL.open()]
    else:
        start = time.perf_counter()
        records = collect(args.processes, args.seed)
        print(f"compiled in {time.perf_counter() - start:.0f} s")
    order = {(m, k): i for i, (m, k, *_) in enumerate(KERNELS)}
    records.sort(key=lambda r: (order.get((r["module"], r["kernel"]), 99), json.dumps(r["config"], sort_keys=True)))
    if not args.summarize_only:
        JSONL.write_text("".join(json.dumps(r) + "\n" for r in records))
    SUMMARY.write_text(summarize(records, args.note))
    print(SUMMARY.read_text())


if __name__ == "__main__":
    main()
