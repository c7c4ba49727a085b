"""Dropout with ``hl.rand`` and an explicit seed: ``out = x / (1 - p)`` where a uniform draw is
above ``p``, else 0. The draws depend only on the seed and each element's row-major index, so any
block sizes give the same output; the reference recomputes Triton's Philox stream in NumPy."""

from __future__ import annotations

import numpy as np
import torch

import helion
import helion.language as hl

from ._util import POINTWISE, randn


@helion.kernel()
def dropout(x: torch.Tensor, p: float, seed: int) -> torch.Tensor:
    """Keep each element with probability ``1 - p``, scaled by ``1 / (1 - p)``."""
    m, n = x.size()
    scale = 1.0 / (1.0 - p)
    out = torch.empty_like(x)
    for tile_m, tile_n in hl.tile([m, n]):
        keep = hl.rand([tile_m, tile_n], seed=seed) > p
        out[tile_m, tile_n] = torch.where(keep, x[tile_m, tile_n].to(torch.float32) * scale, 0.0).to(out.dtype)
    return out


KERNELS = {"dropout": dropout}

_ROUND_A, _ROUND_B = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
_KEY_A, _KEY_B = np.uint64(0x9E3779B9), np.uint64(0xBB67AE85)
_LOW32 = np.uint64(0xFFFFFFFF)


def philox_uniform(seed: int, offsets: np.ndarray) -> np.ndarray:
    """``tl.rand(seed, offsets)`` for int32 offsets: Philox-4x32 with 10 rounds on the counter
    ``(offset, 0, 0, 0)`` and the key ``(seed_lo, seed_hi)``; the first word as a signed int32,
    folded to non-negative (``~x`` for negatives) and scaled by 2^-31 in fp32."""
    c0 = offsets.astype(np.uint64) & _LOW32
    c1 = np.zeros_like(c0)
    c2 = np.zeros_like(c0)
    c3 = np.zeros_like(c0)
    k0, k1 = np.uint64(seed & 0xFFFFFFFF), np.uint64((seed >> 32) & 0xFFFFFFFF)
    for _ in range(10):
        prod_b, prod_a = _ROUND_B * c2, _ROUND_A * c0  # < 2^64: exact in uint64
        c0, c2, c1, c3 = ((prod_b >> np.uint64(32)) ^ c1 ^ k0, (prod_a >> np.uint64(32)) ^ c3 ^ k1,
                          prod_b & _LOW32, prod_a & _LOW32)
        k0, k1 = (k0 + _KEY_A) & _LOW32, (k1 + _KEY_B) & _LOW32
    signed = c0.astype(np.uint32).view(np.int32)
    folded = np.where(signed < 0, ~signed, signed)
    return folded.astype(np.float32) * np.float32(4.6566127342e-10)


def reference(x: torch.Tensor, p: float, seed: int) -> torch.Tensor:
    """The same dropout from :func:`philox_uniform` over the row-major element index."""
    draws = philox_uniform(seed, np.arange(x.numel(), dtype=np.int64)).reshape(tuple(x.shape))
    keep = torch.from_numpy(draws > np.float32(p)).to(x.device)
    return torch.where(keep, x.float() * (1.0 / (1.0 - p)), 0.0).to(x.dtype)


def make_args(
    size: tuple[int, int], dtype: torch.dtype, device: torch.device | str, generator: torch.Generator
) -> tuple[torch.Tensor, float, int]:
    """``size = (m, n)``: x [m, n] (offset from zero, so no kept element is 0), p and a seed."""
    m, n = size
    seed = int(torch.randint(0, 2**31 - 1, [1], generator=generator))
    p = float(torch.randint(1, 9, [1], generator=generator)) / 10
    return randn([m, n], torch.float32, "cpu", generator).add_(4.0).to(dtype=dtype, device=device), p, seed


SIZES = [(64, 64), (37, 100), (1, 130), (70, 33)]
CONFIG_SIZE = (37, 100)
GPU_SIZES = [(16384, 4096)]
PROPERTY_EXAMPLES = 4  # slow to interpret on CPU (tests/test_gallery_properties.py)
TOLERANCE = POINTWISE
