"""Scalar parameter types of a search space: `PowerOfTwo`, `Integer`, `Enum`, `Boolean`.

Every parameter type (these four and `Permutation`, `ListOf` in `search.params_seq`) is a small
immutable object offering the `Parameter` interface below. Values are plain JSON-able Python
values; `validate` returns the canonical form of a value (e.g. a numpy integer becomes an `int`).

Encodings (`encode`, used by cost models and replay distances) put one step of a parameter at
about one unit: the exponent (log2) for powers of two, the value itself for integers, 0/1 for
booleans and a one-hot vector for enums.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterator, Protocol, Sequence, runtime_checkable

import numpy as np

from search.errors import InvalidValue

#: Probability that `mutate` of a numeric parameter jumps to a uniformly drawn value instead of a
#: neighbor, so mutation can leave a basin.
JUMP_PROBABILITY = 0.2


@runtime_checkable
class Parameter(Protocol):
    """The interface every parameter type offers (see DESIGN.md, "The typed parameter schema")."""

    @property
    def default(self) -> Any:
        """The default value."""

    @property
    def encoded_size(self) -> int:
        """Number of floats in `encode`'s output."""

    def sample(self, rng: np.random.Generator) -> Any:
        """A random value drawn with `rng`."""

    def neighbors(self, value: Any) -> list[Any]:
        """The values one step away from `value`."""

    def mutate(self, value: Any, rng: np.random.Generator) -> Any:
        """A random variation of `value` (different from it when the domain allows)."""

    def crossover(self, a: Any, b: Any, rng: np.random.Generator) -> Any:
        """A value combining `a` and `b`."""

    def validate(self, value: Any) -> Any:
        """The canonical form of `value`; raises InvalidValue with the bounds if it is invalid."""

    def contains(self, value: Any) -> bool:
        """True if `validate` accepts `value`."""

    def encode(self, value: Any) -> list[float]:
        """`value` as `encoded_size` floats."""

    def decode(self, floats: Sequence[float]) -> Any:
        """The valid value nearest to an encoding."""

    def cardinality(self) -> int:
        """Number of values."""

    def values(self) -> Iterator[Any]:
        """Every value, in a fixed order."""

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict with a "type" field."""


def is_int(value: Any) -> bool:
    """True for Python and numpy integers, False for booleans."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def pick(rng: np.random.Generator, items: Sequence[Any]) -> Any:
    """One element of a non-empty sequence, drawn uniformly with `rng`."""
    return items[int(rng.integers(len(items)))]


def contains(param: Parameter, value: Any) -> bool:
    """True if `param.validate(value)` accepts `value`."""
    try:
        param.validate(value)
    except InvalidValue:
        return False
    return True


def decode_scalar(param: Parameter, floats: Sequence[float]) -> float:
    """The single float of a one-float encoding; raises InvalidValue if it is missing or not finite."""
    if len(floats) != 1:
        raise InvalidValue(f"{param}: expected 1 encoded float, got {len(floats)}")
    x = float(floats[0])
    if not math.isfinite(x):
        raise InvalidValue(f"{param}: cannot decode the non-finite number {x}")
    return x


def _mutate_numeric(param: Any, value: Any, rng: np.random.Generator) -> Any:
    """A neighbor of `value`, or (with JUMP_PROBABILITY) any other value drawn uniformly."""
    options = param.neighbors(value)
    if not options:
        return param.validate(value)
    if rng.random() < JUMP_PROBABILITY:
        for _ in range(8):
            other = param.sample(rng)
            if other != value:
                return other
    return pick(rng, options)


def _crossover_pick(a: Any, b: Any, rng: np.random.Generator) -> Any:
    """Uniform crossover of two scalar values: one of them, each with probability 1/2."""
    return a if rng.random() < 0.5 else b


