"""The kernel suite's outputs: the markdown report (tables and geomeans) and the bar chart.

Every ratio compares speedups over the eager op, each measured in its own process
(``speedup_vs_eager`` = that process's eager time / the side's time), so two sides timed in
different processes are compared through the same-process baseline: ours over X on a kernel =
ours' speedup / X's speedup. Geomeans use only the kernels where both sides ran correctly.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# (result key, column title, the seconds field shown with it)
OTHER_SIDES = [("compile", "torch.compile", "compile_s"), ("compile_max", "max-autotune-no-cudagraphs", "compile_s"),
               ("triton", "Triton (hand-written)", None), ("peer:quick", "peer quick", "tune_s"),
               ("peer:full", "peer full", "tune_s")]


def sides(strategies: Sequence[str]) -> list[tuple[str, str, str | None]]:
    """Every side of the report in column order: the baselines, the peer, ours per strategy."""
    return OTHER_SIDES + [(f"ours:{s}", f"ours {s}", "tune_s") for s in strategies]


def strategies_in(rows: dict[str, dict[str, Any]]) -> list[str]:
    """The strategies of ours that have a result, in first-seen order."""
    seen: dict[str, None] = {}
    for steps in rows.values():
        for key in steps:
            if key.startswith("ours:"):
                seen[key.split(":", 1)[1]] = None
    return list(seen)


def _ok(result: dict[str, Any] | None) -> bool:
    return bool(result) and result.get("status") == "ok" and bool(result.get("speedup_vs_eager"))


def geomean(values: Sequence[float]) -> float | None:
    values = [v for v in values if v and v > 0 and math.isfinite(v)]
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else None


def ratios(rows: dict[str, dict[str, Any]], side: str, over: str | None) -> list[float]:
    """Per kernel where both ran correctly: side's speedup over eager, divided by ``over``'s
    speedup (``over`` None: over eager itself)."""
    out = []
    for steps in rows.values():
        mine = steps.get(side)
        other = None if over is None else steps.get(over)
        if _ok(mine) and (over is None or _ok(other)):
            out.append(mine["speedup_vs_eager"] / (1.0 if over is None else other["speedup_vs_eager"]))
    return out


def geomean_table(rows: dict[str, dict[str, Any]], strategies: Sequence[str]) -> list[str]:
    """Per strategy of ours: geomean speedup over eager and over every other side (with n)."""
    others = [(None, "eager")] + [(key, title) for key, title, _ in OTHER_SIDES]
    lines = ["| ours | " + " | ".join(f"over {title}" for _, title in others) + " |", "|---" * (len(others) + 1) + "|"]
    for strategy in strategies:
        cells = []
        for key, _ in others:
            values = ratios(rows, f"ours:{strategy}", key)
            g = geomean(values)
            cells.append("-" if g is None else f"{g:.2f} (n={len(values)})")
        lines.append(f"| {strategy} | " + " | ".join(cells) + " |")
    return lines


def _fmt(value: Any, spec: str) -> str:
    return "-" if value is None or (isinstance(value, float) and not math.isfinite(value)) else format(value, spec)


def _cell(result: dict[str, Any] | None, seconds_key: str | None) -> str:
    if not result:
        return "-"
    if result.get("status") == "cut":
        return "pending (cut by the time budget)"
    if not _ok(result):
        text = (result.get("error") or result.get("status") or "?").replace("|", "/").replace("\n", " ")
        return f"{result.get('status', 'error')}: {text[:70]}"
    cell = f"{result['speedup_vs_eager']:.2f}x ({result['ms']:.4f} ms"
    if seconds_key and result.get(seconds_key) is not None:
        cell += f"; {result[seconds_key]:.1f} s"
    if result.get("peer_configs"):
        cell += f", {result['peer_configs']} configs"
    elif result.get("trials"):
        cell += f", {result['trials']} trials"
    return cell + ")"


def _roofline(result: dict[str, Any] | None) -> str:
    if not _ok(result):
        return "-"
    if "frac_cublas" in result:
        return f"{result['frac_cublas']:.2f} cuBLAS"
    return f"{result['frac_copy_bw']:.2f} BW" if "frac_copy_bw" in result else "-"


def _eager_ms(steps: dict[str, Any]) -> float | None:
    return next((r["eager_ms"] for r in steps.values() if _ok(r)), None)


def _first(steps: dict[str, Any], key: str) -> Any:
    return next((r[key] for r in steps.values() if r and r.get(key) is not None), None)


def format_report(state: dict[str, Any]) -> str:
    """The markdown report of a suite's results (``{"calls": [...], "rows": {...}}``)."""
    rows, calls = state["rows"], state.get("calls", [])
    strategies = strategies_in(rows)
    columns = sides(strategies)
    device = calls[-1]["device"] if calls else "?"
    lines = [f"# Kernel suite on {device}", ""]
    for call in calls:
        lines.append(f"- {call.get('date')}: {call.get('device')}; torch {call.get('torch')}, triton "
                     f"{call.get('triton')}, python {call.get('python')}" + (f", CUDA {call['cuda']}" if call.get(
                         "cuda") else "") + (f", commit {call['commit']}" if call.get("commit") else "")
                     + f"; wall {_fmt(call.get('wall_s'), '.0f')} s; argv: {' '.join(call.get('argv', []))}")
    peer = next((r.get("helion_version") for steps in rows.values() for k, r in steps.items()
                 if k.startswith("peer:") and r and r.get("helion_version")), None)
    if peer:
        lines.append(f"- peer: the public Helion release {peer}")
    for note in dict.fromkeys(n for call in calls for n in call.get("notes", [])):
        lines.append(f"- note: {note}")
    lines += ["", "Cells: speedup over the eager op timed in the same process (time; compile or tuning seconds, "
              "configs searched). Times: median of CUDA-event timings after an L2 flush, interleaved with the eager "
              "op (host clock on CPU). Each side ran in its own process; ours and the peer with an empty cache. "
              "Every side's output was checked against the fp32 reference first.", ""]
    head = ["kernel", "size", "dtype", "eager ms"] + [title for _, title, _ in columns]
    lines += ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for steps in rows.values():
        size = "x".join(str(p) for p in (_first(steps, "size") or []))
        lines.append("| " + " | ".join([_first(steps, "kernel") or "?", size, _first(steps, "dtype") or "-",
                                        _fmt(_eager_ms(steps), ".4f")]
                                       + [_cell(steps.get(key), secs) for key, _, secs in columns]) + " |")
    lines += ["", "## Roofline", "",
              "Fraction of the same-process copy bandwidth (bytes of inputs + outputs / time; memory-bound kernels) "
              "or of same-process cuBLAS on the same matmul (its time / the side's time).", "",
              "| kernel | " + " | ".join(title for _, title, _ in columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for steps in rows.values():
        lines.append(f"| {_first(steps, 'kernel') or '?'} | "
                     + " | ".join(_roofline(steps.get(key)) for key, _, _ in columns) + " |")
    lines += ["", "## Geomeans", "", "Ours over each side: geomean over the kernels where both ran correctly "
              "of (ours' speedup over eager) / (the side's speedup over eager).", ""]
    lines += geomean_table(rows, strategies)
    lines += ["", "Each side over eager: " + "; ".join(
        f"{title} {_fmt(geomean(ratios(rows, key, None)), '.2f')} (n={len(ratios(rows, key, None))})"
        for key, title, _ in columns), ""]
    return "\n".join(lines)


def write_plot(state: dict[str, Any], path: Path) -> str:
    """A grouped bar chart of every side's speedup over eager per kernel (log scale); returns
    what was done (matplotlib is optional: without it, no plot)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed: no plot"
    rows = state["rows"]
    columns = [(key, title) for key, title, _ in sides(strategies_in(rows))
               if any(_ok(steps.get(key)) for steps in rows.values())]
    if not rows or not columns:
        return "nothing to plot"
    names = [_first(steps, "kernel") or case for case, steps in rows.items()]
    width = 0.8 / len(columns)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.2 * len(names) + 2), 4.5))
    for i, (key, title) in enumerate(columns):
        values = [steps[key]["speedup_vs_eager"] if _ok(steps.get(key)) else math.nan for steps in rows.values()]
        ax.bar([x + (i - (len(columns) - 1) / 2) * width for x in range(len(names))], values, width, label=title)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_yscale("log")
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=30, ha="right")
    ax.set_ylabel("speedup over eager (same process)")
    device = state.get("calls", [{}])[-1].get("device", "") if state.get("calls") else ""
    ax.set_title(f"Kernel suite, {device}")
    ax.legend(fontsize="small", ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return f"wrote {path}"
