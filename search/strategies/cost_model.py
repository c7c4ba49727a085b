"""`CostModelSearch`: screen many candidates with learned models, measure only the promising ones.

Each ask builds a pool of unseen candidates (every valid one-knob neighbour of the best
`neighbors_of` configs, mutants of the best `parents`, random samples) and scores it with two
ExtraTrees models refit on everything told so far. Features: `space.encode`, plus log2(a*b) and
log2(a/b) for each pair of power-of-two knobs (tile areas, elements per thread: the quantities
that cliffs and resource limits depend on).

- A feasibility classifier, P(the config runs), trained on every result, so the failures of a
  mostly invalid space say where not to go.
- A speed regressor trained on the measured configs only, on rank targets (rank / count), so a
  cliff that makes a config 2x slower weighs no more than any other step in the ordering.

With `acquisition="mixed"` (the default) the exploit picks of a batch alternate between two
rankings: P(valid) x expected improvement over the best rank (mean and spread over the forest's
trees, which explores where the trees disagree) and P(valid) x rank of the predicted mean
(exploitation); "ei" and "mean" use one of them. Ties are broken with the strategy's RNG. An
`explore` fraction of each batch is uniformly random unseen configs, and the first `initial`
trials are the default plus random samples. A `model=` without `estimators_` is scored by its
mean prediction.

Why the earlier version lost to random search (run `python -m experiments.cost_model_diagnosis
--probe` and `--ablations`): it was pure exploitation of the incumbents' neighbourhood. Its
exploit picks were 93-100% mutants of the fastest configs (its pool was half random, but the
model never ranked those first), and its "exploration" was drawn from the rest of that same
pool, so on a landscape whose broad plateau slopes away from one narrow basin (`narrow_basin` in
experiments/landscapes.py) every batch followed the slope: several seeds ended on the same decoy
corner at 1.43x the optimum. Ties among predictions were not the cause: predictions over a pool
were 92-98% distinct and a tie at the exploit cut (8-25% of asks) picked the random half, if
anything. Flat failure targets did not make it walk into invalid regions (12-29% of its trials
failed, on spaces where 64-74% of configs fail), but they did flatten the model on the mostly
invalid space (53% distinct predictions on the seed that stuck at 1.73x).

Prior: `prior=` takes any object with `predict(configs: list[dict]) -> array` (higher means
predicted faster), or a path to a model file read by `load_prior` (through a loader registered
with `set_prior_loader`, e.g. by the `cost_models` package; `search` does not import it). With a
prior and nothing measured, the first batch is the prior's top picks from `prior_pool` random
configs, each climbed by one-knob moves on the prior's score, kept diverse (two knobs apart).
Afterwards the prior's score is one more model feature, its top picks join each pool, and its
rank is blended into every score with weight `prior_weight * prior_trials / (prior_trials +
measured)`, so the online models take over as measurements arrive.
"""

from __future__ import annotations

import math
import os
from typing import Any, Callable, Sequence

import numpy as np

from search.errors import InvalidConfig
from search.operators import mutate_config
from search.params import PowerOfTwo
from search.params_seq import ListOf
from search.outcomes import Observation
from search.space import Config, Space, config_key
from search.strategy import Strategy

_PRIOR_LOADER: Callable[[str], Any] | None = None


def set_prior_loader(loader: Callable[[str], Any] | None) -> None:
    """Registers the function that turns a model-file path into a prior (an object with
    `predict(configs)`); the `cost_models` package is expected to register its own."""
    global _PRIOR_LOADER
    _PRIOR_LOADER = loader


def load_prior(path: str | os.PathLike) -> Any:
    """The prior stored at `path`, read by the registered loader."""
    if _PRIOR_LOADER is None:
        raise ValueError(f"cost_model prior={str(path)!r} is a path, but no prior loader is registered; "
                         "call search.strategies.cost_model.set_prior_loader(...) or pass an object with predict()")
    return _PRIOR_LOADER(os.fspath(path))


def log2_columns(space: Space, limit: int = 8) -> list[int]:
    """Positions in `space.encode` that hold log2 of a power-of-two knob (ListOf elements too),
    the first `limit` of them."""
    columns, start = [], 0
    for param in space.params.values():
        elements = param.elements if isinstance(param, ListOf) else (param,)
        offset = start
        for element in elements:
            if isinstance(element, PowerOfTwo):
                columns.append(offset)
            offset += element.encoded_size
        start += param.encoded_size
    return columns[:limit]


