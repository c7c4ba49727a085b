"""Metrics for comparing strategies, after Willemsen et al. (FGCS 2024).

P(t) = (S_rand(t) - F(t)) / (S_rand(t) - S_opt): S_rand(t) is the expected best time of uniform
random search without replacement after t trials, computed exactly from the recorded times (order
statistics); F(t) the strategy's best after t trials; S_opt the optimum. 0 means as good as
random, 1 means at the optimum.

Failures: a recorded config that failed counts as a trial that finds nothing. Until a search has
found a time, its "best" is `missing` (default: the worst recorded time), for random search and
for the strategy alike. Trajectories are per-trial times in order; None, NaN, inf and negative
values are failures.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping, Sequence

import numpy as np


def _split(times: Iterable[Any]) -> tuple[np.ndarray, int]:
    """(sorted finite non-negative times, number of failures)."""
    ok, failed = [], 0
    for t in times:
        if t is not None and math.isfinite(float(t)) and float(t) >= 0:
            ok.append(float(t))
        else:
            failed += 1
    return np.sort(np.asarray(ok, dtype=float)), failed


def times_from_records(records: Iterable[Mapping[str, Any]]) -> list[float | None]:
    """Per-record time_ms, None for records whose status is not "ok"."""
    return [r.get("time_ms") if r.get("status") == "ok" else None for r in records]


def expected_random_best(sorted_times: Sequence[float], t: int, n_failed: int = 0,
                         missing: float | None = None) -> float:
    """Expected best time after t uniform draws without replacement (exact, order statistics).

    The population is `sorted_times` (ascending) plus `n_failed` failed configs; if all t draws
    are failures the best counts as `missing` (default: the worst time).
    P(best = i-th fastest) = C(N - i, t - 1) / C(N, t).
    """
    x = np.asarray(sorted_times, dtype=float)
    m = len(x)
    n = m + n_failed
    if m == 0:
        raise ValueError("expected_random_best needs at least one successful time")
    if np.any(np.diff(x) < 0):
        raise ValueError("sorted_times must be sorted ascending")
    if not 1 <= t <= n:
        raise ValueError(f"t={t} must be in [1, {n}] (the number of recorded configs)")
    i = np.arange(1, m)
    ratios = np.clip((n - i - t + 1) / (n - i), 0.0, None)
    p = (t / n) * np.cumprod(np.concatenate(([1.0], ratios)))
    none_found = 0.0
    if n_failed >= t:
        none_found = float(np.prod([(n_failed - j) / (n - j) for j in range(t)]))
    fallback = x[-1] if missing is None else float(missing)
    return float(p @ x + none_found * fallback)


def best_so_far(trajectory: Iterable[Any], missing: float = math.inf) -> np.ndarray:
    """F(t) for t = 1..len(trajectory): the best time among the first t trials (`missing` if none)."""
    out, best = [], math.inf
    for value in trajectory:
        if value is not None and math.isfinite(float(value)) and float(value) >= 0:
            best = min(best, float(value))
        out.append(best if math.isfinite(best) else missing)
    return np.asarray(out, dtype=float)


def p_curve(trajectory: Sequence[Any], all_times: Iterable[Any], budget: int | None = None,
            optimum: float | None = None, missing: float | None = None) -> np.ndarray:
    """P(t) for t = 1..budget (default len(trajectory)); NaN where random search surely has the optimum.

    Past the trajectory's end, F(t) stays at its last value; past the recorded space's size,
    S_rand(t) stays at its value for the whole space.
    """
    times, n_failed = _split(all_times)
    if len(times) == 0:
        raise ValueError("p_curve needs at least one successful recorded time")
    s_opt = times[0] if optimum is None else float(optimum)
    missing = times[-1] if missing is None else float(missing)
    budget = len(trajectory) if budget is None else budget
    if budget < 1:
        raise ValueError("p_curve needs a budget of at least one trial")
    f = best_so_far(trajectory, missing)
    if len(f) == 0:
        f = np.asarray([missing])
    n = len(times) + n_failed
    out = np.empty(budget)
    for t in range(1, budget + 1):
        s_rand = expected_random_best(times, min(t, n), n_failed, missing)
        f_t = f[min(t, len(f)) - 1]
        denominator = s_rand - s_opt
        out[t - 1] = (s_rand - f_t) / denominator if denominator > 1e-12 * max(abs(s_opt), 1.0) else np.nan
    return out


def p_score(trajectory: Sequence[Any], all_times: Iterable[Any], budget: int | None = None,
            optimum: float | None = None, missing: float | None = None) -> float:
    """Mean of P(t) over t = 1..budget (NaN points, where random search is surely optimal, skipped)."""
    curve = p_curve(trajectory, all_times, budget, optimum, missing)
    return float(np.nanmean(curve)) if np.any(~np.isnan(curve)) else math.nan


def trials_to_within(trajectory: Iterable[Any], optimum: float, tolerance: float = 0.02) -> int | None:
    """The first trial count t at which the best time is within `tolerance` of `optimum`, or None."""
    for t, best in enumerate(best_so_far(trajectory), start=1):
        if best <= optimum * (1.0 + tolerance):
            return t
    return None


def _t_two_sided_mass(x: float, df: int) -> float:
    """P(|T| < x) for Student's t with integer df (Abramowitz & Stegun 26.7.3-4)."""
    theta = math.atan(x / math.sqrt(df))
    s, c2 = math.sin(theta), math.cos(theta) ** 2
    if df % 2 == 1:
        term, total = 1.0, 1.0
        for k in range(2, df - 1, 2):
            term *= c2 * k / (k + 1)
            total += term
        return (2 / math.pi) * (theta + (s * math.cos(theta) * total if df > 1 else 0.0))
    term, total = 1.0, 1.0
    for k in range(1, df - 2, 2):
        term *= c2 * k / (k + 1)
        total += term
    return s * total


