"""What ``kernel(*args)`` costs and finds at the default effort, against the peer and the old loop.

Per kernel (softmax, rms_norm, layer_norm, add at bf16 16384x4096; matmul bf16 4096^3), each step
in a new process, as a user would meet it:

1. ``tune``: the first call tunes (default effort and strategy, a fresh cache); tuning seconds,
   trials, configs per second; then, in that process, the winner, the default config, the best
   config known for the case (the README's H100 table, re-timed here), eager torch,
   ``torch.compile`` and cuBLAS are timed in turn (CUDA events, L2 flushed, same inputs);
2. ``hit``: a new process, same kernel and shapes: the first call's seconds (a cache hit);
3. ``warm``: a new shape at ``autotune_effort="none"`` (the nearest cached winner) against that
   shape's own tuned best, timed in turn;
4. ``serial``: the pre-engine serial loop (``experiments.serial_loop_baseline``), trials/s;
5. ``peer``: the public Helion release at quick effort and (``--peer-full-cases``) full effort,
   capped at one generation after its initial population so it fits the call (what counts there
   is its configs per second, not its winner), in its own process, its winner timed against the
   plain torch op of that process;
6. ``full``: ours at full effort with the search capped at ``--full-budget-s`` (about as long as
   the peer's capped full search), on the peer-full cases: configs per second at equal length.

GPU run (the peer wheel from ``fetch-wheels.sh --peer`` installed to /tmp/peer)::

    python -m experiments.autotune_engine_gpu --out "$OUT" --peer-path /tmp/peer

Writes ``autotune_engine.md`` and ``autotune_engine.json`` to ``--out`` after every step.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from experiments.child_process import run_child

CASES = {"softmax": ("softmax", "softmax", (16384, 4096), (12288, 4096)),
         "rms_norm": ("rms_norm", "rms_norm", (16384, 4096), (12288, 4096)),
         "layer_norm": ("layer_norm", "layer_norm", (16384, 4096), (12288, 4096)),
         "add": ("add", "add", (16384, 4096, "row"), (12288, 4096, "row")),
         "matmul": ("matmul", "matmul", (4096, 4096, 4096), (4096, 4096, 2048))}
HERE = str(Path(__file__).resolve().parents[1])
PEER_DONE = re.compile(r"Autotuning complete in ([0-9.]+)s after searching (\d+) configs")


# --------------------------------------------------------------------------------------------
# Sides (each runs in its own process)


def _setup(case: str, size: Any) -> tuple:
    import torch

    from experiments.kernels import GALLERY
    from experiments.kernels.checking import make_inputs, stable_seed
    module_name, kernel_name, _, _ = CASES[case]
    module = GALLERY[module_name]
    args = make_inputs(module, tuple(size), torch.bfloat16, "cuda", stable_seed(module_name, tuple(size), "engine"))
    return module, module.KERNELS[kernel_name], args


def _medians(fns: list[Any], repeats: int = 30) -> list[float]:
    import importlib.util

    import torch
    # by path: in the peer's process ``helion`` is the public release, which has no such module
    spec = importlib.util.spec_from_file_location("engine_timing", Path(HERE) / "helion" / "autotune" / "timing.py")
    timing = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(timing)
    times, _ = timing.Timer(torch.device("cuda"), repeats, 3).interleaved_ms(fns)
    return [statistics.median(t) for t in times]


def _known_best(case: str) -> dict[str, Any] | None:
    """The README table's best config for the case (H100 runs), if one was recorded."""
    from experiments.peer_untuned_gpu import RUNS
    from experiments.tune_gallery_table import load, merge
    module_name, kernel_name, size, _ = CASES[case]
    for row in merge(load([Path(HERE) / r for r in RUNS if (Path(HERE) / r).exists()]), only={}):
        if row["kernel"] == kernel_name and tuple(row["size"]) == tuple(size):
            return row["best_config"]
    return None


