"""Compare every registered search strategy on replayed spaces, by P-score (Willemsen et al., 2024).

Spaces: the recorded GPU sweeps in experiments/data (``<name>.jsonl`` with ``<name>.space.json``
beside it, as written by `experiments.collect_matmul_space`), the recorded samples of larger
spaces in its sub-folders (``<folder>/<workload>.trials.jsonl.gz`` with ``<workload>.space.json``,
as written by `experiments.collect_spaces_gpu`: strategies search the whole space and replay
answers each config with the nearest recorded one) and the synthetic landscapes of
`experiments.landscapes`. For each strategy x space, N seeds of `search.tune` run against a
`search.ReplayObjective` with a trial budget; per run we take the P-score (mean of P(t) over
t = 1..budget: 0 = the expected best of random search, computed exactly, 1 = the optimum), P(t)
over simulated time (compile plus benchmark seconds of the replayed records; random search's
draws by time t are t over the mean trial cost), and the trials and simulated seconds until the
best is within 2% of the optimum. Writes a markdown table, the runs as JSON and a PNG plot.

"Beats random" is a one-sided Student-t test at 95% that the mean P-score is above 0. P(t) already
subtracts random search's exact expectation, so this is the test of the paired difference
strategy - random with the random side computed rather than sampled.

    python -m experiments.compare_strategies --quick          # 10 seeds: about a minute on 2 cores
    python -m experiments.compare_strategies --seeds 30       # the full comparison
    python -m experiments.compare_strategies --seeds 50 --trials 100   # the same budget on every space
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

import search
from experiments import landscapes
from search.metrics import times_from_records

DATA_DIR = Path("experiments/data")


@dataclass(frozen=True)
class Problem:
    """A replayable space: its name, the typed space and its records (exhaustive, or a sample)."""

    name: str
    space: search.Space
    records: tuple[dict, ...]
    sampled: bool = False  # a uniform sample of a larger space: replay answers with the nearest record

    @property
    def mean_cost_s(self) -> float:
        """Mean simulated seconds of one trial (compile plus benchmark), over the recorded configs."""
        replay = search.ReplayObjective([], missing="invalid")
        return statistics.fmean(replay.cost_s(r) for r in self.records) or 1e-3

    @property
    def times(self) -> list[float | None]:
        """Per-record time (None for failures): the population random search draws from."""
        return times_from_records(self.records)

    @property
    def optimum(self) -> float:
        """The fastest recorded time."""
        return min(t for t in self.times if t is not None)


def _constraints_for(space_json: dict) -> list[search.Constraint] | None:
    """Re-attaches the matmul sweep's constraints when the recorded names match, else None."""
    names = sorted(space_json.get("constraints", []))
    if not names:
        return None
    from experiments import collect_matmul_space  # imports torch and triton: only when needed

    known = collect_matmul_space.matmul_constraints()
    return known if sorted(c.name for c in known) == names else None


@dataclass(frozen=True)
class _Recorded:
    """Constraint predicate: the config is one of the recorded ones (picklable, unlike a lambda)."""

    keys: frozenset

    def __call__(self, config: dict) -> bool:
        return search.config_key(config) in self.keys


def _restrict_to_records(space: search.Space, records: Sequence[dict]) -> search.Space:
    """If a sweep was cut short, the space less the configs it never measured, so that strategies
    and the random-search baseline draw from the same population; else the space itself."""
    keys = frozenset(search.config_key(r["config"]) for r in records)
    if len(keys) >= len(space.enumerate()):
        return space
    return search.Space(space.params, [*space.constraints, search.Constraint("recorded", _Recorded(keys))])


def recorded_problems(data_dir: Path) -> list[Problem]:
    """The GPU sweeps found in data_dir (files with a space JSON beside them; synthetic ones skipped)."""
    problems = []
    for path in sorted(data_dir.glob("*.jsonl")):
        space_path = path.with_suffix(".space.json")
        if path.name.startswith("synthetic_") or not space_path.exists():
            continue
        space_json = json.loads(space_path.read_text())
        space = search.Space.from_json(space_json, constraints=_constraints_for(space_json))
        records = tuple(r for r in search.load_records(path) if r.get("strategy") == "exhaustive")
        if any(r["status"] == "ok" for r in records):
            problems.append(Problem(path.stem, _restrict_to_records(space, records), records))
    return problems + sampled_problems(data_dir)


