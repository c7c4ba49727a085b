"""The synthetic landscapes are deterministic, replayable and shaped as their docstrings claim."""

from __future__ import annotations

import statistics

import pytest

import search
from experiments import landscapes

NAMES = sorted(landscapes.LANDSCAPES)


@pytest.fixture(scope="module", params=NAMES)
def landscape(request) -> landscapes.Landscape:
    return landscapes.make_landscape(request.param, seed=0)


def _times_by_config(landscape: landscapes.Landscape) -> dict[tuple, dict]:
    return {search.config_key(r["config"]): r for r in landscape.records}


def test_same_seed_gives_same_records_and_another_seed_moves_only_the_noise():
    for name in NAMES:
        first = landscapes.make_landscape(name, seed=3)
        assert first.records == landscapes.make_landscape(name, seed=3).records
        other = landscapes.make_landscape(name, seed=4)
        assert [r["status"] for r in first.records] == [r["status"] for r in other.records]
        assert [r["time_ms"] for r in first.records] != [r["time_ms"] for r in other.records]


def test_size_and_invalid_region(landscape):
    counts = landscape.status_counts()
    assert 300 <= len(landscape.records) <= 5000
    failed = len(landscape.records) - counts["ok"]
    assert 0.05 <= failed / len(landscape.records) <= 0.7, counts
    assert set(counts) - {"ok"} <= set(search.FAILURE_KINDS)


def test_optimum_is_unique_with_a_margin(landscape):
    times = landscape.times()
    assert times[0] * landscapes.OPTIMUM_MARGIN <= times[1] * (1 + 1e-9)
    assert sum(r["time_ms"] == times[0] for r in landscape.ok_records) == 1


def test_records_follow_the_trial_record_format(landscape):
    fingerprint = landscape.space.fingerprint()
    elapsed = 0.0
    for trial, record in enumerate(landscape.records):
        assert record["trial"] == trial and record["strategy"] == "exhaustive"
        assert record["space_fingerprint"] == fingerprint
        assert landscape.space.contains(record["config"])
        assert record["compile_s"] > 0 and record["elapsed_s"] >= elapsed
        elapsed = record["elapsed_s"]
        if record["status"] == "ok":
            assert record["time_ms"] == pytest.approx(statistics.median(record["times_ms"]))
        else:
            assert record["time_ms"] is None
    assert len(landscape.records) == len(landscape.space.enumerate())  # exhaustive: every config once


def test_tile_cliffs_jumps_when_halving_warps_makes_the_accumulator_spill():
    cliffs = _times_by_config(landscapes.make_landscape("tile_cliffs"))
    fits = {"block_m": 128, "block_n": 128, "block_k": 32, "num_warps": 4, "num_stages": 3}  # 128 acc/thread
    spills = {**fits, "num_warps": 2}  # 256 acc/thread
    assert cliffs[search.config_key(spills)]["time_ms"] > 1.5 * cliffs[search.config_key(fits)]["time_ms"]
    too_big = {**fits, "block_k": 128, "num_stages": 4}  # (128 + 128) * 128 * 2 * 4 bytes of shared memory
    assert cliffs[search.config_key(too_big)]["status"] == "compile_error"


def test_reduction_basins_has_a_decoy_basin_near_the_global_optimum():
    basins = landscapes.make_landscape("reduction_basins")
    by_key = _times_by_config(basins)
    optimum = basins.optimum
    assert optimum["config"]["reduction"] == "persistent"
    best = {}
    for record in basins.ok_records:
        strategy = record["config"]["reduction"]
        if strategy not in best or record["time_ms"] < best[strategy]["time_ms"]:
            best[strategy] = record
    assert set(best) == {"persistent", "looped", "split"}
    assert 1.02 < best["looped"]["time_ms"] / optimum["time_ms"] < 1.10
    for record in best.values():  # each basin's floor is a local minimum under one-step moves
        neighbors = [by_key[search.config_key(c)] for c in basins.space.neighbors(record["config"])]
        assert all(n["status"] != "ok" or n["time_ms"] >= record["time_ms"] for n in neighbors)
    assert basins.status_counts()["inaccurate"] > 0


def test_edge_of_feasibility_optimum_borders_failing_configs():
    edge = landscapes.make_landscape("edge_of_feasibility")
    by_key = _times_by_config(edge)
    neighbors = [by_key[search.config_key(c)] for c in edge.space.neighbors(edge.optimum["config"])]
    assert {"compile_error", "timeout"} & {n["status"] for n in neighbors}


def test_unknown_landscape_names_the_known_ones():
    with pytest.raises(KeyError, match="tile_cliffs"):
        landscapes.make_landscape("no_such_landscape")
