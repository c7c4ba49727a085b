"""The best-config cache: keys, JSON entries, corruption, atomic and concurrent writes, nearest shapes,
and the source fingerprint of a kernel with its helpers."""
from __future__ import annotations

import importlib.util
import json
import multiprocessing
import os
import pickle
import subprocess
import sys
import textwrap
import types
import warnings
from pathlib import Path

import pytest
import torch

import cache_workers
from helion.autotune import cache as cache_module
from helion.autotune.cache import CacheKey, ConfigCache, source_fingerprint, spec_string

BASE = {"kernel": "rms_norm", "source_hash": "0123abcd", "spec": "(('tensor',),)",
        "shapes": [[1024, 1024], [1024]], "dtypes": ["float32", "float32"], "device": "NVIDIA H200",
        "versions": {"torch": "2.11.0", "triton": "3.6.0"}, "space_fingerprint": "space1"}
CONFIG = {"block_sizes": [32], "num_warps": 4}


def make_key(**changes: object) -> CacheKey:
    return CacheKey(**{**BASE, **changes})


def entry_files(cache: ConfigCache) -> list[str]:
    return sorted(p.name for p in cache.root.rglob("*") if p.is_file())


@pytest.fixture
def cache(tmp_path: Path) -> ConfigCache:
    return ConfigCache(tmp_path / "cache")


@pytest.fixture
def no_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


# --- keys -----------------------------------------------------------------------------------------

def test_spec_string_is_deterministic_and_tells_dtypes_apart():
    key = (("tensor", torch.float32, torch.device("cpu"), (4, 8), (8, 1)), ("int", 3))
    text = spec_string(key)
    assert text == spec_string(key) and "torch.float32" in text and "'cpu'" in text and "(4, 8)" in text
    assert spec_string((("tensor", torch.float16),)) != spec_string((("tensor", torch.float32),))
    assert spec_string(frozenset({"b", "a"})) == spec_string(frozenset({"a", "b"}))


def test_key_normalizes_sequences_and_is_hashable():
    a, b = make_key(), make_key(shapes=((1024, 1024), (1024,)), dtypes=("float32", "float32"))
    assert a == b and a.digest() == b.digest() and len({a, b}) == 1
    assert a.as_dict()["shapes"] == [[1024, 1024], [1024]]


@pytest.mark.parametrize("field, value", [
    ("kernel", "other"), ("source_hash", "ffff"), ("spec", "()"), ("shapes", [[1024, 512], [1024]]),
    ("dtypes", ["float16", "float32"]), ("device", "NVIDIA H100"),
    ("versions", {"torch": "2.13.0", "triton": "3.6.0"}),
    ("space_fingerprint", "space2")])
def test_every_field_changes_the_digest_and_misses(cache, no_warnings, field, value):
    cache.put(make_key(), CONFIG, 1.0)
    other = make_key(**{field: value})
    assert other.digest() != make_key().digest()
    assert cache.get(other) is None


# --- get / put ------------------------------------------------------------------------------------

def test_round_trip_writes_one_json_entry(cache, no_warnings):
    key = make_key()
    assert cache.get(key) is None
    assert cache.put(key, CONFIG, 0.5, meta={"strategy": "tpe"}) is True
    assert cache.get(key) == CONFIG
    path = cache.root / "rms_norm-0123abcd" / f"{key.digest()}.json"
    stored = json.loads(path.read_text())
    assert stored["format"] == 1 and stored["key"] == key.as_dict() and stored["config"] == CONFIG
    assert stored["time_ms"] == 0.5 and stored["meta"] == {"strategy": "tpe"} and "T" in stored["created"]


def test_miss_on_missing_root(tmp_path, no_warnings):
    assert ConfigCache(tmp_path / "nowhere").get(make_key()) is None
    assert ConfigCache(tmp_path / "nowhere").nearest(make_key()) == []


def test_put_keeps_the_faster_entry(cache):
    key = make_key()
    assert cache.put(key, {"v": 2}, 2.0)
    assert not cache.put(key, {"v": 3}, 3.0)
    assert not cache.put(key, {"v": "untimed"}, None)
    assert cache.get(key) == {"v": 2}
    assert cache.put(key, {"v": 1}, 1.0)
    assert cache.get(key) == {"v": 1}


def test_put_rejects_what_json_cannot_hold(cache):
    with pytest.raises(TypeError, match="JSON-serializable"):
        cache.put(make_key(), {"fn": object()}, 1.0)
    with pytest.raises(ValueError, match="finite"):
        cache.put(make_key(), CONFIG, float("nan"))
    assert not cache.root.exists()


