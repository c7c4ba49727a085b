"""The public Helion's search classes and ``LocalAutotuneCache``, over this package's engine.

A kernel's ``autotuner_fn(bound_kernel, args, **kwargs)`` returns an object whose
``autotune()`` gives the config to run; the public examples build one from
``search_algorithms[name](bound_kernel, args, **options)``, usually wrapped in
``LocalAutotuneCache``. Here each class runs :func:`helion.autotune.engine.tune` with one of our
strategies at the kernel's effort; the public release's own tuning options (generations,
population sizes, ...) are accepted and do not apply.
"""
from __future__ import annotations

from typing import Any, Sequence

from ..runtime.config import Config


class BaseSearch:
    """``SomeSearch(bound_kernel, args, **options).autotune() -> Config``."""

    strategy = "genetic"

    def __init__(self, bound_kernel: Any, args: Sequence[Any], **options: Any):
        self.bound_kernel = bound_kernel
        self.args = tuple(args)
        self.options = options

    def _outcome(self) -> Any:
        from ..autotune.engine import tune
        return tune(self.bound_kernel, self.args, strategy=self.strategy)

    def autotune(self, *, skip_cache: bool = False) -> Config:
        """Search now (no cache: wrap in ``LocalAutotuneCache`` for one) and return the winner."""
        from ..autotune.engine import print_report
        outcome = self._outcome()
        self.time_ms = outcome.time_ms
        print_report(self.bound_kernel.kernel.fn.__name__, outcome, self.bound_kernel.gpu)
        return Config(**outcome.config)


class PatternSearch(BaseSearch):
    strategy = "pattern"


class LFBOPatternSearch(BaseSearch):
    strategy = "cost_model"  # a learned model screening local moves


class LFBOTreeSearch(BaseSearch):
    strategy = "cost_model"


class DESurrogateHybrid(BaseSearch):
    strategy = "cost_model"


class DifferentialEvolutionSearch(BaseSearch):
    strategy = "genetic"


class RandomSearch(BaseSearch):
    strategy = "random"


class FiniteSearch(BaseSearch):
    """The fastest of ``configs`` (default: the kernel's ``configs=``)."""

    def __init__(self, bound_kernel: Any, args: Sequence[Any], configs: Sequence[Any] | None = None,
                 **options: Any):
        super().__init__(bound_kernel, args, **options)
        self.configs = list(configs if configs is not None else bound_kernel.kernel.configs)

    def _outcome(self) -> Any:
        from ..autotune.engine import tune
        if not self.configs:
            raise ValueError("FiniteSearch needs configs (none given, and the kernel has no configs=)")
        return tune(self.bound_kernel, self.args, only=[self.bound_kernel.normalize_config(c) for c in self.configs])


search_algorithms: dict[str, type[BaseSearch]] = {
    cls.__name__: cls for cls in (DESurrogateHybrid, LFBOPatternSearch, LFBOTreeSearch, DifferentialEvolutionSearch,
                                  FiniteSearch, PatternSearch, RandomSearch)}


class LocalAutotuneCache:
    """Wraps a search: ``autotune()`` returns this specialization's cached winner (the same JSON
    cache as a plain call: ``HELION_CACHE_DIR``), else searches and stores the result."""

    def __init__(self, autotuner: BaseSearch):
        self.autotuner = autotuner

    def autotune(self, *, skip_cache: bool = False) -> Config:
        from ..autotune.choose import cache_for, cache_key, fit
        bound, args = self.autotuner.bound_kernel, self.autotuner.args
        cache = None if skip_cache else cache_for(bound.settings)
        key = cache_key(bound, args)
        if cache is not None and not bound.settings.force_autotune:
            hit = cache.get(key)
            config = fit(bound, hit) if hit is not None else None
            if config is not None:
                return Config(**config)
        config = self.autotuner.autotune()
        if cache is not None:
            cache.put(key, dict(config), getattr(self.autotuner, "time_ms", None),
                      {"search": type(self.autotuner).__name__})
        return config


StrictLocalAutotuneCache = LocalAutotuneCache