@dataclass(frozen=True)
class PowerOfTwo:
    """A power of two in [low, high] (both powers of two); default `low` unless given."""

    low: int
    high: int
    default: int | None = None

    def __post_init__(self) -> None:
        for label, bound in (("low", self.low), ("high", self.high)):
            if not is_int(bound) or bound < 1 or bound & (bound - 1):
                raise ValueError(f"PowerOfTwo {label}={bound!r} must be a positive power of two")
        if self.low > self.high:
            raise ValueError(f"PowerOfTwo low={self.low} must be <= high={self.high}")
        object.__setattr__(self, "low", int(self.low))
        object.__setattr__(self, "high", int(self.high))
        default = self.low if self.default is None else self.default
        object.__setattr__(self, "default", self.validate(default))

    def __str__(self) -> str:
        return f"PowerOfTwo({self.low}, {self.high})"

    @property
    def exponents(self) -> tuple[int, int]:
        """(log2(low), log2(high))."""
        return self.low.bit_length() - 1, self.high.bit_length() - 1

    @property
    def encoded_size(self) -> int:
        """Number of floats in `encode`'s output: 1."""
        return 1

    def validate(self, value: Any) -> int:
        """`value` as an int; raises InvalidValue unless it is a power of two in [low, high]."""
        if not is_int(value):
            raise InvalidValue(f"{self}: expected an int, got {value!r} ({type(value).__name__})")
        value = int(value)
        if value < self.low or value > self.high or value & (value - 1):
            raise InvalidValue(f"{self}: {value} is not a power of two in [{self.low}, {self.high}]")
        return value

    def contains(self, value: Any) -> bool:
        """True if `value` is valid."""
        return contains(self, value)

    def sample(self, rng: np.random.Generator) -> int:
        """A value drawn uniformly over the exponents."""
        lo, hi = self.exponents
        return 1 << int(rng.integers(lo, hi + 1))

    def neighbors(self, value: Any) -> list[int]:
        """value // 2 and value * 2, where inside the bounds."""
        value = self.validate(value)
        return [v for v in (value // 2, value * 2) if self.low <= v <= self.high]

    def mutate(self, value: Any, rng: np.random.Generator) -> int:
        """A neighbor, sometimes a uniformly drawn other value."""
        return _mutate_numeric(self, value, rng)

    def crossover(self, a: Any, b: Any, rng: np.random.Generator) -> int:
        """`a` or `b`, each with probability 1/2."""
        return _crossover_pick(a, b, rng)

    def encode(self, value: Any) -> list[float]:
        """[log2(value)]."""
        return [float(self.validate(value).bit_length() - 1)]

    def decode(self, floats: Sequence[float]) -> int:
        """The power of two whose exponent is nearest, clipped to the bounds."""
        lo, hi = self.exponents
        return 1 << int(min(max(round(decode_scalar(self, floats)), lo), hi))

    def cardinality(self) -> int:
        """Number of values."""
        lo, hi = self.exponents
        return hi - lo + 1

    def values(self) -> Iterator[int]:
        """All values, ascending."""
        lo, hi = self.exponents
        return (1 << e for e in range(lo, hi + 1))

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict with a "type" field; `parameter_from_json` inverts it."""
        return {"type": "PowerOfTwo", "low": self.low, "high": self.high, "default": self.default}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PowerOfTwo:
        """Inverse of `to_json`."""
        return cls(data["low"], data["high"], default=data.get("default"))


@dataclass(frozen=True)
class Integer:
    """An integer in [low, high]; default `low` unless given."""

    low: int
    high: int
    default: int | None = None

    def __post_init__(self) -> None:
        if not is_int(self.low) or not is_int(self.high):
            raise ValueError(f"Integer bounds must be ints, got low={self.low!r}, high={self.high!r}")
        if self.low > self.high:
            raise ValueError(f"Integer low={self.low} must be <= high={self.high}")
        object.__setattr__(self, "low", int(self.low))
        object.__setattr__(self, "high", int(self.high))
        default = self.low if self.default is None else self.default
        object.__setattr__(self, "default", self.validate(default))

    def __str__(self) -> str:
        return f"Integer({self.low}, {self.high})"

    @property
    def encoded_size(self) -> int:
        """Number of floats in `encode`'s output: 1."""
        return 1

    def validate(self, value: Any) -> int:
        """`value` as an int; raises InvalidValue unless it is an int in [low, high]."""
        if not is_int(value):
            raise InvalidValue(f"{self}: expected an int, got {value!r} ({type(value).__name__})")
        value = int(value)
        if not self.low <= value <= self.high:
            raise InvalidValue(f"{self}: {value} is outside [{self.low}, {self.high}]")
        return value

    def contains(self, value: Any) -> bool:
        """True if `value` is valid."""
        return contains(self, value)

    def sample(self, rng: np.random.Generator) -> int:
        """A value drawn uniformly."""
        return int(rng.integers(self.low, self.high + 1))

    def neighbors(self, value: Any) -> list[int]:
        """value - 1 and value + 1, where inside the bounds."""
        value = self.validate(value)
        return [v for v in (value - 1, value + 1) if self.low <= v <= self.high]

    def mutate(self, value: Any, rng: np.random.Generator) -> int:
        """A neighbor, sometimes a uniformly drawn other value."""
        return _mutate_numeric(self, value, rng)

    def crossover(self, a: Any, b: Any, rng: np.random.Generator) -> int:
        """`a` or `b`, each with probability 1/2."""
        return _crossover_pick(a, b, rng)

    def encode(self, value: Any) -> list[float]:
        """[value]."""
        return [float(self.validate(value))]

    def decode(self, floats: Sequence[float]) -> int:
        """The nearest integer, clipped to the bounds."""
        return int(min(max(round(decode_scalar(self, floats)), self.low), self.high))

    def cardinality(self) -> int:
        """Number of values."""
        return self.high - self.low + 1

    def values(self) -> Iterator[int]:
        """All values, ascending."""
        return iter(range(self.low, self.high + 1))

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict with a "type" field; `parameter_from_json` inverts it."""
        return {"type": "Integer", "low": self.low, "high": self.high, "default": self.default}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Integer:
        """Inverse of `to_json`."""
        return cls(data["low"], data["high"], default=data.get("default"))


_JSON_SCALARS = (str, int, float, bool, type(None))


def _same(a: Any, b: Any) -> bool:
    """Equality that keeps True apart from 1 and False apart from 0."""
    return a == b and isinstance(a, (bool, np.bool_)) == isinstance(b, (bool, np.bool_))


@dataclass(frozen=True)
class Enum:
    """One of a fixed tuple of JSON scalars (str, int, float, bool, None); default the first."""

    choices: tuple[Any, ...]
    default: Any = None

    def __post_init__(self) -> None:
        if isinstance(self.choices, (str, bytes)) or not isinstance(self.choices, Sequence):
            raise ValueError(f"Enum choices must be a list of values, got {self.choices!r}")
        choices = tuple(self.choices)
        if not choices:
            raise ValueError("Enum needs at least one choice")
        for choice in choices:
            if not isinstance(choice, _JSON_SCALARS):
                raise ValueError(f"Enum choice {choice!r} must be a str, int, float, bool or None")
        for i, choice in enumerate(choices):
            if any(_same(choice, other) for other in choices[:i]):
                raise ValueError(f"Enum choice {choice!r} is repeated in {list(choices)}")
        object.__setattr__(self, "choices", choices)
        default = choices[0] if self.default is None else self.default
        object.__setattr__(self, "default", self.validate(default))

    def __str__(self) -> str:
        return f"Enum({list(self.choices)!r})"

    @property
    def encoded_size(self) -> int:
        """Number of floats in `encode`'s output: one per choice."""
        return len(self.choices)

    def index(self, value: Any) -> int:
        """Position of `value` among the choices; raises InvalidValue if it is not one."""
        for i, choice in enumerate(self.choices):
            if _same(choice, value):
                return i
        raise InvalidValue(f"{self}: {value!r} is not one of the choices {list(self.choices)!r}")

    def validate(self, value: Any) -> Any:
        """The matching choice; raises InvalidValue if `value` is not a choice."""
        return self.choices[self.index(value)]

    def contains(self, value: Any) -> bool:
        """True if `value` is valid."""
        return contains(self, value)

    def sample(self, rng: np.random.Generator) -> Any:
        """A choice drawn uniformly."""
        return pick(rng, self.choices)

    def neighbors(self, value: Any) -> list[Any]:
        """The other choices, in order."""
        i = self.index(value)
        return [c for j, c in enumerate(self.choices) if j != i]

    def mutate(self, value: Any, rng: np.random.Generator) -> Any:
        """Another choice drawn uniformly (the same value if there is only one choice)."""
        others = self.neighbors(value)
        return pick(rng, others) if others else self.validate(value)

    def crossover(self, a: Any, b: Any, rng: np.random.Generator) -> Any:
        """`a` or `b`, each with probability 1/2."""
        return _crossover_pick(a, b, rng)

    def encode(self, value: Any) -> list[float]:
        """One-hot over the choices."""
        out = [0.0] * len(self.choices)
        out[self.index(value)] = 1.0
        return out

    def decode(self, floats: Sequence[float]) -> Any:
        """The choice with the largest encoded value (the first on ties)."""
        if len(floats) != len(self.choices):
            raise InvalidValue(f"{self}: expected {len(self.choices)} encoded floats, got {len(floats)}")
        scores = np.nan_to_num(np.asarray(floats, dtype=float), nan=-np.inf)
        return self.choices[int(np.argmax(scores))]

    def cardinality(self) -> int:
        """Number of choices."""
        return len(self.choices)

    def values(self) -> Iterator[Any]:
        """The choices, in order."""
        return iter(self.choices)

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict with a "type" field; `parameter_from_json` inverts it."""
        return {"type": "Enum", "choices": list(self.choices), "default": self.default}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Enum:
        """Inverse of `to_json`."""
        return cls(data["choices"], default=data.get("default"))


@dataclass(frozen=True)
class Boolean:
    """True or False; default False unless given."""

    default: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "default", self.validate(self.default))

    def __str__(self) -> str:
        return "Boolean()"

    @property
    def encoded_size(self) -> int:
        """Number of floats in `encode`'s output: 1."""
        return 1

    def validate(self, value: Any) -> bool:
        """`value` as a bool; raises InvalidValue unless it is a (numpy) bool."""
        if not isinstance(value, (bool, np.bool_)):
            raise InvalidValue(f"{self}: expected True or False, got {value!r} ({type(value).__name__})")
        return bool(value)

    def contains(self, value: Any) -> bool:
        """True if `value` is valid."""
        return contains(self, value)

    def sample(self, rng: np.random.Generator) -> bool:
        """True or False with probability 1/2."""
        return bool(rng.random() < 0.5)

    def neighbors(self, value: Any) -> list[bool]:
        """[not value]."""
        return [not self.validate(value)]

    def mutate(self, value: Any, rng: np.random.Generator) -> bool:
        """not value."""
        return not self.validate(value)

    def crossover(self, a: Any, b: Any, rng: np.random.Generator) -> bool:
        """`a` or `b`, each with probability 1/2."""
        return _crossover_pick(a, b, rng)

    def encode(self, value: Any) -> list[float]:
        """[1.0] for True, [0.0] for False."""
        return [1.0 if self.validate(value) else 0.0]

    def decode(self, floats: Sequence[float]) -> bool:
        """True if the encoded float is >= 0.5."""
        return decode_scalar(self, floats) >= 0.5

    def cardinality(self) -> int:
        """2."""
        return 2

    def values(self) -> Iterator[bool]:
        """False, True."""
        return iter((False, True))

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict with a "type" field; `parameter_from_json` inverts it."""
        return {"type": "Boolean", "default": self.default}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Boolean:
        """Inverse of `to_json`."""
        return cls(default=data.get("default", False))
