"""The kernel suite's sides: what each child process of ``experiments.suite`` measures.

A side runs in its own process on a list of cases (``{"id", "module", "kernel", "size"}``) and
writes ``{case id: result}`` to its result file after every case, so a side killed at its time
limit keeps the cases it finished. Every side builds the case's inputs from the same seed, checks
its output against the module's reference on fp32 copies of the inputs (outputs poisoned with NaN
first) and only then times it, interleaved with the eager op of the same process (and cuBLAS for
matmuls); the copy bandwidth is measured in the same process too. So every result carries
``speedup_vs_eager`` and ``frac_copy_bw`` or ``frac_cublas`` from its own process.

Sides: ``compile`` / ``compile_max`` (``torch.compile`` of the eager op, mode default or
``max-autotune-no-cudagraphs``, after a warm-up compile; compile seconds = the first call),
``triton`` (``experiments.triton_baselines``: every config checked and timed, the fastest kept),
``tuned`` (``kernel(*args)`` tunes at the effort and strategy the environment sets; this is ours,
or the public release when ``helion`` is imported from the peer's folder).

This module imports no ``helion`` at the top: in the peer's process ``helion`` is the public release.
"""
from __future__ import annotations

import json
import os
import re
import statistics
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from experiments.gallery_gpu import MATMUL_MODULES, PLAIN_TORCH, Timer, _dtype_name, _first_line, _json_safe, \
    _tensor_bytes, _upcast, compare_outputs, gpu_dtype, measure_baselines, tolerance_for
from experiments.kernels import GALLERY, reference_for
from experiments.kernels.checking import make_inputs, stable_seed

SMOKE_ENV = "SUITE_SMOKE"  # "1": CPU, fp32, the module's first small size, few repeats


class Context:
    """What a side process shares between its cases: device, timer, copy bandwidth, seed."""

    def __init__(self, seed: int, repeats: int, warmup: int) -> None:
        self.smoke = os.environ.get(SMOKE_ENV) == "1"
        self.device = torch.device("cpu" if self.smoke or not torch.cuda.is_available() else "cuda")
        self.seed = seed
        self.timer = Timer(self.device, repeats, warmup)
        torch.manual_seed(seed)
        self.copy_gbps = measure_baselines(self.timer, self.device, with_matmul=False)["copy_gbps"]

    def medians(self, fns: list[Callable[[], Any]]) -> list[float]:
        times, _ = self.timer.interleaved_ms(fns)
        return [statistics.median(t) for t in times]


class Case:
    """One gallery kernel at one size: its inputs, fp32 reference output, eager op and checker."""

    def __init__(self, spec: dict[str, Any], ctx: Context) -> None:
        self.spec, self.ctx = spec, ctx
        self.module_name, self.kernel_name, self.size = spec["module"], spec["kernel"], tuple(spec["size"])
        self.module = GALLERY[self.module_name]
        self.dtype = torch.float32 if ctx.smoke else gpu_dtype(self.module, self.size)
        seed = stable_seed(self.module_name, self.size, "suite", ctx.seed)
        self.args = make_inputs(self.module, self.size, self.dtype, ctx.device, seed)
        self.reference = reference_for(self.module, self.kernel_name)
        self.expected = self.reference(*_upcast(self.args))
        self.tolerance = tolerance_for(self.module, self.dtype)
        self.eager = PLAIN_TORCH.get(self.kernel_name, self.reference)
        self.matmul = self.module_name in MATMUL_MODULES

    def check(self, fn: Callable[[], Any]) -> tuple[Any, str]:
        """Runs ``fn`` on NaN-poisoned free memory and compares its output with the reference:
        (output, "" or what is wrong)."""
        _poison_free_memory(self.expected, self.ctx.device)
        out = fn()
        if self.ctx.device.type == "cuda":
            torch.cuda.synchronize()
        result = compare_outputs(out, self.expected, self.tolerance)
        return out, "" if result["ok"] else (result["message"] or "wrong output")

    def timed(self, fn: Callable[[], Any], out: Any) -> dict[str, Any]:
        """``fn`` timed interleaved with the eager op (and cuBLAS for matmuls), with the ratios."""
        fns = [fn, lambda: self.eager(*self.args)]
        if self.matmul:
            fns.append(lambda: torch.matmul(self.args[0], self.args[1]))
        times = self.ctx.medians(fns)
        ms, eager_ms = times[0], times[1]
        row = {"ms": ms, "eager_ms": eager_ms, "speedup_vs_eager": eager_ms / ms, "copy_gbps": self.ctx.copy_gbps,
               "bytes": _tensor_bytes(self.args) + _tensor_bytes(out if isinstance(out, (tuple, list)) else [out])}
        if self.matmul:
            row.update(cublas_ms=times[2], frac_cublas=times[2] / ms)
        else:
            row["frac_copy_bw"] = row["bytes"] / (ms * 1e-3) / 1e9 / self.ctx.copy_gbps
        return row

    def base(self) -> dict[str, Any]:
        return {"module": self.module_name, "kernel": self.kernel_name, "size": list(self.size),
                "dtype": _dtype_name(self.dtype), "device": _device_name(self.ctx.device)}


