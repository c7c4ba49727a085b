"""The autotuning engine on CPU (interpreter timings): search, benchmark worker isolation,
accuracy checks, effort levels, the trial log and the best-config cache, end to end through
``kernel(*args)``."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import helion
import helion.language as hl
from helion.autotune import engine
from helion.autotune.bench_worker import BenchmarkWorker, WorkerDied, WorkerTimeout

FAULTS = Path(__file__).parent / "faults_site"


def add_kernel(**settings):
    @helion.kernel(autotune_progress=False, **settings)
    def add(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        out = torch.empty_like(x)
        for tile in hl.tile(out.size()):
            out[tile] = x[tile] + y[tile]
        return out
    return add


def double_in_place(**settings):
    @helion.kernel(autotune_progress=False, **settings)
    def double_(x: torch.Tensor) -> torch.Tensor:
        for tile in hl.tile(x.size()):
            x[tile] = x[tile] * 2
        return x
    return double_


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("HELION_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def faults(monkeypatch):
    """Benchmark workers started in this test load ``faults_site/sitecustomize.py``."""
    engine.shutdown()
    monkeypatch.syspath_prepend(str(FAULTS))
    monkeypatch.setenv("HELION_TEST_FAULTS", "1")
    yield
    engine.shutdown()  # later tests get a worker without faults


def test_tuning_logs_every_trial_and_the_winner_is_correct(cache_dir, tmp_path, capsys):
    log = tmp_path / "trials.jsonl"
    kernel = add_kernel(autotune_max_trials=5, autotune_log=str(log))
    x, y = torch.randn(40, 50), torch.randn(40, 50)
    torch.testing.assert_close(kernel(x, y), x + y)
    trials = records(log)
    assert len(trials) == 5 and [r["trial"] for r in trials] == list(range(5))
    assert trials[0]["config"] == kernel.bind((x, y)).config_space.default()  # the default runs first
    for r in trials:
        assert r["kernel"] == "add" and r["device"].startswith("cpu-interpreter")
        assert r["timing"] == "interpreter_wall" and r["key"]["shapes"] == [[40, 50], [40, 50]]
        assert r["source_hash"] and r["space_fingerprint"] and r["elapsed_s"] >= 0
        assert r["kernel_info"] == {"device_loops": 1, "loads": 2, "stores": 1, "atomics": 0, "dots": 0,
                                    "reductions": 0, "scans": 0, "loops": 0, "pointwise": 1}
        if r["status"] == "ok":
            assert r["time_ms"] > 0 and r["compile_s"] is not None
    err = capsys.readouterr().err
    assert "add: 5 trials" in err and "@helion.kernel(config=helion.Config(" in err


def test_crash_and_hang_fail_only_their_candidates(faults, cache_dir, tmp_path):
    """8 warps aborts the worker, 16 hangs it: both are charged to their config, the worker
    restarts, and the healthy config wins; this process is untouched."""
    log = tmp_path / "trials.jsonl"
    base = {"block_sizes": [16, 16]}
    configs = [helion.Config(**base, num_warps=w) for w in (8, 4, 16, 1)]
    kernel = helion.kernel(add_kernel().fn, configs=configs, autotune_log=str(log), autotune_progress=False,
                           autotune_benchmark_timeout=8.0)
    x, y = torch.randn(32, 32), torch.randn(32, 32)
    torch.testing.assert_close(kernel(x, y), x + y)
    status = {r["config"]["num_warps"]: r["status"] for r in records(log)}
    assert status == {8: "runtime_error", 4: "ok", 16: "timeout", 1: "ok"}, status
    assert kernel.bind((x, y)).chosen_config["num_warps"] in (1, 4)
    assert engine.bench_workers(torch.device("cpu"))[0].restarts >= 2


def test_wrong_answers_and_corrupted_inputs_are_inaccurate(faults, cache_dir, tmp_path):
    log = tmp_path / "trials.jsonl"
    fast_but_wrong = helion.Config(block_sizes=[16, 16], num_warps=2)  # returns zeros at once
    kernel = helion.kernel(add_kernel().fn, configs=[fast_but_wrong, helion.Config(block_sizes=[16, 16])],
                           autotune_log=str(log), autotune_progress=False)
    x, y = torch.randn(32, 32), torch.randn(32, 32)
    torch.testing.assert_close(kernel(x, y), x + y)
    wrong = [r for r in records(log) if r["config"]["num_warps"] == 2]
    assert wrong[0]["status"] == "inaccurate" and "elements differ" in wrong[0]["message"]

    log2 = tmp_path / "mutating.jsonl"
    corrupting = helion.Config(block_sizes=[16, 16], num_warps=32)
    kernel = helion.kernel(double_in_place().fn, configs=[corrupting, helion.Config(block_sizes=[16, 16])],
                           autotune_log=str(log2), autotune_progress=False)
    x = torch.randn(32, 32)
    before = x.clone()
    kernel(x)
    torch.testing.assert_close(x, before * 2)  # tuning ran on copies: the user's tensor doubled once
    bad = [r for r in records(log2) if r["config"]["num_warps"] == 32][0]
    assert bad["status"] == "inaccurate" and "mutated" in bad["message"]


def test_user_baseline_and_tolerances(cache_dir, tmp_path):
    log = tmp_path / "trials.jsonl"
    kernel = add_kernel(autotune_max_trials=3, autotune_log=str(log), autotune_baseline_fn=lambda x, y: x + y + 1)
    x, y = torch.randn(16, 16), torch.randn(16, 16)
    with pytest.raises(helion.exc.AutotuneError, match="inaccurate"):
        kernel(x, y)  # every config disagrees with a wrong baseline
    assert {r["status"] for r in records(log)} == {"inaccurate"}
    loose = add_kernel(autotune_max_trials=2, autotune_baseline_fn=lambda x, y: x + y + 1,
                       autotune_baseline_atol=2.0, autotune_baseline_rtol=0.0)
    torch.testing.assert_close(loose(x, y), x + y)
    unchecked = add_kernel(autotune_max_trials=2, autotune_baseline_fn=lambda x, y: x * 0,
                           autotune_accuracy_check=False)
    torch.testing.assert_close(unchecked(x, y), x + y)


def test_effort_none_runs_the_default_without_tuning(cache_dir, capsys):
    kernel = add_kernel(autotune_effort="none")
    x, y = torch.randn(16, 24), torch.randn(16, 24)
    torch.testing.assert_close(kernel(x, y), x + y)
    assert kernel.bind((x, y)).chosen_config == kernel.bind((x, y)).config_space.default()
    assert "trials in" not in capsys.readouterr().err
    with pytest.raises(helion.exc.HelionError, match="autotune_effort"):
        add_kernel(autotune_effort="fast")


def test_effort_from_the_environment(monkeypatch):
    monkeypatch.setenv("HELION_AUTOTUNE_EFFORT", "full")
    monkeypatch.setenv("HELION_AUTOTUNE_BUDGET_S", "7.5")
    settings = helion.Settings()
    assert settings.autotune_effort == "full" and settings.autotune_budget_s == 7.5
    from helion.autotune.effort import effort_for
    assert effort_for(settings, gpu=True).seconds == 7.5 and effort_for(settings, gpu=False).trials > 8


# --- the cache --------------------------------------------------------------------------------------

SCRIPT = textwrap.dedent("""
    import sys, time, torch, helion
    import helion.language as hl

    @helion.kernel(autotune_max_trials=3, autotune_progress=False)
    def scale(x: torch.Tensor) -> torch.Tensor:
        out = torch.empty_like(x)
        for tile in hl.tile(out.size()):
            out[tile] = x[tile] * 3
        return out

    x = torch.randn(int(sys.argv[1]), 24)
    start = time.perf_counter()
    torch.testing.assert_close(scale(x), x * 3)
    print(f"first call {time.perf_counter() - start:.3f}")
    print("config", scale.bind((x,)).chosen_config.to_json())
