"""compare_strategies: P-scores, the test against random and the table, on tiny replayed spaces."""

from __future__ import annotations

import json
import math
import re

import pytest

import search
from experiments import compare_strategies as compare
from experiments import collect_matmul_space as collect


def _bowl_problem() -> compare.Problem:
    """A smooth single-basin space of 256 configs (optimum at x=5, y=2, z=1); 10% of it fails."""
    space = search.Space({"x": search.Integer(0, 15), "y": search.Integer(0, 7), "z": search.Integer(0, 1)})
    records = []
    for trial, c in enumerate(space.enumerate()):
        failed = (c["x"] + c["y"]) % 10 == 9
        time_ms = 1.0 + 0.05 * (c["x"] - 5) ** 2 + 0.1 * (c["y"] - 2) ** 2 + 0.3 * (c["z"] != 1)
        records.append({"trial": trial, "config": c, "status": "timeout" if failed else "ok",
                        "time_ms": None if failed else time_ms, "times_ms": None, "compile_s": 0.1,
                        "strategy": "exhaustive"})
    return compare.Problem("bowl", space, tuple(records))


@pytest.fixture
def oracle():
    """A strategy that knows the bowl: it asks configs fastest first (a stand-in for a strong one)."""
    problem = _bowl_problem()
    ranked = sorted(problem.records, key=lambda r: r["time_ms"] if r["time_ms"] is not None else math.inf)

    @search.register("oracle_in_compare_test")
    class Oracle(search.Strategy):
        def _propose(self, n):
            return [r["config"] for r in ranked[len(self.told):len(self.told) + n]]

    yield "oracle_in_compare_test"
    search.unregister("oracle_in_compare_test")


def test_a_strong_strategy_beats_random_and_random_does_not(oracle):
    summary, runs = compare.compare([_bowl_problem()], ["random", oracle], seeds=6, budget_fraction=0.1,
                                    budget_cap=25, jobs=1)
    strong, rand = summary[("bowl", oracle)], summary[("bowl", "random")]
    assert len(runs) == 12 and strong["budget"] == 25  # 10% of 256 configs, capped at 25
    assert strong["mean_p"] > 0.9 and strong["beats_random"]
    assert strong["median_trials_2pct"] == 1 and strong["reached_2pct"] == 6
    assert rand["ci_low"] < 0.3 and rand["mean_p"] < strong["mean_p"]
    table = compare.format_tables(summary, ["bowl"], ["random", oracle])
    assert f"| {oracle} | 1.00* |" in table or f"| {oracle} | 0.9" in table
    assert f"| bowl | {oracle} | 25 |" in table and re.search(r"\| yes \| 1 \| [0-9.]+ \| 6/6 \|", table)
    # over simulated time: the oracle holds the optimum once its first batch (8 trials) is measured
    curve = strong["p_time"]
    assert len(curve) == compare.TIME_POINTS and all(v > 0.9 for v in curve[8:])


def test_random_search_scores_about_zero_over_many_seeds():
    summary, _ = compare.compare([_bowl_problem()], ["random"], seeds=60, budget_fraction=0.1, budget_cap=25,
                                 jobs=1)
    row = summary[("bowl", "random")]
    assert row["ci_low"] < 0 < row["ci_high"] and abs(row["mean_p"]) < 0.2


def test_summary_test_against_random_uses_the_spread_of_seeds():
    runs = [{"budget": 10, "p_score": p, "trials_to_2pct": None} for p in (0.5, -0.4, 0.6, -0.5)]
    row = compare.summarize(runs)
    assert row["mean_p"] == pytest.approx(0.05) and not row["beats_random"]
    assert row["ci_low"] < 0 < row["ci_high"] and math.isinf(row["median_trials_2pct"])
    steady = compare.summarize([{"budget": 10, "p_score": p, "trials_to_2pct": 3} for p in (0.3, 0.35, 0.4)])
    assert steady["beats_random"] and steady["median_trials_2pct"] == 3 and steady["reached_2pct"] == 3


