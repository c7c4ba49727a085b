"""Flash attention forward: online softmax over key tiles, non-causal and causal.

Inputs are ``[batch, heads, seq, d]``; batch and heads are flattened to one tiled dimension. Each
program keeps the running row max ``m_i``, the rescaled row sum ``l_i`` and the unnormalized output
``acc`` for a tile of query rows, and walks the keys in tiles (exp2 with log2(e) folded into the
scale). The causal kernel masks scores above the diagonal and stops its key loop at the end of its
query tile (a loop bound read from the tile at run time).
"""

from __future__ import annotations

import math

import torch

import helion
import helion.language as hl

from . import SizeDraw
from ._util import randn

LOG2E = 1.4426950408889634


@helion.kernel(static_shapes=True)
def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """``softmax(q @ k^T / sqrt(d)) @ v`` over all keys."""
    batch, heads, seq_q, d = q.size()
    seq_k = k.size(2)
    head_dim = hl.specialize(d)
    q_flat = q.reshape([batch * heads, seq_q, head_dim])
    k_flat = k.reshape([batch * heads, seq_k, head_dim])
    v_flat = v.reshape([batch * heads, seq_k, head_dim])
    out = torch.empty_like(q_flat)
    qk_scale = LOG2E / math.sqrt(head_dim)
    for tile_b, tile_m in hl.tile([batch * heads, seq_q]):
        m_i = hl.full([tile_b, tile_m], float("-inf"), dtype=torch.float32)
        l_i = hl.zeros([tile_b, tile_m], dtype=torch.float32)
        acc = hl.zeros([tile_b, tile_m, head_dim], dtype=torch.float32)
        q_tile = q_flat[tile_b, tile_m, :]
        for tile_n in hl.tile(seq_k):
            scores = torch.bmm(q_tile, k_flat[tile_b, tile_n, :].transpose(1, 2)).to(torch.float32) * qk_scale
            m_new = torch.maximum(m_i, torch.amax(scores, dim=-1))
            p = torch.exp2(scores - m_new[:, :, None])
            alpha = torch.exp2(m_i - m_new)
            l_i = l_i * alpha + torch.sum(p, dim=-1)
            v_tile = v_flat[tile_b, tile_n, :]
            acc = torch.baddbmm(acc * alpha[:, :, None], p.to(v_tile.dtype), v_tile)
            m_i = m_new
        out[tile_b, tile_m, :] = (acc / l_i[:, :, None]).to(out.dtype)
    return out.view(q.size())


@helion.kernel(static_shapes=True)
def attention_causal(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Causal attention (query i sees keys 0..i, seq_q == seq_k): scores above the diagonal are
    masked to -inf and the key loop ends at the query tile's end."""
    batch, heads, seq, d = q.size()
    head_dim = hl.specialize(d)
    q_flat = q.reshape([batch * heads, seq, head_dim])
    k_flat = k.reshape([batch * heads, seq, head_dim])
    v_flat = v.reshape([batch * heads, seq, head_dim])
    out = torch.empty_like(q_flat)
    qk_scale = LOG2E / math.sqrt(head_dim)
    for tile_b, tile_m in hl.tile([batch * heads, seq]):
        m_i = hl.full([tile_b, tile_m], float("-inf"), dtype=torch.float32)
        l_i = hl.zeros([tile_b, tile_m], dtype=torch.float32)
        acc = hl.zeros([tile_b, tile_m, head_dim], dtype=torch.float32)
        q_tile = q_flat[tile_b, tile_m, :]
        for tile_n in hl.tile(0, tile_m.end):
            scores = torch.bmm(q_tile, k_flat[tile_b, tile_n, :].transpose(1, 2)).to(torch.float32) * qk_scale
            visible = tile_m.index[:, None] >= tile_n.index[None, :]
            scores = torch.where(visible[None, :, :], scores, float("-inf"))
            m_new = torch.maximum(m_i, torch.amax(scores, dim=-1))
            p = torch.exp2(scores - m_new[:, :, None])
            alpha = torch.exp2(m_i - m_new)
            l_i = l_i * alpha + torch.sum(p, dim=-1)
            v_tile = v_flat[tile_b, tile_n, :]
            acc = torch.baddbmm(acc * alpha[:, :, None], p.to(v_tile.dtype), v_tile)
            m_i = m_new
        out[tile_b, tile_m, :] = (acc / l_i[:, :, None]).to(out.dtype)
    return out.view(q.size())


KERNELS = {"attention": attention, "attention_causal": attention_causal}


def reference(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Attention in fp32 (explicit softmax), cast back."""
    scores = q.float() @ k.float().transpose(-1, -2) / math.sqrt(q.size(-1))
    return (torch.softmax(scores, dim=-1) @ v.float()).to(q.dtype)


def reference_causal(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Causal attention in fp32, cast back."""
    seq = q.size(-2)
    scores = q.float() @ k.float().transpose(-1, -2) / math.sqrt(q.size(-1))
    visible = torch.ones(seq, seq, dtype=torch.bool, device=q.device).tril()
    scores = scores.masked_fill(~visible, float("-inf"))
    return (torch.softmax(scores, dim=-1) @ v.float()).to(q.dtype)


REFERENCES = {"attention_causal": reference_causal}


def make_args(
    size: tuple[int, int, int, int], dtype: torch.dtype, device: torch.device | str, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``size = (batch, heads, seq, d)``: q, k and v of that shape."""
    return tuple(randn(list(size), dtype, device, generator) for _ in range(3))


def flops(size: tuple[int, int, int, int], kernel_name: str) -> float:
    """Multiply-adds x 2 of the two products (half of them for the causal kernel)."""
    batch, heads, seq, d = size
    total = 4.0 * batch * heads * seq * seq * d
    return total / 2 if kernel_name == "attention_causal" else total


SIZES = [(1, 2, 64, 64), (2, 1, 37, 64), (1, 1, 20, 128)]
CONFIG_SIZE = (1, 2, 37, 64)
GPU_SIZES = [(4, 16, 4096, 128), (4, 16, 4096, 64)]
PROPERTY_EXAMPLES = 4  # slow to interpret on CPU (tests/test_gallery_properties.py)
TOLERANCE = {
    torch.float32: {"rtol": 1e-3, "atol": 1e-3},
    torch.float16: {"rtol": 1e-2, "atol": 1e-2},
    torch.bfloat16: {"rtol": 2e-2, "atol": 2e-2},
}
MAX_RANDOM_WORK = 150_000  # batch * heads * seq * seq * d per random size


def random_size(draw: SizeDraw) -> tuple[int, int, int, int]:
    """For property tests: head dim 64 or 128 (or a small power of two), with the work capped."""
    d = draw.choice([16, 64, 128])
    bh, seq = draw.dims(2, max_elements=2048)
    while bh * seq * seq * d > MAX_RANDOM_WORK and seq > 1:
        seq //= 2
    heads = draw.choice([h for h in (1, 2, 3) if bh % h == 0])
    return bh // heads, heads, seq, d
