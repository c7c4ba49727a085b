"""Several row statistics from one load of each row: mean, range (amax - amin) and minimum.

``torch.min(row, dim=1)`` returns values and indices; the public Helion 1.5.1 Triton backend
cannot lower such two-output reductions (``torch.amin`` is the portable spelling).
"""

from __future__ import annotations

import torch

import helion
import helion.language as hl

from ._util import REDUCTION, randn


@helion.kernel()
def row_stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Returns ``(mean in fp32, amax - amin, min)`` of each row of x."""
    m, _n = x.size()
    mean = torch.empty([m], dtype=torch.float32, device=x.device)
    spread = torch.empty([m], dtype=x.dtype, device=x.device)
    lowest = torch.empty([m], dtype=x.dtype, device=x.device)
    for tile_m in hl.tile(m):
        row = x[tile_m, :]
        mean[tile_m] = torch.mean(row.to(torch.float32), dim=1)
        spread[tile_m] = torch.amax(row, dim=1) - torch.amin(row, dim=1)
        values, _indices = torch.min(row, dim=1)
        lowest[tile_m] = values
    return mean, spread, lowest


KERNELS = {"row_stats": row_stats}


def reference(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The same statistics in fp32; the range and minimum cast back to x's dtype."""
    xf = x.float()
    spread = xf.amax(dim=1) - xf.amin(dim=1)
    return xf.mean(dim=1), spread.to(x.dtype), xf.min(dim=1).values.to(x.dtype)


def make_args(
    size: tuple[int, int], dtype: torch.dtype, device: torch.device | str, generator: torch.Generator
) -> tuple[torch.Tensor]:
    """``size = (m, n)``: x [m, n]."""
    m, n = size
    return (randn([m, n], dtype, device, generator),)


SIZES = [(64, 64), (37, 100), (1, 130)]
CONFIG_SIZE = (37, 100)
GPU_SIZES = [(16384, 4096)]
TOLERANCE = REDUCTION
