"""Layer normalization over the last dimension with weight and bias.

``layer_norm`` uses ``torch.var``; the public Helion 1.5.1 Triton backend cannot lower that
two-output reduction, ``layer_norm_moments`` (mean of squares) is the portable spelling.
"""

from __future__ import annotations

import torch

import helion
import helion.language as hl

from . import SizeDraw
from ._util import TRANSCENDENTAL, randn


@helion.kernel()
def layer_norm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """``(x - mean) / sqrt(var + eps) * weight + bias`` with the biased variance, in fp32."""
    m, n = x.size()
    assert weight.size(0) == n and bias.size(0) == n, "weight and bias must have x.size(1) elements"
    out = torch.empty_like(x)
    for tile_m in hl.tile(m):
        row = x[tile_m, :].to(torch.float32)
        mean = torch.mean(row, dim=-1, keepdim=True)
        var = torch.var(row, dim=-1, keepdim=True, unbiased=False)
        normalized = (row - mean) * torch.rsqrt(var + eps)
        out[tile_m, :] = (normalized * weight[:].to(torch.float32) + bias[:].to(torch.float32)).to(out.dtype)
    return out


@helion.kernel()
def layer_norm_moments(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float = 1e-5
) -> torch.Tensor:
    """The variance as ``E[x^2] - E[x]^2``, with the row length specialized into the kernel."""
    m = x.size(0)
    n = hl.specialize(x.size(1))
    out = torch.empty_like(x)
    for tile_m in hl.tile(m):
        row = x[tile_m, :].to(torch.float32)
        mean = torch.sum(row, dim=1) / n
        mean_sq = torch.sum(row * row, dim=1) / n
        inv_std = torch.rsqrt(mean_sq - mean * mean + eps)
        normalized = (row - mean[:, None]) * inv_std[:, None]
        out[tile_m, :] = (normalized * weight[:].to(torch.float32) + bias[:].to(torch.float32)).to(out.dtype)
    return out


KERNELS = {"layer_norm": layer_norm, "layer_norm_moments": layer_norm_moments}


def reference(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """``torch.nn.functional.layer_norm`` in fp32, cast back."""
    n = x.size(-1)
    return torch.nn.functional.layer_norm(x.float(), [n], weight.float(), bias.float(), eps).to(x.dtype)


def make_args(
    size: tuple[int, int], dtype: torch.dtype, device: torch.device | str, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
    """``size = (m, n)``: x [m, n] (offset from zero), weight [n], bias [n] and eps."""
    m, n = size
    x = (torch.randn([m, n], generator=generator) * 2.0 + 0.5).to(dtype=dtype, device=device)
    return x, randn([n], dtype, device, generator), randn([n], dtype, device, generator), 1e-5


SIZES = [(64, 64), (37, 100), (1, 130), (70, 33)]
CONFIG_SIZE = (37, 100)
GPU_SIZES = [(16384, 4096)]
TOLERANCE = TRANSCENDENTAL


def random_size(draw: SizeDraw) -> tuple[int, int]:
    """For property tests: ``(m, n)`` with rows of one element or of at least 16.

    ``layer_norm_moments`` takes the variance as ``E[x^2] - E[x]^2``, which cancels in fp32 when the
    few values of a short row happen to lie close together (the row [3.5547, 3.5726, 3.5721] comes
    out 4e-3 off, exactly as torch evaluating the same formula); such rows test the formula, not the
    compiler. Rows of 2 to 15 elements get 16 more, and the rows are fewer to keep the element count.
    """
    m, n = draw.dims(2)
    if 1 < n < 16:
        m, n = max(1, m * n // (n + 16)), n + 16
    return m, n
