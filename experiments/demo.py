"""The main job: autotune an example kernel (rms_norm) and check it against PyTorch.

Runs on the GPU when there is one, else through Triton's CPU interpreter (small sizes, few trials).

    python -m experiments.demo [--strategy tpe] [--trials 20]
"""
from __future__ import annotations

import argparse
import time

import torch

import helion
import helion.language as hl


@helion.kernel()
def rms_norm(x: torch.Tensor, w: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Root-mean-square normalization of each row of x, scaled by w."""
    m, n = x.size()
    out = torch.empty_like(x)
    for tile_m in hl.tile(m):
        xt = x[tile_m, :].to(torch.float32)
        inv = torch.rsqrt(torch.mean(xt * xt, dim=-1) + eps)
        out[tile_m, :] = (xt * inv[:, None] * w[:].float()).to(out.dtype)
    return out


def reference(x: torch.Tensor, w: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    xf = x.float()
    return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps) * w.float()).to(x.dtype)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--strategy", default="genetic", help="autotune strategy (random, genetic, tpe, ...)")
    parser.add_argument("--trials", type=int, default=None,
                        help="autotuning trials (default: the quick effort's time budget on a GPU, 8 on CPU)")
    args = parser.parse_args()
    gpu = torch.cuda.is_available()
    device = "cuda" if gpu else "cpu"
    m, n, dtype = (8192, 4096, torch.bfloat16) if gpu else (70, 130, torch.float32)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(m, n, generator=gen).to(device, dtype)
    w = torch.randn(n, generator=gen).to(device, dtype)
    # without a GPU the compile workers still build sm_90 binaries (registers, spills, shared
    # memory in the log) while the interpreter runs each candidate; a fresh cache, so it tunes
    kernel = helion.kernel(rms_norm.fn, autotune_strategy=args.strategy, skip_cache=True,
                           autotune_max_trials=args.trials or (None if gpu else 8),
                           autotune_compile_target=None if gpu else "sm_90")
    print(f"rms_norm {m}x{n} {dtype} on {torch.cuda.get_device_name() if gpu else 'CPU (Triton interpreter)'}")
    start = time.perf_counter()
    out = kernel(x, w)
    print(f"autotuned in {time.perf_counter() - start:.1f}s")
    expected = reference(x, w)
    tol = 2e-2 if dtype == torch.bfloat16 else 1e-4
    torch.testing.assert_close(out, expected, atol=tol, rtol=tol)
    error = (out.float() - expected.float()).abs().max().item()
    print(f"check: max |error| vs torch = {error:.2e} (ok)")
    bound = kernel.bind((x, w))
    print(f"chosen config: {bound.chosen_config}\ngenerated Triton code:\n")
    print(bound.to_triton_code(bound.chosen_config))


if __name__ == "__main__":
    main()
