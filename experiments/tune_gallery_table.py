"""The README tables from several ``tune_gallery_gpu.py`` runs: one row per kernel and size (a
later run replaces an earlier one), then per knob the ablation (over every run) where resetting it
slowed the winner most, and the probe where moving a default-valued knob slowed it most.

    python -m experiments.tune_gallery_table experiments/data/tune_gallery_h100/run{12,13,14,15,16,17,20,21}.json \
        --ablation-only run17 --only run21=chunk_sums
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

SLOWER_THAN_COMPILE = 0.95  # issue #3: no kernel slower than torch.compile by more than 5%


def load(paths: list[Path]) -> list[dict[str, Any]]:
    """Every measured row of every run, oldest run first, each tagged with its run."""
    rows = []
    for path in paths:
        for row in json.loads(path.read_text())["rows"]:
            if row.get("status") == "ok":
                rows.append({**row, "run": path.stem})
    return rows


def merge(rows: list[dict[str, Any]], skip: set[str] = frozenset(),
          only: dict[str, set[str]] | None = None) -> list[dict[str, Any]]:
    """One row per (kernel, size) in first-seen order, from the last run not in ``skip``; a run
    in ``only`` gives only the kernels listed for it."""
    merged: dict[tuple, dict[str, Any]] = {}
    for row in rows:
        if row["run"] in skip or (only and row["run"] in only and row["kernel"] not in only[row["run"]]):
            continue
        merged[(row["kernel"], tuple(row["size"]))] = row
    return list(merged.values())


def _size(row: dict[str, Any]) -> str:
    return "x".join(str(s) for s in row["size"])


def _roofline(row: dict[str, Any]) -> str:
    if "frac_cublas" in row:
        return f"{row['frac_cublas']:.2f} of cuBLAS"
    return f"{row['frac_copy_bw']:.2f} of copy BW"


def results_table(rows: list[dict[str, Any]]) -> list[str]:
    lines = ["| kernel | size (bf16) | configs ok / tried | best ms | default ms | best/default | "
             "torch.compile ms | compile/best | roofline | run |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        compiled = f"{r['compiled_ms']:.4f} | {r['vs_compiled']:.2f}" if "compiled_ms" in r else "- | -"
        flag = " **" if r.get("vs_compiled", 1.0) < SLOWER_THAN_COMPILE else ""
        lines.append(f"| {r['kernel']} | {_size(r)} | {r['ok']} / {r['tried']} | {r['best_ms']:.4f} | "
                     f"{r['default_ms']:.4f} | {r['untuned_fraction']:.2f} | {compiled}{flag} | "
                     f"{_roofline(r)} | {r['run']} |")
    return lines


def knob_table(rows: list[dict[str, Any]], kind: str = "reset") -> list[str]:
    """Per knob, the ablation of ``kind`` with the largest slowdown: the winner with the knob reset
    to the default ("reset"), or with a default-valued knob moved to a neighbouring value ("probe")."""
    best: dict[str, tuple[float, dict, dict]] = {}
    for r in rows:
        for a in r.get("ablation", []):
            if a.get("kind", "reset") != kind:
                continue
            slowdown = a.get("slowdown")
            if slowdown is not None and slowdown > best.get(a["knob"], (0.0,))[0]:
                best[a["knob"]] = (slowdown, a, r)
    other = "default" if kind == "reset" else "probed value"
    lines = [f"| knob | kernel | winner's value | {other} | slowdown |", "|---|---|---|---|---|"]
    for knob, (slowdown, a, r) in sorted(best.items(), key=lambda item: -item[1][0]):
        lines.append(f"| {knob} | {r['kernel']} {_size(r)} | {a['winner']} | {a['default']} | {slowdown:.2f} |")
    return lines


def summary(rows: list[dict[str, Any]]) -> list[str]:
    fractions = sorted(r["untuned_fraction"] for r in rows)
    slow = [f"{r['kernel']} {_size(r)} ({r['vs_compiled']:.2f})" for r in rows
            if r.get("vs_compiled", 1.0) < SLOWER_THAN_COMPILE]
    return [f"{len(rows)} cases; {sum(r['tried'] for r in rows)} configs tried, "
            f"{sum(r['wrong'] for r in rows)} wrong; best/default median {statistics.median(fractions):.2f}, "
            f"lowest {fractions[0]:.2f}; slower than torch.compile by more than 5%: {', '.join(slow) or 'none'}"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", type=Path, nargs="+", help="tune_gallery.json files, oldest first")
    parser.add_argument("--ablation-only", default="", help="comma-separated runs (file stems) used for "
                        "the knob tables only, e.g. shorter runs made to probe knobs")
    parser.add_argument("--only", action="append", default=[], metavar="RUN=KERNEL,...",
                        help="take only these kernels' rows from RUN (its other rows measured older code)")
    args = parser.parse_args(argv)
    every = load(args.runs)
    only = {run: set(kernels.split(",")) for run, kernels in (item.split("=", 1) for item in args.only)}
    rows = merge(every, set(filter(None, args.ablation_only.split(","))), only)
    print("\n".join(results_table(rows) + [""] + knob_table(every) + [""] + knob_table(every, "probe") + [""]
                    + summary(rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
