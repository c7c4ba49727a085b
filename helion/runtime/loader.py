"""Loads generated Triton modules from files (Triton reads kernel source from disk).

Modules are cached by source hash, in this process and on disk. On CPU tensors the module is
loaded with Triton's interpreter switched on, so the user never sets ``TRITON_INTERPRET``.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import tempfile
import threading
from types import ModuleType

_lock = threading.Lock()
_modules: dict[tuple[str, bool], ModuleType] = {}


def load_module(source: str, interpret: bool, cache_dir: str) -> ModuleType:
    """Write ``source`` under ``cache_dir`` (once) and import it; interpreted or compiled."""
    digest = hashlib.sha256(source.encode()).hexdigest()[:24]
    key = (digest, interpret)
    module = _modules.get(key)
    if module is not None:
        return module
    with _lock:
        module = _modules.get(key)
        if module is not None:
            return module
        os.makedirs(cache_dir, exist_ok=True)
        path = os.path.join(cache_dir, f"helion_{digest}.py")
        if not os.path.exists(path):
            fd, tmp = tempfile.mkstemp(dir=cache_dir, suffix=".py")
            with os.fdopen(fd, "w") as f:
                f.write(source)
            os.replace(tmp, path)
        spec = importlib.util.spec_from_file_location(f"helion_generated_{digest}", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        previous = os.environ.get("TRITON_INTERPRET")
        os.environ["TRITON_INTERPRET"] = "1" if interpret else "0"
        try:
            spec.loader.exec_module(module)
        finally:
            if previous is None:
                os.environ.pop("TRITON_INTERPRET", None)
            else:
                os.environ["TRITON_INTERPRET"] = previous
        _modules[key] = module
        return module
