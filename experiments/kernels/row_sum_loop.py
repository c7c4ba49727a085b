"""Row sums with an explicit inner loop over column tiles and an ``hl.zeros`` accumulator."""

from __future__ import annotations

import torch

import helion
import helion.language as hl

from ._util import REDUCTION, randn


@helion.kernel()
def row_sum_loop(x: torch.Tensor) -> torch.Tensor:
    """Accumulate whole [tile_m, block_n] tiles, reduce the accumulator once at the end."""
    m, n = x.size()
    out = torch.empty([m], dtype=x.dtype, device=x.device)
    block_n = hl.register_block_size(n)
    for tile_m in hl.tile(m):
        acc = hl.zeros([tile_m, block_n], dtype=torch.float32)
        for tile_n in hl.tile(n, block_size=block_n):
            acc += x[tile_m, tile_n]
        out[tile_m] = acc.sum(-1)
    return out


@helion.kernel()
def row_sum_loop_1d(x: torch.Tensor) -> torch.Tensor:
    """Reduce every column tile as it arrives into a [tile_m] accumulator."""
    m, n = x.size()
    out = torch.empty([m], dtype=x.dtype, device=x.device)
    for tile_m in hl.tile(m):
        acc = hl.zeros([tile_m], dtype=torch.float32)
        for tile_n in hl.tile(n):
            acc = acc + torch.sum(x[tile_m, tile_n].to(torch.float32), dim=1)
        out[tile_m] = acc.to(out.dtype)
    return out


KERNELS = {"row_sum_loop": row_sum_loop, "row_sum_loop_1d": row_sum_loop_1d}


def reference(x: torch.Tensor) -> torch.Tensor:
    """Row sums in fp32, cast back."""
    return x.float().sum(-1).to(x.dtype)


def make_args(
    size: tuple[int, int], dtype: torch.dtype, device: torch.device | str, generator: torch.Generator
) -> tuple[torch.Tensor]:
    """``size = (m, n)``: x [m, n]."""
    m, n = size
    return (randn([m, n], dtype, device, generator),)


SIZES = [(64, 64), (37, 100), (1, 130), (70, 33)]
CONFIG_SIZE = (37, 100)
GPU_SIZES = [(4096, 131072)]
TOLERANCE = REDUCTION
