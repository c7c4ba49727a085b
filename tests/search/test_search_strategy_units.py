"""Unit tests of the Strategy base's safety net and of each built-in strategy's own mechanics."""

from __future__ import annotations

import numpy as np
import pytest

import search
from search import Budget, Enum, Failure, ListOf, Permutation, PowerOfTwo, Space, config_key
from search.strategies import CostModelSearch, Portfolio
from search.strategies.pattern import paired_moves, repaired_moves
from search.strategies.tpe import _OptunaCodec
from search_testkit import mixed_objective, mixed_space, small_objective, small_space


class Stubborn(search.Strategy):
    """Proposes the default again and again, plus configs outside the space."""

    def _propose(self, n):
        return [self.space.default()] * n + [{"block": 3}, {"nonsense": 1}]


def test_the_base_keeps_batches_distinct_valid_and_full():
    space = small_space()
    strategy = Stubborn(space, seed=0)
    first, second = strategy.ask(5), strategy.ask(5)
    assert first[0] == space.default()
    assert len({config_key(c) for c in first + second}) == 10 and all(space.contains(c) for c in first + second)
    assert space.default() not in second


def test_ask_and_tell_arguments_and_copies():
    strategy = search.make_strategy("random", small_space(), seed=0)
    assert strategy.ask(0) == []
    with pytest.raises(ValueError, match="n >= 0"):
        strategy.ask(-1)
    batch = strategy.ask(2)
    with pytest.raises(ValueError, match="2 configs but 1 outcomes"):
        strategy.tell(batch, [1.0])
    batch[0]["order"].append(5)  # callers may mutate what they got
    assert all(small_space().contains(c) for c in strategy.pending)


def test_genetic_starts_from_the_default_and_breeds_from_measured_parents():
    space = mixed_space()
    strategy = search.make_strategy("genetic", space, seed=0, population=6)
    first = strategy.ask(6)
    assert first[0] == space.default()
    strategy.tell(first, mixed_objective(first))
    children = strategy.ask(6)
    parents = {config_key(c) for c in first}
    assert not parents & {config_key(c) for c in children}
    # a child shares most knobs with some measured parent (crossover + a few mutations)
    for child in children:
        assert max(sum(child[k] == p[k] for k in space.names) for p in first) >= len(space) // 2


def test_pattern_paired_moves_double_one_block_and_halve_another():
    space = Space({"block_m": PowerOfTwo(16, 128), "sizes": ListOf([PowerOfTwo(16, 64), PowerOfTwo(1, 8)])})
    center = {"block_m": 32, "sizes": [32, 2]}
    moves = paired_moves(space, center)
    slots = lambda c: [c["block_m"], *c["sizes"]]  # noqa: E731
    expected = []
    for up in range(3):
        for down in range(3):
            values = slots(center)
            values[up], values[down] = values[up] * 2, values[down] // 2
            config = {"block_m": values[0], "sizes": values[1:]}
            if up != down and space.contains(config):
                expected.append(config)
    assert sorted(map(config_key, moves)) == sorted(map(config_key, expected)) and len(moves) == 6


def _register_limited_space():
    """A tile whose accumulators per thread are capped: a wider tile needs more warps."""
    return Space({"block_m": PowerOfTwo(16, 128), "block_n": PowerOfTwo(16, 128), "warps": PowerOfTwo(1, 8)},
                 constraints=[("registers", lambda c: c["block_m"] * c["block_n"] <= 512 * c["warps"])])


