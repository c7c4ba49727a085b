"""Segmented cumulative sum along rows with ``hl.associative_scan`` over (value, flag) pairs: a
flag of 1 starts a new segment, so the running sum restarts there."""

from __future__ import annotations

import torch

import helion
import helion.language as hl

from ._util import REDUCTION, randn


def segmented_add(left_value, left_flag, right_value, right_flag):
    """The combine: the right value alone where the right part starts a segment, else the sum."""
    return torch.where(right_flag > 0, right_value, left_value + right_value), left_flag | right_flag


@helion.kernel()
def segmented_cumsum(values: torch.Tensor, starts: torch.Tensor) -> torch.Tensor:
    """Per row: ``out[j] = values[j]`` at a segment start, else ``out[j - 1] + values[j]`` (fp32)."""
    m, _n = values.size()
    out = torch.empty(values.size(), dtype=torch.float32, device=values.device)
    for tile_m in hl.tile(m):
        sums, _ = hl.associative_scan(segmented_add, (values[tile_m, :].to(torch.float32), starts[tile_m, :]), dim=1)
        out[tile_m, :] = sums
    return out


KERNELS = {"segmented_cumsum": segmented_cumsum}


def reference(values: torch.Tensor, starts: torch.Tensor) -> torch.Tensor:
    """Cumulative sums minus the cumulative sum before each element's segment start, in fp64."""
    v = values.double()
    total = v.cumsum(1)
    segment = starts.long().cumsum(1)  # segment id per element (0: before any start)
    before = torch.where(starts > 0, total - v, torch.zeros_like(v))  # sum before each start
    # the offset of each element is `before` at its segment's start: a running max over positions
    position = torch.arange(v.size(1), device=v.device).expand_as(v)
    start_pos = torch.where(starts > 0, position, torch.zeros_like(position)).cummax(1).values
    offset = torch.gather(before, 1, start_pos)
    offset = torch.where(segment > 0, offset, torch.zeros_like(offset))
    return (total - offset).float()


def make_args(
    size: tuple[int, int], dtype: torch.dtype, device: torch.device | str, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """``size = (m, n)``: values [m, n] and int32 start flags (about one in five set)."""
    m, n = size
    starts = (torch.rand([m, n], generator=generator) < 0.2).to(torch.int32).to(device)
    return randn([m, n], dtype, device, generator), starts


SIZES = [(64, 64), (37, 100), (1, 130), (70, 33)]
CONFIG_SIZE = (37, 100)
GPU_SIZES = [(16384, 4096)]
PROPERTY_EXAMPLES = 4  # each example interprets a per-row loop: slow on CPU (tests/test_gallery_properties.py)
TOLERANCE = REDUCTION
