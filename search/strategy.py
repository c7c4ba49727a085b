"""`Strategy`: the ask/tell contract and its bookkeeping; algorithms live in `search.strategies`.

A subclass sets `name` and `default_options` and implements two small hooks:

- `_propose(n)`: up to n candidate configs (ideally valid, distinct and new);
- `_observe(configs, observations)`: learn from told results (optional).

The public `ask` enforces the contract around `_propose`: candidates are normalized, duplicates
of anything asked before (pending or told) or earlier in the batch are dropped, and the shortfall
is filled with random unseen configs, so a batch has n configs unless the space is exhausted
(for spaces over ENUMERATION_LIMIT configs, unless constraints are so tight that thousands of
random draws find nothing new).
The public `tell` normalizes outcomes (NaN and inf become failures), records them, tracks the
best and then calls `_observe`.
"""

from __future__ import annotations

from typing import Any, ClassVar, Iterable, Mapping, Sequence

import numpy as np

from search.errors import InvalidConfig
from search.outcomes import Observation, Outcome, observe
from search.space import Config, Space, config_key, copy_config

#: Spaces up to this size (before constraints) are enumerated once random sampling stops finding
#: unseen configs, so asks near exhaustion stay exact and fast.
ENUMERATION_LIMIT = 50_000


class Strategy:
    """Base of all strategies: ask/tell bookkeeping (pending, told, best) over two hooks."""

    #: Registry name, recorded in trial records.
    name: ClassVar[str] = ""
    #: Known options and their defaults; unknown options raise TypeError.
    default_options: ClassVar[Mapping[str, Any]] = {}

    def __init__(self, space: Space, *, seed: int | None = None, **options: Any):
        if not isinstance(space, Space):
            raise TypeError(f"{type(self).__name__} needs a search.Space, got {type(space).__name__}")
        unknown = sorted(set(options) - set(self.default_options))
        if unknown:
            known = ", ".join(sorted(self.default_options)) or "none"
            raise TypeError(f"{type(self).__name__} got unknown option(s) {unknown}; known options: {known}")
        self.space = space
        self.seed = seed
        self.options: dict[str, Any] = {**self.default_options, **options}
        self.rng = np.random.default_rng(seed)
        self.told: list[tuple[Config, Observation]] = []
        self._seen: set[tuple] = set()
        self._pending: dict[tuple, Config] = {}
        self._best: tuple[Config, float] | None = None
        self._all_valid: list[Config] | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(seed={self.seed}, told={len(self.told)}, pending={len(self._pending)})"

    # -- public contract -----------------------------------------------------------------------

    def ask(self, n: int = 1) -> list[Config]:
        """n distinct valid configs never asked before; fewer only when the space is exhausted."""
        if not isinstance(n, int) or n < 0:
            raise ValueError(f"ask(n) needs an int n >= 0, got {n!r}")
        batch: list[Config] = []
        keys: set[tuple] = set()
        if n:
            for candidate in self._propose(n):
                if len(batch) == n:
                    break
                try:
                    config = self.space.normalize(candidate)
                except InvalidConfig:
                    continue
                key = config_key(config)
                if key not in self._seen and key not in keys:
                    batch.append(config)
                    keys.add(key)
            if len(batch) < n:
                batch += self._random_unseen(n - len(batch), keys)
        for config in batch:
            key = config_key(config)
            self._seen.add(key)
            self._pending[key] = config
        return [copy_config(c) for c in batch]

    def tell(self, configs: Sequence[Mapping[str, Any]], outcomes: Sequence[Outcome]) -> None:
        """Record results: outcomes are times in ms, Measurements, Failures or failure kinds.

        Configs need not have been asked (e.g. warm starts from records) but must be in the space
        after `Space.normalize`; bad outcomes raise before anything is recorded.
        """
        if len(configs) != len(outcomes):
            raise ValueError(f"tell got {len(configs)} configs but {len(outcomes)} outcomes")
        observations = [observe(o) for o in outcomes]
        normalized = [self.space.normalize(c) for c in configs]
        for config, observation in zip(normalized, observations):
            key = config_key(config)
            self._pending.pop(key, None)
            self._seen.add(key)
            self.told.append((config, observation))
            if observation.ok and (self._best is None or observation.time_ms < self._best[1]):
                self._best = (config, observation.time_ms)
        self._observe([copy_config(c) for c in normalized], observations)

    def reserve(self, configs: Sequence[Mapping[str, Any]]) -> None:
        """Count configs the caller evaluates itself (e.g. warm starts) as asked: pending until
        told, never proposed again."""
        for config in configs:
            config = self.space.normalize(config)
            key = config_key(config)
            if key not in self._seen:
                self._seen.add(key)
                self._pending[key] = config

    def best(self) -> tuple[Config, float] | None:
        """(config, time_ms) of the fastest config told so far, or None."""
        return None if self._best is None else (copy_config(self._best[0]), self._best[1])

    @property
    def pending(self) -> list[Config]:
        """Configs asked but not yet told."""
        return [copy_config(c) for c in self._pending.values()]

    # -- hooks ---------------------------------------------------------------------------------

    def _propose(self, n: int) -> Iterable[Mapping[str, Any]]:
        """Up to n candidate configs; the base drops invalid or repeated ones."""
        raise NotImplementedError(f"{type(self).__name__} must implement _propose(n)")

    def _observe(self, configs: list[Config], observations: list[Observation]) -> None:
        """Learn from told results (called after the base's bookkeeping)."""

    # -- helpers for subclasses ----------------------------------------------------------------

    def is_new(self, config: Mapping[str, Any], exclude: set[tuple] = frozenset()) -> bool:
        """True if `config` was never asked or told and is not in `exclude` (keys)."""
        key = config_key(config)
        return key not in self._seen and key not in exclude

    def ranked(self) -> list[tuple[Config, float]]:
        """Told measured configs as (config, time_ms), fastest first (ties: told order)."""
        ok = [(c, o.time_ms) for c, o in self.told if o.ok]
        return sorted(ok, key=lambda item: item[1])

    def _random_unseen(self, k: int, exclude: set[tuple]) -> list[Config]:
        """Up to k random valid configs not seen and not in `exclude` (which is updated)."""
        out: list[Config] = []
        if self._all_valid is None:
            for _ in range(20 * k + 50):
                if len(out) == k:
                    break
                try:
                    config = self.space.sample(self.rng)
                except InvalidConfig:
                    break
                key = config_key(config)
                if key not in self._seen and key not in exclude:
                    out.append(config)
                    exclude.add(key)
            if len(out) == k or self.space.size() > ENUMERATION_LIMIT:
                return out
            self._all_valid = self.space.enumerate(limit=ENUMERATION_LIMIT)
        remaining = [c for c in self._all_valid if self.is_new(c, exclude)]
        if remaining:
            chosen = self.rng.choice(len(remaining), size=min(k - len(out), len(remaining)), replace=False)
            for i in sorted(int(i) for i in chosen):
                out.append(copy_config(remaining[i]))
                exclude.add(config_key(remaining[i]))
        return out
