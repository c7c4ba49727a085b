"""Fused bias add + GELU: ``gelu(x + bias)``, exact (erf) and with the tanh approximation."""

from __future__ import annotations

import math

import torch

import helion
import helion.language as hl

from ._util import TRANSCENDENTAL, randn


@helion.kernel()
def bias_gelu(x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """``gelu(x + bias)`` with the exact (erf) GELU; bias has shape [n]."""
    m, n = x.size()
    out = torch.empty_like(x)
    for tile_m, tile_n in hl.tile([m, n]):
        v = x[tile_m, tile_n].to(torch.float32) + bias[tile_n].to(torch.float32)
        out[tile_m, tile_n] = torch.nn.functional.gelu(v).to(out.dtype)
    return out


@helion.kernel()
def bias_gelu_tanh(x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """``gelu(x + bias, approximate="tanh")``."""
    m, n = x.size()
    out = torch.empty_like(x)
    for tile_m, tile_n in hl.tile([m, n]):
        v = x[tile_m, tile_n].to(torch.float32) + bias[None, tile_n].to(torch.float32)
        out[tile_m, tile_n] = torch.nn.functional.gelu(v, approximate="tanh").to(out.dtype)
    return out


@helion.kernel()
def bias_gelu_tanh_formula(x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """The tanh approximation written out: ``0.5 v (1 + tanh(sqrt(2/pi) (v + 0.044715 v^3)))``."""
    m, n = x.size()
    out = torch.empty_like(x)
    for tile_m, tile_n in hl.tile([m, n]):
        v = x[tile_m, tile_n].to(torch.float32) + bias[tile_n].to(torch.float32)
        inner = math.sqrt(2.0 / math.pi) * (v + 0.044715 * torch.pow(v, 3))
        out[tile_m, tile_n] = (0.5 * v * (1.0 + torch.tanh(inner))).to(out.dtype)
    return out


KERNELS = {
    "bias_gelu": bias_gelu,
    "bias_gelu_tanh": bias_gelu_tanh,
    "bias_gelu_tanh_formula": bias_gelu_tanh_formula,
}


def reference(x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """Exact GELU of ``x + bias`` in fp32, cast back."""
    return torch.nn.functional.gelu(x.float() + bias.float()).to(x.dtype)


def reference_tanh(x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """Tanh-approximated GELU of ``x + bias`` in fp32, cast back."""
    return torch.nn.functional.gelu(x.float() + bias.float(), approximate="tanh").to(x.dtype)


REFERENCES = {"bias_gelu_tanh": reference_tanh, "bias_gelu_tanh_formula": reference_tanh}


def make_args(
    size: tuple[int, int], dtype: torch.dtype, device: torch.device | str, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """``size = (m, n)``: x [m, n] and bias [n]."""
    m, n = size
    return randn([m, n], dtype, device, generator, scale=2.0), randn([n], dtype, device, generator)


SIZES = [(64, 64), (37, 100), (1, 33), (70, 130)]
CONFIG_SIZE = (37, 100)
GPU_SIZES = [(16384, 4096)]
TOLERANCE = TRANSCENDENTAL
