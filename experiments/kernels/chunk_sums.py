"""First stage of a split reduction: column sums of each chunk of ``CHUNK_ROWS`` rows, indexed by tile id."""

from __future__ import annotations

import torch

import helion
import helion.language as hl

from ._util import REDUCTION, randn

CHUNK_ROWS = 32


@helion.kernel()
def chunk_sums(x: torch.Tensor) -> torch.Tensor:
    """``partial[c, j] = x[c*CHUNK_ROWS:(c+1)*CHUNK_ROWS, j].sum()``, accumulated in fp32."""
    m, n = x.size()
    partial = torch.empty([(m + CHUNK_ROWS - 1) // CHUNK_ROWS, n], dtype=torch.float32, device=x.device)
    for tile_n in hl.tile(n):
        for tile_m in hl.tile(m, block_size=CHUNK_ROWS):
            partial[tile_m.id, tile_n] = torch.sum(x[tile_m, tile_n].to(torch.float32), dim=0)
    return partial


KERNELS = {"chunk_sums": chunk_sums}


def reference(x: torch.Tensor) -> torch.Tensor:
    """Pad the rows to a multiple of CHUNK_ROWS with zeros and sum each chunk, in fp32."""
    m, n = x.shape
    chunks = (m + CHUNK_ROWS - 1) // CHUNK_ROWS
    padded = torch.zeros([chunks * CHUNK_ROWS, n], dtype=torch.float32, device=x.device)
    padded[:m] = x.float()
    return padded.view(chunks, CHUNK_ROWS, n).sum(1)


def make_args(
    size: tuple[int, int], dtype: torch.dtype, device: torch.device | str, generator: torch.Generator
) -> tuple[torch.Tensor]:
    """``size = (m, n)``: x [m, n]."""
    m, n = size
    return (randn([m, n], dtype, device, generator),)


SIZES = [(64, 64), (100, 37), (5, 130)]
CONFIG_SIZE = (100, 37)
GPU_SIZES = [(16384, 4096)]
TOLERANCE = REDUCTION