def default_model(random_state: int, trees: int = 48) -> Any:
    """The default speed regressor: ExtraTrees, leaves of 2, one thread."""
    from sklearn.ensemble import ExtraTreesRegressor

    return ExtraTreesRegressor(n_estimators=trees, min_samples_leaf=2, random_state=random_state, n_jobs=1)


def default_classifier(random_state: int, trees: int = 48) -> Any:
    """The feasibility classifier: ExtraTrees, one thread."""
    from sklearn.ensemble import ExtraTreesClassifier

    return ExtraTreesClassifier(n_estimators=trees, min_samples_leaf=1, random_state=random_state, n_jobs=1)


def expected_improvement(mean: np.ndarray, spread: np.ndarray, best: float) -> np.ndarray:
    """E[max(best - y, 0)] for y ~ Normal(mean, spread) (minimization); spread 0 gives best - mean."""
    spread = np.maximum(spread, 1e-9)
    z = (best - mean) / spread
    cdf = 0.5 * (1.0 + np.vectorize(math.erf)(z / math.sqrt(2.0)))
    pdf = np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    return (best - mean) * cdf + spread * pdf


def rank_targets(times: Sequence[float]) -> np.ndarray:
    """Each time's rank among `times` scaled to [0, 1] (0 = fastest; equal times share a rank)."""
    times = np.asarray(times, dtype=float)
    if len(times) < 2:
        return np.zeros(len(times))
    ranks = np.searchsorted(np.sort(times), times, side="left")
    return ranks / (len(times) - 1)


def _scaled_ranks(scores: np.ndarray) -> np.ndarray:
    """Ranks of `scores` in [0, 1], 1 for the highest."""
    if len(scores) < 2:
        return np.ones(len(scores))
    return np.argsort(np.argsort(scores, kind="stable"), kind="stable") / (len(scores) - 1)


