"""`Portfolio`: splits the budget between member strategies with a discounted UCB1 bandit.

Each slot of a batch goes to the member with the highest upper confidence bound on its reward,
where a trial's reward is 1 if it beat the best time known when its batch was asked, else 0.
Rewards and counts decay by `discount` per trial, so the bandit follows recent improvement of
the global best. Members that have never been picked go first. Every member is told every result
(its own and the others'), so all of them learn from the shared data.

A member's proposal that repeats a config another member already holds is dropped and that member
is asked again (it has then seen the config, so it moves on); the base class fills what is still
missing with random unseen configs.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from search.outcomes import Observation
from search.registry import make_strategy, strategy_name
from search.space import Config, Space, config_key
from search.strategy import Strategy


class Portfolio(Strategy):
    """A bandit over member strategies; all members learn from every result."""

    name = "portfolio"
    default_options = {"members": ("genetic", "tpe", "pattern", "cost_model"), "member_options": None,
                       "exploration": 0.5, "discount": 0.95, "retries": 2}

    def __init__(self, space: Space, *, seed: int | None = None, **options: Any):
        super().__init__(space, seed=seed, **options)
        members: Sequence[Any] = self.options["members"]
        if not members:
            raise ValueError("portfolio needs at least one member strategy")
        member_options = self.options["member_options"] or {}
        seeds = np.random.SeedSequence(int(self.rng.integers(2**63 - 1))).generate_state(len(members))
        self.members = []
        for member, member_seed in zip(members, seeds):
            extra = member_options.get(member, {}) if isinstance(member, str) else {}
            seed_arg = int(member_seed) if isinstance(member, (str, type)) else None
            self.members.append(make_strategy(member, space, seed=seed_arg, **extra))
        self.member_names = [strategy_name(m) for m in self.members]
        self._counts = np.zeros(len(self.members))
        self._rewards = np.zeros(len(self.members))
        self._picked = np.zeros(len(self.members), dtype=int)
        self._owner: dict[tuple, int] = {}
        self._incumbent: dict[tuple, float] = {}  # key -> best time known when it was asked

    def allocation(self) -> dict[str, int]:
        """How many configs each member has proposed so far."""
        return dict(zip(self.member_names, (int(c) for c in self._picked)))

    def _choose(self, counts: np.ndarray) -> int:
        untried = [i for i in range(len(counts)) if counts[i] == 0]
        if untried:
            return untried[0]
        means = self._rewards / counts
        bonus = self.options["exploration"] * np.sqrt(math.log(counts.sum() + 1.0) / counts)
        return int(np.argmax(means + bonus))

    def _propose(self, n: int) -> list[Config]:
        counts = self._counts.copy()
        slots = np.zeros(len(self.members), dtype=int)
        for _ in range(n):
            i = self._choose(counts)
            slots[i] += 1
            counts[i] += 1.0
        best = self._best[1] if self._best is not None else math.inf
        out: list[Config] = []
        keys: set[tuple] = set()
        for i, wanted in enumerate(slots):
            got = 0
            for _ in range(1 + self.options["retries"]):
                if got == wanted:
                    break
                for config in self.members[i].ask(int(wanted - got)):
                    key = config_key(config)
                    if self.is_new(config, keys):
                        out.append(config)
                        keys.add(key)
                        self._owner[key] = i
                        self._incumbent[key] = best
                        got += 1
            self._picked[i] += got
        return out

    def _observe(self, configs: list[Config], observations: list[Observation]) -> None:
        outcomes = [o.as_outcome() for o in observations]
        for config, observation in zip(configs, observations):
            key = config_key(config)
            owner = self._owner.pop(key, None)
            incumbent = self._incumbent.pop(key, math.inf)
            self._counts *= self.options["discount"]
            self._rewards *= self.options["discount"]
            if owner is not None:
                self._counts[owner] += 1.0
                self._rewards[owner] += float(observation.ok and observation.time_ms < incumbent)
        for member in self.members:
            member.tell(configs, outcomes)
