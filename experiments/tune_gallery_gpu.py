"""The best of a few hundred configs per gallery kernel on one GPU, against torch and the hardware.

For each gallery kernel at its GPU sizes (bf16), candidates are the default config, its one-knob
neighbours, "recipes" applied to it (tensor descriptors, persistent programs, L2 groups, more
stages or warps) and random samples, up to ``--configs``. Then, one case after the other:

1. the autotuning engine (``helion.autotune.engine.tune`` with ``only=`` the candidates) compiles
   them in its compile pool (``--workers`` processes; none on CPU), and its benchmark worker runs
   each one, compares its output with the fp32 reference (the kernel's ``autotune_baseline_fn``,
   within the gallery's tolerance) and times the correct ones with a screening call, timed again
   unless 1.5x slower than the best so far. A wrong answer is a bug and is reported; a compile
   error is a normal outcome of tuning; a crash, an illegal memory access or a hang ends only that
   candidate (the worker restarts). Compiling the next batch overlaps benchmarking this one, per
   case: there is no longer a first pass that checks every case before timing on an idle GPU.
   With ``--refine N``, up to N untried one-knob neighbours of the ``--refine-top`` fastest go
   through the engine the same way, a step of local search;
2. the five fastest, the default and the baselines are timed with ``--repeats`` in this process,
   one call of each in turn (``helion.autotune.timing.Timer``: CUDA events, L2 flushed), and the
   winner is checked once more against the reference. Baselines: the reference ("eager", upcasts
   to fp32), the plain torch op on the bf16 inputs (cuBLAS for matmuls), ``torch.compile`` of that
   op; the copy bandwidth;
3. ablation (``--ablate``): each knob where the winner differs from the default is set back to
   the default (or, for a few knobs it keeps at the default, moved), checked by the engine and
   timed against the winner, so the report names the knobs that made the winner.

GPU run (one H100 or H200; the whole gallery took about 9 minutes before the engine did the checks)::

    python -m experiments.tune_gallery_gpu --out "$OUT" --ablate --refine 60

Writes ``tune_gallery.md`` and ``tune_gallery.json`` to ``--out`` after every case. ``--smoke``
runs the same path on CPU (interpreter, two kernels, a few configs).
"""
from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch

import helion
from experiments.gallery_gpu import (MATMUL_MODULES, PLAIN_TORCH, _as_tuple, _first_line, _json_safe, _size_name,
                                     _tensor_bytes, _upcast, compare_outputs, environment, measure_baselines,
                                     tolerance_for)
from experiments.kernels import GALLERY, GALLERY_NAMES, reference_for
from experiments.kernels.checking import clone_inputs, make_inputs, stable_seed
from helion.autotune import engine
from helion.autotune.effort import Effort
from helion.autotune.timing import Timer
from search import config_key

TARGETS = {"add": 0.93, "softmax": 0.93, "rms_norm": 0.93, "layer_norm": 0.93,
           "matmul": 0.90}  # issue #3: fraction of copy bandwidth / of same-size cuBLAS
SMOKE = [("add", "add", (33, 70, "row")), ("softmax", "softmax", (37, 100))]


# ------------------------------------------------------------------------------------------------
# Candidates


