"""Train a `CostModel` on trial records and save it.

    python -m cost_models.train --data experiments/data/records experiments/data/autotune_engine_h200 \\
        --model gbt --out model.joblib
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from cost_models.cost_model import CostModel
from cost_models.datasets import load_dataset
from cost_models.models import MODELS


def parser() -> argparse.ArgumentParser:
    """The command line."""
    p = argparse.ArgumentParser(prog="python -m cost_models.train", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", nargs="+", required=True, help="record files (.jsonl, .jsonl.gz) or folders")
    p.add_argument("--model", default="gbt", choices=sorted(MODELS), help="estimator (default gbt)")
    p.add_argument("--out", required=True, help="the .joblib file to write")
    p.add_argument("--target", default="log_ratio", choices=["log_ratio", "ratio", "percentile", "log_time"],
                   help="regression target, normalised per workload (default log_ratio)")
    p.add_argument("--use-resources", action="store_true",
                   help="also learn from compile resources (then predict needs them; the prior does not)")
    p.add_argument("--use-space", action="store_true", help="add the search.Space encoding where a space JSON is beside")
    p.add_argument("--no-failure-model", action="store_true", help="skip the compile-failure classifier")
    p.add_argument("--params", default="{}", help='estimator parameters as JSON, e.g. \'{"n_estimators": 300}\'')
    p.add_argument("--seed", type=int, default=0, help="random_state (default 0)")
    p.add_argument("--keep-records", action="store_true", help="store the training records in the file")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    """Load, fit, save; prints the data summary."""
    args = parser().parse_args(argv)
    started = time.perf_counter()
    dataset = load_dataset(args.data)
    print(f"data: {json.dumps(dataset.summary())}", file=sys.stderr)
    model = CostModel(args.model, target=args.target, use_resources=args.use_resources, use_space=args.use_space,
                      failure_model=not args.no_failure_model, random_state=args.seed, progress=not args.quiet,
                      model_params=json.loads(args.params))
    model.fit_dataset(dataset)
    model.progress = False  # a loaded model predicts quietly
    model.save(args.out, keep_records=args.keep_records)
    print(f"wrote {args.out} ({args.model}, {model.encoder_.n_features} features, "
          f"{time.perf_counter() - started:.1f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
