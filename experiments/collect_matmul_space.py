"""Exhaustive sweep of a Triton matmul's configuration space, written as trial records.

The kernel below is a plain tiled matmul (pointer arithmetic, masks for sizes that are not multiples
of the tile, grouped program order, fp32 accumulator). Its space (tile sizes, group size, warps,
stages) is a `search.Space` whose constraints prune what cannot fit the chip's shared memory or
registers; every remaining config is compiled, checked against `torch.matmul` in fp32 and timed
with CUDA events (warm-up, L2 flush before each repeat, median). One JSONL file of trial records per
shape (see DESIGN.md, "Trial records") and the space's JSON are written next to each other so that
`search.ReplayObjective` can replay the sweep.

GPU run (one H100; configs compile ahead in a process pool, then each shape is swept; the run
stops itself after --max-minutes, 7 by default, writing what it measured)::

    PYTHONPATH=$PWD python3 -m experiments.collect_matmul_space --out "$OUT"

Without a GPU: ``--dry-run`` prints the space's size; ``--smoke`` runs a few configs at a tiny
shape in Triton's interpreter on CPU (fp32 inputs).
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import json
import math
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

if __name__ == "__main__" and "--smoke" in sys.argv[1:]:
    os.environ["TRITON_INTERPRET"] = "1"  # must be set before triton is imported

import torch
import triton
import triton.language as tl

import search

KERNEL_NAME = "matmul"
SHARED_MEMORY_BYTES = 227 * 1024  # H100: the most dynamic shared memory one block may use
MAX_ACCUMULATORS_PER_THREAD = 128  # fp32 accumulators a thread can hold without spilling
MIN_ACCUMULATORS_PER_THREAD = 32  # below this the tile under-uses the tensor cores
INPUT_BYTES = 2  # bf16 / fp16 operands
DEFAULT_SHAPES = "4096x4096x4096,8192x1024x512"
FAIL_FAST_AFTER = 16  # a shape whose first configs all fail is broken, not slow: stop early
TOLERANCES = {"bfloat16": 1e-2, "float16": 5e-3, "float32": 1e-4}  # relative Frobenius error


@triton.jit
def matmul_kernel(a_ptr, b_ptr, c_ptr, M, N, K,
                  stride_am, stride_ak, stride_bk, stride_bn, stride_cm, stride_cn,
                  BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
                  GROUP_M: tl.constexpr):
    """C[M, N] = A[M, K] @ B[K, N]; one program per BLOCK_M x BLOCK_N tile of C."""
    pid = tl.program_id(0)
    tiles_m = tl.cdiv(M, BLOCK_M)
    tiles_n = tl.cdiv(N, BLOCK_N)
    # Grouped order: GROUP_M consecutive tile rows are walked column by column, so the programs
    # running at the same time share A rows and B columns in L2.
    tiles_per_group = GROUP_M * tiles_n
    first_row = (pid // tiles_per_group) * GROUP_M
    rows_in_group = min(tiles_m - first_row, GROUP_M)
    tile_m = first_row + (pid % tiles_per_group) % rows_in_group
    tile_n = (pid % tiles_per_group) // rows_in_group

    rows = tile_m * BLOCK_M + tl.arange(0, BLOCK_M)
    cols = tile_n * BLOCK_N + tl.arange(0, BLOCK_N)
    ks = tl.arange(0, BLOCK_K)
    row_ok = rows < M
    col_ok = cols < N
    a_tile = a_ptr + rows[:, None] * stride_am + ks[None, :] * stride_ak
    b_tile = b_ptr + ks[:, None] * stride_bk + cols[None, :] * stride_bn
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for k_start in range(0, K, BLOCK_K):
        k_ok = ks + k_start < K
        a = tl.load(a_tile, mask=row_ok[:, None] & k_ok[None, :], other=0.0)
        b = tl.load(b_tile, mask=k_ok[:, None] & col_ok[None, :], other=0.0)
        acc = tl.dot(a, b, acc)
        a_tile += BLOCK_K * stride_ak
        b_tile += BLOCK_K * stride_bk
    c_tile = c_ptr + rows[:, None] * stride_cm + cols[None, :] * stride_cn
    tl.store(c_tile, acc.to(c_ptr.dtype.element_ty), mask=row_ok[:, None] & col_ok[None, :])


# ----------------------------------------------------------------------------------------------
# The space


def fits_shared_memory(config: dict) -> bool:
    """The pipelined A and B tiles, one copy per stage, fit the chip's shared memory."""
    per_stage = (config["block_m"] + config["block_n"]) * config["block_k"] * INPUT_BYTES
    return per_stage * config["num_stages"] <= SHARED_MEMORY_BYTES


