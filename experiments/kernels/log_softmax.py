"""Row log-softmax: with ``torch.nn.functional.log_softmax`` and decomposed (max, log-sum-exp)."""

from __future__ import annotations

import torch

import helion
import helion.language as hl

from ._util import TRANSCENDENTAL, randn


@helion.kernel()
def log_softmax(x: torch.Tensor) -> torch.Tensor:
    """Log-softmax of each row, computed in fp32."""
    m, _n = x.size()
    out = torch.empty_like(x)
    for tile_m in hl.tile(m):
        row = x[tile_m, :].to(torch.float32)
        out[tile_m, :] = torch.nn.functional.log_softmax(row, dim=-1).to(out.dtype)
    return out


@helion.kernel()
def log_softmax_decomposed(x: torch.Tensor) -> torch.Tensor:
    """``x - max - log(sum(exp(x - max)))`` per row."""
    m, _n = x.size()
    out = torch.empty_like(x)
    for tile_m in hl.tile(m):
        row = x[tile_m, :].to(torch.float32)
        shifted = row - torch.amax(row, dim=-1, keepdim=True)
        log_sum_exp = torch.log(torch.sum(torch.exp(shifted), dim=-1))
        out[tile_m, :] = (shifted - log_sum_exp.reshape(-1, 1)).to(out.dtype)
    return out


KERNELS = {"log_softmax": log_softmax, "log_softmax_decomposed": log_softmax_decomposed}


def reference(x: torch.Tensor) -> torch.Tensor:
    """Log-softmax over the last dim in fp32, cast back."""
    return torch.nn.functional.log_softmax(x.float(), dim=-1).to(x.dtype)


def make_args(
    size: tuple[int, int], dtype: torch.dtype, device: torch.device | str, generator: torch.Generator
) -> tuple[torch.Tensor]:
    """``size = (m, n)``: x [m, n]."""
    m, n = size
    return (randn([m, n], dtype, device, generator, scale=2.0),)


SIZES = [(64, 64), (37, 100), (3, 130)]
CONFIG_SIZE = (37, 100)
GPU_SIZES = [(16384, 4096)]
TOLERANCE = TRANSCENDENTAL
