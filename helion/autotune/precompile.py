"""Compiles a config's kernels for an NVIDIA target without a GPU (``triton.compile``).

Used to check GPU code paths on CPU machines and to read resources (registers, spills, shared
memory) for trial records; the compile workers of the tuning engine build on it.
"""
from __future__ import annotations

from typing import Any

import torch
import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource

from ..compiler import codegen
from ..compiler.codegen import site_offsets
from .. import exc

_SIG = {torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16", torch.float64: "fp64",
        torch.int64: "i64", torch.int32: "i32", torch.int16: "i16", torch.int8: "i8", torch.uint8: "u8",
        torch.bool: "i1"}


def compile_for_target(bound: Any, config: dict[str, Any], arch: int = 90) -> list[dict[str, Any]]:
    """Compile every device loop of ``bound`` under ``config`` for ``sm_<arch>``.

    Tensor arguments are marked 16-byte aligned (``tt.divisibility``), as Triton's launcher marks
    every torch allocation: without it Triton cannot use cp.async, does not pipeline pointer loads
    and reports less shared memory (and other register counts) than the launch on the GPU needs,
    e.g. 32 KiB instead of 96 KiB for a 3-stage 128x128x64 bf16 matmul.

    Returns per kernel: name, registers, spills, shared memory bytes, warps. Raises on compile errors.
    """
    from ..runtime.loader import load_module
    cfg = bound.normalize_config(config)
    results = []
    functions = [f for f in bound.functions if f is not None]
    for fn, sites in zip(functions, site_offsets(functions)):
        gen = codegen.KernelCodegen(fn, cfg, gpu=True, dot_precision=bound.settings.dot_precision, sites=sites)
        module = load_module(gen.generate(), interpret=False, cache_dir=bound.settings.cache_dir)
        kernel = getattr(module, gen.kernel_name())
        signature: dict[str, str] = {}
        constexprs: dict[tuple[int, ...], int] = {}
        attrs: dict[tuple[int, ...], list[list[Any]]] = {}
        symbols = {b.symbol: gen.cfg.sizes[b.id] for b in fn.blocks}
        symbol_params = set(fn.symbol_names().values())
        for i, name in enumerate(gen.params()):
            if name in fn.tensor_args:
                signature[name] = "*" + _SIG[fn.tensor_args[name].dtype]
                attrs[(i,)] = [["tt.divisibility", 16]]
            elif name in fn.scalar_args:
                signature[name] = "fp32"
            elif name in symbol_params:
                signature[name] = "i32"
            else:
                signature[name] = "constexpr"
                constexprs[(i,)] = symbols[name]
        try:
            source = ASTSource(kernel, signature, constexprs, attrs)
            compiled = triton.compile(source, target=GPUTarget("cuda", arch, 32),
                                      options={"num_warps": gen.cfg.num_warps, "num_stages": gen.cfg.num_stages})
        except Exception as e:  # noqa: BLE001
            raise exc.HelionError(f"{fn.name}: compile for sm_{arch} failed: {str(e).splitlines()[0]}") from e
        metadata = compiled.metadata
        results.append({"kernel": fn.name, "shared_bytes": getattr(metadata, "shared", None),
                        "warps": getattr(metadata, "num_warps", None),  # more than asked: warp-specialized
                        "registers": getattr(compiled, "n_regs", None), "spills": getattr(compiled, "n_spills", None)})
    return results
