"""A 3-D tiled elementwise kernel: ``x * sigmoid(y) + z`` over [a, b, c]."""

from __future__ import annotations

import torch

import helion
import helion.language as hl

from ._util import TRANSCENDENTAL, randn


@helion.kernel()
def elementwise_3d(x: torch.Tensor, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """One tile per dimension, named."""
    a, b, c = x.size()
    out = torch.empty_like(x)
    for tile_a, tile_b, tile_c in hl.tile([a, b, c]):
        gate = torch.sigmoid(y[tile_a, tile_b, tile_c].to(torch.float32))
        value = x[tile_a, tile_b, tile_c].to(torch.float32) * gate + z[tile_a, tile_b, tile_c]
        out[tile_a, tile_b, tile_c] = value.to(out.dtype)
    return out


@helion.kernel
def elementwise_3d_tuple(x: torch.Tensor, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """The same kernel tiling ``x.size()`` as a whole and indexing with the tuple of tiles."""
    out = torch.empty_like(x)
    for tile in hl.tile(x.size()):
        out[tile] = x[tile] * torch.sigmoid(y[tile]) + z[tile]
    return out


KERNELS = {"elementwise_3d": elementwise_3d, "elementwise_3d_tuple": elementwise_3d_tuple}


def reference(x: torch.Tensor, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """``x * sigmoid(y) + z`` in fp32, cast back."""
    return (x.float() * torch.sigmoid(y.float()) + z.float()).to(x.dtype)


def make_args(
    size: tuple[int, int, int], dtype: torch.dtype, device: torch.device | str, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``size = (a, b, c)``: x, y and z all [a, b, c]."""
    return tuple(randn(list(size), dtype, device, generator) for _ in range(3))


SIZES = [(4, 16, 64), (3, 37, 50), (2, 5, 130)]
CONFIG_SIZE = (3, 19, 34)
GPU_SIZES = [(64, 512, 2048)]
TOLERANCE = TRANSCENDENTAL
