"""Small helpers shared by the gallery modules: random inputs and tolerance tables."""

from __future__ import annotations

import torch

# Tolerances per dtype, as keyword arguments for ``torch.testing.assert_close``.
# Pointwise kernels differ from the reference by an ulp or two of the output dtype.
POINTWISE = {
    torch.float32: {"rtol": 1e-5, "atol": 1e-5},
    torch.float16: {"rtol": 1e-2, "atol": 1e-2},
    torch.bfloat16: {"rtol": 2e-2, "atol": 2e-2},
}
# Transcendentals (exp, erf, tanh, ...) are implemented differently by Triton and by torch.
TRANSCENDENTAL = {
    torch.float32: {"rtol": 1e-4, "atol": 1e-5},
    torch.float16: {"rtol": 1e-2, "atol": 1e-2},
    torch.bfloat16: {"rtol": 2e-2, "atol": 2e-2},
}
# Reductions sum in a different order than torch (and the output is large for long rows).
REDUCTION = {
    torch.float32: {"rtol": 1e-4, "atol": 1e-4},
    torch.float16: {"rtol": 1e-2, "atol": 5e-2},
    torch.bfloat16: {"rtol": 2e-2, "atol": 1e-1},
}
# Matmuls: fp32 on a GPU may run on TF32 tensor cores; outputs grow like sqrt(k).
MATMUL = {
    torch.float32: {"rtol": 1e-2, "atol": 5e-2},
    torch.float16: {"rtol": 1e-2, "atol": 5e-2},
    torch.bfloat16: {"rtol": 2e-2, "atol": 1e-1},
}
# Integer results (indices) must match exactly.
EXACT = {
    torch.float32: {"rtol": 0.0, "atol": 0.0},
    torch.float16: {"rtol": 0.0, "atol": 0.0},
    torch.bfloat16: {"rtol": 0.0, "atol": 0.0},
}


def randn(
    shape: list[int] | tuple[int, ...],
    dtype: torch.dtype,
    device: torch.device | str,
    generator: torch.Generator,
    scale: float = 1.0,
) -> torch.Tensor:
    """Standard-normal values drawn on the CPU from ``generator``, then moved to ``device``."""
    values = torch.randn(tuple(shape), generator=generator, dtype=torch.float32) * scale
    return values.to(dtype=dtype, device=device)