def test_pattern_repaired_moves_cross_a_constraint_with_a_second_step():
    space = _register_limited_space()
    center = {"block_m": 32, "block_n": 32, "warps": 2}  # on the edge: 1024 == 512 * 2
    moves = repaired_moves(space, center)
    singles = {config_key(c) for c in space.neighbors(center)}
    assert {"block_m": 64, "block_n": 32, "warps": 4} in moves and {"block_m": 32, "block_n": 64, "warps": 4} in moves
    for move in moves:
        assert space.contains(move) and config_key(move) not in singles
        assert sum(move[k] != center[k] for k in center) == 2
    # brute force: exactly the valid two-knob moves whose first knob's step alone is invalid
    expected = set()
    for a in space.names:
        for va in space[a].neighbors(center[a]):
            if space.contains({**center, a: va}):
                continue
            for b in space.names:
                for vb in space[b].neighbors(center[b]) if b != a else []:
                    if space.contains({**center, a: va, b: vb}):
                        expected.add(config_key({**center, a: va, b: vb}))
    assert {config_key(c) for c in moves} == expected and len(moves) == len(expected)


def test_pattern_walks_along_the_constraint_edge_to_the_optimum():
    space = _register_limited_space()
    objective = lambda cs: [1.0 / (c["block_m"] * c["block_n"]) + 0.001 * c["warps"] for c in cs]  # noqa: E731
    strategy = search.make_strategy("pattern", space, seed=0, paired_moves=False)
    start = {"block_m": 32, "block_n": 32, "warps": 2}
    strategy.tell([start], objective([start]))
    moves = strategy.ask(len(space.neighbors(start)) + len(repaired_moves(space, start)))
    assert {"block_m": 64, "block_n": 32, "warps": 4} in moves  # no single-knob move improves here
    without = search.make_strategy("pattern", space, seed=0, paired_moves=False, repaired_moves=False)
    without.tell([start], objective([start]))
    assert all(sum(c[k] != start[k] for k in c) == 1 for c in without.ask(len(space.neighbors(start))))


def test_genetic_repairs_children_that_break_a_constraint():
    space = _register_limited_space()
    parents = [{"block_m": 64, "block_n": 64, "warps": 8}, {"block_m": 128, "block_n": 32, "warps": 8}]
    strategy = search.make_strategy("genetic", space, seed=0, population=2, crossover_rate=1.0)
    strategy.tell(parents, [1.0, 1.0])
    invalid = {"block_m": 64, "block_n": 128, "warps": 8}  # a crossover child over the register cap
    repaired = [strategy._repaired(invalid, set()) for _ in range(20)]
    assert {config_key(c) for c in repaired} == {config_key({**invalid, "block_m": 32})}  # the other is a parent
    strict = search.make_strategy("genetic", space, seed=0, repair=False)
    assert strict._repaired(invalid, set()) is None


def test_pattern_restarts_when_the_center_is_a_local_optimum():
    space = small_space()
    strategy = search.make_strategy("pattern", space, seed=0, paired_moves=False)
    center = {"block": 64, "warps": 4, "stages": 3, "order": [0, 1]}
    strategy.tell([center], [1.0])
    moves = strategy.ask(20)
    assert {config_key(c) for c in moves[:len(space.neighbors(center))]} == {
        config_key(c) for c in space.neighbors(center)}
    strategy.tell(moves, [2.0] * len(moves))
    restart = strategy.ask(4)
    assert all(sum(c[k] != center[k] for k in c) >= 1 for c in restart) and len(restart) == 4


class RecordingModel:
    """A model that predicts the block exponent, and records what it was fit on."""

    def __init__(self):
        self.fits = []

    def fit(self, X, y):
        self.fits.append((np.array(X), np.array(y)))
        return self

    def predict(self, X):
        return np.asarray(X)[:, 0]


def test_cost_model_fits_rank_targets_on_measured_configs_and_exploits_predictions():
    model = RecordingModel()
    strategy = CostModelSearch(small_space(), seed=0, model=model, initial=4, explore=0.0)
    first = strategy.ask(4)
    strategy.tell(first, [1.0, 4.0, 2.0, Failure("timeout")])
    batch = strategy.ask(4)
    X, y = model.fits[-1]
    size = small_space().encoded_size
    assert X.shape == (3, size + 2)  # the failure trains the classifier, not the model
    assert X[:, :size].tolist() == small_space().encode_many([c for c in first[:3]]).tolist()
    assert X[:, size].tolist() == [c["block"].bit_length() + c["warps"].bit_length() - 2 for c in first[:3]]
    assert y.tolist() == pytest.approx([0.0, 1.0, 0.5])
    assert strategy._classifier_fitted
    assert all(c["block"] == 16 for c in batch)  # the model says small blocks are fastest


