"""Loading trial records: plain and gzipped files, folders, failures kept, per-workload targets."""

import json
import math
from pathlib import Path

import numpy as np
import pytest

from cost_models.datasets import build_dataset, load_dataset, load_records, status_of, workload_id
from cost_models_testkit import synthetic_records, write_jsonl

ROOT = Path(__file__).resolve().parents[2]
REAL_FILE = ROOT / "experiments/data/autotune_engine_h200/layer_norm.trials.jsonl.gz"


def test_plain_and_gzipped_files_load_the_same(tmp_path):
    records = synthetic_records(("vec_add",), sizes=1)
    plain = write_jsonl(tmp_path / "a.jsonl", records)
    packed = write_jsonl(tmp_path / "b.jsonl.gz", records)
    a, b = load_records(plain), load_records(packed)
    assert len(a) == len(b) == len(records)
    assert [r["config"] for r in a] == [r["config"] for r in b]
    assert len(load_records(tmp_path)) == 2 * len(records)  # a folder reads both


def test_failures_are_kept_and_counted(tmp_path):
    records = synthetic_records(("vec_add",), sizes=1)
    records.append({"kernel": "vec_add", "status": "compile_error", "config": None, "message": "no config kept"})
    records.append(dict(records[0], status="ok", time_ms=None))  # ok without a time
    ds = build_dataset(records)
    counts = ds.status_counts
    failed = sum(1 for r in records if r["status"] == "compile_error" and r.get("config"))
    assert counts["compile_error"] == failed > 0
    assert counts["no_time"] == 1
    assert ds.no_config["compile_error"] == 1
    workload = ds.workloads[0]
    assert len(workload.records) == len(records) - 1  # every record with a config is kept
    assert np.isnan(workload.targets()[np.array(workload.statuses) != "ok"]).all()


def test_targets_are_normalised_per_workload():
    ds = build_dataset(synthetic_records(("row_norm",), sizes=2))
    assert len(ds) == 2  # two shapes, two workloads
    for w in ds:
        ratio = w.targets("ratio")[w.ok]
        assert ratio.max() == pytest.approx(1.0) and (ratio > 0).all() and (ratio <= 1).all()
        assert w.targets("log_ratio")[w.ok].max() == pytest.approx(0.0)
        assert np.allclose(np.exp(w.targets("log_time")[w.ok]), w.times[w.ok])
        pct = w.targets("percentile")[w.ok]
        assert pct.max() == 1.0 and pct.min() == 0.0
        top = w.top_fraction(0.1)
        assert top.sum() == math.ceil(0.1 * w.ok.sum())
        assert w.times[top].max() <= np.nanmin(w.times[w.ok & ~top])


def test_workloads_split_by_key_and_device():
    r = synthetic_records(("vec_add",), sizes=1)[0]
    other_device = dict(r, device="NVIDIA H200")
    other_shape = dict(r, key={"shapes": [[1, 2]], "dtypes": ["float32"]})
    assert len({workload_id(x) for x in (r, other_device, other_shape)}) == 3


def test_bad_lines_warn_and_space_json_is_attached(tmp_path):
    path = tmp_path / "sweep.jsonl"
    record = synthetic_records(("vec_add",), sizes=1)[0]
    path.write_text(json.dumps(record) + "\nnot json\n[1, 2]\n")
    (tmp_path / "sweep.space.json").write_text(json.dumps({"params": {}}))
    with pytest.warns(UserWarning):
        records = load_records(path)
    assert len(records) == 1 and records[0]["_space"] == {"params": {}}
    with pytest.raises(FileNotFoundError):
        load_records(tmp_path / "missing.jsonl")


def test_a_real_engine_file():
    ds = load_dataset(REAL_FILE)
    assert len(ds) == 1
    w = ds.workloads[0]
    assert w.kernel == "layer_norm" and len(w.records) == 56
    assert w.best == pytest.approx(min(r["time_ms"] for r in w.records if status_of(r) == "ok"))