def sampled_problems(data_dir: Path) -> list[Problem]:
    """Uniform samples of large spaces (``<folder>/<workload>.trials.jsonl.gz`` with
    ``<workload>.space.json`` beside it, as `experiments.collect_spaces_gpu` writes them). A
    strategy searches the whole space and replay answers each config with the nearest recorded
    one; random search's expected best is computed over the sample, as if it drew from it."""
    problems = []
    for path in sorted(data_dir.glob("*/*.trials.jsonl.gz")):
        workload = path.name[: -len(".trials.jsonl.gz")]
        space_path = path.with_name(f"{workload}.space.json")
        if not space_path.exists():
            continue
        space = search.Space.from_json(json.loads(space_path.read_text()))
        records = tuple(r for r in search.load_records(path) if r.get("strategy") == "random")
        if any(r["status"] == "ok" for r in records):
            problems.append(Problem(f"{path.parent.name}/{workload}", space, records, sampled=True))
    return problems


def synthetic_problems(names: Sequence[str], seed: int = 0) -> list[Problem]:
    """The named synthetic landscapes as problems."""
    out = []
    for name in names:
        landscape = landscapes.make_landscape(name, seed)
        out.append(Problem(f"synthetic/{name}", landscape.space, landscape.records))
    return out


def default_budget(problem: Problem, fraction: float, cap: int, trials: int | None = None) -> int:
    """`trials` if given (at most the recorded configs), else `fraction` of the recorded configs,
    at least 10 trials and at most `cap`."""
    if trials is not None:
        return int(min(trials, len(problem.records)))
    return int(min(cap, max(10, round(fraction * len(problem.records)))))


# ----------------------------------------------------------------------------------------------
# One run (in a worker process)

_PROBLEMS: dict[str, Problem] = {}


def _init_worker(problems: list[Problem]) -> None:
    _PROBLEMS.update({p.name: p for p in problems})


def run_one(task: tuple[str, str, int, int, int]) -> dict[str, Any]:
    """Tunes one problem with one strategy and seed on replay; returns the run's metrics."""
    problem_name, strategy, seed, budget, batch_size = task
    problem = _PROBLEMS[problem_name]
    objective = search.ReplayObjective(problem.records, space=problem.space)
    started = time.perf_counter()
    out: dict[str, Any] = {"problem": problem_name, "strategy": strategy, "seed": seed, "budget": budget}
    try:
        result = search.tune(problem.space, objective, strategy, search.Budget(trials=budget),
                             seed=seed, batch_size=batch_size)
    except Exception as exc:  # noqa: BLE001 - one broken strategy must not end the comparison
        return {**out, "error": f"{type(exc).__name__}: {exc}"}
    trajectory = [r["time_ms"] if r["status"] == "ok" else None for r in result.history]
    optimum = problem.optimum
    hit = search.trials_to_within(trajectory, optimum, 0.02)
    out.update(
        p_score=search.p_score(trajectory, problem.times, budget=budget),
        p_time=p_time_curve(trajectory, [r["elapsed_s"] for r in result.history], problem, budget),
        trials_to_2pct=hit,
        seconds_to_2pct=None if hit is None else result.history[hit - 1]["elapsed_s"],
        best_over_optimum=(result.best_time / optimum) if result.best_time is not None else None,
        trials=len(trajectory), simulated_s=objective.clock(), wall_s=time.perf_counter() - started,
        misses=objective.misses,
    )
    return out


TIME_POINTS = 20  # the P(t) curve over simulated time: t = T/20, 2T/20, ..., T


def p_time_curve(trajectory: Sequence[float | None], elapsed_s: Sequence[float], problem: Problem,
                 budget: int) -> list[float | None]:
    """P(t) at TIME_POINTS simulated times up to T = budget x the mean trial cost (what random
    search spends on the budget): F(t) is the best time found by t; S_rand(t) the exact expected
    best of random search after t / (mean trial cost) draws (at least one)."""
    times = problem.times
    ok = sorted(t for t in times if t is not None)
    n_failed, n = len(times) - len(ok), len(times)
    horizon, cost = budget * problem.mean_cost_s, problem.mean_cost_s
    curve: list[float | None] = []
    for k in range(1, TIME_POINTS + 1):
        t = horizon * k / TIME_POINTS
        found = [v for v, e in zip(trajectory, elapsed_s) if v is not None and e <= t]
        f_t = min(found) if found else ok[-1]
        s_rand = search.expected_random_best(ok, min(n, max(1, int(t / cost))), n_failed, ok[-1])
        span = s_rand - ok[0]
        curve.append((s_rand - f_t) / span if span > 1e-12 * max(ok[0], 1.0) else None)
    return curve


# ----------------------------------------------------------------------------------------------
# Aggregation and the table


