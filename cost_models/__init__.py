"""Cost models of Triton configs, learned from trial records (DESIGN.md, "Trial records").

scikit-learn, numpy, joblib and `search` only: no torch or helion, so training and evaluation run
anywhere. See cost_models/README.md.

    import cost_models
    prior = cost_models.prior_for({"kernel": "rms_norm", "key": {"shapes": [[8192, 4096], [4096]],
                                   "dtypes": ["bfloat16", "bfloat16"]}, "device": "NVIDIA H100 80GB HBM3"})
    scores = prior.predict(configs)        # higher = predicted faster, before any measurement
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from cost_models.cost_model import CostModel
from cost_models.datasets import Dataset, Workload, build_dataset, load_dataset, load_records
from cost_models.features import FeatureEncoder
from cost_models.persistence import UnsafeModelFile

PRETRAINED_DIR = Path(__file__).resolve().parent / "pretrained"
#: The shipped model (`python -m cost_models.train ... --out cost_models/pretrained/default.joblib`).
DEFAULT_PRETRAINED = "default"


@functools.lru_cache(maxsize=4)
def _pretrained(name: str) -> CostModel:
    path = PRETRAINED_DIR / f"{name}.joblib"
    if not path.is_file():
        available = sorted(p.stem for p in PRETRAINED_DIR.glob("*.joblib"))
        raise FileNotFoundError(f"no pretrained cost model {name!r} (have: {', '.join(available) or 'none'})")
    return CostModel.load(path)


def load_pretrained(name: str = DEFAULT_PRETRAINED) -> CostModel:
    """The shipped `CostModel` (loaded once per process; treat it as read-only)."""
    return _pretrained(name)


class Prior:
    """A pretrained model bound to one workload: `predict(configs)`, higher = predicted faster."""

    def __init__(self, model: CostModel, workload: Mapping[str, Any]):
        self.model = model
        self.workload = dict(workload)

    def predict(self, configs: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """One score per config; only their order is meaningful (`CostModel.predict`)."""
        return self.model.predict(configs, self.workload)

    def failure_probability(self, configs: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """P(compile failure or invalid) per config."""
        return self.model.failure_probability(configs, self.workload)


def prior_for(workload: Mapping[str, Any], model: CostModel | str | None = None) -> Prior:
    """A `Prior` for a workload given by record fields (``kernel``, ``key`` with ``shapes`` and
    ``dtypes``, ``device``; ``kernel_info`` when known), to rank candidates of a new kernel before
    any measurement. `model`: a `CostModel`, a pretrained name, a model file (``.joblib`` path),
    or None for the default."""
    if isinstance(model, (str, os.PathLike)) and (str(model).endswith(".joblib") or os.sep in str(model)):
        model = CostModel.load(model)
    if model is None or isinstance(model, str):
        model = load_pretrained(model or DEFAULT_PRETRAINED)
    return Prior(model, workload)


__all__ = ["CostModel", "Dataset", "FeatureEncoder", "Prior", "UnsafeModelFile", "Workload", "build_dataset",
           "load_dataset", "load_pretrained", "load_records", "prior_for"]
