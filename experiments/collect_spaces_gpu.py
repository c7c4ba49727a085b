"""Large samples of gallery kernels' spaces, measured through the autotune engine: replayable data.

For each workload (a gallery kernel at a realistic shape, bf16 on the GPU) a new process calls the
kernel as a user would, with ``autotune_strategy="random"`` (uniform sampling without
replacement over the valid configs, so the sample is unbiased), ``autotune_max_trials=--trials``
(1000; all of the space when it is smaller), ``autotune_budget_s=--budget-s`` and a fresh cache;
the engine's trial log is the data: one trial record per config (DESIGN.md, with compile
seconds, resources, ``elapsed_s`` and the compiler's ``kernel_info``), failures included. The
space itself is written beside it (``<workload>.space.json``) so that ``search.ReplayObjective``
and ``experiments.compare_strategies`` can replay the sample on any machine. Candidates the
engine cut short (screened slower than 1.5x the best so far) keep their screening time,
marked ``cut short`` in the record's message.

GPU run (about 45-60 s per workload; ``--workloads`` splits the set over calls)::

    python -m experiments.collect_spaces_gpu --out "$OUT"

Writes ``<workload>.trials.jsonl.gz``, ``<workload>.space.json``, ``collect.json`` and
``collect.md`` (per workload: configs measured, failures by kind, best and median time,
seconds) to ``--out``; ``--tar`` also packs them into one ``spaces.tgz`` after every workload. Without a GPU,
``--smoke`` runs two tiny workloads through the interpreter.
"""
from __future__ import annotations

import argparse
import collections
import gzip
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parents[1]

# name -> (gallery module, kernel, size); sizes are each module's GPU_SIZES entries
WORKLOADS: dict[str, tuple[str, str, tuple]] = {
    "matmul_4096x4096x4096": ("matmul", "matmul", (4096, 4096, 4096)),
    "matmul_16384x512x4096": ("matmul", "matmul", (16384, 512, 4096)),
    "matmul_8192x128x8192": ("matmul", "matmul", (8192, 128, 8192)),
    "bmm_16x1024x1024x1024": ("bmm", "bmm", (16, 1024, 1024, 1024)),
    "bmm_64x512x256x512": ("bmm", "bmm", (64, 512, 256, 512)),
    "softmax_16384x4096": ("softmax", "softmax", (16384, 4096)),
    "softmax_4096x32768": ("softmax", "softmax", (4096, 32768)),
    "rms_norm_16384x4096": ("rms_norm", "rms_norm", (16384, 4096)),
    "layer_norm_16384x4096": ("layer_norm", "layer_norm", (16384, 4096)),
    "sum_last_1024x131072": ("sum_last", "sum_last", (1024, 131072)),
    "sum_first_4096x16384": ("sum_first", "sum_first", (4096, 16384)),
    "bias_gelu_16384x4096": ("bias_gelu", "bias_gelu", (16384, 4096)),
    "add_16384x4096": ("add", "add", (16384, 4096, "row")),
}
SMOKE = {"add_smoke": ("add", "add", (32, 48, "row")), "sum_last_smoke": ("sum_last", "sum_last", (16, 64))}


def measure(name: str, spec: tuple[str, str, tuple], out: Path, trials: int, budget_s: float, seed: int) -> dict:
    """One workload, in this process: tune with random sampling, the log is the data."""
    import torch

    import helion
    from experiments.kernels import GALLERY
    from experiments.kernels.checking import make_inputs, stable_seed
    module_name, kernel_name, size = spec
    module = GALLERY[module_name]
    gpu = torch.cuda.is_available()
    dtype, device = (torch.bfloat16, "cuda") if gpu else (torch.float32, "cpu")
    args = make_inputs(module, size, dtype, device, stable_seed(module_name, tuple(size), "collect"))
    base = module.KERNELS[kernel_name]
    log = out / f"{name}.trials.jsonl"
    kernel = helion.kernel(base.fn, settings=base.settings, autotune_log=str(log), autotune_strategy="random",
                           autotune_max_trials=trials, autotune_budget_s=budget_s, autotune_seed=seed,
                           autotune_progress=False, autotune_effort="full" if gpu else "quick")
    started = time.perf_counter()
    kernel(*args)
    seconds = time.perf_counter() - started
    space = kernel.bind(args).config_space
    (out / f"{name}.space.json").write_text(json.dumps(space.to_json(), indent=1))
    records = [json.loads(line) for line in log.read_text().splitlines()]
    with gzip.open(out / f"{name}.trials.jsonl.gz", "wt") as f:
        f.writelines(json.dumps(r) + "\n" for r in records)
    log.unlink()
    times = [r["time_ms"] for r in records if r["status"] == "ok"]
    return {"workload": name, "module": module_name, "kernel": kernel_name, "size": list(size),
            "dtype": str(dtype).replace("torch.", ""), "configs": len(records), "ok": len(times),
            "failures": dict(collections.Counter(r["status"] for r in records if r["status"] != "ok")),
            "cut_short": sum("cut short" in (r.get("message") or "") for r in records),
            "best_ms": min(times) if times else None, "median_ms": statistics.median(times) if times else None,
            "space_log10_size": round(space.log_size() / 2.302585, 2), "seconds": seconds}


