"""One conformance class that every registered strategy passes (in the spirit of Optuna's sampler tests)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest

import search
from search import FAILURE_KINDS, Budget, Failure, config_key
from search_testkit import (SMALL_OPTIMUM, mixed_objective, mixed_space, proposals, small_objective, small_space,
                            tiny_space)

STRATEGIES = search.available_strategies()
KIT_DIR = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(KIT_DIR))


@pytest.fixture(scope="module")
def subprocess_proposals():
    """Proposals of every strategy (seed 0) computed in a fresh interpreter."""
    code = (f"import sys, json; sys.path[:0] = [{ROOT!r}, {KIT_DIR!r}]; import search, search_testkit; "
            "print(json.dumps({n: search_testkit.proposals(n, 0) for n in search.available_strategies()}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


class FakeClockObjective:
    """Charges one simulated second per config; `tune` reads `clock()`."""

    def __init__(self, objective):
        self.objective = objective
        self.now = 0.0

    def clock(self):
        return self.now

    def __call__(self, configs):
        self.now += len(configs)
        return self.objective(configs)


@pytest.mark.parametrize("name", STRATEGIES)
class TestStrategyConformance:
    def test_same_seed_same_proposals(self, name):
        first = proposals(name, seed=0)
        assert first == proposals(name, seed=0)
        assert first != proposals(name, seed=1)

    def test_same_proposals_in_a_fresh_process(self, name, subprocess_proposals):
        assert subprocess_proposals[name] == proposals(name, seed=0)

    def test_batches_are_legal_and_distinct(self, name):
        space = mixed_space()
        strategy = search.make_strategy(name, space, seed=3)
        first, pending = strategy.ask(6), strategy.ask(6)  # the second ask sees the first as pending
        strategy.tell(first + pending, mixed_objective(first + pending))
        after = strategy.ask(6)
        everything = first + pending + after
        assert [len(first), len(pending), len(after)] == [6, 6, 6]
        assert all(space.contains(c) for c in everything)
        assert len({config_key(c) for c in everything}) == len(everything)

    def test_survives_nan_inf_and_every_failure_kind(self, name):
        space = mixed_space()
        strategy = search.make_strategy(name, space, seed=5)
        configs = strategy.ask(9)
        outcomes = [math.nan, math.inf, -1.0, 2.5, *(Failure(kind) for kind in FAILURE_KINDS)]
        strategy.tell(configs, outcomes)
        best_config, best_time = strategy.best()
        assert best_time == 2.5 and best_config == configs[3]
        more = strategy.ask(8)
        strategy.tell(more, ["timeout"] * len(more))
        again = strategy.ask(8)
        assert len(more) == len(again) == 8
        assert all(space.contains(c) for c in more + again)
        assert not {config_key(c) for c in again} & {config_key(c) for c in configs + more}
        assert strategy.best()[1] == 2.5

    def test_best_is_none_while_everything_fails(self, name):
        strategy = search.make_strategy(name, mixed_space(), seed=0)
        for _ in range(2):
            configs = strategy.ask(5)
            strategy.tell(configs, [Failure("runtime_error")] * len(configs))
        assert strategy.best() is None
        assert len(strategy.ask(3)) == 3

    def test_respects_the_trial_budget(self, name):
        result = search.tune(small_space(), small_objective, name, Budget(trials=13), batch_size=4, seed=0)
        assert [r["trial"] for r in result.history] == list(range(13))
        assert result.stop_reason == "trials"

    def test_respects_the_seconds_budget_on_the_objectives_clock(self, name):
        objective = FakeClockObjective(small_objective)
        result = search.tune(small_space(), objective, name, Budget(seconds=10), batch_size=4, seed=0)
        assert len(result.history) == 12 and result.stop_reason == "seconds"
        assert [r["elapsed_s"] for r in result.history[-4:]] == [12.0] * 4

    def test_finds_the_optimum_of_a_small_space(self, name):
        space = small_space()
        size = len(space.enumerate())
        result = search.tune(space, small_objective, name, Budget(trials=size), batch_size=12, seed=0)
        assert result.best_config == SMALL_OPTIMUM and result.best_time == pytest.approx(1.0)
        assert len({config_key(r["config"]) for r in result.history}) == len(result.history)

    def test_exhausting_a_tiny_space_returns_fewer_configs(self, name):
        space = tiny_space()
        strategy = search.make_strategy(name, space, seed=0)
        configs = strategy.ask(10)
        assert len(configs) == 6 and set(map(config_key, configs)) == set(map(config_key, space.enumerate()))
        assert strategy.ask(3) == []
        strategy.tell(configs, [1.0 + i for i in range(len(configs))])
        assert strategy.ask(3) == []
        result = search.tune(space, lambda cs: [1.0] * len(cs), name, Budget(trials=100), seed=0)
        assert len(result.history) == 6 and result.stop_reason == "exhausted"
