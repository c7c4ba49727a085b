"""Copies organised in different ways: ``hl.grid`` rows with integer indexing, and sub-tiles of a tile."""

from __future__ import annotations

import torch

import helion
import helion.language as hl

from . import SizeDraw
from ._util import POINTWISE, randn


@helion.kernel
def grid_copy(x: torch.Tensor) -> torch.Tensor:
    """One program per row (``hl.grid``), looping over column tiles of that row."""
    m, n = x.size()
    out = torch.empty_like(x)
    for i in hl.grid(m):
        for tile_n in hl.tile(n):
            out[i, tile_n] = x[i, tile_n]
    return out


@helion.kernel()
def subtile_copy(x: torch.Tensor) -> torch.Tensor:
    """Each row tile is walked in smaller sub-tiles, ``hl.tile(tile.begin, tile.end)``."""
    m, n = x.size()
    out = torch.empty_like(x)
    for tile_m, tile_n in hl.tile([m, n]):
        for rows in hl.tile(tile_m.begin, tile_m.end):
            out[rows, tile_n] = x[rows, tile_n]
    return out


@helion.kernel()
def subtract_first_row(x: torch.Tensor) -> torch.Tensor:
    """``x - x[0]``: every tile also reads row 0 through a constant integer index."""
    m, n = x.size()
    out = torch.empty_like(x)
    for tile_m, tile_n in hl.tile([m, n]):
        out[tile_m, tile_n] = x[tile_m, tile_n] - x[0, tile_n][None, :]
    return out


KERNELS = {"grid_copy": grid_copy, "subtile_copy": subtile_copy, "subtract_first_row": subtract_first_row}


def reference(x: torch.Tensor) -> torch.Tensor:
    """A copy of x."""
    return x.clone()


def reference_subtract_first_row(x: torch.Tensor) -> torch.Tensor:
    """``x - x[0]`` in fp32, cast back."""
    return (x.float() - x[0].float()).to(x.dtype)


REFERENCES = {"subtract_first_row": reference_subtract_first_row}


def make_args(
    size: tuple[int, int], dtype: torch.dtype, device: torch.device | str, generator: torch.Generator
) -> tuple[torch.Tensor]:
    """``size = (m, n)``: x [m, n]."""
    m, n = size
    return (randn([m, n], dtype, device, generator),)


SIZES = [(64, 64), (37, 100), (2, 130)]
CONFIG_SIZE = (37, 100)
GPU_SIZES = [(16384, 4096)]
TOLERANCE = POINTWISE  # the copies must be exact; x - x[0] may round differently in fp16


def random_size(draw: SizeDraw) -> tuple[int, int]:
    """For property tests: ``(m, n)`` with fewer elements, as ``hl.grid`` runs one program per row."""
    return draw.dims(2, max_elements=10_000)