""")


def run_script(path: Path, rows: int, cache: Path, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "HELION_CACHE_DIR": str(cache), **env}
    return subprocess.run([sys.executable, str(path), str(rows)], capture_output=True, text=True, timeout=300,
                          env=environment, check=True)


def first_call_s(result: subprocess.CompletedProcess) -> float:
    return float(result.stdout.split("first call ")[1].split()[0])


def chosen(result: subprocess.CompletedProcess) -> dict:
    return json.loads(result.stdout.split("config ")[1])


def test_a_new_process_hits_the_cache_and_force_retunes(tmp_path):
    script = tmp_path / "scale_kernel.py"
    script.write_text(SCRIPT)
    cache = tmp_path / "cache"
    first = run_script(script, 32, cache)
    assert "scale: 3 trials" in first.stderr
    second = run_script(script, 32, cache)
    assert "trials in" not in second.stderr and first_call_s(second) < 1.0
    assert chosen(second) == chosen(first)
    forced = run_script(script, 32, cache, HELION_FORCE_AUTOTUNE="1")
    assert "scale: 3 trials" in forced.stderr


def test_corrupt_entries_warn_and_retune(tmp_path):
    script = tmp_path / "scale_kernel.py"
    script.write_text(SCRIPT)
    cache = tmp_path / "cache"
    run_script(script, 32, cache)
    entries = list((cache / "autotune").rglob("*.json"))
    assert len(entries) == 1
    entries[0].write_text('{"format": 1, "config": ')  # truncated
    again = run_script(script, 32, cache)
    assert "scale: 3 trials" in again.stderr and "warn" in again.stderr.lower()
    json.loads(entries[0].read_text())  # re-tuned and rewritten whole


def test_new_shapes_start_from_the_nearest_cached_winner(tmp_path):
    script = tmp_path / "scale_kernel.py"
    script.write_text(SCRIPT)
    cache = tmp_path / "cache"
    tuned = chosen(run_script(script, 32, cache))
    untuned = run_script(script, 40, cache, HELION_AUTOTUNE_EFFORT="none")
    assert "trials in" not in untuned.stderr
    assert chosen(untuned)["num_warps"] == tuned["num_warps"]  # the 32-row winner, fitted to 40 rows
    log = tmp_path / "warm.jsonl"
    run_script(script, 48, cache, HELION_AUTOTUNE_LOG=str(log))
    configs = [r["config"] for r in records(log)]
    assert any(c["num_warps"] == tuned["num_warps"] and c["block_sizes"] == tuned["block_sizes"]
               for c in configs[1:3])  # evaluated right after the default


# --- the benchmark worker itself ---------------------------------------------------------------------

def test_worker_restarts_after_a_crash_and_a_hang(faults):
    worker = BenchmarkWorker(torch.device("cpu"))
    try:
        pid = worker.request("ping", (), 60)
        with pytest.raises(WorkerDied):
            worker.request("crash", (), 60)
        assert worker.request("ping", (), 60) != pid
        with pytest.raises(WorkerTimeout):
            worker.request("hang", (30,), 2)
        assert worker.request("ping", (), 60) and worker.restarts == 2
    finally:
        worker.close()


def test_a_compile_still_running_past_the_deadline_is_a_timeout():
    """Past the search budget the batch's finished compiles are used and a straggler is charged."""
    import time

    from helion.autotune.engine import Batch, Candidates
    from helion.autotune.precompile import CompileResult

    class Straggling:
        partial = [CompileResult("ok", compile_s=0.1), None]

        def done(self):
            return False

    candidates = Candidates.__new__(Candidates)  # no workers: only the deadline logic
    candidates.deadline, candidates.abandoned = time.monotonic() - 1.0, []
    straggling = Straggling()
    done, late = candidates._compiled(Batch([{}, {}], straggling, [0, 1]))
    assert done.status == "ok" and late.status == "timeout" and "budget" in late.message
    assert candidates.abandoned == [straggling]  # stopped in the pool when the search ends


