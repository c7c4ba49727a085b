"""The best-config cache: one JSON file per (kernel source, specialization, device, versions, space).

Layout: ``root/<kernel>-<source_hash>/<digest>.json``. Writes are atomic (temp file + ``os.replace``)
and, where ``fcntl`` exists, serialized per kernel folder so that concurrent tuners keep the fastest
result. Only ``json`` is ever used to read entries back; a corrupt entry warns and counts as a miss.
Stdlib only: importable without torch.
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime
import hashlib
import inspect
import json
import math
import os
import re
import shutil
import sys
import tempfile
import types
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # Windows: no lock; os.replace alone still keeps every file whole
    fcntl = None  # type: ignore[assignment]

FORMAT = 1
_LIBRARY_PACKAGES = {"torch", "triton", "helion", "numpy", "builtins"} | set(sys.stdlib_module_names)


def _is_user_code(obj: Any) -> bool:
    module = getattr(obj, "__module__", None) or ""
    return module.split(".")[0] not in _LIBRARY_PACKAGES


def _as_function(obj: Any) -> types.FunctionType | None:
    """``obj`` itself, the ``.fn`` of a decorated kernel, or a ``__wrapped__`` function; else None."""
    if isinstance(obj, types.FunctionType):
        return obj
    for attribute in ("fn", "__wrapped__"):
        try:
            candidate = getattr(obj, attribute, None)
        except Exception:  # noqa: BLE001 - a lazy object that fails on lookup is not a helper
            continue
        if isinstance(candidate, types.FunctionType):
            return candidate
    return None


def _code_objects(code: types.CodeType) -> Iterator[types.CodeType]:
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _code_objects(const)


def _callees(fn: types.FunctionType) -> list[types.FunctionType]:
    """User-code functions that ``fn`` (or a function nested in it) refers to by global, closure
    or ``module.attribute`` name, in a deterministic order."""
    names = sorted({n for code in _code_objects(fn.__code__) for n in code.co_names})
    values = [fn.__globals__[n] for n in names if n in fn.__globals__]
    cells = dict(zip(fn.__code__.co_freevars, fn.__closure__ or ()))
    for name in sorted(cells):
        try:
            values.append(cells[name].cell_contents)
        except ValueError:  # a cell that is not filled yet
            pass
    modules = [v for v in values if isinstance(v, types.ModuleType) and _is_user_code(v)]
    values += [getattr(m, n) for m in modules for n in names if hasattr(m, n)]
    functions = [_as_function(v) for v in values]
    return [f for f in functions if f is not None and _is_user_code(f)]


def _function_text(fn: types.FunctionType) -> bytes:
    try:
        return inspect.getsource(fn).encode()
    except (OSError, TypeError):  # defined in exec() or a REPL: fall back to bytecode and constants
        parts = [fn.__qualname__.encode()]
        for code in _code_objects(fn.__code__):
            consts = [c for c in code.co_consts if not isinstance(c, types.CodeType)]
            parts += [code.co_code, repr(consts).encode()]
        return b"\0".join(parts)


def source_fingerprint(fn: Callable[..., Any]) -> str:
    """sha256 prefix of ``fn``'s source plus, recursively, the sources of the user helpers it calls."""
    root = _as_function(fn)
    if root is None:
        raise TypeError(f"source_fingerprint needs a Python function or a helion kernel, not {fn!r}")
    digest, seen, stack = hashlib.sha256(), set(), [root]
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        digest.update(current.__qualname__.encode() + b"\0" + _function_text(current) + b"\0\0")
        stack.extend(reversed(_callees(current)))
    return digest.hexdigest()[:20]


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str, bytes)):
        return value
    if isinstance(value, (tuple, list)):
        return tuple(_plain(v) for v in value)
    if isinstance(value, (set, frozenset)):
        return tuple(sorted((_plain(v) for v in value), key=repr))
    if isinstance(value, Mapping):
        return tuple(sorted(((repr(k), _plain(v)) for k, v in value.items()), key=repr))
    return str(value)  # torch.dtype -> "torch.float32", torch.device -> "cuda:0"


def spec_string(key: Any) -> str:
    """A deterministic string for a specialization key (nested tuples of ints, strs, dtypes, ...)."""
    return repr(_plain(key))


@dataclasses.dataclass(frozen=True)
class CacheKey:
    """Everything that identifies one cached best config."""

    kernel: str
    source_hash: str
    spec: str
    shapes: Sequence[Sequence[int]]
    dtypes: Sequence[str]
    device: str
    versions: Mapping[str, str]
    space_fingerprint: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "shapes", tuple(tuple(int(s) for s in shape) for shape in self.shapes))
        object.__setattr__(self, "dtypes", tuple(str(d) for d in self.dtypes))
        object.__setattr__(self, "versions", {str(k): str(v) for k, v in self.versions.items()})

    def __hash__(self) -> int:
        return hash(self.digest())

    def as_dict(self) -> dict[str, Any]:
        """The JSON form stored in each entry."""
        data = dataclasses.asdict(self)
        data.update(shapes=[list(s) for s in self.shapes], dtypes=list(self.dtypes))
        return data

    def digest(self) -> str:
        """Hex digest of all fields: the entry's file name."""
        text = json.dumps(self.as_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:32]


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.]", "_", name) or "_"


def _distance(a: Sequence[Sequence[int]], b: Sequence[Sequence[int]]) -> float:
    return sum(abs(math.log2(max(x, 1)) - math.log2(max(y, 1))) for sa, sb in zip(a, b) for x, y in zip(sa, sb))