def _recipes(config: dict[str, Any]) -> list[dict[str, Any]]:
    """One-line transformations that often win on Hopper, each a partial config."""
    out: list[dict[str, Any]] = []
    if "indexing" in config:
        out.append({"indexing": ["tensor_descriptor"] * len(config["indexing"])})
        out.append({"indexing": ["block_ptr"] * len(config["indexing"])})
    out += [{"pid_type": "persistent_interleaved"}, {"pid_type": "persistent_blocked"}]
    if "range_flattens" in config:  # with a persistent pid: one pipelined loop over tiles
        out.append({"range_flattens": [True] * len(config["range_flattens"])})
        if "indexing" in config:  # all three: the next tile's TMA loads overlap this one's epilogue
            out.append({"pid_type": "persistent_blocked", "range_flattens": [True] * len(config["range_flattens"]),
                        "indexing": ["tensor_descriptor"] * len(config["indexing"])})
    if "epilogue_subtiles" in config and "range_flattens" in config:  # the store in halves: a 4th stage fits
        out.append({"pid_type": "persistent_interleaved", "range_flattens": [True] * len(config["range_flattens"]),
                    "indexing": ["tensor_descriptor"] * len(config["indexing"]), "num_stages": 4,
                    "epilogue_subtiles": [2] * len(config["epilogue_subtiles"])})
    if "range_warp_specializes" in config and "indexing" in config:  # TMA producer warp, two consumer groups
        out.append({"range_warp_specializes": [True] * len(config["range_warp_specializes"]), "num_warps": 4,
                    "indexing": ["tensor_descriptor"] * len(config["indexing"])})
    if "l2_groupings" in config:
        out.append({"l2_groupings": [8] * len(config["l2_groupings"])})
    sizes = config.get("block_sizes", [])
    for i in range(min(len(sizes), 3)):  # one tile twice as large (e.g. 128x256 matmul tiles)
        out.append({"block_sizes": [b * 2 if j == i else b for j, b in enumerate(sizes)]})
    out += [{"num_stages": 4}, {"num_warps": 8}, {"num_warps": 4}]
    return out


def grid_configs(default: dict[str, Any], grid: dict[str, list[Any]] | list[dict[str, list[Any]]]
                 ) -> list[dict[str, Any]]:
    """Every combination of a grid's knob values (knob -> values) on top of ``default``; a list
    of grids is their union."""
    out = []
    for part in grid if isinstance(grid, list) else [grid]:
        names = list(part)
        out += [{**default, **dict(zip(names, values))} for values in itertools.product(*(part[n] for n in names))]
    return out


def candidates(space: Any, count: int, seed: int, grid: Any = None) -> list[dict[str, Any]]:
    """Default, a given grid of knob values (``--grid``; on top of the count), each recipe on it,
    random sets of 2-4 recipes (up to half the budget), one-knob neighbours, then random samples."""
    default = space.default()
    seen: dict[str, dict[str, Any]] = {}

    def add(config: dict[str, Any]) -> None:
        try:
            config = space.normalize(config)
        except Exception:  # noqa: BLE001 - a recipe that breaks a constraint is skipped
            return
        seen.setdefault(json.dumps(config, sort_keys=True), dict(config))

    def apply(parts: list[dict[str, Any]]) -> None:
        merged = dict(default)
        for part in parts:
            merged.update(part)
        add(merged)

    add(default)
    for config in grid_configs(default, grid or []):
        add(config)
    count += len(seen) - 1
    recipes = _recipes(default)
    for recipe in recipes:
        apply([recipe])
    rng = np.random.default_rng(seed)
    for _ in range(20 * count):  # 2 to 4 recipes at once, up to half the budget
        if len(seen) >= count // 2:
            break
        picks = rng.choice(len(recipes), size=min(int(rng.integers(2, 5)), len(recipes)), replace=False)
        apply([recipes[i] for i in sorted(picks)])
    for neighbour in space.neighbors(default):
        add(neighbour)
    for _ in range(20 * count):
        if len(seen) >= count:
            break
        try:
            add(space.sample(rng))
        except Exception:  # noqa: BLE001 - a space too constrained to sample keeps what it has
            break
    return list(seen.values())[:count]


# ------------------------------------------------------------------------------------------------
# Check and screen through the engine


# the engine's trial statuses as the report counts them
KINDS = {"ok": "ok", "inaccurate": "wrong", "compile_error": "error", "invalid": "error",
         "runtime_error": "crash", "timeout": "crash"}


def checked_kernel(module: ModuleType, kernel_name: str, dtype: torch.dtype, workers: int | None) -> Any:
    """The gallery kernel with settings that make the engine check each candidate against the
    fp32 reference (on upcast inputs) within the gallery's tolerance, compiling on ``workers``."""
    base = module.KERNELS[kernel_name]
    reference, tolerance = reference_for(module, kernel_name), tolerance_for(module, dtype)
    return helion.kernel(base.fn, settings=base.settings, autotune_baseline_fn=lambda *a: reference(*_upcast(a)),
                         autotune_baseline_atol=tolerance["atol"], autotune_baseline_rtol=tolerance["rtol"],
                         autotune_accuracy_check=True, autotune_progress=False,
                         autotune_precompile_jobs=workers or base.settings.autotune_precompile_jobs)


