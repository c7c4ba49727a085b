"""Timing of GPU work: CUDA events behind a spin kernel, L2 flushed, median of repeats.

The one timer of the project: the benchmark worker times candidates with it and the experiment
scripts time baselines with it, so every number is measured the same way.
"""
from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import torch

FLUSH_BYTES = 256 * 2**20  # several times any GPU's L2


class Timer:
    """Per-repeat times in ms: CUDA events around the call after an L2 flush, or the host clock on CPU.

    On the GPU, a spin kernel (``torch.cuda._sleep``) runs after each flush for twice the host
    time of one call (at least 50 us), so the call is queued before its start event fires: the
    events then measure the GPU's work, not Python's launch overhead, which ``host_ms`` reports.
    """

    def __init__(self, device: torch.device, repeats: int, warmup: int, flush_bytes: int = FLUSH_BYTES) -> None:
        self.device, self.repeats, self.warmup = torch.device(device), repeats, warmup
        gpu = self.device.type == "cuda"
        self._flush = torch.empty(flush_bytes, dtype=torch.int8, device=self.device) if gpu else None
        self._cycles_per_ms = self._calibrate_sleep() if gpu else 0.0

    @staticmethod
    def _calibrate_sleep() -> float:
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        cycles = 1_000_000
        for _ in range(2):  # the first launch warms up
            start.record()
            torch.cuda._sleep(cycles)
            end.record()
            torch.cuda.synchronize()
        return cycles / max(start.elapsed_time(end), 1e-3)

    def times_ms(self, fn: Callable[[], Any], repeats: int | None = None) -> tuple[list[float], float]:
        """Calls ``fn`` ``warmup`` times, then times ``repeats`` calls one by one; also the host ms per call."""
        times, host_ms = self.interleaved_ms([fn], repeats)
        return times[0], host_ms

    def interleaved_ms(self, fns: list[Callable[[], Any]], repeats: int | None = None
                       ) -> tuple[list[list[float]], float]:
        """``times_ms`` of several functions, one call of each in turn per repeat, so clock and
        temperature drift (10% within a minute of 8192^3 matmuls) falls on all of them alike;
        also the largest host ms per call."""
        repeats = self.repeats if repeats is None else repeats
        for fn in fns:
            for _ in range(self.warmup):
                fn()
        if self._flush is None:
            times: list[list[float]] = [[] for _ in fns]
            for _ in range(repeats):
                for fn, out in zip(fns, times):
                    start = time.perf_counter()
                    fn()
                    out.append((time.perf_counter() - start) * 1e3)
            return times, max(statistics.median(t) for t in times)
        host_ms = 0.0
        for fn in fns:
            torch.cuda.synchronize()
            start_host = time.perf_counter()
            for _ in range(3):
                fn()
            host_ms = max(host_ms, (time.perf_counter() - start_host) * 1e3 / 3)  # enqueue cost
        torch.cuda.synchronize()
        sleep_cycles = int(min(max(2 * host_ms, 0.05), 20.0) * self._cycles_per_ms)
        events = [[(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))
                   for _ in range(repeats)] for _ in fns]
        for r in range(repeats):
            for fn, pairs in zip(fns, events):
                start, end = pairs[r]
                self._flush.zero_()  # evicts inputs and outputs from L2; not inside the events
                torch.cuda._sleep(sleep_cycles)
                start.record()
                fn()
                end.record()
        torch.cuda.synchronize()
        return [[start.elapsed_time(end) for start, end in pairs] for pairs in events], host_ms


def median_ms(timer: Timer, fn: Callable[[], Any], *, cut_ms: float | None = None,
              target_ms: float = 30.0, min_repeats: int = 5, max_repeats: int = 60) -> tuple[float, list[float], bool]:
    """Median ms of ``fn`` with the repeats chosen by time: one screening call first; a call slower
    than ``cut_ms`` stops there (cut short: clearly slower than the best so far); else enough
    repeats to fill about ``target_ms`` of GPU time. Returns (median, samples, cut)."""
    screen, _ = timer.times_ms(fn, repeats=1)
    if cut_ms is not None and screen[0] > cut_ms:
        return screen[0], screen, True
    if timer.device.type != "cuda":
        return screen[0], screen, False
    repeats = int(min(max(target_ms / max(screen[0], 1e-3), min_repeats), max_repeats))
    samples, _ = timer.times_ms(fn, repeats=repeats)
    return statistics.median(samples), samples, False
