"""The kernel suite: gallery kernels against eager torch, torch.compile, hand-written Triton, the
public Helion release and our tuner, per strategy, on one GPU.

Per case (a gallery kernel at its module's first ``GPU_SIZES`` entry, bf16), each column from its
own process (the eager op, the copy bandwidth and, for matmuls, cuBLAS re-timed in every one):

- ``compile`` / ``compile_max``: ``torch.compile`` of the eager op (the plain torch op on the bf16
  inputs), mode default and ``max-autotune-no-cudagraphs``, with compile seconds (after a
  warm-up compile, fresh Inductor and Triton caches); one process per mode for all cases;
- ``triton``: the hand-written kernel of ``experiments.triton_baselines`` (best of a few configs);
- ``ours``: ``kernel(*args)`` at the default effort, one process per case and ``--strategies``
  entry, with an empty cache; tuning seconds and trials;
- ``peer_quick`` / ``peer_full``: the public Helion release (``--peer-path``), the same call at
  quick effort, and at full effort capped at ``--peer-full-generations`` generations on
  ``--peer-full-kernels`` only; one process per case, an empty cache.

Every side checks its output against the fp32 reference before timing. Writes ``suite.json``,
``suite.md`` (tables, geomeans of ours over each side) and ``suite.png`` (matplotlib, if
installed) to ``--out`` after every step.

Time: the estimate per case and step is printed first. The default set (add, softmax, rms_norm,
layer_norm, matmul, two strategies) takes about 11 minutes on one H200, so it runs in 2 device
calls: the first stops before a step that would pass ``--max-seconds`` (520); the same command
again with ``--resume`` pointing at the first call's ``suite.json`` runs what is left (results
merged; a case cut short by the budget is run again). GPU call (after the prelude and the peer
install of ``experiments/autotune_engine_gpu.py``)::

    python -m experiments.suite --out "$OUT" --peer-path /tmp/peer [--resume experiments/results/suite/suite.json]

On CPU, ``--smoke`` runs the pipeline on tiny fp32 shapes through Triton's interpreter (torch.compile
skipped unless ``--smoke-compile``; our tuner capped at a few trials): ``suite_smoke.*``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from experiments.autotune_engine_gpu import PEER_DONE
from experiments.child_process import run_child
from experiments.kernels import GALLERY, GALLERY_NAMES

HERE = str(Path(__file__).resolve().parents[1])
STEPS = ("compile", "compile_max", "triton", "ours", "peer_quick", "peer_full")
BATCHED = ("compile", "compile_max", "triton")  # one process for all cases; the others: one per case
DEFAULT_KERNELS = ("add", "softmax", "rms_norm", "layer_norm", "matmul")
# Estimated H200 seconds per case (run 9 of autotune_engine_gpu: ours 13.5-16.1 s tuning plus ~5 s of
# process start, the peer's quick effort 25-34 s a process, its full effort capped at one generation
# 59-124 s); matmuls: Inductor's max-autotune benchmarks its GEMM templates.
ESTIMATE_S = {"compile": 6, "compile_max": 15, "triton": 3, "ours": 25, "peer_quick": 32, "peer_full": 110}
ESTIMATE_MATMUL_S = {"compile_max": 50, "triton": 6, "peer_full": 60}
PROCESS_S = 15  # a batched side's process start: imports, copy bandwidth, the warm-up compile
CAP_S = {"ours": 240, "peer_quick": 240, "peer_full": 420}  # one per-case process at most
SMOKE_TRIALS = 3  # configs our tuner (and a stand-in peer) tries per case in --smoke


@dataclass
class Job:
    """One child process: a side on some cases, stored under ``key`` (e.g. ``ours:tpe``)."""

    step: str
    key: str
    cases: list[dict[str, Any]]
    env: dict[str, str] = field(default_factory=dict)
    estimate_s: float = 0.0


# ------------------------------------------------------------------------------------------------
# Cases and plan


def _size_name(size: Any) -> str:
    return "x".join(str(p) for p in size)


def select_cases(names: list[str] | None, smoke: bool) -> list[dict[str, Any]]:
    """Cases for ``names`` (kernel names; a module name that is no kernel's: all its kernels;
    ``default``, ``gallery`` = each module's first kernel, ``all``), in gallery order."""
    names = list(DEFAULT_KERNELS) if not names else names
    wanted: set[tuple[str, str]] = set()
    kernels_of = {m: list(GALLERY[m].KERNELS) for m in GALLERY_NAMES}
    all_kernels = {k for ks in kernels_of.values() for k in ks}
    for name in names:
        if name == "default":
            wanted |= {(m, k) for m, ks in kernels_of.items() for k in ks if k in DEFAULT_KERNELS}
        elif name == "gallery":
            wanted |= {(m, ks[0]) for m, ks in kernels_of.items()}
        elif name == "all":
            wanted |= {(m, k) for m, ks in kernels_of.items() for k in ks}
        elif name in all_kernels:
            wanted |= {(m, name) for m, ks in kernels_of.items() if name in ks}
        elif name in kernels_of:
            wanted |= {(name, k) for k in kernels_of[name]}
        else:
            raise ValueError(f"unknown kernel {name!r}; known: default, gallery, all, "
                             + ", ".join(sorted(all_kernels | set(kernels_of))))
    cases = []
    for module_name in GALLERY_NAMES:
        module = GALLERY[module_name]
        size = tuple(module.SIZES[0] if smoke else module.GPU_SIZES[0])
        for kernel_name in module.KERNELS:
            if (module_name, kernel_name) in wanted:
                cases.append({"id": f"{kernel_name}@{_size_name(size)}", "module": module_name,
                              "kernel": kernel_name, "size": list(size)})
    return cases


def estimate(step: str, case: dict[str, Any]) -> float:
    from experiments.gallery_gpu import MATMUL_MODULES
    if case["module"] in MATMUL_MODULES and step in ESTIMATE_MATMUL_S:
        return ESTIMATE_MATMUL_S[step]
    return ESTIMATE_S[step]


def plan(cases: list[dict[str, Any]], steps: list[str], strategies: list[str], peer_full: set[str],
         done: set[tuple[str, str]]) -> list[Job]:
    """The jobs still to run, step by step (so a run cut short leaves whole columns)."""
    from experiments.triton_baselines import BASELINES
    jobs: list[Job] = []
    for step in steps:
        keys = [f"ours:{s}" for s in strategies] if step == "ours" else \
            [step.replace("_", ":", 1)] if step.startswith("peer_") else [step]
        for key in keys:
            todo = [c for c in cases if (c["id"], key) not in done]
            if step == "triton":
                todo = [c for c in todo if c["module"] in BASELINES]
            if step == "peer_full":
                todo = [c for c in todo if c["kernel"] in peer_full or c["module"] in peer_full]
            if not todo:
                continue
            if step in BATCHED:
                jobs.append(Job(step, key, todo, estimate_s=PROCESS_S + sum(estimate(step, c) for c in todo)))
            else:
                jobs += [Job(step, key, [c], estimate_s=estimate(step, c)) for c in todo]
    return jobs


def format_estimate(jobs: list[Job]) -> str:
    per_case: dict[str, float] = {}
    for job in jobs:
        for case in job.cases:
            per_case[case["id"]] = per_case.get(case["id"], 0.0) + estimate(job.step, case)
    total = sum(job.estimate_s for job in jobs)
    lines = [f"estimate on one H200: {c} about {s:.0f} s" for c, s in per_case.items()]
    lines.append(f"estimate: {len(jobs)} processes, about {total:.0f} s ({total / 60:.1f} min) in all")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------
# Results


def load_state(paths: list[Path]) -> dict[str, Any]:
    """Results files merged in order (a later file's step result replaces an earlier one's)."""
    state: dict[str, Any] = {"calls": [], "rows": {}}
    for path in paths:
        data = json.loads(path.read_text())
        state["calls"] += data.get("calls", [])
        for case, steps in data.get("rows", {}).items():
            state["rows"].setdefault(case, {}).update(steps)
    return state


def done_steps(state: dict[str, Any]) -> set[tuple[str, str]]:
    """(case, step key) pairs with a result that counts (not cut short by the time budget)."""
    return {(case, key) for case, steps in state["rows"].items() for key, r in steps.items()
            if r and r.get("status") != "cut"}


def write_outputs(state: dict[str, Any], out: Path, stem: str, plot: bool = False) -> str:
    from experiments.gallery_gpu import _json_safe
    from experiments.suite_report import format_report, write_plot
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(_json_safe(state), indent=1) + "\n")
    (out / f"{stem}.md").write_text(format_report(state))
    return write_plot(state, out / f"{stem}.png") if plot else ""


