"""`CostModel`: the domain wrapper (records in, per-workload scores out), after TVM's cost models.

    model = CostModel("gbt", random_state=0)
    model.update(records)                       # trial records (dicts); refits on all seen so far
    scores = model.predict(configs, workload)   # higher = predicted faster (see `predict`)
    model.save("m.joblib"); model = CostModel.load("m.joblib")

`workload` is a mapping with the record's workload fields: ``kernel``, ``key`` (shapes, dtypes),
``device``, and when present ``kernel_info`` and the space JSON ``_space``; a whole trial record
works too.
"""

from __future__ import annotations

import os
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from cost_models import persistence
from cost_models.datasets import Dataset, build_dataset, workload_fields
from cost_models.features import FeatureEncoder, training_table
from cost_models.models import GBTClassifier, make_estimator

#: Bumped when the saved layout changes; `load` refuses other versions.
FORMAT_VERSION = 1


class CostModel:
    """Learns from trial records which configs of a workload are fast.

    `model`: a name of `cost_models.models.MODELS` (``gbt``, ``forest``, ``top10``, ``pairwise``,
    ``pairwise_gbt``, ``random``). Regressors learn `target` (per-workload ``log_ratio`` by
    default), weighting each workload equally when `balance`; ``top10`` learns P(in the workload's
    fastest 10%); the rankers learn pairs within a workload. With `failure_model`, a classifier of
    compile failure / invalid configs is fitted beside it (`failure_probability`).
    """

    def __init__(self, model: str = "gbt", *, target: str = "log_ratio", use_resources: bool = False,
                 use_space: bool = False, failure_model: bool = True, balance: bool = True,
                 random_state: int | None = 0, progress: bool = False, model_params: Mapping[str, Any] | None = None):
        self.model = model
        self.target = target
        self.use_resources = use_resources
        self.use_space = use_space
        self.failure_model = failure_model
        self.balance = balance
        self.random_state = random_state
        self.progress = progress
        self.model_params = dict(model_params or {})
        self.records_: list[dict[str, Any]] = []
        self.estimator_: Any = None
        self.failure_estimator_: Any = None
        make_estimator(model)  # an unknown name fails here, not at the first update

    def settings(self) -> dict[str, Any]:
        """The constructor arguments, so `CostModel(**m.settings())` is an unfitted twin."""
        return {"model": self.model, "target": self.target, "use_resources": self.use_resources,
                "use_space": self.use_space, "failure_model": self.failure_model, "balance": self.balance,
                "random_state": self.random_state, "progress": self.progress, "model_params": dict(self.model_params)}

    # -- training -----------------------------------------------------------------------------

    def update(self, records: Iterable[Mapping[str, Any]]) -> CostModel:
        """Add trial records and refit on everything seen so far (since construction or `load`)."""
        self.records_.extend(dict(r) for r in records)
        return self.fit_dataset(build_dataset(self.records_))

    def fit_dataset(self, dataset: Dataset) -> CostModel:
        """Fit on a `Dataset` (replacing any earlier fit; `records_` is left as it is)."""
        records = dataset.records()
        if not records:
            raise ValueError("no records with a config and a measured workload to learn from")
        self.encoder_ = FeatureEncoder(use_resources=self.use_resources, use_space=self.use_space).fit(records)
        table = training_table(dataset, self.encoder_, self.target if self.target else "log_ratio")
        params = dict(self.model_params)
        if self.progress and self.model in ("gbt", "top10"):
            params.setdefault("progress", True)
        estimator, kind = make_estimator(self.model, random_state=self.random_state, **params)
        X, y, group = table["X"], table["y"], table["group"]
        ok = np.isfinite(y)
        weight = self._weights(group[ok]) if self.balance else None
        if kind == "regressor":
            estimator.fit(X[ok], y[ok], sample_weight=weight)
        elif kind == "classifier":
            labels = table["top10"].astype(int)
            if labels.min() == labels.max():
                raise ValueError("top10 needs workloads with more than one measured config")
            estimator.fit(X, labels, sample_weight=self._weights(group) if self.balance else None)
        elif kind == "ranker":
            estimator.fit(X[ok], y[ok], groups=group[ok])
        else:
            estimator.fit(X[ok], y[ok])
        self.kind_ = kind
        self.estimator_ = estimator
        self.failure_estimator_ = None
        if self.failure_model and 0 < table["failed"].sum() < len(table["failed"]):
            self.failure_estimator_ = GBTClassifier(n_estimators=100, random_state=self.random_state).fit(
                X, table["failed"].astype(int))
        self.summary_ = dataset.summary()
        return self

    @staticmethod
    def _weights(group: np.ndarray) -> np.ndarray:
        """Each workload's rows sum to the same weight; mean weight 1."""
        _, inverse, counts = np.unique(group, return_inverse=True, return_counts=True)
        weight = 1.0 / counts[inverse]
        return weight * len(weight) / weight.sum()

    # -- inference ----------------------------------------------------------------------------

    def _rows(self, configs: Sequence[Mapping[str, Any]], workload: Mapping[str, Any],
              resources: Sequence[Mapping[str, Any] | None] | None) -> np.ndarray:
        if self.estimator_ is None:
            raise RuntimeError("this CostModel is not fitted; call update(records) first")
        fields = workload_fields(workload) if "config" in workload else dict(workload)
        return self.encoder_.transform(list(configs), fields, resources)

    def predict(self, configs: Sequence[Mapping[str, Any]], workload: Mapping[str, Any], *,
                resources: Sequence[Mapping[str, Any] | None] | None = None) -> np.ndarray:
        """One score per config, **higher = predicted faster**; only the order within one workload
        is meaningful. Regressors: predicted log(best / time) (the negated log time for
        ``target="log_time"``); ``top10``: P(in the fastest 10%); rankers: a ranking score;
        ``random``: uniform in [0, 1). `resources` (per config) only matter with ``use_resources``."""
        if not len(configs):
            return np.zeros(0)
        X = self._rows(configs, workload, resources)
        if self.kind_ == "classifier":
            return self.estimator_.score_samples(X)
        scores = np.asarray(self.estimator_.predict(X), dtype=float)
        return -scores if self.target == "log_time" and self.kind_ == "regressor" else scores

    def failure_probability(self, configs: Sequence[Mapping[str, Any]], workload: Mapping[str, Any]) -> np.ndarray:
        """P(the config fails to compile or is invalid), from the config alone; 0 without a model."""
        if not len(configs):
            return np.zeros(0)
        X = self._rows(configs, workload, None)
        if self.failure_estimator_ is None:
            return np.zeros(len(X))
        return self.failure_estimator_.score_samples(X)

    # -- files --------------------------------------------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        if not state.pop("_keep_records", False):
            state["records_"] = []
        return state

    def save(self, path: str | os.PathLike, *, keep_records: bool = False) -> None:
        """Write the fitted model with joblib; the training records only with `keep_records`."""
        self._keep_records = keep_records
        try:
            persistence.save({"format": "cost_models.CostModel", "version": FORMAT_VERSION, "model": self}, path)
        finally:
            self.__dict__.pop("_keep_records", None)

    @classmethod
    def load(cls, path: str | os.PathLike) -> CostModel:
        """Read a file written by `save`; refuses foreign pickles (`cost_models.persistence`)."""
        data = persistence.load(path, expected=dict)
        if data.get("format") != "cost_models.CostModel" or data.get("version") != FORMAT_VERSION:
            raise persistence.UnsafeModelFile(
                f"{os.fspath(path)} is not a cost_models.CostModel file of version {FORMAT_VERSION}")
        model = data["model"]
        if not isinstance(model, cls):
            raise persistence.UnsafeModelFile(f"{os.fspath(path)} holds a {type(model).__name__}, not a CostModel")
        return model
