"""`cost_model` on hard landscapes (mostly invalid, cliffs, one narrow basin) and with a prior."""

from __future__ import annotations

import statistics

import numpy as np
import pytest

import search
from experiments import landscapes
from search.strategies import cost_model
from search.strategies.cost_model import CostModelSearch, expected_improvement, rank_targets

SEEDS = range(6)
TRIALS = 96


@pytest.fixture(scope="module")
def hard():
    """The hard landscapes, each with a config -> time (None for failures) table."""
    out = {}
    for name in sorted(landscapes.HARD_LANDSCAPES):
        land = landscapes.make_landscape(name, 0)
        out[name] = (land, {search.config_key(r["config"]): r["time_ms"] for r in land.records})
    return out


def _median_best(land, strategy, seeds=SEEDS, trials=TRIALS, **options):
    bests = []
    for seed in seeds:
        objective = search.ReplayObjective(land.records, space=land.space, missing="invalid")
        result = search.tune(land.space, objective, strategy, search.Budget(trials=trials), seed=seed,
                             strategy_options=options)
        bests.append(result.best_time / land.optimum["time_ms"] if result.best_time else float("inf"))
    return statistics.median(bests)


class TablePrior:
    """A prior from a config -> time table: perfect (higher = faster) or pure noise."""

    def __init__(self, table, noise_seed=None):
        self.table = table
        self.rng = None if noise_seed is None else np.random.default_rng(noise_seed)
        self.calls = 0

    def predict(self, configs):
        self.calls += 1
        if self.rng is not None:
            return self.rng.random(len(configs))
        return np.asarray([-(self.table[search.config_key(c)] or 1e9) for c in configs])


@pytest.mark.parametrize("name", ["narrow_basin", pytest.param("mostly_invalid", marks=pytest.mark.xfail(
    strict=True, reason="known weakness: on 6 seeds x 96 trials the default sticks in the two-pass basin "
                        "(1.55x) on half the seeds; see the branch report"))])
def test_beats_random_search_on_hard_landscapes(hard, name):
    land, _ = hard[name]
    ours, chance = _median_best(land, "cost_model"), _median_best(land, "random")
    # 10% under random's median: the pre-#12 strategy reaches 1.40 here against random's 1.46, so it fails
    assert ours < 0.9 * chance, (ours, chance)


def test_a_perfect_prior_finds_the_optimum_in_the_first_batches(hard):
    for name, (land, table) in hard.items():
        for seed in range(3):
            objective = search.ReplayObjective(land.records, space=land.space, missing="invalid")
            result = search.tune(land.space, objective, "cost_model", search.Budget(trials=16), seed=seed,
                                 strategy_options={"prior": TablePrior(table)})
            assert result.best_time == land.optimum["time_ms"], (name, seed, result.best_time)


def test_a_random_prior_is_no_worse_than_random_search(hard):
    for land, table in hard.values():
        with_noise = _median_best(land, "cost_model", prior=TablePrior(table, noise_seed=1))
        assert with_noise <= _median_best(land, "random")


def test_first_batch_with_a_prior_is_its_top_picks_kept_diverse(hard):
    land, table = hard["narrow_basin"]
    prior = TablePrior(table)
    strategy = CostModelSearch(land.space, seed=0, prior=prior)
    batch = strategy.ask(8)
    assert prior.calls > 0
    assert search.config_key(land.optimum["config"]) in {search.config_key(c) for c in batch}
    for i, a in enumerate(batch):  # every pick differs from the others in at least two knobs
        assert all(sum(a[k] != b[k] for k in land.space.names) >= 2 for b in batch[:i])
    times = [table[search.config_key(c)] for c in batch]
    assert all(t is not None for t in times)  # a perfect prior ranks failures last


def test_prior_is_a_model_feature_once_results_arrive():
    from search_testkit import small_objective, small_space

    class Recording:
        def fit(self, X, y):
            self.X = np.array(X)
            return self

        def predict(self, X):
            return np.asarray(X)[:, 0]

    class Prior:
        def predict(self, configs):
            return np.asarray([float(c["stages"]) for c in configs])

    model = Recording()
    strategy = CostModelSearch(small_space(), seed=0, model=model, prior=Prior(), initial=4)
    configs = strategy.ask(4)
    strategy.tell(configs, small_objective(configs))
    strategy.ask(4)
    assert model.X.shape[1] == small_space().encoded_size + 2 + 1  # encoding, block x warps, block / warps
    assert model.X[:, -1].tolist() == [float(c["stages"]) for c in configs]


def test_prior_paths_go_through_the_registered_loader():
    from search_testkit import small_space

    with pytest.raises(ValueError, match="no prior loader"):
        CostModelSearch(small_space(), prior="model.joblib")

    class Loaded:
        def predict(self, configs):
            return np.zeros(len(configs))

    seen = []
    cost_model.set_prior_loader(lambda path: seen.append(path) or Loaded())
    try:
        strategy = CostModelSearch(small_space(), prior="model.joblib")
    finally:
        cost_model.set_prior_loader(None)
    assert seen == ["model.joblib"] and isinstance(strategy.prior, Loaded)
    with pytest.raises(TypeError, match="predict"):
        CostModelSearch(small_space(), prior=object())


def test_rank_targets_and_expected_improvement():
    assert rank_targets([3.0, 1.0, 2.0, 1.0]).tolist() == pytest.approx([1.0, 0.0, 2 / 3, 0.0])
    ei = expected_improvement(np.array([0.0, 0.5, 0.5]), np.array([0.1, 0.1, 0.5]), best=0.2)
    assert ei[0] > ei[2] > ei[1] > 0  # better mean wins; more spread helps a worse mean


def test_ties_are_broken_with_the_strategys_rng():
    from search_testkit import small_space

    firsts = set()
    for seed in range(6):
        picks = CostModelSearch(small_space(), seed=seed)._top(np.zeros(40), 4)
        assert len(set(picks)) == 4
        firsts.add(tuple(sorted(picks)))
    assert len(firsts) > 1 and (0, 1, 2, 3) not in firsts  # a stable argsort would always give 0..3
    assert CostModelSearch(small_space(), seed=0)._top(np.arange(10.0), 3) == [9, 8, 7]
