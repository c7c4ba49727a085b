"""The engine gives the cost_model strategy a prior bound to the kernel's workload."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import cost_models
import helion
import helion.language as hl
from helion.autotune.strategies import strategy_options
from search.strategies.cost_model import CostModelSearch

WORKLOAD = {"kernel": "add", "key": {"shapes": [[64, 64], [64, 64]], "dtypes": ["float32", "float32"]},
            "device": "NVIDIA H200", "kernel_info": {"loads": 2, "stores": 1, "pointwise": 1}}


class CountingPrior:
    """A user's own prior: scores configs by their first block size, counting calls."""

    def __init__(self):
        self.seen: list[dict] = []

    def predict(self, configs):
        self.seen.extend(configs)
        return np.array([float(c["block_sizes"][0]) for c in configs])


def test_only_the_cost_model_strategy_gets_a_prior():
    assert strategy_options("genetic", None, WORKLOAD) == {}
    assert strategy_options("cost_model", "none", WORKLOAD) == {}
    assert strategy_options(CostModelSearch(_space()), None, WORKLOAD) == {}  # an instance is used as is
    for choice in ("cost_model", CostModelSearch):
        prior = strategy_options(choice, None, WORKLOAD)["prior"]
        assert isinstance(prior, cost_models.Prior) and prior.workload == WORKLOAD
    own = CountingPrior()
    assert strategy_options("cost_model", own, WORKLOAD)["prior"] is own


def test_a_model_file_is_loaded_as_the_prior(tmp_path):
    path = tmp_path / "model.joblib"
    cost_models.load_pretrained().save(path)
    prior = strategy_options("cost_model", str(path), WORKLOAD)["prior"]
    assert isinstance(prior, cost_models.Prior) and prior.model is not cost_models.load_pretrained()


@pytest.mark.parametrize("cost_model", [None, "own"])
def test_tuning_with_the_cost_model_strategy_ranks_by_the_prior(cost_model, tmp_path, monkeypatch):
    monkeypatch.setenv("HELION_CACHE_DIR", str(tmp_path / "cache"))
    own = CountingPrior()
    kernel = add_kernel(autotune_strategy="cost_model", autotune_max_trials=4,
                        autotune_cost_model=own if cost_model == "own" else None)
    x, y = torch.randn(64, 64), torch.randn(64, 64)
    torch.testing.assert_close(kernel(x, y), x + y)
    if cost_model == "own":
        assert own.seen and all("block_sizes" in c for c in own.seen)  # the first batch came from the prior


def add_kernel(**settings):
    @helion.kernel(autotune_progress=False, **settings)
    def add(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        out = torch.empty_like(x)
        for tile in hl.tile(out.size()):
            out[tile] = x[tile] + y[tile]
        return out
    return add


def _space():
    kernel = add_kernel()
    return kernel.bind((torch.randn(8, 8), torch.randn(8, 8))).config_space
