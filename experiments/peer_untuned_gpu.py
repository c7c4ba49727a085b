"""Untuned speed of the public Helion release and of ours, on the same gallery kernels, inputs and card.

Issue #3 asks the default config (no tuning) to beat the public release's 26-89% of tuned speed.
This script times, per gallery case, our default config and our tuned best (the README table's
``best_config``, from ``--runs``) in this process, then the public release's default config in a
subprocess whose ``PYTHONPATH`` puts the release first (``import helion`` finds it there; the
gallery kernels are written in the shared public API). Each process also times the plain torch op
on the same inputs, so the two processes are compared through that same-process baseline:

    peer default / our best = (peer_ms / peer_torch_ms) / (best_ms / torch_ms)

GPU run (one H100; the peer wheel from ``fetch-wheels.sh --peer`` installed to /tmp/peer)::

    python -m experiments.peer_untuned_gpu --out "$OUT" --peer-path /tmp/peer

Writes ``peer_untuned.md`` and ``peer_untuned.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch

from experiments.gallery_gpu import PLAIN_TORCH, Timer, _upcast, compare_outputs, tolerance_for
from experiments.kernels import GALLERY, reference_for
from experiments.kernels.checking import clone_inputs, make_inputs, stable_seed

RUNS = [f"experiments/data/tune_gallery_h100/run{n}.json" for n in (12, 13, 14, 15, 16, 20, 21, 22, 23, 24, 25, 26, 27, 29)]


def _inputs(case: dict[str, Any]) -> tuple:
    module = GALLERY[case["module"]]
    return make_inputs(module, tuple(case["size"]), torch.bfloat16, "cuda",
                       stable_seed(case["module"], tuple(case["size"]), "tune"))


def _check(case: dict[str, Any], fn: Any, args: tuple) -> bool:
    module = GALLERY[case["module"]]
    expected = reference_for(module, case["kernel"])(*_upcast(clone_inputs(args)))
    return compare_outputs(fn(*clone_inputs(args)), expected, tolerance_for(module, torch.bfloat16))["ok"]


def time_side(cases: list[dict[str, Any]], side: str, timer: Timer) -> list[dict[str, Any]]:
    """Per case: the plain torch op and, for ``ours``, the default and best configs; for ``peer``,
    the kernel as the installed ``helion`` compiles it by default. Failures are recorded."""
    out = []
    for case in cases:
        row: dict[str, Any] = {"kernel": case["kernel"], "size": case["size"]}
        try:
            args = _inputs(case)
            kernel = GALLERY[case["module"]].KERNELS[case["kernel"]]
            plain = PLAIN_TORCH.get(case["kernel"]) or reference_for(GALLERY[case["module"]], case["kernel"])
            if side == "ours":
                bound = kernel.bind(args)
                fns = {"default": bound.compile_config(bound.config_space.default()),
                       "best": bound.compile_config(case["best_config"])}
            else:
                fns = {"default": kernel}
            for name, fn in fns.items():
                row[f"{name}_ok"] = _check(case, fn, args)
            names = list(fns)
            times, _ = timer.interleaved_ms([(lambda f=fns[n]: f(*args)) for n in names] + [lambda: plain(*args)])
            for name, t in zip(names + ["torch"], times):
                row[f"{name}_ms"] = statistics.median(t)
        except Exception as e:  # noqa: BLE001 - reported per case
            row["error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"
        out.append(row)
        print(f"{side} {case['kernel']} {case['size']}: {row}", flush=True)
    return out


def report(ours: list[dict], peer: list[dict]) -> tuple[str, list[dict]]:
    rows = []
    lines = ["| kernel | size | ours: best/default | peer default / our best (via torch) | peer note |",
             "|---|---|---|---|---|"]
    for o, p in zip(ours, peer):
        row = {"kernel": o["kernel"], "size": o["size"], "ours": o, "peer": p}
        if "best_ms" in o:
            row["ours_untuned"] = o["best_ms"] / o["default_ms"]
        if "default_ms" in p and "best_ms" in o:
            row["peer_untuned"] = (o["best_ms"] / o["torch_ms"]) / (p["default_ms"] / p["torch_ms"])
        note = p.get("error", "" if p.get("default_ok", False) else "wrong answer")
        size = "x".join(map(str, o["size"]))
        ours_text = f"{row['ours_untuned']:.2f}" if "ours_untuned" in row else o.get("error", "-")
        peer_text = f"{row['peer_untuned']:.2f}" if "peer_untuned" in row else "-"
        lines.append(f"| {o['kernel']} | {size} | {ours_text} | {peer_text} | {note} |")
        rows.append(row)
    ours_f = sorted(r["ours_untuned"] for r in rows if "ours_untuned" in r)
    peer_f = sorted(r["peer_untuned"] for r in rows if "peer_untuned" in r and not r["peer"].get("error"))
    for name, f in (("ours", ours_f), ("peer", peer_f)):
        if f:
            lines.append(f"\n{name}: {len(f)} cases, median {statistics.median(f):.2f}, range {f[0]:.2f}-{f[-1]:.2f}")
    return "\n".join(lines) + "\n", rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("."))
    parser.add_argument("--peer-path", default="/tmp/peer")
    parser.add_argument("--runs", nargs="*", default=RUNS, help="tune_gallery.json files with the best configs")
    parser.add_argument("--side", choices=["both", "peer"], default="both")
    parser.add_argument("--expect", default=None, help="(peer side) the folder helion must come from")
    parser.add_argument("--cases", type=Path, help="(peer side) the cases as JSON")
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args(argv)
    timer = Timer(torch.device("cuda"), args.repeats, 3)
    if args.side == "peer":
        import helion
        print(f"peer helion: {helion.__file__}", flush=True)
        if args.expect and not str(Path(helion.__file__).resolve()).startswith(str(Path(args.expect).resolve())):
            raise SystemExit(f"helion was imported from {helion.__file__}, not from {args.expect}")
        cases = json.loads(args.cases.read_text())
        (args.out / "peer_side.json").write_text(json.dumps(time_side(cases, "peer", timer)))
        return 0
    from experiments.tune_gallery_table import load, merge
    rows = merge(load([Path(r) for r in args.runs]), only={"run21": {"chunk_sums"}})
    cases = [{"module": r["module"], "kernel": r["kernel"], "size": r["size"], "best_config": r["best_config"]}
             for r in rows]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "cases.json").write_text(json.dumps(cases))
    here = str(Path(__file__).resolve().parents[1])  # for experiments.*; after the release
    env = {**os.environ, "PYTHONPATH": f"{args.peer_path}:{here}:{os.environ.get('PYTHONPATH', '')}",
           "HELION_USE_DEFAULT_CONFIG": "1", "HELION_AUTOTUNE_EFFORT": "none"}
    # -P: no current folder first on sys.path, where our own helion package would shadow the release
    peer_proc = subprocess.run([sys.executable, "-P", "-m", "experiments.peer_untuned_gpu", "--side", "peer",
                                "--cases", str(args.out / "cases.json"), "--out", str(args.out),
                                "--repeats", str(args.repeats), "--expect", args.peer_path], env=env, check=False)
    peer_file = args.out / "peer_side.json"
    peer = json.loads(peer_file.read_text()) if peer_file.exists() else \
        [{"error": f"peer process exited {peer_proc.returncode}"} for _ in cases]
    ours = time_side(cases, "ours", timer)
    text, table = report(ours, peer)
    header = (f"# Untuned speed: public Helion release vs ours, {torch.cuda.get_device_name()}, torch "
              f"{torch.__version__}, triton {__import__('triton').__version__}\n\n")
    (args.out / "peer_untuned.md").write_text(header + text)
    (args.out / "peer_untuned.json").write_text(json.dumps(table, default=str))
    print(header + text, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
