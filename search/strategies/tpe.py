"""`TPE`: Optuna's multivariate TPE sampler, driven through optuna's ask/tell interface.

Parameters map to optuna distributions (list elements are named `name[i]`):

- `PowerOfTwo` -> IntDistribution over the exponent (log2);
- `Integer` -> IntDistribution(low, high);
- `Enum` -> categorical over the choice index; `Boolean` -> categorical [False, True];
- `Permutation` -> categorical over its index in lexicographic order when n! <= 120 (n <= 5),
  else n "rank keys" (floats in [0, 1], `name.rank{i}`) whose sort order is the permutation;
- `ListOf` -> element by element.

Failures are told as +inf by default (`failure="penalty"`), so TPE learns to avoid failing
regions; `failure="fail"` tells `TrialState.FAIL` instead (TPE then ignores them).

Distinctness: a proposal is repaired with `Space.normalize`; one that repeats a measured config is
told that config's result at once (real information, not a guess) and one that repeats a pending
config waits for its result; after `retries` such repeats the slot takes a random unseen config,
which optuna learns about through `add_trial` when its result arrives.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Mapping

from search.errors import InvalidConfig
from search.outcomes import Observation
from search.params import Boolean, Enum, Integer, Parameter, PowerOfTwo
from search.params_seq import ListOf, Permutation, freeze
from search.space import Config, Space, config_key
from search.strategy import Strategy

#: Permutations with at most this many orderings are one categorical; larger ones use rank keys.
MAX_PERMUTATION_CHOICES = 120


def _import_optuna() -> Any:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


class _OptunaCodec:
    """Translates configs to optuna params (and back) with one distribution per scalar knob."""

    def __init__(self, space: Space, distributions: Any):
        self._d = distributions
        self.space = space
        self.distributions: dict[str, Any] = {}
        self._orderings: dict[int, list[tuple[int, ...]]] = {}
        for name, param in space.params.items():
            self._declare(name, param)

    def _declare(self, key: str, param: Parameter) -> None:
        d = self._d
        if isinstance(param, PowerOfTwo):
            self.distributions[key] = d.IntDistribution(*param.exponents)
        elif isinstance(param, Integer):
            self.distributions[key] = d.IntDistribution(param.low, param.high)
        elif isinstance(param, Enum):
            self.distributions[key] = d.CategoricalDistribution(list(range(len(param.choices))))
        elif isinstance(param, Boolean):
            self.distributions[key] = d.CategoricalDistribution([False, True])
        elif isinstance(param, Permutation) and param.cardinality() <= MAX_PERMUTATION_CHOICES:
            self._orderings.setdefault(param.n, [tuple(p) for p in param.values()])
            self.distributions[key] = d.CategoricalDistribution(list(range(param.cardinality())))
        elif isinstance(param, Permutation):
            for i in range(param.n):
                self.distributions[f"{key}.rank{i}"] = d.FloatDistribution(0.0, 1.0)
        elif isinstance(param, ListOf):
            for i, element in enumerate(param.elements):
                self._declare(f"{key}[{i}]", element)
        else:
            raise TypeError(f"the tpe strategy has no optuna mapping for {type(param).__name__}")

    def to_params(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """Optuna params of a (valid) config."""
        out: dict[str, Any] = {}
        for name, param in self.space.params.items():
            self._to(name, param, config[name], out)
        return out

    def _to(self, key: str, param: Parameter, value: Any, out: dict[str, Any]) -> None:
        if isinstance(param, PowerOfTwo):
            out[key] = int(value).bit_length() - 1
        elif isinstance(param, Enum):
            out[key] = param.index(value)
        elif isinstance(param, Permutation) and f"{key}.rank0" not in self.distributions:
            out[key] = self._orderings[param.n].index(freeze(value))
        elif isinstance(param, Permutation):
            for i, rank in enumerate(param.encode(value)):
                out[f"{key}.rank{i}"] = rank
        elif isinstance(param, ListOf):
            for i, (element, item) in enumerate(zip(param.elements, value)):
                self._to(f"{key}[{i}]", element, item, out)
        else:
            out[key] = value

    def from_params(self, params: Mapping[str, Any]) -> Config:
        """The config that optuna params describe."""
        return {name: self._from(name, param, params) for name, param in self.space.params.items()}

    def _from(self, key: str, param: Parameter, params: Mapping[str, Any]) -> Any:
        if isinstance(param, PowerOfTwo):
            return 1 << int(params[key])
        if isinstance(param, Enum):
            return param.choices[int(params[key])]
        if isinstance(param, Permutation) and key in params:
            return list(self._orderings[param.n][int(params[key])])
        if isinstance(param, Permutation):
            return param.decode([params[f"{key}.rank{i}"] for i in range(param.n)])
        if isinstance(param, ListOf):
            return [self._from(f"{key}[{i}]", e, params) for i, e in enumerate(param.elements)]
        if isinstance(param, Boolean):
            return bool(params[key])
        return int(params[key])


class TPE(Strategy):
    """Optuna `TPESampler(multivariate=True, constant_liar=True)` behind the ask/tell contract."""

    name = "tpe"
    default_options = {"n_startup_trials": 10, "n_ei_candidates": 24, "failure": "penalty", "retries": 3}

    def __init__(self, space: Space, *, seed: int | None = None, **options: Any):
        super().__init__(space, seed=seed, **options)
        if self.options["failure"] not in ("penalty", "fail"):
            raise ValueError(f"tpe failure={self.options['failure']!r}; use 'penalty' or 'fail'")
        optuna = _import_optuna()
        self._optuna = optuna
        self._codec = _OptunaCodec(space, optuna.distributions)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            sampler = optuna.samplers.TPESampler(
                multivariate=True, constant_liar=True, seed=int(self.rng.integers(2**31 - 1)),
                n_startup_trials=self.options["n_startup_trials"],
                n_ei_candidates=self.options["n_ei_candidates"])
        self._study = optuna.create_study(direction="minimize", sampler=sampler)
        self._waiting: dict[tuple, list[Any]] = {}
        self._results: dict[tuple, Observation] = {}

    def _propose(self, n: int) -> list[Config]:
        out: list[Config] = []
        keys: set[tuple] = set()
        for _ in range(n):
            config = self._ask_optuna(keys)
            if config is None:
                found = self._random_unseen(1, set(keys))
                if not found:
                    break
                config = found[0]
            out.append(config)
            keys.add(config_key(config))
        return out

    def _ask_optuna(self, keys: set[tuple]) -> Config | None:
        for _ in range(self.options["retries"]):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", self._optuna.exceptions.ExperimentalWarning)
                trial = self._study.ask(self._codec.distributions)
            try:
                config = self.space.normalize(self._codec.from_params(trial.params))
            except InvalidConfig:
                self._finish(trial, Observation("invalid"))
                continue
            key = config_key(config)
            if key in self._results:
                self._finish(trial, self._results[key])
                continue
            self._waiting.setdefault(key, []).append(trial)
            if key in self._pending or key in keys:
                continue
            return config
        return None

    def _finish(self, trial: Any, observation: Observation) -> None:
        if observation.ok:
            self._study.tell(trial, observation.time_ms)
        elif self.options["failure"] == "penalty":
            self._study.tell(trial, math.inf)
        else:
            self._study.tell(trial, state=self._optuna.trial.TrialState.FAIL)

    def _observe(self, configs: list[Config], observations: list[Observation]) -> None:
        for config, observation in zip(configs, observations):
            key = config_key(config)
            self._results.setdefault(key, observation)
            trials = self._waiting.pop(key, [])
            for trial in trials:
                self._finish(trial, observation)
            if not trials:
                self._add_trial(config, observation)

    def _add_trial(self, config: Config, observation: Observation) -> None:
        """Tell optuna about a config it did not propose."""
        TrialState = self._optuna.trial.TrialState
        if observation.ok or self.options["failure"] == "penalty":
            value, state = (observation.time_ms if observation.ok else math.inf), TrialState.COMPLETE
        else:
            value, state = None, TrialState.FAIL
        trial = self._optuna.trial.create_trial(
            params=self._codec.to_params(config), distributions=self._codec.distributions,
            value=value, state=state)
        self._study.add_trial(trial)
