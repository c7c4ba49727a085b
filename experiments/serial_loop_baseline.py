"""The autotuner before the engine (issue #10's "today's serial loop"), kept as a measured baseline.

One process, one config at a time: compile at the first call, check against the default
config's output, time with CUDA events (25 repeats, L2 flushed), driven by ``search.tune`` with
batches of 4. ``trials_per_s(kernel, args, trials)`` reports how fast it goes.
"""
from __future__ import annotations

import time
from typing import Any

import torch

import search
from experiments.kernels.checking import clone_inputs
from helion.autotune.accuracy import mismatch
from helion.autotune.timing import Timer


def trials_per_s(kernel: Any, args: tuple, trials: int, strategy: str = "genetic") -> dict[str, Any]:
    """Run the serial loop for ``trials`` trials; trials per second and the best time found."""
    bound = kernel.bind(args)
    gpu = bound.gpu
    timer = Timer(bound.device, 25, 1)
    start = time.perf_counter()
    expected = bound.compile_config(bound.config_space.default())(*clone_inputs(args))

    def evaluate(config: dict[str, Any]) -> Any:
        try:
            run = bound.compile_config(config)
            actual = run(*clone_inputs(args))
            if gpu:
                torch.cuda.synchronize()
        except Exception:  # noqa: BLE001 - a failing config is an outcome
            return search.Failure("compile_error")
        if mismatch(actual, expected):
            return search.Failure("inaccurate")
        times, _ = timer.times_ms(lambda: run(*args))
        return sorted(times)[len(times) // 2]

    result = search.tune(bound.config_space, lambda configs: [evaluate(c) for c in configs], strategy,
                         search.Budget(trials=trials), batch_size=4, seed=0)
    seconds = time.perf_counter() - start
    return {"trials": result.trials, "seconds": seconds, "trials_per_s": result.trials / seconds,
            "best_ms": result.best_time}
