"""Does a launch find the compile pool's binary in Triton's cache? (GPU check of the precompile path.)

For a few gallery kernels and configs: compile through the engine's compile pool (worker
processes, stub driver, no GPU use) into a fresh ``TRITON_CACHE_DIR``, then launch the same
config here and count the kernel binaries (``*.cubin``) the launch added to the cache: 0 means
the launch loaded the pool's binary, 1 or more that it compiled again (the pool's key did not
match the launch's). Launcher stubs Triton builds at a first launch are not counted.

    python -m experiments.precompile_hit_gpu
"""
from __future__ import annotations

import glob
import os
import sys
import tempfile
import time

os.environ["TRITON_CACHE_DIR"] = tempfile.mkdtemp(prefix="triton-hit-")  # before triton is imported


def main() -> int:
    import numpy as np
    import torch

    from experiments.kernels import GALLERY
    from experiments.kernels.checking import make_inputs
    from helion.autotune.compile_pool import CompilePool
    from helion.autotune.precompile import job_for, target_of
    cache = os.environ["TRITON_CACHE_DIR"]
    cases = [("rms_norm", "rms_norm", (16384, 4096)), ("softmax", "softmax", (16384, 4096)),
             ("add", "add", (16384, 4096, "row")), ("matmul", "matmul", (4096, 4096, 4096))]
    target = target_of(torch.device("cuda"))
    hits = total = 0
    with CompilePool() as pool:
        for module_name, kernel_name, size in cases:
            module = GALLERY[module_name]
            args = make_inputs(module, size, torch.bfloat16, "cuda", 0)
            bound = module.KERNELS[kernel_name].bind(args)
            rng = np.random.default_rng(0)
            configs = [bound.config_space.default()] + [bound.config_space.sample(rng) for _ in range(3)]
            started = time.perf_counter()
            results = pool.submit([job_for(bound, c, target, 120.0) for c in configs]).result()
            pool_s = time.perf_counter() - started
            for config, result in zip(configs, results):
                if result.status != "ok":
                    print(f"{kernel_name}: pool {result.status}: {result.message}")
                    continue
                before = len(glob.glob(os.path.join(cache, "*", "*.cubin")))
                started = time.perf_counter()
                try:
                    bound.compile_config(config)(*args)
                    torch.cuda.synchronize()
                except Exception as e:  # noqa: BLE001
                    print(f"{kernel_name}: launch failed: {str(e).splitlines()[0]}")
                    continue
                added = len(glob.glob(os.path.join(cache, "*", "*.cubin"))) - before
                total += 1
                hits += added == 0
                print(f"{kernel_name}: pool {result.compile_s:.2f} s (batch {pool_s:.1f} s), first launch "
                      f"{time.perf_counter() - started:.3f} s, binaries added by the launch: {added}, "
                      f"resources {result.kernels}", flush=True)
    print(f"launches that loaded the pool's binary: {hits} of {total}")
    return 0 if hits == total else 1


if __name__ == "__main__":
    sys.exit(main())
