"""Every gallery kernel on one GPU with its default config: correct?, how fast?, how close to the roofline?

For each kernel of ``experiments/kernels`` (each entry of each module's ``KERNELS``) at its first
``GPU_SIZES`` entry (``--all-sizes``: every entry), in bf16 (fp16 when bf16 fails to compile or
run), with ``bound.config_space.default()``:

1. correctness: the module's reference runs on fp32 copies of the inputs; the kernel's outputs are
   compared with it in fp32 (max abs error, max abs error / max |ref|, non-finite values where the
   reference is finite) and pass or fail with the module's ``TOLERANCE`` for the dtype;
2. time: CUDA events around the call only, a 256 MB L2 flush before each repeat, median of
   ``--repeats`` after ``--warmup`` calls; the same for the reference on the bf16 inputs ("eager":
   what a user writes), for the plain bf16 torch op where the reference upcasts ("torch", see
   ``PLAIN_TORCH``) and, with ``--compile``, for ``torch.compile(reference)``;
3. ratios to same-run baselines: memory-bound kernels as a fraction of the device-to-device copy
   bandwidth (``dst.copy_(src)`` of 1 GiB; bytes read + written), matmul kernels (and modules that
   define ``flops(size, kernel_name)``, e.g. attention) as a fraction of cuBLAS bf16 TFLOP/s at 4096^3.

Errors are caught per kernel and reported in the table; a lost CUDA context (an illegal memory
access) skips the rest. Results are written after every kernel, so a run cut short keeps them.

GPU run (one H100, about 2-4 minutes)::

    python -m experiments.gallery_gpu --out "$OUT"

Writes ``gallery_gpu.md`` (the table) and ``gallery_gpu.json`` (every number, per-repeat times
included) to ``--out``. Without a GPU, ``--smoke`` runs the same path on CPU for ``add`` at a small
fp32 size (Triton's interpreter, host clock, no flush) and writes ``gallery_gpu_smoke.{md,json}``.

(One self-contained file, so one command runs it on a bare GPU machine; hence longer than the
~500 lines we aim for.)
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import platform
import statistics
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
import torch.nn.functional as F

from experiments.kernels import GALLERY, GALLERY_NAMES, reference_for
from experiments.kernels.checking import make_inputs, stable_seed
try:
    from helion.autotune.timing import Timer
except ImportError:  # a peer's process (experiments.peer_untuned_gpu): ``helion`` is the public release
    import importlib.util as _util
    _spec = _util.spec_from_file_location("engine_timing", Path(__file__).resolve().parents[1] / "helion" / "autotune"
                                          / "timing.py")
    _timing = _util.module_from_spec(_spec)
    _spec.loader.exec_module(_timing)
    Timer = _timing.Timer

MATMUL_MODULES = frozenset({"matmul", "matmul_bias_relu", "bmm"})  # compute-bound: compare with cuBLAS
COPY_BYTES = {"cuda": 2**30, "cpu": 16 * 2**20}
BASELINE_MATMUL_SIZE = {"cuda": 4096, "cpu": 256}
# Triton compiles at the first launch: these errors from the first call are compile errors.
COMPILE_ERRORS = frozenset({"OutOfResources", "CompilationError", "PTXASError", "CompileTimeAssertionFailure"})
MEMORY_FACTOR = 8  # GPU bytes a case may need per input byte: fp32 copies, outputs, reference temporaries
SMOKE_CASE = ("add", "add", (64, 64, "row"))


def _gelu_tanh(x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    return F.gelu(x + bias, approximate="tanh")


# The same computation as the reference, written directly on the low-precision inputs (no fp32
# upcast): the other baseline a user might write. Kernels whose reference already is that op
# (copies, argmax, masks) have no entry. Timed only, never checked.
PLAIN_TORCH: dict[str, Callable[..., Any]] = {
    **dict.fromkeys(["add", "add_2d"], lambda x, y: x + y),
    "bias_gelu": lambda x, bias: F.gelu(x + bias),
    **dict.fromkeys(["bias_gelu_tanh", "bias_gelu_tanh_formula"], _gelu_tanh),
    **dict.fromkeys(["softmax", "softmax_decomposed", "softmax_two_pass"], lambda x: torch.softmax(x, dim=1)),
    **dict.fromkeys(["log_softmax", "log_softmax_decomposed"], lambda x: torch.log_softmax(x, dim=-1)),
    **dict.fromkeys(["rms_norm", "rms_norm_looped"], lambda x, w, eps=1e-5: F.rms_norm(x, [x.shape[-1]], w, eps)),
    **dict.fromkeys(["layer_norm", "layer_norm_moments"],
                    lambda x, w, b, eps=1e-5: F.layer_norm(x, [x.shape[-1]], w, b, eps)),
    **dict.fromkeys(["sum_last", "row_sum_loop", "row_sum_loop_1d"], lambda x: x.sum(-1)),
    "mean_last": lambda x: x.mean(-1, dtype=torch.float32),
    "sum_first": lambda x: x.sum(0),
    "atomic_column_sum": lambda x: x.sum(0, dtype=torch.float32),
    "atomic_total": lambda x: x.sum(dtype=torch.float32).reshape(1),
    **dict.fromkeys(["matmul", "matmul_dot", "matmul_operator"], torch.matmul),
    "matmul_bias_relu": lambda x, y, bias: torch.relu(torch.addmm(bias, x, y)),
    **dict.fromkeys(["bmm", "bmm_add"], torch.bmm),
    **dict.fromkeys(["elementwise_3d", "elementwise_3d_tuple"], lambda x, y, z: x * torch.sigmoid(y) + z),
    "attention": F.scaled_dot_product_attention,
    "attention_causal": lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
    **dict.fromkeys(["softmax_backward", "softmax_backward_looped"],
                    lambda g, y: torch.ops.aten._softmax_backward_data(g, y, 1, y.dtype)),
    "cross_entropy": lambda logits, targets: F.cross_entropy(logits, targets, reduction="none"),
    **dict.fromkeys(["embedding", "embedding_3d"], F.embedding),
    "split_k_matmul": torch.matmul,
    "dropout": lambda x, p, seed: F.dropout(x, p),
}


# ------------------------------------------------------------------------------------------------
# Timing


def gpu_script_args(doc: str, argv: list[str] | None, repeats: int) -> tuple[argparse.Namespace, torch.device]:
    """``--repeats`` of a GPU-only experiment script (described by ``doc``'s first paragraph) and
    its device; exits with a usage error where there is no CUDA device."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=repeats)
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        parser.error("needs a CUDA device")
    return args, torch.device("cuda")


def _timing(timer: Timer, fn: Callable[[], Any]) -> dict[str, Any]:
    times, host_ms = timer.times_ms(fn)
    return {"ms": statistics.median(times), "min_ms": min(times), "host_ms": host_ms,
            "times_ms": [round(t, 5) for t in times]}


def measure_baselines(timer: Timer, device: torch.device, with_matmul: bool) -> dict[str, Any]:
    """Same-run copy bandwidth (GB/s, bytes read + written) and, if asked, matmul TFLOP/s (cuBLAS on GPU)."""
    copy_bytes = COPY_BYTES[device.type]
    src = torch.ones(copy_bytes, dtype=torch.uint8, device=device)
    dst = torch.empty_like(src)
    copy = _timing(timer, lambda: dst.copy_(src))
    del src, dst
    out: dict[str, Any] = {"copy_bytes": copy_bytes, "copy_ms": copy["ms"],
                           "copy_gbps": 2 * copy_bytes / (copy["ms"] * 1e-3) / 1e9}
    if with_matmul:
        n = BASELINE_MATMUL_SIZE[device.type]
        dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
        a = torch.randn(n, n, dtype=dtype, device=device)
        b = torch.randn(n, n, dtype=dtype, device=device)
        mm = _timing(timer, lambda: torch.matmul(a, b))
        out.update(matmul_size=n, matmul_dtype=_dtype_name(dtype), matmul_ms=mm["ms"],
                   matmul_tflops=2 * n**3 / (mm["ms"] * 1e-3) / 1e12)
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return out


# ------------------------------------------------------------------------------------------------
# Correctness


def tolerance_for(module: ModuleType, dtype: torch.dtype) -> dict[str, float]:
    """The module's tolerance for ``dtype``; for bf16 without one, twice the fp16 tolerance."""
    table = module.TOLERANCE
    if dtype in table:
        return dict(table[dtype])
    if dtype == torch.bfloat16 and torch.float16 in table:
        return {key: 2 * value for key, value in table[torch.float16].items()}
    raise KeyError(f"{module.__name__}.TOLERANCE has no entry for {dtype}")


def _as_tuple(value: Any) -> tuple[Any, ...]:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


def compare_outputs(actual: Any, expected: Any, tolerance: dict[str, float]) -> dict[str, Any]:
    """Kernel outputs against fp32 reference outputs, in fp32 (fp64 for integer outputs).

    Returns ``ok``, ``max_abs_err``, ``max_rel_err`` (max abs error / max |ref|), ``nonfinite``
    (values that are NaN/inf where the reference is finite) and a ``message`` when not ok.
    """
    got_items, want_items = _as_tuple(actual), _as_tuple(expected)
    if len(got_items) != len(want_items):
        return {"ok": False, "max_abs_err": None, "max_rel_err": None, "nonfinite": 0,
                "message": f"{len(got_items)} outputs, expected {len(want_items)}"}
    ok, worst_abs, worst_rel, nonfinite, messages = True, 0.0, 0.0, 0, []
    for position, (got, want) in enumerate(zip(got_items, want_items)):
        if not isinstance(got, torch.Tensor) or got.shape != want.shape:
            shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
            ok = False
            messages.append(f"output {position}: got {shape}, expected {tuple(want.shape)}")
            continue
        if got.is_floating_point() != want.is_floating_point():
            ok = False
            messages.append(f"output {position}: dtype {got.dtype}, expected like {want.dtype}")
            continue
        work = torch.float32 if want.is_floating_point() else torch.float64
        g, w = got.to(work), want.to(work)
        if g.numel() == 0:
            continue
        bad = int((~torch.isfinite(g) & torch.isfinite(w)).sum())
        diff = (g - w).abs()
        diff = torch.where(torch.isfinite(diff), diff, torch.zeros_like(diff))
        max_abs = float(diff.max())
        w_abs = w.abs()
        scale = float(torch.where(torch.isfinite(w_abs), w_abs, torch.zeros_like(w_abs)).max())
        max_rel = max_abs / scale if scale > 0 else (0.0 if max_abs == 0 else math.inf)
        close = bool(torch.isclose(g, w, rtol=tolerance["rtol"], atol=tolerance["atol"], equal_nan=True).all())
        worst_abs, worst_rel, nonfinite = max(worst_abs, max_abs), max(worst_rel, max_rel), nonfinite + bad
        if bad or not close:
            ok = False
            messages.append(f"output {position}: {bad} non-finite, max abs err {max_abs:.3g} "
                            f"(rtol {tolerance['rtol']}, atol {tolerance['atol']})")
    return {"ok": ok, "max_abs_err": worst_abs, "max_rel_err": worst_rel, "nonfinite": nonfinite,
            "message": "; ".join(messages)}


# ------------------------------------------------------------------------------------------------
# One case


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _size_name(size: Sequence[Any]) -> str:
    return "x".join(str(part) for part in size)


def _tensor_bytes(values: Sequence[Any]) -> int:
    return sum(v.numel() * v.element_size() for v in values if isinstance(v, torch.Tensor))


def _upcast(args: Sequence[Any]) -> tuple[Any, ...]:
    return tuple(a.float() if isinstance(a, torch.Tensor) and a.is_floating_point() else a for a in args)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"[:300]


def gpu_dtype(module: ModuleType, size: Sequence[Any]) -> torch.dtype:
    """bf16, unless the size names a dtype or the module sets ``GPU_DTYPE``."""
    named = [part for part in size if isinstance(part, torch.dtype)]
    return named[0] if named else getattr(module, "GPU_DTYPE", torch.bfloat16)


class Bench:
    """Runs cases on one device and keeps what cases share: the timer, baselines, baseline timings."""

    def __init__(self, device: torch.device, timer: Timer, baselines: dict[str, Any], with_compile: bool) -> None:
        self.device, self.timer, self.baselines, self.with_compile = device, timer, baselines, with_compile
        self._baseline_times: dict[tuple, dict[str, Any]] = {}
        self._compiled: dict[int, Callable[..., Any]] = {}

    def _baseline(self, key: tuple, fn: Callable[..., Any], args: Sequence[Any]) -> dict[str, Any]:
        """Median time of ``fn(*args)``, once per key; an error is returned as ``{"error": ...}``."""
        if key not in self._baseline_times:
            try:
                self._baseline_times[key] = _timing(self.timer, lambda: fn(*args))
            except Exception as exc:  # noqa: BLE001 - a failing baseline is reported, not fatal
                self._baseline_times[key] = {"error": _first_line(exc)}
        return self._baseline_times[key]

    def _compiled_reference(self, reference: Callable[..., Any]) -> Callable[..., Any]:
        if id(reference) not in self._compiled:
            self._compiled[id(reference)] = torch.compile(reference)
        return self._compiled[id(reference)]

    def run_kernel(self, module_name: str, kernel_name: str, size: Sequence[Any], args: Sequence[Any]) -> dict:
        """Checks and times one kernel on ``args``; compile or run errors propagate, tagged with ``stage``."""
        module = GALLERY[module_name]
        reference = reference_for(module, kernel_name)
        dtype = next(a.dtype for a in args if isinstance(a, torch.Tensor) and a.is_floating_point())
        row: dict[str, Any] = {"dtype": _dtype_name(dtype)}
        stage = "compile"
        try:
            start = time.perf_counter()
            bound = module.KERNELS[kernel_name].bind(args)
            config = bound.config_space.default()
            fn = bound.compile_config(config)
            row.update(config=dict(config), codegen_s=round(time.perf_counter() - start, 3))
            stage = "run"
            start = time.perf_counter()
            actual = fn(*args)
            self._sync()
            row["first_call_s"] = round(time.perf_counter() - start, 3)
            stage = "check"
            expected = reference(*_upcast(args))
            tolerance = tolerance_for(module, dtype)
            row.update(tolerance=tolerance, **compare_outputs(actual, expected, tolerance))
            row["bytes"] = _tensor_bytes(args) + _tensor_bytes(_as_tuple(actual))
            del actual, expected
            stage = "time"
            kernel_time = _timing(self.timer, lambda: fn(*args))
        except Exception as exc:
            compile_like = {cls.__name__ for cls in type(exc).__mro__} & COMPILE_ERRORS
            exc.stage = "compile" if compile_like else stage  # type: ignore[attr-defined]
            raise
        row.update(time_ms=kernel_time["ms"], min_ms=kernel_time["min_ms"], host_ms=kernel_time["host_ms"],
                   times_ms=kernel_time["times_ms"])
        key = (module_name, tuple(map(str, size)), row["dtype"])
        self._add_baseline(row, "eager", self._baseline(("eager", id(reference), *key), reference, args))
        if kernel_name in PLAIN_TORCH:
            plain = PLAIN_TORCH[kernel_name]
            self._add_baseline(row, "torch", self._baseline(("torch", id(plain), *key), plain, args))
        if self.with_compile:
            compiled = self._compiled_reference(reference)
            self._add_baseline(row, "compiled", self._baseline(("compiled", id(reference), *key), compiled, args))
        self._add_roofline(row, module_name, kernel_name, size, args)
        return row

    @staticmethod
    def _add_baseline(row: dict, name: str, timing: dict[str, Any]) -> None:
        if "error" in timing:
            row[f"{name}_error"] = timing["error"]
            return
        row[f"{name}_ms"], row[f"{name}_host_ms"] = timing["ms"], timing["host_ms"]
        row[f"speedup_vs_{name}"] = timing["ms"] / row["time_ms"]

    def _add_roofline(self, row: dict, module_name: str, kernel_name: str, size: Sequence[Any],
                      args: Sequence[Any]) -> None:
        seconds = row["time_ms"] * 1e-3
        row["gbps"] = row["bytes"] / seconds / 1e9
        count_flops = getattr(GALLERY[module_name], "flops", None)  # compute-bound modules say how many
        if module_name in MATMUL_MODULES or count_flops is not None:
            x, y = args[0], args[1]
            # [b,] m, k times n
            row["flops"] = count_flops(size, kernel_name) if count_flops else 2 * x.numel() * y.shape[-1]
            row["tflops"] = row["flops"] / seconds / 1e12
            if "matmul_tflops" in self.baselines:
                row["frac_matmul_baseline"] = row["tflops"] / self.baselines["matmul_tflops"]
        else:
            row["frac_copy_bw"] = row["gbps"] / self.baselines["copy_gbps"]

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize()

    def device_usable(self) -> bool:
        """False once the CUDA context is broken (every later call would fail too)."""
        if self.device.type != "cuda":
            return True
        try:
            torch.cuda.synchronize()
            return float(torch.ones(1, device=self.device).sum()) == 1.0
        except Exception:  # noqa: BLE001
            return False


def _error_row(exc: BaseException) -> dict[str, Any]:
    return {"status": "error", "stage": getattr(exc, "stage", "other"), "error": _first_line(exc),
            "traceback": traceback.format_exc(limit=-8)}


def run_case(bench: Bench, module_name: str, kernel_name: str, size: Sequence[Any], dtype: torch.dtype,
             inputs: Callable[[torch.dtype], tuple]) -> dict[str, Any]:
    """One row: the kernel in ``dtype``, or in fp16 when bf16 fails to compile or run."""
    base = {"module": module_name, "kernel": kernel_name, "size": list(size)}
    try:
        args = inputs(dtype)
    except MemoryError as exc:
        return {**base, "dtype": _dtype_name(dtype), "status": "skipped", "reason": str(exc)}
    try:
        return {**base, "status": "ok", **bench.run_kernel(module_name, kernel_name, size, args)}
    except Exception as exc:  # noqa: BLE001 - every failure is a row of the table
        failed = {**base, "dtype": _dtype_name(dtype), **_error_row(exc)}
        if dtype != torch.bfloat16 or getattr(exc, "stage", None) not in ("compile", "run") \
                or not bench.device_usable():
            return failed
    try:
        del args
        row = bench.run_kernel(module_name, kernel_name, size, inputs(torch.float16))
        return {**base, "status": "ok", **row, "note": f"bf16 failed ({failed['error']}); fp16 used"}
    except Exception as exc:  # noqa: BLE001
        return {**failed, "note": f"fp16 also failed: {_first_line(exc)}"}


# ------------------------------------------------------------------------------------------------
# Output


def _fmt(value: Any, spec: str) -> str:
    return "-" if value is None or (isinstance(value, float) and not math.isfinite(value)) else format(value, spec)


def _roofline(row: dict) -> str:
    if "frac_matmul_baseline" in row:
        return f"{row['frac_matmul_baseline']:.2f} of cuBLAS ({row['tflops']:.0f} TFLOP/s)"
    if "frac_copy_bw" in row:
        return f"{row['frac_copy_bw']:.2f} of copy BW ({row['gbps']:.0f} GB/s)"
    return "-"


def format_table(rows: list[dict], with_compile: bool) -> str:
    """The markdown table, one row per (kernel, size)."""
    head = ["kernel", "size", "dtype", "max abs err", "max rel err", "ok", "time ms", "host ms", "eager ms",
            "vs eager", "torch ms", "vs torch"] + (["compiled ms", "vs compiled"] if with_compile else []) \
        + ["roofline", "note"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        if r["status"] != "ok":
            ok = "skipped" if r["status"] == "skipped" else f"ERROR ({r.get('stage')})"
            note = r.get("error") or r.get("reason", "")
            cells = [r["kernel"], _size_name(r["size"]), r.get("dtype", "-"), "-", "-", ok]
            cells += ["-"] * (len(head) - len(cells) - 1) + [(note + "; " + r.get("note", "")).strip("; ")]
        else:
            ok = "yes" if r["ok"] else f"FAIL ({r['nonfinite']} non-finite)" if r["nonfinite"] else "FAIL"
            cells = [r["kernel"], _size_name(r["size"]), r["dtype"], _fmt(r["max_abs_err"], ".2e"),
                     _fmt(r["max_rel_err"], ".2e"), ok, _fmt(r["time_ms"], ".4f"), _fmt(r.get("host_ms"), ".3f"),
                     _fmt(r.get("eager_ms"), ".4f"),
                     _fmt(r.get("speedup_vs_eager"), ".2f"), _fmt(r.get("torch_ms"), ".4f"),
                     _fmt(r.get("speedup_vs_torch"), ".2f")]
            if with_compile:
                cells += [_fmt(r.get("compiled_ms"), ".4f"), _fmt(r.get("speedup_vs_compiled"), ".2f")]
            notes = [r.get("note", ""), r.get("message", "")] + [f"{k}: {r[k]}" for k in r if k.endswith("_error")]
            cells += [_roofline(r), "; ".join(n for n in notes if n)]
        lines.append("| " + " | ".join(str(c).replace("|", "/") for c in cells) + " |")
    return "\n".join(lines)


def format_report(meta: dict, baselines: dict, rows: list[dict], with_compile: bool) -> str:
    """Title, provenance, same-run baselines, the table and a one-line summary."""
    lines = [f"# Gallery kernels, default configs, on {meta['device']}", "",
             f"{meta['date']}; torch {meta['torch']}, triton {meta['triton']}, python {meta['python']}"
             + (f", CUDA {meta['cuda']}" if meta.get("cuda") else "") + (f", commit {meta['commit']}"
                                                                        if meta.get("commit") else ""), "",
             f"Same-run baselines: copy {baselines['copy_gbps']:.0f} GB/s (bytes read + written, "
             f"{baselines['copy_bytes'] // 2**20} MiB)"]
    if "matmul_tflops" in baselines:
        lines[-1] += (f"; matmul {baselines['matmul_dtype']} {baselines['matmul_size']}^3: "
                      f"{baselines['matmul_tflops']:.1f} TFLOP/s")
    lines += [f"Times: median of {meta['repeats']} after {meta['warmup']} warm-up calls, "
              + ("CUDA events around the call only, after a 256 MB L2 flush and a spin kernel that lets the "
                 "launch queue up (GPU time, launch overhead excluded); host ms = CPU time to launch one call."
                 if meta["timer"] == "cuda_events" else "host clock."),
              "eager = the module's reference on the same inputs (it upcasts to fp32); torch = the plain op on "
              "the low-precision inputs; roofline = bytes of all inputs + outputs / time over copy bandwidth "
              "(above 1 when a kernel skips masked-off input), or TFLOP/s over same-run cuBLAS.", "",
              format_table(rows, with_compile), ""]
    ok = sum(r["status"] == "ok" and r["ok"] for r in rows)
    lines.append(f"{ok} of {len(rows)} rows correct; {sum(r['status'] == 'error' for r in rows)} errors, "
                 f"{sum(r['status'] == 'skipped' for r in rows)} skipped; wall {meta.get('wall_s', 0):.0f} s.")
    return "\n".join(lines) + "\n"


def _json_safe(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if value is None or isinstance(value, (str, int, bool)):
        return value
    return str(value)


def write_outputs(out_dir: Path, stem: str, meta: dict, baselines: dict, rows: list[dict], with_compile: bool) -> None:
    """``<stem>.md`` (the report) and ``<stem>.json`` (meta, baselines, rows) in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{stem}.md").write_text(format_report(meta, baselines, rows, with_compile))
    payload = {"meta": meta, "baselines": baselines, "rows": rows}
    (out_dir / f"{stem}.json").write_text(json.dumps(_json_safe(payload), indent=1) + "\n")


def environment(device: torch.device) -> dict[str, Any]:
    """Device name, versions, date and (if available) the git commit."""
    import triton

    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                timeout=5, cwd=Path(__file__).resolve().parent).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({platform.machine()})",
            "torch": torch.__version__, "triton": triton.__version__, "python": platform.python_version(),
            "cuda": torch.version.cuda if device.type == "cuda" else None, "commit": commit,
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "tf32_matmul": torch.backends.cuda.matmul.allow_tf32}


# ------------------------------------------------------------------------------------------------
# Driver


def select_cases(names: Sequence[str] | None, all_sizes: bool) -> list[tuple[str, list[str], tuple]]:
    """``(module, kernels, size)`` per module and GPU size; ``names`` filters by module or kernel name."""
    cases = []
    for module_name in GALLERY_NAMES:
        module = GALLERY[module_name]
        kernels = [k for k in module.KERNELS if names is None or module_name in names or k in names]
        for size in (module.GPU_SIZES if all_sizes else module.GPU_SIZES[:1]) if kernels else []:
            cases.append((module_name, kernels, tuple(size)))
    return cases


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("experiments/data"), help="output folder")
    parser.add_argument("--all-sizes", action="store_true", help="every GPU_SIZES entry, not only the first")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile(reference)")
    parser.add_argument("--kernels", default=None, help="comma-separated module or kernel names (default: all)")
    parser.add_argument("--repeats", type=int, default=50, help="timed repeats per measurement (median)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed calls before the repeats")
    parser.add_argument("--max-seconds", type=float, default=270.0, help="skip the cases left after this")
    parser.add_argument("--smoke", action="store_true", help="add at a small fp32 size on CPU (interpreter)")
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    if args.smoke:
        device, stem = torch.device("cpu"), "gallery_gpu_smoke"
        module_name, kernel_name, size = SMOKE_CASE
        cases, repeats, warmup = [(module_name, [kernel_name], size)], min(args.repeats, 5), min(args.warmup, 2)
    else:
        names = set(args.kernels.split(",")) if args.kernels else None
        known = {name for module_name in GALLERY_NAMES for name in (module_name, *GALLERY[module_name].KERNELS)}
        if names and names - known:
            parser.error(f"unknown --kernels {sorted(names - known)}; known: {', '.join(sorted(known))}")
        if not torch.cuda.is_available():
            parser.error("no CUDA device here: use --smoke")
        device, stem = torch.device("cuda"), "gallery_gpu"
        cases, repeats, warmup = select_cases(names, args.all_sizes), args.repeats, args.warmup
    meta = {**environment(device), "repeats": repeats, "warmup": warmup, "argv": sys.argv[1:],
            "timer": "cuda_events" if device.type == "cuda" else "perf_counter"}
    print(f"{meta['device']}; torch {meta['torch']}, triton {meta['triton']}; {meta['date']}", flush=True)
    timer = Timer(device, repeats, warmup)
    with_matmul = args.smoke or any(module_name in MATMUL_MODULES or hasattr(GALLERY[module_name], "flops")
                                    for module_name, _, _ in cases)
    baselines = measure_baselines(timer, device, with_matmul)
    print(f"copy {baselines['copy_gbps']:.0f} GB/s" + (f", matmul {baselines['matmul_tflops']:.1f} TFLOP/s"
                                                        if with_matmul else ""), flush=True)
    bench = Bench(device, timer, baselines, args.compile)
    rows: list[dict] = []
    skip_reason = None
    total = sum(len(kernels) for _, kernels, _ in cases)
    for module_name, kernels, size in cases:
        module = GALLERY[module_name]
        dtype = torch.float32 if args.smoke else gpu_dtype(module, size)
        seed = stable_seed(module_name, size, "gallery_gpu")
        generated: dict[torch.dtype, tuple] = {}

        def inputs(want: torch.dtype) -> tuple:
            if want not in generated:
                generated.clear()  # at most one dtype's inputs on the device at a time
                cpu_args = make_inputs(module, size, want, "cpu", seed)
                needed = MEMORY_FACTOR * _tensor_bytes(cpu_args)
                if device.type == "cuda" and needed > torch.cuda.mem_get_info(device)[0]:
                    raise MemoryError(f"needs about {needed / 2**30:.1f} GiB of GPU memory")
                generated[want] = tuple(a.to(device) if isinstance(a, torch.Tensor) else a for a in cpu_args)
            return generated[want]

        for kernel_name in kernels:
            if skip_reason is None and time.perf_counter() - t0 > args.max_seconds:
                skip_reason = f"over --max-seconds {args.max_seconds:.0f}"
            if skip_reason:
                row = {"module": module_name, "kernel": kernel_name, "size": list(size), "status": "skipped",
                       "reason": skip_reason}
            else:
                row = run_case(bench, module_name, kernel_name, size, dtype, inputs)
                if row["status"] == "error" and not bench.device_usable():
                    skip_reason = f"CUDA context lost after {kernel_name}"
            rows.append(row)
            status = row["status"] if row["status"] != "ok" else ("ok" if row["ok"] else "FAIL")
            detail = (f"{row['time_ms']:.4f} ms, {_roofline(row)}" if "time_ms" in row
                      else row.get("error") or row.get("reason", ""))
            print(f"[{len(rows)}/{total}] {kernel_name} {_size_name(size)} {row.get('dtype', '')}: {status} {detail}",
                  flush=True)
            meta["wall_s"] = round(time.perf_counter() - t0, 1)
            write_outputs(args.out, stem, meta, baselines, rows, args.compile)
        generated.clear()
        if device.type == "cuda" and skip_reason is None:
            torch.cuda.empty_cache()
    meta["wall_s"] = round(time.perf_counter() - t0, 1)
    write_outputs(args.out, stem, meta, baselines, rows, args.compile)
    print("\n" + format_report(meta, baselines, rows, args.compile), flush=True)
    print(f"wrote {args.out / (stem + '.md')} and {args.out / (stem + '.json')}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