def _poison_free_memory(keep: Any, device: torch.device) -> None:
    """Fills a block the size of the expected output with NaN and frees it: the next allocation of
    that size most likely reuses it, so an output the code under test never writes shows up."""
    tensors = keep if isinstance(keep, (tuple, list)) else (keep,)
    for t in tensors:
        if isinstance(t, torch.Tensor) and t.is_floating_point():
            torch.full_like(t, float("nan"), device=device)
        elif isinstance(t, torch.Tensor):
            torch.full_like(t, -12345, device=device)


def _device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"


def _error(exc: BaseException, stage: str) -> dict[str, Any]:
    return {"status": "error", "stage": stage, "error": _first_line(exc), "traceback": traceback.format_exc(limit=-6)}


# ------------------------------------------------------------------------------------------------
# Sides


def side_compile(case: Case, mode: str | None) -> dict[str, Any]:
    """``torch.compile(eager op, mode=mode)``: the first call's seconds (compile), check, time."""
    import torch._dynamo
    torch._dynamo.reset()  # no graph of an earlier case or mode is reused
    compiled = torch.compile(case.eager, mode=mode)
    start = time.perf_counter()
    compiled(*case.args)
    if case.ctx.device.type == "cuda":
        torch.cuda.synchronize()
    compile_s = time.perf_counter() - start
    out, problem = case.check(lambda: compiled(*case.args))
    if problem:
        return {"status": "wrong", "error": problem, "compile_s": compile_s}
    return {"status": "ok", "mode": mode or "default", "compile_s": compile_s,
            **case.timed(lambda: compiled(*case.args), out)}


def side_triton(case: Case) -> dict[str, Any]:
    """The hand-written Triton kernel of the module, its best config."""
    from experiments.triton_baselines import BASELINES, pick_best
    baseline = BASELINES.get(case.module_name)
    if baseline is None or case.reference is not case.module.reference:
        return {"status": "none", "error": "no hand-written Triton kernel for this computation"}

    def problem(out: Any) -> str:
        result = compare_outputs(out, case.expected, case.tolerance)
        return "" if result["ok"] else (result["message"] or "wrong output")

    start = time.perf_counter()
    best = pick_best(baseline, case.args, case.ctx.device, problem, case.ctx.medians)
    search_s = time.perf_counter() - start
    if "error" in best:
        return {"status": "error", "error": best["error"], "tried": best["tried"]}
    out, wrong = case.check(best["fn"])
    if wrong:
        return {"status": "wrong", "error": wrong, "config": best["config"]}
    return {"status": "ok", "config": best["config"], "tried": best["tried"], "search_s": search_s,
            **case.timed(best["fn"], out)}


