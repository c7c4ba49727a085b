"""scikit-learn estimators for config ranking; all follow the sklearn conventions.

The constructor only stores its keyword parameters (``random_state`` included); `fit` validates
the data, returns ``self`` and sets trailing-underscore attributes; `predict` checks it is fitted.
`get_params`/`set_params`/`clone` come from `BaseEstimator`. `tests/cost_models/test_estimators.py`
runs `sklearn.utils.estimator_checks.check_estimator` on each.

* `GBTRegressor`: histogram gradient-boosted trees (per-workload normalised targets).
* `ForestRegressor`: a random forest.
* `GBTClassifier`: boosted trees for a binary label, e.g. "in the top 10% of its workload" (the
  ``top10`` model) or "fails to compile" (the failure classifier).
* `PairwiseRanker`: learns from pairs of configs of one workload (``groups``) which one is faster:
  logistic regression on standardised feature differences (a linear score) or boosted trees on
  the differences (``base="gbt"``, scored against a fixed set of anchor rows).
* `RandomBaseline`: a score in [0, 1) from a hash of each row and ``random_state`` (deterministic,
  so it is a valid estimator), the yardstick every model must beat.

Every `predict` means "higher = better" when trained on `CostModel`'s targets.
"""

from __future__ import annotations

import hashlib
import sys
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor, RandomForestRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data as _validate_data
except ImportError:  # pragma: no cover - older scikit-learn
    def _validate_data(estimator: Any, X: Any, y: Any = "no_validation", reset: bool = True, **kwargs: Any) -> Any:
        if isinstance(y, str) and y == "no_validation":
            return estimator._validate_data(X, reset=reset, **kwargs)
        return estimator._validate_data(X, y, reset=reset, **kwargs)


