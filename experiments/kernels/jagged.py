"""Reductions over a jagged tensor: ``values [total, M]`` cut into B segments of rows by
``offsets [B + 1]`` (int64, non-decreasing, ``offsets[0] == 0``, ``offsets[B] == total``; segments
may be empty). One program per segment and column tile; the row loop ``hl.tile(begin, end)`` reads
its bounds from ``offsets`` at run time."""

from __future__ import annotations

import torch

import helion
import helion.language as hl

from . import SizeDraw
from ._util import REDUCTION, TRANSCENDENTAL, randn


@helion.kernel()
def jagged_sum(values: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """``out[b] = values[offsets[b]:offsets[b + 1]].sum(0)`` in fp32 (zeros for an empty segment)."""
    num_segments = offsets.size(0) - 1
    m = values.size(1)
    out = torch.empty([num_segments, m], dtype=torch.float32, device=values.device)
    for b in hl.grid(num_segments):
        begin = offsets[b]
        end = offsets[b + 1]
        for tile_m in hl.tile(m):
            acc = hl.zeros([tile_m], dtype=torch.float32)
            for tile_r in hl.tile(begin, end):
                acc = acc + torch.sum(values[tile_r, tile_m].to(torch.float32), dim=0)
            out[b, tile_m] = acc
    return out


@helion.kernel()
def jagged_mean(values: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """The segment means in fp32 (zeros for an empty segment); segments and columns both tiled."""
    num_segments = offsets.size(0) - 1
    m = values.size(1)
    out = torch.empty([num_segments, m], dtype=torch.float32, device=values.device)
    for b, tile_m in hl.tile([num_segments, m], block_size=[1, None]):
        begin = offsets[b.begin]
        end = offsets[b.begin + 1]
        acc = hl.zeros([tile_m], dtype=torch.float32)
        for tile_r in hl.tile(begin, end):
            acc = acc + torch.sum(values[tile_r, tile_m].to(torch.float32), dim=0)
        count = torch.clamp((end - begin).to(torch.float32), min=1.0)
        out[b.begin, tile_m] = acc / count
    return out


@helion.kernel()
def jagged_softmax(values: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """Softmax over each segment's rows, per column: a first row loop keeps a running max and
    rescaled sum, a second writes ``exp(v - max) / sum``."""
    num_segments = offsets.size(0) - 1
    m = values.size(1)
    out = torch.empty_like(values)
    for b in hl.grid(num_segments):
        begin = offsets[b]
        end = offsets[b + 1]
        for tile_m in hl.tile(m):
            running_max = hl.full([tile_m], float("-inf"), dtype=torch.float32)
            running_sum = hl.zeros([tile_m], dtype=torch.float32)
            for tile_r in hl.tile(begin, end):
                chunk = values[tile_r, tile_m].to(torch.float32)
                new_max = torch.maximum(running_max, torch.amax(chunk, dim=0))
                running_sum = running_sum * torch.exp(running_max - new_max) + torch.sum(
                    torch.exp(chunk - new_max[None, :]), dim=0
                )
                running_max = new_max
            for tile_r in hl.tile(begin, end):
                chunk = values[tile_r, tile_m].to(torch.float32)
                out[tile_r, tile_m] = (torch.exp(chunk - running_max[None, :]) / running_sum[None, :]).to(out.dtype)
    return out


KERNELS = {"jagged_sum": jagged_sum, "jagged_mean": jagged_mean, "jagged_softmax": jagged_softmax}


def _segments(values: torch.Tensor, offsets: torch.Tensor) -> list[torch.Tensor]:
    bounds = offsets.tolist()
    return [values[bounds[i]:bounds[i + 1]].float() for i in range(len(bounds) - 1)]


def reference(values: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """Segment sums in fp32, one segment at a time."""
    return torch.stack([s.sum(0) for s in _segments(values, offsets)])


def reference_mean(values: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """Segment means in fp32 (zeros for empty segments)."""
    return torch.stack([s.sum(0) / max(s.size(0), 1) for s in _segments(values, offsets)])


def reference_softmax(values: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """Softmax over each segment's rows in fp32, cast back."""
    return torch.cat([torch.softmax(s, dim=0) for s in _segments(values, offsets)]).to(values.dtype)


REFERENCES = {"jagged_mean": reference_mean, "jagged_softmax": reference_softmax}


def make_args(
    size: tuple[int, int, int], dtype: torch.dtype, device: torch.device | str, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """``size = (segments, max_length, m)``: lengths uniform in [0, max_length] (the first segment
    empty when there are several), values [sum of lengths, m] and int64 offsets."""
    segments, max_length, m = size
    lengths = torch.randint(0, max_length + 1, [segments], generator=generator)
    if segments > 1:
        lengths[0] = 0
    offsets = torch.cat([torch.zeros(1, dtype=torch.int64), torch.cumsum(lengths, 0)])
    total = int(offsets[-1])
    return randn([total, m], dtype, device, generator, scale=2.0), offsets.to(device)


SIZES = [(4, 40, 64), (7, 100, 33), (1, 130, 16), (3, 5, 100)]
CONFIG_SIZE = (5, 60, 37)
GPU_SIZES = [(1024, 1024, 512)]
PROPERTY_EXAMPLES = 4  # each example interprets a per-row loop: slow on CPU (tests/test_gallery_properties.py)
TOLERANCE = {key: {**REDUCTION[key], **TRANSCENDENTAL[key]} for key in REDUCTION}


def random_size(draw: SizeDraw) -> tuple[int, int, int]:
    """For property tests: ``(segments, max_length, m)`` with ``segments * max_length * m`` capped."""
    segments, max_length, m = draw.dims(3, max_elements=6000)  # the interpreter walks rows one by one
    return segments, max_length, m
