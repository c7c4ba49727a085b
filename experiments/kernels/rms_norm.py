"""RMS normalization over the last dimension with a learned weight: ``x / rms(x) * weight``."""

from __future__ import annotations

import torch

import helion
import helion.language as hl

from ._util import TRANSCENDENTAL, randn


@helion.kernel()
def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Each tile of rows is normalized in fp32 by the root of its mean square."""
    m, n = x.size()
    assert weight.size(0) == n, f"weight has {weight.size(0)} elements, expected {n}"
    out = torch.empty_like(x)
    for tile_m in hl.tile(m):
        row = x[tile_m, :].to(torch.float32)
        inv_rms = torch.rsqrt(torch.mean(row * row, dim=-1) + eps)
        out[tile_m, :] = (row * inv_rms[:, None] * weight[:].to(torch.float32)).to(out.dtype)
    return out


@helion.kernel()
def rms_norm_looped(x: torch.Tensor, weight: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """The same norm for rows too long for one tile: a loop sums squares, a second loop writes."""
    m, n = x.size()
    out = torch.empty_like(x)
    for tile_m in hl.tile(m):
        sum_sq = hl.zeros([tile_m], dtype=torch.float32)
        for tile_n in hl.tile(n):
            chunk = x[tile_m, tile_n].to(torch.float32)
            sum_sq = sum_sq + torch.sum(chunk * chunk, dim=1)
        inv_rms = torch.rsqrt(sum_sq / n + eps).unsqueeze(1)
        for tile_n in hl.tile(n):
            chunk = x[tile_m, tile_n].to(torch.float32)
            out[tile_m, tile_n] = (chunk * inv_rms * weight[tile_n].to(torch.float32)).to(out.dtype)
    return out


KERNELS = {"rms_norm": rms_norm, "rms_norm_looped": rms_norm_looped}


def reference(x: torch.Tensor, weight: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """RMS norm in fp32, cast back."""
    xf = x.float()
    return (xf * torch.rsqrt(xf.pow(2).mean(dim=-1, keepdim=True) + eps) * weight.float()).to(x.dtype)


def make_args(
    size: tuple[int, int], dtype: torch.dtype, device: torch.device | str, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """``size = (m, n)``: x [m, n] and weight [n]; eps is left at its default."""
    m, n = size
    return randn([m, n], dtype, device, generator, scale=2.0), randn([n], dtype, device, generator)


SIZES = [(64, 64), (37, 100), (1, 130), (70, 33)]
CONFIG_SIZE = (37, 100)
GPU_SIZES = [(16384, 4096)]
TOLERANCE = TRANSCENDENTAL
