"""Host overhead of calling a kernel: ``kernel(*args)`` vs the raw Triton launch vs torch.

Measures wall time per call of a tiny add (launch-bound), without synchronizing inside the loop,
so it reports what the host spends per call. On CPU the interpreter runs the kernel itself, so
only the dispatch part (key, cache lookup, host code) is meaningful: reported separately.

    python -m experiments.launch_overhead [--calls 2000]
"""
from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import torch

import helion
import helion.language as hl


@helion.kernel(config=helion.Config(block_sizes=[1024]))
def add(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    out = torch.empty_like(x)
    for tile in hl.tile(x.size(0)):
        out[tile] = x[tile] + y[tile]
    return out


def per_call_us(fn: Callable[[], Any], calls: int, sync: Callable[[], None]) -> float:
    for _ in range(20):
        fn()
    sync()
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    sync()
    return (time.perf_counter() - start) / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    gpu = torch.cuda.is_available()
    device = "cuda" if gpu else "cpu"
    calls = args.calls if gpu else max(20, args.calls // 100)
    sync = torch.cuda.synchronize if gpu else (lambda: None)
    x = torch.randn(4096, device=device)
    y = torch.randn(4096, device=device)
    torch.testing.assert_close(add(x, y), x + y)
    bound = add.bind((x, y))
    run = bound.compile_config(bound.chosen_config)
    rows = [("helion kernel(x, y)", per_call_us(lambda: add(x, y), calls, sync)),
            ("bound.compile_config(cfg)(x, y)", per_call_us(lambda: run(x, y), calls, sync)),
            ("torch.add (eager)", per_call_us(lambda: torch.add(x, y), calls, sync))]
    if gpu:
        from helion.runtime.loader import load_module
        module = load_module(bound.to_triton_code(bound.chosen_config), interpret=False,
                             cache_dir=bound.settings.cache_dir)
        out = torch.empty_like(x)
        rows.append(("raw Triton launch (module.launch)", per_call_us(lambda: module.launch(x=x, y=y, out=out), calls, sync)))
    else:
        dispatch = per_call_us(lambda: add.specialization_key(add.normalize_args((x, y), {})), calls * 50, sync)
        rows.append(("dispatch only (args + key)", dispatch))
    print(f"device: {torch.cuda.get_device_name() if gpu else 'CPU (interpreter)'}; torch {torch.__version__}")
    print("| path | us per call |\n|---|---|")
    for name, us in rows:
        print(f"| {name} | {us:.1f} |")


if __name__ == "__main__":
    main()
