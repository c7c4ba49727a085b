"""The compile stage without a GPU: sm_90 binaries built in worker processes through joblib, in
job order, with resources; Triton's on-disk cache filled under the key a launch looks up; a job
that crashes or hangs its worker fails alone."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import warnings

import joblib
import numpy as np
import pytest
import torch

import helion
import helion.language as hl
from experiments.kernels import GALLERY
from helion.autotune import precompile
from helion.autotune.compile_pool import CompilePool
from helion.autotune.cubin import kernel_resources
from helion.autotune.precompile import (CompileJob, MockTensor, TensorSpec, compile_for_target, compile_job,
                                        job_for, launch_spec, target_of)


def _bound(module_name: str, kernel_name: str, size=None):
    module = GALLERY[module_name]
    args = module.make_args(size or module.GPU_SIZES[0], torch.bfloat16, "meta", torch.Generator().manual_seed(0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return module.KERNELS[kernel_name].bind(args)


def _distinct_configs(bound, count: int) -> list[dict]:
    """Sampled configs whose generated sources all differ (distinct binaries)."""
    configs, seen = [], set()
    for seed in range(200):
        config = bound.config_space.sample(np.random.default_rng(seed))
        key = tuple(bound.sources(config))
        if key not in seen:
            seen.add(key)
            configs.append(config)
        if len(configs) == count:
            return configs
    raise AssertionError("too few distinct configs")


def _cache_entries(path) -> set[str]:
    return {name for name in os.listdir(path)} if os.path.isdir(path) else set()


@pytest.fixture(scope="module")
def pool():
    with CompilePool(workers=2, timeout_s=60) as pool:
        yield pool


@pytest.fixture(scope="module")
def add_bound():
    return _bound("add", "add")


def test_pool_compiles_configs_for_sm90_in_job_order(pool, add_bound, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TRITON_CACHE_DIR", str(tmp_path / "triton"))
    matmul = _bound("matmul", "matmul")
    configs = _distinct_configs(add_bound, 3)
    jobs = [job_for(add_bound, configs[0], "sm_90"), job_for(matmul, matmul.config_space.default(), "sm_90"),
            job_for(add_bound, configs[1], "sm_90"), job_for(add_bound, configs[2], "sm_90")]
    expected_warps = [configs[0]["num_warps"], 8, configs[1]["num_warps"], configs[2]["num_warps"]]
    results = pool.submit(jobs).result()
    assert [r.status for r in results] == ["ok"] * 4, [r.message for r in results]
    assert [r.kernels[0]["kernel"] for r in results] == ["add", "matmul", "add", "add"]
    assert [r.kernels[0]["warps"] for r in results] == expected_warps
    assert all(r.pid not in (0, os.getpid()) for r in results)  # compiled in worker processes
    assert all(r.compile_s > 0 for r in results)
    matmul_kernel = results[1].kernels[0]
    assert matmul_kernel["shared_bytes"] == 98304  # 3 stages of 128x64 + 64x128 bf16 tiles
    assert all(16 <= r.kernels[0]["registers"] <= 255 and r.kernels[0]["spills"] == 0 for r in results)
    assert matmul_kernel["registers"] > max(r.kernels[0]["registers"] for r in results if r is not results[1])
    # the same numbers as the in-process compile, which reads them from the same cache
    assert compile_for_target(matmul, matmul.config_space.default()) == [matmul_kernel]


def test_worker_binary_is_found_by_a_launch_with_real_tensors(pool, add_bound, tmp_path, monkeypatch) -> None:
    """A worker's binary lands in TRITON_CACHE_DIR; the same launcher run here, on real tensors
    (Triton's native torch.Tensor specialization instead of the mock's), compiles nothing."""
    cache = tmp_path / "triton"
    monkeypatch.setenv("TRITON_CACHE_DIR", str(cache))
    config = _distinct_configs(add_bound, 1)[0]
    job = job_for(add_bound, config, "sm_90")
    [first] = pool.run([job])
    assert first.status == "ok" and first.pid != os.getpid()
    entries = _cache_entries(cache)
    assert any(name.endswith(".cubin") for entry in entries for name in os.listdir(cache / entry))
    real = tuple(torch.empty(spec.shape, dtype=getattr(torch, spec.dtype)) if isinstance(spec, TensorSpec) else spec
                 for spec in job.launches[0])
    assert real[2].data_ptr() % 16 == 0
    with precompile._stub_driver(job.target):
        [again] = precompile._compile_source(job.sources[0], real, job.cache_dir, "add")
    assert _cache_entries(cache) == entries  # a cache hit: no new entry
    assert again == first.kernels[0]
    # and the job itself, again in this process: a hit as well, much faster than compiling
    second = compile_job(job)
    assert second.status == "ok" and _cache_entries(cache) == entries
    fresh = compile_job(job_for(add_bound, _distinct_configs(add_bound, 2)[1], "sm_90"))
    assert fresh.status == "ok" and len(_cache_entries(cache)) > len(entries)
    assert second.compile_s < fresh.compile_s / 2


def test_crash_and_hang_fail_alone(pool, add_bound, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TRITON_CACHE_DIR", str(tmp_path / "triton"))
    good = [job_for(add_bound, c, "sm_90") for c in _distinct_configs(add_bound, 3)]
    crash = CompileJob(("import os\nos.abort()\n",), ((),), cache_dir=good[0].cache_dir)
    hang = CompileJob(("import time\ntime.sleep(600)\n",), ((),), cache_dir=good[0].cache_dir, timeout_s=3)
    results = pool.run([good[0], good[1], crash, hang, good[2]])
    assert [r.status for r in results] == ["ok", "ok", "compile_error", "timeout", "ok"], [r.message for r in results]
    assert "crashed" in results[2].message
    assert results[3].compile_s >= 3
    [after] = pool.run([good[0]])  # the pool works after its workers died
    assert after.status == "ok" and after.pid != os.getpid()


def test_a_single_worker_still_isolates_the_caller(add_bound) -> None:
    """joblib runs n_jobs=1 in the calling process; the task then moves to a worker process."""
    crash = CompileJob(("import os\nos.abort()\n",), ((),), cache_dir=add_bound.settings.cache_dir)
    good = job_for(add_bound, add_bound.config_space.default(), "sm_90")
    with CompilePool(workers=1) as single:
        results = single.run([crash, good])
    assert [r.status for r in results] == ["compile_error", "ok"]
    assert results[1].pid != os.getpid()


def test_backend_follows_the_callers_parallel_config(pool, add_bound) -> None:
    """joblib's config is thread-local; the pool reads it in the submitting thread."""
    job = job_for(add_bound, add_bound.config_space.default(), "sm_90")
    with joblib.parallel_config(backend="threading"):
        future = pool.submit([job])
    [result] = future.result()
    assert result.status == "ok" and result.pid == os.getpid()  # threads of this process


