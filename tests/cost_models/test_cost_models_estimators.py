"""The estimators follow scikit-learn's conventions (check_estimator) and learn what they should.

Checks skipped, and why (each is a property the estimator does not claim):

* ForestRegressor ``check_sample_weight_equivalence_on_dense_data``: bootstrap sampling makes a
  weight of 2 differ from a repeated row (scikit-learn's own RandomForestRegressor skips it too);
* PairwiseRanker and RandomBaseline ``check_regressors_train``: that check wants R^2 > 0.5 on the
  training targets, but a ranker predicts a score on y's order, not its scale, and the baseline
  is random by design.
"""

import numpy as np
import pytest
from scipy.stats import kendalltau
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import check_estimator

from cost_models.models import (ForestRegressor, GBTClassifier, GBTRegressor, PairwiseRanker, RandomBaseline,
                                make_estimator)

NOT_A_REGRESSION = "predicts a ranking score on y's order, not y's scale (R^2 does not apply)"
ESTIMATORS = [
    (GBTRegressor(n_estimators=10), {}),
    (ForestRegressor(n_estimators=5), {"check_sample_weight_equivalence_on_dense_data":
                                       "bootstrap: weights are not repetitions (as sklearn's own forest)"}),
    (GBTClassifier(n_estimators=10), {}),
    (PairwiseRanker(pairs_per_group=500), {"check_regressors_train": NOT_A_REGRESSION}),
    (RandomBaseline(), {"check_regressors_train": "a random baseline by design"}),
]


@pytest.mark.parametrize("estimator,skips", ESTIMATORS, ids=lambda e: getattr(e, "base", type(e).__name__)
                         if not isinstance(e, dict) else "")
def test_sklearn_conventions(estimator, skips):
    results = check_estimator(estimator, expected_failed_checks=skips, on_fail=None)
    failed = [(r["check_name"], r["exception"]) for r in results if r["status"] == "failed"]
    assert not failed
    assert len(results) > 40  # the checks ran


def linear_problem(n=300, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    y = 2.0 * X[:, 0] - X[:, 1] + 0.05 * rng.normal(size=n)
    return X, y


def test_regressors_and_rankers_order_rows():
    X, y = linear_problem()
    groups = np.repeat([0, 1, 2], 100)
    for name in ("gbt", "forest", "pairwise"):
        est, kind = make_estimator(name, random_state=0)
        est.fit(X, y, groups=groups) if kind == "ranker" else est.fit(X, y)
        Xt, yt = linear_problem(seed=1)
        assert kendalltau(est.predict(Xt), yt).statistic > 0.6, name


def test_random_baseline_is_deterministic_per_row_and_salt():
    X, y = linear_problem()
    a = RandomBaseline(random_state=1).fit(X, y)
    assert np.array_equal(a.predict(X[:10]), a.predict(X)[:10])
    assert not np.array_equal(a.predict(X), RandomBaseline(random_state=2).fit(X, y).predict(X))
    assert abs(kendalltau(a.predict(X), y).statistic) < 0.15
    assert ((a.predict(X) >= 0) & (a.predict(X) < 1)).all()


def test_fit_returns_self_params_round_trip_and_unfitted_raises():
    est = GBTRegressor(n_estimators=7, random_state=3)
    assert est.get_params()["n_estimators"] == 7 and clone(est).get_params() == est.get_params()
    with pytest.raises(NotFittedError):
        est.predict(np.zeros((2, 4)))
    X, y = linear_problem()
    assert est.fit(X, y) is est and hasattr(est, "model_") and est.n_features_in_ == 4
    with pytest.raises(ValueError):
        make_estimator("nope")
