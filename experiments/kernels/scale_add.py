"""Scalar arguments and several outputs: ``(alpha * x + beta * y, beta * x - y)``."""

from __future__ import annotations

import torch

import helion
import helion.language as hl

from ._util import POINTWISE, randn


@helion.kernel()
def scale_add(x: torch.Tensor, y: torch.Tensor, alpha: float, beta: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A float and an int scalar passed at run time; two outputs returned as a tuple."""
    m, n = x.size()
    combined = torch.empty_like(x)
    difference = torch.empty_like(x)
    for tile_m, tile_n in hl.tile([m, n]):
        a = x[tile_m, tile_n].to(torch.float32)
        b = y[tile_m, tile_n].to(torch.float32)
        combined[tile_m, tile_n] = (alpha * a + beta * b).to(combined.dtype)
        difference[tile_m, tile_n] = (beta * a - b).to(difference.dtype)
    return combined, difference


@helion.kernel()
def scale_add_constexpr(
    x: torch.Tensor, y: torch.Tensor, alpha: hl.constexpr, beta: hl.constexpr
) -> tuple[torch.Tensor, torch.Tensor]:
    """The same with the scalars baked into the generated code as ``hl.constexpr``."""
    m, n = x.size()
    combined = torch.empty_like(x)
    difference = torch.empty_like(x)
    for tile_m, tile_n in hl.tile([m, n]):
        a = x[tile_m, tile_n].to(torch.float32)
        b = y[tile_m, tile_n].to(torch.float32)
        combined[tile_m, tile_n] = (alpha * a + beta * b).to(combined.dtype)
        difference[tile_m, tile_n] = (beta * a - b).to(difference.dtype)
    return combined, difference


KERNELS = {"scale_add": scale_add, "scale_add_constexpr": scale_add_constexpr}


def reference(x: torch.Tensor, y: torch.Tensor, alpha: float, beta: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Both outputs in fp32, cast back."""
    a, b = x.float(), y.float()
    return (alpha * a + beta * b).to(x.dtype), (beta * a - b).to(x.dtype)


def make_args(
    size: tuple[int, int], dtype: torch.dtype, device: torch.device | str, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, float, int]:
    """``size = (m, n)``: x and y [m, n], alpha a float and beta a nonzero int drawn from the generator."""
    m, n = size
    x, y = randn([m, n], dtype, device, generator), randn([m, n], dtype, device, generator)
    alpha = float(torch.empty(1).uniform_(-2.0, 2.0, generator=generator))
    beta = [-3, -2, -1, 1, 2, 3][int(torch.randint(0, 6, (1,), generator=generator))]
    return x, y, alpha, beta


SIZES = [(64, 64), (37, 100), (1, 130)]
CONFIG_SIZE = (37, 100)
GPU_SIZES = [(16384, 4096)]
TOLERANCE = POINTWISE
