"""Tests of the strategy registry, options checking and a user-defined strategy."""

from __future__ import annotations

import pytest

import search
from search import Budget
from search.strategies import BUILTIN_STRATEGIES, Genetic, RandomSearch
from search_testkit import SMALL_OPTIMUM, small_objective, small_space


def test_builtins_are_registered():
    assert set(search.available_strategies()) >= {"random", "genetic", "tpe", "pattern", "cost_model", "portfolio"}
    assert all(search.strategy_class(name) is cls for name, cls in BUILTIN_STRATEGIES.items())


def test_duplicate_names_are_refused_unless_replaced():
    class Other(RandomSearch):
        pass

    with pytest.raises(ValueError, match="'random' is already registered.*replace=True"):
        search.register("random", Other)
    try:
        search.register("random", Other, replace=True)
        assert search.strategy_class("random") is Other
    finally:
        search.register("random", RandomSearch, replace=True)
    assert search.strategy_class("random") is RandomSearch


def test_unknown_name_lists_the_known_names():
    with pytest.raises(ValueError, match="unknown strategy 'tpee'.*cost_model.*genetic.*tpe"):
        search.make_strategy("tpee", small_space())


def test_unknown_option_names_it_and_the_known_ones():
    with pytest.raises(TypeError, match=r"unknown option\(s\) \['populaton'\].*population.*tournament"):
        search.make_strategy("genetic", small_space(), populaton=8)
    assert search.make_strategy("genetic", small_space(), population=8).options["population"] == 8


def test_register_refuses_things_that_are_not_strategies():
    with pytest.raises(TypeError, match="ask, tell and best"):
        search.register("bad", object)


def test_make_strategy_accepts_classes_and_instances():
    space = small_space()
    by_class = search.make_strategy(Genetic, space, seed=4)
    assert isinstance(by_class, Genetic) and by_class.seed == 4
    assert search.make_strategy(by_class, space) is by_class
    with pytest.raises(TypeError, match="options"):
        search.make_strategy(by_class, space, population=3)
    with pytest.raises(ValueError, match="seed"):
        search.make_strategy(by_class, space, seed=5)


def test_a_user_strategy_in_a_few_lines_works_through_tune():
    try:
        @search.register("best_neighbor")
        class BestNeighbor(search.Strategy):
            def _propose(self, n):
                ranked = self.ranked()
                if not ranked:
                    return [self.space.default()]
                return [c for c in self.space.neighbors(ranked[0][0]) if self.is_new(c)][:n]

        result = search.tune(small_space(), small_objective, "best_neighbor", Budget(trials=60), batch_size=4, seed=0)
        assert result.strategy == "best_neighbor" and result.history[0]["strategy"] == "best_neighbor"
        assert result.best_config == SMALL_OPTIMUM
        assert "best_neighbor" in search.available_strategies()
    finally:
        search.unregister("best_neighbor")
    assert "best_neighbor" not in search.available_strategies()
