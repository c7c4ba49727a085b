"""Split-K matmul: the K dimension is cut into ``split_k`` chunks (a tunable), each program
multiplies one [tile_m, tile_n] block over one chunk and adds it into the fp32 output with
``hl.atomic_add`` (for skinny outputs with a long K, where an m x n grid has too few programs)."""

from __future__ import annotations

import torch

import helion
import helion.language as hl
from helion.autotuner import PowerOfTwoFragment

from . import SizeDraw
from ._util import MATMUL, randn


@helion.kernel(static_shapes=True)
def split_k_matmul(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``x @ y`` in fp32 for x [m, k] and y [k, n]: chunks of K accumulated by atomics."""
    m, k = x.size()
    _k, n = y.size()
    out = torch.zeros([m, n], dtype=torch.float32, device=x.device)
    split_k = hl.register_tunable("split_k", PowerOfTwoFragment(1, 32, 4))
    k_chunk = helion.next_power_of_2(helion.cdiv(k, split_k))
    for tile_m, tile_n, chunk_k in hl.tile([m, n, k], block_size=[None, None, k_chunk]):
        acc = hl.zeros([tile_m, tile_n], dtype=torch.float32)
        for tile_k in hl.tile(chunk_k.begin, chunk_k.end):
            acc = hl.dot(x[tile_m, tile_k], y[tile_k, tile_n], acc=acc)
        hl.atomic_add(out, [tile_m, tile_n], acc)
    return out


KERNELS = {"split_k_matmul": split_k_matmul}


def reference(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The product in fp32."""
    return x.float() @ y.float()


def make_args(
    size: tuple[int, int, int], dtype: torch.dtype, device: torch.device | str, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """``size = (m, k, n)``: x [m, k] and y [k, n]."""
    m, k, n = size
    return randn([m, k], dtype, device, generator), randn([k, n], dtype, device, generator)


def flops(size: tuple[int, int, int], kernel_name: str) -> float:
    """2 m k n."""
    m, k, n = size
    return 2.0 * m * k * n


SIZES = [(16, 128, 16), (20, 130, 33), (1, 100, 7)]
CONFIG_SIZE = (20, 200, 33)
GPU_SIZES = [(256, 65536, 256), (1024, 16384, 1024)]
TOLERANCE = MATMUL
MAX_RANDOM_WORK = 200_000


def random_size(draw: SizeDraw) -> tuple[int, int, int]:
    """For property tests: random ``(m, k, n)`` with ``m * k * n`` capped, K drawn first (often long)."""
    k, m, n = draw.dims(3, max_elements=MAX_RANDOM_WORK)
    return m, k, n
