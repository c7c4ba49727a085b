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
