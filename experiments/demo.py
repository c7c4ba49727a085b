"""The main job: autotune an example kernel (rms_norm) and check it against PyTorch.

Runs on the GPU when there is one, else through Triton's CPU interpreter (small sizes, few trials):
prints the chosen config, its speed-up over eager PyTorch and the generated Triton code. Without
a GPU, interpreter timings say nothing about GPU speed, so the tuning story is then told by
replay: the same strategy searches the recorded H200 sample of this kernel's space
(``experiments/data/spaces_h200``), each config answered with its measured time.

    python -m experiments.demo [--strategy tpe] [--trials 20]
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Callable

import torch

import search

import helion
import helion.language as hl


@helion.kernel()
def rms_norm(x: torch.Tensor, w: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Root-mean-square normalization of each row of x, scaled by w."""
    m, n = x.size()
    out = torch.empty_like(x)
    for tile_m in hl.tile(m):
        xt = x[tile_m, :].to(torch.float32)
        inv = torch.rsqrt(torch.mean(xt * xt, dim=-1) + eps)
        out[tile_m, :] = (xt * inv[:, None] * w[:].float()).to(out.dtype)
    return out


def reference(x: torch.Tensor, w: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    xf = x.float()
    return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps) * w.float()).to(x.dtype)


RECORDED = Path(__file__).resolve().parent / "data" / "spaces_h200" / "rms_norm_16384x4096"


def median_ms(fn: Callable[[], object], gpu: bool, repeats: int = 20) -> float:
    """Median ms of ``fn`` (CUDA events on a GPU, else the host clock) after a warm-up call."""
    fn()
    samples = []
    for _ in range(repeats if gpu else 3):
        if gpu:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            torch.cuda.synchronize()
            samples.append(start.elapsed_time(end))
        else:
            began = time.perf_counter()
            fn()
            samples.append((time.perf_counter() - began) * 1e3)
    return statistics.median(samples)


def replay_story(strategy: str, trials: int = 60) -> None:
    """``strategy`` on the recorded GPU sample of rms_norm's space, by replay (no GPU needed)."""
    records = search.load_records(f"{RECORDED}.trials.jsonl.gz")
    space = search.Space.from_json(json.loads(Path(f"{RECORDED}.space.json").read_text()))
    objective = search.ReplayObjective(records, space=space)
    result = search.tune(space, objective, strategy, search.Budget(trials=trials), seed=0, batch_size=8,
                         initial=[records[0]["config"]])
    times = [r["time_ms"] for r in records if r["status"] == "ok"]
    default_ms = records[0]["time_ms"]
    print(f"\nno GPU here, so the tuning story is replayed: {strategy} on the recorded sample of rms_norm "
          f"16384x4096 bf16's space ({len(records)} configs measured on an {records[0]['device']}, "
          f"{RECORDED.parent.name}/); each config is answered with the nearest recorded one")
    print(f"  {trials} trials, {objective.clock():.0f} s of recorded compile + benchmark time: best "
          f"{result.best_time:.4f} ms; the sample's best {min(times):.4f} ms, its median "
          f"{statistics.median(times):.4f} ms, the default config {default_ms:.4f} ms "
          f"({default_ms / result.best_time:.2f}x slower than the pick)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--strategy", default="genetic", help="autotune strategy (random, genetic, tpe, ...)")
    parser.add_argument("--trials", type=int, default=None,
                        help="autotuning trials (default: the quick effort's time budget on a GPU, 8 on CPU)")
    args = parser.parse_args()
    gpu = torch.cuda.is_available()
    device = "cuda" if gpu else "cpu"
    m, n, dtype = (8192, 4096, torch.bfloat16) if gpu else (70, 130, torch.float32)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(m, n, generator=gen).to(device, dtype)
    w = torch.randn(n, generator=gen).to(device, dtype)
    # without a GPU the compile workers still build sm_90 binaries (registers, spills, shared
    # memory in the log) while the interpreter runs each candidate; a fresh cache, so it tunes
    kernel = helion.kernel(rms_norm.fn, autotune_strategy=args.strategy, skip_cache=True,
                           autotune_max_trials=args.trials or (None if gpu else 8),
                           autotune_compile_target=None if gpu else "sm_90")
    print(f"rms_norm {m}x{n} {dtype} on {torch.cuda.get_device_name() if gpu else 'CPU (Triton interpreter)'}")
    start = time.perf_counter()
    out = kernel(x, w)
    print(f"autotuned in {time.perf_counter() - start:.1f}s")
    expected = reference(x, w)
    tol = 2e-2 if dtype == torch.bfloat16 else 1e-4
    torch.testing.assert_close(out, expected, atol=tol, rtol=tol)
    error = (out.float() - expected.float()).abs().max().item()
    print(f"check: max |error| vs torch = {error:.2e} (ok)")
    bound = kernel.bind((x, w))
    ours, eager = median_ms(lambda: kernel(x, w), gpu), median_ms(lambda: reference(x, w), gpu)
    clock = "CUDA events" if gpu else "host clock, interpreter: not a GPU speed"
    print(f"time: {ours:.4f} ms vs eager PyTorch {eager:.4f} ms: {eager / ours:.2f}x ({clock})")
    print(f"chosen config: {bound.chosen_config}\ngenerated Triton code:\n")
    print(bound.to_triton_code(bound.chosen_config))
    if not gpu:
        replay_story(args.strategy)


if __name__ == "__main__":
    main()
