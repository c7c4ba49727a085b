"""Trial records from the H100 gallery tuning runs, so every recorded measurement trains cost models.

`experiments/data/tune_gallery_h100/run*.json` (written by `tune_gallery_gpu.py`) hold, per gallery
kernel, every correct candidate's screening time (``quick``: [ms, the knobs that differ from the
default config]), the wrong and crashing configs, counts of error messages, the final times of
the winner and the default, and the ablations (the winner with one knob set back, timed against
the winner). This script turns each into DESIGN.md trial records:

* ``quick`` entries -> ``status: ok`` with the screening time (``timing: quick``);
* runs without ``quick`` (3-9) -> the winner and the default with their final times (``timing: final``);
* ablations -> the winner with the knob reset: ``ok`` with best_ms * slowdown (``timing: ablation``),
  or a failure when the probe errored (``error`` is recorded as ``compile_error``: the run's
  error kind lumps compile errors and invalid configs, and its messages are compile errors);
* wrong configs -> ``inaccurate``, crashes -> ``runtime_error``;
* error messages -> ``compile_error`` records with ``config: null`` (the run kept no config),
  one per occurrence, so loaders can count them.

``key.shapes`` are the gallery's inputs at the run's size (``make_args`` on the meta device), else
the size itself. The other files under experiments/data are trial records already
(``autotune_engine_h200/*.trials.jsonl.gz``, ``matmul_*.jsonl``, ``demo_rms_norm_h100.jsonl``);
``shared_memory_sm90.jsonl`` holds compile-only measurements (no times) and is not converted.

    python -m experiments.records_from_h100 [--runs DIR] [--out experiments/data/records]
"""

from __future__ import annotations

import argparse
import ast
import gzip
import json
import re
import sys
from pathlib import Path
from typing import Any, Iterable

from search.records import record_line

DATA = Path(__file__).resolve().parent / "data"
_KNOB = re.compile(r", (?=[A-Za-z_][A-Za-z0-9_]*=)")
_FAILURE_OF_KIND = {"wrong": "inaccurate", "crash": "runtime_error", "error": "compile_error"}


def parse_compact(text: str, default: dict[str, Any]) -> dict[str, Any]:
    """A config from `tune_gallery_gpu._compact`'s ``k=v, k=v`` text of the knobs off `default`."""
    config = json.loads(json.dumps(default))
    if text.strip() == "(default)":
        return config
    for part in _KNOB.split(text):
        name, _, value = part.partition("=")
        try:
            config[name] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            config[name] = value  # an enum printed without quotes (pid_type=xyz)
    return config


def input_shapes(module: str, size: list[Any]) -> list[list[int]]:
    """The gallery kernel's input shapes at `size` (meta tensors), else the size's integers."""
    try:
        import torch

        from experiments.kernels import GALLERY

        args = GALLERY[module].make_args(tuple(size), torch.bfloat16, "meta", torch.Generator())
        shapes = [list(a.shape) for a in args if isinstance(a, torch.Tensor)]
        if shapes:
            return shapes
    except Exception:  # noqa: BLE001 - an old module name or size: fall back to the size
        pass
    return [[int(d) for d in size if isinstance(d, int)]]


def row_records(row: dict[str, Any], meta: dict[str, Any], run: str, shapes: list[list[int]]) -> Iterable[dict]:
    """The trial records of one case (one kernel at one size) of a run."""
    context = {"kernel": row["kernel"], "key": {"shapes": shapes, "dtypes": [row.get("dtype", "bfloat16")] * len(shapes),
                                                "size": row["size"]},
               "device": meta.get("device"), "versions": {k: meta.get(k) for k in ("torch", "triton", "cuda", "python")},
               "strategy": "tune_gallery", "seed": 0, "source": f"tune_gallery_h100/{run}.json",
               "commit": meta.get("commit")}
    default = row.get("default_config")
    trial = 0

    def record(config: Any, status: str, time_ms: float | None, timing: str, **extra: Any) -> dict[str, Any]:
        nonlocal trial
        out = dict(context, trial=trial, config=config, status=status, time_ms=time_ms,
                   times_ms=None if time_ms is None else [time_ms], compile_s=None, elapsed_s=None, timing=timing)
        out.update(extra)
        trial += 1
        return out

    if default is None:
        return
    if row.get("quick"):
        for time_ms, text in row["quick"]:
            yield record(parse_compact(text, default), "ok", float(time_ms), "quick")
    else:
        for config, ms in ((row.get("best_config"), row.get("best_ms")), (default, row.get("default_ms"))):
            if config is not None and ms:
                yield record(config, "ok", float(ms), "final")
    best = row.get("best_config")
    for item in row.get("ablation") or []:
        if best is None or item.get("knob") not in best:
            continue
        config = dict(best, **{item["knob"]: item["default"]})
        if "slowdown" in item and row.get("best_ms"):
            yield record(config, "ok", float(row["best_ms"]) * float(item["slowdown"]), "ablation")
        else:
            yield record(config, _FAILURE_OF_KIND.get(item.get("status"), "compile_error"), None, "ablation",
                         message=f"ablation probe: {item.get('status')}")
    for item in row.get("wrong_configs") or []:
        yield record(item["config"], _FAILURE_OF_KIND.get(item.get("status"), "runtime_error"), None, "quick",
                     message=item.get("message", ""))
    for message, count in (row.get("errors") or {}).items():
        for _ in range(int(count)):
            yield record(None, "compile_error", None, "quick", message=message)


def convert_run(path: Path) -> list[dict[str, Any]]:
    """All records of one ``run*.json``."""
    data = json.loads(path.read_text())
    out = []
    shapes_of: dict[tuple, list[list[int]]] = {}
    for row in data.get("rows", []):
        if "default_config" not in row:
            continue  # a case the run skipped
        key = (row.get("module"), json.dumps(row["size"]))
        if key not in shapes_of:
            shapes_of[key] = input_shapes(row.get("module", row["kernel"]), row["size"])
        out.extend(row_records(row, data.get("meta", {}), path.stem, shapes_of[key]))
    return out


def main(argv: list[str] | None = None) -> int:
    """Convert every run of `--runs` into `--out`/tune_gallery_h100_<run>.jsonl.gz."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=Path, default=DATA / "tune_gallery_h100", help="folder of run*.json")
    parser.add_argument("--out", type=Path, default=DATA / "records", help="folder for the .jsonl.gz files")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    total = 0
    for path in sorted(args.runs.glob("run*.json"), key=lambda p: int(re.sub(r"\D", "", p.stem) or 0)):
        records = convert_run(path)
        target = args.out / f"tune_gallery_h100_{path.stem}.jsonl.gz"
        with gzip.GzipFile(target, "wb", mtime=0) as f:  # mtime 0: the same input gives the same bytes
            for r in records:
                f.write(record_line(r).encode("utf-8"))
        total += len(records)
        print(f"{path.name}: {len(records)} records -> {target}", file=sys.stderr)
    print(f"{total} records", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
