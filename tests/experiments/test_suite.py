"""The kernel suite (experiments.suite): case selection, the plan and its resume, the report's
geomeans, the Triton baselines' config pick, the child-process limit, and a --smoke run on CPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from experiments import autotune_engine_gpu, suite, suite_report
from experiments.child_process import ChildRun, run_child
from experiments.kernels import GALLERY
from experiments.triton_baselines import BASELINES, Baseline, pick_best

ROOT = Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}


def test_select_cases_by_kernel_module_and_set_names():
    default = suite.select_cases(None, smoke=False)
    assert [c["kernel"] for c in default] == list(suite.DEFAULT_KERNELS)
    assert default[-1] == {"id": "matmul@4096x4096x4096", "module": "matmul", "kernel": "matmul",
                           "size": [4096, 4096, 4096]}
    assert [c["kernel"] for c in suite.select_cases(["log_softmax"], smoke=True)] == ["log_softmax"]
    assert {c["kernel"] for c in suite.select_cases(["welford", "rms_norm_looped"], smoke=True)} == {
        "welford", "rms_norm_looped"}
    gallery = suite.select_cases(["gallery"], smoke=True)
    assert len(gallery) == len(GALLERY) and gallery[0]["size"] == list(GALLERY["add"].SIZES[0])
    with pytest.raises(ValueError, match="unknown kernel 'nope'"):
        suite.select_cases(["nope"], smoke=False)


def test_plan_skips_done_steps_and_groups_batched_sides():
    cases = suite.select_cases(["add", "sum_last", "matmul"], smoke=False)
    done = {("add@16384x4096xrow", "ours:genetic"), ("matmul@4096x4096x4096", "compile")}
    jobs = suite.plan(cases, list(suite.STEPS), ["genetic", "tpe"], {"matmul"}, done)
    keys = [(j.key, [c["kernel"] for c in j.cases]) for j in jobs]
    assert keys[0] == ("compile", ["add", "sum_last"])  # one process, the undone cases
    assert ("triton", ["add", "matmul"]) in keys  # sum_last has no hand-written kernel
    assert ("ours:genetic", ["add"]) not in keys and ("ours:genetic", ["sum_last"]) in keys
    assert [k for k in keys if k[0] == "peer:full"] == [("peer:full", ["matmul"])]
    assert sum(j.step == "ours" for j in jobs) == 5 and sum(j.step == "peer_quick" for j in jobs) == 3
    assert all(j.estimate_s > 0 for j in jobs)
    assert "about" in suite.format_estimate(jobs)


def test_a_result_cut_by_the_budget_is_run_again_on_resume(tmp_path):
    first = {"calls": [{"device": "d"}], "rows": {"a@1": {"triton": {"status": "ok"}, "ours:tpe": {"status": "cut"}},
                                                 "b@1": {"triton": {"status": "error"}}}}
    later = {"calls": [{"device": "d"}], "rows": {"a@1": {"ours:tpe": {"status": "ok"}}}}
    (tmp_path / "1.json").write_text(json.dumps(first))
    assert suite.done_steps(suite.load_state([tmp_path / "1.json"])) == {("a@1", "triton"), ("b@1", "triton")}
    (tmp_path / "2.json").write_text(json.dumps(later))
    merged = suite.load_state([tmp_path / "1.json", tmp_path / "2.json"])
    assert len(merged["calls"]) == 2 and merged["rows"]["a@1"]["ours:tpe"]["status"] == "ok"


def test_run_job_marks_cases_cut_by_the_budget_for_a_rerun(tmp_path, monkeypatch):
    seen = {}

    def fake_run_child(command, env, timeout_s):
        seen.update(command=command, env=env, timeout_s=timeout_s)
        return ChildRun(None, "compiling...", 5.0)

    monkeypatch.setattr(suite, "run_child", fake_run_child)
    args = suite.argparse.Namespace(out=tmp_path, seed=3, repeats=2, warmup=1, smoke=True, peer_path="/peer",
                                    peer_full_generations=1)
    cases = suite.select_cases(["add", "softmax"], smoke=True)
    job = suite.Job("compile", "compile", cases)
    cut = suite.run_job(job, args, 7.0, cut_by_budget=True)
    assert seen["timeout_s"] == 7.0 and "--side" in seen["command"] and "compile" in seen["command"]
    assert seen["env"]["SUITE_SMOKE"] == "1" and seen["env"]["HELION_AUTOTUNE_SEED"] == "3"
    assert {r["status"] for r in cut.values()} == {"cut"} and set(cut) == {c["id"] for c in cases}
    peer = suite.run_job(suite.Job("peer_full", "peer:full", cases[:1]), args, 7.0, cut_by_budget=False)
    assert peer[cases[0]["id"]]["status"] == "error" and "time limit" in peer[cases[0]["id"]]["error"]
    assert seen["env"]["PYTHONPATH"].startswith("/peer") and seen["env"]["SUITE_EFFORT"] == "full"
    assert seen["env"]["HELION_AUTOTUNE_MAX_GENERATIONS"] == "1" and seen["env"]["SUITE_EXPECT_HELION"] == "/peer"
    assert "===== peer:full" in (tmp_path / "sides.log").read_text()


def _ok(speedup: float, **extra) -> dict:
    return {"status": "ok", "speedup_vs_eager": speedup, "ms": 1.0 / speedup, "eager_ms": 1.0, **extra}


def test_geomeans_compare_speedups_on_kernels_where_both_ran():
    rows = {"a": {"compile": _ok(2.0), "ours:genetic": _ok(4.0), "peer:quick": _ok(1.0)},
            "b": {"compile": _ok(1.0), "ours:genetic": _ok(9.0), "peer:quick": {"status": "error", "error": "x | y"}},
            "c": {"compile": _ok(3.0), "ours:genetic": {"status": "wrong", "error": "bad"}}}
    assert suite_report.ratios(rows, "ours:genetic", "compile") == [2.0, 9.0]
    assert suite_report.geomean(suite_report.ratios(rows, "ours:genetic", "compile")) == pytest.approx(18 ** 0.5)
    assert suite_report.ratios(rows, "ours:genetic", "peer:quick") == [4.0]
    assert suite_report.ratios(rows, "ours:genetic", None) == [4.0, 9.0]
    table = suite_report.geomean_table(rows, ["genetic"])
    assert "| genetic | 6.00 (n=2) | 4.24 (n=2) | - | - | 4.00 (n=1) | - |" == table[2]
    report = suite_report.format_report({"calls": [{"device": "GPU X", "date": "today"}], "rows": rows})
    assert "Kernel suite on GPU X" in report and "error: x / y" in report and "wrong: bad" in report
    lines = [line for line in report.splitlines() if line.startswith("|")]
    assert all(line.count("|") == lines[0].count("|") for line in lines[:5])


def test_pick_best_drops_configs_that_fail_the_check_and_keeps_the_fastest():
    configs = ({"scale": 1}, {"scale": 2}, {"scale": 3})
    baseline = Baseline(lambda config, x: x * config["scale"], configs, configs)
    x = torch.ones(4)

    def check(out):  # the first config computes the wrong thing
        return "" if float(out.sum()) != 4.0 else "wrong"

    best = pick_best(baseline, (x,), torch.device("cpu"), check, lambda fns: [5.0, 2.0][:len(fns)])
    assert best["config"] == {"scale": 3} and best["ms"] == 2.0 and float(best["fn"]().sum()) == 12.0
    assert best["tried"] == [{"config": {"scale": 1}, "error": "wrong"}, {"config": {"scale": 2}, "ms": 5.0},
                             {"config": {"scale": 3}, "ms": 2.0}]
    failing = Baseline(lambda config, x: 1 / 0, configs, configs)
    assert pick_best(failing, (x,), torch.device("cpu"), check, lambda fns: [])["error"].startswith(
        "ZeroDivisionError")


TRITON_CHECK = """
import torch
from experiments.kernels import GALLERY
from experiments.kernels.checking import make_inputs
from experiments.triton_baselines import BASELINES
sizes = {"add": [(37, 100, "col"), (70, 33, "none"), (5, 64, "row")], "matmul": [(100, 72, 130), (7, 33, 20)]}
for name, baseline in BASELINES.items():
    module = GALLERY[name]
    for size in sizes.get(name, [(37, 100), (3, 130)]):
        args = make_inputs(module, size, torch.float32, "cpu", 7)
        for config in baseline.configs(torch.device("cpu")):
            torch.testing.assert_close(baseline.launch(config, *args), module.reference(*args), **module.TOLERANCE[torch.float32])