def _accumulators_per_thread(config: dict) -> float:
    return config["block_m"] * config["block_n"] / (32 * config["num_warps"])


def fits_registers(config: dict) -> bool:
    """The fp32 accumulator tile, spread over the block's threads, fits in registers."""
    return _accumulators_per_thread(config) <= MAX_ACCUMULATORS_PER_THREAD


def enough_work_per_thread(config: dict) -> bool:
    """Each thread owns enough accumulators to keep the tensor cores busy."""
    return _accumulators_per_thread(config) >= MIN_ACCUMULATORS_PER_THREAD


CONSTRAINT_PREDICATES: dict[str, Callable[[dict], bool]] = {
    "shared_memory": fits_shared_memory,
    "registers": fits_registers,
    "work_per_thread": enough_work_per_thread,
}


def matmul_constraints() -> list[search.Constraint]:
    """The named constraints of the matmul space (needed again by `Space.from_json`)."""
    return [search.Constraint(name, pred) for name, pred in CONSTRAINT_PREDICATES.items()]


def build_space() -> search.Space:
    """The matmul kernel's typed space, pruned by `matmul_constraints`."""
    return search.Space(
        {
            "block_m": search.PowerOfTwo(16, 256, default=128),
            "block_n": search.PowerOfTwo(16, 256, default=128),
            "block_k": search.PowerOfTwo(32, 128, default=64),
            "group_m": search.Enum([1, 4, 8, 16], default=8),
            "num_warps": search.PowerOfTwo(4, 8, default=4),
            "num_stages": search.Integer(2, 5, default=3),
        },
        constraints=matmul_constraints(),
    )


# ----------------------------------------------------------------------------------------------
# Launching, checking, timing


def parse_shapes(text: str) -> list[tuple[int, int, int]]:
    """'4096x4096x4096,8192x1024x512' -> [(M, N, K), ...]."""
    shapes = []
    for item in filter(None, (s.strip() for s in text.split(","))):
        parts = item.lower().split("x")
        if len(parts) != 3 or not all(p.isdigit() and int(p) > 0 for p in parts):
            raise argparse.ArgumentTypeError(f"shape {item!r} is not MxNxK with positive integers")
        shapes.append((int(parts[0]), int(parts[1]), int(parts[2])))
    return shapes


def _kernel_options(config: dict) -> dict:
    return {"BLOCK_M": config["block_m"], "BLOCK_N": config["block_n"], "BLOCK_K": config["block_k"],
            "GROUP_M": config["group_m"], "num_warps": config["num_warps"],
            "num_stages": config["num_stages"]}


def _grid(shape: tuple[int, int, int], config: dict) -> tuple[int]:
    m, n, _ = shape
    return (triton.cdiv(m, config["block_m"]) * triton.cdiv(n, config["block_n"]),)


def launch(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor, config: dict) -> Any:
    """Runs the kernel once for `config`; returns Triton's compiled kernel (None in the interpreter)."""
    m, k = a.shape
    n = b.shape[1]
    return matmul_kernel[_grid((m, n, k), config)](
        a, b, c, m, n, k, a.stride(0), a.stride(1), b.stride(0), b.stride(1),
        c.stride(0), c.stride(1), **_kernel_options(config))


