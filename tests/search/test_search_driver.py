"""Tests of `tune`: records, budgets, callbacks, logs, outcomes, and trial-record files."""

from __future__ import annotations

import json
import math

import pytest

import search
from search import Budget, Failure, Measurement
from search.records import RECORD_FIELDS
from search_testkit import SMALL_OPTIMUM, mixed_objective, mixed_space, small_objective, small_space


def test_history_holds_trial_records_and_the_best():
    space = mixed_space()
    result = search.tune(space, mixed_objective, "random", Budget(trials=40), batch_size=8, seed=0, kernel="k",
                         context={"device": "cpu"})
    assert len(result.history) == 40 and result.trials == 40
    for i, record in enumerate(result.history):
        assert set(RECORD_FIELDS) <= set(record) and record["device"] == "cpu"
        assert record["kernel"] == "k" and record["trial"] == i and record["seed"] == 0
        assert record["space_fingerprint"] == space.fingerprint() and record["strategy"] == "random"
        assert space.contains(record["config"])
        assert record["status"] == ("compile_error" if record["config"]["stages"] == 7 else "ok")
    ok = [r for r in result.history if r["status"] == "ok"]
    fastest = min(ok, key=lambda r: r["time_ms"])
    assert (result.best_config, result.best_time) == (fastest["config"], fastest["time_ms"])
    assert all(r["time_ms"] is None for r in result.history if r["status"] != "ok")


def test_measurements_fill_the_record():
    def objective(configs):
        return [Measurement(2.0, times_ms=[2.0, 2.1], compile_s=0.5, resources={"registers": 32}),
                Failure("timeout", "took too long")][: len(configs)]

    result = search.tune(small_space(), objective, "random", Budget(trials=2), batch_size=2, seed=0)
    ok, failed = result.history
    assert (ok["times_ms"], ok["compile_s"], ok["resources"]) == ([2.0, 2.1], 0.5, {"registers": 32})
    assert failed["status"] == "timeout" and failed["message"] == "took too long"


def test_nan_times_are_recorded_as_failures():
    result = search.tune(small_space(), lambda cs: [math.nan] * len(cs), "random", Budget(trials=4), seed=0)
    assert [r["status"] for r in result.history] == ["runtime_error"] * 4
    assert result.best_config is None and result.best_time is None


def test_stall_budget_stops_after_no_improvement():
    calls = []

    def objective(configs):
        calls.append(len(configs))
        return [5.0 if calls == [1] else 9.0 for _ in configs]  # only the first trial is good

    result = search.tune(small_space(), objective, "random", Budget(stall=6), batch_size=1, seed=0)
    assert len(result.history) == 7 and result.stop_reason == "stall"


def test_on_trial_and_log_path(tmp_path):
    seen = []
    log = tmp_path / "trials.jsonl"
    result = search.tune(small_space(), small_objective, "pattern", Budget(trials=10), batch_size=3, seed=1,
                         on_trial=seen.append, log_path=log)
    assert seen == result.history
    assert search.load_records(log) == json.loads(json.dumps(result.history))
    search.tune(small_space(), small_objective, "pattern", Budget(trials=2), seed=1, log_path=log)
    assert len(search.load_records(log)) == 12  # appended


def test_strategy_instance_and_options():
    space = small_space()
    strategy = search.make_strategy("genetic", space, seed=3, population=4)
    result = search.tune(space, small_objective, strategy, Budget(trials=8), batch_size=4)
    assert result.history[0]["seed"] == 3 and len(strategy.told) == 8
    result = search.tune(space, small_objective, "genetic", Budget(trials=4), seed=3,
                         strategy_options={"population": 4})
    assert len(result.history) == 4


def test_progress_bar_runs(capsys):
    result = search.tune(small_space(), small_objective, "random", Budget(trials=5), seed=0, progress=True)
    assert len(result.history) == 5
    assert "5/5" in capsys.readouterr().err


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="at least one of trials, seconds or stall"):
        Budget()
    with pytest.raises(ValueError, match="trials=0"):
        Budget(trials=0)
    with pytest.raises(ValueError, match="batch_size"):
        search.tune(small_space(), small_objective, "random", Budget(trials=4), batch_size=0)
    with pytest.raises(ValueError, match="1 outcomes for 4 configs"):
        search.tune(small_space(), lambda cs: [1.0], "random", Budget(trials=4), batch_size=4)
    with pytest.raises(TypeError, match="an outcome must be"):
        search.tune(small_space(), lambda cs: [None] * len(cs), "random", Budget(trials=4))


def test_strategies_tell_rejects_unknown_failure_kinds_before_recording():
    strategy = search.make_strategy("random", small_space(), seed=0)
    configs = strategy.ask(2)
    with pytest.raises(ValueError, match="unknown failure kind 'crashed'"):
        strategy.tell(configs, [1.0, "crashed"])
    assert strategy.told == [] and len(strategy.pending) == 2
    strategy.tell(configs, [1.0, "timeout"])
    assert strategy.best() == (configs[0], 1.0) and strategy.pending == []


