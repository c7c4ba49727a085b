"""Evaluate a cost model on trial records: Kendall tau, top-1/top-5 regret, recall of the top 10%.

    python -m cost_models.evaluate --data experiments/data/records --model model.joblib           # as trained
    python -m cost_models.evaluate --data experiments/data/records --model model.joblib --split kernel
    python -m cost_models.evaluate --data experiments/data/records --model random --split kernel   # a baseline

`--model` is a file written by `cost_models.train` (or `pretrained` for the shipped model) or a
model name (`gbt`, `random`, ...: a fresh model with default settings). With `--split` other than
`none`, a fresh model with the file's settings is trained per fold on the other workloads.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from cost_models.cost_model import CostModel
from cost_models.datasets import load_dataset
from cost_models.evaluation import SPLITS, cross_validate
from cost_models.metrics import METRIC_NAMES, markdown_table, rank_plot
from cost_models.models import MODELS

ROW_COLUMNS = ["fold", "kernel", "shapes", "device", "configs", *METRIC_NAMES]


def parser() -> argparse.ArgumentParser:
    """The command line."""
    p = argparse.ArgumentParser(prog="python -m cost_models.evaluate", description=__doc__.split("\n\n")[0],
                                epilog=__doc__.split("\n\n", 2)[2], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", nargs="+", required=True, help="record files (.jsonl, .jsonl.gz) or folders")
    p.add_argument("--model", required=True, help="a .joblib file, 'pretrained', or a model name")
    p.add_argument("--split", default="none", choices=SPLITS, help="held-out split (default none: score as is)")
    p.add_argument("--markdown", help="write the per-workload and summary tables here")
    p.add_argument("--json", help="write the rows and summary as JSON here")
    p.add_argument("--plot", help="PNG of predicted vs measured rank (needs matplotlib; skipped without)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def resolve_model(spec: str) -> CostModel:
    """A `CostModel` from a file, ``pretrained``, or a model name (unfitted)."""
    if spec == "pretrained":
        from cost_models import load_pretrained

        return load_pretrained()
    if os.path.exists(spec):
        return CostModel.load(spec)
    if spec in MODELS:
        return CostModel(spec)
    raise SystemExit(f"--model {spec!r}: no such file and not one of {', '.join(MODELS)}")


def report(rows: list[dict], summary: dict, title: str) -> str:
    """The markdown report: summary first, then one row per workload."""
    head = {"model": title, **summary}
    return (markdown_table([head], ["model", "workloads", *METRIC_NAMES]) + "\n"
            + markdown_table(rows, ROW_COLUMNS))


def main(argv: list[str] | None = None) -> int:
    """Evaluate and print the tables."""
    args = parser().parse_args(argv)
    model = resolve_model(args.model)
    if args.split == "none" and model.estimator_ is None:
        raise SystemExit("--split none scores a fitted model; give a file, or a --split to train per fold")
    dataset = load_dataset(args.data)
    rows, summary, points = cross_validate(dataset, model, args.split, progress=not args.quiet)
    text = report(rows, summary, f"{os.path.basename(args.model)} ({model.model}, split {args.split})")
    print(text)
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as f:
            f.write(text)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"summary": summary, "rows": rows}, f, indent=1, default=str)
    if args.plot:
        if rank_plot(points, args.plot, f"{model.model}, split {args.split}"):
            print(f"wrote {args.plot}", file=sys.stderr)
        else:
            print("matplotlib is not installed: no plot written", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