def compile_config(task: tuple[dict, tuple[int, int, int], str]) -> tuple[str, float, str | None]:
    """Pool worker: compiles one config into Triton's disk cache; returns (key, seconds, error)."""
    config, (m, n, k), dtype_name = task
    dtype = getattr(torch, dtype_name)
    started = time.perf_counter()
    try:  # torch dtypes stand in for tensors: warmup compiles without allocating
        matmul_kernel.warmup(dtype, dtype, dtype, m, n, k, k, 1, n, 1, n, 1,
                             grid=_grid((m, n, k), config), **_kernel_options(config))
    except Exception as exc:  # noqa: BLE001 - any failure to build is this config's compile_error
        return config_key(config), round(time.perf_counter() - started, 4), f"{type(exc).__name__}: {exc}"[:400]
    return config_key(config), round(time.perf_counter() - started, 4), None


def _warm_worker(shape: tuple[int, int, int], dtype_name: str) -> None:
    """Pool initializer: one throw-away compile, so Triton's one-time set-up is not charged to a config."""
    compile_config(({"block_m": 32, "block_n": 32, "block_k": 32, "group_m": 1, "num_warps": 4,
                     "num_stages": 1}, shape, dtype_name))


def config_key(config: dict) -> str:
    return json.dumps(config, sort_keys=True)


def precompile(configs: list[dict], shape: tuple[int, int, int], dtype_name: str, workers: int,
               deadline_s: float) -> dict[str, tuple[float, str | None]]:
    """Compiles every config in a spawned process pool; configs still compiling at the deadline
    are left out (they compile in-process when swept)."""
    import multiprocessing

    results: dict[str, tuple[float, str | None]] = {}
    started = time.perf_counter()
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(workers, initializer=_warm_worker, initargs=(shape, dtype_name)) as pool:
        pending = pool.imap_unordered(compile_config, [(c, shape, dtype_name) for c in configs])
        while len(results) < len(configs):
            remaining = deadline_s - (time.perf_counter() - started)
            try:
                key, seconds, error = pending.next(timeout=max(remaining, 0.01))
            except multiprocessing.TimeoutError:
                print(f"precompile: deadline reached with {len(results)}/{len(configs)} compiled")
                pool.terminate()
                break
            results[key] = (seconds, error)
            if len(results) % 100 == 0:
                print(f"precompile: {len(results)}/{len(configs)} "
                      f"({time.perf_counter() - started:.0f} s)", flush=True)
    return results


@dataclass
class Bench:
    """Where and how to time: CUDA events with an L2 flush, or the host clock on CPU."""

    device: str
    budget_ms: float = 60.0
    min_repeats: int = 5
    max_repeats: int = 100
    _flush: torch.Tensor | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.device == "cuda":
            self._flush = torch.empty(256 * 2**20, dtype=torch.int8, device="cuda")

    def time(self, fn: Callable[[], Any]) -> list[float]:
        """Per-repeat times in ms of `fn`, after warm-up; repeats fill about `budget_ms`."""
        if self.device != "cuda":
            fn()  # warm-up
            times = []
            for _ in range(self.min_repeats):
                start = time.perf_counter()
                fn()
                times.append((time.perf_counter() - start) * 1e3)
            return times
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(3):
            fn()
        end.record()
        torch.cuda.synchronize()
        estimate = max(start.elapsed_time(end) / 3, 1e-3)
        for _ in range(min(20, int(10 / estimate))):  # at least ~10 ms of warm-up in all
            fn()
        repeats = int(min(self.max_repeats, max(self.min_repeats, self.budget_ms / estimate)))
        starts = [torch.cuda.Event(enable_timing=True) for _ in range(repeats)]
        ends = [torch.cuda.Event(enable_timing=True) for _ in range(repeats)]
        for s, e in zip(starts, ends):
            self._flush.zero_()  # evicts A, B and C from L2; also keeps the launch queue ahead
            s.record()
            fn()
            e.record()
        torch.cuda.synchronize()
        return [s.elapsed_time(e) for s, e in zip(starts, ends)]


def relative_error(out: torch.Tensor, ref: torch.Tensor) -> float:
    """max(||out - ref||_F / ||ref||_F, max|out - ref| / max|ref|); inf if anything is not finite."""
    out = out.float()
    if not torch.isfinite(out).all():
        return math.inf
    diff = out - ref
    return max((diff.norm() / ref.norm()).item(), (diff.abs().max() / ref.abs().max()).item())


