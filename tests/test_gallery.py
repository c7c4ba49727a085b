"""Every gallery kernel, at every test size, in fp32 and fp16, against its PyTorch reference.

CPU tensors run through Triton's interpreter (bf16 arithmetic is broken there, so no bf16 here).
The kernels are compiled with their config space's default config. One call per kernel also goes
through the user's path with a fixed ``config=``, and a few kernels are called with nothing fixed,
so that they autotune (briefly) before running.
"""

from __future__ import annotations

import warnings

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

CPU_DTYPES = (torch.float32, torch.float16)


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _size_name(size: tuple) -> str:
    return "x".join(str(part) for part in size)


def _size_dtype_cases() -> list:
    return [
        pytest.param(module_name, kernel_name, size, dtype, id=f"{kernel_name}-{_size_name(size)}-{_dtype_name(dtype)}")
        for module_name, kernel_name, module in all_kernels()
        for size in module.SIZES
        for dtype in CPU_DTYPES
    ]


def _kernel_cases() -> list:
    return [pytest.param(module_name, kernel_name, id=kernel_name) for module_name, kernel_name, _ in all_kernels()]


def _run_and_check(module_name: str, kernel_name: str, size: tuple, dtype: torch.dtype, call) -> None:
    module = GALLERY[module_name]
    args = make_inputs(module, size, dtype, "cpu", seed=stable_seed(kernel_name, size, _dtype_name(dtype)))
    originals = clone_inputs(args)
    actual = call(module.KERNELS[kernel_name], args)
    expected = reference_for(module, kernel_name)(*originals)
    context = f"{kernel_name} size={size} dtype={_dtype_name(dtype)}"
    assert_matches(actual, expected, module.TOLERANCE[dtype], context=context)
    assert_inputs_unchanged(originals, args, context=context)


def _with_default_config(kernel, args):
    bound = kernel.bind(args)
    return bound.compile_config(bound.config_space.default())(*args)


@pytest.mark.parametrize(("module_name", "kernel_name", "size", "dtype"), _size_dtype_cases())
def test_default_config_matches_reference(module_name: str, kernel_name: str, size: tuple, dtype: torch.dtype) -> None:
    _run_and_check(module_name, kernel_name, size, dtype, _with_default_config)


def _with_config_argument(kernel, args):
    """A user fixing the config: ``helion.kernel(fn, config=helion.Config(...))``, then a plain call."""
    default = kernel.bind(args).config_space.default()
    fixed = helion.kernel(kernel.fn, config=helion.Config(**default), settings=kernel.settings)
    return fixed(*args)


@pytest.mark.parametrize(("module_name", "kernel_name"), _kernel_cases())
def test_calling_with_a_fixed_config_matches_reference(module_name: str, kernel_name: str) -> None:
    module = GALLERY[module_name]
    _run_and_check(module_name, kernel_name, module.CONFIG_SIZE, torch.float32, _with_config_argument)


def _autotuned(kernel, args):
    """A plain call with nothing fixed: the kernel tunes itself (a short search, to keep CPU time low)."""
    tuned = helion.kernel(kernel.fn, settings=kernel.settings, autotune_max_trials=4, autotune_progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return tuned(*args)


@pytest.mark.parametrize(
    ("module_name", "kernel_name", "size"),
    [("add", "add", (37, 100, "row")), ("softmax", "softmax", (37, 100)), ("matmul", "matmul", (37, 40, 50))],
)
def test_autotuned_call_matches_reference(module_name: str, kernel_name: str, size: tuple) -> None:
    _run_and_check(module_name, kernel_name, size, torch.float32, _autotuned)


def test_gallery_modules_are_complete() -> None:
    for module_name, module in GALLERY.items():
        assert module.KERNELS, module_name
        assert set(getattr(module, "REFERENCES", {})) <= set(module.KERNELS), module_name
        assert module.SIZES and module.GPU_SIZES and module.CONFIG_SIZE, module_name
        assert {torch.float32, torch.float16, torch.bfloat16} <= set(module.TOLERANCE), module_name
        for size in module.SIZES:
            assert all(part <= 130 for part in size if isinstance(part, int)), (module_name, size)
