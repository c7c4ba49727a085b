"""Softmax backward over the last dimension: ``grad_x = y * (grad_y - sum(grad_y * y))`` from the
forward's output ``y``; whole rows, and a two-loop spelling for long rows."""

from __future__ import annotations

import torch

import helion
import helion.language as hl

from ._util import TRANSCENDENTAL, randn


@helion.kernel()
def softmax_backward(grad_out: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """Each tile of rows is loaded whole; the row dot product is one reduction."""
    m, _n = out.size()
    grad_x = torch.empty_like(out)
    for tile_m in hl.tile(m):
        y = out[tile_m, :].to(torch.float32)
        g = grad_out[tile_m, :].to(torch.float32)
        row_dot = torch.sum(g * y, dim=1, keepdim=True)
        grad_x[tile_m, :] = (y * (g - row_dot)).to(grad_x.dtype)
    return grad_x


@helion.kernel()
def softmax_backward_looped(grad_out: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """A first column loop accumulates the row dot product, a second writes the gradient."""
    m, n = out.size()
    grad_x = torch.empty_like(out)
    for tile_m in hl.tile(m):
        row_dot = hl.zeros([tile_m], dtype=torch.float32)
        for tile_n in hl.tile(n):
            row_dot += torch.sum(grad_out[tile_m, tile_n].to(torch.float32) * out[tile_m, tile_n].to(torch.float32), 1)
        for tile_n in hl.tile(n):
            y = out[tile_m, tile_n].to(torch.float32)
            g = grad_out[tile_m, tile_n].to(torch.float32)
            grad_x[tile_m, tile_n] = (y * (g - row_dot[:, None])).to(grad_x.dtype)
    return grad_x


KERNELS = {"softmax_backward": softmax_backward, "softmax_backward_looped": softmax_backward_looped}


def reference(grad_out: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """torch's softmax backward in fp32, cast back."""
    return torch.ops.aten._softmax_backward_data(grad_out.float(), out.float(), 1, torch.float32).to(out.dtype)


def make_args(
    size: tuple[int, int], dtype: torch.dtype, device: torch.device | str, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """``size = (m, n)``: grad_out [m, n] and the softmax of random logits [m, n]."""
    m, n = size
    probs = torch.softmax(torch.randn([m, n], generator=generator) * 2.0, dim=1)
    return randn([m, n], dtype, device, generator), probs.to(dtype=dtype, device=device)


SIZES = [(64, 64), (37, 100), (1, 130), (70, 33)]
CONFIG_SIZE = (37, 100)
GPU_SIZES = [(16384, 4096)]
TOLERANCE = TRANSCENDENTAL
