"""Which config a plain ``kernel(*args)`` runs: given, cached, nearest cached, or tuned now.

Order: ``config=`` (one given) -> the fastest of ``configs=`` -> ``use_default_config`` -> the
``autotuner_fn(bound, args).autotune()`` when one is set (the public Helion's hook; not at
effort none) -> the cache entry of this exact specialization (unless ``force_autotune``) -> with
``autotune_effort="none"``, the winner of the nearest cached shape, else the default -> tune,
warm-started from the nearest cached shapes' winners, and store the winner.
"""
from __future__ import annotations

import os
from typing import Any

import torch
import triton

from .. import exc
from .cache import CacheKey, ConfigCache, spec_string
from .engine import device_name, print_report, tune


def cache_for(settings: Any) -> ConfigCache | None:
    """The best-config cache of these settings (None with ``skip_cache``)."""
    return None if settings.skip_cache else ConfigCache(os.path.join(settings.cache_dir, "autotune"))


def cache_key(bound: Any, args: tuple) -> CacheKey:
    kernel = bound.kernel
    return CacheKey(kernel=kernel.fn.__name__, source_hash=kernel.source_hash,
                    spec=spec_string(kernel.specialization_key(kernel.normalize_args(tuple(args), {}))),
                    shapes=bound.arg_shapes,
                    dtypes=bound.arg_dtypes, device=device_name(bound.device),
                    versions={"torch": torch.__version__, "triton": triton.__version__},
                    space_fingerprint=bound.config_space.fingerprint())


def fit(bound: Any, config: dict[str, Any]) -> dict[str, Any] | None:
    """``config`` made valid for this bound kernel (block sizes clamped, then repaired), or None."""
    try:
        return bound.normalize_config(config)
    except exc.HelionError:
        return None


def choose_config(bound: Any, args: tuple) -> dict[str, Any]:
    """The config a plain call of ``bound`` on ``args`` runs (see the module docstring)."""
    settings = bound.settings
    configs = bound.kernel.configs
    if len(configs) == 1:
        return bound.normalize_config(configs[0])
    if configs:
        outcome = tune(bound, args, only=[bound.normalize_config(c) for c in configs])
        return outcome.config
    if settings.use_default_config:
        return bound.config_space.default()
    if settings.autotuner_fn is not None and settings.autotune_effort != "none":
        return bound.normalize_config(settings.autotuner_fn(bound, tuple(args)).autotune())
    cache = cache_for(settings)
    key = cache_key(bound, args)
    if cache is not None and not settings.force_autotune:
        hit = cache.get(key)
        config = fit(bound, hit) if hit is not None else None
        if config is not None:
            return config
    nearest = [c for c in (fit(bound, n["config"]) for n in (cache.nearest(key) if cache else [])) if c]
    if settings.autotune_effort == "none":
        return nearest[0] if nearest else bound.config_space.default()
    outcome = tune(bound, args, initial=nearest)
    if cache is not None:
        cache.put(key, outcome.config, outcome.time_ms,
                  {"trials": outcome.trials, "strategy": outcome.result.strategy,
                   "effort": settings.autotune_effort, "default_ms": outcome.default_ms,
                   "seconds": round(outcome.wall_s, 2)})
    print_report(bound.kernel.fn.__name__, outcome, bound.gpu)
    return outcome.config
