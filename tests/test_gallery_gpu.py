"""The gallery at realistic sizes in bf16 on a GPU (skipped without one), default configs."""

from __future__ import annotations

import pytest
import torch

from experiments.kernels import GALLERY, all_kernels, reference_for
from experiments.kernels.checking import assert_matches, make_inputs, stable_seed

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _cases() -> list:
    return [
        pytest.param(module_name, kernel_name, size, id=f"{kernel_name}-{'x'.join(map(str, size))}")
        for module_name, kernel_name, module in all_kernels()
        for size in module.GPU_SIZES
    ]


@pytest.mark.parametrize(("module_name", "kernel_name", "size"), _cases())
def test_gpu_default_config_matches_reference(module_name: str, kernel_name: str, size: tuple) -> None:
    module = GALLERY[module_name]
    dtype = torch.bfloat16
    args = make_inputs(module, size, dtype, "cuda", seed=stable_seed(kernel_name, size, "gpu"))
    bound = module.KERNELS[kernel_name].bind(args)
    actual = bound.compile_config(bound.config_space.default())(*args)
    torch.cuda.synchronize()
    expected = reference_for(module, kernel_name)(*args)
    assert_matches(actual, expected, module.TOLERANCE[dtype], context=f"{kernel_name} size={size} bf16")
