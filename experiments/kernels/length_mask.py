"""Sequence masking: keep ``x[i, j]`` where ``j < lengths[i]``, write zero elsewhere."""

from __future__ import annotations

import torch

import helion
import helion.language as hl

from ._util import EXACT, randn


@helion.kernel()
def length_mask(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """``torch.where`` on a mask built from ``tile.index`` and the per-row lengths."""
    m, n = x.size()
    out = torch.empty_like(x)
    for tile_m, tile_n in hl.tile([m, n]):
        keep = tile_n.index[None, :] < lengths[tile_m][:, None]
        out[tile_m, tile_n] = torch.where(keep, x[tile_m, tile_n], 0.0)
    return out


@helion.kernel()
def length_mask_load(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """``hl.load`` with an ``extra_mask``: masked-off elements load as zero."""
    m, n = x.size()
    out = torch.empty_like(x)
    for tile_m, tile_n in hl.tile([m, n]):
        keep = tile_n.index[None, :] < lengths[tile_m][:, None]
        out[tile_m, tile_n] = hl.load(x, [tile_m, tile_n], extra_mask=keep)
    return out


@helion.kernel()
def length_mask_store(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """``hl.store`` with an ``extra_mask`` into a zeroed output; columns from ``hl.arange``."""
    m, n = x.size()
    out = torch.zeros_like(x)
    for tile_m, tile_n in hl.tile([m, n]):
        columns = tile_n.begin + hl.arange(tile_n.block_size)
        keep = columns[None, :] < lengths[tile_m][:, None]
        hl.store(out, [tile_m, tile_n], x[tile_m, tile_n], extra_mask=keep)
    return out


KERNELS = {"length_mask": length_mask, "length_mask_load": length_mask_load, "length_mask_store": length_mask_store}


def reference(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Zero every element at or past its row's length."""
    columns = torch.arange(x.size(1), device=x.device)
    return torch.where(columns[None, :] < lengths[:, None], x, torch.zeros_like(x))


def make_args(
    size: tuple[int, int], dtype: torch.dtype, device: torch.device | str, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """``size = (m, n)``: x [m, n] and int64 lengths in [0, n]."""
    m, n = size
    lengths = torch.randint(0, n + 1, (m,), generator=generator)
    return randn([m, n], dtype, device, generator), lengths.to(device)


SIZES = [(64, 64), (37, 100), (3, 130)]
CONFIG_SIZE = (37, 100)
GPU_SIZES = [(16384, 4096)]
TOLERANCE = EXACT
