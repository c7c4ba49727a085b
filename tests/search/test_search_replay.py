"""Tests of ReplayObjective: exact and nearest lookup, failures, and the simulated clock."""

from __future__ import annotations

import pytest

import search
from search import Budget, Failure, Measurement, ReplayObjective
from search_testkit import small_objective, small_space


def _record(config, time_ms=None, status="ok", **extra):
    return {"config": config, "status": status, "time_ms": time_ms, **extra}


def _config(block=64, warps=4, stages=3, order=(0, 1)):
    return {"block": block, "warps": warps, "stages": stages, "order": list(order)}


def test_exact_matches_answer_the_recorded_measurement_and_charge_the_clock():
    records = [_record(_config(stages=s), 1.0 + s, times_ms=[1.0 + s] * 3, compile_s=0.5, resources={"r": s})
               for s in (1, 2, 3)]
    replay = ReplayObjective(records, small_space())
    answers = replay([_config(stages=2), _config(stages=3)])
    assert answers == [Measurement(3.0, times_ms=[3.0] * 3, compile_s=0.5, resources={"r": 2}),
                       Measurement(4.0, times_ms=[4.0] * 3, compile_s=0.5, resources={"r": 3})]
    assert replay.clock() == pytest.approx(2 * 0.5 + (9.0 + 12.0) / 1000)
    assert (replay.hits, replay.misses) == (2, 0)


def test_the_first_record_of_a_config_wins():
    replay = ReplayObjective([_record(_config(), 2.0), _record(_config(), 1.0)], small_space())
    assert replay([_config()])[0].time_ms == 2.0


def test_nearest_config_by_encoding_distance_with_earliest_record_on_ties():
    space = small_space()
    far, near = _record(_config(block=16, warps=1, stages=1), 5.0), _record(_config(), 1.0)
    replay = ReplayObjective([far, near], space)
    assert replay.lookup(_config(stages=4)) is replay.records[1]
    assert replay([_config(stages=4)])[0].time_ms == 1.0 and replay.misses == 1
    left, right = _record(_config(block=32, stages=2), 3.0), _record(_config(block=128, stages=2), 7.0)
    query = _config(block=64, stages=2)  # one doubling from each
    assert ReplayObjective([left, right], space)([query])[0].time_ms == 3.0
    assert ReplayObjective([right, left], space)([query])[0].time_ms == 7.0


def test_missing_invalid_and_recorded_failures():
    records = [_record(_config(stages=1), status="timeout", compile_s=2.0), _record(_config(stages=2), 2.0)]
    replay = ReplayObjective(records, missing="invalid", repeats=10)
    timeout, ok, missing = replay([_config(stages=1), _config(stages=2), _config(stages=4)])
    assert timeout.kind == "timeout" and ok.time_ms == 2.0 and missing == Failure("invalid", missing.message)
    assert replay.clock() == pytest.approx(2.0 + 2.0 * 10 / 1000)  # time_ms * repeats without times_ms
    without_space = ReplayObjective(records)  # exact matches only
    assert without_space([_config(stages=2)])[0].time_ms == 2.0
    with pytest.raises(ValueError, match="needs space="):
        without_space([_config(stages=4)])


def test_tune_on_replay_spends_simulated_seconds():
    records = [_record(c, t, compile_s=1.0, times_ms=[0.0]) for c, t in
               zip(small_space().enumerate(), small_objective(small_space().enumerate()))]
    replay = ReplayObjective(records, small_space())
    result = search.tune(small_space(), replay, "random", Budget(seconds=5), batch_size=2, seed=0)
    assert len(result.history) == 6 and result.stop_reason == "seconds"
    assert [r["elapsed_s"] for r in result.history] == pytest.approx([2, 2, 4, 4, 6, 6])


def test_replay_reproduces_a_recorded_run(tmp_path):
    log = tmp_path / "run.jsonl"
    live = search.tune(small_space(), small_objective, "genetic", Budget(trials=30), seed=2, log_path=log)
    replayed = search.tune(small_space(), ReplayObjective(str(log), small_space()), "genetic", Budget(trials=30),
                           seed=2)
    assert [(r["config"], r["time_ms"]) for r in replayed.history] == [(r["config"], r["time_ms"])
                                                                      for r in live.history]