def test_a_lagging_compile_is_deferred_and_collected_when_in():
    """Once more than half of a batch has compiled, the rest is waited for about a second, then
    deferred (search.DEFERRED) so later batches go on; its resumed batch is ready once it is in."""
    import time

    import search
    from helion.autotune import engine
    from helion.autotune.engine import Batch, Candidates
    from helion.autotune.precompile import CompileResult

    class Lagging:
        partial = [CompileResult("ok", compile_s=0.1), CompileResult("ok", compile_s=0.1), None]

        def done(self):
            return False

    candidates = Candidates.__new__(Candidates)
    candidates.deadline, candidates.abandoned = None, []
    future = Lagging()
    batch = Batch([{"a": 0}, {"a": 1}, {"a": 2}], future, [0, 1, 2])
    started = time.monotonic()
    first, second, third = candidates._compiled(batch)
    assert third is search.DEFERRED and first.status == second.status == "ok"
    assert engine._PATIENCE_S <= time.monotonic() - started < engine._PATIENCE_S + 1.0
    later = candidates.resume(batch, [2])
    assert later.configs == [{"a": 2}] and later.slots == [2] and not candidates.ready(later)
    future.partial[2] = CompileResult("ok", compile_s=9.0)
    assert candidates.ready(later) and candidates._compiled(later)[0].compile_s == 9.0
    future.partial[1:] = [None, None]  # only a third in: no deferring yet, the wait goes on
    candidates.deadline = time.monotonic() + 0.3
    assert [r.status for r in candidates._compiled(batch)] == ["ok", "timeout", "timeout"]


def test_no_workers_start_for_a_cached_specialization(tmp_path, monkeypatch):
    """prestart guesses a cache hit from the specialization alone and then starts nothing."""
    monkeypatch.setenv("HELION_CACHE_DIR", str(tmp_path / "cache"))
    started = []
    monkeypatch.setattr(engine, "bench_workers", lambda device: started.append(device) or [BenchmarkWorker(device)])
    monkeypatch.setattr(BenchmarkWorker, "start", lambda self: None)
    kernel = add_kernel(autotune_max_trials=2)
    x, y = torch.randn(16, 16), torch.randn(16, 16)
    engine.prestart(kernel, (x, y))
    assert len(started) == 1  # nothing cached yet: the worker starts
    monkeypatch.undo()
    monkeypatch.setenv("HELION_CACHE_DIR", str(tmp_path / "cache"))
    kernel = add_kernel(autotune_max_trials=2)
    kernel(x, y)  # tunes and caches
    started.clear()
    monkeypatch.setattr(engine, "bench_workers", lambda device: started.append(device) or [])
    engine.prestart(add_kernel(autotune_max_trials=2), (x, y))
    assert started == []
