"""Batched matmul ``A[b, m, k] @ B[b, k, n]``, tiled over batch, rows and columns."""

from __future__ import annotations

import torch

import helion
import helion.language as hl

from . import SizeDraw
from ._util import MATMUL, randn


@helion.kernel(static_shapes=True)
def bmm(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Accumulates with ``torch.baddbmm`` into a [tile_b, tile_m, tile_n] fp32 accumulator."""
    batch, m, k = a.size()
    _batch, _k, n = b.size()
    out = torch.empty([batch, m, n], dtype=torch.promote_types(a.dtype, b.dtype), device=a.device)
    for tile_b, tile_m, tile_n in hl.tile([batch, m, n]):
        acc = hl.zeros([tile_b, tile_m, tile_n], dtype=torch.float32)
        for tile_k in hl.tile(k):
            acc = torch.baddbmm(acc, a[tile_b, tile_m, tile_k], b[tile_b, tile_k, tile_n])
        out[tile_b, tile_m, tile_n] = acc
    return out


@helion.kernel()
def bmm_add(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The same product with ``torch.bmm`` added into the accumulator (folded into the dot)."""
    batch, m, k = a.size()
    _batch, _k, n = b.size()
    out = torch.empty([batch, m, n], dtype=torch.promote_types(a.dtype, b.dtype), device=a.device)
    for tile_b, tile_m, tile_n in hl.tile([batch, m, n]):
        acc = hl.zeros([tile_b, tile_m, tile_n], dtype=torch.float32)
        for tile_k in hl.tile(k):
            acc = acc + torch.bmm(a[tile_b, tile_m, tile_k], b[tile_b, tile_k, tile_n])
        out[tile_b, tile_m, tile_n] = acc.to(out.dtype)
    return out


KERNELS = {"bmm": bmm, "bmm_add": bmm_add}


def reference(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``torch.bmm`` in fp32, cast back."""
    return torch.bmm(a.float(), b.float()).to(torch.promote_types(a.dtype, b.dtype))


def make_args(
    size: tuple[int, int, int, int], dtype: torch.dtype, device: torch.device | str, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """``size = (batch, m, k, n)``: a [batch, m, k] and b [batch, k, n]."""
    batch, m, k, n = size
    return randn([batch, m, k], dtype, device, generator), randn([batch, k, n], dtype, device, generator)


SIZES = [(2, 64, 64, 64), (3, 37, 50, 20), (1, 16, 130, 40)]
CONFIG_SIZE = (3, 37, 50, 20)
GPU_SIZES = [(16, 1024, 1024, 1024), (64, 512, 256, 512)]
TOLERANCE = MATMUL
MAX_RANDOM_WORK = 200_000  # multiply-adds per random size (Triton's interpreter is slow)


def random_size(draw: SizeDraw) -> tuple[int, int, int, int]:
    """For property tests: random ``(batch, m, k, n)`` with ``batch * m * k * n`` capped."""
    return draw.dims(4, max_elements=MAX_RANDOM_WORK)
