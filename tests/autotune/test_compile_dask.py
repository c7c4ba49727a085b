"""The compile pool on a dask.distributed cluster, chosen by the caller's joblib config."""
from __future__ import annotations

import os
import warnings

import pytest
import torch

distributed = pytest.importorskip("distributed")

import joblib  # noqa: E402

from experiments.kernels import GALLERY  # noqa: E402
from helion.autotune.compile_pool import CompilePool  # noqa: E402
from helion.autotune.precompile import job_for  # noqa: E402


def test_pool_compiles_on_dask_workers(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TRITON_CACHE_DIR", str(tmp_path / "triton"))  # the workers get it via the jobs
    module = GALLERY["add"]
    args = module.make_args(module.GPU_SIZES[0], torch.bfloat16, "meta", torch.Generator().manual_seed(0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bound = module.KERNELS["add_2d"].bind(args)
    default = bound.config_space.default()
    configs = [default, dict(default, num_warps=8), dict(default, num_warps=2)]
    jobs = [job_for(bound, c, "sm_90") for c in configs]
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        dask_pids = set(client.run(os.getpid).values())
        with CompilePool(workers=2) as pool, joblib.parallel_config(backend="dask"):
            results = pool.submit(jobs).result()
    assert [r.status for r in results] == ["ok"] * 3, [r.message for r in results]
    assert [r.kernels[0]["warps"] for r in results] == [c["num_warps"] for c in configs]
    assert {r.pid for r in results} <= dask_pids and os.getpid() not in dask_pids
    assert all(r.kernels[0]["registers"] >= 16 and r.kernels[0]["shared_bytes"] is not None for r in results)
    assert len(os.listdir(tmp_path / "triton")) >= 3  # the workers wrote where the caller said
