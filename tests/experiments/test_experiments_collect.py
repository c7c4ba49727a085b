"""The matmul collector: its space against brute force, its checker, and a --smoke run in the interpreter."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import search
from experiments import collect_matmul_space as collect

ROOT = Path(__file__).resolve().parents[2]


def _brute_force() -> list[dict]:
    names = ["block_m", "block_n", "block_k", "group_m", "num_warps", "num_stages"]
    ranges = [[16, 32, 64, 128, 256]] * 2 + [[32, 64, 128], [1, 4, 8, 16], [4, 8], [2, 3, 4, 5]]
    out = []
    for combo in itertools.product(*ranges):
        bm, bn, bk, _, warps, stages = combo
        accumulators = bm * bn / (32 * warps)
        if (bm + bn) * bk * 2 * stages <= 227 * 1024 and 32 <= accumulators <= 128:
            out.append(dict(zip(names, combo)))
    return out


def test_space_enumerates_exactly_the_configs_the_constraints_allow():
    space = collect.build_space()
    configs = space.enumerate()
    assert 200 <= len(configs) <= 1000  # pruned to a few hundred
    assert sorted(map(search.config_key, configs)) == sorted(map(search.config_key, _brute_force()))
    assert space.size() == 5 * 5 * 3 * 4 * 2 * 4
    assert space.contains(space.default())


def test_space_json_round_trips_with_the_named_constraints():
    space = collect.build_space()
    again = search.Space.from_json(json.loads(json.dumps(space.to_json())), constraints=collect.matmul_constraints())
    assert again.fingerprint() == space.fingerprint()
    assert len(again.enumerate()) == len(space.enumerate())


def test_relative_error_catches_one_wrong_tile_and_unwritten_output():
    ref = torch.randn(64, 64)
    assert collect.relative_error(ref.clone(), ref) == 0.0
    wrong = ref.clone()
    wrong[:16, :16] = 0.0  # one 16x16 tile never accumulated
    assert collect.relative_error(wrong, ref) > collect.TOLERANCES["bfloat16"]
    unwritten = ref.clone()
    unwritten[5, 7] = float("nan")
    assert collect.relative_error(unwritten, ref) == float("inf")


def test_parse_shapes_reads_mnk_and_rejects_junk():
    assert collect.parse_shapes("4096x4096x4096, 8192x1024x512") == [(4096, 4096, 4096), (8192, 1024, 512)]
    with pytest.raises(Exception, match="MxNxK"):
        collect.parse_shapes("4096x4096")


def test_dry_run_prints_the_space_size(capsys):
    assert collect.main(["--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"{len(_brute_force())} valid configs of 2400" in out


def test_smoke_run_in_the_interpreter_writes_correct_trial_records(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("TRITON_INTERPRET", None)  # --smoke must set it itself
    done = subprocess.run([sys.executable, "-m", "experiments.collect_matmul_space", "--smoke", "--out", str(tmp_path)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    records = search.load_records(tmp_path / "matmul_37x45x70_float32.jsonl")
    assert len(records) == 4
    space_json = json.loads((tmp_path / "matmul_37x45x70_float32.space.json").read_text())
    space = search.Space.from_json(space_json, constraints=collect.matmul_constraints())
    for trial, record in enumerate(records):
        assert record["status"] == "ok", record
        assert record["max_rel_err"] < 1e-4  # masks handle 37x45x70, which no tile divides
        assert record["key"] == {"shapes": [[37, 70], [70, 45]], "dtypes": ["float32", "float32"]}
        assert record["trial"] == trial and record["strategy"] == "exhaustive"
        assert record["space_fingerprint"] == space.fingerprint()
        assert space.contains(record["config"])
        assert record["time_ms"] > 0 and len(record["times_ms"]) >= 2 and record["compile_s"] >= 0
    assert "| matmul_37x45x70_float32 | 4 | 4 |" in done.stdout