class CostModelSearch(Strategy):
    """Model-screened search: P(valid) x expected improvement over a local + global pool."""

    name = "cost_model"
    default_options = {"model": None, "prior": None, "candidates": 256, "explore": 0.25, "initial": 16,
                       "parents": 8, "neighbors_of": 3, "targets": "rank", "feasibility": True, "acquisition": "mixed", "trees": 48,
                       "explore_valid": False, "pair_features": True,
                       "prior_weight": 0.5, "prior_trials": 16, "prior_pool": 2048}

    def __init__(self, space: Space, *, seed: int | None = None, **options: Any):
        super().__init__(space, seed=seed, **options)
        model = self.options["model"]
        if model is not None and not (callable(getattr(model, "fit", None)) and callable(getattr(model, "predict", None))):
            raise TypeError(f"cost_model model= needs fit(X, y) and predict(X) methods, got {model!r}")
        if not 0.0 <= self.options["explore"] <= 1.0:
            raise ValueError(f"cost_model explore={self.options['explore']} must be in [0, 1]")
        if self.options["targets"] not in ("rank", "log"):
            raise ValueError(f"cost_model targets={self.options['targets']!r}; use 'rank' or 'log'")
        if self.options["acquisition"] not in ("ei", "mean", "mixed"):
            raise ValueError(f"cost_model acquisition={self.options['acquisition']!r}; use 'ei', 'mean' or 'mixed'")
        prior = self.options["prior"]
        if isinstance(prior, (str, os.PathLike)):
            prior = load_prior(prior)
        if prior is not None and not callable(getattr(prior, "predict", None)):
            raise TypeError(f"cost_model prior= needs a predict(configs) method or a model path, got {prior!r}")
        self.prior = prior
        self.model = model if model is not None else default_model(int(self.rng.integers(2**31 - 1)),
                                                                      self.options["trees"])
        self.classifier = default_classifier(int(self.rng.integers(2**31 - 1)), self.options["trees"])
        self._fitted_on = -1
        self._classifier_fitted = False
        self._log_columns = log2_columns(space) if self.options["pair_features"] else []

    # -- proposing -------------------------------------------------------------------------------

    def _propose(self, n: int) -> list[Config]:
        measured = sum(o.ok for _, o in self.told)
        if self.prior is not None and measured == 0:
            return self._prior_picks(n)
        if len(self.told) < self.options["initial"] or measured == 0:
            return self._design(n)
        self._refit()
        n_random = int(round(self.options["explore"] * n)) if n > 1 else 0
        keys: set[tuple] = set()
        pool = self._pool(max(self.options["candidates"], 2 * n), keys)
        chosen = self._pick(pool, self._scores(pool), n - n_random)
        return chosen + self._explorers(n - len(chosen), {config_key(c) for c in chosen})

    def _pick(self, pool: list[Config], scores: list[np.ndarray], k: int) -> list[Config]:
        """k configs taken in turn from the top of each score's ranking."""
        rankings = [self._top(s, len(pool)) for s in scores]
        chosen: list[int] = []
        taken: set[int] = set()
        while len(chosen) < min(k, len(pool)):
            for ranking in rankings:
                index = next((i for i in ranking if i not in taken), None)
                if index is not None and len(chosen) < k:
                    chosen.append(index)
                    taken.add(index)
        return [pool[i] for i in chosen]

    def _explorers(self, k: int, keys: set[tuple]) -> list[Config]:
        """k random unseen configs, drawn from the likelier-valid half of 4k random samples when
        the feasibility classifier is fitted (so exploration is not spent on invalid regions)."""
        if not (self._classifier_fitted and self.options["explore_valid"]) or k == 0:
            return self._random_unseen(k, keys)
        samples = self._random_unseen(4 * k, set(keys))
        if len(samples) <= k:
            return samples
        p_valid = self._p_valid(self._features(samples))
        likely = np.argsort(-p_valid + 1e-6 * self.rng.random(len(samples)), kind="stable")[: max(k, len(samples) // 2)]
        return [samples[int(i)] for i in self.rng.choice(likely, size=k, replace=False)]

    def _design(self, n: int) -> list[Config]:
        """The default config (if new) plus random unseen configs."""
        out, keys = [], set()
        default = self.space.default()
        if self.is_new(default):
            out.append(default)
            keys.add(config_key(default))
        return out + self._random_unseen(n - len(out), keys)

    def _top(self, scores: np.ndarray, k: int) -> list[int]:
        """Indices of the k highest scores; ties broken at random with the strategy's RNG."""
        jitter = self.rng.random(len(scores))
        return [int(i) for i in np.lexsort((jitter, -scores))[:k]]

    # -- models ----------------------------------------------------------------------------------

    def _features(self, configs: Sequence[Config]) -> np.ndarray:
        """`space.encode`, then log2(a * b) and log2(a / b) for each pair of power-of-two knobs
        (tile areas, elements per thread: where the cliffs and limits are), then the prior."""
        X = self.space.encode_many(configs)
        if len(self._log_columns) > 1:
            logs = X[:, self._log_columns]
            i, j = np.triu_indices(len(self._log_columns), k=1)
            X = np.column_stack([X, logs[:, i] + logs[:, j], logs[:, i] - logs[:, j]])
        if self.prior is not None:
            X = np.column_stack([X, self._prior_scores(configs)])
        return X

    def _prior_scores(self, configs: Sequence[Config]) -> np.ndarray:
        scores = np.asarray(self.prior.predict([dict(c) for c in configs]), dtype=float).reshape(-1)
        if len(scores) != len(configs):
            raise ValueError(f"cost_model prior returned {len(scores)} scores for {len(configs)} configs")
        finite = np.isfinite(scores)
        if not finite.all():  # a NaN or inf score ranks as the worst finite one
            scores = np.where(finite, scores, scores[finite].min() if finite.any() else 0.0)
        return scores

    def _refit(self) -> None:
        if self._fitted_on == len(self.told):
            return
        configs = [c for c, _ in self.told]
        X = self._features(configs)
        ok = np.asarray([o.ok for _, o in self.told])
        self.model.fit(X[ok], self._targets([o for _, o in self.told if o.ok]))
        self._classifier_fitted = bool(self.options["feasibility"] and 0 < ok.sum() < len(ok))
        if self._classifier_fitted:
            self.classifier.fit(X, ok.astype(int))
        self._fitted_on = len(self.told)

    def _p_valid(self, X: np.ndarray) -> np.ndarray:
        return self.classifier.predict_proba(X)[:, list(self.classifier.classes_).index(1)]

    def _targets(self, observations: list[Observation]) -> np.ndarray:
        times = [max(o.time_ms, 1e-12) for o in observations]
        if self.options["targets"] == "rank":
            return rank_targets(times)
        return np.log(np.asarray(times))

    def _scores(self, pool: list[Config]) -> list[np.ndarray]:
        """One score vector (higher is better) per acquisition: P(valid) x expected improvement
        and/or P(valid) x rank of the predicted mean, each blended with the prior's rank."""
        X = self._features(pool)
        trees = getattr(self.model, "estimators_", None)
        if trees:
            per_tree = np.stack([tree.predict(X) for tree in trees])
            mean, spread = per_tree.mean(axis=0), per_tree.std(axis=0)
        else:
            mean, spread = np.asarray(self.model.predict(X), dtype=float), None
        p_valid = self._p_valid(X) if self._classifier_fitted else np.ones(len(pool))
        scores = []
        if spread is not None and self.options["acquisition"] in ("ei", "mixed"):
            best = float(np.min(self._targets([o for _, o in self.told if o.ok])))
            scores.append(expected_improvement(mean, spread, best) * p_valid)
        if not scores or self.options["acquisition"] in ("mean", "mixed"):
            scores.append(_scaled_ranks(-mean) * p_valid)
        if self.prior is not None:
            measured = sum(o.ok for _, o in self.told)
            weight = self.options["prior_weight"] * self.options["prior_trials"] / (self.options["prior_trials"] + measured)
            scores = [(1 - weight) * _scaled_ranks(s) + weight * _scaled_ranks(X[:, -1]) for s in scores]
        return scores

    # -- candidate pools ---------------------------------------------------------------------------

    def _pool(self, size: int, keys: set[tuple]) -> list[Config]:
        """Unseen candidates: neighbours of the best few, mutants of the best `parents`, random."""
        pool: list[Config] = []
        ranked = [c for c, _ in self.ranked()]
        for config in ranked[: self.options["neighbors_of"]]:
            for neighbor in self.space.neighbors(config):
                if self.is_new(neighbor, keys):
                    pool.append(neighbor)
                    keys.add(config_key(neighbor))
        pool += self._mutants(ranked[: self.options["parents"]], size // 2, keys)
        pool += self._random_unseen(size - size // 2, keys)
        if self.prior is not None:
            pool += self._prior_refined(self.options["prior_pool"] // 4, 8, keys)
        return pool

    def _mutants(self, parents: list[Config], k: int, keys: set[tuple]) -> list[Config]:
        out: list[Config] = []
        for _ in range(4 * k):
            if len(out) >= k or not parents:
                break
            parent = parents[int(self.rng.integers(len(parents)))]
            try:
                child = self.space.normalize(mutate_config(self.space, parent, self.rng))
            except InvalidConfig:
                continue
            if self.is_new(child, keys):
                out.append(child)
                keys.add(config_key(child))
        return out

    def _prior_refined(self, samples: int, keep: int, keys: set[tuple]) -> list[Config]:
        """The prior's `keep` best of `samples` random configs, each improved by greedy one-knob
        moves on the prior's score (a few rounds), all unseen and not in `keys`."""
        candidates = self._random_unseen(samples, set(keys))
        if not candidates:
            return []
        scores = self._prior_scores(candidates)
        order = np.argsort(-scores, kind="stable")[:keep]
        top = [candidates[int(i)] for i in order]
        out: list[Config] = []
        for config in self._climb_prior(top, scores[order]) + top:  # climbed first, then the starts
            if self.is_new(config, keys):
                out.append(config)
                keys.add(config_key(config))
        return out

    def _climb_prior(self, configs: list[Config], scores: np.ndarray, rounds: int = 6) -> list[Config]:
        """Greedy one-knob moves of each config to unseen neighbours while the prior's score
        improves; all climbs step together, so each round asks the prior once."""
        configs, scores = list(configs), [float(x) for x in scores]
        active = list(range(len(configs)))
        for _ in range(rounds):
            steps = {i: [c for c in self.space.neighbors(configs[i]) if self.is_new(c)] for i in active}
            active = [i for i in active if steps[i]]
            if not active:
                break
            flat = [c for i in active for c in steps[i]]
            flat_scores = self._prior_scores(flat)
            start, still = 0, []
            for i in active:
                mine = flat_scores[start:start + len(steps[i])]
                start += len(steps[i])
                best = int(np.argmax(mine))
                if mine[best] > scores[i]:
                    configs[i], scores[i] = steps[i][best], float(mine[best])
                    still.append(i)
            active = still
        return configs

    def _prior_picks(self, n: int) -> list[Config]:
        """The first batch with a prior: its top picks, refined by local moves, kept diverse (each
        pick differs from the earlier ones in at least two parameters while enough remain)."""
        keys: set[tuple] = set()
        candidates = self._prior_refined(self.options["prior_pool"], max(4 * n, 16), keys)
        default = self.space.default()
        if self.is_new(default, keys):
            candidates.append(default)
        order = np.argsort(-self._prior_scores(candidates), kind="stable")
        chosen: list[Config] = []
        for i in order:
            config = candidates[int(i)]
            if all(sum(config[k] != c[k] for k in self.space.names) >= 2 for c in chosen):
                chosen.append(config)
            if len(chosen) == n:
                return chosen
        chosen_keys = {config_key(c) for c in chosen}
        chosen += [candidates[int(i)] for i in order if config_key(candidates[int(i)]) not in chosen_keys]
        return chosen[:n]
