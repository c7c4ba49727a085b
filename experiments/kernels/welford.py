"""Layer norm by Welford's combine of per-tile moments, in the public example's style.

Each column tile's count is read as ``chunk.size(-1)``: the tile's elements inside the row, fewer
than the block on a partial last tile (as in eager PyTorch). Before that was so, a block that did
not divide the row length counted the padding and every row came out wrong.
"""

from __future__ import annotations

import torch

import helion
import helion.language as hl

from ._util import TRANSCENDENTAL, randn


@helion.kernel()
def welford(weight: torch.Tensor, bias: torch.Tensor, x: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Running count, mean and M2 per row over column tiles, then a second pass normalizes."""
    m, n = x.size()
    out = torch.empty([m, n], dtype=x.dtype, device=x.device)
    for tile_m in hl.tile(m):
        acc_cnt = torch.zeros_like(x[tile_m, 0], dtype=torch.float32)
        acc_mean = torch.zeros_like(acc_cnt)
        acc_m2 = torch.zeros_like(acc_cnt)
        for tile_n in hl.tile(n):
            chunk = x[tile_m, tile_n].to(torch.float32)
            count = chunk.size(-1)
            mean_c = torch.mean(chunk, dim=-1)
            m2_c = torch.sum(chunk * chunk, dim=-1) - mean_c * mean_c * count
            delta = mean_c - acc_mean
            new_cnt = acc_cnt + count
            acc_mean = acc_mean + delta * (count / new_cnt)
            acc_m2 = acc_m2 + m2_c + delta * delta * (acc_cnt * count / new_cnt)
            acc_cnt = new_cnt
        mean_col = acc_mean[:, None]
        rstd_col = torch.rsqrt(acc_m2 / acc_cnt + eps)[:, None]
        for tile_n in hl.tile(n):
            y = (x[tile_m, tile_n].to(torch.float32) - mean_col) * rstd_col
            out[tile_m, tile_n] = (y * weight[tile_n][None, :].float() + bias[tile_n][None, :].float()).to(x.dtype)
    return out


KERNELS = {"welford": welford}


def reference(weight: torch.Tensor, bias: torch.Tensor, x: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """``torch.nn.functional.layer_norm`` in fp32, cast back."""
    return torch.nn.functional.layer_norm(x.float(), [x.size(-1)], weight.float(), bias.float(), eps).to(x.dtype)


def make_args(
    size: tuple[int, int], dtype: torch.dtype, device: torch.device | str, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
    """``size = (m, n)``: weight [n], bias [n], x [m, n] (offset from zero) and eps."""
    m, n = size
    x = (torch.randn([m, n], generator=generator) * 2.0 + 0.5).to(dtype=dtype, device=device)
    return randn([n], dtype, device, generator), randn([n], dtype, device, generator), x, 1e-5


SIZES = [(16, 64), (9, 100), (1, 130)]
CONFIG_SIZE = (9, 100)
GPU_SIZES = [(262144, 1536)]
TOLERANCE = TRANSCENDENTAL
