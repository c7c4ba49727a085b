"""Config-level variation operators built from the parameters' own `mutate` and `crossover`."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from search.params import pick
from search.space import Config, Space, copy_config


def mutate_config(space: Space, config: Mapping[str, Any], rng: np.random.Generator,
                  rate: float | None = None) -> Config:
    """Each parameter mutated with probability `rate` (default 1/len(space)); at least one changes.

    Parameters with a single value are never picked. The result is not normalized.
    """
    child = copy_config(config)
    movable = [name for name in space.names if space[name].cardinality() > 1]
    if not movable:
        return child
    rate = 1.0 / len(movable) if rate is None else rate
    chosen = [name for name in movable if rng.random() < rate] or [pick(rng, movable)]
    for name in chosen:
        child[name] = space[name].mutate(child[name], rng)
    return child


def crossover_configs(space: Space, a: Mapping[str, Any], b: Mapping[str, Any],
                      rng: np.random.Generator) -> Config:
    """Parameter-wise typed crossover of two configs. The result is not normalized."""
    return {name: space[name].crossover(a[name], b[name], rng) for name in space.names}
