"""``helion.autotuner``: the public Helion names for typed search-space fragments.

A fragment describes one tunable value; ``hl.register_tunable(name, fragment)`` adds it to a
kernel's search space (``bound.config_space``) under ``name``, and every config carries it by that
name. The tuner itself lives in :mod:`helion.autotune`; ``search_algorithms`` and
``LocalAutotuneCache`` (``searches.py``) give the public release's ``autotuner_fn`` hook over it.
"""
from __future__ import annotations

from .fragments import (
    BlockSizeFragment,
    BooleanFragment,
    ConfigSpecFragment,
    EnumFragment,
    IntegerFragment,
    ListOf,
    NumWarpsFragment,
    PermutationFragment,
    PowerOfTwoFragment,
)
from .searches import (
    BaseSearch,
    DifferentialEvolutionSearch,
    FiniteSearch,
    LocalAutotuneCache,
    PatternSearch,
    RandomSearch,
    StrictLocalAutotuneCache,
    search_algorithms,
)

__all__ = [
    "BlockSizeFragment", "BooleanFragment", "ConfigSpecFragment", "EnumFragment", "IntegerFragment",
    "ListOf", "NumWarpsFragment", "PermutationFragment", "PowerOfTwoFragment",
    "BaseSearch", "DifferentialEvolutionSearch", "FiniteSearch", "LocalAutotuneCache", "PatternSearch",
    "RandomSearch", "StrictLocalAutotuneCache", "search_algorithms",
]
