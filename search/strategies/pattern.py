"""`PatternSearch`: local search around the best config, with restarts when stuck.

The center is the fastest config seen (told results from anywhere count). Its moves are tried
in a shuffled order: first single-knob moves (`Space.neighbors`) together with repaired moves (a
single-knob step that breaks a constraint, made legal by a step of another knob: a wider tile
with more warps, say), then paired block-size moves that double one power of two while halving
another (also between elements of `ListOf`s), which keep the tile's area while changing its
shape. Repaired moves let the search walk along the edge of the feasible region, where the
fastest configs of a kernel often sit (the most registers, shared memory or threads allowed). A faster result moves the center and rebuilds the
moves. When every move of the center has been measured without improvement, the search restarts:
it samples fresh random configs and re-centers on the best of them (or on anything faster).
"""

from __future__ import annotations

from collections import deque
from typing import Any

from search.params import PowerOfTwo
from search.params_seq import ListOf
from search.outcomes import Observation
from search.space import Config, Space, config_key, copy_config
from search.strategy import Strategy

Path = tuple[Any, ...]  # (name, index, index, ...) into a config's nested lists


def power_of_two_paths(space: Space) -> list[Path]:
    """Paths to every PowerOfTwo slot of a config, including elements of (nested) ListOfs."""
    paths: list[Path] = []

    def visit(path: Path, param: Any) -> None:
        """Collect the PowerOfTwo slots under `param`."""
        if isinstance(param, PowerOfTwo):
            paths.append(path)
        elif isinstance(param, ListOf):
            for i, element in enumerate(param.elements):
                visit(path + (i,), element)

    for name in space.names:
        visit((name,), space[name])
    return paths


def _slot(space: Space, path: Path) -> PowerOfTwo:
    param: Any = space[path[0]]
    for i in path[1:]:
        param = param.elements[i]
    return param


def _get(config: Config, path: Path) -> Any:
    value: Any = config[path[0]]
    for i in path[1:]:
        value = value[i]
    return value


def _set(config: Config, path: Path, value: Any) -> None:
    if len(path) == 1:
        config[path[0]] = value
        return
    container = _get(config, path[:-1])
    container[path[-1]] = value


def paired_moves(space: Space, config: Config) -> list[Config]:
    """Valid configs with one power of two doubled and another halved (each pair, both ways)."""
    paths = power_of_two_paths(space)
    out = []
    for up in paths:
        for down in paths:
            if up == down:
                continue
            grown, shrunk = _get(config, up) * 2, _get(config, down) // 2
            if grown > _slot(space, up).high or shrunk < _slot(space, down).low:
                continue
            candidate = copy_config(config)
            _set(candidate, up, grown)
            _set(candidate, down, shrunk)
            if space.violated(candidate) is None:
                out.append(candidate)
    return out


def repaired_moves(space: Space, config: Config) -> list[Config]:
    """Valid configs two single-knob steps from `config` whose first step alone violates a constraint."""
    steps = [(name, value) for name, param in space.params.items() for value in param.neighbors(config[name])]
    out, keys = [], set()
    for name, value in steps:
        first = copy_config(config)
        first[name] = value
        if space.violated(first) is None:
            continue
        for other, other_value in steps:
            if other == name:
                continue
            candidate = copy_config(first)
            candidate[other] = other_value
            key = config_key(candidate)
            if key not in keys and space.violated(candidate) is None:
                out.append(candidate)
                keys.add(key)
    return out


class PatternSearch(Strategy):
    """Local search: single-knob, repaired and paired block-size moves around the best, random restarts."""

    name = "pattern"
    default_options = {"paired_moves": True, "repaired_moves": True}

    def __init__(self, space: Space, *, seed: int | None = None, **options: Any):
        super().__init__(space, seed=seed, **options)
        self._center: Config | None = None
        self._center_time = float("inf")
        self._moves: deque[Config] = deque()
        self._outstanding: set[tuple] = set()  # moves of the center asked but not told

    def _propose(self, n: int) -> list[Config]:
        out: list[Config] = []
        keys: set[tuple] = set()
        while len(out) < n:
            config = self._next_move(keys)
            if config is None:
                if self._center is not None and not self._outstanding:
                    self._center, self._center_time = None, float("inf")  # stuck: restart
                config = self._start_point(keys)
            if config is None:
                break
            out.append(config)
            keys.add(config_key(config))
        return out

    def _next_move(self, keys: set[tuple]) -> Config | None:
        while self._moves:
            move = self._moves.popleft()
            if self.is_new(move, keys):
                self._outstanding.add(config_key(move))
                return move
        return None

    def _start_point(self, keys: set[tuple]) -> Config | None:
        default = self.space.default()
        if self.is_new(default, keys):
            return default
        found = self._random_unseen(1, set(keys))
        return found[0] if found else None

    def _observe(self, configs: list[Config], observations: list[Observation]) -> None:
        moved = False
        for config, observation in zip(configs, observations):
            self._outstanding.discard(config_key(config))
            if observation.ok and observation.time_ms < self._center_time:
                self._center, self._center_time = config, observation.time_ms
                moved = True
        if moved:
            self._rebuild_moves()

    def _rebuild_moves(self) -> None:
        assert self._center is not None
        singles = self.space.neighbors(self._center)
        if self.options["repaired_moves"]:
            singles += repaired_moves(self.space, self._center)
        pairs = paired_moves(self.space, self._center) if self.options["paired_moves"] else []
        self._moves = deque(self._shuffled(singles) + self._shuffled(pairs))
        self._outstanding.clear()

    def _shuffled(self, configs: list[Config]) -> list[Config]:
        order = self.rng.permutation(len(configs))
        return [configs[int(i)] for i in order]
