"""``autotune_strategy``: a registered name, a ``search.Strategy`` class or an instance."""
from __future__ import annotations

from typing import Any

import search

from .. import exc


def resolve_strategy(choice: Any) -> Any:
    """The strategy as given; an unknown name fails with the list of known ones."""
    if isinstance(choice, str) and choice not in search.available_strategies():
        raise exc.UnknownStrategy(
            f"unknown autotune_strategy {choice!r}; known strategies: {sorted(search.available_strategies())}")
    return choice