def _failure_kind(exc: BaseException) -> str:
    names = {cls.__name__ for cls in type(exc).__mro__}
    if names & {"OutOfResources", "CompilationError", "PTXASError", "CompileTimeAssertionFailure"}:
        return "compile_error"
    return "runtime_error"


def _resources(compiled: Any) -> dict:
    if compiled is None:  # the interpreter compiles nothing
        return {}
    metadata = getattr(compiled, "metadata", None)
    return {"registers": getattr(compiled, "n_regs", None), "spills": getattr(compiled, "n_spills", None),
            "shared_bytes": getattr(metadata, "shared", None)}


# ----------------------------------------------------------------------------------------------
# The sweep


def _shape_name(shape: tuple[int, int, int], dtype_name: str) -> str:
    return f"{KERNEL_NAME}_{shape[0]}x{shape[1]}x{shape[2]}_{dtype_name}"


def _record_base(shape, dtype_name, space_fp, device_name, seed) -> dict:
    m, n, k = shape
    return {
        "kernel": KERNEL_NAME,
        "source_hash": hashlib.sha256(inspect.getsource(matmul_kernel.fn).encode()).hexdigest()[:16],
        "key": {"shapes": [[m, k], [k, n]], "dtypes": [dtype_name, dtype_name]},
        "device": device_name,
        "versions": {"torch": torch.__version__, "triton": triton.__version__, "cuda": torch.version.cuda,
                     "python": platform.python_version()},
        "space_fingerprint": space_fp,
        "strategy": "exhaustive",
        "seed": seed,  # of the (shuffled) order in which the configs were swept
    }


def _check_and_time(a, b, c, ref, config: dict, bench: Bench, device: str, tolerance: float,
                    compile_s: float | None) -> dict:
    """Runs `config` once on poisoned output, checks it, then times it; returns record fields."""
    fields: dict[str, Any] = {}
    started = time.perf_counter()
    try:
        c.fill_(float("nan"))  # poison: every element must be written
        compiled = launch(a, b, c, config)  # compiles here unless precompiled (then: cache load)
        if device == "cuda":
            torch.cuda.synchronize()
        fields["compile_s"] = round(compile_s if compile_s is not None else time.perf_counter() - started, 4)
        fields["resources"] = _resources(compiled)
        fields["max_rel_err"] = relative_error(c, ref)
        if not fields["max_rel_err"] <= tolerance:
            fields["status"] = "inaccurate"
            return fields
        times = bench.time(lambda: launch(a, b, c, config))
    except Exception as exc:  # noqa: BLE001 - every failure is recorded, the sweep goes on
        fields.setdefault("compile_s", round(compile_s if compile_s is not None else time.perf_counter() - started, 4))
        fields.update(status=_failure_kind(exc), message=f"{type(exc).__name__}: {exc}"[:400])
        return fields
    fields.update(times_ms=[round(t, 5) for t in times], time_ms=round(statistics.median(times), 5))
    return fields


