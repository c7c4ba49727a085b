"""``helion.Config``: one point of a kernel's search space, in the public Helion form."""
from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any


class Config(Mapping[str, Any]):
    """An immutable mapping of knob name to value, e.g. ``Config(block_sizes=[64, 32], num_warps=4)``."""

    def __init__(self, config: Mapping[str, Any] | None = None, /, **knobs: Any):
        merged = dict(config or {})
        merged.update(knobs)
        self._values = {k: _plain(v) for k, v in merged.items()}

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["_values"][name]
        except KeyError:
            raise AttributeError(name) from None

    def __hash__(self) -> int:
        return hash(self.to_json())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Mapping) and self._values == {k: _plain(v) for k, v in other.items()}

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self._values.items())
        return f"helion.Config({inner})"

    def to_json(self) -> str:
        return json.dumps(self._values, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "Config":
        return cls(json.loads(text))

    def to_dict(self) -> dict[str, Any]:
        return json.loads(self.to_json())


def _plain(value: Any) -> Any:
    """Lists instead of tuples, so configs compare and serialize the same way."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
