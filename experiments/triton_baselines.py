"""Hand-written Triton kernels for the suite's "triton" column: the well-known ones, plainly written.

- ``add``: a flat element-wise kernel; ``y`` is read through its broadcast strides (0 where it
  broadcasts), so ``[n]``, ``[m, 1]`` and ``[m, n]`` all work;
- ``softmax`` / ``log_softmax``: one row per program, the whole row in registers (the Triton
  tutorial's fused softmax), fp32 math;
- ``rms_norm`` / ``layer_norm``: one row per program, fp32 statistics, weight (and bias) applied;
- ``matmul``: output tiles in grouped order for L2 reuse, a K loop with an fp32 accumulator (the
  Triton tutorial's matmul).

Each module name of ``BASELINES`` maps to a :class:`Baseline`: its configs (a few standard ones for
the GPU, small ones for the CPU interpreter) and ``launch(config, *args)``, which takes the gallery
module's own arguments and returns a new output. :func:`pick_best` times every config and keeps
the fastest. Only kernels checked against the module's reference use these (the suite's
``triton`` step).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import triton
import triton.language as tl

Config = dict[str, int]


# ------------------------------------------------------------------------------------------------
# Kernels


@triton.jit
def _add_kernel(x_ptr, y_ptr, out_ptr, numel, n_cols, y_stride_row, y_stride_col, BLOCK: tl.constexpr):
    offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offsets < numel
    rows, cols = offsets // n_cols, offsets % n_cols
    x = tl.load(x_ptr + offsets, mask=mask)
    y = tl.load(y_ptr + rows * y_stride_row + cols * y_stride_col, mask=mask)
    tl.store(out_ptr + offsets, (x.to(tl.float32) + y.to(tl.float32)).to(out_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _softmax_kernel(x_ptr, out_ptr, n_cols, x_stride, out_stride, LOG: tl.constexpr, BLOCK: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    cols = tl.arange(0, BLOCK)
    mask = cols < n_cols
    x = tl.load(x_ptr + row * x_stride + cols, mask=mask, other=float("-inf")).to(tl.float32)
    shifted = x - tl.max(x, axis=0)
    numerator = tl.exp(shifted)
    denominator = tl.sum(numerator, axis=0)
    if LOG:
        result = shifted - tl.log(denominator)
    else:
        result = numerator / denominator
    tl.store(out_ptr + row * out_stride + cols, result.to(out_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _norm_kernel(x_ptr, w_ptr, b_ptr, out_ptr, n_cols, x_stride, out_stride, eps,
                 CENTER: tl.constexpr, BLOCK: tl.constexpr):
    """RMS norm (CENTER false: no mean, no bias) or layer norm (CENTER true) of one row."""
    row = tl.program_id(0).to(tl.int64)
    cols = tl.arange(0, BLOCK)
    mask = cols < n_cols
    x = tl.load(x_ptr + row * x_stride + cols, mask=mask, other=0.0).to(tl.float32)
    w = tl.load(w_ptr + cols, mask=mask, other=0.0).to(tl.float32)
    if CENTER:
        mean = tl.sum(x, axis=0) / n_cols
        x = tl.where(mask, x - mean, 0.0)
    inv = 1.0 / tl.sqrt(tl.sum(x * x, axis=0) / n_cols + eps)
    y = x * inv * w
    if CENTER:
        y = y + tl.load(b_ptr + cols, mask=mask, other=0.0).to(tl.float32)
    tl.store(out_ptr + row * out_stride + cols, y.to(out_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _matmul_kernel(a_ptr, b_ptr, c_ptr, M, N, K, stride_am, stride_ak, stride_bk, stride_bn, stride_cm, stride_cn,
                   BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, GROUP_M: tl.constexpr):
    pid = tl.program_id(0)
    tiles_m, tiles_n = tl.cdiv(M, BLOCK_M), tl.cdiv(N, BLOCK_N)
    # GROUP_M rows of output tiles are walked column by column, so their A and B tiles stay in L2
    group_size = GROUP_M * tiles_n
    first_m = (pid // group_size) * GROUP_M
    rows_in_group = min(tiles_m - first_m, GROUP_M)
    pid_m = first_m + (pid % group_size) % rows_in_group
    pid_n = (pid % group_size) // rows_in_group
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    offs_k = tl.arange(0, BLOCK_K)
    a_ptrs = a_ptr + offs_m[:, None] * stride_am + offs_k[None, :] * stride_ak
    b_ptrs = b_ptr + offs_k[:, None] * stride_bk + offs_n[None, :] * stride_bn
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for k in range(0, tl.cdiv(K, BLOCK_K)):
        k_left = K - k * BLOCK_K
        a = tl.load(a_ptrs, mask=(offs_m[:, None] < M) & (offs_k[None, :] < k_left), other=0.0)
        b = tl.load(b_ptrs, mask=(offs_k[:, None] < k_left) & (offs_n[None, :] < N), other=0.0)
        acc = tl.dot(a, b, acc)
        a_ptrs += BLOCK_K * stride_ak
        b_ptrs += BLOCK_K * stride_bk
    c_ptrs = c_ptr + offs_m[:, None] * stride_cm + offs_n[None, :] * stride_cn
    tl.store(c_ptrs, acc.to(c_ptr.dtype.element_ty), mask=(offs_m[:, None] < M) & (offs_n[None, :] < N))


# ------------------------------------------------------------------------------------------------
# Launchers: the gallery module's arguments in, a new output out


def _launch_add(config: Config, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    if x.dim() != 2 or not x.is_contiguous():
        raise ValueError("the Triton add baseline takes a contiguous 2-D x")
    out = torch.empty(x.shape, dtype=torch.promote_types(x.dtype, y.dtype), device=x.device)
    y_full = y.expand_as(x)  # strides 0 along broadcast dimensions
    numel, block = x.numel(), config["BLOCK"]
    _add_kernel[(triton.cdiv(numel, block),)](x, y_full, out, numel, x.shape[1], y_full.stride(0), y_full.stride(1),
                                              BLOCK=block, num_warps=config["num_warps"])
    return out


def _row_block(x: torch.Tensor) -> int:
    if x.dim() != 2 or x.stride(1) != 1:
        raise ValueError("the Triton row baselines take a 2-D x with contiguous rows")
    return triton.next_power_of_2(x.shape[1])


def _launch_softmax(config: Config, x: torch.Tensor, log: bool = False) -> torch.Tensor:
    block = _row_block(x)
    out = torch.empty_like(x)
    _softmax_kernel[(x.shape[0],)](x, out, x.shape[1], x.stride(0), out.stride(0), LOG=log, BLOCK=block,
                                   num_warps=config["num_warps"])
    return out


def _launch_log_softmax(config: Config, x: torch.Tensor) -> torch.Tensor:
    return _launch_softmax(config, x, log=True)


def _launch_rms_norm(config: Config, x: torch.Tensor, weight: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    block = _row_block(x)
    out = torch.empty_like(x)
    _norm_kernel[(x.shape[0],)](x, weight, weight, out, x.shape[1], x.stride(0), out.stride(0), eps,
                                CENTER=False, BLOCK=block, num_warps=config["num_warps"])
    return out


def _launch_layer_norm(config: Config, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
                       eps: float = 1e-5) -> torch.Tensor:
    block = _row_block(x)
    out = torch.empty_like(x)
    _norm_kernel[(x.shape[0],)](x, weight, bias, out, x.shape[1], x.stride(0), out.stride(0), eps,
                                CENTER=True, BLOCK=block, num_warps=config["num_warps"])
    return out


def _launch_matmul(config: Config, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    (m, k), (k2, n) = a.shape, b.shape
    if k != k2:
        raise ValueError(f"size mismatch {k} != {k2}")
    c = torch.empty((m, n), dtype=torch.promote_types(a.dtype, b.dtype), device=a.device)
    bm, bn = config["BLOCK_M"], config["BLOCK_N"]
    grid = (triton.cdiv(m, bm) * triton.cdiv(n, bn),)
    _matmul_kernel[grid](a, b, c, m, n, k, a.stride(0), a.stride(1), b.stride(0), b.stride(1), c.stride(0),
                         c.stride(1), BLOCK_M=bm, BLOCK_N=bn, BLOCK_K=config["BLOCK_K"], GROUP_M=config["GROUP_M"],
                         num_warps=config["num_warps"], num_stages=config["num_stages"])
    return c


# ------------------------------------------------------------------------------------------------
# The table


@dataclass(frozen=True)
class Baseline:
    """A hand-written kernel for one gallery module: configs to try and the launcher."""

    launch: Callable[..., torch.Tensor]
    gpu_configs: tuple[Config, ...]
    cpu_configs: tuple[Config, ...]

    def configs(self, device: torch.device) -> tuple[Config, ...]:
        return self.gpu_configs if device.type == "cuda" else self.cpu_configs


_ROW_CONFIGS = tuple({"num_warps": w} for w in (4, 8, 16))
_MATMUL_FIELDS = ("BLOCK_M", "BLOCK_N", "BLOCK_K", "GROUP_M", "num_warps", "num_stages")
_MATMUL_GPU = tuple(dict(zip(_MATMUL_FIELDS, c)) for c in [
    (128, 256, 64, 8, 8, 3), (256, 128, 64, 8, 8, 3), (128, 128, 64, 8, 4, 4), (128, 128, 32, 8, 4, 4),
    (128, 64, 64, 8, 4, 4), (64, 128, 64, 8, 4, 4)])
_MATMUL_CPU = tuple(dict(zip(_MATMUL_FIELDS, c)) for c in [(32, 32, 32, 4, 4, 1), (16, 32, 16, 2, 4, 1)])

BASELINES: dict[str, Baseline] = {
    "add": Baseline(_launch_add, tuple({"BLOCK": b, "num_warps": w} for b, w in [(1024, 4), (2048, 8), (4096, 8)]),
                    ({"BLOCK": 1024, "num_warps": 4}, {"BLOCK": 4096, "num_warps": 4})),
    "softmax": Baseline(_launch_softmax, _ROW_CONFIGS, _ROW_CONFIGS[:2]),
    "log_softmax": Baseline(_launch_log_softmax, _ROW_CONFIGS, _ROW_CONFIGS[:2]),
    "rms_norm": Baseline(_launch_rms_norm, _ROW_CONFIGS, _ROW_CONFIGS[:2]),
    "layer_norm": Baseline(_launch_layer_norm, _ROW_CONFIGS, _ROW_CONFIGS[:2]),
    "matmul": Baseline(_launch_matmul, _MATMUL_GPU, _MATMUL_CPU),
}


def pick_best(baseline: Baseline, args: Sequence[Any], device: torch.device,
              check: Callable[[Any], str], time_ms: Callable[[list[Callable[[], Any]]], list[float]]
              ) -> dict[str, Any]:
    """Every config checked with ``check(output) -> error message or ""``, the correct ones timed
    with ``time_ms(fns) -> medians``; the fastest kept. Returns ``config``, ``ms``, ``fn`` (the
    winner's call), ``tried`` (config, ms or error) and ``error`` when no config passed."""
    tried: list[dict[str, Any]] = []
    good: list[tuple[Config, Callable[[], Any]]] = []
    for config in baseline.configs(device):
        fn = (lambda c=config: baseline.launch(c, *args))
        try:
            message = check(fn())
        except Exception as e:  # noqa: BLE001 - a config that does not compile or run is reported
            message = f"{type(e).__name__}: {str(e).strip().splitlines()[0][:200] if str(e).strip() else ''}"
        if message:
            tried.append({"config": config, "error": message})
        else:
            good.append((config, fn))
    if not good:
        return {"tried": tried, "error": tried[0]["error"] if tried else "no configs"}
    times = time_ms([fn for _, fn in good])
    tried += [{"config": c, "ms": t} for (c, _), t in zip(good, times)]
    best = min(range(len(good)), key=times.__getitem__)
    return {"config": good[best][0], "ms": times[best], "fn": good[best][1], "tried": tried}