print("checked", len(BASELINES))
"""


def test_triton_baselines_match_the_references_in_the_interpreter():
    done = subprocess.run([sys.executable, "-c", TRITON_CHECK], cwd=ROOT, env={**_env(), "TRITON_INTERPRET": "1"},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and f"checked {len(BASELINES)}" in done.stdout, done.stderr[-3000:]


def test_run_child_kills_the_whole_process_group_at_the_limit(tmp_path):
    pid_file = tmp_path / "grandchild.pid"
    code = ("import subprocess, sys, time; p = subprocess.Popen(['sleep', '60']); "
            f"open({str(pid_file)!r}, 'w').write(str(p.pid)); print('started', flush=True); time.sleep(60)")
    started = time.perf_counter()
    run = run_child([sys.executable, "-c", code], dict(os.environ), timeout_s=2.0)
    assert run.timed_out and "started" in run.log and time.perf_counter() - started < 20
    grandchild = int(pid_file.read_text())
    time.sleep(0.2)
    stat = Path(f"/proc/{grandchild}/stat")
    assert not stat.exists() or stat.read_text().split(") ")[1].startswith("Z")  # gone, or a zombie
    done = run_child([sys.executable, "-c", "print('hi')"], dict(os.environ), timeout_s=60)
    assert done.returncode == 0 and done.log.strip() == "hi" and not done.timed_out


def test_autotune_engine_run_side_reports_a_failing_side(tmp_path):
    env = {**_env(), "CUDA_VISIBLE_DEVICES": ""}
    row = autotune_engine_gpu.run_side("hit", "add", tmp_path, env, 120)
    assert row["case"] == "add" and row["error"] and row["process_s"] > 0
    assert "===== add hit" in (tmp_path / "sides.log").read_text()


def test_the_peer_side_builds_the_kernel_at_the_effort_asked_and_checks_where_helion_is(tmp_path, monkeypatch):
    from experiments import suite_sides
    monkeypatch.setenv(suite_sides.SMOKE_ENV, "1")
    monkeypatch.setenv("SUITE_EFFORT", "none")  # the peer's branch, without tuning (the release needs a GPU)
    monkeypatch.delenv("SUITE_STRATEGY", raising=False)
    monkeypatch.setenv("SUITE_EXPECT_HELION", str(ROOT))  # our checkout stands in for the release
    specs = suite.select_cases(["add"], smoke=True)
    result = tmp_path / "result.json"
    suite_sides.run_side("tuned", specs, result, tmp_path, seed=0, repeats=2, warmup=1)
    row = json.loads(result.read_text())["add@64x64xrow"]
    assert row["status"] == "ok" and row["effort"] == "none" and row["helion"] == str(ROOT / "helion")
    assert row["speedup_vs_eager"] == pytest.approx(row["eager_ms"] / row["ms"]) and "strategy" not in row
    monkeypatch.setenv("SUITE_EXPECT_HELION", str(tmp_path))
    suite_sides.run_side("tuned", specs, result, tmp_path, seed=0, repeats=2, warmup=1)
    row = json.loads(result.read_text())["add@64x64xrow"]
    assert row["status"] == "error" and "helion was imported from" in row["error"]


def test_smoke_run_checks_and_times_every_side_and_resumes(tmp_path):
    command = [sys.executable, "-m", "experiments.suite", "--smoke", "--kernels", "add", "--strategies", "genetic",
               "--steps", "triton,ours", "--out", str(tmp_path)]
    done = subprocess.run(command, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "matplotlib is not installed" in done.stdout or "suite_smoke.png" in done.stdout
    data = json.loads((tmp_path / "suite_smoke.json").read_text())
    steps = data["rows"]["add@64x64xrow"]
    assert set(steps) == {"triton", "ours:genetic"}
    for key, result in steps.items():
        assert result["status"] == "ok", (key, result)
        assert result["ms"] > 0 and result["speedup_vs_eager"] == pytest.approx(result["eager_ms"] / result["ms"])
        assert 0 < result["frac_copy_bw"] and result["bytes"] == (64 * 64 + 64 + 64 * 64) * 4
    assert steps["ours:genetic"]["trials"] == suite.SMOKE_TRIALS and steps["ours:genetic"]["tune_s"] > 0
    assert Path(steps["ours:genetic"]["trials_log"]).exists()
    report = (tmp_path / "suite_smoke.md").read_text()
    assert "| genetic | " in report and "tiny fp32 shapes" in report

    again = subprocess.run(command[:-2] + ["--out", str(tmp_path)], cwd=ROOT, env=_env(), capture_output=True,
                           text=True, timeout=120)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "estimate: 0 processes" in again.stdout and "suite_smoke.json" in again.stdout
    resumed = json.loads((tmp_path / "suite_smoke.json").read_text())
    assert len(resumed["calls"]) == 2 and resumed["rows"]["add@64x64xrow"] == steps


def test_a_step_that_does_not_fit_the_budget_is_left_for_the_next_call(tmp_path):
    command = [sys.executable, "-m", "experiments.suite", "--smoke", "--kernels", "add", "--strategies", "genetic",
               "--steps", "ours", "--max-seconds", "5", "--out", str(tmp_path)]
    done = subprocess.run(command, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "1 of 1 processes did not fit --max-seconds 5" in done.stdout
    data = json.loads((tmp_path / "suite_smoke.json").read_text())
    assert data["rows"] == {"add@64x64xrow": {}}
