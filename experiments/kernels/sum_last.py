"""Sum over the last dimension: one tile of rows at a time, each row reduced whole."""

from __future__ import annotations

import torch

import helion
import helion.language as hl

from ._util import REDUCTION, randn


@helion.kernel()
def sum_last(x: torch.Tensor) -> torch.Tensor:
    """``x.sum(-1)`` for a 2-D x."""
    m, _n = x.size()
    out = torch.empty([m], dtype=x.dtype, device=x.device)
    for tile_m in hl.tile(m):
        out[tile_m] = x[tile_m, :].sum(-1)
    return out


@helion.kernel()
def mean_last(x: torch.Tensor) -> torch.Tensor:
    """``x.mean(-1)`` accumulated and returned in fp32."""
    m, _n = x.size()
    out = torch.empty([m], dtype=torch.float32, device=x.device)
    for tile_m in hl.tile(m):
        out[tile_m] = torch.mean(x[tile_m, :].to(torch.float32), dim=1)
    return out


KERNELS = {"sum_last": sum_last, "mean_last": mean_last}


def reference(x: torch.Tensor) -> torch.Tensor:
    """Row sums in fp32, cast back."""
    return x.float().sum(-1).to(x.dtype)


def reference_mean(x: torch.Tensor) -> torch.Tensor:
    """Row means in fp32."""
    return x.float().mean(-1)


REFERENCES = {"mean_last": reference_mean}


def make_args(
    size: tuple[int, int], dtype: torch.dtype, device: torch.device | str, generator: torch.Generator
) -> tuple[torch.Tensor]:
    """``size = (m, n)``: x [m, n]."""
    m, n = size
    return (randn([m, n], dtype, device, generator),)


SIZES = [(64, 64), (37, 100), (1, 130), (70, 33)]
CONFIG_SIZE = (37, 100)
GPU_SIZES = [(16384, 4096), (1024, 131072)]
TOLERANCE = REDUCTION
