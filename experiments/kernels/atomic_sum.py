"""Sums accumulated across programs with ``hl.atomic_add``: per column, and over the whole tensor."""

from __future__ import annotations

import torch

import helion
import helion.language as hl

from ._util import REDUCTION, randn


@helion.kernel()
def atomic_column_sum(x: torch.Tensor) -> torch.Tensor:
    """Every [tile_m, tile_n] program adds its partial column sums into a zeroed fp32 output."""
    m, n = x.size()
    out = torch.zeros([n], dtype=torch.float32, device=x.device)
    for tile_m, tile_n in hl.tile([m, n]):
        hl.atomic_add(out, [tile_n], torch.sum(x[tile_m, tile_n].to(torch.float32), dim=0))
    return out


@helion.kernel()
def atomic_total(x: torch.Tensor) -> torch.Tensor:
    """Every program adds the sum of its tile into a one-element fp32 output."""
    m, n = x.size()
    total = torch.zeros([1], dtype=torch.float32, device=x.device)
    for tile_m, tile_n in hl.tile([m, n]):
        row_sums = torch.sum(x[tile_m, tile_n].to(torch.float32), dim=1)
        hl.atomic_add(total, [0], torch.sum(row_sums, dim=0))
    return total


KERNELS = {"atomic_column_sum": atomic_column_sum, "atomic_total": atomic_total}


def reference(x: torch.Tensor) -> torch.Tensor:
    """Column sums in fp32."""
    return x.float().sum(0)


def reference_total(x: torch.Tensor) -> torch.Tensor:
    """The sum of all elements in fp32, as a one-element tensor."""
    return x.float().sum().reshape(1)


REFERENCES = {"atomic_total": reference_total}


def make_args(
    size: tuple[int, int], dtype: torch.dtype, device: torch.device | str, generator: torch.Generator
) -> tuple[torch.Tensor]:
    """``size = (m, n)``: x [m, n]."""
    m, n = size
    return (randn([m, n], dtype, device, generator),)


SIZES = [(64, 64), (100, 37), (70, 130)]
CONFIG_SIZE = (100, 37)
GPU_SIZES = [(16384, 4096)]
TOLERANCE = REDUCTION