def summarize(runs: list[dict]) -> dict[str, Any]:
    """Mean P with a 95% CI, the one-sided test against random, trials to within 2%."""
    errors = [r["error"] for r in runs if "error" in r]
    scores = [r["p_score"] for r in runs if "error" not in r and not math.isnan(r["p_score"])]
    row: dict[str, Any] = {"runs": len(runs), "errors": len(errors), "first_error": errors[0] if errors else None}
    if not scores:
        return row
    mean, low, high = search.confidence_interval(scores, 0.95) if len(scores) > 1 else (scores[0], math.nan, math.nan)
    one_sided_low = search.confidence_interval(scores, 0.90)[1] if len(scores) > 1 else math.nan
    hits = [r["trials_to_2pct"] for r in runs if "error" not in r]
    reached = sorted(h for h in hits if h is not None)
    # The median over all seeds, a run that never got within 2% counting as more than the budget.
    median_hits = statistics.median([h if h is not None else math.inf for h in hits])
    seconds = [r.get("seconds_to_2pct") if r["trials_to_2pct"] is not None else None for r in runs if "error" not in r]
    curves = [[math.nan if v is None else v for v in r["p_time"]] for r in runs if r.get("p_time")]
    row.update(mean_p=mean, ci_low=low, ci_high=high, beats_random=bool(one_sided_low > 0),
               median_trials_2pct=median_hits, reached_2pct=len(reached), seeds=len(hits),
               median_seconds_2pct=statistics.median([x if x is not None else math.inf for x in seconds]),
               p_time=[None if math.isnan(v) else float(v) for v in _nanmean_columns(np.array(curves))]
               if curves else None,
               budget=runs[0]["budget"])
    return row


def _nanmean_columns(rows: np.ndarray) -> np.ndarray:
    """Column means ignoring NaN (NaN where a column has no number)."""
    counts = np.sum(~np.isnan(rows), axis=0)
    sums = np.nansum(rows, axis=0)
    return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def _json_safe(value: Any) -> Any:
    """NaN and inf become None so the runs file is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    return value


def _fmt(x: float, digits: int = 2) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def format_tables(summary: dict[tuple[str, str], dict], problems: list[str], strategies: list[str]) -> str:
    """Markdown: a strategy x space grid of mean P, then one detailed row per (space, strategy)."""
    lines = ["Mean P-score (0 = random search, 1 = optimum); * = beats random (one-sided t-test, 95%: "
             "mean minus the one-sided margin > 0; the CI below is two-sided, so it can reach under 0).", "",
             "| strategy | " + " | ".join(problems) + " |", "|---|" + "---|" * len(problems)]
    for strategy in strategies:
        cells = []
        for problem in problems:
            row = summary[(problem, strategy)]
            cells.append(f"{_fmt(row['mean_p'])}{'*' if row['beats_random'] else ''}" if "mean_p" in row else "error")
        lines.append(f"| {strategy} | " + " | ".join(cells) + " |")
    lines += ["", "| space | strategy | budget | mean P | 95% CI | beats random | median trials to 2% "
              "| median simulated s to 2% | reached 2% | errors |", "|---|---|---|---|---|---|---|---|---|---|"]
    for problem in problems:
        for strategy in strategies:
            row = summary[(problem, strategy)]
            if "mean_p" not in row:
                lines.append(f"| {problem} | {strategy} | - | - | - | - | - | - | - | {row['errors']}: "
                             f"{row['first_error']} |")
                continue
            median = row["median_trials_2pct"]
            median_text = f">{row['budget']}" if math.isinf(median) else f"{median:g}"
            seconds = row["median_seconds_2pct"]
            seconds_text = "-" if math.isinf(seconds) else f"{seconds:.1f}"
            lines.append(f"| {problem} | {strategy} | {row['budget']} | {_fmt(row['mean_p'])} | "
                         f"[{_fmt(row['ci_low'])}, {_fmt(row['ci_high'])}] | "
                         f"{'yes' if row['beats_random'] else 'no'} | {median_text} | {seconds_text} | "
                         f"{row['reached_2pct']}/{row['seeds']} | {row['errors']} |")
    return "\n".join(lines) + "\n"


def compare(problems: list[Problem], strategies: list[str], *, seeds: int, budget_fraction: float,
            budget_cap: int, batch_size: int = 8, jobs: int = 1,
            trials: int | None = None) -> tuple[dict, list[dict]]:
    """Runs every strategy x problem x seed; returns ({(problem, strategy): summary row}, runs)."""
    tasks = [(p.name, s, seed, default_budget(p, budget_fraction, budget_cap, trials), batch_size)
             for p in problems for s in strategies for seed in range(seeds)]
    if jobs > 1:
        with multiprocessing.Pool(jobs, initializer=_init_worker, initargs=(problems,)) as pool:
            runs = pool.map(run_one, tasks, chunksize=max(1, len(tasks) // (8 * jobs)))
    else:
        _init_worker(problems)
        runs = [run_one(t) for t in tasks]
    grouped: dict[tuple[str, str], list[dict]] = {}
    for run in runs:
        grouped.setdefault((run["problem"], run["strategy"]), []).append(run)
    return {key: summarize(group) for key, group in grouped.items()}, runs


def plot(summary: dict[tuple[str, str], dict], problems: list[str], strategies: list[str], path: Path) -> bool:
    """PNG: mean P(t) over simulated time (all spaces averaged) and mean P per strategy; False
    (nothing written) when matplotlib is not installed."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    figure, (curves, bars) = plt.subplots(1, 2, figsize=(12, 4.5))
    x = np.arange(1, TIME_POINTS + 1) / TIME_POINTS
    means = []
    for strategy in strategies:
        rows = [summary[(p, strategy)] for p in problems if summary[(p, strategy)].get("p_time")]
        curve = _nanmean_columns(np.array([[math.nan if v is None else v for v in r["p_time"]] for r in rows]))
        curves.plot(x, curve, label=strategy)
        means.append(statistics.fmean(r["mean_p"] for r in rows) if rows else math.nan)
    curves.axhline(0.0, color="grey", linewidth=0.8)
    curves.set(xlabel="simulated time / (budget x mean trial cost)", ylabel="mean P(t) over spaces",
               title="P-score over simulated time (0 = random search, 1 = optimum)")
    curves.legend(fontsize=8)
    bars.bar(strategies, means)
    bars.axhline(0.0, color="grey", linewidth=0.8)
    bars.set(ylabel="mean P over spaces and seeds", title=f"{len(problems)} spaces")
    bars.tick_params(axis="x", rotation=30)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True


