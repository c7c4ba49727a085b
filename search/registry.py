"""The strategy registry: names to classes; `make_strategy` builds one from a name, class or instance."""

from __future__ import annotations

from typing import Any

from search.space import Space

_REGISTRY: dict[str, type] = {}

_CONTRACT = ("ask", "tell", "best")


def register(name: str, cls: type | None = None, *, replace: bool = False) -> Any:
    """Register strategy class `cls` under `name`; refuses a taken name unless `replace=True`.

    Usable as a decorator: `@search.register("mine")` above the class.
    """
    if cls is None:
        return lambda c: register(name, c, replace=replace)
    if not isinstance(name, str) or not name:
        raise ValueError(f"a strategy name must be a non-empty string, got {name!r}")
    if not isinstance(cls, type) or not all(callable(getattr(cls, m, None)) for m in _CONTRACT):
        raise TypeError(f"strategy {name!r} must be a class with ask, tell and best methods, got {cls!r}")
    if name in _REGISTRY and not replace and _REGISTRY[name] is not cls:
        raise ValueError(f"a strategy named {name!r} is already registered ({_REGISTRY[name].__qualname__}); "
                         "pick another name or pass replace=True")
    _REGISTRY[name] = cls
    return cls


def unregister(name: str) -> None:
    """Remove `name` from the registry (KeyError if absent)."""
    if name not in _REGISTRY:
        raise KeyError(f"no strategy named {name!r}; known: {available_strategies()}")
    del _REGISTRY[name]


def available_strategies() -> list[str]:
    """Registered strategy names, sorted."""
    return sorted(_REGISTRY)


def strategy_class(name: str) -> type:
    """The class registered under `name`; ValueError listing the known names otherwise."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown strategy {name!r}; known strategies: {', '.join(available_strategies())}") from None


def strategy_name(strategy: Any) -> str:
    """The name of a strategy instance or class: its `name`, else its registered name, else its class name."""
    cls = strategy if isinstance(strategy, type) else type(strategy)
    registered = [name for name, known in _REGISTRY.items() if known is cls]
    return getattr(cls, "name", "") or (registered[0] if registered else cls.__name__)


def make_strategy(strategy: str | type | Any, space: Space, *, seed: int | None = None, **options: Any) -> Any:
    """A strategy for `space` from a registered name, a class, or an existing instance.

    An instance is returned as is; giving options (or a different seed) with it is an error.
    """
    if isinstance(strategy, str):
        return strategy_class(strategy)(space, seed=seed, **options)
    if isinstance(strategy, type):
        return strategy(space, seed=seed, **options)
    if all(callable(getattr(strategy, m, None)) for m in _CONTRACT):
        if options:
            raise TypeError(f"options {sorted(options)} apply only when creating a strategy, not to an instance")
        if seed is not None and getattr(strategy, "seed", seed) != seed:
            raise ValueError(f"seed={seed} differs from the instance's seed {strategy.seed}")
        own_space = getattr(strategy, "space", space)
        if own_space is not space and own_space.fingerprint() != space.fingerprint():
            raise ValueError("the strategy instance was built for a different space")
        return strategy
    raise TypeError(f"strategy must be a name, a class or an instance with ask/tell/best, got {strategy!r}")

