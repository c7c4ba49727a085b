"""Row softmax over the last dimension: with torch's softmax, decomposed, and as an online two-pass loop."""

from __future__ import annotations

import torch

import helion
import helion.language as hl

from ._util import TRANSCENDENTAL, randn


@helion.kernel()
def softmax(x: torch.Tensor) -> torch.Tensor:
    """Each tile of rows is loaded whole and handed to ``torch.nn.functional.softmax``."""
    m, _n = x.size()
    out = torch.empty_like(x)
    for tile_m in hl.tile(m):
        out[tile_m, :] = torch.nn.functional.softmax(x[tile_m, :], dim=1)
    return out


@helion.kernel()
def softmax_decomposed(x: torch.Tensor) -> torch.Tensor:
    """Softmax spelled out: subtract the row max, exponentiate, divide by the row sum."""
    m, _n = x.size()
    out = torch.empty_like(x)
    for tile_m in hl.tile(m):
        row = x[tile_m, :].to(torch.float32)
        row_max = torch.amax(row, dim=1, keepdim=True)
        numerator = torch.exp(row - row_max)
        denominator = torch.sum(numerator, dim=1, keepdim=True)
        out[tile_m, :] = (numerator / denominator).to(out.dtype)
    return out


@helion.kernel()
def softmax_two_pass(x: torch.Tensor) -> torch.Tensor:
    """Online softmax for long rows: pass 1 keeps a running max and rescaled sum, pass 2 writes."""
    m, n = x.size()
    out = torch.empty_like(x)
    block_m = hl.register_block_size(m)
    block_n = hl.register_block_size(n)
    for tile_m in hl.tile(m, block_size=block_m):
        running_max = hl.full([tile_m], float("-inf"), dtype=torch.float32)
        running_sum = hl.zeros([tile_m], dtype=torch.float32)
        for tile_n in hl.tile(n, block_size=block_n):
            chunk = x[tile_m, tile_n].to(torch.float32)
            new_max = torch.maximum(running_max, torch.amax(chunk, dim=1))
            rescale = torch.exp(running_max - new_max)
            running_sum = running_sum * rescale + torch.exp(chunk - new_max[:, None]).sum(dim=1)
            running_max = new_max
        for tile_n in hl.tile(n, block_size=block_n):
            chunk = x[tile_m, tile_n].to(torch.float32)
            out[tile_m, tile_n] = (torch.exp(chunk - running_max[:, None]) / running_sum[:, None]).to(
                out.dtype
            )
    return out


KERNELS = {
    "softmax": softmax,
    "softmax_decomposed": softmax_decomposed,
    "softmax_two_pass": softmax_two_pass,
}


def reference(x: torch.Tensor) -> torch.Tensor:
    """Softmax over dim 1 in fp32, cast back."""
    return torch.nn.functional.softmax(x.float(), dim=1).to(x.dtype)


def make_args(
    size: tuple[int, int], dtype: torch.dtype, device: torch.device | str, generator: torch.Generator
) -> tuple[torch.Tensor]:
    """``size = (m, n)``: x [m, n] with spread-out logits."""
    m, n = size
    return (randn([m, n], dtype, device, generator, scale=3.0),)


SIZES = [(64, 64), (37, 100), (1, 130), (70, 33)]
CONFIG_SIZE = (37, 100)
GPU_SIZES = [(16384, 4096), (4096, 32768)]
TOLERANCE = TRANSCENDENTAL