def screen(bound: Any, inputs: tuple, configs: list[dict], repeats: int, stage: str,
           anchor: dict | None = None) -> tuple[list[dict], str]:
    """The engine's trial record of each of ``configs`` (compiled, checked, timed) and "", or no
    records and the engine's message when none passed. ``anchor``, a config that passed before,
    runs first and is left out of the records: the engine then always has a winner, and cuts
    candidates slower than it short from the start."""
    only = [anchor, *configs] if anchor is not None else list(configs)
    try:
        outcome = engine.tune(bound, inputs, only=only, effort=Effort(len(only), 1e9, 5, repeats),
                              context={"experiment": "tune_gallery_gpu", "stage": stage})
    except helion.exc.AutotuneError as e:
        return [], _first_line(e)
    skip = config_key(bound.config_space.normalize(anchor)) if anchor is not None else None
    return [r for r in outcome.result.history if config_key(r["config"]) != skip], ""


def timed_of(records: list[dict]) -> list[tuple[float, dict]]:
    """(screening ms, config) of the correct candidates, fastest first."""
    return sorted(((r["time_ms"], r["config"]) for r in records if r["status"] == "ok"), key=lambda t: t[0])


def check_counts(records: list[dict]) -> dict[str, Any]:
    """Per kind (ok, wrong, error, crash), how many candidates ended there; the wrong and crashing
    configs; error messages; the median compile (or, on CPU, first-call) seconds."""
    kinds = [KINDS.get(r["status"], "error") for r in records]
    out: dict[str, Any] = {kind: kinds.count(kind) for kind in ("ok", "wrong", "error", "crash")}
    out["wrong_configs"] = [{"config": r["config"], "status": kind, "message": r.get("message", "")}
                            for r, kind in zip(records, kinds) if kind in ("wrong", "crash")]
    errors: dict[str, int] = {}
    for r, kind in zip(records, kinds):
        if kind == "error":
            message = r.get("message", r["status"])[:120]
            errors[message] = errors.get(message, 0) + 1
    out["errors"] = errors
    compile_s = [r["compile_s"] for r in records if r.get("compile_s")]
    out["median_compile_s"] = round(statistics.median(compile_s), 2) if compile_s else None
    return out


# ------------------------------------------------------------------------------------------------
# One case: finalists against the baselines, ablation


def _interleaved_ms(timer: Timer, fns: list[Any]) -> list[float]:
    """Median ms of each of ``fns``, one call of each in turn per repeat (``Timer.interleaved_ms``)."""
    return [statistics.median(t) for t in timer.interleaved_ms(fns)[0]]


_COMPILED: dict[tuple, Any] = {}


def _compiled(fn: Any, args: tuple) -> Any:
    """``torch.compile(fn)``, compiled and warmed once per function and input shapes."""
    key = (id(fn), tuple((tuple(a.shape), a.dtype) if isinstance(a, torch.Tensor) else a for a in args))
    if key not in _COMPILED:
        compiled = torch.compile(fn)
        compiled(*args)
        _COMPILED[key] = compiled
    return _COMPILED[key]


def refinements(space: Any, timed: list[tuple[float, dict]], tried: list[dict], top: int,
                count: int) -> list[dict]:
    """Untried one-knob neighbours of the ``top`` fastest configs (a step of local search), at most
    ``count``, taken from each in turn."""
    seen = {json.dumps(c, sort_keys=True) for c in tried}
    per_config = []
    for _, config in timed[:top]:
        fresh = []
        for neighbour in space.neighbors(config):
            try:
                neighbour = space.normalize(neighbour)
            except Exception:  # noqa: BLE001 - a neighbour that breaks a constraint is skipped
                continue
            key = json.dumps(neighbour, sort_keys=True)
            if key not in seen:
                seen.add(key)
                fresh.append(neighbour)
        per_config.append(fresh)
    interleaved = [c for group in itertools.zip_longest(*per_config) for c in group if c is not None]
    return interleaved[:count]