def test_a_failing_strategy_is_reported_not_fatal():
    @search.register("always_raises_in_compare_test")
    class AlwaysRaises(search.Strategy):
        def _propose(self, n):
            raise RuntimeError("boom")

    try:
        summary, _ = compare.compare([_bowl_problem()], ["always_raises_in_compare_test"], seeds=2,
                                     budget_fraction=0.1, budget_cap=5)
    finally:
        search.unregister("always_raises_in_compare_test")
    row = summary[("bowl", "always_raises_in_compare_test")]
    assert row["errors"] == 2 and "boom" in row["first_error"] and "mean_p" not in row


def test_recorded_sweeps_load_with_their_constraints(tmp_path):
    space = collect.build_space()
    configs = space.enumerate()[:20]
    records = [{"kernel": "matmul", "strategy": "exhaustive", "trial": i, "config": c, "status": "ok",
                "time_ms": 1.0 + i, "times_ms": [1.0 + i], "compile_s": 0.5} for i, c in enumerate(configs)]
    search.write_records(tmp_path / "matmul_64x64x64_bfloat16.jsonl", records)
    (tmp_path / "matmul_64x64x64_bfloat16.space.json").write_text(json.dumps(space.to_json()))
    search.write_records(tmp_path / "synthetic_skipped.jsonl", records)  # no space JSON: ignored
    problems = compare.recorded_problems(tmp_path)
    assert [p.name for p in problems] == ["matmul_64x64x64_bfloat16"]
    # A cut-short sweep: its space keeps the matmul constraints and drops the configs never measured.
    assert {c.name for c in problems[0].space.constraints} == {*collect.CONSTRAINT_PREDICATES, "recorded"}
    assert sorted(map(search.config_key, problems[0].space.enumerate())) == sorted(map(search.config_key, configs))
    assert problems[0].optimum == 1.0
    summary, runs = compare.compare(problems, ["random"], seeds=2, budget_fraction=1.0, budget_cap=20, jobs=2)
    assert all(run["misses"] == 0 and run["trials"] == 20 for run in runs)  # every ask was a recorded config


def test_main_writes_the_table(tmp_path):
    output = tmp_path / "table.md"
    assert compare.main(["--no-recorded", "--landscapes", "reduction_basins", "--strategies", "random", "pattern",
                         "--seeds", "3", "--budget-cap", "10", "--jobs", "1", "--output", str(output)]) == 0
    text = output.read_text()
    assert "| strategy | synthetic/reduction_basins |" in text and "| pattern |" in text
    runs = json.loads(output.with_suffix(".runs.json").read_text())
    assert len(runs) == 6 and all(r["budget"] == 10 and r["trials"] == 10 for r in runs)


def test_sampled_spaces_replay_by_nearest_record_and_plot(tmp_path, oracle):
    """A sample of a larger space (collect_spaces_gpu's layout): the whole space is searched,
    replay answers from the nearest recorded config, and the PNG is written."""
    bowl = _bowl_problem()
    sample = [dict(r, strategy="random") for r in bowl.records[::4]]
    folder = tmp_path / "spaces_test"
    folder.mkdir()
    search.write_records(folder / "bowl.trials.jsonl", sample)
    import gzip
    with open(folder / "bowl.trials.jsonl", "rb") as f, gzip.open(folder / "bowl.trials.jsonl.gz", "wb") as g:
        g.write(f.read())
    (folder / "bowl.trials.jsonl").unlink()
    (folder / "bowl.space.json").write_text(json.dumps(bowl.space.to_json()))
    problems = compare.recorded_problems(tmp_path)
    assert [(p.name, p.sampled, len(p.records)) for p in problems] == [("spaces_test/bowl", True, 64)]
    summary, runs = compare.compare(problems, ["random", "pattern"], seeds=3, budget_fraction=0.5, budget_cap=20)
    assert all("error" not in r and r["trials"] == 20 for r in runs)
    assert any(r["misses"] > 0 for r in runs)  # configs outside the sample were answered by neighbours
    path = tmp_path / "plot.png"
    assert compare.plot(summary, ["spaces_test/bowl"], ["random", "pattern"], path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
