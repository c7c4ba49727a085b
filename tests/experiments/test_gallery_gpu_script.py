"""The gallery GPU benchmark script: its checker, its fp16 fallback, its table, and a --smoke run on CPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from experiments import gallery_gpu
from experiments.kernels import GALLERY

ROOT = Path(__file__).resolve().parents[2]
TOLERANCE = {"rtol": 1e-2, "atol": 1e-2}


def test_compare_outputs_reports_errors_relative_to_the_largest_reference_value():
    expected = torch.tensor([[1.0, -4.0], [2.0, 0.5]])
    actual = expected.to(torch.bfloat16)
    result = gallery_gpu.compare_outputs(actual, expected, TOLERANCE)
    assert result["ok"] and result["max_abs_err"] == 0.0 and result["nonfinite"] == 0

    off = expected.clone()
    off[1, 1] += 0.5
    result = gallery_gpu.compare_outputs(off, expected, TOLERANCE)
    assert not result["ok"]
    assert result["max_abs_err"] == 0.5 and result["max_rel_err"] == 0.5 / 4.0


def test_compare_outputs_catches_nan_shape_and_tuple_mismatches():
    expected = torch.ones(4, 4)
    poisoned = expected.clone()
    poisoned[2, 3] = float("nan")
    result = gallery_gpu.compare_outputs(poisoned, expected, TOLERANCE)
    assert not result["ok"] and result["nonfinite"] == 1

    assert not gallery_gpu.compare_outputs(torch.ones(4, 3), expected, TOLERANCE)["ok"]
    assert not gallery_gpu.compare_outputs((expected,), (expected, expected), TOLERANCE)["ok"]
    indices = torch.tensor([3, 1, 2])
    assert gallery_gpu.compare_outputs(indices, indices.clone(), {"rtol": 0.0, "atol": 0.0})["ok"]
    assert not gallery_gpu.compare_outputs(indices + 1, indices, {"rtol": 0.0, "atol": 0.0})["ok"]


def test_tolerance_for_bf16_is_twice_fp16_when_the_module_has_none():
    class Module:
        __name__ = "fake"
        TOLERANCE = {torch.float16: {"rtol": 1e-2, "atol": 5e-2}}

    assert gallery_gpu.tolerance_for(Module, torch.bfloat16) == {"rtol": 2e-2, "atol": 1e-1}
    assert gallery_gpu.tolerance_for(GALLERY["add"], torch.bfloat16) == GALLERY["add"].TOLERANCE[torch.bfloat16]


class _Bf16FailsBench:
    """Fails to compile in bf16, runs in fp16: the stand-in for a kernel without bf16 support."""

    def run_kernel(self, module_name, kernel_name, size, args):
        if args[0].dtype == torch.bfloat16:
            error = RuntimeError("no bf16 atomics\nmore text")
            error.stage = "compile"
            raise error
        return {"dtype": "float16", "ok": True, "time_ms": 1.0}

    def device_usable(self):
        return True


def test_run_case_falls_back_to_fp16_and_reports_why():
    def inputs(dtype):
        return (torch.ones(2, 2, dtype=dtype),)

    row = gallery_gpu.run_case(_Bf16FailsBench(), "add", "add", (2, 2, "none"), torch.bfloat16, inputs)
    assert row["status"] == "ok" and row["dtype"] == "float16"
    assert "RuntimeError: no bf16 atomics" in row["note"] and "more text" not in row["note"]


def test_table_shows_errors_and_skips_without_numbers():
    rows = [
        {"module": "m", "kernel": "broken", "size": [8, 8], "dtype": "bfloat16", "status": "error",
         "stage": "compile", "error": "CompilationError: bad | thing"},
        {"module": "m", "kernel": "late", "size": [8, 8], "status": "skipped", "reason": "over --max-seconds 1"},
    ]
    lines = gallery_gpu.format_table(rows, with_compile=False).splitlines()
    assert len(lines) == 4
    assert "ERROR (compile)" in lines[2] and "CompilationError: bad / thing" in lines[2]
    assert "skipped" in lines[3] and "over --max-seconds" in lines[3]
    assert all(line.count("|") == lines[0].count("|") for line in lines)


def test_smoke_run_writes_a_table_and_json_with_a_correct_add_row(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-m", "experiments.gallery_gpu", "--smoke", "--out", str(tmp_path)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]

    report = (tmp_path / "gallery_gpu_smoke.md").read_text()
    add_rows = [line for line in report.splitlines() if line.startswith("| add |")]
    assert len(add_rows) == 1 and "| yes |" in add_rows[0]
    assert "copy" in report and "torch" in report

    data = json.loads((tmp_path / "gallery_gpu_smoke.json").read_text())
    assert data["meta"]["timer"] == "perf_counter" and data["meta"]["torch"] == torch.__version__
    assert data["baselines"]["copy_gbps"] > 0 and data["baselines"]["matmul_tflops"] > 0
    (row,) = data["rows"]
    assert row["kernel"] == "add" and row["status"] == "ok" and row["ok"] is True
    assert row["max_abs_err"] <= 1e-6 and row["nonfinite"] == 0
    assert row["time_ms"] > 0 and len(row["times_ms"]) == data["meta"]["repeats"]
    assert row["eager_ms"] > 0 and row["speedup_vs_eager"] == pytest.approx(row["eager_ms"] / row["time_ms"])
    assert 0 < row["frac_copy_bw"] and row["bytes"] == (64 * 64 + 64 + 64 * 64) * 4
