"""Random configs from each gallery kernel's space must all compute the right answer.

For every kernel, 12 configs (``HELION_GALLERY_CONFIGS=N``: N) drawn with ``space.sample(np.random.default_rng(seed))`` run at the
module's ``CONFIG_SIZE`` (not a multiple of typical block sizes), alternating fp32 and fp16.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

import helion
from experiments.kernels import GALLERY, all_kernels, reference_for
from experiments.kernels.checking import (
    assert_inputs_unchanged,
    assert_matches,
    clone_inputs,
    make_inputs,
    stable_seed,
)

CONFIGS_PER_KERNEL = int(os.environ.get("HELION_GALLERY_CONFIGS", "12"))


def _cases() -> list:
    return [
        pytest.param(module_name, kernel_name, seed, id=f"{kernel_name}-seed{seed}")
        for module_name, kernel_name, _ in all_kernels()
        for seed in range(CONFIGS_PER_KERNEL)
    ]


@pytest.mark.parametrize(("module_name", "kernel_name", "seed"), _cases())
def test_random_config_matches_reference(module_name: str, kernel_name: str, seed: int) -> None:
    module = GALLERY[module_name]
    dtype = torch.float32 if seed % 2 == 0 else torch.float16
    size = module.CONFIG_SIZE
    args = make_inputs(module, size, dtype, "cpu", seed=stable_seed(kernel_name, size, seed))
    originals = clone_inputs(args)
    bound = module.KERNELS[kernel_name].bind(args)
    config = bound.config_space.sample(np.random.default_rng(seed))
    actual = bound.compile_config(config)(*args)
    expected = reference_for(module, kernel_name)(*originals)
    context = f"{kernel_name} size={size} dtype={dtype} config={config}"
    assert_matches(actual, expected, module.TOLERANCE[dtype], context=context)
    assert_inputs_unchanged(originals, args, context=context)


def test_public_config_object_for_matmul() -> None:
    """A ``helion.Config`` written by hand, as in public Helion, with block sizes for m, n, k."""
    module = GALLERY["matmul"]
    args = make_inputs(module, module.CONFIG_SIZE, torch.float32, "cpu", seed=stable_seed("public-config"))
    bound = module.matmul.bind(args)
    config = helion.Config(block_sizes=[32, 64, 16], num_warps=4, num_stages=2)
    actual = bound.compile_config(config)(*args)
    assert_matches(actual, module.reference(*args), module.TOLERANCE[torch.float32], context=f"matmul {config}")
