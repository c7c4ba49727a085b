"""Element-wise addition with PyTorch broadcasting: ``x[m, n] + y`` with y of shape [n], [m, 1] or [m, n]."""

from __future__ import annotations

import torch

import helion
import helion.language as hl

from . import SizeDraw
from ._util import POINTWISE, randn


@helion.kernel()
def add(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Add two tensors, broadcasting and promoting them the way ``torch.add`` does."""
    x, y = torch.broadcast_tensors(x, y)
    out = torch.empty(x.shape, dtype=torch.promote_types(x.dtype, y.dtype), device=x.device)
    # hl.tile over a whole shape yields one tile per dimension, as a tuple.
    for tile in hl.tile(out.size()):
        out[tile] = x[tile] + y[tile]
    return out


@helion.kernel()
def add_2d(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The same addition with the two tile dimensions named explicitly."""
    x, y = torch.broadcast_tensors(x, y)
    m, n = x.size()
    out = torch.empty([m, n], dtype=torch.promote_types(x.dtype, y.dtype), device=x.device)
    for tile_m, tile_n in hl.tile([m, n]):
        out[tile_m, tile_n] = x[tile_m, tile_n] + y[tile_m, tile_n]
    return out


KERNELS = {"add": add, "add_2d": add_2d}


def reference(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``torch.add`` computed in fp32, cast back to the promoted dtype."""
    return (x.float() + y.float()).to(torch.promote_types(x.dtype, y.dtype))


def make_args(
    size: tuple[int, int, str], dtype: torch.dtype, device: torch.device | str, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """``size = (m, n, broadcast)`` where broadcast is "row" (y: [n]), "col" (y: [m, 1]) or "none"."""
    m, n, broadcast = size
    y_shape = {"row": [n], "col": [m, 1], "none": [m, n]}[broadcast]
    return randn([m, n], dtype, device, generator), randn(y_shape, dtype, device, generator)


SIZES = [(64, 64, "row"), (37, 100, "col"), (1, 130, "row"), (70, 33, "none")]
CONFIG_SIZE = (23, 70, "col")
GPU_SIZES = [(16384, 4096, "row"), (16384, 4096, "none")]
TOLERANCE = POINTWISE


def random_size(draw: SizeDraw) -> tuple[int, int, str]:
    """For property tests: random ``(m, n)`` and a random broadcast of y (not a dimension)."""
    m, n = draw.dims(2)
    return m, n, draw.choice(["row", "col", "none"])
