"""Backward passes of RMS norm and layer norm: the input gradient per row and the weight (and bias)
gradients, which sum over all rows and so across programs.

- ``rms_norm_backward``: row tiles; a first column loop takes the row moments, a second writes
  ``grad_x`` and adds each tile's weight-gradient column sums into an fp32 buffer with
  ``hl.atomic_add``.
- ``rms_norm_backward_partials`` and ``layer_norm_backward``: deterministic, without atomics. The
  rows are cut into at most ``partials`` chunks (a tunable: ``hl.register_tunable``); each program
  walks its chunk's rows in tiles, keeps its weight-gradient sums in registers and writes them to
  row ``chunk.id`` of a partial-sum buffer; a second top-level loop sums the buffer's rows.

Both compute ``rstd`` (and the mean) from ``x`` again rather than reading a saved one, and return
the weight gradients in fp32.
"""

from __future__ import annotations

import torch

import helion
import helion.language as hl
from helion.autotuner import PowerOfTwoFragment

from . import SizeDraw
from ._util import randn


@helion.kernel()
def rms_norm_backward(
    grad_out: torch.Tensor, x: torch.Tensor, weight: torch.Tensor, eps: float = 1e-5
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(grad_x, grad_weight)`` of ``y = x * rsqrt(mean(x^2) + eps) * weight``; grad_weight by atomics."""
    m, n = x.size()
    grad_x = torch.empty_like(x)
    grad_weight = torch.zeros([n], dtype=torch.float32, device=x.device)
    for tile_m in hl.tile(m):
        sum_sq = hl.zeros([tile_m], dtype=torch.float32)
        sum_gwx = hl.zeros([tile_m], dtype=torch.float32)
        for tile_n in hl.tile(n):
            xf = x[tile_m, tile_n].to(torch.float32)
            gw = grad_out[tile_m, tile_n].to(torch.float32) * weight[tile_n].to(torch.float32)
            sum_sq = sum_sq + torch.sum(xf * xf, dim=1)
            sum_gwx = sum_gwx + torch.sum(gw * xf, dim=1)
        rstd = torch.rsqrt(sum_sq / n + eps)
        coeff = rstd * rstd * rstd * sum_gwx / n
        for tile_n in hl.tile(n):
            xf = x[tile_m, tile_n].to(torch.float32)
            g = grad_out[tile_m, tile_n].to(torch.float32)
            gw = g * weight[tile_n].to(torch.float32)
            grad_x[tile_m, tile_n] = (gw * rstd[:, None] - xf * coeff[:, None]).to(grad_x.dtype)
            hl.atomic_add(grad_weight, [tile_n], torch.sum(g * xf * rstd[:, None], dim=0))
    return grad_x, grad_weight


@helion.kernel()
def rms_norm_backward_partials(
    grad_out: torch.Tensor, x: torch.Tensor, weight: torch.Tensor, eps: float = 1e-5
) -> tuple[torch.Tensor, torch.Tensor]:
    """The same gradients; grad_weight from per-chunk partial sums and a second loop (no atomics)."""
    m, n = x.size()
    partials = hl.register_tunable("partials", PowerOfTwoFragment(1, 256, 32))
    rows_per_chunk = helion.next_power_of_2(helion.cdiv(m, partials))
    grad_x = torch.empty_like(x)
    partial_sums = torch.zeros([partials, n], dtype=torch.float32, device=x.device)
    grad_weight = torch.empty([n], dtype=torch.float32, device=x.device)
    for chunk in hl.tile(m, block_size=rows_per_chunk):
        acc = hl.zeros([n], dtype=torch.float32)
        for tile_m in hl.tile(chunk.begin, chunk.end):
            xf = x[tile_m, :].to(torch.float32)
            g = grad_out[tile_m, :].to(torch.float32)
            rstd = torch.rsqrt(torch.mean(xf * xf, dim=1) + eps)
            gw = g * weight[:].to(torch.float32)
            coeff = rstd * rstd * rstd * torch.mean(gw * xf, dim=1)
            grad_x[tile_m, :] = (gw * rstd[:, None] - xf * coeff[:, None]).to(grad_x.dtype)
            acc = acc + torch.sum(g * xf * rstd[:, None], dim=0)
        partial_sums[chunk.id, :] = acc
    for tile_n in hl.tile(n):
        grad_weight[tile_n] = torch.sum(partial_sums[:, tile_n], dim=0)
    return grad_x, grad_weight


@helion.kernel()
def layer_norm_backward(
    grad_out: torch.Tensor, x: torch.Tensor, weight: torch.Tensor, eps: float = 1e-5
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(grad_x, grad_weight, grad_bias)`` of ``layer_norm(x, weight, bias, eps)`` (the bias does
    not enter the gradients), with partial sums per row chunk and a second loop."""
    m, n = x.size()
    partials = hl.register_tunable("partials", PowerOfTwoFragment(1, 256, 32))
    rows_per_chunk = helion.next_power_of_2(helion.cdiv(m, partials))
    grad_x = torch.empty_like(x)
    partial_w = torch.zeros([partials, n], dtype=torch.float32, device=x.device)
    partial_b = torch.zeros([partials, n], dtype=torch.float32, device=x.device)
    grad_weight = torch.empty([n], dtype=torch.float32, device=x.device)
    grad_bias = torch.empty([n], dtype=torch.float32, device=x.device)
    for chunk in hl.tile(m, block_size=rows_per_chunk):
        acc_w = hl.zeros([n], dtype=torch.float32)
        acc_b = hl.zeros([n], dtype=torch.float32)
        for tile_m in hl.tile(chunk.begin, chunk.end):
            xf = x[tile_m, :].to(torch.float32)
            g = grad_out[tile_m, :].to(torch.float32)
            mean = torch.mean(xf, dim=1)
            centered = xf - mean[:, None]
            rstd = torch.rsqrt(torch.mean(centered * centered, dim=1) + eps)
            x_hat = centered * rstd[:, None]
            gw = g * weight[:].to(torch.float32)
            mean_gw = torch.mean(gw, dim=1)
            mean_gwx = torch.mean(gw * x_hat, dim=1)
            grad_x[tile_m, :] = ((gw - mean_gw[:, None] - x_hat * mean_gwx[:, None]) * rstd[:, None]).to(
                grad_x.dtype
            )
            acc_w = acc_w + torch.sum(g * x_hat, dim=0)
            acc_b = acc_b + torch.sum(g, dim=0)
        partial_w[chunk.id, :] = acc_w
        partial_b[chunk.id, :] = acc_b
    for tile_n in hl.tile(n):
        grad_weight[tile_n] = torch.sum(partial_w[:, tile_n], dim=0)
        grad_bias[tile_n] = torch.sum(partial_b[:, tile_n], dim=0)
    return grad_x, grad_weight, grad_bias


KERNELS = {
    "rms_norm_backward": rms_norm_backward,
    "rms_norm_backward_partials": rms_norm_backward_partials,
    "layer_norm_backward": layer_norm_backward,
}


def _grads(forward, grad_out: torch.Tensor, x: torch.Tensor, params: list[torch.Tensor]) -> tuple:
    """Autograd of ``forward(x, *params)`` in fp32: grad_x cast to x's dtype, the rest fp32."""
    xf = x.detach().float().requires_grad_()
    pf = [p.detach().float().requires_grad_() for p in params]
    forward(xf, *pf).backward(grad_out.float())
    return (xf.grad.to(x.dtype), *(p.grad for p in pf))


def reference(grad_out: torch.Tensor, x: torch.Tensor, weight: torch.Tensor, eps: float = 1e-5) -> tuple:
    """RMS norm's gradients by autograd in fp32."""
    return _grads(lambda xf, w: xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps) * w, grad_out, x, [weight])