def student_t_quantile(p: float, df: int) -> float:
    """The p-quantile of Student's t with integer df >= 1 (bisection on the exact CDF)."""
    if not 0 < p < 1 or df < 1:
        raise ValueError(f"need 0 < p < 1 and df >= 1, got p={p}, df={df}")
    if p < 0.5:
        return -student_t_quantile(1 - p, df)
    target = 2 * p - 1
    low, high = 0.0, 1.0
    while _t_two_sided_mass(high, df) < target:
        high *= 2
    for _ in range(100):
        mid = (low + high) / 2
        low, high = (mid, high) if _t_two_sided_mass(mid, df) < target else (low, mid)
    return (low + high) / 2


def confidence_interval(values: Iterable[float], level: float = 0.95, method: str = "t",
                        n_boot: int = 10_000, seed: int = 0) -> tuple[float, float, float]:
    """(mean, low, high): a Student-t or percentile-bootstrap CI of the mean over seeds."""
    x = np.asarray([float(v) for v in values], dtype=float)
    if len(x) == 0:
        raise ValueError("confidence_interval needs at least one value")
    mean = float(x.mean())
    if len(x) == 1:
        return mean, math.nan, math.nan
    if method == "t":
        half = student_t_quantile(0.5 + level / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x))
        return mean, mean - half, mean + half
    if method == "bootstrap":
        rng = np.random.default_rng(seed)
        means = x[rng.integers(0, len(x), size=(n_boot, len(x)))].mean(axis=1)
        low, high = np.quantile(means, [0.5 - level / 2, 0.5 + level / 2])
        return mean, float(low), float(high)
    raise ValueError(f"method={method!r}; use 't' or 'bootstrap'")


__all__ = ["best_so_far", "confidence_interval", "expected_random_best", "p_curve", "p_score",
           "student_t_quantile", "times_from_records", "trials_to_within"]
