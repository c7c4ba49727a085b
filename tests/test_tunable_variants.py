"""A config's ``hl.register_tunable`` values retrace the kernel (a variant): every config the base
space accepts (or samples) must also be accepted by the variant that compiles it."""
from __future__ import annotations

import numpy as np
import torch

import helion
import helion.language as hl
from helion.autotuner import PowerOfTwoFragment


@helion.kernel()
def column_sums_by_chunks(x: torch.Tensor) -> torch.Tensor:
    """Column sums: per-chunk partial sums into a [partials, n] buffer, then a second loop."""
    m, n = x.size()
    partials = hl.register_tunable("partials", PowerOfTwoFragment(1, 64, 32))
    rows = helion.next_power_of_2(helion.cdiv(m, partials))
    partial_sums = torch.zeros([partials, n], dtype=torch.float32, device=x.device)
    out = torch.empty([n], dtype=torch.float32, device=x.device)
    for chunk in hl.tile(m, block_size=rows):
        acc = hl.zeros([n], dtype=torch.float32)
        for tile_m in hl.tile(chunk.begin, chunk.end):
            acc = acc + torch.sum(x[tile_m, :], dim=0)
        partial_sums[chunk.id, :] = acc
    for tile_n in hl.tile(n):
        out[tile_n] = torch.sum(partial_sums[:, tile_n], dim=0)
    return out


def test_sampled_configs_are_valid_for_the_variant_they_compile_with():
    x = torch.randn(37, 100)
    bound = column_sums_by_chunks.bind((x,))
    rng = np.random.default_rng(0)
    configs = [bound.config_space.sample(rng) for _ in range(60)]
    assert len({c["partials"] for c in configs}) > 3
    for config in configs:  # raised InvalidConfig ('descriptor_blocks') for a few small partials
        bound.for_config(config).normalize_config(config)
    for config in configs[:3]:
        torch.testing.assert_close(bound.compile_config(config)(x), x.sum(0), rtol=1e-4, atol=1e-4)


def test_a_config_the_variant_rejects_is_rejected_by_the_base():
    x = torch.randn(37, 100)
    bound = column_sums_by_chunks.bind((x,))
    assert "tunable_variant" in [c.name for c in bound.config_space.constraints]
    rng = np.random.default_rng(1)
    for _ in range(200):
        config = dict(bound.config_space.sample(rng))
        config["indexing"] = ["tensor_descriptor"] * len(config["indexing"])
        if bound.config_space.contains(config):
            bound.for_config(config).normalize_config(config)
