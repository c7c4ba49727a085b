"""Tests of the strategy-comparison metrics against brute force and Monte Carlo references."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from search.metrics import (best_so_far, confidence_interval, expected_random_best, p_curve, p_score,
                            student_t_quantile, times_from_records, trials_to_within)

TIMES = [1.0, 1.5, 1.5, 2.0, 3.0, 4.5, 7.0]


def _brute_force_expected_best(times, n_failed, t, missing):
    population = list(times) + [None] * n_failed
    bests = [min([x for x in draw if x is not None], default=missing)
             for draw in itertools.combinations(population, t)]
    return sum(bests) / len(bests)


@pytest.mark.parametrize("n_failed", [0, 3])
def test_expected_random_best_equals_brute_force(n_failed):
    for t in range(1, len(TIMES) + n_failed + 1):
        expected = _brute_force_expected_best(TIMES, n_failed, t, missing=10.0)
        assert expected_random_best(TIMES, t, n_failed, missing=10.0) == pytest.approx(expected, rel=1e-12)


def test_expected_random_best_matches_monte_carlo():
    rng = np.random.default_rng(0)
    times = np.sort(rng.lognormal(size=40))
    population = np.concatenate([times, np.full(10, np.inf)])  # 10 failures
    for t in (1, 3, 12):
        draws = np.array([population[rng.permutation(50)[:t]].min() for _ in range(20_000)])
        draws[np.isinf(draws)] = times[-1]  # a search that found nothing scores the worst time
        standard_error = draws.std() / math.sqrt(len(draws))
        assert abs(expected_random_best(times, t, n_failed=10) - draws.mean()) < 4 * standard_error


def test_expected_random_best_edge_cases():
    assert expected_random_best([2.0], 1) == 2.0
    assert expected_random_best(TIMES, len(TIMES)) == 1.0
    with pytest.raises(ValueError, match="sorted"):
        expected_random_best([2.0, 1.0], 1)
    with pytest.raises(ValueError, match="t=8"):
        expected_random_best(TIMES, 8)


def test_p_is_one_at_the_optimum_and_zero_for_the_worst_case_gap():
    assert p_score([1.0, 7.0, 3.0], TIMES) == pytest.approx(1.0)
    curve = p_curve([7.0, 7.0, 7.0], TIMES)  # stuck at the worst: below random
    assert np.all(curve[:-1] < 0)
    assert p_score([1.0], TIMES, budget=len(TIMES)) == pytest.approx(1.0)  # last point (t=N) is NaN and skipped
    assert math.isnan(p_curve([1.0], TIMES, budget=len(TIMES))[-1])


def test_random_trajectories_score_zero_on_average():
    rng = np.random.default_rng(1)
    all_times = list(rng.lognormal(size=60)) + [None] * 15
    curves = []
    for _ in range(3000):
        order = rng.permutation(len(all_times))[:20]
        curves.append(p_curve([all_times[i] for i in order], all_times))
    mean = np.mean(curves, axis=0)
    assert np.all(np.abs(mean) < 0.05)


def test_best_so_far_and_trials_to_within():
    trajectory = [3.0, None, math.nan, 2.0, math.inf, 1.01, 1.0]
    assert best_so_far(trajectory).tolist() == [3.0, 3.0, 3.0, 2.0, 2.0, 1.01, 1.0]
    assert best_so_far([None, 2.0], missing=9.0).tolist() == [9.0, 2.0]
    assert trials_to_within(trajectory, 1.0, 0.02) == 6
    assert trials_to_within(trajectory, 1.0, 0.0) == 7
    assert trials_to_within([3.0], 1.0) is None


def test_times_from_records():
    records = [{"status": "ok", "time_ms": 2.0}, {"status": "timeout", "time_ms": None}]
    assert times_from_records(records) == [2.0, None]


def test_student_t_quantiles_match_the_table():
    table = {1: 12.7062, 2: 4.3027, 4: 2.7764, 9: 2.2622, 30: 2.0423}
    for df, value in table.items():
        assert student_t_quantile(0.975, df) == pytest.approx(value, abs=1e-4)
    assert student_t_quantile(0.025, 4) == pytest.approx(-2.7764, abs=1e-4)


def test_confidence_intervals():
    mean, low, high = confidence_interval([1, 2, 3, 4, 5])
    half = 2.7764 * math.sqrt(2.5) / math.sqrt(5)
    assert (mean, low, high) == pytest.approx((3.0, 3.0 - half, 3.0 + half), abs=1e-3)
    mean, low, high = confidence_interval([1, 2, 3, 4, 5], method="bootstrap", seed=0)
    assert mean == 3.0 and 1.5 < low < 3.0 < high < 4.5
    assert confidence_interval([2.0])[0] == 2.0 and math.isnan(confidence_interval([2.0])[1])
    with pytest.raises(ValueError, match="method"):
        confidence_interval([1, 2], method="normal")
