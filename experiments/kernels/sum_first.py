"""Sum over the first dimension: tile the columns, reduce every row of each column tile."""

from __future__ import annotations

import torch

import helion
import helion.language as hl

from ._util import REDUCTION, randn


@helion.kernel()
def sum_first(x: torch.Tensor) -> torch.Tensor:
    """``x.sum(0)`` for a 2-D x, accumulated in fp32."""
    _m, n = x.size()
    out = torch.empty([n], dtype=x.dtype, device=x.device)
    for tile_n in hl.tile(n):
        out[tile_n] = torch.sum(x[:, tile_n].to(torch.float32), dim=0).to(out.dtype)
    return out


KERNELS = {"sum_first": sum_first}


def reference(x: torch.Tensor) -> torch.Tensor:
    """Column sums in fp32, cast back."""
    return x.float().sum(0).to(x.dtype)


def make_args(
    size: tuple[int, int], dtype: torch.dtype, device: torch.device | str, generator: torch.Generator
) -> tuple[torch.Tensor]:
    """``size = (m, n)``: x [m, n]."""
    m, n = size
    return (randn([m, n], dtype, device, generator),)


SIZES = [(64, 64), (100, 37), (130, 1), (33, 70)]
CONFIG_SIZE = (100, 37)
GPU_SIZES = [(4096, 16384)]
TOLERANCE = REDUCTION
