"""`tune`: the ask -> evaluate batch -> tell loop, with budgets, trial records and a JSONL log."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from search.outcomes import DEFERRED, Outcome, observe
from search.records import make_record, record_line
from search.registry import make_strategy, strategy_name
from search.errors import InvalidConfig, InvalidValue
from search.space import Config, Space, config_key, copy_config

Objective = Callable[[list[Config]], Sequence[Outcome]]


@dataclass(frozen=True)
class Budget:
    """When to stop: after `trials` trials, `seconds` of (objective) clock time, or `stall` trials
    without improvement. Checked between batches, so the last batch may overrun a limit."""

    trials: int | None = None
    seconds: float | None = None
    stall: int | None = None

    def __post_init__(self) -> None:
        if self.trials is None and self.seconds is None and self.stall is None:
            raise ValueError("a Budget needs at least one of trials, seconds or stall")
        for label in ("trials", "seconds", "stall"):
            value = getattr(self, label)
            if value is not None and not value > 0:
                raise ValueError(f"Budget {label}={value!r} must be positive")


@dataclass
class TuneResult:
    """What `tune` found: the best config and time (None if nothing succeeded) and every trial record."""

    best_config: Config | None
    best_time: float | None
    history: list[dict[str, Any]] = field(default_factory=list)
    strategy: str = ""
    stop_reason: str = ""
    elapsed_s: float = 0.0

    @property
    def trials(self) -> int:
        """Number of trials run."""
        return len(self.history)


def _clock_of(objective: Any) -> Callable[[], float]:
    clock = getattr(objective, "clock", None)
    return clock if callable(clock) else time.monotonic


def tune(space: Space, objective: Objective, strategy: Any = "random", budget: Budget = Budget(trials=100), *,
         batch_size: int = 8, seed: int | None = None, strategy_options: Mapping[str, Any] | None = None,
         on_trial: Callable[[dict[str, Any]], None] | None = None, kernel: str | None = None,
         log_path: str | os.PathLike | None = None, context: Mapping[str, Any] | None = None,
         progress: bool = False, initial: Sequence[Config] = (), depth: int = 2) -> TuneResult:
    """Search `space` for the config that minimizes `objective`'s time, within `budget`.

    `objective(configs) -> outcomes` evaluates a batch (times in ms, Measurements or Failures).
    An objective that also has `submit(configs) -> handle` and `collect(handle) -> outcomes` is
    pipelined: up to `depth` batches are in flight, so the next batch is asked (the strategy
    counts in-flight configs as pending) and prepared while the current one is measured. Such an
    objective may answer `search.DEFERRED` for a config it cannot answer yet (a slow compile);
    it then needs `resume(handle, positions) -> handle` and `ready(handle) -> bool`: the
    deferred configs stay pending and are collected when ready, while later batches go on.
    `initial` configs (e.g. the default and warm starts) are evaluated first. If the objective
    has a `clock()` method, that clock (e.g. replay's simulated seconds) measures the seconds
    budget and `elapsed_s`; otherwise wall time does. `strategy` is a registered name, a class or
    an instance. Each trial record (trial counts from 0) goes to `on_trial` and, appended as a
    JSON line, to `log_path`; `context` adds fields such as device and versions to each record.
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
    searcher = make_strategy(strategy, space, seed=seed, **dict(strategy_options or {}))
    name, fingerprint = strategy_name(searcher), space.fingerprint()
    clock = _clock_of(objective)
    pipelined = callable(getattr(objective, "submit", None)) and callable(getattr(objective, "collect", None))
    depth = max(1, depth) if pipelined else 1
    start = clock()
    history: list[dict[str, Any]] = []
    best: tuple[Config, float] | None = None
    since_improvement = 0
    stop_reason = ""
    asked = 0
    first = _distinct_valid(space, initial)
    searcher.reserve(first)
    inflight: list[tuple[list[Config], Any]] = []
    late: list[tuple[list[Config], Any]] = []  # deferred configs of collected batches (slow compiles)
    bar = _progress_bar(budget, progress)
    failures = 0
    log = open(log_path, "a", encoding="utf-8") if log_path is not None else None
    try:
        while True:
            while len(inflight) < depth and not stop_reason:
                stop_reason = _exhausted_budget(budget, asked, clock() - start, since_improvement)
                if stop_reason:
                    break
                n = batch_size if budget.trials is None else min(batch_size, budget.trials - asked)
                configs, first = first[:n], first[n:]
                configs += searcher.ask(n - len(configs)) if len(configs) < n else []
                if not configs:
                    stop_reason = "exhausted"
                    break
                asked += len(configs)
                batch = [copy_config(c) for c in configs]
                inflight.append((configs, objective.submit(batch) if pipelined else batch))
            ready = next((i for i, (_, h) in enumerate(late) if objective.ready(h)), None)
            if ready is not None or (late and not inflight):
                configs, handle = late.pop(ready or 0)
            elif inflight:
                configs, handle = inflight.pop(0)
            else:
                break
            outcomes = list(objective.collect(handle) if pipelined else objective(handle))
            if len(outcomes) != len(configs):
                raise ValueError(f"the objective returned {len(outcomes)} outcomes for {len(configs)} configs")
            waiting = [i for i, outcome in enumerate(outcomes) if outcome is DEFERRED]
            if waiting:
                if not pipelined or not callable(getattr(objective, "resume", None)):
                    raise ValueError("the objective deferred configs but has no resume(handle, positions)")
                late.append(([configs[i] for i in waiting], objective.resume(handle, waiting)))
                answered = [i for i in range(len(configs)) if outcomes[i] is not DEFERRED]
                configs, outcomes = [configs[i] for i in answered], [outcomes[i] for i in answered]
            searcher.tell(configs, outcomes)
            elapsed = clock() - start
            for config, outcome in zip(configs, outcomes):
                observation = observe(outcome)
                record = make_record(config=config, observation=observation, trial=len(history), elapsed_s=elapsed,
                                     kernel=kernel, space_fingerprint=fingerprint, strategy=name,
                                     seed=getattr(searcher, "seed", seed), context=context)
                history.append(record)
                failures += not observation.ok
                if observation.ok and (best is None or observation.time_ms < best[1]):
                    best, since_improvement = (config, observation.time_ms), 0
                else:
                    since_improvement += 1
                if on_trial is not None:
                    on_trial(record)
                if log is not None:
                    log.write(record_line(record))
            if log is not None:
                log.flush()
            if bar is not None:
                bar.update(len(configs))
                bar.set_postfix(best_ms=None if best is None else f"{best[1]:.4g}", failed=failures)
            if stop_reason == "" and budget.seconds is not None and clock() - start >= budget.seconds:
                stop_reason = "seconds"  # batches still in flight are measured, none is added
    finally:
        if log is not None:
            log.close()
        if bar is not None:
            bar.close()
    return TuneResult(best_config=None if best is None else copy_config(best[0]),
                      best_time=None if best is None else best[1], history=history, strategy=name,
                      stop_reason=stop_reason, elapsed_s=clock() - start)


def _distinct_valid(space: Space, configs: Sequence[Config]) -> list[Config]:
    """The configs that normalize into `space`, first occurrence of each."""
    out, seen = [], set()
    for config in configs:
        try:
            config = space.normalize(config)
        except (InvalidConfig, InvalidValue, ValueError, TypeError, KeyError):
            continue
        key = config_key(config)
        if key not in seen:
            seen.add(key)
            out.append(config)
    return out


def _exhausted_budget(budget: Budget, trials: int, seconds: float, stalled: int) -> str:
    """The name of the first exhausted budget limit, or ""."""
    if budget.trials is not None and trials >= budget.trials:
        return "trials"
    if budget.seconds is not None and seconds >= budget.seconds:
        return "seconds"
    if budget.stall is not None and stalled >= budget.stall:
        return "stall"
    return ""


def _progress_bar(budget: Budget, progress: bool) -> Any:
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=budget.trials, desc="tuning", unit="trial")
