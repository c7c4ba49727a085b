"""`Space`: an ordered set of named parameters plus named constraints; `Constraint`, `config_key`.

A config is a plain dict of parameter name to JSON-able value. `Space.normalize` is the one place
that fills defaults, validates values, applies repairs and checks constraints.

Constraints are code, so they cannot travel in JSON: `to_json` keeps only their names, and
`Space.from_json(data, constraints=[...])` re-attaches them (the names must match). Without
`constraints`, the loaded space enforces none and lists the missing names in
`detached_constraints`; its fingerprint still equals the original's.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence, Union

import numpy as np

from search.errors import InvalidConfig, InvalidValue
from search.params import Parameter
from search.params_seq import freeze, parameter_from_json, thaw

Config = dict[str, Any]

#: How many draws `Space.sample` makes before it gives up on rejection sampling.
SAMPLE_TRIES = 100


def config_key(config: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    """A hashable canonical form of a config (sorted names, lists as tuples), for dedup."""
    return tuple(sorted((name, freeze(value)) for name, value in config.items()))


def copy_config(config: Mapping[str, Any]) -> Config:
    """A deep copy of a config (its values are JSON-able)."""
    return {name: thaw(value) for name, value in config.items()}


@dataclass(frozen=True)
class Constraint:
    """A named predicate over a config, with an optional repair and a message for users.

    `predicate(config) -> bool`; `repair(config) -> config` (optional) returns a config that
    should satisfy the predicate, e.g. by shrinking a block size.
    """

    name: str
    predicate: Callable[[Mapping[str, Any]], bool]
    repair: Callable[[Config], Mapping[str, Any]] | None = None
    message: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"a constraint needs a non-empty name, got {self.name!r}")
        if not callable(self.predicate):
            raise TypeError(f"constraint {self.name!r}: predicate must be callable")
        if self.repair is not None and not callable(self.repair):
            raise TypeError(f"constraint {self.name!r}: repair must be callable or None")

    def holds(self, config: Mapping[str, Any]) -> bool:
        """True if the predicate accepts `config`."""
        return bool(self.predicate(config))


ConstraintLike = Union[Constraint, tuple]


def _as_constraint(item: ConstraintLike) -> Constraint:
    if isinstance(item, Constraint):
        return item
    if isinstance(item, tuple) and len(item) == 2:
        return Constraint(item[0], item[1])
    raise TypeError(f"a constraint must be a search.Constraint or a (name, predicate) tuple, got {item!r}")


class Space:
    """An ordered set of named parameters plus named constraints (see DESIGN.md)."""

    def __init__(self, params: Mapping[str, Parameter], constraints: Iterable[ConstraintLike] = (),
                 *, detached_constraints: Sequence[str] = ()):
        if not isinstance(params, Mapping):
            raise TypeError(f"Space needs a mapping of name to parameter, got {type(params).__name__}")
        for name, param in params.items():
            if not isinstance(name, str) or not name:
                raise ValueError(f"parameter names must be non-empty strings, got {name!r}")
            if not isinstance(param, Parameter):
                raise TypeError(f"parameter {name!r} must be a parameter type such as PowerOfTwo, got {param!r}")
        self._params = dict(params)
        self._constraints = tuple(_as_constraint(c) for c in constraints)
        self.detached_constraints = tuple(detached_constraints)
        names = [c.name for c in self._constraints] + list(self.detached_constraints)
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"constraint names must be unique; repeated: {repeated}")

    # -- the mapping-like view -------------------------------------------------------------------

    @property
    def names(self) -> tuple[str, ...]:
        """Parameter names, in order."""
        return tuple(self._params)

    @property
    def params(self) -> Mapping[str, Parameter]:
        """Read-only mapping of name to parameter."""
        return MappingProxyType(self._params)

    @property
    def constraints(self) -> tuple[Constraint, ...]:
        """The attached constraints, in order."""
        return self._constraints

    def __getitem__(self, name: str) -> Parameter:
        try:
            return self._params[name]
        except KeyError:
            raise KeyError(f"no parameter {name!r}; the space has {list(self._params)}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._params)

    def __len__(self) -> int:
        return len(self._params)

    def __repr__(self) -> str:
        params = ", ".join(f"{n!r}: {p!r}" for n, p in self._params.items())
        names = [c.name for c in self._constraints]
        return f"Space({{{params}}}, constraints={names})"

    # -- validity ------------------------------------------------------------------------------

    def violated(self, config: Mapping[str, Any]) -> Constraint | None:
        """The first constraint that `config` violates, or None."""
        for constraint in self._constraints:
            if not constraint.holds(config):
                return constraint
        return None

    def _check_values(self, config: Mapping[str, Any], *, fill: bool) -> Config:
        if not isinstance(config, Mapping):
            raise InvalidConfig(f"a config must be a mapping of parameter name to value, got {type(config).__name__}")
        unknown = [name for name in config if name not in self._params]
        if unknown:
            raise InvalidConfig(f"unknown parameter(s) {unknown}; the space has {list(self._params)}",
                                parameter=unknown[0])
        out = {}
        for name, param in self._params.items():
            if name not in config and not fill:
                raise InvalidConfig(f"config misses parameter {name!r}", parameter=name)
            try:
                out[name] = param.validate(config[name] if name in config else param.default)
            except InvalidValue as error:
                raise InvalidConfig(f"parameter {name!r}: {error}", parameter=name) from None
        return out

    def _raise_violation(self, constraint: Constraint, config: Mapping[str, Any]) -> None:
        detail = f": {constraint.message}" if constraint.message else ""
        raise InvalidConfig(f"config violates constraint {constraint.name!r}{detail} (config: {dict(config)})",
                            constraint=constraint.name)

    def validate(self, config: Mapping[str, Any]) -> Config:
        """The canonical form of `config`; raises InvalidConfig unless it is exactly valid.

        Unlike `normalize`, nothing is filled in or repaired.
        """
        out = self._check_values(config, fill=False)
        constraint = self.violated(out)
        if constraint is not None:
            self._raise_violation(constraint, out)
        return out

    def contains(self, config: Mapping[str, Any]) -> bool:
        """True if `config` names every parameter with a valid value and satisfies all constraints."""
        try:
            self.validate(config)
        except InvalidConfig:
            return False
        return True

    def normalize(self, config: Mapping[str, Any]) -> Config:
        """Fill missing names with defaults, validate values, apply repairs, check constraints.

        Raises InvalidConfig naming the parameter or the constraint (with its message).
        """
        out = self._check_values(config, fill=True)
        for _ in range(len(self._constraints) + 1):
            repaired = False
            for constraint in self._constraints:
                if constraint.repair is not None and not constraint.holds(out):
                    fixed = constraint.repair(copy_config(out))
                    if not isinstance(fixed, Mapping):
                        raise TypeError(f"repair of constraint {constraint.name!r} must return a config mapping")
                    out = self._check_values({**out, **fixed}, fill=True)
                    repaired = True
            if not repaired:
                break
        constraint = self.violated(out)
        if constraint is not None:
            self._raise_violation(constraint, out)
        return out

    def default(self) -> Config:
        """The parameter defaults, normalized (so repairs apply)."""
        try:
            return self.normalize({})
        except InvalidConfig as error:
            raise InvalidConfig(f"the parameter defaults are not a valid config: {error}",
                                parameter=error.parameter, constraint=error.constraint) from None

    def sample(self, rng: np.random.Generator, *, tries: int = SAMPLE_TRIES) -> Config:
        """A random valid config: each draw is repaired where a constraint can repair it, and
        rejected otherwise.

        Raises InvalidConfig naming the constraints that rejected every draw.
        """
        counts: dict[str, int] = {}
        for _ in range(tries):
            config = {name: param.sample(rng) for name, param in self._params.items()}
            constraint = self.violated(config)
            if constraint is None:
                return config
            try:
                return self.normalize(config)
            except InvalidConfig as error:
                name = error.constraint or constraint.name
                counts[name] = counts.get(name, 0) + 1
        summary = ", ".join(f"{name!r} ({count})" for name, count in sorted(counts.items(), key=lambda kv: -kv[1]))
        raise InvalidConfig(f"no valid config in {tries} random draws (after repairs); "
                            f"rejected by: {summary}. Loosen the constraints or add repairs.")

    # -- encoding ------------------------------------------------------------------------------

    @property
    def encoded_size(self) -> int:
        """Length of `encode`'s vector."""
        return sum(p.encoded_size for p in self._params.values())

    def encode(self, config: Mapping[str, Any]) -> np.ndarray:
        """The concatenated parameter encodings of a config (in parameter order)."""
        try:
            floats = [x for name, p in self._params.items() for x in p.encode(config[name])]
        except KeyError as error:
            raise InvalidConfig(f"config misses parameter {error.args[0]!r}", parameter=error.args[0]) from None
        return np.asarray(floats, dtype=float)

    def encode_many(self, configs: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """A (len(configs), encoded_size) matrix of encodings."""
        if not configs:
            return np.zeros((0, self.encoded_size))
        return np.stack([self.encode(c) for c in configs])

    def decode(self, vector: Sequence[float]) -> Config:
        """The config of nearest valid parameter values; constraints are not enforced (use `normalize`)."""
        if len(vector) != self.encoded_size:
            raise InvalidValue(f"expected a vector of {self.encoded_size} floats, got {len(vector)}")
        out, start = {}, 0
        for name, param in self._params.items():
            out[name] = param.decode(list(vector[start:start + param.encoded_size]))
            start += param.encoded_size
        return out

    # -- size, enumeration, neighborhoods ------------------------------------------------------

    def size(self) -> int:
        """Exact number of configs, ignoring constraints."""
        return math.prod(p.cardinality() for p in self._params.values())

    def log_size(self) -> float:
        """Natural log of `size()`, ignoring constraints."""
        return sum(math.log(p.cardinality()) for p in self._params.values())

    def enumerate(self, limit: int = 100_000) -> list[Config]:
        """Every valid config, in lexicographic order of the parameters' `values()`.

        Raises ValueError if `size()` (before constraints) exceeds `limit`.
        """
        if self.size() > limit:
            raise ValueError(f"the space has {self.size()} configs before constraints, more than limit={limit}; "
                             "raise the limit or sample instead")
        values = [[freeze(v) for v in p.values()] for p in self._params.values()]
        out = []
        for combo in itertools.product(*values):
            config = {name: thaw(v) for name, v in zip(self._params, combo)}
            if self.violated(config) is None:
                out.append(config)
        return out

    def neighbors(self, config: Mapping[str, Any]) -> list[Config]:
        """Valid configs that differ from `config` in one parameter, moved to one of its neighbors."""
        config = self._check_values(config, fill=False)
        out = []
        for name, param in self._params.items():
            for value in param.neighbors(config[name]):
                candidate = copy_config(config)
                candidate[name] = value
                if self.violated(candidate) is None:
                    out.append(candidate)
        return out

    # -- JSON --------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """{"params": {name: param JSON}, "constraints": [names]} (constraints by name only)."""
        names = [c.name for c in self._constraints] + list(self.detached_constraints)
        return {"params": {name: p.to_json() for name, p in self._params.items()}, "constraints": names}

    @classmethod
    def from_json(cls, data: Mapping[str, Any], constraints: Iterable[ConstraintLike] | None = None) -> Space:
        """Inverse of `to_json`; pass the `constraints` again (same names) to enforce them."""
        params = {name: parameter_from_json(p) for name, p in data["params"].items()}
        recorded = list(data.get("constraints", []))
        if constraints is None:
            return cls(params, detached_constraints=recorded)
        attached = [_as_constraint(c) for c in constraints]
        if sorted(c.name for c in attached) != sorted(recorded):
            raise ValueError(f"constraints {[c.name for c in attached]} do not match the recorded names {recorded}")
        return cls(params, attached)

    def fingerprint(self) -> str:
        """A stable 16-hex-digit sha256 of the parameters (in order) and the constraint names."""
        data = self.to_json()
        canonical = {"params": [[name, p] for name, p in data["params"].items()],
                     "constraints": sorted(data["constraints"])}
        text = json.dumps(canonical, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]
