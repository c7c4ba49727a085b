"""Timing and checking of one compiled config (used by the tuner)."""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch


def clone_args(args: tuple) -> tuple:
    """Fresh copies of tensor arguments, so a trial cannot change the user's inputs."""
    return tuple(a.clone() if isinstance(a, torch.Tensor) else a for a in args)


def time_ms(fn: Callable[[], Any], gpu: bool, repeats: int = 25) -> tuple[float, list[float]]:
    """Median time in ms (and the samples). GPU: CUDA events with an L2 flush between runs;
    CPU: wall time of the interpreter (only comparable with other interpreter timings)."""
    if not gpu:
        start = time.perf_counter()
        fn()
        elapsed = (time.perf_counter() - start) * 1e3
        return elapsed, [elapsed]
    flush = torch.empty(64 * 1024 * 1024, dtype=torch.int32, device="cuda")
    fn()
    torch.cuda.synchronize()
    samples = []
    for _ in range(repeats):
        flush.zero_()
        begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        begin.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        samples.append(begin.elapsed_time(end))
    samples.sort()
    return samples[len(samples) // 2], samples


def outputs_match(actual: Any, expected: Any, atol: float = 1e-2, rtol: float = 1e-2) -> bool:
    """True when every tensor output is close to the baseline's (nested tuples allowed)."""
    if isinstance(expected, torch.Tensor):
        if not isinstance(actual, torch.Tensor) or actual.shape != expected.shape:
            return False
        return bool(torch.allclose(actual.float(), expected.float(), atol=atol, rtol=rtol, equal_nan=True))
    if isinstance(expected, (tuple, list)):
        return isinstance(actual, (tuple, list)) and len(actual) == len(expected) and all(
            outputs_match(a, e, atol, rtol) for a, e in zip(actual, expected))
    return actual == expected
