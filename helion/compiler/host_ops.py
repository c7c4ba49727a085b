"""Warns when host code computes with tensors (``helion.exc.TensorOperationInWrapper``).

Host code runs as plain PyTorch, so arithmetic there is not fused into the generated kernel.
While the host code is traced at bind time, every torch call made from the kernel's own lines
outside a device loop is checked: allocations, views and metadata are expected, anything else
warns once per line, at that line.
"""
from __future__ import annotations

import sys
import warnings
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

from .. import exc
from ..language._dispatch import active

_EXPECTED = {
    "empty", "empty_like", "empty_strided", "zeros", "zeros_like", "ones", "ones_like", "full",
    "full_like", "new_empty", "new_zeros", "new_ones", "new_full", "new_empty_strided", "tensor",
    "arange", "view", "reshape", "view_as", "reshape_as", "as_strided", "flatten", "unflatten",
    "squeeze", "unsqueeze", "permute", "transpose", "t", "expand", "expand_as", "contiguous",
    "size", "stride", "dim", "numel", "element_size", "is_floating_point", "is_contiguous",
    "data_ptr", "storage_offset", "promote_types", "result_type", "chunk", "split", "unbind",
    "narrow", "select", "movedim", "broadcast_tensors", "broadcast_to", "__getitem__", "__len__", "__iter__", "__get__", "__format__",
    "__repr__", "__bool__", "__index__", "__int__", "__hash__", "__eq__", "__ne__", "__setstate__",
    "__reduce_ex__", "__deepcopy__", "requires_grad_", "detach", "to", "type", "cpu", "cuda",
}


class HostOpWatch(TorchFunctionMode):
    """Active while the host code is traced; ``filename`` and ``name`` identify its frames."""

    def __init__(self, filename: str, name: str):
        super().__init__()
        self.filename, self.name = filename, name
        self.warned: set[int] = set()

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        op = getattr(func, "__name__", "")
        if active() is None and op not in _EXPECTED:
            self._warn(op)
        return func(*args, **(kwargs or {}))

    def _warn(self, op: str) -> None:
        frame = sys._getframe(2)
        while frame is not None and not (frame.f_code.co_filename == self.filename
                                         and frame.f_code.co_name == self.name):
            frame = frame.f_back
        if frame is None or frame.f_lineno in self.warned:
            return
        self.warned.add(frame.f_lineno)
        warnings.warn_explicit(
            f"host code runs torch.{op} as a separate PyTorch op outside the hl.tile/hl.grid loops; it is "
            "not fused into the generated kernel (silence with @helion.kernel(ignore_warnings="
            "[helion.exc.TensorOperationInWrapper]))",
            exc.TensorOperationInWrapper, self.filename, frame.f_lineno)


def watching(filename: str, name: str, ignore: list[type[Warning]]) -> Any:
    """A context that watches host tensor ops, with ``ignore``'s warning classes silenced."""
    import contextlib

    @contextlib.contextmanager
    def scope() -> Any:
        with warnings.catch_warnings():
            for category in ignore:
                warnings.simplefilter("ignore", category)
            with HostOpWatch(filename, name):
                yield
    return scope()
