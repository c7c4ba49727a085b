"""What ``autotune_effort`` means: the search budget, the finalists and how they are re-timed.

``none`` runs no search (the default config, or the nearest cached winner); ``quick`` (the
default) searches for a few seconds on a GPU; ``full`` for minutes. ``autotune_max_trials`` and
``autotune_budget_s`` override the effort's limits. Without a GPU the interpreter runs every
candidate, so the budgets there are counted in a few trials.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import search


@dataclass(frozen=True)
class Effort:
    """A search budget and the finalist stage that follows it."""

    trials: int
    seconds: float
    finalists: int  # the fastest configs re-timed with the default, interleaved
    repeats: int  # interleaved repeats of the finalist stage


_GPU = {"quick": Effort(trials=1000, seconds=12.0, finalists=5, repeats=25),
        "full": Effort(trials=5000, seconds=300.0, finalists=8, repeats=50)}
_CPU = {"quick": Effort(trials=8, seconds=120.0, finalists=2, repeats=1),
        "full": Effort(trials=40, seconds=600.0, finalists=3, repeats=1)}


def effort_for(settings: Any, gpu: bool) -> Effort:
    """The effort of ``settings.autotune_effort`` with its overrides applied."""
    name = settings.autotune_effort
    base = (_GPU if gpu else _CPU)["quick" if name == "none" else name]
    trials = settings.autotune_max_trials or base.trials
    seconds = settings.autotune_budget_s or base.seconds
    return Effort(trials=trials, seconds=seconds, finalists=base.finalists, repeats=base.repeats)


def budget(effort: Effort) -> search.Budget:
    return search.Budget(trials=effort.trials, seconds=effort.seconds)
