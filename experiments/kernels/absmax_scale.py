"""Per-tensor absmax scaling (as for fp8 quantization) in three top-level loops, one Triton kernel
each, run in order: row maxima of ``|x|`` to a buffer, the maximum of the buffer, then
``x / absmax``. A later loop reads what an earlier one wrote."""

from __future__ import annotations

import torch

import helion
import helion.language as hl

from . import SizeDraw
from ._util import POINTWISE, randn


@helion.kernel()
def absmax_scale(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x / max|x|, max|x|)``; the maximum as a one-element fp32 tensor."""
    m, n = x.size()
    row_max = torch.empty([m], dtype=torch.float32, device=x.device)
    absmax = torch.empty([1], dtype=torch.float32, device=x.device)
    out = torch.empty_like(x)
    for tile_m in hl.tile(m):
        row_max[tile_m] = torch.amax(torch.abs(x[tile_m, :].to(torch.float32)), dim=1)
    for _ in hl.grid(1):
        absmax[0] = torch.amax(row_max[:], dim=0)
    for tile_m, tile_n in hl.tile([m, n]):
        out[tile_m, tile_n] = (x[tile_m, tile_n].to(torch.float32) / absmax[0]).to(out.dtype)
    return out, absmax


KERNELS = {"absmax_scale": absmax_scale}


def reference(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The same in fp32."""
    absmax = x.float().abs().amax().reshape(1)
    return (x.float() / absmax).to(x.dtype), absmax


def make_args(
    size: tuple[int, int], dtype: torch.dtype, device: torch.device | str, generator: torch.Generator
) -> tuple[torch.Tensor]:
    """``size = (m, n)``: x [m, n]."""
    m, n = size
    return (randn([m, n], dtype, device, generator, scale=3.0),)


SIZES = [(64, 64), (37, 100), (1, 130), (70, 33)]
CONFIG_SIZE = (37, 100)
GPU_SIZES = [(16384, 4096)]
TOLERANCE = POINTWISE


def random_size(draw: SizeDraw) -> tuple[int, int]:
    """For property tests: at most 4096 rows (the second loop reads all row maxima at once)."""
    return draw.dims(2)