def _progress(done: int, total: int, label: str) -> None:
    """A one-line stderr bar, redrawn in place."""
    width = 30
    filled = int(width * done / max(total, 1))
    sys.stderr.write(f"\r{label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
    if done >= total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def _fit_boosted(model: Any, X: np.ndarray, y: np.ndarray, n_estimators: int, progress: bool, label: str,
                 sample_weight: np.ndarray | None = None) -> Any:
    """Fit a warm-startable HistGradientBoosting model in steps of 10 iterations (for the bar)."""
    if not progress:
        model.set_params(max_iter=n_estimators)
        return model.fit(X, y, sample_weight=sample_weight)
    model.set_params(warm_start=True)
    for done in range(10, n_estimators + 10, 10):
        model.set_params(max_iter=min(done, n_estimators))
        model.fit(X, y, sample_weight=sample_weight)
        _progress(min(done, n_estimators), n_estimators, label)
    return model


class GBTRegressor(RegressorMixin, BaseEstimator):
    """Gradient-boosted trees (`HistGradientBoostingRegressor`, no early stopping)."""

    def __init__(self, n_estimators: int = 200, learning_rate: float = 0.1, max_leaf_nodes: int = 31,
                 min_samples_leaf: int = 20, l2_regularization: float = 0.0, progress: bool = False,
                 random_state: Any = None):
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.progress = progress
        self.random_state = random_state

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> GBTRegressor:
        """Fit on rows `X` and targets `y`; returns self."""
        X, y = _validate_data(self, X, y, y_numeric=True)
        self.model_ = HistGradientBoostingRegressor(
            learning_rate=self.learning_rate, max_leaf_nodes=self.max_leaf_nodes,
            min_samples_leaf=self.min_samples_leaf, l2_regularization=self.l2_regularization,
            early_stopping=False, random_state=self.random_state)
        _fit_boosted(self.model_, X, y, self.n_estimators, self.progress, "gbt", sample_weight)
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Predicted targets."""
        check_is_fitted(self)
        X = _validate_data(self, X, reset=False)
        return self.model_.predict(X)


class ForestRegressor(RegressorMixin, BaseEstimator):
    """A random forest (`RandomForestRegressor`)."""

    def __init__(self, n_estimators: int = 100, max_depth: int | None = None, min_samples_leaf: int = 2,
                 max_features: float = 0.5, n_jobs: int | None = None, random_state: Any = None):
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.min_samples_leaf = min_samples_leaf
        self.max_features = max_features
        self.n_jobs = n_jobs
        self.random_state = random_state

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> ForestRegressor:
        """Fit on rows `X` and targets `y`; returns self."""
        X, y = _validate_data(self, X, y, y_numeric=True)
        self.model_ = RandomForestRegressor(
            n_estimators=self.n_estimators, max_depth=self.max_depth, min_samples_leaf=self.min_samples_leaf,
            max_features=self.max_features, n_jobs=self.n_jobs, random_state=self.random_state)
        self.model_.fit(X, y, sample_weight=sample_weight)
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Predicted targets."""
        check_is_fitted(self)
        X = _validate_data(self, X, reset=False)
        return self.model_.predict(X)


class GBTClassifier(ClassifierMixin, BaseEstimator):
    """Boosted trees for a label (`HistGradientBoostingClassifier`); `score_samples` = P(last class)."""

    def __init__(self, n_estimators: int = 200, learning_rate: float = 0.1, max_leaf_nodes: int = 31,
                 min_samples_leaf: int = 20, class_weight: Any = None, progress: bool = False,
                 random_state: Any = None):
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.class_weight = class_weight
        self.progress = progress
        self.random_state = random_state

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> GBTClassifier:
        """Fit on rows `X` and labels `y`; returns self."""
        X, y = _validate_data(self, X, y)
        check_classification_targets(y)
        self.model_ = HistGradientBoostingClassifier(
            learning_rate=self.learning_rate, max_leaf_nodes=self.max_leaf_nodes,
            min_samples_leaf=self.min_samples_leaf, class_weight=self.class_weight, early_stopping=False,
            random_state=self.random_state)
        _fit_boosted(self.model_, X, y, self.n_estimators, self.progress, "classifier", sample_weight)
        self.classes_ = self.model_.classes_
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, columns in `classes_` order."""
        check_is_fitted(self)
        X = _validate_data(self, X, reset=False)
        return self.model_.predict_proba(X)

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class."""
        check_is_fitted(self)
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def score_samples(self, X: Any) -> np.ndarray:
        """Probability of the last class (``True``/1 for a binary label)."""
        return self.predict_proba(X)[:, -1]


def _pairs(y: np.ndarray, groups: np.ndarray, per_group: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (i, j) within each group with y[i] != y[j], at most `per_group` per group."""
    first, second = [], []
    for g in np.unique(groups):
        members = np.flatnonzero(groups == g)
        if len(members) < 2:
            continue
        count = min(per_group, len(members) * (len(members) - 1) // 2)
        i = rng.choice(members, size=count)
        j = rng.choice(members, size=count)
        keep = y[i] != y[j]
        first.append(i[keep])
        second.append(j[keep])
    if not first:
        return np.zeros(0, dtype=int), np.zeros(0, dtype=int)
    return np.concatenate(first), np.concatenate(second)


class PairwiseRanker(RegressorMixin, BaseEstimator):
    """Which of two configs of one workload is better: a classifier on feature differences.

    ``fit(X, y, groups=None)``: pairs are drawn within each group (all rows form one group when
    `groups` is None), labelled y[i] > y[j] (higher y = better) and shown in both orders. `predict`
    returns a ranking score on y's order but not its scale: for ``base="logistic"`` the linear
    score w·x of the standardised row; for ``base="gbt"`` the mean probability that the row beats
    each of up to `n_anchors` training rows.
    """

    def __init__(self, base: str = "logistic", C: float = 1.0, pairs_per_group: int = 4000, n_anchors: int = 64,
                 random_state: Any = None):
        self.base = base
        self.C = C
        self.pairs_per_group = pairs_per_group
        self.n_anchors = n_anchors
        self.random_state = random_state

    def fit(self, X: Any, y: Any, groups: Any = None) -> PairwiseRanker:
        """Fit on pairs within groups; returns self."""
        if self.base not in ("logistic", "gbt"):
            raise ValueError(f"PairwiseRanker base={self.base!r}: use 'logistic' or 'gbt'")
        X, y = _validate_data(self, X, y, y_numeric=True)
        groups = np.zeros(len(y), dtype=int) if groups is None else np.asarray(groups)
        if len(groups) != len(y):
            raise ValueError(f"groups has {len(groups)} entries for {len(y)} rows")
        rng = np.random.default_rng(check_random_state(self.random_state).randint(2**31 - 1))
        self.mean_ = X.mean(axis=0)
        scale = X.std(axis=0)
        self.scale_ = np.where(scale > 0, scale, 1.0)
        Z = (X - self.mean_) / self.scale_
        i, j = _pairs(y, groups, self.pairs_per_group, rng)
        diffs = np.vstack([Z[i] - Z[j], Z[j] - Z[i]])
        labels = np.concatenate([y[i] > y[j], y[j] > y[i]]).astype(int)
        self.n_pairs_ = len(i)
        self.model_ = None
        self.anchors_ = Z[rng.choice(len(Z), size=min(self.n_anchors, len(Z)), replace=False)]
        if len(i):
            if self.base == "logistic":
                self.model_ = LogisticRegression(C=self.C, fit_intercept=False, max_iter=1000).fit(diffs, labels)
            else:
                self.model_ = HistGradientBoostingClassifier(max_iter=100, early_stopping=False,
                                                             random_state=self.random_state).fit(diffs, labels)
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Ranking scores, higher = better."""
        check_is_fitted(self)
        X = _validate_data(self, X, reset=False)
        Z = (X - self.mean_) / self.scale_
        if self.model_ is None:  # every y was equal: no preference
            return np.zeros(len(Z))
        if self.base == "logistic":
            return Z @ self.model_.coef_.ravel()
        scores = np.zeros(len(Z))
        for anchor in self.anchors_:
            scores += self.model_.predict_proba(Z - anchor)[:, 1]
        return scores / len(self.anchors_)


class RandomBaseline(RegressorMixin, BaseEstimator):
    """A uniform [0, 1) score per row from a hash of the row's bytes and ``random_state``."""

    def __init__(self, random_state: Any = None):
        self.random_state = random_state

    def fit(self, X: Any, y: Any = None) -> RandomBaseline:
        """Remember the width and draw the hash salt; returns self."""
        if y is None:
            X = _validate_data(self, X)
        else:
            X, _ = _validate_data(self, X, y, y_numeric=True)
        self.salt_ = int(check_random_state(self.random_state).randint(2**31 - 1))
        return self

    def predict(self, X: Any) -> np.ndarray:
        """A score per row, the same for the same row and salt."""
        check_is_fitted(self)
        X = _validate_data(self, X, reset=False)
        salt = self.salt_.to_bytes(8, "little")
        rows = np.ascontiguousarray(X, dtype=np.float64)
        digests = [hashlib.blake2b(row.tobytes(), digest_size=8, key=salt).digest() for row in rows]
        return np.array([int.from_bytes(d, "little") / 2**64 for d in digests])


#: Model names for `CostModel` and the CLI: (estimator class, kind, default parameters).
MODELS: dict[str, tuple[type, str, dict[str, Any]]] = {
    "gbt": (GBTRegressor, "regressor", {}),
    "forest": (ForestRegressor, "regressor", {}),
    "top10": (GBTClassifier, "classifier", {}),
    "pairwise": (PairwiseRanker, "ranker", {"base": "logistic"}),
    "pairwise_gbt": (PairwiseRanker, "ranker", {"base": "gbt"}),
    "random": (RandomBaseline, "random", {}),
}


def make_estimator(name: str, random_state: Any = None, **params: Any) -> tuple[Any, str]:
    """A fresh estimator of model `name` and its kind (regressor, classifier, ranker, random)."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODELS)}")
    cls, kind, defaults = MODELS[name]
    return cls(**{**defaults, **params, "random_state": random_state}), kind
