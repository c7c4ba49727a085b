"""Synthetic trial records for the cost_models tests: three kernels whose time depends on the
config in a known way, with compile failures for oversized blocks."""

from __future__ import annotations

import gzip
import itertools
import json
import math
from pathlib import Path
from typing import Any

KERNELS = {  # kernel -> input shapes at two sizes
    "vec_add": ([[4096, 1024], [1024]], [[8192, 2048], [2048]]),
    "row_norm": ([[2048, 1024], [1024]], [[4096, 4096], [4096]]),
    "tile_matmul": ([[1024, 512], [512, 1024]], [[2048, 1024], [1024, 2048]]),
}
DEVICE = "NVIDIA H100 80GB HBM3"


def synthetic_time(kernel: str, config: dict[str, Any], scale: float) -> float | None:
    """ms for a config; None when it 'fails to compile' (block product over 2**15)."""
    b0, b1 = config["block_sizes"]
    if b0 * b1 > 2**15:
        return None
    best = {"vec_add": (16, 256, 8), "row_norm": (4, 512, 4), "tile_matmul": (64, 128, 8)}[kernel]
    distance = abs(math.log2(b0 / best[0])) + abs(math.log2(b1 / best[1])) + abs(math.log2(config["num_warps"] / best[2]))
    penalty = 0.3 if config["pid_type"] == "persistent" and kernel != "tile_matmul" else 0.0
    return scale * (1.0 + 0.25 * distance + penalty)


def synthetic_records(kernels: tuple[str, ...] = tuple(KERNELS), sizes: int = 2) -> list[dict[str, Any]]:
    """Records of a small exhaustive sweep per kernel and size (one failure kind included)."""
    out = []
    for kernel in kernels:
        for size_index, shapes in enumerate(KERNELS[kernel][:sizes]):
            trial = 0
            for b0, b1, warps, pid in itertools.product((1, 4, 16, 64), (64, 256, 1024), (2, 4, 8, 16),
                                                         ("flat", "persistent")):
                config = {"block_sizes": [b0, b1], "num_warps": warps, "pid_type": pid,
                          "reduction_loops": [None if b1 >= 256 else b1]}
                ms = synthetic_time(kernel, config, scale=0.1 * (size_index + 1))
                out.append({"kernel": kernel, "key": {"shapes": shapes, "dtypes": ["bfloat16"] * len(shapes)},
                            "device": DEVICE, "strategy": "exhaustive", "seed": 0, "trial": trial,
                            "config": config, "status": "ok" if ms else "compile_error", "time_ms": ms,
                            "times_ms": [ms] if ms else None,
                            "resources": {"registers": 32 * warps, "spills": 0, "shared_bytes": b0 * b1 * 2}})
                trial += 1
    return out


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    """Write records as plain or (for a .gz name) gzipped JSONL."""
    text = "".join(json.dumps(r) + "\n" for r in records)
    if path.name.endswith(".gz"):
        with gzip.open(path, "wt", encoding="utf-8") as f:
            f.write(text)
    else:
        path.write_text(text)
    return path
