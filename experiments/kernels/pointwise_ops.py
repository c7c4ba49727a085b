"""Many pointwise torch ops in one kernel body (silu, tanh, sqrt, log, abs, pow, maximum, ...)."""

from __future__ import annotations

import torch

import helion
import helion.language as hl

from ._util import TRANSCENDENTAL, randn


@helion.kernel()
def pointwise_ops(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """A fused chain of pointwise ops on two [m, n] inputs, computed in fp32."""
    m, n = x.size()
    out = torch.empty_like(x)
    for tile_m, tile_n in hl.tile([m, n]):
        a = x[tile_m, tile_n].to(torch.float32)
        b = y[tile_m, tile_n].to(torch.float32)
        v = torch.nn.functional.silu(a) + torch.maximum(a, b) * torch.sigmoid(b) - torch.minimum(a, b)
        v = v + torch.sqrt(torch.abs(a) + 1.0) - torch.log(torch.abs(b) + 1.0)
        v = v + torch.pow(torch.tanh(b), 2) + torch.relu(-a) * torch.exp(-torch.abs(b))
        v = torch.where(a > b, v, v * 0.5) + torch.rsqrt(a * a + 1.0)
        out[tile_m, tile_n] = v.to(out.dtype)
    return out


KERNELS = {"pointwise_ops": pointwise_ops}


def reference(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The same chain in eager fp32, cast back."""
    a, b = x.float(), y.float()
    v = torch.nn.functional.silu(a) + torch.maximum(a, b) * torch.sigmoid(b) - torch.minimum(a, b)
    v = v + torch.sqrt(torch.abs(a) + 1.0) - torch.log(torch.abs(b) + 1.0)
    v = v + torch.pow(torch.tanh(b), 2) + torch.relu(-a) * torch.exp(-torch.abs(b))
    v = torch.where(a > b, v, v * 0.5) + torch.rsqrt(a * a + 1.0)
    return v.to(x.dtype)


def make_args(
    size: tuple[int, int], dtype: torch.dtype, device: torch.device | str, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """``size = (m, n)``: x and y [m, n]."""
    m, n = size
    return randn([m, n], dtype, device, generator, 2.0), randn([m, n], dtype, device, generator, 2.0)


SIZES = [(64, 64), (37, 100), (1, 130)]
CONFIG_SIZE = (23, 70)
GPU_SIZES = [(16384, 4096)]
TOLERANCE = TRANSCENDENTAL
