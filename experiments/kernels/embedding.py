"""Embedding lookup: ``out[..., :] = weight[indices[...], :]``, a gather by an int64 index tensor."""

from __future__ import annotations

import torch

import helion
import helion.language as hl

from . import SizeDraw
from ._util import EXACT, randn


@helion.kernel()
def embedding(indices: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Indices flattened in host code; tiles of tokens x tiles of the embedding dim, each row read
    at its token's index; the output reshaped back to ``[*indices.shape, dim]``."""
    flat = indices.reshape(-1)
    dim = weight.size(1)
    out = torch.empty([flat.size(0), dim], dtype=weight.dtype, device=weight.device)
    for tile_t, tile_d in hl.tile([flat.size(0), dim]):
        out[tile_t, tile_d] = weight[flat[tile_t], tile_d]
    return out.view(*indices.shape, dim)


@helion.kernel()
def embedding_3d(indices: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """The same lookup tiled over [batch, seq, dim]: a gather by a 2-D tile of indices."""
    batch, seq = indices.size()
    dim = weight.size(1)
    out = torch.empty([batch, seq, dim], dtype=weight.dtype, device=weight.device)
    for tile_b, tile_s, tile_d in hl.tile([batch, seq, dim]):
        out[tile_b, tile_s, tile_d] = weight[indices[tile_b, tile_s], tile_d]
    return out


KERNELS = {"embedding": embedding, "embedding_3d": embedding_3d}


def reference(indices: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``torch.nn.functional.embedding``."""
    return torch.nn.functional.embedding(indices, weight)


def make_args(
    size: tuple[int, int, int, int], dtype: torch.dtype, device: torch.device | str, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """``size = (batch, seq, vocab, dim)``: int64 indices [batch, seq] in [0, vocab), weight [vocab, dim]."""
    batch, seq, vocab, dim = size
    indices = torch.randint(0, vocab, [batch, seq], generator=generator, dtype=torch.int64).to(device)
    return indices, randn([vocab, dim], dtype, device, generator)


SIZES = [(2, 32, 100, 64), (1, 37, 7, 100), (1, 1, 130, 33), (7, 10, 1, 20)]
CONFIG_SIZE = (3, 13, 50, 100)
GPU_SIZES = [(8, 8192, 32768, 4096)]
TOLERANCE = EXACT


def random_size(draw: SizeDraw) -> tuple[int, int, int, int]:
    """For property tests: batch x seq x dim capped like any 3-D size, a vocabulary of up to 300 rows."""
    batch, seq, dim = draw.dims(3)
    return batch, seq, draw.choice([1, 2, 7, 64, 300]), dim