def side_tune(case: str, out: Path) -> dict[str, Any]:
    import logging

    import torch

    import helion
    from experiments.gallery_gpu import MATMUL_MODULES, PLAIN_TORCH, _tensor_bytes, _upcast, compare_outputs, \
        measure_baselines, tolerance_for
    from experiments.kernels import reference_for
    from helion.autotune.timing import Timer
    module, base, args = _setup(case, CASES[case][2])
    log = out / f"{case}{os.environ.get('TRIALS_SUFFIX', '')}.trials.jsonl"
    logging.basicConfig(level=logging.INFO, format="%(relativeCreated)8.0f ms %(name)s: %(message)s")
    kernel = helion.kernel(base.fn, settings=base.settings, autotune_log=str(log))
    start = time.perf_counter()
    result = kernel(*args)
    torch.cuda.synchronize()
    tune_s = time.perf_counter() - start
    records = [json.loads(line) for line in log.read_text().splitlines()]
    reference = reference_for(module, CASES[case][1])
    check = compare_outputs(result, reference(*_upcast(args)), tolerance_for(module, torch.bfloat16))
    bound = kernel.bind(args)
    names, fns = ["ours", "default"], [bound.compile_config(bound.chosen_config), bound.compile_config(
        bound.config_space.default())]
    known = _known_best(case)
    if known is not None:
        try:
            fns.append(bound.compile_config(known))
            names.append("known_best")
        except Exception as e:  # noqa: BLE001 - the H100 winner may not fit this space any more
            print(f"known best config skipped: {e}", flush=True)
    calls = [(lambda f=f: f(*args)) for f in fns]
    plain = PLAIN_TORCH.get(CASES[case][1], reference)
    compiled = torch.compile(plain)
    compiled(*args)
    calls += [lambda: reference(*args), lambda: plain(*args), lambda: compiled(*args)]
    names += ["eager", "torch", "compiled"]
    row = dict(zip([f"{n}_ms" for n in names], _medians(calls)))
    row.update(case=case, tune_s=tune_s, trials=len(records), failed=sum(r["status"] != "ok" for r in records),
               configs_per_s=len(records) / tune_s, correct=check["ok"], config=dict(bound.chosen_config),
               compile_s=statistics.median([r["compile_s"] for r in records if r.get("compile_s")] or [0]))
    if module.__name__.split(".")[-1] in MATMUL_MODULES:
        row["frac_cublas"] = row["torch_ms"] / row["ours_ms"]
    else:
        copy = measure_baselines(Timer(torch.device("cuda"), 30, 3), torch.device("cuda"), with_matmul=False)
        row["copy_gbps"] = copy["copy_gbps"]
        row["frac_copy_bw"] = (_tensor_bytes(args) + _tensor_bytes([result])) / (row["ours_ms"] * 1e-3) / 1e9 \
            / copy["copy_gbps"]
    return row


def side_hit(case: str, out: Path) -> dict[str, Any]:
    started = time.perf_counter()
    import torch

    import helion  # noqa: F401
    imported = time.perf_counter()
    _, kernel, args = _setup(case, CASES[case][2])
    log = out / f"{case}.hit.jsonl"
    kernel = type(kernel)(kernel.fn, settings=kernel.settings.replace(autotune_log=str(log)))
    start = time.perf_counter()
    bound = kernel.bind(args)
    bound_s = time.perf_counter() - start
    config = bound.choose_config(args)
    chosen_s = time.perf_counter() - start
    bound.compile_config(config)(*args)
    torch.cuda.synchronize()
    loaded_s = time.perf_counter() - start
    kernel(*args)
    torch.cuda.synchronize()
    return {"case": case, "import_s": imported - started, "first_call_s": loaded_s, "bind_s": bound_s,
            "cache_lookup_s": chosen_s - bound_s, "load_and_run_s": loaded_s - chosen_s, "tuned": log.exists()}


def side_warm(case: str, out: Path) -> dict[str, Any]:
    import torch

    import helion
    _, base, args = _setup(case, CASES[case][3])
    untuned = helion.kernel(base.fn, settings=base.settings, autotune_effort="none")
    untuned(*args)
    tuned = helion.kernel(base.fn, settings=base.settings, force_autotune=True)
    tuned(*args)
    torch.cuda.synchronize()
    a, b = untuned.bind(args), tuned.bind(args)
    none_ms, tuned_ms, default_ms = _medians([lambda: a.compile_config(a.chosen_config)(*args),
                                              lambda: b.compile_config(b.chosen_config)(*args),
                                              lambda: a.compile_config(a.config_space.default())(*args)])
    return {"case": case, "size": list(CASES[case][3]), "none_ms": none_ms, "tuned_ms": tuned_ms,
            "default_ms": default_ms, "none_vs_tuned": tuned_ms / none_ms}


def side_serial(case: str, out: Path, trials: int = 12) -> dict[str, Any]:
    from experiments.serial_loop_baseline import trials_per_s
    _, kernel, args = _setup(case, CASES[case][2])
    return {"case": case, **trials_per_s(kernel, args, trials)}


