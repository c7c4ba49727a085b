"""Is bmm's gap to cuBLAS specific to the batched kernel? (H100)

bmm 16 x 1024^3 does the same tile work as one 16384 x 1024 x 1024 matmul (each output tile
reads K = 1024 of A and B), so the gallery ``matmul`` on that product, under the same configs,
shows what Triton reaches at this K without batching. Every config is checked against torch,
then all are timed in turn (``Timer.interleaved_ms``) with cuBLAS ``bmm`` and ``mm``.

    python -m experiments.bmm_vs_matmul_gpu [--repeats 60]
"""
from __future__ import annotations

import statistics
import sys

import torch

from experiments.gallery_gpu import Timer, environment, gpu_script_args
from experiments.kernels import GALLERY

BATCH, M, K, N = 16, 1024, 1024, 1024
TMA = "tensor_descriptor"
SHARED = {"num_warps": 8, "num_stages": 4, "pid_type": "persistent_interleaved", "l2_groupings": [2],
          "indexing": ["pointer"] * 3, "range_flattens": [None]}  # every knob the defaults may differ in
PIPELINE = {"indexing": [TMA] * 3, "range_flattens": [True], "num_warps": 8, "num_stages": 3}


def _pipeline(pid_type: str, tile: tuple[int, int] = (128, 256), l2: int = 1) -> tuple[dict, dict]:
    """The TMA pipeline (persistent, tile loop flattened with the k loop) for bmm and matmul."""
    knobs = {**PIPELINE, "pid_type": pid_type, "l2_groupings": [l2]}
    return {**knobs, "block_sizes": [1, *tile, 64]}, {**knobs, "block_sizes": [*tile, 64]}


VARIANTS = {  # name -> (bmm config, matmul config); bmm block sizes lead with the batch tile
    "pointer, 128x256x64, 4 stages (bmm winner)": ({**SHARED, "block_sizes": [1, 128, 256, 64]},
                                                   {**SHARED, "block_sizes": [128, 256, 64]}),
    "TMA pipeline, persistent_blocked": _pipeline("persistent_blocked"),
    "TMA pipeline, persistent_interleaved": _pipeline("persistent_interleaved"),
    "TMA pipeline, persistent_interleaved, l2 group 4": _pipeline("persistent_interleaved", l2=4),
    "TMA pipeline, persistent_interleaved, 256x128": _pipeline("persistent_interleaved", (256, 128)),
}


def bmm_inputs(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The bf16 operands of bmm 16 x 1024^3 (seeded)."""
    generator = torch.Generator(device=device).manual_seed(0)
    return (torch.randn(BATCH, M, K, device=device, generator=generator, dtype=torch.bfloat16),
            torch.randn(BATCH, K, N, device=device, generator=generator, dtype=torch.bfloat16))


def main(argv: list[str] | None = None) -> int:
    args, device = gpu_script_args(__doc__, argv, repeats=60)
    a, b = bmm_inputs(device)
    a2, b2 = a.reshape(BATCH * M, K), b[0].contiguous()
    bmm, matmul = GALLERY["bmm"].KERNELS["bmm"], GALLERY["matmul"].KERNELS["matmul"]
    bound_bmm, bound_mm = bmm.bind((a, b)), matmul.bind((a2, b2))
    expected_bmm, expected_mm = torch.bmm(a.float(), b.float()), a2.float() @ b2.float()
    calls = {"cuBLAS bmm": lambda: torch.bmm(a, b), "cuBLAS mm 16384x1024x1024": lambda: a2 @ b2}
    for name, (cfg_bmm, cfg_mm) in VARIANTS.items():
        for label, bound, cfg, inputs, expected in (("bmm", bound_bmm, cfg_bmm, (a, b), expected_bmm),
                                                     ("mm", bound_mm, cfg_mm, (a2, b2), expected_mm)):
            fn = bound.compile_config(cfg)
            torch.testing.assert_close(fn(*inputs).float(), expected, atol=0.5, rtol=2e-2)
            calls[f"{label}: {name}"] = (lambda f=fn, i=inputs: f(*i))
    timer = Timer(device, args.repeats, 5)
    times, _ = timer.interleaved_ms(list(calls.values()))
    medians = {name: statistics.median(t) for name, t in zip(calls, times)}
    meta = environment(device)
    print(f"{meta['device']}; torch {meta['torch']}, triton {meta['triton']}; {meta['date']}")
    print("\n| kernel | ms | of its cuBLAS |\n|---|---|---|")
    for name, ms in medians.items():
        ref = medians["cuBLAS bmm"] if name.startswith(("bmm", "cuBLAS bmm")) else medians["cuBLAS mm 16384x1024x1024"]
        print(f"| {name} | {ms:.4f} | {ref / ms:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
