"""Is a candidate's answer the baseline's? Dtype-aware tolerances over nested outputs.

The public Helion names: ``autotune_baseline_atol`` / ``autotune_baseline_rtol`` override the
tolerances; ``autotune_accuracy_check=False`` skips the check.
"""
from __future__ import annotations

from typing import Any

import torch

# (atol, rtol) by the output's dtype: low-precision outputs differ by a few ulps between configs
# (another reduction order or tile size rounds differently), fp32 through tf32 dots by more.
_TOLERANCES = {torch.float64: (1e-6, 1e-6), torch.float32: (1e-2, 1e-2), torch.float16: (1e-2, 1e-2),
               torch.bfloat16: (2e-2, 2e-2)}
_FP8_TOLERANCE = (0.25, 0.25)


def tolerance(dtype: torch.dtype, atol: float | None = None, rtol: float | None = None) -> tuple[float, float]:
    """(atol, rtol) for outputs of ``dtype``; given values win. Integers and bools compare exactly."""
    if not dtype.is_floating_point:
        default = (0.0, 0.0)
    else:
        default = _TOLERANCES.get(dtype, _FP8_TOLERANCE if dtype.itemsize == 1 else (1e-2, 1e-2))
    return (default[0] if atol is None else atol, default[1] if rtol is None else rtol)


def mismatch(actual: Any, expected: Any, atol: float | None = None, rtol: float | None = None,
             where: str = "output") -> str | None:
    """None when ``actual`` matches ``expected`` (tensors, nested tuples/lists, plain values), else
    a one-line description of the first difference."""
    if isinstance(expected, torch.Tensor):
        if not isinstance(actual, torch.Tensor):
            return f"{where}: expected a tensor, got {type(actual).__name__}"
        if actual.shape != expected.shape:
            return f"{where}: shape {tuple(actual.shape)} != {tuple(expected.shape)}"
        a_tol, r_tol = tolerance(expected.dtype, atol, rtol)
        got, want = actual.detach().to(torch.float64), expected.detach().to(torch.float64)
        if not torch.allclose(got, want, atol=a_tol, rtol=r_tol, equal_nan=True):
            bad = ~torch.isclose(got, want, atol=a_tol, rtol=r_tol, equal_nan=True)
            err = (got - want).abs().nan_to_num(float("inf"))[bad].max().item()
            return (f"{where}: {int(bad.sum())} of {bad.numel()} elements differ (max abs error {err:.3g}; "
                    f"atol {a_tol:g}, rtol {r_tol:g})")
        return None
    if isinstance(expected, (tuple, list)):
        if not isinstance(actual, (tuple, list)) or len(actual) != len(expected):
            return f"{where}: expected a sequence of {len(expected)}"
        for i, (a, e) in enumerate(zip(actual, expected)):
            message = mismatch(a, e, atol, rtol, f"{where}[{i}]")
            if message:
                return message
        return None
    if isinstance(expected, dict):
        if not isinstance(actual, dict) or actual.keys() != expected.keys():
            return f"{where}: expected keys {sorted(expected)}"
        for key in expected:
            message = mismatch(actual[key], expected[key], atol, rtol, f"{where}[{key!r}]")
            if message:
                return message
        return None
    return None if actual == expected else f"{where}: {actual!r} != {expected!r}"
