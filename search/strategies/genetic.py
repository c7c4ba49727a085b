"""`Genetic`: a steady-state genetic algorithm with typed crossover and mutation.

The population is the best `population` configs measured so far, so the elite is never lost
(elitism); parents are picked by tournament; a child is a parameter-wise typed crossover
(`Parameter.crossover`, order crossover for permutations) followed by typed mutation
(`Parameter.mutate`). A child that violates a constraint is repaired by one more single-knob
step into the valid region (a random valid neighbor of it, `Space.neighbors`), so offspring can
land on the edge of the feasible region, where fast configs often sit, instead of being thrown
away. The first `population` asks are the default config plus random samples.

Why not differential evolution on the encodings: most knobs here are categorical, powers of two
or permutations, where vector differences decoded back to the nearest value mostly collapse to
no move or a random jump; typed operators move along the parameters' own structure.
"""

from __future__ import annotations

from search.errors import InvalidConfig
from search.operators import crossover_configs, mutate_config
from search.space import Config, config_key
from search.strategy import Strategy


class Genetic(Strategy):
    """Steady-state GA: elitist population, tournament selection, typed crossover + mutation."""

    name = "genetic"
    default_options = {"population": 16, "tournament": 3, "crossover_rate": 0.9,
                       "mutation_rate": None, "retries": 10, "repair": True}

    def _propose(self, n: int) -> list[Config]:
        out: list[Config] = []
        keys: set[tuple] = set()
        parents = self.ranked()[: self.options["population"]]
        for _ in range(n):
            started = len(self._seen) + len(out)
            if started < self.options["population"] or len(parents) < 2:
                child = self._initial(keys)
            else:
                child = self._child(parents, keys)
            if child is None:
                break
            out.append(child)
            keys.add(config_key(child))
        return out

    def _initial(self, keys: set[tuple]) -> Config | None:
        default = self.space.default()
        if self.is_new(default, keys):
            return default
        found = self._random_unseen(1, set(keys))
        return found[0] if found else None

    def _tournament(self, parents: list[tuple[Config, float]]) -> Config:
        size = min(self.options["tournament"], len(parents))
        picks = self.rng.choice(len(parents), size=size, replace=False)
        return parents[int(min(picks))][0]  # parents are sorted fastest first

    def _repaired(self, child: Config, keys: set[tuple]) -> Config | None:
        """A random new valid config one single-knob step from an invalid child, or None."""
        if not self.options["repair"]:
            return None
        try:
            steps = [c for c in self.space.neighbors(child) if self.is_new(c, keys)]
        except InvalidConfig:
            return None
        return steps[int(self.rng.integers(len(steps)))] if steps else None

    def _child(self, parents: list[tuple[Config, float]], keys: set[tuple]) -> Config | None:
        for _ in range(self.options["retries"]):
            a, b = self._tournament(parents), self._tournament(parents)
            if self.rng.random() < self.options["crossover_rate"]:
                child = crossover_configs(self.space, a, b, self.rng)
            else:
                child = a
            child = mutate_config(self.space, child, self.rng, self.options["mutation_rate"])
            try:
                child = self.space.normalize(child)
            except InvalidConfig:
                child = self._repaired(child, keys)
                if child is None:
                    continue
            if self.is_new(child, keys):
                return child
        found = self._random_unseen(1, set(keys))
        return found[0] if found else None