def test_compile_error_is_a_result_with_its_first_line(tmp_path) -> None:
    source = ("import triton\nimport triton.language as tl\n\n\n@triton.jit\ndef _bad_kernel(x):\n"
              "    tl.store(x, undefined_name)\n\n\ndef launch(x):\n    _bad_kernel[(1,)](x)\n")
    job = CompileJob((source,), ((TensorSpec("float32", (4,), (1,), True),),), cache_dir=str(tmp_path),
                     timeout_s=None, names=("bad",))
    result = compile_job(job)
    assert result.status == "compile_error"
    assert result.message.startswith("bad: compile for sm_90 failed: at 2:16: ")
    assert "undefined_name is not defined" in result.message
    assert "\n" not in result.message


def test_launch_spec_of_fake_tensors_and_views() -> None:
    """Dynamic shapes trace on fake tensors with symbolic sizes: the spec holds their hints; a
    view whose offset breaks 16-byte alignment is marked, and its mock says so to Triton."""
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.fx.experimental.symbolic_shapes import DimDynamic, ShapeEnv, StatelessSymbolicContext
    mode = FakeTensorMode(shape_env=ShapeEnv())
    context = StatelessSymbolicContext(dynamic_sizes=[DimDynamic.DUCK, DimDynamic.DUCK])
    fake = mode.from_tensor(torch.empty(48, 80), symbolic_context=context)
    assert isinstance(fake.shape[0], torch.SymInt)
    view = torch.empty(10, 8, dtype=torch.bfloat16, device="meta")[1:, 1:]
    spec = launch_spec((fake.shape[0], fake, view, 0.5, None, (1, 2)))
    assert spec[:2] == (48, TensorSpec("float32", (48, 80), (80, 1), True))
    assert spec[2] == TensorSpec("bfloat16", (9, 7), (8, 1), False)  # offset 9 elements = 18 bytes
    assert spec[3:] == (0.5, None, (1, 2))
    mock = MockTensor(spec[2])
    assert (mock.dtype, mock.size(), mock.size(1), mock.stride(), mock.dim(), mock.numel(), mock.element_size()) == \
        (torch.bfloat16, torch.Size([9, 7]), 7, (8, 1), 2, 63, 2)
    assert mock.data_ptr() % 16 != 0 and MockTensor(spec[1]).data_ptr() % 16 == 0