def finish_case(row: dict[str, Any], timed: list[tuple[float, dict]], bound: Any, args: tuple, timer: Timer,
                baselines: dict[str, Any], with_compile: bool) -> dict[str, Any]:
    """Times the five fastest, the default and the baselines in turn; checks the winner once more."""
    module_name, kernel_name = row["module"], row["kernel"]
    module = GALLERY[module_name]
    started = time.perf_counter()
    if not timed:
        row["status"] = "no correct config"
        return row
    default = bound.config_space.default()
    finalists = [c for _, c in timed[:5]] + [default]
    contenders = [(lambda f=bound.compile_config(c): f(*args)) for c in finalists]
    reference = reference_for(module, kernel_name)
    contenders.append(lambda: reference(*args))
    plain = PLAIN_TORCH.get(kernel_name)
    if plain is not None:
        contenders.append(lambda: plain(*args))
    if with_compile:
        try:
            compiled = _compiled(plain or reference, args)
            contenders.append(lambda: compiled(*args))
        except Exception as e:  # noqa: BLE001
            row["compiled_error"] = _first_line(e)
    measured = _interleaved_ms(timer, contenders)  # finalists and baselines in turn, same conditions
    final = list(zip(measured[:len(finalists)], finalists))
    default_ms = final[-1][0]
    best_ms, best = min(final, key=lambda t: t[0])
    fn = bound.compile_config(best)
    expected = reference(*_upcast(clone_inputs(args)))
    actual = fn(*clone_inputs(args))
    check = compare_outputs(actual, expected, tolerance_for(module, getattr(torch, row["dtype"])))
    default_key = json.dumps(default, sort_keys=True)
    row.update(status="ok", correct=check["ok"], max_rel_err=check["max_rel_err"], best_ms=best_ms,
               best_config=best, default_ms=default_ms, default_config=default,
               untuned_fraction=best_ms / default_ms,
               quick=[[round(t, 5), _compact(c, default)] for t, c in timed],
               default_quick_rank=next((i for i, (_, c) in enumerate(timed)
                                        if json.dumps(c, sort_keys=True) == default_key), None))
    baseline_ms = measured[len(finalists):]
    row["eager_ms"] = baseline_ms.pop(0)
    if plain is not None:
        row["torch_ms"] = baseline_ms.pop(0)
    if baseline_ms:
        row["compiled_ms"] = baseline_ms.pop(0)
        row["vs_compiled"] = row["compiled_ms"] / best_ms
    row["bytes"] = _tensor_bytes(args) + _tensor_bytes(_as_tuple(actual))  # the kernel's outputs, bf16
    row["finish_s"] = round(time.perf_counter() - started, 1)
    if module_name in MATMUL_MODULES and "torch_ms" in row:
        row["frac_cublas"] = row["torch_ms"] / best_ms
        row["tflops"] = 2 * args[0].numel() * args[1].shape[-1] / (best_ms * 1e-3) / 1e12
    else:
        row["frac_copy_bw"] = row["bytes"] / (best_ms * 1e-3) / 1e9 / baselines["copy_gbps"]
    return row


PROBED_KNOBS = ("loop_orders", "static_ranges", "maxnreg", "range_multi_buffers", "reduction_loops")


def ablations(row: dict, bound: Any) -> list[dict[str, Any]]:
    """The winner with one knob set back to the default, per knob where they differ ("reset"); and
    for the knobs of ``PROBED_KNOBS`` that the winner leaves at the default, the winner with that
    knob moved to up to two neighbouring values ("probe": does the default value matter?)."""
    out = []
    best, default = row["best_config"], row["default_config"]
    for knob in best:
        if best[knob] == default.get(knob):
            continue
        try:
            config = bound.normalize_config({**best, knob: default[knob]})
        except Exception:  # noqa: BLE001 - resetting it breaks a constraint: not comparable
            continue
        if config != best:
            out.append({"kind": "reset", "knob": knob, "winner": best[knob], "default": default[knob],
                        "config": config})
    space = bound.config_space
    for knob in PROBED_KNOBS:
        if knob not in best or best[knob] != default.get(knob):
            continue
        moved = [c for c in space.neighbors(best) if c[knob] != best[knob]][:2]
        out += [{"kind": "probe", "knob": knob, "winner": best[knob], "default": c[knob], "config": c}
                for c in moved]
    return out


