"""Random configs (every knob) of a few gallery kernels on the GPU, checked against torch.

    python -m experiments.knob_check_gpu [--configs 12]

Prints, per kernel, how many sampled configs ran correctly, failed to compile/run, or computed a
wrong answer (the last must be zero), and the fastest config's time vs the default's.
"""
from __future__ import annotations

import argparse
import warnings

import numpy as np
import torch
import triton

from experiments.kernels import GALLERY

KERNELS = ["add", "softmax", "rms_norm", "layer_norm", "matmul", "row_sum_loop", "sum_first", "bmm"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--configs", type=int, default=12)
    parser.add_argument("--kernels", default=",".join(KERNELS))
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    gpu = torch.cuda.is_available()
    device, dtype = ("cuda", torch.bfloat16) if gpu else ("cpu", torch.float32)
    print(f"device: {torch.cuda.get_device_name() if gpu else 'cpu'}; triton {triton.__version__}")
    print("| kernel | ok | failed | wrong | default ms | best ms | best config |\n|---|---|---|---|---|---|---|")
    for name in args.kernels.split(","):
        module = GALLERY[name]
        kernel = next(iter(module.KERNELS.values()))
        size = module.GPU_SIZES[0] if gpu else module.CONFIG_SIZE
        inputs = module.make_args(size, dtype, device, torch.Generator().manual_seed(0))
        expected = module.reference(*inputs)
        bound = kernel.bind(inputs)
        space = bound.config_space
        configs = [space.default()] + [space.sample(np.random.default_rng(s)) for s in range(args.configs)]
        tol = module.TOLERANCE[dtype]
        ok = failed = wrong = 0
        times = []
        errors = []
        for cfg in configs:
            try:
                run = bound.compile_config(cfg)
                out = run(*inputs)
                if gpu:
                    torch.cuda.synchronize()
            except Exception as e:  # noqa: BLE001
                failed += 1
                errors.append(f"{type(e).__name__}: {str(e).splitlines()[0][:120]}")
                continue
            out0 = out[0] if isinstance(out, tuple) else out
            exp0 = expected[0] if isinstance(expected, tuple) else expected
            if not torch.allclose(out0.float(), exp0.float(), atol=tol["atol"] * 2, rtol=tol["rtol"] * 2):
                wrong += 1
                print(f"WRONG {name} {cfg}", flush=True)
                continue
            ok += 1
            ms = triton.testing.do_bench(lambda: run(*inputs), return_mode="median") if gpu else float("nan")
            times.append((ms, cfg))
        default_ms = times[0][0] if times and times[0][1] == configs[0] else float("nan")
        best = min(times, key=lambda t: t[0]) if times else (float("nan"), None)
        print(f"| {name} | {ok} | {failed} | {wrong} | {default_ms:.4f} | {best[0]:.4f} | {best[1]} |", flush=True)
        for e in sorted(set(errors))[:3]:
            print(f"  failure: {e}", flush=True)


if __name__ == "__main__":
    main()
