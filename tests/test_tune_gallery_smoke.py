"""The tuning script's whole path on CPU: candidates checked and screened by the autotuning
engine, interleaved timing against the baselines, ablation and the report."""
from __future__ import annotations

import json

from experiments import tune_gallery_gpu


def test_smoke_run_writes_a_checked_report(tmp_path) -> None:
    assert tune_gallery_gpu.main(["--smoke", "--out", str(tmp_path), "--configs", "4", "--workers", "1",
                                  "--ablate", "--no-compile", "--refine", "3"]) == 0
    rows = json.loads((tmp_path / "tune_gallery.json").read_text())["rows"]
    assert [r["kernel"] for r in rows] == ["add", "softmax"]
    for row in rows:
        assert row["status"] == "ok" and row["correct"] and row["wrong"] == 0
        assert row["best_ms"] <= row["default_ms"] and row["eager_ms"] > 0
        # every candidate counted once (Triton 3.6's interpreter fails persistent programs: crash there)
        assert row["refined"] > 0 and row["tried"] == 4 + row["refined"] == row["ok"] + row["error"] + row["crash"]
        assert len(row["quick"]) == row["ok"] and row["median_compile_s"] is not None
    assert "| add |" in (tmp_path / "tune_gallery.md").read_text()
    assert any(a["kind"] == "probe" and "slowdown" in a for row in rows for a in row["ablation"])


def test_a_wrong_reference_fails_every_candidate(tmp_path, monkeypatch) -> None:
    """The engine checks against the script's fp32 reference, not against the default config."""
    reference_for = tune_gallery_gpu.reference_for
    monkeypatch.setattr(tune_gallery_gpu, "SMOKE", tune_gallery_gpu.SMOKE[:1])
    monkeypatch.setattr(tune_gallery_gpu, "reference_for",
                        lambda module, name: lambda *a: reference_for(module, name)(*a) + 1.0)
    assert tune_gallery_gpu.main(["--smoke", "--out", str(tmp_path), "--configs", "2", "--no-compile"]) == 0
    row, = json.loads((tmp_path / "tune_gallery.json").read_text())["rows"]
    assert row["ok"] == 0 and "2 inaccurate" in row["status"] and "elements differ" in row["status"]
    assert "| add | 33x70xrow | AutotuneError" in (tmp_path / "tune_gallery.md").read_text()


def test_check_counts_maps_the_engines_statuses() -> None:
    def record(status, message="", compile_s=None):
        return {"config": {"num_warps": len(message)}, "status": status, "message": message, "compile_s": compile_s}
    records = [record("ok", compile_s=1.0), record("inaccurate", "off by one", 3.0), record("compile_error", "ptxas"),
               record("invalid", "ptxas"), record("runtime_error", "illegal address"), record("timeout", "hung")]
    counts = tune_gallery_gpu.check_counts(records)
    assert (counts["ok"], counts["wrong"], counts["error"], counts["crash"]) == (1, 1, 2, 2)
    assert [w["status"] for w in counts["wrong_configs"]] == ["wrong", "crash", "crash"]
    assert counts["errors"] == {"ptxas": 2} and counts["median_compile_s"] == 2.0


def test_table_merges_runs_later_first_and_lists_knobs(tmp_path, capsys) -> None:
    from experiments import tune_gallery_table

    def row(kernel, best, ablation):
        return {"status": "ok", "kernel": kernel, "size": [8, 8], "ok": 3, "tried": 4, "wrong": 0,
                "best_ms": best, "default_ms": 2 * best, "untuned_fraction": 0.5, "compiled_ms": best,
                "vs_compiled": 1.0, "frac_copy_bw": 0.9, "ablation": ablation}
    reset = {"kind": "reset", "knob": "num_warps", "winner": 8, "default": 4, "slowdown": 1.2}
    probe = {"kind": "probe", "knob": "loop_orders", "winner": [[0, 1]], "default": [[1, 0]], "slowdown": 1.5}
    (tmp_path / "a.json").write_text(json.dumps({"rows": [row("add", 1.0, [reset]), row("sum", 3.0, [])]}))
    (tmp_path / "b.json").write_text(json.dumps({"rows": [row("add", 2.0, [probe])]}))
    assert tune_gallery_table.main([str(tmp_path / "a.json"), str(tmp_path / "b.json")]) == 0
    out = capsys.readouterr().out
    assert "| add | 8x8 | 3 / 4 | 2.0000 |" in out and "| sum | 8x8 |" in out
    assert "| num_warps | add 8x8 | 8 | 4 | 1.20 |" in out and "| loop_orders | add 8x8 |" in out
    assert tune_gallery_table.main([str(tmp_path / "a.json"), str(tmp_path / "b.json"), "--ablation-only", "b"]) == 0
    assert "| add | 8x8 | 3 / 4 | 1.0000 |" in capsys.readouterr().out
    assert tune_gallery_table.main([str(tmp_path / "a.json"), str(tmp_path / "b.json"), "--only", "b=sum"]) == 0
    assert "| add | 8x8 | 3 / 4 | 1.0000 |" in capsys.readouterr().out