def test_cost_model_log_targets_option():
    model = RecordingModel()
    strategy = CostModelSearch(small_space(), seed=0, model=model, initial=2, targets="log")
    first = strategy.ask(2)
    strategy.tell(first, [1.0, 2.0])
    strategy.ask(2)
    assert model.fits[-1][1].tolist() == pytest.approx([0.0, np.log(2.0)])


def test_cost_model_rejects_models_without_fit_and_predict():
    with pytest.raises(TypeError, match="fit.*predict"):
        CostModelSearch(small_space(), model=object())


def test_tpe_codec_round_trips_every_parameter_type():
    space = Space({**mixed_space().params, "big_order": Permutation(6)})
    import optuna

    codec = _OptunaCodec(space, optuna.distributions)
    assert codec.distributions["block_m"] == optuna.distributions.IntDistribution(4, 8)
    assert "block_sizes[1]" in codec.distributions and "big_order.rank5" in codec.distributions
    assert codec.distributions["order"] == optuna.distributions.CategoricalDistribution(list(range(6)))
    rng = np.random.default_rng(0)
    for _ in range(30):
        config = space.sample(rng)
        assert codec.from_params(codec.to_params(config)) == config


class Oracle(search.Strategy):
    """Walks the small space from its median config towards the optimum: improves often."""

    def _propose(self, n):
        ranked = sorted(self.space.enumerate(), key=lambda c: small_objective([c])[0])
        todo = [c for c in reversed(ranked[: len(ranked) // 2]) if self.is_new(c)]
        return todo[:n]


class Dud(search.Strategy):
    """Walks the small space from its worst config upwards: never improves on the oracle."""

    def _propose(self, n):
        ranked = sorted(self.space.enumerate(), key=lambda c: -small_objective([c])[0])
        return [c for c in ranked if self.is_new(c)][:n]


def test_portfolio_tells_every_member_and_favors_the_member_that_improves():
    portfolio = Portfolio(small_space(), seed=0, members=[Dud, Oracle])
    result = search.tune(small_space(), small_objective, portfolio, Budget(trials=60), batch_size=4)
    assert all(len(m.told) == 60 for m in portfolio.members)
    allocation = portfolio.allocation()
    assert sum(allocation.values()) == 60
    assert allocation["Oracle"] > 2 * allocation["Dud"]
    assert result.best_time == min(r["time_ms"] for r in result.history)


def test_portfolio_passes_member_options():
    portfolio = Portfolio(small_space(), seed=0, members=["genetic", "random"],
                          member_options={"genetic": {"population": 5}})
    assert portfolio.members[0].options["population"] == 5
    assert portfolio.member_names == ["genetic", "random"]


@pytest.mark.parametrize("failure, state, value", [("penalty", "COMPLETE", float("inf")), ("fail", "FAIL", None)])
def test_tpe_tells_failures_as_a_penalty_or_as_failed_trials(failure, state, value):
    strategy = search.make_strategy("tpe", small_space(), seed=0, failure=failure)
    configs = strategy.ask(2)
    strategy.tell(configs, [1.0, Failure("compile_error")])
    strategy.tell([{"block": 16, "warps": 1, "stages": 1, "order": [1, 0]}], ["timeout"])  # never asked
    trials = strategy._study.trials
    assert [t.state.name for t in trials] == ["COMPLETE", state, state]
    assert [t.value for t in trials] == [1.0, value, value]
    with pytest.raises(ValueError, match="'penalty' or 'fail'"):
        search.make_strategy("tpe", small_space(), failure="ignore")