def test_warm_start_by_telling_configs_never_asked():
    strategy = search.make_strategy("pattern", small_space(), seed=0)
    strategy.tell([SMALL_OPTIMUM], [1.0])
    batch = strategy.ask(4)
    assert SMALL_OPTIMUM not in batch and strategy.best() == (SMALL_OPTIMUM, 1.0)
    assert all(sum(c[k] != SMALL_OPTIMUM[k] for k in c) <= 2 for c in batch)  # moves around the told best


def test_write_and_load_records_skip_bad_lines(tmp_path):
    path = tmp_path / "records.jsonl"
    records = [{"trial": i, "time_ms": float(i)} for i in range(3)] + [{"trial": 3, "time_ms": math.inf}]
    assert search.write_records(path, records) == 4
    with open(path, "a") as f:
        f.write('{"trial": 4, "time_ms": \n[1, 2]\n\n{"trial": 5}\n{"trial": 6, "tim')
    with pytest.warns(UserWarning) as warned:
        loaded = search.load_records(path)
    assert [r["trial"] for r in loaded] == [0, 1, 2, 3, 5]
    assert loaded[3]["time_ms"] is None
    assert sorted(str(w.message).split(":")[1] for w in warned) == ["5", "6", "9"]


class PipelinedObjective:
    """Records the order of submits and collects; times from small_objective."""

    def __init__(self):
        self.events = []

    def submit(self, configs):
        self.events.append(("submit", len(configs)))
        return configs

    def collect(self, handle):
        self.events.append(("collect", len(handle)))
        return small_objective(handle)

    def __call__(self, configs):  # not used when submit/collect exist
        raise AssertionError("a pipelined objective is not called directly")


def test_pipelined_objectives_keep_the_next_batch_in_flight():
    objective = PipelinedObjective()
    result = search.tune(small_space(), objective, "random", Budget(trials=12), batch_size=4, seed=0, depth=2)
    assert result.trials == 12
    assert objective.events[:3] == [("submit", 4), ("submit", 4), ("collect", 4)]  # batch 2 before batch 1 ends
    configs = [search.config_key(r["config"]) for r in result.history]
    assert len(set(configs)) == 12  # in-flight configs count as pending: no repeats


class DeferringObjective(PipelinedObjective):
    """Defers the first config of its first batch (a slow compile) until two more batches were
    collected; ``ready`` says when."""

    def __init__(self):
        super().__init__()
        self.collected = 0

    def submit(self, configs):
        return ("fresh", super().submit(configs))

    def collect(self, handle):
        kind, configs = handle
        if kind == "late":
            assert self.collected >= 3 or not self.waiting_allowed, "collected before it was ready"
            self.events.append(("late", len(configs)))
            return small_objective(configs)
        self.collected += 1
        outcomes = super().collect(configs)
        return [search.DEFERRED, *outcomes[1:]] if self.collected == 1 else outcomes

    def resume(self, handle, positions):
        assert handle[0] == "fresh" and positions == [0]
        return ("late", [handle[1][i] for i in positions])

    def ready(self, handle):
        return self.collected >= 3

    waiting_allowed = True


def test_a_deferred_config_is_told_when_ready_and_later_batches_go_on():
    objective = DeferringObjective()
    result = search.tune(small_space(), objective, "random", Budget(trials=16), batch_size=4, seed=0, depth=2)
    assert result.trials == 16 and len({search.config_key(r["config"]) for r in result.history}) == 16
    collects = [e for e in objective.events if e[0] in ("collect", "late")]
    assert collects[:4] == [("collect", 4), ("collect", 4), ("collect", 4), ("late", 1)]  # 2 batches passed it
    assert [r["trial"] for r in result.history] == list(range(16))
    first_batch = [search.config_key(c) for c in result.history[:3]]
    assert search.config_key(result.history[11]["config"]) not in first_batch  # the late one, after batch 3


def test_a_deferred_config_is_collected_when_nothing_else_is_in_flight():
    objective = DeferringObjective()
    objective.ready = lambda handle: False  # never ready: collected when the queue is empty
    objective.waiting_allowed = False
    result = search.tune(small_space(), objective, "random", Budget(trials=4), batch_size=4, seed=0, depth=2)
    assert result.trials == 4 and objective.events[-1] == ("late", 1)


def test_initial_configs_run_first_and_are_not_asked_again():
    space = small_space()
    first = [space.default(), dict(space.default(), block=128)]
    result = search.tune(space, small_objective, "random", Budget(trials=8), batch_size=3, seed=1, initial=first)
    configs = [r["config"] for r in result.history]
    assert configs[:2] == [space.normalize(c) for c in first]
    assert len({search.config_key(c) for c in configs}) == 8
