"""The peer comparison's arithmetic (the GPU run itself is in experiments/peer_untuned_gpu.py)."""
from __future__ import annotations

import pytest

from experiments import peer_untuned_gpu


def test_report_compares_processes_through_their_torch_baseline() -> None:
    ours = [{"kernel": "add", "size": [4, 8], "default_ms": 2.0, "best_ms": 1.0, "torch_ms": 1.0},
            {"kernel": "sum", "size": [4, 8], "default_ms": 1.0, "best_ms": 1.0, "torch_ms": 1.0}]
    peer = [{"default_ms": 4.4, "torch_ms": 1.1, "default_ok": True},  # 4x its own torch time
            {"error": "NotImplementedError: reductions with >1 input"}]
    text, rows = peer_untuned_gpu.report(ours, peer)
    assert rows[0]["ours_untuned"] == 0.5
    assert rows[0]["peer_untuned"] == pytest.approx(0.25)
    assert "peer_untuned" not in rows[1]
    assert "| add | 4x8 | 0.50 | 0.25 |  |" in text
    assert "| sum | 4x8 | 1.00 | - | NotImplementedError: reductions with >1 input |" in text
    assert "peer: 1 cases, median 0.25" in text