class ConfigCache:
    """Best configs under ``root``, one JSON file per :class:`CacheKey`."""

    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root)

    def folder(self, kernel: str, source_hash: str) -> Path:
        """The folder holding every entry of one kernel source."""
        return self.root / f"{_safe(kernel)}-{_safe(source_hash)}"

    def path(self, key: CacheKey) -> Path:
        """The file of ``key``'s entry."""
        return self.folder(key.kernel, key.source_hash) / f"{key.digest()}.json"

    def get(self, key: CacheKey) -> dict[str, Any] | None:
        """The cached config for ``key``; None when absent or corrupt (corrupt entries warn)."""
        entry, problem = _load(self.path(key), key)
        if problem:
            warnings.warn(f"ignoring best-config cache entry {self.path(key)}: {problem}; the kernel will "
                          "be re-tuned and the entry rewritten", stacklevel=2)
        return None if entry is None else entry["config"]

    def put(self, key: CacheKey, config: Mapping[str, Any], time_ms: float | None,
            meta: Mapping[str, Any] | None = None) -> bool:
        """Store ``config`` atomically unless an entry for ``key`` with a time <= ``time_ms`` exists;
        returns whether the file was written."""
        if time_ms is not None and not math.isfinite(time_ms):
            raise ValueError(f"time_ms must be a finite number of milliseconds or None, not {time_ms!r}")
        created = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        entry = {"format": FORMAT, "key": key.as_dict(), "config": dict(config), "time_ms": time_ms,
                 "created": created, "meta": dict(meta or {})}
        try:
            text = json.dumps(entry, indent=1, sort_keys=True, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise TypeError(f"{key.kernel}: config and meta must be JSON-serializable to cache: {e}") from None
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path.parent / ".lock", "a") as lock:
            if fcntl is not None:
                fcntl.flock(lock.fileno(), fcntl.LOCK_EX)  # released when the file closes
            old, _ = _load(path, key)
            kept = None if old is None else old["time_ms"]
            if kept is not None and (time_ms is None or kept <= time_ms):
                return False  # a faster (or timed) result is never lost to a slower one
            _write_atomic(path, text)
        return True

    def nearest(self, key: CacheKey, limit: int = 3) -> list[dict[str, Any]]:
        """Cached winners of other shapes of the same kernel source, device, versions, dtypes and
        ranks, nearest first (distance: sum of |log2 a - log2 b| over all dims)."""
        folder, own_digest, found = self.folder(key.kernel, key.source_hash), key.digest(), []
        for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            entry, problem = _load(path, None)
            if problem:
                warnings.warn(f"skipping best-config cache entry {path}: {problem}", stacklevel=2)
                continue
            other = entry["key"]
            if path.stem == own_digest or not _comparable(key, other):
                continue
            found.append({"config": entry["config"], "shapes": other["shapes"], "time_ms": entry["time_ms"],
                          "distance": _distance(key.shapes, other["shapes"]),
                          "space_fingerprint": other.get("space_fingerprint")})
        found.sort(key=lambda f: (f["distance"], f["shapes"], f["time_ms"] is None, f["time_ms"] or 0.0))
        return found[:limit]

    def has_spec(self, kernel: str, source_hash: str, spec: str, device: str, versions: Mapping[str, str]) -> bool:
        """Whether some valid entry has this specialization (whatever its space fingerprint): a
        cheap guess, before binding, that ``get`` will hit."""
        folder = self.folder(kernel, source_hash)
        for path in folder.glob("*.json") if folder.is_dir() else []:
            entry, _ = _load(path, None)
            other = entry["key"] if entry else {}
            if other.get("spec") == spec and other.get("device") == device and other.get("versions") == dict(versions):
                return True
        return False

    def clear(self, kernel: str | None = None) -> None:
        """Delete every entry, or only those of ``kernel`` (any source hash)."""
        for folder in self.root.iterdir() if self.root.is_dir() else []:
            if folder.is_dir() and (kernel is None or folder.name.rsplit("-", 1)[0] == _safe(kernel)):
                shutil.rmtree(folder, ignore_errors=True)


def _comparable(key: CacheKey, other: Mapping[str, Any]) -> bool:
    shapes = other.get("shapes")
    if not isinstance(shapes, list) or not all(isinstance(s, list) for s in shapes):
        return False
    return (other.get("kernel") == key.kernel and other.get("source_hash") == key.source_hash
            and other.get("device") == key.device and other.get("versions") == key.versions
            and other.get("dtypes") == list(key.dtypes)
            and [len(s) for s in shapes] == [len(s) for s in key.shapes]
            and all(isinstance(x, int) for s in shapes for x in s))


def _load(path: Path, key: CacheKey | None) -> tuple[dict[str, Any] | None, str | None]:
    """(entry, None) for a valid entry (matching ``key`` if given), (None, problem) for a corrupt one,
    (None, None) when there is no file."""
    try:
        entry = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None, None
    except (OSError, ValueError) as e:  # ValueError covers JSONDecodeError and UnicodeDecodeError
        return None, f"not valid JSON ({type(e).__name__}: {e})"
    if not isinstance(entry, dict):
        return None, f"a JSON {type(entry).__name__}, not an object"
    if entry.get("format") != FORMAT:
        return None, f"format {entry.get('format')!r}, expected {FORMAT}"
    time_ms = entry.get("time_ms")
    if not isinstance(entry.get("key"), dict) or not isinstance(entry.get("config"), dict) or not (
            time_ms is None or isinstance(time_ms, (int, float)) and not isinstance(time_ms, bool)):
        return None, "missing or mistyped 'key', 'config' or 'time_ms'"
    if key is not None and entry["key"] != key.as_dict():
        fields = sorted(k for k, v in key.as_dict().items() if entry["key"].get(k) != v)
        return None, f"its stored key differs from the requested one in {fields}"
    return entry, None


def _write_atomic(path: Path, text: str) -> None:
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
