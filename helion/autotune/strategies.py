"""``autotune_strategy``: a registered name, a ``search.Strategy`` class or an instance; and the
options the engine gives it (the ``cost_model`` strategy's pretrained prior)."""
from __future__ import annotations

import warnings
from typing import Any, Mapping

import search

from .. import exc


def resolve_strategy(choice: Any) -> Any:
    """The strategy as given; an unknown name fails with the list of known ones."""
    if isinstance(choice, str) and choice not in search.available_strategies():
        raise exc.UnknownStrategy(
            f"unknown autotune_strategy {choice!r}; known strategies: {sorted(search.available_strategies())}")
    return choice


def strategy_options(choice: Any, cost_model: Any, workload: Mapping[str, Any]) -> dict[str, Any]:
    """Options for creating ``choice``: the ``cost_model`` strategy (by name or class) gets a prior
    bound to ``workload`` from ``autotune_cost_model`` (None: the shipped pretrained model; a
    pretrained name or a ``.joblib`` path; a ``cost_models.CostModel``; any object with
    ``predict(configs)``; ``"none"``: no prior). Other strategies, and instances, get nothing."""
    name = choice if isinstance(choice, str) else getattr(choice, "name", None) if isinstance(choice, type) else None
    if name != "cost_model" or cost_model == "none":
        return {}
    if cost_model is not None and not isinstance(cost_model, str) and not hasattr(cost_model, "update") \
            and callable(getattr(cost_model, "predict", None)):
        return {"prior": cost_model}  # the user's own predict(configs)
    try:
        import cost_models
        return {"prior": cost_models.prior_for(workload, cost_model)}
    except ImportError as e:  # cost_models ships with this package; a trimmed install lacks it
        warnings.warn(f"autotune_strategy='cost_model' runs without a prior: {e}", stacklevel=2)
        return {}
