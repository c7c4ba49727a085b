"""Typed search spaces, pluggable ask/tell strategies, a tuning driver, replay and metrics.

Pure Python (numpy, optuna, scikit-learn): no torch, triton or helion here.

    import search
    from search import Space, PowerOfTwo, Integer, Enum, Boolean, Permutation, ListOf

    space = Space({"block_m": PowerOfTwo(16, 256, default=64), "warps": PowerOfTwo(1, 32, default=4),
                   "order": Permutation(2), "evict": ListOf(Enum(["", "first", "last"]), 3)},
                  constraints=[search.Constraint("small_tiles", lambda c: c["block_m"] * c["warps"] <= 2048)])
    result = search.tune(space, objective, "tpe", search.Budget(trials=200), seed=0)
    result.best_config, result.best_time, result.history

`objective(configs) -> outcomes` gets a batch of config dicts and returns, per config, a time in
ms, a `search.Measurement` or a `search.Failure(kind)`.

Adding a strategy takes a few lines: subclass `Strategy`, implement `_propose(n)` (and, to learn,
`_observe(configs, observations)`); the base keeps asks distinct, valid and new:

    @search.register("best_neighbor")
    class BestNeighbor(search.Strategy):
        def _propose(self, n):
            ranked = self.ranked()                      # [(config, time_ms)], fastest first
            if not ranked:
                return [self.space.default()]
            return [c for c in self.space.neighbors(ranked[0][0]) if self.is_new(c)][:n]

    search.tune(space, objective, "best_neighbor", search.Budget(trials=50))
"""

from search.driver import Budget, TuneResult, tune
from search.errors import InvalidConfig, InvalidValue, SearchError
from search.metrics import confidence_interval, expected_random_best, p_curve, p_score, trials_to_within
from search.outcomes import DEFERRED, FAILURE_KINDS, Failure, Measurement, Observation, observe
from search.params import Boolean, Enum, Integer, Parameter, PowerOfTwo
from search.params_seq import ListOf, Permutation, parameter_from_json
from search.records import load_records, make_record, write_records
from search.registry import available_strategies, make_strategy, register, strategy_class, unregister
from search.replay import ReplayObjective
from search.space import Config, Constraint, Space, config_key
from search.strategy import Strategy
from search import strategies  # noqa: E402,F401  (registers the built-in strategies)

__all__ = [
    "Boolean", "Budget", "Config", "Constraint", "DEFERRED", "Enum", "FAILURE_KINDS", "Failure", "Integer", "InvalidConfig",
    "InvalidValue", "ListOf", "Measurement", "Observation", "Parameter", "Permutation", "PowerOfTwo",
    "ReplayObjective", "SearchError", "Space", "Strategy", "TuneResult", "available_strategies", "config_key",
    "confidence_interval", "expected_random_best", "load_records", "make_record", "make_strategy", "observe",
    "p_curve", "p_score", "parameter_from_json", "register", "strategy_class", "trials_to_within", "tune",
    "unregister", "write_records",
]
