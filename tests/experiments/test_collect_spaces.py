"""experiments.collect_spaces_gpu --smoke: each workload's sample is replayable trial records."""
import gzip
import json

import search
from experiments import collect_spaces_gpu


def test_smoke_writes_replayable_samples(tmp_path):
    assert collect_spaces_gpu.main(["--smoke", "--trials", "3", "--out", str(tmp_path), "--workloads",
                                    "add_smoke"]) == 0
    with gzip.open(tmp_path / "add_smoke.trials.jsonl.gz", "rt") as f:
        records = [json.loads(line) for line in f]
    assert len(records) == 3 and {r["strategy"] for r in records} == {"random"}
    assert all(r["kernel_info"]["loads"] == 2 and r["key"]["shapes"] == [[32, 48], [48]] for r in records)
    space = search.Space.from_json(json.loads((tmp_path / "add_smoke.space.json").read_text()))
    replay = search.ReplayObjective(records, space=space)
    answer = replay([records[0]["config"]])[0]
    assert getattr(answer, "time_ms", None) == records[0]["time_ms"]
    row = json.loads((tmp_path / "collect.json").read_text())["rows"][0]
    assert row["configs"] == 3 and row["ok"] + sum(row["failures"].values()) == 3
