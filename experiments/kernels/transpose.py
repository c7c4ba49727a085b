"""2-D transpose: read a [tile_m, tile_n] tile, write it to the [tile_n, tile_m] block of the output."""

from __future__ import annotations

import torch

import helion
import helion.language as hl

from ._util import EXACT, randn


@helion.kernel
def transpose(x: torch.Tensor) -> torch.Tensor:
    """``x.t().contiguous()`` with ``Tensor.transpose`` on the tile."""
    m, n = x.size()
    out = torch.empty([n, m], dtype=x.dtype, device=x.device)
    for tile_m, tile_n in hl.tile([m, n]):
        out[tile_n, tile_m] = x[tile_m, tile_n].transpose(0, 1)
    return out


@helion.kernel
def transpose_permute(x: torch.Tensor) -> torch.Tensor:
    """The same with ``Tensor.permute``."""
    m, n = x.size()
    out = torch.empty([n, m], dtype=x.dtype, device=x.device)
    for tile_m, tile_n in hl.tile([m, n]):
        out[tile_n, tile_m] = x[tile_m, tile_n].permute(1, 0)
    return out


KERNELS = {"transpose": transpose, "transpose_permute": transpose_permute}


def reference(x: torch.Tensor) -> torch.Tensor:
    """The transposed copy."""
    return x.t().contiguous()


def make_args(
    size: tuple[int, int], dtype: torch.dtype, device: torch.device | str, generator: torch.Generator
) -> tuple[torch.Tensor]:
    """``size = (m, n)``: x [m, n]."""
    m, n = size
    return (randn([m, n], dtype, device, generator),)


SIZES = [(64, 64), (37, 100), (1, 130)]
CONFIG_SIZE = (37, 100)
GPU_SIZES = [(8192, 8192)]
TOLERANCE = EXACT
