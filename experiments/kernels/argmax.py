"""Index of the largest element of each row (the first one on ties, like ``torch.argmax``)."""

from __future__ import annotations

import torch

import helion
import helion.language as hl

from ._util import EXACT, randn


@helion.kernel()
def argmax(x: torch.Tensor) -> torch.Tensor:
    """``torch.argmax(x, dim=1)`` with whole rows per tile."""
    m, _n = x.size()
    out = torch.empty([m], dtype=torch.int64, device=x.device)
    for tile_m in hl.tile(m):
        out[tile_m] = torch.argmax(x[tile_m, :], dim=1)
    return out


@helion.kernel()
def argmax_looped(x: torch.Tensor) -> torch.Tensor:
    """A running (max, index) pair updated from one column tile at a time."""
    m, n = x.size()
    out = torch.empty([m], dtype=torch.int64, device=x.device)
    for tile_m in hl.tile(m):
        best = hl.full([tile_m], float("-inf"), dtype=torch.float32)
        best_index = hl.zeros([tile_m], dtype=torch.int64)
        for tile_n in hl.tile(n):
            chunk = x[tile_m, tile_n].to(torch.float32)
            chunk_max = torch.amax(chunk, dim=1)
            chunk_index = torch.argmax(chunk, dim=1)
            improved = chunk_max > best
            best_index = torch.where(improved, chunk_index + tile_n.begin, best_index)
            best = torch.where(improved, chunk_max, best)
        out[tile_m] = best_index
    return out


KERNELS = {"argmax": argmax, "argmax_looped": argmax_looped}


def reference(x: torch.Tensor) -> torch.Tensor:
    """``torch.argmax`` over dim 1."""
    return torch.argmax(x, dim=1)


def make_args(
    size: tuple[int, int], dtype: torch.dtype, device: torch.device | str, generator: torch.Generator
) -> tuple[torch.Tensor]:
    """``size = (m, n)``: x [m, n], shifted negative so that a zero from a masked lane would win."""
    m, n = size
    return (randn([m, n], dtype, device, generator) - 4.0,)


SIZES = [(64, 64), (37, 100), (1, 130), (70, 33)]
CONFIG_SIZE = (37, 100)
GPU_SIZES = [(16384, 4096)]
TOLERANCE = EXACT
