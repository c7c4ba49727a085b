"""Matmul with a fused epilogue: ``relu(x @ y + bias)``, bias of shape [n]."""

from __future__ import annotations

import torch

import helion
import helion.language as hl

from . import SizeDraw
from ._util import MATMUL, randn


@helion.kernel(static_shapes=True)
def matmul_bias_relu(x: torch.Tensor, y: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """The bias add and the ReLU run on the fp32 accumulator before the single store."""
    m, k = x.size()
    _k, n = y.size()
    out = torch.empty([m, n], dtype=torch.promote_types(x.dtype, y.dtype), device=x.device)
    for tile_m, tile_n in hl.tile([m, n]):
        acc = hl.zeros([tile_m, tile_n], dtype=torch.float32)
        for tile_k in hl.tile(k):
            acc = torch.addmm(acc, x[tile_m, tile_k], y[tile_k, tile_n])
        out[tile_m, tile_n] = torch.relu(acc + bias[tile_n]).to(out.dtype)
    return out


KERNELS = {"matmul_bias_relu": matmul_bias_relu}


def reference(x: torch.Tensor, y: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """``relu(x @ y + bias)`` in fp32, cast back."""
    return torch.relu(x.float() @ y.float() + bias.float()).to(torch.promote_types(x.dtype, y.dtype))


def make_args(
    size: tuple[int, int, int], dtype: torch.dtype, device: torch.device | str, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``size = (m, k, n)``: x [m, k], y [k, n] and bias [n]."""
    m, k, n = size
    return (
        randn([m, k], dtype, device, generator),
        randn([k, n], dtype, device, generator),
        randn([n], dtype, device, generator, scale=4.0),
    )


SIZES = [(64, 64, 64), (100, 72, 130), (7, 33, 20)]
CONFIG_SIZE = (100, 72, 130)
GPU_SIZES = [(4096, 4096, 4096)]
TOLERANCE = MATMUL
MAX_RANDOM_WORK = 200_000  # multiply-adds per random size (Triton's interpreter is slow)


def random_size(draw: SizeDraw) -> tuple[int, int, int]:
    """For property tests: random ``(m, k, n)`` with the multiply-adds ``m * k * n`` capped."""
    return draw.dims(3, max_elements=MAX_RANDOM_WORK)