def table(rows: list[dict], meta: dict) -> str:
    lines = [f"# Recorded space samples on {meta['device']}", "",
             f"{meta['date']}; torch {meta['torch']}, triton {meta['triton']}; random sampling through the "
             "engine, one process per workload.", "",
             "| workload | dtype | space (log10 configs) | configs | ok | failures | cut short | best ms | "
             "median / best | seconds |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['workload']} | error: {str(r['error'])[:120]} |||||||||")
            continue
        fails = ", ".join(f"{k} {v}" for k, v in sorted(r["failures"].items())) or "-"
        ratio = f"{r['median_ms'] / r['best_ms']:.2f}" if r["best_ms"] else "-"
        best = f"{r['best_ms']:.4f}" if r["best_ms"] else "-"
        lines.append(f"| {r['workload']} | {r['dtype']} | {r['space_log10_size']} | {r['configs']} | {r['ok']} | "
                     f"{fails} | {r['cut_short']} | {best} | {ratio} | {r['seconds']:.0f} |")
    return "\n".join(lines) + "\n"


def run_one(name: str, out: Path, args: argparse.Namespace, timeout_s: float) -> dict:
    """``measure`` in a new process (a fresh cache, nothing shared with the previous workload)."""
    result = Path(tempfile.mkdtemp()) / "row.json"
    env = {**os.environ, "HELION_CACHE_DIR": tempfile.mkdtemp(prefix="helion-cache-"),
           "PYTHONPATH": f"{HERE}:{os.environ.get('PYTHONPATH', '')}"}
    command = [sys.executable, "-m", "experiments.collect_spaces_gpu", "--side", name, "--out", str(out),
               "--result", str(result), "--trials", str(args.trials), "--budget-s", str(args.budget_s),
               "--seed", str(args.seed)] + (["--smoke"] if args.smoke else [])
    try:
        proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout_s)
        log = proc.stdout + proc.stderr
    except subprocess.TimeoutExpired as e:
        log = f"timeout after {timeout_s:.0f} s"
    with open(out / "collect.log", "a") as f:
        f.write(f"\n===== {name}\n{log[-20000:]}")
    if result.exists():
        return json.loads(result.read_text())
    return {"workload": name, "error": (log.strip().splitlines() or ["no output"])[-1]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--out", type=Path, default=HERE / "experiments" / "results" / "spaces")
    parser.add_argument("--workloads", default=None, help="comma-separated names (default: all)")
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--budget-s", type=float, default=55.0, help="search seconds per workload")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smoke", action="store_true", help="two tiny workloads through the interpreter (CPU)")
    parser.add_argument("--tar", action="store_true", help="also pack everything into spaces.tgz")
    parser.add_argument("--side", help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    catalogue = SMOKE if args.smoke else WORKLOADS
    args.out.mkdir(parents=True, exist_ok=True)
    if args.side:
        row = measure(args.side, catalogue[args.side], args.out, args.trials, args.budget_s, args.seed)
        args.result.write_text(json.dumps(row))
        return 0
    import torch
    import triton
    names = args.workloads.split(",") if args.workloads else list(catalogue)
    unknown = [n for n in names if n not in catalogue]
    if unknown:
        parser.error(f"unknown workloads {unknown}; known: {', '.join(catalogue)}")
    meta = {"device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu (interpreter)",
            "torch": torch.__version__, "triton": triton.__version__,
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    rows = []
    for i, name in enumerate(names):
        print(f"[{i + 1}/{len(names)}] {name} ...", flush=True)
        rows.append(run_one(name, args.out, args, timeout_s=args.budget_s + 150))
        print(f"    {json.dumps(rows[-1])[:300]}", flush=True)
        (args.out / "collect.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
        (args.out / "collect.md").write_text(table(rows, meta))
        if args.tar:  # after every workload: a run cut short still brings back one file with it all
            pack(args.out)
    print(table(rows, meta), flush=True)
    return 0


def pack(out: Path) -> None:
    """Everything in ``out`` (but the archive) into ``out/spaces.tgz``, replaced atomically."""
    partial = out / "spaces.tgz.partial"
    with tarfile.open(partial, "w:gz") as tar:
        for path in sorted(out.iterdir()):
            if not path.name.startswith("spaces.tgz"):
                tar.add(path, arcname=path.name)
    partial.replace(out / "spaces.tgz")


if __name__ == "__main__":
    sys.exit(main())
