"""GPU code paths without a GPU: every gallery kernel's default config, bound on meta tensors at its
GPU size, compiles for sm_90 (libdevice, tensor sizes and dot shapes as the H100 will see them)."""
from __future__ import annotations

import warnings

import pytest
import torch

from experiments.kernels import GALLERY, GALLERY_NAMES
from helion.autotune.precompile import compile_for_target

CASES = [(m, k) for m in GALLERY_NAMES for k in GALLERY[m].KERNELS]


@pytest.mark.parametrize(("module_name", "kernel_name"), CASES)
def test_default_config_compiles_for_sm90(module_name: str, kernel_name: str) -> None:
    module = GALLERY[module_name]
    size = module.GPU_SIZES[0]
    args = module.make_args(size, torch.bfloat16, "meta", torch.Generator().manual_seed(0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bound = module.KERNELS[kernel_name].bind(args)
    results = compile_for_target(bound, bound.config_space.default())
    assert results and all(r["kernel"] for r in results)
    assert all(r["shared_bytes"] is not None and r["shared_bytes"] <= 232448 for r in results)


def test_gpu_code_uses_libdevice_tanh() -> None:
    module = GALLERY["bias_gelu"]
    name = next(k for k in module.KERNELS if "tanh" in k)
    args = module.make_args(module.GPU_SIZES[0], torch.bfloat16, "meta", torch.Generator().manual_seed(0))
    bound = module.KERNELS[name].bind(args)
    from helion.compiler import codegen
    code = codegen.generate(bound.functions[0], bound.config_space.default(), gpu=True)
    assert "libdevice.tanh" in code
    assert "libdevice" not in bound.to_triton_code()  # CPU (interpreter) code avoids libdevice


@pytest.mark.parametrize("module_name", ["matmul", "row_sum_loop", "softmax", "elementwise_3d"])
def test_sampled_configs_compile_for_sm90(module_name: str) -> None:
    """Every knob's GPU spelling (program order, L2 groups, tl.range options, eviction policies)
    compiles; a config Triton rejects for resources is a normal tuning outcome, not a crash."""
    import numpy as np

    from helion import exc
    module = GALLERY[module_name]
    kernel = next(iter(module.KERNELS.values()))
    args = module.make_args(module.GPU_SIZES[0], torch.bfloat16, "meta", torch.Generator().manual_seed(0))
    bound = kernel.bind(args)
    compiled = 0
    for seed in range(3):
        config = bound.config_space.sample(np.random.default_rng(seed))
        try:
            compile_for_target(bound, config)
            compiled += 1
        except exc.HelionError as e:
            message = str(e).lower()  # resources or a ptxas failure: outcomes of tuning
            assert "out of resource" in message or "shared memory" in message or "ptxas" in message, str(e)
    assert compiled >= 1


def test_interpreter_leaves_triton_language_as_it_was() -> None:
    """Triton's interpreter patches triton.language inside device-function calls (tl.sum, ...)
    and never restores it; a later GPU compile in the same process then fails at random lines.
    Running a kernel on CPU must leave every attribute in place."""
    import triton.language as tl

    objects = [tl.core, tl.math, tl.core.tensor]
    before = [dict(vars(o)) for o in objects]
    module = GALLERY["softmax"]
    args = module.make_args((37, 100), torch.float32, "cpu", torch.Generator().manual_seed(0))
    bound = module.KERNELS["softmax"].bind(args)
    bound.compile_config(bound.config_space.default())(*args)
    changed = [name for o, b in zip(objects, before) for name, v in b.items() if vars(o).get(name) is not v]
    assert changed == []
