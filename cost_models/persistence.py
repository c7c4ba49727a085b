"""Saving and loading models with joblib, refusing pickles that name anything unexpected.

`save(obj, path)` is `joblib.dump` (zlib-compressed). `load(path)` unpickles with joblib's
`NumpyUnpickler` whose `find_class` only resolves an allow-list:

* classes (types only, no functions) from ``cost_models.*`` and from the scikit-learn modules our
  estimators are made of (``sklearn.ensemble``, ``sklearn.tree``, ``sklearn.linear_model``,
  ``sklearn.preprocessing``, ``sklearn._loss``);
* from numpy only what arrays, dtypes, scalars and Generators pickle through;
* a few builtins (containers and number types), ``copyreg._reconstructor``,
  ``collections.OrderedDict``/``defaultdict``, joblib's array wrapper.

Any other global (``os.system``, ``builtins.eval``, ``numpy.memmap``, a class of another package)
raises `UnsafeModelFile` before it is resolved, so it is never called. The loaded object must then
be an instance of `expected` (when given).

Limitations, honestly: this narrows what a crafted file can do to calling constructors of the
allowed classes with attacker-chosen arguments and setting their state; it is not a proof that
no allowed scikit-learn class can be misused. It relies on joblib's private `NumpyUnpickler` and
`_validate_fileobject_and_memmap` (tested against joblib 1.6); a joblib that renames them makes
`load` fail loudly rather than fall back to an unrestricted load. Only load files you trust more
than a random download.
"""

from __future__ import annotations

import inspect
import os
from typing import Any

import joblib
from joblib import numpy_pickle

#: Module prefixes whose classes (types only) may be loaded.
ALLOWED_CLASS_PREFIXES = ("cost_models.", "sklearn.ensemble.", "sklearn.tree.", "sklearn.linear_model.",
                          "sklearn.preprocessing.", "sklearn._loss.")
#: Exact globals that may be loaded, whatever they are.
ALLOWED_GLOBALS = frozenset({
    ("numpy", "dtype"), ("numpy", "ndarray"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    ("numpy.random._pickle", "__bit_generator_ctor"), ("numpy.random._pickle", "__generator_ctor"),
    ("numpy.random._pickle", "__randomstate_ctor"), ("numpy.random._pcg64", "PCG64"),
    ("numpy.random._mt19937", "MT19937"), ("numpy.random.bit_generator", "SeedSequence"),
    ("numpy.random.bit_generator", "__pyx_unpickle_SeedSequence"), ("numpy.random.mtrand", "RandomState"),
    ("copyreg", "_reconstructor"), ("collections", "OrderedDict"), ("collections", "defaultdict"),
    ("joblib.numpy_pickle", "NumpyArrayWrapper"),
} | {("builtins", name) for name in ("dict", "list", "tuple", "set", "frozenset", "slice", "range", "complex",
                                     "float", "int", "bool", "str", "bytes", "bytearray", "object")})


class UnsafeModelFile(Exception):
    """A model file names a global outside the allow-list, or holds an unexpected object."""


def _allowed(module: str, name: str, value: Any) -> bool:
    if (module, name) in ALLOWED_GLOBALS:
        return True
    if module.startswith("numpy.dtypes") and isinstance(value, type):
        return True
    return module.startswith(ALLOWED_CLASS_PREFIXES) and isinstance(value, type)


class RestrictedUnpickler(numpy_pickle.NumpyUnpickler):
    """joblib's unpickler, resolving only allow-listed globals (module docstring)."""

    def find_class(self, module: str, name: str) -> Any:
        if not (module.startswith(ALLOWED_CLASS_PREFIXES) or (module, name) in ALLOWED_GLOBALS
                or module.startswith("numpy.dtypes")):
            raise UnsafeModelFile(f"refusing to load {module}.{name}: not a cost_models/scikit-learn/numpy class")
        value = super().find_class(module, name)
        if not _allowed(module, name, value):
            raise UnsafeModelFile(f"refusing to load {module}.{name}: only classes of those modules may be loaded")
        return value


def save(obj: Any, path: str | os.PathLike, compress: int = 3) -> None:
    """`joblib.dump(obj, path, compress=compress)`."""
    joblib.dump(obj, os.fspath(path), compress=compress)


def _unpickler(filename: str, fobj: Any) -> RestrictedUnpickler:
    params = inspect.signature(numpy_pickle.NumpyUnpickler.__init__).parameters
    if "ensure_native_byte_order" in params:
        return RestrictedUnpickler(filename, fobj, ensure_native_byte_order=True)
    return RestrictedUnpickler(filename, fobj)


def load(path: str | os.PathLike, expected: type | tuple[type, ...] | None = None) -> Any:
    """Load a file written by `save`, resolving only allow-listed globals; check its type."""
    filename = os.fspath(path)
    with open(filename, "rb") as f:
        with numpy_pickle._validate_fileobject_and_memmap(f, filename, None) as opened:
            fobj = opened[0] if isinstance(opened, tuple) else opened
            if isinstance(fobj, str):
                raise UnsafeModelFile(f"{filename}: an old joblib format; re-save it with this version")
            obj = _unpickler(filename, fobj).load()
    if expected is not None and not isinstance(obj, expected):
        raise UnsafeModelFile(f"{filename} holds a {type(obj).__module__}.{type(obj).__name__}, "
                              f"not a {getattr(expected, '__name__', expected)}")
    return obj