# ------------------------------------------------------------------------------------------------
# Running


def child_env(job: Job, args: argparse.Namespace) -> dict[str, str]:
    """A fresh cache for every process (ours, peer, Triton, Inductor); seeds; the side's settings."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in [HERE, os.environ.get("PYTHONPATH", "")] if p),
           "PYTHONUNBUFFERED": "1", "HELION_CACHE_DIR": tempfile.mkdtemp(prefix="suite-helion-"),
           "TRITON_CACHE_DIR": tempfile.mkdtemp(prefix="suite-triton-"),
           "TORCHINDUCTOR_CACHE_DIR": tempfile.mkdtemp(prefix="suite-inductor-"),
           "HELION_AUTOTUNE_SEED": str(args.seed), "HELION_AUTOTUNE_RANDOM_SEED": str(args.seed)}
    if args.smoke:
        env.update(SUITE_SMOKE="1", TRITON_INTERPRET="1", HELION_AUTOTUNE_MAX_TRIALS=str(SMOKE_TRIALS))
    if job.step == "ours":
        env["SUITE_STRATEGY"] = job.key.split(":", 1)[1]
    elif job.step.startswith("peer_"):
        env.update(PYTHONPATH=f"{args.peer_path}{os.pathsep}{env['PYTHONPATH']}", SUITE_EXPECT_HELION=args.peer_path,
                   SUITE_EFFORT=job.step.split("_", 1)[1])
        if job.step == "peer_full":
            env["HELION_AUTOTUNE_MAX_GENERATIONS"] = str(args.peer_full_generations)
    return {**env, **job.env}


def run_job(job: Job, args: argparse.Namespace, timeout_s: float, cut_by_budget: bool) -> dict[str, dict]:
    """The job's child process; its results per case (an unfinished case: ``cut`` when the budget
    stopped it, else an error with the log's last line)."""
    work = Path(tempfile.mkdtemp(prefix="suite-job-"))
    (work / "cases.json").write_text(json.dumps(job.cases))
    side = "tuned" if job.step in ("ours", "peer_quick", "peer_full") else job.step
    command = [sys.executable, "-P", "-m", "experiments.suite", "--side", side, "--cases-file",
               str(work / "cases.json"), "--result", str(work / "result.json"), "--out", str(args.out),
               "--seed", str(args.seed), "--repeats", str(args.repeats), "--warmup", str(args.warmup)]
    child = run_child(command, child_env(job, args), timeout_s)
    results = json.loads((work / "result.json").read_text()) if (work / "result.json").exists() else {}
    with open(args.out / "sides.log", "a") as f:
        f.write(f"\n===== {job.key} {', '.join(c['id'] for c in job.cases)} ({child.seconds:.1f} s)\n"
                f"{child.log[-20000:]}")
    last = (child.log.strip().splitlines() or [""])[-1][:300]
    for case in job.cases:
        if case["id"] in results:
            continue
        if child.timed_out:
            results[case["id"]] = {"status": "cut" if cut_by_budget else "error",
                                   "error": f"killed after {child.seconds:.0f} s ({'time budget' if cut_by_budget else 'time limit'})"}
        else:
            results[case["id"]] = {"status": "error", "error": f"process exited {child.returncode}: {last}"}
    if job.step.startswith("peer_") and len(job.cases) == 1:
        found = PEER_DONE.findall(child.log)
        if found:
            results[job.cases[0]["id"]].update(peer_search_s=float(found[-1][0]), peer_configs=int(found[-1][1]))
    for row in results.values():
        row.setdefault("process_s", child.seconds)
    return results