def sweep_shape(shape, dtype_name, configs, compiled_ahead, bench: Bench, *, device: str,
                space_fp: str, seed: int, t0: float, deadline: float) -> tuple[list[dict], dict]:
    """Checks and times every config at one shape; returns (records, summary)."""
    m, n, k = shape
    dtype = getattr(torch, dtype_name)
    gen = torch.Generator(device=device).manual_seed(m * 31 + n * 7 + k)
    a = torch.randn((m, k), generator=gen, device=device).to(dtype)
    b = torch.randn((k, n), generator=gen, device=device).to(dtype)
    c = torch.empty((m, n), device=device, dtype=dtype)
    ref = torch.matmul(a.float(), b.float())
    tolerance = TOLERANCES[dtype_name]
    device_name = torch.cuda.get_device_name() if device == "cuda" else platform.processor() or "cpu"
    base = _record_base(shape, dtype_name, space_fp, device_name, seed)
    baseline_ms = statistics.median(bench.time(lambda: torch.matmul(a, b)))
    records: list[dict] = []
    for trial, config in enumerate(configs):
        if time.perf_counter() > deadline:
            print(f"{_shape_name(shape, dtype_name)}: time is up after {trial}/{len(configs)} configs")
            break
        record = {**base, "trial": trial, "config": config, "status": "ok", "time_ms": None,
                  "times_ms": None, "compile_s": None, "elapsed_s": None, "resources": {}}
        compile_s, error = compiled_ahead.get(config_key(config), (None, None))
        # A pool worker's error is retried here (recompiling in-process): this process's verdict
        # counts, so a fault in the pool path cannot turn the whole sweep into compile errors.
        record.update(_check_and_time(a, b, c, ref, config, bench, device, tolerance,
                                      None if error is not None else compile_s))
        if error is not None and record["status"] == "ok":
            record["message"] = f"the pool worker failed, this process did not: {error}"
        record["elapsed_s"] = round(time.perf_counter() - t0, 3)
        records.append(record)
        if trial + 1 == FAIL_FAST_AFTER and not any(r["status"] == "ok" for r in records):
            print(f"{_shape_name(shape, dtype_name)}: the first {FAIL_FAST_AFTER} configs all failed, "
                  f"stopping; first failure: {records[0]['status']}: {records[0].get('message')}")
            break
        if (trial + 1) % 100 == 0:
            best = min((r["time_ms"] for r in records if r["status"] == "ok"), default=math.nan)
            print(f"{_shape_name(shape, dtype_name)}: {trial + 1}/{len(configs)} configs, "
                  f"best {best:.4f} ms, {time.perf_counter() - t0:.0f} s", flush=True)
    return records, {"baseline": "torch.matmul", "baseline_ms": baseline_ms, "device": device_name}


def summarize(name: str, shape, records: list[dict], baseline_ms: float) -> dict:
    """One row of the final table."""
    ok = [r for r in records if r["status"] == "ok"]
    counts = {s: sum(r["status"] == s for r in records)
              for s in ("ok", "compile_error", "runtime_error", "inaccurate")}
    row: dict[str, Any] = {"file": name, "configs": len(records), **counts, "baseline_ms": baseline_ms}
    if ok:
        best = min(ok, key=lambda r: r["time_ms"])
        flops = 2 * shape[0] * shape[1] * shape[2]
        row.update(best_ms=best["time_ms"], best_tflops=flops / best["time_ms"] / 1e9,
                   best_vs_baseline=baseline_ms / best["time_ms"],
                   median_ms=statistics.median(r["time_ms"] for r in ok), best_config=best["config"])
    return row