class _Trap:
    """Unpickling this creates ``marker``: proof that an entry was unpickled."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (str(self.marker),)


def _corruptions(tmp_path: Path) -> dict[str, bytes]:
    stranger = make_key(device="elsewhere")
    wrong_key = {"format": 1, "key": stranger.as_dict(), "config": {"v": 0}, "time_ms": 0.1}
    return {"truncated": b'{"format": 1, "key": {"kernel": "rms', "list": b"[1, 2, 3]",
            "pickle": pickle.dumps(_Trap(tmp_path / "unpickled")),
            "format": json.dumps({**wrong_key, "format": 99}).encode(),
            "key mismatch": json.dumps(wrong_key).encode(),
            "no config": json.dumps({"format": 1, "key": make_key().as_dict(), "time_ms": 1.0}).encode()}


@pytest.mark.parametrize("kind", ["truncated", "list", "pickle", "format", "key mismatch", "no config"])
def test_corrupt_entry_warns_misses_and_put_repairs_it(cache, tmp_path, kind):
    key = make_key()
    cache.put(key, {"v": "old"}, 0.01)
    path = cache.path(key)
    path.write_bytes(_corruptions(tmp_path)[kind])
    with pytest.warns(UserWarning, match=key.digest()) as caught:
        assert cache.get(key) is None
    assert "re-tuned" in str(caught[0].message)
    assert not (tmp_path / "unpickled").exists()
    assert cache.put(key, CONFIG, 5.0)  # a corrupt entry never blocks a slower, valid one
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cache.get(key) == CONFIG


def test_write_leaves_no_temp_files(cache):
    for i in range(5):
        cache.put(make_key(shapes=[[2 ** i, 8], [8]]), CONFIG, 5.0 - i)
        cache.put(make_key(shapes=[[2 ** i, 8], [8]]), CONFIG, 1.0 - i / 10)
    names = entry_files(cache)
    assert names.count(".lock") == 1 and len(names) == 6
    assert all(n.endswith(".json") for n in names if n != ".lock")


def test_crash_during_write_keeps_the_old_entry(cache, monkeypatch):
    key = make_key()
    cache.put(key, {"v": "old"}, 2.0)

    def crash(src, dst):
        raise OSError("disk gone")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk gone"):
        cache.put(key, {"v": "new"}, 1.0)
    monkeypatch.undo()
    assert cache.get(key) == {"v": "old"}
    assert sorted(entry_files(cache)) == sorted([".lock", f"{key.digest()}.json"])


@pytest.mark.skipif(cache_module.fcntl is None, reason="no fcntl: concurrent writers are not serialized")
def test_concurrent_writers_keep_the_fastest_and_lose_no_key(tmp_path):
    root, workers, count = str(tmp_path / "shared"), 3, 40
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(workers)
    procs = [ctx.Process(target=cache_workers.write_many, args=(root, w, count, barrier))
             for w in range(workers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0] * workers
    cache = ConfigCache(root)
    files = [p for p in Path(root).rglob("*") if p.is_file()]
    entries = len(cache_workers.SHARED_SHAPES) + workers * cache_workers.PRIVATE_KEYS
    assert sorted(p.suffix for p in files) == [""] + [".json"] * entries  # one .lock, no temp files
    for path in files:
        if path.suffix == ".json":
            json.loads(path.read_text())
    fastest = min(t for w in range(workers) for t in cache_workers.shared_times(w, count))
    for shapes in cache_workers.SHARED_SHAPES:
        assert cache.get(CacheKey(**cache_workers.key_fields(shapes)))["time"] == fastest
    for w in range(workers):
        for shapes in cache_workers.private_shapes(w):
            assert cache.get(CacheKey(**cache_workers.key_fields(shapes))) == {"worker": w}


# --- nearest --------------------------------------------------------------------------------------

def test_nearest_orders_by_log_distance_and_filters_incomparable_entries(cache):
    for n, t in ((1024, 1.0), (4096, 2.0), (256, 3.0)):
        cache.put(make_key(shapes=[[n, n], [n]]), {"n": n}, t)
    query = make_key(shapes=[[1024, 2048], [2048]])
    cache.put(query, {"n": "exact"}, 0.1)
    for change in ({"dtypes": ["float16", "float32"]}, {"shapes": [[1024, 2048, 1], [2048]]},
                   {"shapes": [[1024, 2048]], "dtypes": ["float32"]}, {"kernel": "other"},
                   {"source_hash": "feed"}, {"device": "NVIDIA H100"}, {"versions": {"torch": "2.13.0"}}):
        cache.put(make_key(**{"shapes": [[1024, 1024], [1024]], **change}), {"n": "excluded"}, 0.1)
    found = cache.nearest(query)
    assert [f["config"]["n"] for f in found] == [1024, 4096, 256]
    assert [f["distance"] for f in found] == [2.0, 4.0, 8.0]
    assert found[0]["shapes"] == [[1024, 1024], [1024]] and found[0]["time_ms"] == 1.0
    assert found[0]["space_fingerprint"] == "space1"
    assert [f["config"]["n"] for f in cache.nearest(query, limit=1)] == [1024]


def test_nearest_reports_other_space_fingerprints_and_skips_corrupt_files(cache):
    cache.put(make_key(shapes=[[512, 512], [512]], space_fingerprint="old"), {"n": 512}, 1.0)
    bad = cache.folder("rms_norm", "0123abcd") / "garbage.json"
    bad.write_text("{not json")
    with pytest.warns(UserWarning, match="garbage.json"):
        found = cache.nearest(make_key())
    assert [(f["config"], f["space_fingerprint"], f["distance"]) for f in found] == [({"n": 512}, "old", 3.0)]


def test_clear_one_kernel_or_all(cache):
    cache.put(make_key(), CONFIG, 1.0)
    cache.put(make_key(kernel="other"), CONFIG, 1.0)
    cache.clear("other")
    assert cache.get(make_key()) == CONFIG and cache.get(make_key(kernel="other")) is None
    cache.clear()
    assert cache.get(make_key()) is None


def test_module_imports_without_torch():
    code = ("import importlib.util, sys; spec = importlib.util.spec_from_file_location('c', sys.argv[1]); "
            "m = importlib.util.module_from_spec(spec); sys.modules['c'] = m; spec.loader.exec_module(m); "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code, cache_module.__file__], check=True, timeout=60)


# --- source fingerprint ---------------------------------------------------------------------------

KERNEL_MODULE = """
import math, os, torch, helion
import helion.language as hl