def _progress(index: int, total: int, job: Job, results: dict[str, dict], elapsed: float) -> None:
    for case in job.cases:
        r = results.get(case["id"], {})
        detail = (f"{r['ms']:.4f} ms, {r['speedup_vs_eager']:.2f}x eager" if r.get("status") == "ok"
                  else str(r.get("error", ""))[:160])
        print(f"[{index}/{total}] {job.key} {case['id']}: {r.get('status')} {detail} (elapsed {elapsed:.0f} s)",
              flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--out", type=Path, default=Path("experiments/results/suite"), help="output folder")
    parser.add_argument("--kernels", default=None,
                        help="comma-separated kernel or module names, or default / gallery (each module's first "
                             f"kernel) / all (default: {','.join(DEFAULT_KERNELS)}; --smoke: add)")
    parser.add_argument("--steps", default=",".join(STEPS), help=f"comma-separated, of {','.join(STEPS)}")
    parser.add_argument("--strategies", default=None, help="ours: comma-separated strategies "
                        "(default: the product default and tpe)")
    parser.add_argument("--peer-path", default=None, help="folder with the public Helion release (no peer without)")
    parser.add_argument("--peer-full-kernels", default="matmul", help="kernels or modules of the peer_full step")
    parser.add_argument("--peer-full-generations", type=int, default=1, help="HELION_AUTOTUNE_MAX_GENERATIONS there")
    parser.add_argument("--seed", type=int, default=0, help="inputs and tuner seeds")
    parser.add_argument("--repeats", type=int, default=30, help="timed repeats per measurement (median)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed calls first")
    parser.add_argument("--max-seconds", type=float, default=520.0,
                        help="start no process whose estimate would end past this (resume later)")
    parser.add_argument("--resume", type=Path, nargs="*", default=None,
                        help="earlier results to merge and skip (default: <out>/suite.json if present)")
    parser.add_argument("--redo", action="store_true", help="ignore earlier results")
    parser.add_argument("--estimate", action="store_true", help="print the plan and its time estimate, run nothing")
    parser.add_argument("--merge", type=Path, nargs="+", help="only write the report of these results files")
    parser.add_argument("--smoke", action="store_true", help="CPU, Triton's interpreter, tiny fp32 shapes")
    parser.add_argument("--smoke-compile", action="store_true", help="with --smoke: run torch.compile too (slow)")
    parser.add_argument("--side", help=argparse.SUPPRESS)
    parser.add_argument("--cases-file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    stem = "suite_smoke" if args.smoke else "suite"
    if args.side:
        from experiments.suite_sides import run_side
        run_side(args.side, json.loads(args.cases_file.read_text()), args.result, args.out, args.seed,
                 args.repeats, args.warmup)
        return 0
    if args.merge:
        print(write_outputs(load_state(args.merge), args.out, stem, plot=True))
        return 0
    return drive(parser, args, stem)


def drive(parser: argparse.ArgumentParser, args: argparse.Namespace, stem: str) -> int:
    """The parent: plan, run the jobs within the budget, merge and write after each one."""
    import torch

    from experiments.gallery_gpu import environment
    t0 = time.perf_counter()
    args.out = args.out.resolve()
    steps = [s for s in args.steps.split(",") if s]
    if set(steps) - set(STEPS):
        parser.error(f"unknown --steps {sorted(set(steps) - set(STEPS))}; known: {', '.join(STEPS)}")
    if args.strategies is None:
        import helion
        product = helion.Settings().autotune_strategy
        args.strategies = ",".join(dict.fromkeys([product, "tpe"]))
    strategies = [s for s in args.strategies.split(",") if s]
    try:
        cases = select_cases(args.kernels.split(",") if args.kernels else (["add"] if args.smoke else None),
                             args.smoke)
    except ValueError as e:
        parser.error(str(e))
    if not args.smoke and not torch.cuda.is_available() and not args.estimate:
        parser.error("no CUDA device here: use --smoke (or --estimate)")
    device = torch.device("cuda" if torch.cuda.is_available() and not args.smoke else "cpu")
    meta = {**environment(device), "argv": sys.argv[1:], "strategies": strategies, "seed": args.seed, "notes": []}
    if args.smoke:
        meta["device"] = "cpu (Triton interpreter, --smoke)"
    notes = meta["notes"]
    if args.smoke and not args.smoke_compile and {"compile", "compile_max"} & set(steps):
        steps = [s for s in steps if s not in ("compile", "compile_max")]
        notes.append("torch.compile skipped on CPU in --smoke (minutes per kernel on 2 cores); --smoke-compile runs it")
    if args.smoke:
        args.repeats, args.warmup = min(args.repeats, 3), min(args.warmup, 1)
        notes.append(f"--smoke: tiny fp32 shapes in Triton's interpreter, our tuner capped at {SMOKE_TRIALS} trials, "
                     f"{args.repeats} repeats; host-clock times, not performance")
    if not args.peer_path and {"peer_quick", "peer_full"} & set(steps):
        steps = [s for s in steps if not s.startswith("peer_")]
        notes.append("no --peer-path: the peer's columns were not run")
    resume = [] if args.redo else (args.resume if args.resume is not None else [args.out / f"{stem}.json"])
    resume = [p for p in resume if p.exists()]
    state = load_state(resume)
    devices = {c.get("device") for c in state["calls"]} - {meta["device"]}
    if devices:
        parser.error(f"--resume results come from {sorted(map(str, devices))}, not {meta['device']}: use --redo")
    state["calls"].append(meta)
    jobs = plan(cases, steps, strategies, set(args.peer_full_kernels.split(",")), done_steps(state))
    print(f"{meta['device']}; torch {meta['torch']}, triton {meta['triton']}; {meta['date']}; {len(cases)} cases, "
          f"steps {','.join(steps)}, strategies {','.join(strategies)}; resumed from {[str(p) for p in resume]}",
          flush=True)
    for note in notes:
        print(f"note: {note}", flush=True)
    print(format_estimate(jobs), flush=True)
    if args.estimate:
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    for case in cases:
        state["rows"].setdefault(case["id"], {})
    pending = 0
    for index, job in enumerate(jobs, 1):
        left = args.max_seconds - (time.perf_counter() - t0)
        if job.estimate_s > left:  # (GPU estimates, also in --smoke)
            pending += 1
            continue
        cap = CAP_S.get(job.step, left)
        limit, cut = min(cap, left), left < cap
        results = run_job(job, args, limit, cut_by_budget=cut)
        for case_id, row in results.items():
            state["rows"].setdefault(case_id, {})[job.key] = row
        meta["wall_s"] = round(time.perf_counter() - t0, 1)
        _progress(index, len(jobs), job, results, meta["wall_s"])
        write_outputs(state, args.out, stem)
    if pending:
        notes.append(f"{pending} of {len(jobs)} processes did not fit --max-seconds {args.max_seconds:.0f}: run again "
                     f"with --resume {args.out / (stem + '.json')}")
        print(f"note: {notes[-1]}", flush=True)
    meta["wall_s"] = round(time.perf_counter() - t0, 1)
    plot = write_outputs(state, args.out, stem, plot=True)
    print("\n" + (args.out / f"{stem}.md").read_text(), flush=True)
    print(plot, flush=True)
    print(f"wrote {args.out / (stem + '.md')} and {args.out / (stem + '.json')}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
