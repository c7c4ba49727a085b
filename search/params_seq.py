"""Sequence parameter types: `Permutation` and `ListOf`; plus `parameter_from_json`.

Sequence values are plain lists (JSON-able); `validate` accepts lists or tuples and returns a new
list. The objects themselves are immutable: `default` returns a fresh list on every access.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import numpy as np

from search.errors import InvalidValue
from search.params import Boolean, Enum, Integer, Parameter, PowerOfTwo, contains, is_int, pick


@dataclass(frozen=True, order=True)
class _FrozenBool:
    """A bool inside a frozen value, so that True and 1 stay different keys."""

    value: bool


def freeze(value: Any) -> Any:
    """A hashable form of a config value: lists (recursively) become tuples; True stays apart from 1."""
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    if isinstance(value, (bool, np.bool_)):
        return _FrozenBool(bool(value))
    return value


def thaw(value: Any) -> Any:
    """Inverse of `freeze`: tuples (recursively) become fresh lists."""
    if isinstance(value, (list, tuple)):
        return [thaw(v) for v in value]
    if isinstance(value, _FrozenBool):
        return value.value
    return value


class _Immutable:
    """Refuses attribute assignment after `__init__` (which uses `object.__setattr__`)."""

    __slots__ = ()

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")


class Permutation(_Immutable):
    """An ordering of range(n), e.g. a loop order; the value is a list of ints, default identity.

    Encoding (rank encoding): element e gets position(e) / (n - 1), so one adjacent swap moves two
    coordinates by 1/(n-1); `decode` sorts the elements by their encoded position.
    """

    __slots__ = ("n", "_default")

    def __init__(self, n: int, default: Sequence[int] | None = None):
        if not is_int(n) or n < 1:
            raise ValueError(f"Permutation n={n!r} must be an int >= 1")
        object.__setattr__(self, "n", int(n))
        object.__setattr__(self, "_default", tuple(self.validate(range(n) if default is None else default)))

    def __repr__(self) -> str:
        return f"Permutation({self.n}, default={list(self._default)})"

    def __str__(self) -> str:
        return f"Permutation({self.n})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Permutation) and (self.n, self._default) == (other.n, other._default)

    def __hash__(self) -> int:
        return hash(("Permutation", self.n, self._default))

    def __reduce__(self) -> tuple[Any, ...]:
        return Permutation, (self.n, self.default)

    @property
    def default(self) -> list[int]:
        """The default ordering (a fresh list)."""
        return list(self._default)

    @property
    def encoded_size(self) -> int:
        """Number of floats in `encode`'s output: n."""
        return self.n

    def validate(self, value: Any) -> list[int]:
        """`value` as a list; raises InvalidValue unless it is an ordering of range(n)."""
        if isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, range)):
            raise InvalidValue(f"{self}: expected a list of ints, got {value!r} ({type(value).__name__})")
        items = list(value)
        if not all(is_int(v) for v in items) or sorted(int(v) for v in items) != list(range(self.n)):
            raise InvalidValue(f"{self}: {items!r} is not an ordering of 0..{self.n - 1}")
        return [int(v) for v in items]

    def contains(self, value: Any) -> bool:
        """True if `value` is valid."""
        return contains(self, value)

    def sample(self, rng: np.random.Generator) -> list[int]:
        """An ordering drawn uniformly."""
        return [int(v) for v in rng.permutation(self.n)]

    def neighbors(self, value: Any) -> list[list[int]]:
        """The orderings one adjacent transposition away."""
        value = self.validate(value)
        out = []
        for i in range(self.n - 1):
            swapped = list(value)
            swapped[i], swapped[i + 1] = swapped[i + 1], swapped[i]
            out.append(swapped)
        return out

    def mutate(self, value: Any, rng: np.random.Generator) -> list[int]:
        """`value` with two positions (drawn uniformly) swapped."""
        value = self.validate(value)
        if self.n < 2:
            return value
        i, j = (int(k) for k in rng.choice(self.n, size=2, replace=False))
        value[i], value[j] = value[j], value[i]
        return value

    def crossover(self, a: Any, b: Any, rng: np.random.Generator) -> list[int]:
        """Order crossover: a slice of `a` kept in place, the rest in `b`'s order."""
        a, b = self.validate(a), self.validate(b)
        i, j = sorted(int(k) for k in rng.integers(0, self.n + 1, size=2))
        kept = set(a[i:j])
        rest = iter(v for v in b if v not in kept)
        return [a[k] if i <= k < j else next(rest) for k in range(self.n)]

    def encode(self, value: Any) -> list[float]:
        """Rank encoding: position of each element, scaled to [0, 1]."""
        value = self.validate(value)
        scale = max(self.n - 1, 1)
        out = [0.0] * self.n
        for position, element in enumerate(value):
            out[element] = position / scale
        return out

    def decode(self, floats: Sequence[float]) -> list[int]:
        """Elements sorted by encoded position (stable, so ties keep element order)."""
        if len(floats) != self.n:
            raise InvalidValue(f"{self}: expected {self.n} encoded floats, got {len(floats)}")
        keys = np.nan_to_num(np.asarray(floats, dtype=float), nan=np.inf)
        return [int(v) for v in np.argsort(keys, kind="stable")]

    def cardinality(self) -> int:
        """n!."""
        return math.factorial(self.n)

    def values(self) -> Iterator[list[int]]:
        """All orderings, in lexicographic order."""
        return (list(p) for p in itertools.permutations(range(self.n)))

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict with a "type" field; `parameter_from_json` inverts it."""
        return {"type": "Permutation", "n": self.n, "default": self.default}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Permutation:
        """Inverse of `to_json`."""
        return cls(data["n"], default=data.get("default"))


class ListOf(_Immutable):
    """A fixed-length list of parameter values.

    `ListOf(param, length)` repeats one parameter; `ListOf([p0, p1, ...])` gives each position its
    own parameter (e.g. block sizes with a different bound per dimension). Neighbors change one
    element; the encoding concatenates the elements' encodings.
    """

    __slots__ = ("elements", "_default")

    def __init__(self, param: Parameter | Sequence[Parameter], length: int | None = None,
                 default: Sequence[Any] | None = None):
        if isinstance(param, (list, tuple)):
            elements = tuple(param)
            if length is not None and length != len(elements):
                raise ValueError(f"ListOf got {len(elements)} element parameters but length={length}")
        else:
            if not is_int(length) or length < 0:
                raise ValueError(f"ListOf(param, length) needs an int length >= 0, got {length!r}")
            elements = (param,) * int(length)
        for element in elements:
            if not isinstance(element, Parameter):
                raise ValueError(f"ListOf elements must be parameters, got {element!r}")
        object.__setattr__(self, "elements", elements)
        initial = [e.default for e in elements] if default is None else default
        object.__setattr__(self, "_default", freeze(self.validate(initial)))

    @property
    def length(self) -> int:
        """Number of elements."""
        return len(self.elements)

    @property
    def homogeneous(self) -> bool:
        """True if every element has the same parameter."""
        return all(e == self.elements[0] for e in self.elements)

    def __repr__(self) -> str:
        if self.homogeneous and self.elements:
            return f"ListOf({self.elements[0]!r}, {self.length}, default={self.default})"
        return f"ListOf({list(self.elements)!r}, default={self.default})"

    def __str__(self) -> str:
        if self.homogeneous and self.elements:
            return f"ListOf({self.elements[0]}, {self.length})"
        return f"ListOf([{', '.join(str(e) for e in self.elements)}])"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ListOf) and (self.elements, self._default) == (other.elements, other._default)

    def __hash__(self) -> int:
        return hash(("ListOf", self.elements, self._default))

    def __reduce__(self) -> tuple[Any, ...]:
        return ListOf, (list(self.elements), None, self.default)

    @property
    def default(self) -> list[Any]:
        """The default list (a fresh list)."""
        return thaw(self._default)

    @property
    def encoded_size(self) -> int:
        """Number of floats in `encode`'s output: the sum over the elements."""
        return sum(e.encoded_size for e in self.elements)

    def validate(self, value: Any) -> list[Any]:
        """`value` as a new list of canonical elements; raises InvalidValue naming a bad element."""
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
            raise InvalidValue(f"{self}: expected a list, got {value!r} ({type(value).__name__})")
        if len(value) != self.length:
            raise InvalidValue(f"{self}: expected a list of length {self.length}, got {list(value)!r}")
        out = []
        for i, (element, item) in enumerate(zip(self.elements, value)):
            try:
                out.append(element.validate(item))
            except InvalidValue as error:
                raise InvalidValue(f"{self}: element {i}: {error}") from None
        return out

    def contains(self, value: Any) -> bool:
        """True if `value` is valid."""
        return contains(self, value)

    def sample(self, rng: np.random.Generator) -> list[Any]:
        """Each element drawn independently."""
        return [e.sample(rng) for e in self.elements]

    def neighbors(self, value: Any) -> list[list[Any]]:
        """The lists that differ in one element, that element moved to one of its neighbors."""
        value = self.validate(value)
        out = []
        for i, element in enumerate(self.elements):
            for moved in element.neighbors(value[i]):
                out.append(value[:i] + [moved] + value[i + 1:])
        return out

    def mutate(self, value: Any, rng: np.random.Generator) -> list[Any]:
        """Each element mutated with probability 1/length; at least one element that can change."""
        value = self.validate(value)
        movable = [i for i, e in enumerate(self.elements) if e.cardinality() > 1]
        if not movable:
            return value
        chosen = [i for i in movable if rng.random() < 1.0 / len(movable)] or [pick(rng, movable)]
        for i in chosen:
            value[i] = self.elements[i].mutate(value[i], rng)
        return value

    def crossover(self, a: Any, b: Any, rng: np.random.Generator) -> list[Any]:
        """Element-wise crossover."""
        a, b = self.validate(a), self.validate(b)
        return [e.crossover(x, y, rng) for e, x, y in zip(self.elements, a, b)]

    def encode(self, value: Any) -> list[float]:
        """Concatenation of the elements' encodings."""
        value = self.validate(value)
        return [x for e, item in zip(self.elements, value) for x in e.encode(item)]

    def decode(self, floats: Sequence[float]) -> list[Any]:
        """Each element decoded from its slice of `floats`."""
        if len(floats) != self.encoded_size:
            raise InvalidValue(f"{self}: expected {self.encoded_size} encoded floats, got {len(floats)}")
        out, start = [], 0
        for element in self.elements:
            out.append(element.decode(floats[start:start + element.encoded_size]))
            start += element.encoded_size
        return out

    def cardinality(self) -> int:
        """Product of the elements' cardinalities."""
        return math.prod(e.cardinality() for e in self.elements)

    def values(self) -> Iterator[list[Any]]:
        """All lists, in lexicographic order of the elements' `values()`."""
        frozen = [[freeze(v) for v in e.values()] for e in self.elements]
        return (thaw(combo) for combo in itertools.product(*frozen))

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict with a "type" field; `parameter_from_json` inverts it."""
        if self.homogeneous and self.elements:
            return {"type": "ListOf", "element": self.elements[0].to_json(), "length": self.length,
                    "default": self.default}
        return {"type": "ListOf", "elements": [e.to_json() for e in self.elements], "default": self.default}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ListOf:
        """Inverse of `to_json`."""
        if "elements" in data:
            return cls([parameter_from_json(e) for e in data["elements"]], default=data.get("default"))
        return cls(parameter_from_json(data["element"]), data["length"], default=data.get("default"))


PARAMETER_TYPES: dict[str, Any] = {
    cls.__name__: cls for cls in (PowerOfTwo, Integer, Enum, Boolean, Permutation, ListOf)
}


def parameter_from_json(data: dict[str, Any]) -> Parameter:
    """The parameter that `to_json` described; raises ValueError for an unknown "type"."""
    if not isinstance(data, dict) or "type" not in data:
        raise ValueError(f"a parameter's JSON must be a dict with a 'type' field, got {data!r}")
    cls = PARAMETER_TYPES.get(data["type"])
    if cls is None:
        raise ValueError(f"unknown parameter type {data['type']!r}; known types: {sorted(PARAMETER_TYPES)}")
    return cls.from_json(data)
