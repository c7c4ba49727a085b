"""`CostModelSearch`: screen many candidates with a learned model, measure only the promising ones.

Each ask (after `initial` random measurements, the default first) builds a pool of `candidates`
unseen configs, half drawn at random and half mutated from the fastest measured configs, and
predicts their log time with a model refit on everything told so far (`space.encode` features,
log(time) targets; failures get the worst log time plus `failure_penalty`). The batch is the
predicted-best `1 - explore` fraction plus an `explore` fraction drawn uniformly from the rest of
the pool.

The default model is a scikit-learn ExtraTreesRegressor until the `cost_models/` package ships
models; `model=` takes any object with `fit(X, y)` and `predict(X)`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from search.errors import InvalidConfig
from search.operators import mutate_config
from search.outcomes import Observation
from search.space import Config, Space, config_key
from search.strategy import Strategy


def default_model(random_state: int) -> Any:
    """The fallback regressor: ExtraTrees, 64 trees, one thread."""
    from sklearn.ensemble import ExtraTreesRegressor

    return ExtraTreesRegressor(n_estimators=64, min_samples_leaf=1, random_state=random_state, n_jobs=1)


class CostModelSearch(Strategy):
    """Model-screened search: refit on every result, measure predicted-best plus exploration."""

    name = "cost_model"
    default_options = {"model": None, "candidates": 256, "explore": 0.25, "initial": 8,
                       "parents": 8, "failure_penalty": 1.0}

    def __init__(self, space: Space, *, seed: int | None = None, **options: Any):
        super().__init__(space, seed=seed, **options)
        model = self.options["model"]
        if model is not None and not (callable(getattr(model, "fit", None)) and callable(getattr(model, "predict", None))):
            raise TypeError(f"cost_model model= needs fit(X, y) and predict(X) methods, got {model!r}")
        if not 0.0 <= self.options["explore"] <= 1.0:
            raise ValueError(f"cost_model explore={self.options['explore']} must be in [0, 1]")
        self.model = model if model is not None else default_model(int(self.rng.integers(2**31 - 1)))
        self._fitted_on = 0

    def _propose(self, n: int) -> list[Config]:
        keys: set[tuple] = set()
        if len(self.told) < self.options["initial"] or not any(o.ok for _, o in self.told):
            out = []
            default = self.space.default()
            if self.is_new(default):
                out.append(default)
                keys.add(config_key(default))
            return out + self._random_unseen(n - len(out), keys)
        self._refit()
        pool = self._pool(max(self.options["candidates"], 2 * n))
        if len(pool) <= n:
            return pool
        predicted = np.asarray(self.model.predict(self.space.encode_many(pool)), dtype=float)
        order = [int(i) for i in np.argsort(predicted, kind="stable")]
        n_exploit = n - int(round(self.options["explore"] * n)) if n > 1 else 1
        chosen = order[:n_exploit]
        rest = order[n_exploit:]
        picks = self.rng.choice(len(rest), size=n - n_exploit, replace=False)
        chosen += [rest[int(i)] for i in picks]
        return [pool[i] for i in chosen]

    def _refit(self) -> None:
        if self._fitted_on == len(self.told):
            return
        configs = [c for c, _ in self.told]
        X = self.space.encode_many(configs)
        self.model.fit(X, self._targets([o for _, o in self.told]))
        self._fitted_on = len(self.told)

    def _targets(self, observations: list[Observation]) -> np.ndarray:
        logs = [math.log(max(o.time_ms, 1e-12)) for o in observations if o.ok]
        penalty = (max(logs) if logs else 0.0) + self.options["failure_penalty"]
        return np.asarray([math.log(max(o.time_ms, 1e-12)) if o.ok else penalty for o in observations])

    def _pool(self, size: int) -> list[Config]:
        """Unseen candidates: half random, half mutants of the fastest measured configs."""
        keys: set[tuple] = set()
        pool = self._random_unseen(size // 2, keys)
        parents = [c for c, _ in self.ranked()[: self.options["parents"]]]
        for _ in range(4 * (size - len(pool))):
            if len(pool) >= size:
                break
            parent = parents[int(self.rng.integers(len(parents)))]
            try:
                child = self.space.normalize(mutate_config(self.space, parent, self.rng))
            except InvalidConfig:
                continue
            if self.is_new(child, keys):
                pool.append(child)
                keys.add(config_key(child))
        return pool
