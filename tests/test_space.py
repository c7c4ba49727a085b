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


@pytest.mark.parametrize(("pid_type", "line"), [
    ("flat", "pid = tl.program_id(0)"),
    ("xyz", "pid_1 = tl.program_id(1)"),
    ("persistent_blocked", "tiles_per_program = (total_tiles + tl.num_programs(0) - 1) // tl.num_programs(0)"),
    ("persistent_interleaved", "for virtual_pid in tl.range(tl.program_id(0), total_tiles, tl.num_programs(0)):"),
])
def test_pid_types_are_correct_and_read_well(pid_type: str, line: str) -> None:
    from helion.autotune.precompile import compile_for_target
    module = GALLERY["matmul"]
    args = module.make_args((100, 72, 130), torch.float32, "cpu", torch.Generator().manual_seed(1))
    bound = module.KERNELS["matmul"].bind(args)
    config = dict(bound.config_space.default(), pid_type=pid_type, block_sizes=[32, 32, 16])
    if pid_type.startswith("persistent"):
        config["num_sm_multiplier"] = 2
    assert line in bound.to_triton_code(config)
    torch.testing.assert_close(bound.compile_config(config)(*args), module.reference(*args), atol=1e-4, rtol=1e-4)
    gpu_args = module.make_args((4096, 4096, 4096), torch.bfloat16, "meta", torch.Generator().manual_seed(0))
    gpu_bound = module.KERNELS["matmul"].bind(gpu_args)
    assert compile_for_target(gpu_bound, dict(config, block_sizes=[128, 128, 64]))


def test_sm_multiplier_is_repaired_away_for_non_persistent_grids() -> None:
    bound = _matmul_bound()
    config = bound.normalize_config({"pid_type": "flat", "num_sm_multiplier": 4})
    assert config["num_sm_multiplier"] == 1
