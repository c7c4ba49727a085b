"""Loops whose bounds are device values: the space bounds their block sizes by what the bounds
allow (``hl.tile(0, tile.end)`` walks at most the outer loop's extent), and they compute right."""
from __future__ import annotations

import numpy as np
import torch

import helion
import helion.language as hl


@helion.kernel(static_shapes=True)
def lower_triangle_row_sums(x: torch.Tensor) -> torch.Tensor:
    """out[i] = sum(x[i, :i + 1]), the column loop ending at the row tile's end (causal shape)."""
    m, n = x.size()
    out = torch.empty([m], dtype=torch.float32, device=x.device)
    for tile_m in hl.tile(m):
        acc = hl.zeros([tile_m], dtype=torch.float32)
        for tile_n in hl.tile(0, tile_m.end):
            keep = tile_m.index[:, None] >= tile_n.index[None, :]
            acc = acc + torch.where(keep, x[tile_m, tile_n], 0.0).sum(dim=1)
        out[tile_m] = acc
    return out


@helion.kernel(static_shapes=True)
def upper_triangle_row_sums(x: torch.Tensor) -> torch.Tensor:
    """out[i] = sum(x[i, i:]), the column loop starting at the row tile's begin."""
    m, n = x.size()
    out = torch.empty([m], dtype=torch.float32, device=x.device)
    for tile_m in hl.tile(m):
        acc = hl.zeros([tile_m], dtype=torch.float32)
        for tile_n in hl.tile(tile_m.begin, n):
            keep = tile_m.index[:, None] <= tile_n.index[None, :]
            acc = acc + torch.where(keep, x[tile_m, tile_n], 0.0).sum(dim=1)
        out[tile_m] = acc
    return out


def _block_highs(bound) -> list[int]:
    return [item.high for item in bound.config_space.params["block_sizes"].elements]


def test_a_loop_ending_at_a_tile_end_is_bounded_by_the_outer_extent():
    x = torch.randn(37, 37)
    bound = lower_triangle_row_sums.bind((x,))
    assert _block_highs(bound) == [64, 64]  # not the 256 of an unknown runtime bound
    expected = torch.tril(x).sum(1)
    rng = np.random.default_rng(0)
    for config in [bound.config_space.default()] + [bound.config_space.sample(rng) for _ in range(3)]:
        torch.testing.assert_close(bound.compile_config(config)(x), expected, rtol=1e-4, atol=1e-4)


def test_a_loop_starting_at_a_tile_begin_is_bounded_by_its_host_end():
    x = torch.randn(20, 20)
    bound = upper_triangle_row_sums.bind((x,))
    assert _block_highs(bound) == [32, 32]
    expected = torch.triu(x).sum(1)
    rng = np.random.default_rng(1)
    for config in [bound.config_space.default()] + [bound.config_space.sample(rng) for _ in range(3)]:
        torch.testing.assert_close(bound.compile_config(config)(x), expected, rtol=1e-4, atol=1e-4)


@helion.kernel(static_shapes=True)
def chunk_column_sums(x: torch.Tensor) -> torch.Tensor:
    """out[c, :] = the column sums of row chunk c: a store of an [n] value to ``out[tile.id, :]``."""
    m, n = x.size()
    out = torch.zeros([m, n], dtype=torch.float32, device=x.device)
    for chunk in hl.tile(m, block_size=4):
        acc = hl.zeros([n], dtype=torch.float32)
        for tile_m in hl.tile(chunk.begin, chunk.end):
            acc = acc + torch.sum(x[tile_m, :], dim=0)
        out[chunk.id, :] = acc
    return out


def test_a_site_whose_dims_all_have_one_element_keeps_its_shape():
    """With n == 1 every indexed dim of ``out[chunk.id, :]`` has one element; the pointer was a
    scalar while the value was a [1] block (Triton refuses that store)."""
    for n in (1, 3):
        x = torch.randn(10, n)
        expected = torch.zeros(10, n)
        expected[:3] = torch.stack([x[i:i + 4].sum(0) for i in range(0, 10, 4)])
        bound = chunk_column_sums.bind((x,))
        rng = np.random.default_rng(n)
        for config in [bound.config_space.default()] + [bound.config_space.sample(rng) for _ in range(2)]:
            torch.testing.assert_close(bound.compile_config(config)(x), expected, rtol=1e-4, atol=1e-4)