def reference_layer_norm(grad_out: torch.Tensor, x: torch.Tensor, weight: torch.Tensor, eps: float = 1e-5) -> tuple:
    """Layer norm's gradients (x, weight, bias) by autograd in fp32."""
    bias = torch.zeros_like(weight)
    return _grads(lambda xf, w, b: torch.nn.functional.layer_norm(xf, [xf.size(-1)], w, b, eps),
                  grad_out, x, [weight, bias])


REFERENCES = {"layer_norm_backward": reference_layer_norm}


def make_args(
    size: tuple[int, int], dtype: torch.dtype, device: torch.device | str, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
    """``size = (m, n)``: grad_out [m, n], x [m, n] (offset from zero), weight [n] and eps."""
    m, n = size
    x = (torch.randn([m, n], generator=generator) * 2.0 + 0.5).to(dtype=dtype, device=device)
    return randn([m, n], dtype, device, generator), x, randn([n], dtype, device, generator), 1e-5


def bytes_moved(size: tuple[int, int], dtype_bytes: int) -> int:
    """The copy-bandwidth roofline's bytes: read grad_out and x, write grad_x (weights are small)."""
    m, n = size
    return 3 * m * n * dtype_bytes


SIZES = [(64, 64), (37, 100), (1, 130), (70, 33)]
CONFIG_SIZE = (37, 100)
GPU_SIZES = [(16384, 4096)]
PROPERTY_EXAMPLES = 4  # each example interprets a per-row loop: slow on CPU (tests/test_gallery_properties.py)
TOLERANCE = {
    torch.float32: {"rtol": 1e-4, "atol": 1e-4},
    torch.float16: {"rtol": 1e-2, "atol": 5e-2},
    torch.bfloat16: {"rtol": 2e-2, "atol": 1e-1},
}


def random_size(draw: SizeDraw) -> tuple[int, int]:
    """For property tests: ``(m, n)`` with rows of at least 4 elements (rows of one or two
    elements normalize to constants, so layer norm's input gradient is exactly 0 and the
    reference's is rounding noise)."""
    m, n = draw.dims(2)
    return m, max(n, 4)
