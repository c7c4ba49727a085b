"""The kernel gallery: small, idiomatic Helion kernels with references and test inputs.

Every module ``experiments/kernels/<name>.py`` defines:

- one or more ``@helion.kernel`` functions, listed in ``KERNELS: dict[str, Kernel]``
  (all of a module's kernels take the same arguments);
- ``reference(*args)``: the same computation in plain PyTorch (``REFERENCES`` overrides it for
  kernels of the module that compute something else);
- ``make_args(size, dtype, device, generator)``: fresh random inputs for one size;
- ``SIZES``: small sizes for CPU tests (Triton's interpreter is slow), ``CONFIG_SIZE``: one size
  that is not a multiple of typical block sizes, for testing random configs, ``GPU_SIZES``:
  realistic sizes for GPU runs (bf16 or fp16);
- ``TOLERANCE``: ``{dtype: {"rtol": ..., "atol": ...}}`` for ``torch.testing.assert_close``.

``GALLERY`` maps module names to modules; modules are imported on first access, so listing the
names does not import Helion.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from types import ModuleType
from typing import Any

GALLERY_NAMES: tuple[str, ...] = (
    "add",
    "bias_gelu",
    "softmax",
    "log_softmax",
    "rms_norm",
    "layer_norm",
    "sum_last",
    "sum_first",
    "chunk_sums",
    "row_stats",
    "row_sum_loop",
    "argmax",
    "atomic_sum",
    "matmul",
    "matmul_bias_relu",
    "bmm",
    "elementwise_3d",
    "pointwise_ops",
    "transpose",
    "grid_copy",
    "scale_add",
    "length_mask",
)


class _LazyGallery(Mapping[str, ModuleType]):
    """A read-only mapping from gallery name to module that imports each module on first access."""

    def __getitem__(self, name: str) -> ModuleType:
        if name not in GALLERY_NAMES:
            raise KeyError(f"no gallery kernel module {name!r}; known: {', '.join(GALLERY_NAMES)}")
        return importlib.import_module(f"{__name__}.{name}")

    def __iter__(self) -> Iterator[str]:
        return iter(GALLERY_NAMES)

    def __len__(self) -> int:
        return len(GALLERY_NAMES)


GALLERY: Mapping[str, ModuleType] = _LazyGallery()


def reference_for(module: ModuleType, kernel_name: str) -> Callable[..., Any]:
    """The reference that kernel ``kernel_name`` of ``module`` is checked against."""
    return getattr(module, "REFERENCES", {}).get(kernel_name, module.reference)


def all_kernels() -> Iterator[tuple[str, str, ModuleType]]:
    """Yields ``(module_name, kernel_name, module)`` for every kernel of the gallery."""
    for module_name, module in GALLERY.items():
        for kernel_name in module.KERNELS:
            yield module_name, kernel_name, module