def side_tuned(case: Case, out_dir: Path) -> dict[str, Any]:
    """``kernel(*args)`` with an empty cache: it tunes (tuning seconds = the first call), then the
    same call is checked and timed. ``SUITE_EFFORT`` / ``SUITE_STRATEGY`` pick the peer's effort
    and our strategy; ``SUITE_EXPECT_HELION`` the folder ``helion`` must come from."""
    import helion
    expect = os.environ.get("SUITE_EXPECT_HELION")
    if expect and not str(Path(helion.__file__).resolve()).startswith(str(Path(expect).resolve())):
        raise RuntimeError(f"helion was imported from {helion.__file__}, not from {expect}")
    base = case.module.KERNELS[case.kernel_name]
    effort, strategy = os.environ.get("SUITE_EFFORT"), os.environ.get("SUITE_STRATEGY")
    info: dict[str, Any] = {"helion": str(Path(helion.__file__).parent), "helion_version": _version(helion)}
    if strategy:  # ours: the gallery kernel's settings, the strategy, a trial log
        # plain characters only: the GPU tool copies back no file with an odd name
        log = out_dir / "trials" / re.sub(r"[^A-Za-z0-9._-]", "_", f"{case.spec['id']}.{strategy}.jsonl")
        log.parent.mkdir(parents=True, exist_ok=True)
        log.unlink(missing_ok=True)
        kernel = helion.kernel(base.fn, settings=base.settings, autotune_strategy=strategy, autotune_log=str(log))
        info.update(strategy=strategy, effort=kernel.settings.autotune_effort, trials_log=str(log))
    else:  # the public release: the same function at the given effort (as autotune_engine_gpu does)
        kernel = helion.kernel(base.fn, autotune_effort=effort)
        info["effort"] = effort
        log = None
    start = time.perf_counter()
    kernel(*case.args)
    if case.ctx.device.type == "cuda":
        torch.cuda.synchronize()
    info["tune_s"] = time.perf_counter() - start
    if log is not None and log.exists():
        records = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
        info.update(trials=len(records), failed=sum(r.get("status") != "ok" for r in records))
        try:
            info["config"] = dict(kernel.bind(case.args).chosen_config)
        except Exception:  # noqa: BLE001 - the config is information, not a result
            pass
    out, problem = case.check(lambda: kernel(*case.args))
    if problem:
        return {"status": "wrong", "error": problem, **info}
    return {"status": "ok", **info, **case.timed(lambda: kernel(*case.args), out)}


def _version(helion: Any) -> str | None:
    """``helion.__version__``, else the version of the dist-info installed beside the package."""
    version = getattr(helion, "__version__", None)
    if version:
        return str(version)
    infos = sorted(Path(helion.__file__).resolve().parents[1].glob("helion-*.dist-info"))
    return infos[0].name.removeprefix("helion-").removesuffix(".dist-info") if infos else None


def run_side(side: str, specs: Sequence[dict[str, Any]], result_file: Path, out_dir: Path, seed: int,
             repeats: int, warmup: int) -> None:
    """Runs ``side`` on every case in turn, writing all results so far after each one."""
    ctx = Context(seed, repeats, warmup)
    results: dict[str, Any] = {}
    warmup_s = None
    if side in ("compile", "compile_max"):
        warmup_s = _warm_up_compile(ctx.device, "max-autotune-no-cudagraphs" if side == "compile_max" else None)
    for spec in specs:
        started = time.perf_counter()
        stage = "setup"
        try:
            case = Case(spec, ctx)
            stage = side
            if side == "compile":
                row = side_compile(case, None)
            elif side == "compile_max":
                row = side_compile(case, "max-autotune-no-cudagraphs")
            elif side == "triton":
                row = side_triton(case)
            elif side == "tuned":
                row = side_tuned(case, out_dir)
            else:
                raise ValueError(f"unknown side {side!r}")
            row = {**case.base(), **row}
        except Exception as exc:  # noqa: BLE001 - every failure is a result
            row = _error(exc, stage)
        row["side_s"] = time.perf_counter() - started
        if warmup_s is not None:
            row["compile_warmup_s"] = warmup_s
        results[spec["id"]] = row
        print(f"{side} {spec['id']}: {row.get('status')} {row.get('ms', row.get('error', ''))}", flush=True)
        result_file.write_text(json.dumps(_json_safe(results)))
        if ctx.device.type == "cuda":
            torch.cuda.empty_cache()


def _warm_up_compile(device: torch.device, mode: str | None) -> float:
    """One tiny compile first, so the first case's compile seconds do not include Inductor's
    start-up (its worker pool, imports)."""
    import torch._dynamo
    start = time.perf_counter()
    fn = torch.compile(lambda t: torch.relu(t * 2.0 + 1.0), mode=mode)
    fn(torch.ones(64, device=device))
    torch._dynamo.reset()
    return time.perf_counter() - start