@helion.kernel(static_shapes=False)
def _scaled_rows(x: torch.Tensor, scale: float) -> torch.Tensor:
    m, n = x.size()
    out = torch.empty_like(x)
    for tile_m in hl.tile(m):
        out[tile_m, :] = x[tile_m, :] * scale
    return out


def test_dynamic_shape_kernel_compiles_with_hinted_sizes() -> None:
    bound = _scaled_rows.bind((torch.empty(1000, 64, device="meta", dtype=torch.bfloat16), 2.0))
    job = job_for(bound, bound.config_space.default(), "sm_90", timeout_s=None)
    assert any(isinstance(v, TensorSpec) and v.shape == (1000, 64) for v in job.launches[0])
    [kernel] = compile_for_target(bound, bound.config_space.default())
    assert kernel["kernel"] == "_scaled_rows" and kernel["registers"] >= 16


def test_target_of() -> None:
    assert target_of("sm_90") == target_of("sm_90a") == target_of(90) == ("cuda", 90, 32)
    assert target_of("sm_100") == ("cuda", 100, 32)
    with pytest.raises(helion.exc.HelionError, match="cannot compile for cpu"):
        target_of("cpu")


_DOT_SOURCE = """import triton
import triton.language as tl


@triton.jit
def _dot_kernel(a, b, c, BLOCK: tl.constexpr):
    offsets = tl.arange(0, BLOCK)
    tile = offsets[:, None] * BLOCK + offsets[None, :]
    tl.store(c + tile, tl.dot(tl.load(a + tile), tl.load(b + tile)))


def launch(a, b, c):
    _dot_kernel[(1,)](a, b, c, 128, num_warps=4{maxnreg})
"""


@pytest.mark.parametrize("maxnreg", [None, 96])
def test_registers_and_spills_from_the_cubin(tmp_path, maxnreg) -> None:
    """A 128x128 fp32 accumulator on 4 warps needs 128 registers a thread: capped at 96, ptxas
    spills it to local memory. The ELF reader agrees with cuobjdump on the same binary."""
    source = _DOT_SOURCE.format(maxnreg="" if maxnreg is None else f", maxnreg={maxnreg}")
    tensor = TensorSpec("bfloat16", (128, 128), (128, 1), True)
    job = CompileJob((source,), ((tensor, tensor, TensorSpec("float32", (128, 128), (128, 1), True)),),
                     cache_dir=str(tmp_path), timeout_s=None, triton_cache_dir=str(tmp_path / "triton"))
    result = compile_job(job)
    assert result.status == "ok", result.message
    [kernel] = result.kernels
    if maxnreg is None:
        assert 128 <= kernel["registers"] <= 255 and kernel["spills"] == 0
    else:
        assert kernel["registers"] <= 96 and kernel["spills"] > 0
    [binary] = [p for p in (tmp_path / "triton").rglob("*.cubin")]
    found = kernel_resources(binary.read_bytes())["_dot_kernel"]
    assert found["registers"] == kernel["registers"] and found["frame_bytes"] == 4 * kernel["spills"]
    cuobjdump = shutil.which("cuobjdump") or os.path.join(os.path.dirname(__import__("triton").__file__),
                                                          "backends", "nvidia", "bin", "cuobjdump")
    if os.path.exists(cuobjdump):
        listing = subprocess.run([cuobjdump, "-elf", str(binary)], capture_output=True, text=True).stdout
        assert int(re.search(r"register count: (\d+)", listing).group(1)) == found["registers"]
        assert int(re.search(r"frame size: (0x[0-9a-f]+)", listing).group(1), 16) == found["frame_bytes"]


def test_an_abandoned_batch_stops_and_the_pool_goes_on(pool, add_bound, tmp_path, monkeypatch) -> None:
    """The engine abandons a batch still compiling when its search is over: the workers stop
    (no process keeps compiling, the program's exit does not wait) and the next batch runs."""
    import time

    monkeypatch.setenv("TRITON_CACHE_DIR", str(tmp_path / "triton"))
    hang = CompileJob(("import time\ntime.sleep(600)\n",), ((),), cache_dir=add_bound.settings.cache_dir,
                      timeout_s=60)
    good = job_for(add_bound, add_bound.config_space.default(), "sm_90")
    assert pool.run([good])[0].status == "ok"  # workers up
    future = pool.submit([hang])
    time.sleep(2)
    started = time.perf_counter()
    pool.abandon(future)
    [result] = future.result(timeout=30)
    assert result.status == "timeout" and time.perf_counter() - started < 30, result
    [after] = pool.run([good])
    assert after.status == "ok"
