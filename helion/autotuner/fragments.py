"""Config fragments: user-facing descriptions of one tunable value, each mapped to a typed
parameter of ``search`` (which owns sampling, neighbours, encoding and validation)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import search

from .. import exc


class ConfigSpecFragment:
    """Base of all fragments: ``to_param()`` gives the ``search`` parameter, ``default()`` its default."""

    def to_param(self) -> Any:
        raise NotImplementedError

    def default(self) -> Any:
        return self.to_param().default

    def _checked(self, make: Any) -> Any:
        try:
            return make()
        except ValueError as e:
            raise exc.InvalidConfig(f"{type(self).__name__}: {e}") from None


class PowerOfTwoFragment(ConfigSpecFragment):
    """A power of two in ``[low, high]``; default ``default_val`` (clamped), else ``low``."""

    def __init__(self, low: int, high: int, default_val: int | None = None):
        self.low, self.high, self.default_val = low, high, default_val

    def to_param(self) -> Any:
        default = None if self.default_val is None else max(self.low, min(self.high, self.default_val))
        return self._checked(lambda: search.PowerOfTwo(self.low, self.high, default=default))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.low}, {self.high}, {self.default_val})"


class BlockSizeFragment(PowerOfTwoFragment):
    """A power-of-two block size."""


class NumWarpsFragment(PowerOfTwoFragment):
    """A power-of-two warp count."""


class IntegerFragment(ConfigSpecFragment):
    """An integer in ``[low, high]``; default ``default_val`` (clamped), else ``low``."""

    def __init__(self, low: int, high: int, default_val: int | None = None):
        self.low, self.high, self.default_val = low, high, default_val

    def to_param(self) -> Any:
        default = None if self.default_val is None else max(self.low, min(self.high, self.default_val))
        return self._checked(lambda: search.Integer(self.low, self.high, default=default))

    def __repr__(self) -> str:
        return f"IntegerFragment({self.low}, {self.high}, {self.default_val})"


class EnumFragment(ConfigSpecFragment):
    """One of ``choices`` (JSON scalars); default the first."""

    def __init__(self, choices: Sequence[Any]):
        self.choices = tuple(choices)

    def to_param(self) -> Any:
        return self._checked(lambda: search.Enum(self.choices))

    def __repr__(self) -> str:
        return f"EnumFragment({self.choices!r})"


class BooleanFragment(ConfigSpecFragment):
    """True or False; default False."""

    def to_param(self) -> Any:
        return search.Boolean()

    def __repr__(self) -> str:
        return "BooleanFragment()"


class PermutationFragment(ConfigSpecFragment):
    """An ordering of ``range(length)``; default the identity."""

    def __init__(self, length: int):
        self.length = length

    def to_param(self) -> Any:
        return self._checked(lambda: search.Permutation(self.length))


class ListOf(ConfigSpecFragment):
    """``length`` values of ``inner``."""

    def __init__(self, inner: ConfigSpecFragment, length: int):
        self.inner, self.length = inner, length

    def to_param(self) -> Any:
        return self._checked(lambda: search.ListOf(self.inner.to_param(), self.length))
