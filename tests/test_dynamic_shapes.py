"""static_shapes=False: one compiled kernel serves many shapes (sizes are kernel arguments).

Every gallery kernel runs with dynamic shapes at all of its CPU test sizes and matches its torch
reference; shapes in the same power-of-two bucket reuse one bound kernel.
"""
from __future__ import annotations

import pytest
import torch

import helion
from experiments.kernels import GALLERY, GALLERY_NAMES

CASES = [(m, k) for m in GALLERY_NAMES for k in GALLERY[m].KERNELS]


def _check(actual, expected, tolerance) -> None:
    if isinstance(expected, (tuple, list)):
        for a, e in zip(actual, expected):
            _check(a, e, tolerance)
        return
    torch.testing.assert_close(actual, expected, **tolerance)


@pytest.mark.parametrize(("module_name", "kernel_name"), CASES)
def test_gallery_kernel_with_dynamic_shapes(module_name: str, kernel_name: str) -> None:
    module = GALLERY[module_name]
    original = module.KERNELS[kernel_name]
    kernel = helion.kernel(original.fn, static_shapes=False, use_default_config=True)
    reference = getattr(module, "REFERENCES", {}).get(kernel_name, module.reference)
    for i, size in enumerate(module.SIZES):
        args = module.make_args(size, torch.float32, "cpu", torch.Generator().manual_seed(i))
        expected = reference(*[a.clone() if isinstance(a, torch.Tensor) else a for a in args])
        _check(kernel(*args), expected, module.TOLERANCE[torch.float32])


@helion.kernel(static_shapes=False, use_default_config=True)
def _scale_rows(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    out = torch.empty_like(x)
    for tile_m in helion.language.tile(x.size(0)):
        out[tile_m, :] = x[tile_m, :] * w[None, :]
    return out


def test_shapes_in_one_bucket_share_a_bound_kernel() -> None:
    _scale_rows.reset()
    for m, n in [(37, 50), (40, 60), (64, 33)]:
        x, w = torch.randn(m, n), torch.randn(n)
        torch.testing.assert_close(_scale_rows(x, w), x * w)
    assert len(_scale_rows._bound) == 1  # rows 37..64 and columns 33..64 are one bucket
    x, w = torch.randn(100, 50), torch.randn(50)
    torch.testing.assert_close(_scale_rows(x, w), x * w)
    assert len(_scale_rows._bound) == 2
    code = _scale_rows.bind((x, w)).to_triton_code()
    assert "x_size_1" in code and "triton.next_power_of_2(x_size_1)" in code
