"""Feature checks of the installed torch/triton and the GPU, under the public Helion names
(examples and tests branch on them, e.g. to offer ``indexing="tensor_descriptor"`` only where
it works)."""
from __future__ import annotations

import functools
import re

import torch
import triton.language as tl


def _cuda_capability() -> tuple[int, int] | None:
    if not torch.cuda.is_available():
        return None
    return torch.cuda.get_device_capability()


@functools.cache
def supports_tensor_descriptor() -> bool:
    """Device-side TMA descriptors (``tl.make_tensor_descriptor``): an sm_90+ GPU and a Triton with them."""
    capability = _cuda_capability()
    return capability is not None and capability[0] >= 9 and hasattr(tl, "make_tensor_descriptor")


def get_tensor_descriptor_fn_name() -> str:
    """The Triton function that builds a device-side tensor descriptor."""
    return "tl.make_tensor_descriptor"


def supports_block_ptr() -> bool:
    """``tl.make_block_ptr`` (deprecated in recent Triton, still present)."""
    return hasattr(tl, "make_block_ptr")


def requires_torch_version(minimum: str) -> bool:
    """The installed torch's base version (pre-release suffixes ignored) is at least ``minimum``."""
    def parts(text: str) -> tuple[int, ...]:
        return tuple(int(p) for p in re.findall(r"\d+", text.split("+")[0])[:3])
    return parts(torch.__version__) >= parts(minimum)


def is_hip() -> bool:
    """A ROCm build of torch."""
    return torch.version.hip is not None


def supports_amd_cdna_tunables() -> bool:
    """AMD CDNA knobs (waves_per_eu, ...): this package generates none."""
    return False


def supports_tf32_precision_on_amd() -> bool:
    """TF32 dots on AMD: not offered here."""
    return False


def use_tileir_tunables() -> bool:
    """The CUDA Tile IR backend's knobs: this package compiles through Triton only."""
    return False


def warps_to_threads(num_warps: int) -> int:
    """Threads of ``num_warps`` warps (32 per warp on NVIDIA)."""
    return num_warps * 32
