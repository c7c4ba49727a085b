"""CostModel: learns the synthetic optimum, save/load round trip, foreign pickles refused, CLIs."""

import os

import joblib
import numpy as np
import pytest

import cost_models
from cost_models.cost_model import CostModel
from cost_models.persistence import UnsafeModelFile
from cost_models_testkit import synthetic_records, write_jsonl


class Evil:
    def __reduce__(self):
        return (os.system, ("touch /tmp/cost_models_pwned",))


@pytest.fixture(scope="module")
def fitted():
    return CostModel("gbt", model_params={"n_estimators": 30}).update(synthetic_records())


def test_predict_ranks_the_optimum_high_and_round_trips(fitted, tmp_path):
    records = [r for r in synthetic_records(("row_norm",), sizes=1)]
    scores = fitted.predict([r["config"] for r in records], records[0])
    times = np.array([r["time_ms"] or np.inf for r in records])
    assert times[np.argsort(-scores)[:5]].min() <= 1.1 * times.min()  # higher = faster
    path = tmp_path / "m.joblib"
    fitted.save(path)
    again = CostModel.load(path)
    assert np.array_equal(again.predict([r["config"] for r in records], records[0]), scores)
    assert again.records_ == []  # records are not saved unless asked


def test_foreign_pickles_are_refused(tmp_path):
    path = tmp_path / "evil.joblib"
    joblib.dump({"format": "cost_models.CostModel", "version": 1, "model": Evil()}, path)
    with pytest.raises(UnsafeModelFile):
        CostModel.load(path)
    assert not os.path.exists("/tmp/cost_models_pwned")
    joblib.dump({"format": "cost_models.CostModel", "version": 1, "model": [1, 2]}, path)
    with pytest.raises(UnsafeModelFile):
        CostModel.load(path)


def test_pretrained_prior_predicts():
    prior = cost_models.prior_for({"kernel": "rms_norm", "key": {"shapes": [[8192, 4096], [4096]],
                                   "dtypes": ["bfloat16", "bfloat16"]}, "device": "NVIDIA H100 80GB HBM3"})
    configs = [{"block_sizes": [b], "reduction_loops": [None], "num_warps": 4} for b in (1, 2, 4)]
    scores = prior.predict(configs)
    assert scores.shape == (3,) and np.isfinite(scores).all()


def test_cli_help_and_tiny_train_evaluate(tmp_path, capsys):
    from cost_models import evaluate, train

    for main in (train.main, evaluate.main):
        with pytest.raises(SystemExit) as exit_info:
            main(["--help"])
        assert exit_info.value.code == 0
    data = write_jsonl(tmp_path / "r.jsonl.gz", synthetic_records())
    out = tmp_path / "m.joblib"
    assert train.main(["--data", str(data), "--model", "gbt", "--out", str(out), "--quiet",
                       "--params", '{"n_estimators": 20}']) == 0
    md = tmp_path / "t.md"
    assert evaluate.main(["--data", str(data), "--model", str(out), "--split", "kernel", "--quiet",
                          "--markdown", str(md)]) == 0
    assert "hit10@5" in md.read_text() and "tile_matmul" in md.read_text()
