"""Held-out evaluation of `CostModel`s: splits, per-workload metrics, a summary.

Splits (`folds`):

* ``kernel``: leave one kernel out: train on every other kernel's workloads, score the kernel's;
* ``family``: leave one kernel family out (`features.family_of`), a harder transfer;
* ``shape``: leave one workload out: the same kernel at other shapes (and devices) stays in;
* ``none``: no refit: score the given fitted model on every workload (in-sample if it saw them).
"""

from __future__ import annotations

import sys
from typing import Any, Callable, Iterator

import numpy as np

from cost_models.cost_model import CostModel
from cost_models.datasets import Dataset, Workload
from cost_models.features import family_of
from cost_models.metrics import summarize, workload_metrics
from cost_models.models import _progress

SPLITS = ("kernel", "family", "shape", "none")


def folds(dataset: Dataset, split: str) -> Iterator[tuple[str, list[int], list[int]]]:
    """(name, train indices, test indices) per fold of `split`."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose from {', '.join(SPLITS)}")
    everything = list(range(len(dataset)))
    if split == "none":
        yield "all", everything, everything
        return
    if split == "shape":
        for i, w in enumerate(dataset):
            yield w.id, [j for j in everything if j != i], [i]
        return
    label: Callable[[Workload], str] = (lambda w: w.kernel) if split == "kernel" else (lambda w: family_of(w.kernel))
    for name in sorted({label(w) for w in dataset}):
        test = [i for i, w in enumerate(dataset) if label(w) == name]
        yield name, [i for i in everything if i not in test], test


def score_workload(model: CostModel, workload: Workload) -> np.ndarray:
    """The model's scores for every record of the workload (resources passed when it uses them)."""
    configs = [r["config"] for r in workload.records]
    resources = [r.get("resources") for r in workload.records] if model.use_resources else None
    return model.predict(configs, workload.fields, resources=resources)


def workload_row(workload: Workload, scores: np.ndarray, fold: str) -> dict[str, Any]:
    """One table row: the workload's description, sizes and metrics."""
    key = workload.fields.get("key") or {}
    shapes = key.get("shapes") or key.get("size")
    return {"fold": fold, "kernel": workload.kernel, "shapes": "x".join(str(d) for d in (shapes or [[]])[0])
            if shapes and isinstance(shapes[0], list) else str(shapes),
            "device": str(workload.fields.get("device", "")).replace("NVIDIA ", ""),
            "configs": len(workload.records), "ok": int(workload.ok.sum()),
            **workload_metrics(scores, workload.times)}


def cross_validate(dataset: Dataset, make_model: Callable[[], CostModel] | CostModel, split: str = "kernel",
                   progress: bool = False) -> tuple[list[dict[str, Any]], dict[str, float], list[tuple]]:
    """Per-workload rows, their summary and (scores, times) pairs for plotting.

    `make_model` builds a fresh unfitted model per fold; with ``split="none"`` it may be a fitted
    `CostModel`, which is scored as it is."""
    rows, points = [], []
    plan = list(folds(dataset, split))
    for number, (name, train, test) in enumerate(plan, start=1):
        if split == "none" and isinstance(make_model, CostModel):
            model = make_model
        else:
            model = CostModel(**make_model.settings()) if isinstance(make_model, CostModel) else make_model()
            model.fit_dataset(dataset.subset(train))
        for i in test:
            workload = dataset.workloads[i]
            scores = score_workload(model, workload)
            rows.append(workload_row(workload, scores, name))
            points.append((scores, workload.times))
        if progress:
            _progress(number, len(plan), f"{split} folds")
    return rows, summarize(rows), points


def log(message: str) -> None:
    """A line on stderr."""
    print(message, file=sys.stderr, flush=True)