def side_peer(case: str, out: Path) -> dict[str, Any]:
    import torch

    import helion
    from experiments.gallery_gpu import PLAIN_TORCH
    from experiments.kernels import reference_for
    effort = os.environ["PEER_EFFORT"]
    module, base, args = _setup(case, CASES[case][2])
    kernel = helion.kernel(base.fn, autotune_effort=effort)
    start = time.perf_counter()
    kernel(*args)
    torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    plain = PLAIN_TORCH.get(CASES[case][1], reference_for(module, CASES[case][1]))
    peer_ms, torch_ms = _medians([lambda: kernel(*args), lambda: plain(*args)])
    return {"case": case, "effort": effort, "helion": helion.__file__, "seconds": seconds, "peer_ms": peer_ms,
            "torch_ms": torch_ms}


SIDES = {"tune": side_tune, "hit": side_hit, "warm": side_warm, "serial": side_serial, "peer": side_peer}


# --------------------------------------------------------------------------------------------
# Driver


def run_side(side: str, case: str, out: Path, env: dict[str, str], timeout_s: float,
             peer_path: str | None = None) -> dict[str, Any]:
    """One side in a new process; its JSON result, or the error (and the peer's own count of
    configs, parsed from its log)."""
    result_file = Path(tempfile.mkdtemp()) / "result.json"
    path = f"{peer_path}:{env['PYTHONPATH']}" if peer_path else env["PYTHONPATH"]
    command = [sys.executable, "-P", "-m", "experiments.autotune_engine_gpu", "--side", side, "--case", case,
               "--out", str(out), "--result", str(result_file)]
    if side in ("serial", "peer"):  # compiles of its own: no binary from our tuning in Triton's cache
        env = {**env, "TRITON_CACHE_DIR": tempfile.mkdtemp(prefix="triton-")}
    child = run_child(command, {**env, "PYTHONPATH": path}, timeout_s)
    log = child.log
    row = json.loads(result_file.read_text()) if result_file.exists() else \
        {"case": case, "error": log.strip().splitlines()[-1:] if log.strip() else "timeout"}
    row["process_s"] = child.seconds
    done = PEER_DONE.findall(log)
    if done:
        row["peer_search_s"], row["peer_configs"] = float(done[-1][0]), int(done[-1][1])
    with open(out / "sides.log", "a") as f:  # one file: the device copies back only a few
        f.write(f"\n===== {case} {side} {env.get('PEER_EFFORT', '')}\n{log[-20000:]}")
    print(f"{case} {side}: {json.dumps(row)[:400]}", flush=True)
    return row


