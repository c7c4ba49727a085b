"""Worker processes for the concurrent-writer test of ``helion/autotune/cache.py``.

The cache module is loaded from its file, so a spawned worker starts in a fraction of a second
without importing torch (through ``helion/__init__``).
"""
from __future__ import annotations

import importlib.util
import random
import sys
import time
from pathlib import Path
from typing import Any

CACHE_FILE = Path(__file__).resolve().parents[2] / "helion" / "autotune" / "cache.py"
SHARED_SHAPES = ([[512, 512]], [[1024, 1024]])
PRIVATE_KEYS = 5


def key_fields(shapes: list[list[int]]) -> dict[str, Any]:
    """The CacheKey fields of one entry of the test kernel."""
    return {"kernel": "stress", "source_hash": "abc123", "spec": repr(shapes), "shapes": shapes,
            "dtypes": ["float32"] * len(shapes), "device": "test-device",
            "versions": {"torch": "1", "triton": "2"}, "space_fingerprint": "fp"}


def shared_times(worker: int, count: int) -> list[float]:
    """The times worker ``worker`` writes for each shared key, in order."""
    rng = random.Random(worker)
    return [rng.uniform(0.1, 100.0) for _ in range(count)]


def private_shapes(worker: int) -> list[list[list[int]]]:
    """The shapes of the keys only worker ``worker`` writes."""
    return [[[worker + 1, i + 1]] for i in range(PRIVATE_KEYS)]


def _cache_module() -> Any:
    spec = importlib.util.spec_from_file_location("cache_standalone", CACHE_FILE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolves annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def write_many(root: str, worker: int, count: int, barrier: Any) -> None:
    """Put every shared key ``count`` times and this worker's private keys, interleaved; each write
    is slowed down, widening the window between reading the old entry and replacing it."""
    cache_module = _cache_module()
    write = cache_module._write_atomic

    def slow_write(path: Any, text: str) -> None:
        time.sleep(0.002)
        write(path, text)

    cache_module._write_atomic = slow_write
    cache = cache_module.ConfigCache(root)
    barrier.wait()
    for i, time_ms in enumerate(shared_times(worker, count)):
        for shapes in SHARED_SHAPES:
            key = cache_module.CacheKey(**key_fields(shapes))
            cache.put(key, {"worker": worker, "i": i, "time": time_ms}, time_ms)
        if i < PRIVATE_KEYS:
            key = cache_module.CacheKey(**key_fields(private_shapes(worker)[i]))
            cache.put(key, {"worker": worker}, float(i))
