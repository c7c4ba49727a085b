"""Ranking metrics of a cost model, per workload and summarised.

For one workload, `scores` (higher = predicted faster) and measured `times` (ms; NaN/inf for a
failed config, which counts as infinitely slow when picked):

* ``tau``: Kendall's tau-b between the scores and -time over the measured configs (1 = same order);
* ``regret@k``: best time among the model's k top-scored configs / the workload's best time
  (1.0 = the model's top k hold the best; inf if all k failed);
* ``hit10@k``: regret@k <= 1.1 (a config within 10% of the best among the top k);
* ``recall10``: the share of the fastest 10% (at least one config) found in the model's top 10%.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping

import numpy as np
from scipy.stats import kendalltau

METRIC_NAMES = ("tau", "regret@1", "regret@5", "hit10@1", "hit10@5", "recall10")


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k highest scores (ties broken by position, stable)."""
    return np.argsort(-scores, kind="stable")[:k]


def regret_at(scores: np.ndarray, times: np.ndarray, k: int) -> float:
    """Best time among the top-k scored / best measured time (inf if none of the k was measured)."""
    times = np.where(np.isfinite(times), times, np.inf)
    best = times.min()
    if not math.isfinite(best):
        return math.nan
    return float(times[_top(scores, k)].min() / best)


def recall_top_fraction(scores: np.ndarray, times: np.ndarray, fraction: float = 0.1) -> float:
    """Share of the measured fastest `fraction` that the model's top `fraction` contains."""
    ok = np.flatnonzero(np.isfinite(times))
    if not len(ok):
        return math.nan
    count = max(1, int(math.ceil(fraction * len(ok))))
    actual = set(ok[np.argsort(times[ok], kind="stable")[:count]].tolist())
    picked = set(_top(scores, max(1, int(math.ceil(fraction * len(times))))).tolist())
    return len(actual & picked) / len(actual)


def workload_metrics(scores: Any, times: Any) -> dict[str, float]:
    """The `METRIC_NAMES` for one workload (module docstring)."""
    scores = np.asarray(scores, dtype=float)
    times = np.asarray(times, dtype=float)
    if scores.shape != times.shape:
        raise ValueError(f"{len(scores)} scores for {len(times)} times")
    ok = np.isfinite(times)
    tau = math.nan
    if ok.sum() >= 2 and np.ptp(times[ok]) > 0:
        tau = float(kendalltau(scores[ok], -times[ok]).statistic) if np.ptp(scores[ok]) > 0 else 0.0
    r1, r5 = regret_at(scores, times, 1), regret_at(scores, times, 5)
    return {"tau": tau, "regret@1": r1, "regret@5": r5, "hit10@1": float(r1 <= 1.1), "hit10@5": float(r5 <= 1.1),
            "recall10": recall_top_fraction(scores, times)}


def summarize(rows: Iterable[Mapping[str, float]]) -> dict[str, float]:
    """Means over workloads (NaN entries skipped; regrets as geometric means, inf kept as inf)."""
    rows = list(rows)
    out: dict[str, float] = {"workloads": float(len(rows))}
    for name in METRIC_NAMES:
        values = np.array([r[name] for r in rows if name in r and not math.isnan(r[name])], dtype=float)
        if not len(values):
            out[name] = math.nan
        elif name.startswith("regret"):
            out[name] = float(np.exp(np.mean(np.log(values)))) if np.all(np.isfinite(values)) else math.inf
        else:
            out[name] = float(values.mean())
    return out


def markdown_table(rows: list[Mapping[str, Any]], columns: Iterable[str]) -> str:
    """A markdown table of `rows` (dicts) with `columns`; floats to 3 decimals."""
    columns = list(columns)

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return "nan" if math.isnan(value) else ("inf" if math.isinf(value) else f"{value:.3f}")
        return str(value)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def rank_plot(points: list[tuple[np.ndarray, np.ndarray]], path: str, title: str = "") -> bool:
    """Scatter of predicted vs measured rank (as fractions of each workload) to a PNG; False (and
    nothing written) when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, ax = plt.subplots(figsize=(5, 5))
    for scores, times in points:
        ok = np.isfinite(times)
        if ok.sum() < 2:
            continue
        n = ok.sum() - 1
        predicted = np.argsort(np.argsort(-scores[ok], kind="stable"), kind="stable") / n
        measured = np.argsort(np.argsort(times[ok], kind="stable"), kind="stable") / n
        ax.scatter(measured, predicted, s=2, alpha=0.3)
    ax.set_xlabel("measured rank (0 = fastest)")
    ax.set_ylabel("predicted rank (0 = predicted fastest)")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True
