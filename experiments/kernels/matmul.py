"""Matrix multiplication with a K loop and an fp32 accumulator, in three spellings."""

from __future__ import annotations

import torch

import helion
import helion.language as hl

from . import SizeDraw
from ._util import MATMUL, randn


@helion.kernel(static_shapes=True)
def matmul(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``x @ y`` for x [m, k] and y [k, n], accumulating with ``torch.addmm``."""
    m, k = x.size()
    k2, n = y.size()
    assert k == k2, f"size mismatch {k} != {k2}"
    out = torch.empty([m, n], dtype=torch.promote_types(x.dtype, y.dtype), device=x.device)
    for tile_m, tile_n in hl.tile([m, n]):
        acc = hl.zeros([tile_m, tile_n], dtype=torch.float32)
        for tile_k in hl.tile(k):
            acc = torch.addmm(acc, x[tile_m, tile_k], y[tile_k, tile_n])
        out[tile_m, tile_n] = acc
    return out


@helion.kernel()
def matmul_dot(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The same product with ``hl.dot(a, b, acc=acc)`` and dynamic shapes."""
    m, k = x.size()
    _k, n = y.size()
    out = torch.empty([m, n], dtype=torch.promote_types(x.dtype, y.dtype), device=x.device)
    for tile_m, tile_n in hl.tile([m, n]):
        acc = hl.zeros([tile_m, tile_n], dtype=torch.float32)
        for tile_k in hl.tile(k):
            acc = hl.dot(x[tile_m, tile_k], y[tile_k, tile_n], acc=acc)
        out[tile_m, tile_n] = acc.to(out.dtype)
    return out


@helion.kernel()
def matmul_operator(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The same product with the ``@`` operator added into the accumulator."""
    m, k = x.size()
    _k, n = y.size()
    out = torch.empty([m, n], dtype=torch.promote_types(x.dtype, y.dtype), device=x.device)
    for tile_m, tile_n in hl.tile([m, n]):
        acc = hl.zeros([tile_m, tile_n], dtype=torch.float32)
        for tile_k in hl.tile(k):
            acc += x[tile_m, tile_k] @ y[tile_k, tile_n]
        out[tile_m, tile_n] = acc.to(out.dtype)
    return out


KERNELS = {"matmul": matmul, "matmul_dot": matmul_dot, "matmul_operator": matmul_operator}


def reference(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The product in fp32, cast back to the promoted dtype."""
    return (x.float() @ y.float()).to(torch.promote_types(x.dtype, y.dtype))


def make_args(
    size: tuple[int, int, int], dtype: torch.dtype, device: torch.device | str, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """``size = (m, k, n)``: x [m, k] and y [k, n]."""
    m, k, n = size
    return randn([m, k], dtype, device, generator), randn([k, n], dtype, device, generator)


SIZES = [(64, 64, 64), (100, 72, 130), (7, 33, 20)]
CONFIG_SIZE = (100, 72, 130)
# (m, k, n): square, large, skinny K (tall), skinny K (wide), two k steps
GPU_SIZES = [(4096, 4096, 4096), (8192, 8192, 8192), (16384, 512, 4096), (4096, 512, 16384), (8192, 128, 8192)]
TOLERANCE = MATMUL
MAX_RANDOM_WORK = 200_000  # multiply-adds per random size (Triton's interpreter is slow)


def random_size(draw: SizeDraw) -> tuple[int, int, int]:
    """For property tests: random ``(m, k, n)`` with the multiply-adds ``m * k * n`` capped."""
    return draw.dims(3, max_elements=MAX_RANDOM_WORK)