def ablate(row: dict, bound: Any, inputs: tuple, timer: Timer, repeats: int) -> list[dict[str, Any]]:
    """``ablations`` of the winner, checked by the engine; each correct one's slowdown against the
    winner, the two timed in turn (else its kind of failure as ``status``)."""
    items = ablations(row, bound)
    space = bound.config_space

    def key(config: dict) -> Any:
        try:
            return config_key(space.normalize(config))
        except Exception:  # noqa: BLE001 - a probe that breaks a constraint: no record
            return None
    records, _ = screen(bound, inputs, [a["config"] for a in items], repeats, "ablate", anchor=row["best_config"])
    by_key = {config_key(r["config"]): r for r in records}
    best_fn = bound.compile_config(row["best_config"])
    for item in items:
        config = item.pop("config")
        record = by_key.get(key(config))
        kind = KINDS.get(record["status"], "error") if record else "error"
        if kind != "ok":
            item["status"] = kind
            continue
        fn = bound.compile_config(config)
        ablated_ms, best_ms = _interleaved_ms(timer, [lambda: fn(*inputs), lambda: best_fn(*inputs)])
        item["slowdown"] = ablated_ms / best_ms
    return items


# ------------------------------------------------------------------------------------------------
# Report


def _fmt(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _compact(config: dict[str, Any], default: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in config.items() if default.get(k) != v) or "(default)"


def format_report(meta: dict, baselines: dict, rows: list[dict]) -> str:
    lines = [f"# Gallery kernels tuned (best of up to {meta['configs']} configs) on {meta['device']}", "",
             f"{meta['date']}; torch {meta['torch']}, triton {meta['triton']}, python {meta['python']}, "
             f"commit {meta.get('commit')}", "",
             f"Same-run copy bandwidth: {baselines['copy_gbps']:.0f} GB/s (bytes read + written). Times: median "
             f"of {meta['repeats']} CUDA-event timings after an L2 flush, the finalists and baselines called in "
             "turn. cuBLAS = torch.matmul/bmm on the same "
             "bf16 inputs; compiled = torch.compile of the plain torch op (of the reference where there is none); "
             "untuned = best ms / default-config ms.", "",
             "| kernel | size | ok | configs ok/wrong/err/crash | best ms | default ms | untuned | eager ms | "
             "compiled ms | vs compiled | roofline | winner (knobs off default) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r.get("status") != "ok":
            lines.append(f"| {r['kernel']} | {_size_name(r['size'])} | {r.get('status')} | "
                         f"{r.get('ok')}/{r.get('wrong')}/{r.get('error')}/{r.get('crash')} |" + " - |" * 8)
            continue
        roof = (f"{r['frac_cublas']:.2f} of cuBLAS ({r['tflops']:.0f} TFLOP/s)" if "frac_cublas" in r
                else f"{r['frac_copy_bw']:.2f} of copy BW" if "frac_copy_bw" in r else "-")
        lines.append(
            f"| {r['kernel']} | {_size_name(r['size'])} | {'yes' if r['correct'] else 'FAIL'} | "
            f"{r['ok']}/{r['wrong']}/{r['error']}/{r['crash']} | {r['best_ms']:.4f} | {r['default_ms']:.4f} | "
            f"{r['untuned_fraction']:.2f} | {r['eager_ms']:.4f} | {_fmt(r.get('compiled_ms'), '.4f')} | "
            f"{_fmt(r.get('vs_compiled'), '.2f')} | {roof} | "
            f"{_compact(r['best_config'], r['default_config']).replace('|', '/')} |")
    ablated = [(r, a) for r in rows for a in r.get("ablation", [])]
    if ablated:
        lines += ["", "## Ablation: the winner with one knob set back to its default (reset) or, where the "
                  "winner keeps the default, moved to a neighbouring value (probe)", "",
                  "| kernel | knob | winner's value | reset to / probed value | slowdown |", "|---|---|---|---|---|"]
        for r, a in ablated:
            slow = f"{a['slowdown']:.3f}" if "slowdown" in a else a.get("status", "-")
            kind = " (probe)" if a.get("kind") == "probe" else ""
            lines.append(f"| {r['kernel']} | {a['knob']}{kind} | {a['winner']} | {a['default']} | {slow} |")
    wrong = sum(r.get("wrong", 0) for r in rows)
    crashes = [(r["kernel"], w) for r in rows for w in r.get("wrong_configs", [])]
    lines += ["", f"{len(rows)} cases; {wrong} wrong configs; wall {meta.get('wall_s', 0):.0f} s."]
    if crashes:
        lines += ["", "## Configs that computed a wrong answer, failed when run (a broken CUDA context, say) "
                  "or hung", ""]
        lines += [f"- {kernel}: {w['status']}: {w['message']}; `{json.dumps(w['config'])}`" for kernel, w in crashes]
    return "\n".join(lines) + "\n"


def write(out: Path, meta: dict, baselines: dict, rows: list[dict]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "tune_gallery.md").write_text(format_report(meta, baselines, rows))
    (out / "tune_gallery.json").write_text(json.dumps(_json_safe({"meta": meta, "baselines": baselines,
                                                                  "rows": rows}), indent=1) + "\n")


# ------------------------------------------------------------------------------------------------
# Driver


def select_cases(names: set[str] | None, all_sizes: bool) -> list[tuple]:
    """Cases of the named modules or kernels (all when None); ``kernel@SIZE`` (e.g.
    ``matmul@16384x512x4096``) picks one size of a kernel."""
    cases = []
    kernel_names = {k for m in GALLERY_NAMES for k in GALLERY[m].KERNELS}
    sized: dict[str, set[str]] = {}
    for name in names or ():
        if "@" in name:
            sized.setdefault(name.split("@")[0], set()).add(name.split("@")[1])
    for module_name in GALLERY_NAMES:
        module = GALLERY[module_name]
        for kernel_name in module.KERNELS:
            by_module = names and module_name in names - kernel_names  # a kernel's name picks that kernel only
            if names and not by_module and kernel_name not in names and kernel_name not in sized:
                continue
            sizes = module.GPU_SIZES if all_sizes or module_name == "matmul" else module.GPU_SIZES[:1]
            if module_name == "matmul" and kernel_name != "matmul":
                sizes = module.GPU_SIZES[:1]
            if kernel_name in sized:  # the sizes named, beside the usual ones when the bare name is given too
                picked = [s for s in module.GPU_SIZES if _size_name(s) in sized[kernel_name]]
                sizes = list(dict.fromkeys([*sizes, *picked])) if kernel_name in names else picked
            for size in sizes:
                cases.append((module_name, kernel_name, tuple(size), torch.bfloat16))
    return cases


def tune_case(row: dict, case: tuple, opts: argparse.Namespace, grid: Any, timer: Timer,
              baselines: dict[str, Any], device: torch.device, t0: float) -> None:
    """Screens a case's candidates (and refinements) through the engine, then ``finish_case`` and,
    with ``--ablate``, the ablation; fills ``row``."""
    module_name, kernel_name, size, dtype = case
    module = GALLERY[module_name]
    inputs = make_inputs(module, size, dtype, device, stable_seed(module_name, size, "tune"))
    bound = checked_kernel(module, kernel_name, dtype, opts.workers).bind(inputs)
    configs = candidates(bound.config_space, opts.configs, stable_seed(kernel_name, size), grid)
    started = time.perf_counter()
    records, failure = screen(bound, inputs, configs, opts.repeats, "screen")
    timed = timed_of(records)
    refined: list[dict] = []
    if opts.refine and timed:
        extra = refinements(bound.config_space, timed, configs, opts.refine_top, opts.refine)
        refined, _ = screen(bound, inputs, extra, opts.repeats, "refine", anchor=timed[0][1]) if extra else ([], "")
        timed = sorted(timed + timed_of(refined), key=lambda t: t[0])
    row.update(tried=len(records or configs) + len(refined), refined=len(refined),
               screen_s=round(time.perf_counter() - started, 1))
    if failure:  # none passed (or the baseline failed): the engine's summary, no per-config records
        row.update(status=failure, ok=0)
        return
    row.update(check_counts(records + refined))
    print(f"{kernel_name} {_size_name(size)}: {len(timed)} correct of {row['tried']} screened, fastest "
          f"{_fmt(timed[0][0] if timed else None, '.4f')} ms ({time.perf_counter() - t0:.0f} s)", flush=True)
    finish_case(row, timed, bound, inputs, timer, baselines, not opts.no_compile)
    if opts.ablate and row.get("status") == "ok":
        row["ablation"] = ablate(row, bound, inputs, timer, opts.repeats)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("experiments/data"))
    parser.add_argument("--kernels", default=None, help="comma-separated module or kernel names")
    parser.add_argument("--configs", type=int, default=200, help="candidates per kernel")
    parser.add_argument("--workers", type=int, default=None,
                        help="compile processes (autotune_precompile_jobs; default: the engine's)")
    parser.add_argument("--repeats", type=int, default=40)
    parser.add_argument("--budget-s", type=float, default=540.0, help="start no case after this")
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile baselines")
    parser.add_argument("--ablate", action="store_true", help="time the winner with each knob reset")
    parser.add_argument("--refine", type=int, default=0,
                        help="then check and time up to this many neighbours of the fastest configs")
    parser.add_argument("--refine-top", type=int, default=3, help="how many fastest configs to refine")
    parser.add_argument("--all-sizes", action="store_true")
    parser.add_argument("--grid", type=Path, default=None,
                        help="JSON {kernel or kernel@SIZE: {knob: [values...]}}: every combination is tried too")
    parser.add_argument("--smoke", action="store_true", help="CPU, interpreter, two small kernels")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    if args.smoke:
        device = torch.device("cpu")
        cases = [(m, k, s, torch.float32) for m, k, s in SMOKE]
        args.configs, args.repeats = min(args.configs, 6), 3
    else:
        if not torch.cuda.is_available():
            parser.error("no CUDA device here: use --smoke")
        device = torch.device("cuda")
        names = args.kernels.split(",") if args.kernels else None
        cases = select_cases(set(names) if names else None, args.all_sizes)
        if names:  # in the order asked for, so a budget cut drops the last ones
            bare = [n.split("@")[0] for n in names]
            cases.sort(key=lambda c: bare.index(c[1]) if c[1] in bare else bare.index(c[0]))
    timer = Timer(device, args.repeats, 3)
    meta = {**environment(device), "configs": args.configs, "repeats": args.repeats, "argv": sys.argv[1:]}
    baselines = measure_baselines(timer, device, with_matmul=False)
    print(f"{meta['device']}; torch {meta['torch']}, triton {meta['triton']}; copy {baselines['copy_gbps']:.0f} GB/s",
          flush=True)
    grids = json.loads(args.grid.read_text()) if args.grid else {}
    rows: list[dict] = []
    for number, case in enumerate(cases, 1):
        module_name, kernel_name, size, dtype = case
        row = {"module": module_name, "kernel": kernel_name, "size": list(size),
               "dtype": str(dtype).removeprefix("torch.")}
        rows.append(row)
        if time.perf_counter() - t0 > args.budget_s:
            row["status"] = "skipped"
            continue
        grid = grids.get(f"{kernel_name}@{_size_name(size)}", grids.get(kernel_name))
        try:
            tune_case(row, case, args, grid, timer, baselines, device, t0)
        except Exception as e:  # noqa: BLE001 - reported, the next case runs
            row["status"] = _first_line(e)
        if device.type == "cuda":
            torch.cuda.empty_cache()  # this case's inputs and outputs go back to the GPU
        print(f"[{number}/{len(cases)}] {kernel_name} {_size_name(size)}: {row.get('status')} "
              f"ok/wrong/err/crash {row.get('ok')}/{row.get('wrong')}/{row.get('error')}/{row.get('crash')}, "
              f"best {_fmt(row.get('best_ms'), '.4f')} default {_fmt(row.get('default_ms'), '.4f')} "
              f"compiled {_fmt(row.get('compiled_ms'), '.4f')} "
              f"roof {_fmt(row.get('frac_cublas', row.get('frac_copy_bw')), '.2f')} "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)
        meta["wall_s"] = round(time.perf_counter() - t0, 1)
        write(args.out, meta, baselines, rows)
    print("\n" + format_report(meta, baselines, rows), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
