"""Does the long-row default hold beyond softmax? (H100)

The heuristic keeps a reduction of up to 32768 elements in registers, with a warp per 2048 of them
(``WHOLE_ROW``, ``ROW_PER_WARP`` in ``helion/compiler/space.py``); before, rows longer than 8192
looped in 2048-element chunks. For each row kernel of the gallery at 4096 x 16384 and
4096 x 32768 (bf16), this checks and times the default next to whole rows with 8, 16 and 32 warps
and 2048-element chunks with 4 and 16 warps (the old default's shape), one call of each in turn.

    python -m experiments.long_rows_gpu [--repeats 30]
"""
from __future__ import annotations

import statistics
import sys

import torch

from experiments.gallery_gpu import Timer, compare_outputs, environment, gpu_script_args, tolerance_for
from experiments.kernels import GALLERY, reference_for
from experiments.kernels.checking import make_inputs

CASES = [("softmax", "softmax"), ("log_softmax", "log_softmax"), ("rms_norm", "rms_norm"),
         ("layer_norm", "layer_norm"), ("sum_last", "sum_last")]
SIZES = [(4096, 16384), (4096, 32768)]
VARIANTS = {"whole, 8 warps": (None, 8), "whole, 16 warps": (None, 16), "whole, 32 warps": (None, 32),
            "2048 chunks, 4 warps": (2048, 4), "2048 chunks, 16 warps": (2048, 16)}


def main(argv: list[str] | None = None) -> int:
    args, device = gpu_script_args(__doc__, argv, repeats=30)
    timer = Timer(device, args.repeats, 3)
    meta = environment(device)
    print(f"{meta['device']}; torch {meta['torch']}, triton {meta['triton']}; {meta['date']}\n")
    print("| kernel | size | default | default ms | " + " | ".join(VARIANTS) + " | default / best |")
    print("|---|---|---|---|" + "---|" * len(VARIANTS) + "---|")
    for module_name, kernel_name in CASES:
        module = GALLERY[module_name]
        for size in SIZES:
            inputs = make_inputs(module, size, torch.bfloat16, device, 0)
            bound = module.KERNELS[kernel_name].bind(inputs)
            default = bound.config_space.default()
            expected = reference_for(module, kernel_name)(*[a.float() if isinstance(a, torch.Tensor)
                                                            and a.is_floating_point() else a for a in inputs])
            configs = {"default": default}
            for name, (chunk, warps) in VARIANTS.items():
                configs[name] = {**default, "block_sizes": [1] * len(default["block_sizes"]),
                                 "reduction_loops": [chunk] * len(default["reduction_loops"]), "num_warps": warps}
            calls, cells = [], {}
            for name, config in configs.items():
                try:
                    fn = bound.compile_config(config)
                    check = compare_outputs(fn(*inputs), expected, tolerance_for(module, torch.bfloat16))
                    if not check["ok"]:
                        cells[name] = "wrong"
                        continue
                    calls.append((name, lambda f=fn: f(*inputs)))
                except Exception as e:  # noqa: BLE001 - an invalid or failing variant is reported
                    cells[name] = type(e).__name__
            times, _ = timer.interleaved_ms([c for _, c in calls])
            for (name, _), t in zip(calls, times):
                cells[name] = statistics.median(t)
            best = min(v for v in cells.values() if isinstance(v, float))
            fmt = {k: f"{v:.4f}" if isinstance(v, float) else v for k, v in cells.items()}
            ratio = best / cells["default"] if isinstance(cells.get("default"), float) else float("nan")
            described = f"{default['reduction_loops']} {default['num_warps']}w"
            print(f"| {kernel_name} | {size[0]}x{size[1]} | {described} | {fmt['default']} | "
                  + " | ".join(fmt.get(n, "-") for n in VARIANTS) + f" | {ratio:.2f} |", flush=True)
            torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    sys.exit(main())
