"""Why the old `cost_model` strategy lost to random search, and whether the new one beats it.

Runs strategies through `search.tune` on replayed spaces (the synthetic landscapes, the hard ones
with large invalid regions, the recorded GPU sweeps in experiments/data) and on the conformance
tests' objectives, over seeds, and prints per space: median best / optimum after N trials and
median trials to within 2% of the optimum (">N" when fewer than half the seeds got there).

Besides random, tpe, genetic and the new `cost_model`, it runs `legacy` (the strategy as it was
before issue #12: one regressor on log times, failures at a flat penalty, a stable argsort, 75%
predicted-best and 25% "exploration" drawn from the rest of its own pool) and one-change
ablations of it and of the new strategy, so each suspected cause can be checked on its own:

- legacy_random_ties: ties among predictions broken with the RNG instead of a stable argsort;
- legacy_uniform_explore: the exploration quarter drawn uniformly from the space, not the pool;
- legacy_neighbors: the pool also holds every one-knob neighbour of the best three;
- new_ei_only / new_mean_only / new_no_pairs / new_no_classifier / new_log_targets /
  new_no_explore / new_no_neighbors: the new strategy with one part changed or switched off.

`--probe` runs `legacy` instrumented instead and tabulates, per seed, where it ended, the share of
failed trials, how often the exploit cut fell inside a tie, and how many of its exploit picks were
mutants of the incumbents (the finding: nearly all).

    python -m experiments.cost_model_diagnosis --quick                  # hard landscapes, 10 seeds
    python -m experiments.cost_model_diagnosis --seeds 10 --trials 100  # every space
    python -m experiments.cost_model_diagnosis --spaces narrow_basin --strategies legacy \\
        legacy_uniform_explore cost_model random --seeds 20
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

import search
from experiments import landscapes
from search.operators import mutate_config
from search.space import config_key

ROOT = Path(__file__).resolve().parent.parent
HARD = sorted(landscapes.HARD_LANDSCAPES)
SYNTHETIC = sorted(landscapes.LANDSCAPES)
TESTKIT = ["testkit_small", "testkit_mixed"]


# ----------------------------------------------------------------------------------------------
# The strategy as it was (commit 122e5e5), kept here as the baseline, and ablations of it


class LegacyCostModel(search.Strategy):
    """The pre-#12 cost_model: ExtraTrees on log times (failures: worst log + 1), stable argsort,
    75% predicted best, 25% drawn from the rest of a pool that is half random, half mutants."""

    name = "legacy"
    default_options = {"candidates": 256, "explore": 0.25, "initial": 8, "parents": 8, "random_ties": False,
                       "uniform_explore": False, "neighbors": False}

    def __init__(self, space: search.Space, *, seed: int | None = None, **options: Any):
        super().__init__(space, seed=seed, **options)
        from sklearn.ensemble import ExtraTreesRegressor

        self.model = ExtraTreesRegressor(n_estimators=64, random_state=int(self.rng.integers(2**31 - 1)), n_jobs=1)
        self.probe: list[dict] = []
        self._random_part = 0

    def _probe_ask(self, pool: list[dict], predicted: np.ndarray, n: int) -> dict:
        """What one ask looked like: ties at the exploit cut, and how local the pool's best were."""
        n_exploit = n - int(round(self.options["explore"] * n)) if n > 1 else 1
        cut = np.sort(predicted)[n_exploit - 1]
        top = np.argsort(predicted, kind="stable")[:n_exploit]
        return {"tied_at_cut": int((predicted == cut).sum()) > 1,
                "exploit_from_mutants": float(np.mean(top >= self._random_part)),
                "distinct_predictions": len(np.unique(predicted)) / len(predicted)}

    def _propose(self, n: int) -> list[dict]:
        if len(self.told) < self.options["initial"] or not any(o.ok for _, o in self.told):
            default = self.space.default()
            out = [default] if self.is_new(default) else []
            return out + self._random_unseen(n - len(out), {config_key(c) for c in out})
        logs = [math.log(max(o.time_ms, 1e-12)) for _, o in self.told if o.ok]
        y = [math.log(max(o.time_ms, 1e-12)) if o.ok else max(logs) + 1.0 for _, o in self.told]
        self.model.fit(self.space.encode_many([c for c, _ in self.told]), y)
        pool = self._pool(max(self.options["candidates"], 2 * n))
        if len(pool) <= n:
            return pool
        predicted = np.asarray(self.model.predict(self.space.encode_many(pool)))
        self.probe.append(self._probe_ask(pool, predicted, n))
        if self.options["random_ties"]:
            order = [int(i) for i in np.lexsort((self.rng.random(len(pool)), predicted))]
        else:
            order = [int(i) for i in np.argsort(predicted, kind="stable")]
        n_exploit = n - int(round(self.options["explore"] * n)) if n > 1 else 1
        chosen = [pool[i] for i in order[:n_exploit]]
        if self.options["uniform_explore"]:
            return chosen + self._random_unseen(n - n_exploit, {config_key(c) for c in chosen})
        rest = order[n_exploit:]
        picks = self.rng.choice(len(rest), size=n - n_exploit, replace=False)
        return chosen + [pool[rest[int(i)]] for i in picks]

    def _pool(self, size: int) -> list[dict]:
        keys: set[tuple] = set()
        pool = self._random_unseen(size // 2, keys)
        self._random_part = len(pool)
        parents = [c for c, _ in self.ranked()[: self.options["parents"]]]
        if self.options["neighbors"]:
            for config in parents[:3]:
                for neighbor in self.space.neighbors(config):
                    if self.is_new(neighbor, keys):
                        pool.append(neighbor)
                        keys.add(config_key(neighbor))
        for _ in range(4 * (size - len(pool))):
            if len(pool) >= size:
                break
            try:
                child = self.space.normalize(mutate_config(self.space, parents[int(self.rng.integers(len(parents)))],
                                                           self.rng))
            except search.InvalidConfig:
                continue
            if self.is_new(child, keys):
                pool.append(child)
                keys.add(config_key(child))
        return pool


#: name -> (strategy class or registered name, options)
VARIANTS: dict[str, tuple[Any, dict]] = {
    "random": ("random", {}), "tpe": ("tpe", {}), "genetic": ("genetic", {}), "cost_model": ("cost_model", {}),
    "legacy": (LegacyCostModel, {}),
    "legacy_random_ties": (LegacyCostModel, {"random_ties": True}),
    "legacy_uniform_explore": (LegacyCostModel, {"uniform_explore": True}),
    "legacy_neighbors": (LegacyCostModel, {"neighbors": True}),
    "new_ei_only": ("cost_model", {"acquisition": "ei"}),
    "new_mean_only": ("cost_model", {"acquisition": "mean"}),
    "new_no_pairs": ("cost_model", {"pair_features": False}),
    "new_no_classifier": ("cost_model", {"feasibility": False}),
    "new_log_targets": ("cost_model", {"targets": "log"}),
    "new_no_explore": ("cost_model", {"explore": 0.0}),
    "new_no_neighbors": ("cost_model", {"neighbors_of": 0}),
}
MAIN = ["random", "tpe", "genetic", "legacy", "cost_model"]
ABLATIONS = ["legacy", "legacy_random_ties", "legacy_uniform_explore", "legacy_neighbors", "cost_model",
             "new_ei_only", "new_mean_only", "new_no_pairs", "new_no_classifier", "new_log_targets",
             "new_no_explore", "new_no_neighbors"]


# ----------------------------------------------------------------------------------------------
# Spaces


@dataclass(frozen=True)
class Problem:
    """A space, a factory of fresh objectives, and the optimum time."""

    name: str
    space: search.Space
    objective: Callable[[], Callable]
    optimum: float


@dataclass(frozen=True)
class _Replay:
    records: tuple

    space: search.Space

    def __call__(self) -> search.ReplayObjective:
        return search.ReplayObjective(self.records, space=self.space)


@dataclass(frozen=True)
class _Fixed:
    objective: Callable

    def __call__(self) -> Callable:
        return self.objective


def _testkit() -> Any:
    sys.path.insert(0, str(ROOT / "tests" / "search"))
    import search_testkit

    return search_testkit


def load_problem(name: str, data_dir: Path) -> Problem:
    """A synthetic landscape by name, `testkit_small`/`testkit_mixed`, or a recorded sweep's stem."""
    if name in SYNTHETIC or name in HARD:
        land = landscapes.make_landscape(name, 0)
        return Problem(name, land.space, _Replay(land.records, land.space), land.optimum["time_ms"])
    if name == "testkit_small":
        kit = _testkit()
        return Problem(name, kit.small_space(), _Fixed(kit.small_objective), 1.0)
    if name == "testkit_mixed":
        kit = _testkit()
        return Problem(name, kit.mixed_space(), _Fixed(kit.mixed_objective), 1.0)  # 1.0 at the bowl's centre
    from experiments.compare_strategies import recorded_problems

    for problem in recorded_problems(data_dir):
        if problem.name == name:
            return Problem(name, problem.space, _Replay(problem.records, problem.space), problem.optimum)
    raise KeyError(f"unknown space {name!r}")


def recorded_names(data_dir: Path) -> list[str]:
    return sorted(p.with_suffix("").name for p in data_dir.glob("*.jsonl")
                  if not p.name.startswith("synthetic_") and p.with_suffix(".space.json").exists())


# ----------------------------------------------------------------------------------------------
# Runs

_PROBLEMS: dict[str, Problem] = {}


def _init(problems: list[Problem]) -> None:
    _PROBLEMS.update({p.name: p for p in problems})


def run_one(task: tuple[str, str, int, int]) -> dict[str, Any]:
    """One (space, variant, seed, trials) run: best / optimum and trials to within 2%."""
    space_name, variant, seed, trials = task
    problem = _PROBLEMS[space_name]
    strategy, options = VARIANTS[variant]
    started = time.perf_counter()
    result = search.tune(problem.space, problem.objective(), strategy, search.Budget(trials=trials), seed=seed,
                         batch_size=8, strategy_options=options)
    trajectory = [r["time_ms"] if r["status"] == "ok" else None for r in result.history]
    best = result.best_time / problem.optimum if result.best_time is not None else math.inf
    return {"space": space_name, "variant": variant, "seed": seed, "best_over_optimum": best,
            "trials_to_2pct": search.trials_to_within(trajectory, problem.optimum, 0.02),
            "wall_s": time.perf_counter() - started}


def run(problems: list[Problem], variants: list[str], seeds: int, trials: int, jobs: int) -> list[dict]:
    tasks = [(p.name, v, s, trials) for p in problems for v in variants for s in range(seeds)]
    if jobs > 1:
        with multiprocessing.Pool(jobs, initializer=_init, initargs=(problems,)) as pool:
            return pool.map(run_one, tasks, chunksize=1)
    _init(problems)
    return [run_one(t) for t in tasks]


def median_hits(hits: list[int | None]) -> float:
    """Median trials to within 2%, a run that never got there counting as infinitely many."""
    return statistics.median([h if h is not None else math.inf for h in hits])


def table(runs: list[dict], spaces: list[str], variants: list[str], trials: int) -> str:
    """Markdown: per space, each variant's median best/optimum and median trials to within 2%."""
    lines = [f"| space | " + " | ".join(variants) + " |", "|---|" + "---|" * len(variants)]
    for space in spaces:
        cells = []
        for variant in variants:
            group = [r for r in runs if r["space"] == space and r["variant"] == variant]
            best = statistics.median(r["best_over_optimum"] for r in group)
            hits = median_hits([r["trials_to_2pct"] for r in group])
            cells.append(f"{best:.3f} / {'>' + str(trials) if math.isinf(hits) else f'{hits:g}'}")
        lines.append(f"| {space} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def probe(problem: Problem, seeds: int, trials: int) -> str:
    """Runs `legacy` with its instrumentation and says, per seed, where it ended and why."""
    lines = [f"legacy on {problem.name}, {trials} trials:", "",
             "| seed | best/opt | failed trials | asks tied at the exploit cut | distinct predictions "
             "| exploit picks from mutants | best config |", "|---|---|---|---|---|---|---|"]
    for seed in range(seeds):
        strategy, objective = LegacyCostModel(problem.space, seed=seed), problem.objective()
        while len(strategy.told) < trials:
            configs = strategy.ask(8)
            strategy.tell(configs, objective(configs))
        best = strategy.best()
        failed = sum(not o.ok for _, o in strategy.told) / len(strategy.told)
        asks = strategy.probe
        lines.append(f"| {seed} | {best[1] / problem.optimum:.3f} | {failed:.0%} | "
                     f"{np.mean([a['tied_at_cut'] for a in asks]):.0%} | "
                     f"{np.mean([a['distinct_predictions'] for a in asks]):.0%} | "
                     f"{np.mean([a['exploit_from_mutants'] for a in asks]):.0%} | {best[0]} |")
    return "\n".join(lines) + "\n"


def invalid_fraction(problem: Problem) -> float | None:
    """Share of the recorded configs that failed (replayed spaces only)."""
    if not isinstance(problem.objective, _Replay):
        return None
    records = problem.objective.records
    return sum(r["status"] != "ok" for r in records) / len(records)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--spaces", nargs="*", default=None,
                        help=f"default: every space ({', '.join(HARD + SYNTHETIC + TESTKIT)} and the recorded sweeps)")
    parser.add_argument("--strategies", nargs="*", default=None, choices=sorted(VARIANTS),
                        help=f"default: {' '.join(MAIN)}")
    parser.add_argument("--ablations", action="store_true", help=f"run {' '.join(ABLATIONS)} and random")
    parser.add_argument("--quick", action="store_true", help="the hard landscapes only, 10 seeds")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--data", type=Path, default=ROOT / "experiments" / "data")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--probe", action="store_true",
                        help="instrumented legacy runs instead: failures, ties, where the picks came from")
    parser.add_argument("--output", type=Path, default=None, help="also write the table here")
    args = parser.parse_args(argv)
    spaces = args.spaces or (HARD if args.quick else HARD + SYNTHETIC + TESTKIT + recorded_names(args.data))
    variants = args.strategies or (["random", *ABLATIONS] if args.ablations else MAIN)
    problems = [load_problem(name, args.data) for name in spaces]
    started = time.perf_counter()
    if args.probe:
        for problem in problems:
            share = invalid_fraction(problem)
            print(probe(problem, args.seeds, args.trials)
                  + ("" if share is None else f"\n{share:.0%} of the space's configs fail.\n"))
        return 0
    runs = run(problems, variants, args.seeds, args.trials, args.jobs)
    text = (f"{args.seeds} seeds, {args.trials} trials, batches of 8; cell: median best/optimum / median trials "
            f"to within 2% of the optimum\n\n" + table(runs, spaces, variants, args.trials))
    print(text)
    print(f"({time.perf_counter() - started:.0f} s)")
    if args.output is not None:
        args.output.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