def _provenance() -> str:
    """Which search code produced the numbers: the commit, marked +dirty if search/ has local changes."""
    import subprocess

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    return commit + ("+dirty" if git("status", "--porcelain", "--", "search") else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Compare search strategies on replayed spaces by P-score.")
    parser.add_argument("--quick", action="store_true", help="10 seeds instead of 30")
    parser.add_argument("--seeds", type=int, default=None, help="seeds per strategy and space (30)")
    parser.add_argument("--budget-fraction", type=float, default=None, help="trial budget / space size (0.1)")
    parser.add_argument("--budget-cap", type=int, default=None, help="most trials per run (100)")
    parser.add_argument("--trials", type=int, default=None,
                        help="the same trial budget on every space (overrides --budget-fraction and --budget-cap)")
    parser.add_argument("--batch-size", type=int, default=8, help="configs per ask, as the autotuner's batches (8)")
    parser.add_argument("--strategies", nargs="*", default=None, help="default: every registered one")
    parser.add_argument("--landscapes", nargs="*", default=sorted(landscapes.LANDSCAPES))
    parser.add_argument("--data", type=Path, default=DATA_DIR, help="folder of recorded sweeps")
    parser.add_argument("--no-recorded", action="store_true", help="synthetic landscapes only")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--output", type=Path, default=None, help="markdown file (default in --data)")
    args = parser.parse_args(argv)
    seeds = args.seeds or (10 if args.quick else 30)
    fraction = args.budget_fraction or 0.1
    cap = args.budget_cap or 100
    strategies = args.strategies or search.available_strategies()
    problems = [] if args.no_recorded else recorded_problems(args.data)
    problems += synthetic_problems(args.landscapes)
    output = args.output or args.data / ("strategy_comparison_quick.md" if args.quick else "strategy_comparison.md")

    started = time.perf_counter()
    print(f"{len(strategies)} strategies x {len(problems)} spaces x {seeds} seeds on {args.jobs} processes")
    summary, runs = compare(problems, strategies, seeds=seeds, budget_fraction=fraction, budget_cap=cap,
                            batch_size=args.batch_size, jobs=args.jobs, trials=args.trials)
    budget = (f"budget = {args.trials} trials" if args.trials is not None
              else f"budget = {fraction:g} x configs (10..{cap} trials)")
    header = (f"# Strategy comparison\n\nsearch at {_provenance()}; {seeds} seeds (0..{seeds - 1}), {budget}, "
              f"batches of {args.batch_size}; spaces (configs): "
              f"{', '.join(f'{p.name} ({len(p.records)})' for p in problems)}.\n\n")
    table = format_tables(summary, [p.name for p in problems], strategies)
    print(table)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(header + table)
    output.with_suffix(".runs.json").write_text(json.dumps(_json_safe(runs), indent=0) + "\n")
    plotted = plot(summary, [p.name for p in problems], strategies, output.with_suffix(".png"))
    print(f"wrote {output}, its .runs.json{' and .png' if plotted else ' (no plot: matplotlib is missing)'} "
          f"in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