def helper(x):
    return x + {helper_step}

def unrelated():
    return {unrelated_value}

def ping(n):
    return pong(n - 1) if n > 0 else helper(n)

def pong(n):
    return ping(n) * {pong_factor}

@helion.Kernel  # what @helion.kernel() returns, without resolving the autotune settings
def inner_kernel(x):
    return x * {inner_factor}

def close_over(fn):
    def closed(x):
        return fn(x)
    return closed

closure_kernel = close_over(helper)

def kernel(x):
    def nested(y):
        return ping(y)
    y = math.sqrt(os.cpu_count()) + torch.relu(x) + helion.next_power_of_2(3)
    return nested(helper(y)) + inner_kernel(x)
"""
DEFAULTS = {"helper_step": 1, "unrelated_value": 1, "pong_factor": 2, "inner_factor": 3}


def _load_kernel(tmp_path: Path, **changes: int):
    folder = tmp_path / ("_".join(f"{k}{v}" for k, v in sorted(changes.items())) or "base")
    folder.mkdir(exist_ok=True)
    path = folder / "kernels_for_fingerprint.py"
    path.write_text(textwrap.dedent(KERNEL_MODULE.format(**{**DEFAULTS, **changes})))
    spec = importlib.util.spec_from_file_location(f"fingerprint_{folder.name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_fingerprint_follows_helpers_and_ignores_unrelated_code(tmp_path):
    base = source_fingerprint(_load_kernel(tmp_path).kernel)
    assert len(base) >= 16 and base == source_fingerprint(_load_kernel(tmp_path, unused=0).kernel)
    assert source_fingerprint(_load_kernel(tmp_path, unrelated_value=7).kernel) == base
    assert source_fingerprint(_load_kernel(tmp_path, helper_step=2).kernel) != base
    closed = source_fingerprint(_load_kernel(tmp_path).closure_kernel)
    assert source_fingerprint(_load_kernel(tmp_path, helper_step=3).closure_kernel) != closed  # a closure cell
    assert source_fingerprint(_load_kernel(tmp_path, pong_factor=5).kernel) != base  # via nested() and a cycle
    assert source_fingerprint(_load_kernel(tmp_path, inner_factor=4).kernel) != base  # a helion kernel's .fn


def test_fingerprint_skips_library_functions_and_accepts_kernels(tmp_path):
    module = _load_kernel(tmp_path)
    callees = {f.__name__ for f in cache_module._callees(module.kernel)}
    assert callees == {"helper", "ping", "inner_kernel"}  # not torch.relu, helion.next_power_of_2, os.cpu_count
    assert source_fingerprint(module.inner_kernel) == source_fingerprint(module.inner_kernel.fn)
    with pytest.raises(TypeError, match="Python function"):
        source_fingerprint(len)


def test_fingerprint_without_source_uses_bytecode_and_constants():
    def compiled(step: int, scale: int):
        helpers = types.ModuleType("user_helpers")
        exec(f"def scale(x):\n    return x * {scale}\n", helpers.__dict__)
        namespace: dict = {"helpers": helpers}
        exec(f"def helper(x):\n    return x + {step}\n"
             "def kern(x):\n    return helpers.scale(helper(x))\n", namespace)
        return namespace["kern"]

    assert source_fingerprint(compiled(1, 1)) == source_fingerprint(compiled(1, 1))
    assert source_fingerprint(compiled(1, 1)) != source_fingerprint(compiled(2, 1))
    assert source_fingerprint(compiled(1, 1)) != source_fingerprint(compiled(1, 2))  # module.attribute helper
