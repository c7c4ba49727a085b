"""static_shapes=False on the GPU: correctness at two shapes per kernel and time vs static shapes.

    python -m experiments.dynamic_shapes_gpu [--kernels add,softmax,rms_norm,layer_norm,matmul]
"""
from __future__ import annotations

import argparse
import warnings

import torch
import triton

import helion
from experiments.kernels import GALLERY


def _shrink(size: tuple) -> tuple:
    """A second shape in the same spirit, not a multiple of typical block sizes."""
    return tuple(s - 37 if isinstance(s, int) and s > 64 else s for s in size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kernels", default="add,softmax,rms_norm,layer_norm,matmul")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    print(f"device: {torch.cuda.get_device_name() if device == 'cuda' else 'cpu'}; torch {torch.__version__}, "
          f"triton {triton.__version__}")
    print("| kernel | size | max abs err | ok | static ms | dynamic ms | dynamic/static | bound kernels |")
    print("|---|---|---|---|---|---|---|---|")
    for name in args.kernels.split(","):
        module = GALLERY[name]
        kname, original = next(iter(module.KERNELS.items()))
        static = helion.kernel(original.fn, use_default_config=True)
        dynamic = helion.kernel(original.fn, static_shapes=False, use_default_config=True)
        base = module.GPU_SIZES[0] if device == "cuda" else module.SIZES[-1]
        for size in (base, _shrink(base)):
            inputs = module.make_args(size, torch.bfloat16 if device == "cuda" else torch.float32, device,
                                      torch.Generator().manual_seed(0))
            reference = module.reference(*[a.float() if isinstance(a, torch.Tensor) and a.is_floating_point()
                                           else a for a in inputs])
            out = dynamic(*inputs)
            out = out[0] if isinstance(out, tuple) else out
            ref = reference[0] if isinstance(reference, tuple) else reference
            err = (out.float() - ref.float()).abs().max().item()
            tol = module.TOLERANCE[torch.bfloat16 if device == "cuda" else torch.float32]
            ok = torch.allclose(out.float(), ref.float(), atol=tol["atol"] * 2, rtol=tol["rtol"] * 2)
            if device == "cuda":
                t_static = triton.testing.do_bench(lambda: static(*inputs), return_mode="median")
                t_dynamic = triton.testing.do_bench(lambda: dynamic(*inputs), return_mode="median")
            else:
                t_static = t_dynamic = float("nan")
            print(f"| {kname} | {'x'.join(map(str, size))} | {err:.2e} | {'yes' if ok else 'NO'} | {t_static:.4f} | "
                  f"{t_dynamic:.4f} | {t_dynamic / t_static:.2f} | {len(dynamic._bound)} |", flush=True)


if __name__ == "__main__":
    main()