def table(rows: dict[str, dict[str, dict]], meta: dict[str, Any]) -> str:
    def f(value: Any, spec: str = ".4f") -> str:
        return "-" if value is None else format(value, spec)
    lines = [f"# kernel(*args) at the default effort on {meta['device']}", "",
             f"{meta['date']}; torch {meta['torch']}, triton {meta['triton']}; each column from a new process. "
             "Times: median of 30 CUDA-event timings, L2 flushed, called in turn within one process.", "",
             "| kernel | tuning s | trials (failed) | configs/s | ours ms | known best ms | known/ours | eager ms | "
             "torch.compile ms | roofline | cache hit: first call s | new shape, effort none / its tuned | "
             "serial loop configs/s | peer quick: s, configs/s, vs ours | peer full configs/s | "
             "ours full: s, configs/s |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for case, r in rows.items():
        t, h, w, s = r.get("tune", {}), r.get("hit", {}), r.get("warm", {}), r.get("serial", {})
        pq, pf, full = r.get("peer_quick", {}), r.get("peer_full", {}), r.get("full", {})
        roof = (f"{t['frac_cublas']:.2f} of cuBLAS" if "frac_cublas" in t else
                f"{t['frac_copy_bw']:.2f} of copy BW" if "frac_copy_bw" in t else "-")
        known = t.get("known_best_ms")
        peer_vs = (pq["peer_ms"] / pq["torch_ms"]) / (t["ours_ms"] / t["torch_ms"]) if "peer_ms" in pq and \
            "ours_ms" in t else None
        peer_rate = pq["peer_configs"] / pq["peer_search_s"] if pq.get("peer_configs") else None
        full_rate = pf["peer_configs"] / pf["peer_search_s"] if pf.get("peer_configs") else None
        lines.append(
            f"| {case} | {f(t.get('tune_s'), '.1f')} | {t.get('trials', '-')} ({t.get('failed', '-')}) | "
            f"{f(t.get('configs_per_s'), '.1f')} | {f(t.get('ours_ms'))} | {f(known)} | "
            f"{f(known / t['ours_ms'] if known and 'ours_ms' in t else None, '.3f')} | {f(t.get('eager_ms'))} | "
            f"{f(t.get('compiled_ms'))} | {roof} | {f(h.get('first_call_s'), '.2f')} | "
            f"{f(w.get('none_vs_tuned'), '.3f')} | {f(s.get('trials_per_s'), '.2f')} | "
            f"{f(pq.get('seconds'), '.1f')}, {f(peer_rate, '.1f')}, {f(peer_vs, '.2f')} | {f(full_rate, '.1f')} | "
            f"{f(full.get('tune_s'), '.1f')}, {f(full.get('configs_per_s'), '.1f')} |")
    lines += ["", "known/ours = the best config the project knew for the case (README, H100 runs) timed here, "
              "over our winner (1.00 = as fast). New shape: the nearest cached winner's time / that shape's own "
              "tuned best's time (1.00 = as fast). Peer vs ours = (peer/torch) / (ours/torch), each from its own "
              "process (> 1: the peer's winner is slower)."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("experiments/results/autotune_engine"))
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--steps", default="tune,hit,warm,serial,peer,full")
    parser.add_argument("--peer-path", default=None, help="where the public Helion release is installed")
    parser.add_argument("--warm-cases", default="softmax,rms_norm,layer_norm,matmul",
                        help="cases of the warm step (a new shape at effort none)")
    parser.add_argument("--peer-full-cases", default="rms_norm,matmul",
                        help="cases the peer also runs at full effort (2 generations)")
    parser.add_argument("--full-budget-s", type=float, default=40.0,
                        help="search seconds of the full step (ours at full effort, peer-full cases)")
    parser.add_argument("--merge", nargs="*", type=Path, help="only write the table of these results files")
    parser.add_argument("--side", choices=sorted(SIDES), help=argparse.SUPPRESS)
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.merge:
        merged: dict[str, dict[str, dict]] = {}
        for path in args.merge:
            data = json.loads(path.read_text())
            for case, steps in data["rows"].items():
                merged.setdefault(case, {}).update(steps)
        (args.out / "autotune_engine.md").write_text(table(merged, data["meta"]))
        print(table(merged, data["meta"]))
        return 0
    if args.side:
        args.result.write_text(json.dumps(SIDES[args.side](args.case, args.out), default=str))
        return 0
    import torch
    import triton
    if not torch.cuda.is_available():
        parser.error("needs a CUDA device")
    from experiments.gallery_gpu import environment
    meta = environment(torch.device("cuda"))
    cache = tempfile.mkdtemp(prefix="helion-engine-cache-")
    env = {**os.environ, "HELION_CACHE_DIR": cache, "PYTHONPATH": f"{HERE}:{os.environ.get('PYTHONPATH', '')}",
           "TRITON_CACHE_DIR": tempfile.mkdtemp(prefix="triton-")}  # tune, hit and warm share a fresh one
    steps = args.steps.split(",")
    rows: dict[str, dict[str, dict]] = {}
    for case in args.cases.split(","):
        rows[case] = {}
        for step in steps:
            if step == "warm" and case not in args.warm_cases.split(","):
                continue
            if step == "full":  # ours at full effort for the peer's full-effort time: configs/s at equal length
                if case in args.peer_full_cases.split(","):
                    full_env = {**env, "HELION_AUTOTUNE_EFFORT": "full", "TRIALS_SUFFIX": ".full",
                                "HELION_AUTOTUNE_BUDGET_S": str(args.full_budget_s), "HELION_CACHE_DIR": tempfile.mkdtemp()}
                    rows[case]["full"] = run_side("tune", case, args.out, full_env, 300)
            elif step == "peer":
                if not args.peer_path:
                    continue
                for effort in ("quick", "full") if case in args.peer_full_cases.split(",") else ("quick",):
                    peer_env = {**env, "PEER_EFFORT": effort, "HELION_CACHE_DIR": tempfile.mkdtemp(),
                                **({"HELION_AUTOTUNE_MAX_GENERATIONS": "1"} if effort == "full" else {})}
                    rows[case][f"peer_{effort}"] = run_side("peer", case, args.out, peer_env, 240, args.peer_path)
            else:
                rows[case][step] = run_side(step, case, args.out, env, 300)
            (args.out / "autotune_engine.json").write_text(json.dumps({"meta": meta, "rows": rows}, default=str,
                                                                      indent=1))
            (args.out / "autotune_engine.md").write_text(table(rows, meta))
    print(table(rows, meta), flush=True)
    del triton
    return 0


if __name__ == "__main__":
    sys.exit(main())
