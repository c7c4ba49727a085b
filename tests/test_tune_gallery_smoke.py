"""The tuning script's whole path on CPU: candidates, checks in worker processes, interleaved
timing against the baselines, ablation and the report."""
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
        assert row["refined"] > 0 and row["tried"] == 4 + row["refined"] == row["ok"] + row["error"]
    assert "| add |" in (tmp_path / "tune_gallery.md").read_text()
    assert any(a["kind"] == "probe" and "slowdown" in a for row in rows for a in row["ablation"])


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
