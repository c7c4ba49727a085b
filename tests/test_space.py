"""Constraints of the implicit search space, written once in helion/compiler/space.py."""
from __future__ import annotations

import pytest
import torch

from experiments.kernels import GALLERY
from helion import exc


def _matmul_bound():
    module = GALLERY["matmul"]
    args = module.make_args((4096, 4096, 4096), torch.bfloat16, "meta", torch.Generator().manual_seed(0))
    return module.KERNELS["matmul"].bind(args)


def test_shared_memory_constraint_rejects_oversized_pipelines() -> None:
    bound = _matmul_bound()
    ok = bound.normalize_config({"block_sizes": [128, 128, 64], "num_stages": 3, "num_warps": 8})
    assert ok["block_sizes"] == [128, 128, 64]
    # (256x128 + 128x256) bf16 tiles x 4 stages = 512 KiB > 227 KiB
    with pytest.raises(exc.InvalidConfig, match="shared_memory"):
        bound.normalize_config({"block_sizes": [256, 256, 128], "num_stages": 4, "num_warps": 32})


def test_registers_constraint_names_itself() -> None:
    module = GALLERY["softmax"]
    args = module.make_args((16384, 4096), torch.bfloat16, "meta", torch.Generator().manual_seed(0))
    bound = module.KERNELS["softmax"].bind(args)
    # 64 rows x 4096 columns on 4 warps: 2048 elements per thread
    with pytest.raises(exc.InvalidConfig, match="registers"):
        bound.normalize_config({"block_sizes": [64], "reduction_loops": [None], "num_warps": 4})


def test_default_config_satisfies_every_constraint() -> None:
    bound = _matmul_bound()
    assert bound.config_space.contains(bound.config_space.default())
