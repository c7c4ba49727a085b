"""`RandomSearch`: uniform sampling of valid configs never asked before (the baseline)."""

from __future__ import annotations

from search.space import Config
from search.strategy import Strategy


class RandomSearch(Strategy):
    """Uniform random sampling without replacement over the valid configs."""

    name = "random"

    def _propose(self, n: int) -> list[Config]:
        return self._random_unseen(n, set())
