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
- ``TOLERANCE``: ``{dtype: {"rtol": ..., "atol": ...}}`` for ``torch.testing.assert_close``;
- optionally ``random_size(draw: SizeDraw) -> size``: a random valid ``size`` for the property
  test ``tests/test_gallery_properties.py``, built from ``draw.dims(count, max_elements=None)``
  (``count`` dimensions: size 1, tiny, medium, at most one long one, biased towards odd sizes and
  sizes near powers of two, with a product of at most ``max_elements``, by default the test's cap)
  and ``draw.choice(options)``. Without it, :func:`random_size` draws ``draw.dims(len(CONFIG_SIZE))``,
  one dimension per component. Define it when a component is not a dimension (add's broadcast
  mode), when dimensions constrain each other, when the interpreter's work grows faster than the
  element count (matmuls cap ``m * k * n``; ``hl.grid`` runs a program per row) or when some sizes
  are numerically ill-conditioned for a kernel (layer_norm's short rows).

Optionally ``flops(size, kernel_name) -> float``: the floating-point operations of one call, for a
compute-bound module; ``experiments/gallery_gpu.py`` then reports TFLOP/s against cuBLAS instead of
a fraction of the copy bandwidth.

``GALLERY`` maps module names to modules; modules are imported on first access, so listing the
names does not import Helion.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import ModuleType
from typing import Any, Protocol, TypeVar

_T = TypeVar("_T")

GALLERY_NAMES: tuple[str, ...] = (
    "add",
    "bias_gelu",
    "softmax",
    "log_softmax",
    "rms_norm",
    "layer_norm",
    "welford",
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
    "attention",
    "norm_backward",
    "softmax_backward",
    "cross_entropy",
    "embedding",
    "split_k_matmul",
    "jagged",
    "absmax_scale",
    "dropout",
    "segmented_scan",
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


class SizeDraw(Protocol):
    """Random choices a module's ``random_size`` builds a size from (a property test supplies them)."""

    def dims(self, count: int, max_elements: int | None = None) -> tuple[int, ...]:
        """``count`` dimension sizes, each at least 1, whose product is at most ``max_elements``
        (None: the drawer's default cap on elements per case)."""
        ...

    def choice(self, options: Sequence[_T]) -> _T:
        """One of ``options``."""
        ...


def random_size(module: ModuleType, draw: SizeDraw) -> Any:
    """A random valid size for ``module``: its ``random_size(draw)`` when it defines one, else one
    independently drawn dimension per component of ``CONFIG_SIZE`` (all of them integers)."""
    custom = getattr(module, "random_size", None)
    if custom is not None:
        return custom(draw)
    config_size = module.CONFIG_SIZE
    if not all(isinstance(d, int) for d in config_size):
        raise TypeError(f"{module.__name__}: CONFIG_SIZE {config_size!r} is not a tuple of dimensions; "
                        "define random_size(draw)")
    return draw.dims(len(config_size))


def all_kernels() -> Iterator[tuple[str, str, ModuleType]]:
    """Yields ``(module_name, kernel_name, module)`` for every kernel of the gallery."""
    for module_name, module in GALLERY.items():
        for kernel_name in module.KERNELS:
            yield module_name, kernel_name, module
