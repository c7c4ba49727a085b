"""Feature encoding: flattened knobs, log2, one-hot, missing values, workload and derived columns."""

import math

import numpy as np
import pytest

from cost_models.datasets import build_dataset
from cost_models.features import (MISSING, FeatureEncoder, derived_vector, family_of, flatten_config, problem,
                                  training_table)
from cost_models_testkit import synthetic_records


def row_of(encoder, config, fields, resources=None):
    return dict(zip(encoder.feature_names_, encoder.transform([config], fields, resources)[0]))


def test_flatten_lists_by_position():
    flat = flatten_config({"block_sizes": [16, 32], "loop_orders": [[1, 0]], "pid_type": "flat"})
    assert flat == {"block_sizes[0]": 16, "block_sizes[1]": 32, "loop_orders[0][0]": 1, "loop_orders[0][1]": 0,
                    "pid_type": "flat"}


def test_knob_kinds_and_missing_values():
    records = [{"config": {"block_sizes": [16, 64], "num_stages": 3, "pid_type": "flat", "maxnreg": None}},
               {"config": {"block_sizes": [32, 128], "num_stages": 2, "pid_type": "persistent", "maxnreg": 64}}]
    enc = FeatureEncoder().fit(records)
    fields = {"kernel": "k", "key": {"shapes": [[1024, 1024]], "dtypes": ["float32"]}}
    row = row_of(enc, {"block_sizes": [32, 64], "num_stages": 3, "pid_type": "persistent", "maxnreg": None}, fields)
    assert row["block_sizes[0]"] == 5.0 and row["block_sizes[1]"] == 6.0  # log2 of powers of two
    assert row["num_stages"] == 3.0  # 3 is not a power of two: kept as is
    assert row["pid_type=persistent"] == 1.0 and row["pid_type=flat"] == 0.0
    assert row["maxnreg=None"] == 1.0 and row["maxnreg"] == MISSING
    short = row_of(enc, {"block_sizes": [32], "unknown_knob": 7}, fields)  # absent knob, unknown knob ignored
    assert short["block_sizes[1]"] == MISSING and "unknown_knob" not in enc.feature_names_
    assert enc.transform([{}], fields).shape == (1, enc.n_features)


def test_workload_and_derived_columns():
    fields = {"kernel": "matmul", "key": {"shapes": [[4096, 512], [512, 2048]], "dtypes": ["bfloat16"] * 2}}
    prob = problem(fields)
    assert prob["matmul_like"] and prob["dims"] == [4096, 2048] and prob["dtype_bytes"] == 2
    enc = FeatureEncoder().fit([{"config": {"block_sizes": [128, 64, 32], "num_warps": 8}}])
    row = row_of(enc, {"block_sizes": [128, 64, 32], "num_warps": 8}, fields)
    programs = (4096 // 128) * (2048 // 64)
    assert row["log_programs"] == pytest.approx(math.log2(1 + programs))
    assert row["programs_per_sm"] == pytest.approx(programs / 132)
    assert row["log_waves"] == pytest.approx(math.log2(1 + math.ceil(programs / 132)))
    assert row["log_elements_per_program"] == pytest.approx(math.log2(1 + 128 * 64 * 32))
    assert row["family=matmul"] == 1.0 and row["size0"] == 12.0
    assert row["log_intensity"] == pytest.approx(math.log2(1 + 2 * 4096 * 2048 * 512 / prob["bytes"]))
    # a row reduction: the whole row per program unless a reduction loop is set
    norm = problem({"kernel": "rms_norm", "key": {"shapes": [[1000, 4096], [4096]], "dtypes": ["float32"]}})
    whole = derived_vector({"block_sizes": [2], "reduction_loops": [None]}, norm)
    looped = derived_vector({"block_sizes": [2], "reduction_loops": [256]}, norm)
    assert whole[0] == pytest.approx(math.log2(1 + 2 * 4096)) and looped[0] == pytest.approx(math.log2(1 + 512))
    assert whole[1] == pytest.approx(math.log2(1 + 500))  # ceil(1000 / 2) programs


def test_family_guess():
    assert [family_of(k) for k in ("bmm_add", "softmax_two_pass", "layer_norm", "sum_first", "add_2d", "mystery")] == [
        "matmul", "softmax", "norm", "reduction", "elementwise", "other"]


def test_resources_and_space_columns():
    import search

    space = search.Space({"block": search.PowerOfTwo(16, 128, default=32), "mode": search.Enum(["a", "b"])})
    records = [{"kernel": "k", "config": {"block": 64, "mode": "b"}, "_space": space.to_json(),
                "resources": {"registers": 63, "spills": 0, "shared_bytes": 1024}}]
    enc = FeatureEncoder(use_resources=True, use_space=True).fit(records)
    row = row_of(enc, records[0]["config"], records[0], [records[0]["resources"]])
    assert row["log_registers"] == pytest.approx(6.0) and row["log_spills"] == 0.0
    space_cols = [v for n, v in row.items() if n.startswith(f"space:{space.fingerprint()}:")]
    assert np.allclose(space_cols, space.encode(records[0]["config"]))
    unrelated = enc.transform([{"block": 64}], {"kernel": "k"}, [None])[0]
    assert unrelated[enc.feature_names_.index("log_registers")] == MISSING


def test_training_table_labels():
    ds = build_dataset(synthetic_records(("vec_add", "row_norm"), sizes=1))
    enc = FeatureEncoder().fit(ds.records())
    table = training_table(ds, enc)
    assert table["X"].shape == (len(ds.records()), enc.n_features)
    assert set(np.unique(table["group"])) == {0, 1}
    assert table["failed"].sum() == sum(s == "compile_error" for w in ds for s in w.statuses) > 0
    assert np.isnan(table["y"][table["failed"]]).all() and not table["top10"][table["failed"]].any()
