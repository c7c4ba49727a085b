"""The built-in strategies, one module each; importing this package registers them by name."""

from search.registry import register
from search.strategies.cost_model import CostModelSearch
from search.strategies.genetic import Genetic
from search.strategies.pattern import PatternSearch
from search.strategies.portfolio import Portfolio
from search.strategies.random import RandomSearch
from search.strategies.tpe import TPE

BUILTIN_STRATEGIES = {cls.name: cls for cls in (RandomSearch, Genetic, TPE, PatternSearch, CostModelSearch, Portfolio)}

for _name, _cls in BUILTIN_STRATEGIES.items():
    register(_name, _cls)

__all__ = ["BUILTIN_STRATEGIES", "CostModelSearch", "Genetic", "PatternSearch", "Portfolio", "RandomSearch", "TPE"]
