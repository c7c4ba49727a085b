"""experiments/records_from_h100.py: compact config text parsed back, a run row turned into records."""

from experiments import records_from_h100 as conv

DEFAULT = {"block_sizes": [1, 4096], "flatten_loops": [False], "pid_type": "flat", "num_warps": 4}


def test_parse_compact():
    text = "block_sizes=[8, 2048], flatten_loops=[True], pid_type=xyz, num_warps=32"
    assert conv.parse_compact(text, DEFAULT) == {"block_sizes": [8, 2048], "flatten_loops": [True],
                                                 "pid_type": "xyz", "num_warps": 32}
    assert conv.parse_compact("(default)", DEFAULT) == DEFAULT


def test_row_records_keep_failures():
    row = {"kernel": "add_2d", "size": [64, 32], "dtype": "bfloat16", "default_config": DEFAULT,
           "best_config": dict(DEFAULT, num_warps=8), "best_ms": 0.5,
           "quick": [[0.4, "num_warps=8"], [0.6, "(default)"]],
           "ablation": [{"knob": "num_warps", "default": 4, "slowdown": 1.2}],
           "wrong_configs": [{"config": DEFAULT, "status": "wrong", "message": "bad"}], "errors": {"OutOfResources": 2}}
    records = list(conv.row_records(row, {"device": "H100"}, "run1", [[64, 32]]))
    statuses = [r["status"] for r in records]
    assert statuses == ["ok", "ok", "ok", "inaccurate", "compile_error", "compile_error"]
    assert records[0]["config"]["num_warps"] == 8 and records[2]["time_ms"] == 0.5 * 1.2
    assert records[-1]["config"] is None and records[0]["key"]["shapes"] == [[64, 32]]