def write_outputs(out_dir: Path, name: str, records: list[dict], space: search.Space, meta: dict) -> None:
    """<name>.jsonl (trial records), <name>.space.json, <name>.meta.json."""
    out_dir.mkdir(parents=True, exist_ok=True)
    search.write_records(out_dir / f"{name}.jsonl", records)
    (out_dir / f"{name}.space.json").write_text(json.dumps(space.to_json(), indent=1) + "\n")
    (out_dir / f"{name}.meta.json").write_text(json.dumps(meta, indent=1, default=str) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("experiments/data"), help="output folder")
    parser.add_argument("--shapes", type=parse_shapes, default=None, help=f"MxNxK list ({DEFAULT_SHAPES})")
    parser.add_argument("--dtype", choices=["bfloat16", "float16"], default="bfloat16")
    parser.add_argument("--dry-run", action="store_true", help="enumerate the space, print its size")
    parser.add_argument("--smoke", action="store_true", help="tiny shape in the interpreter on CPU")
    parser.add_argument("--max-configs", type=int, default=None, help="sweep a seeded sample only")
    parser.add_argument("--workers", type=int, default=min(15, max(1, (os.cpu_count() or 2) - 1)))
    parser.add_argument("--max-minutes", type=float, default=7.0, help="wall-time limit, all shapes")
    parser.add_argument("--budget-ms", type=float, default=60.0, help="timed repeats per config, ms")
    parser.add_argument("--seed", type=int, default=0, help="order in which configs are swept")
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    space = build_space()
    configs = list(space.enumerate())
    space_size = len(configs)
    print(f"matmul space: {len(configs)} valid configs of {space.size()} "
          f"(fingerprint {space.fingerprint()})")
    if args.dry_run:
        raw = search.Space(space.params).enumerate()
        for name, pred in CONSTRAINT_PREDICATES.items():
            print(f"  constraint {name}: rejects {sum(not pred(c) for c in raw)} of {len(raw)} configs")
        return 0
    smoke = args.smoke
    if smoke and os.environ.get("TRITON_INTERPRET") != "1":
        parser.error("--smoke needs TRITON_INTERPRET=1 before triton is imported: "
                     "run `python -m experiments.collect_matmul_space --smoke`")
    device = "cpu" if smoke else "cuda"
    if device == "cuda" and not torch.cuda.is_available():
        parser.error("no CUDA device: use --dry-run or --smoke here")
    shapes = args.shapes or parse_shapes("37x45x70" if smoke else DEFAULT_SHAPES)
    dtype_name = "float32" if smoke else args.dtype
    max_configs = args.max_configs or (4 if smoke else None)
    random.Random(args.seed).shuffle(configs)  # a cut-short sweep is still an unbiased sample
    configs = configs[:max_configs] if max_configs else configs
    deadline = t0 + 60 * args.max_minutes

    compiled_ahead: dict[str, tuple[float, str | None]] = {}
    if device == "cuda":
        os.environ["TRITON_CACHE_DIR"] = tempfile.mkdtemp(prefix="triton_cold_")  # cold compiles, shared with the pool
        print(f"precompiling {len(configs)} configs on {args.workers} processes ...", flush=True)
        compiled_ahead = precompile(configs, shapes[0], dtype_name, args.workers,
                                    deadline_s=0.45 * 60 * args.max_minutes)
        failed = [e for _, e in compiled_ahead.values() if e is not None]
        print(f"precompiled {len(compiled_ahead)} configs in {time.perf_counter() - t0:.0f} s, "
              f"{len(failed)} failed" + (f" (first: {failed[0]})" if failed else ""), flush=True)
    bench = Bench(device, budget_ms=args.budget_ms, min_repeats=5 if device == "cuda" else 2)
    rows = []
    for i, shape in enumerate(shapes):
        name = _shape_name(shape, dtype_name)
        shape_deadline = time.perf_counter() + (deadline - time.perf_counter()) / (len(shapes) - i)
        records, meta = sweep_shape(shape, dtype_name, configs, compiled_ahead, bench, device=device,
                                    space_fp=space.fingerprint(), seed=args.seed, t0=t0, deadline=shape_deadline)
        meta.update(shape_mnk=list(shape), dtype=dtype_name, swept=len(records), planned=len(configs),
                    space_size=space_size,
                    wall_s=round(time.perf_counter() - t0, 1), versions=records[0]["versions"] if records else {})
        write_outputs(args.out, name, records, space, meta)
        rows.append(summarize(name, shape, records, meta["baseline_ms"]))
        if not rows[-1]["ok"]:
            break  # the next shape would fail the same way
    print_table(rows)
    print(f"wrote {len(rows)} shape(s) to {args.out} in {time.perf_counter() - t0:.0f} s")
    return 0 if all(row["ok"] for row in rows) else 1


def print_table(rows: list[dict]) -> None:
    """Markdown summary: one row per shape."""
    print("\n| shape | configs | ok | compile_err | runtime_err | inaccurate | best ms | TFLOP/s "
          "| torch.matmul ms | best/torch speedup | best config |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        best = (f"{r['best_ms']:.4f} | {r['best_tflops']:.1f} | {r['baseline_ms']:.4f} | "
                f"{r['best_vs_baseline']:.3f} | {json.dumps(r['best_config'])}") if "best_ms" in r \
            else f"- | - | {r['baseline_ms']:.4f} | - | -"
        print(f"| {r['file']} | {r['configs']} | {r['ok']} | {r['compile_error']} | "
              f"{r['runtime_error']} | {r['inaccurate']} | {best} |")


if __name__ == "__main__":
    sys.exit(main())
