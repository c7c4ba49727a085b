"""The public Helion's module path for the fragments (``helion.autotuner.config_fragment``)."""
from __future__ import annotations

from .fragments import (  # noqa: F401 (re-exported under the public release's module path)
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
