"""Trial records -> workloads -> training tables (DESIGN.md, "Trial records").

A *workload* is one kernel at one specialization on one device: the records' ``kernel``, ``key``
(shapes and dtypes, or whatever the writer put there) and ``device``. Every record is kept:
failures carry their ``status`` as a label and are counted (`Dataset.status_counts`), records
without a config are counted as ``no_config`` (nothing to featurize).

Targets are normalised within each workload, so kernels of very different speeds share one scale:
``ratio`` = best time / time in (0, 1] (1 = the workload's best), ``log_ratio`` = log(ratio) <= 0,
``log_time`` = log(time in ms). Failures have NaN targets.

    ds = load_dataset(["experiments/data/autotune_engine_h200", "experiments/data/records"])
    ds.summary()      # workloads, records, statuses
"""

from __future__ import annotations

import gzip
import json
import math
import os
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

import numpy as np

#: File name endings read as trial records.
RECORD_SUFFIXES = (".jsonl", ".jsonl.gz")
#: The status of a measured config.
OK = "ok"


def _open_text(path: Path):
    if path.name.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")


def read_jsonl(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The JSON objects of a plain or gzipped JSONL file; a bad line is skipped with a warning."""
    path = Path(path)
    out = []
    with _open_text(path) as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as error:
                warnings.warn(f"{path}:{number}: skipped a line that is not JSON ({error.msg})", stacklevel=2)
                continue
            if isinstance(item, dict):
                out.append(item)
            else:
                warnings.warn(f"{path}:{number}: skipped a line that is not a JSON object", stacklevel=2)
    return out


def record_files(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Record files named by `paths`: files as given, folders searched recursively, sorted."""
    files: list[Path] = []
    for item in paths:
        p = Path(item)
        if p.is_dir():
            files.extend(sorted(f for f in p.rglob("*") if f.is_file() and f.name.endswith(RECORD_SUFFIXES)))
        elif p.is_file():
            files.append(p)
        else:
            raise FileNotFoundError(f"no record file or folder at {p}")
    return files


def space_json_for(path: Path) -> dict[str, Any] | None:
    """The `search.Space` JSON beside a record file (``X.jsonl`` -> ``X.space.json``), if any."""
    stem = path.name
    for suffix in RECORD_SUFFIXES[::-1]:
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    candidate = path.with_name(stem + ".space.json")
    if candidate.is_file():
        with open(candidate, encoding="utf-8") as f:
            return json.load(f)
    return None


def load_records(paths: str | os.PathLike | Sequence[str | os.PathLike]) -> list[dict[str, Any]]:
    """Every record of the files and folders in `paths`; a space JSON beside a file is attached
    to each of its records as ``_space`` (a dict, not written back)."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    records = []
    for file in record_files(paths):
        space = space_json_for(file)
        for record in read_jsonl(file):
            record.setdefault("_source", str(file))
            if space is not None:
                record["_space"] = space
            records.append(record)
    return records


def canonical(value: Any) -> str:
    """A stable string of a JSON-able value (sorted keys, compact)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def workload_id(record: Mapping[str, Any]) -> str:
    """The workload a record belongs to: kernel + key (shapes, dtypes, ...) + device."""
    return canonical({"kernel": record.get("kernel"), "key": record.get("key"), "device": record.get("device")})


def status_of(record: Mapping[str, Any]) -> str:
    """The record's status; ``ok`` without a finite positive time counts as ``no_time``."""
    status = str(record.get("status") or "unknown")
    if status == OK and not _positive(record.get("time_ms")):
        return "no_time"
    return status


def _positive(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


@dataclass
class Workload:
    """The records of one workload, with its measured times (NaN for failures)."""

    id: str
    kernel: str
    fields: dict[str, Any]
    records: list[dict[str, Any]]
    statuses: list[str]
    times: np.ndarray

    @property
    def ok(self) -> np.ndarray:
        """Mask of records with a measured time."""
        return np.isfinite(self.times)

    @property
    def best(self) -> float:
        """The fastest measured time (NaN if nothing was measured)."""
        return float(np.nanmin(self.times)) if self.ok.any() else math.nan

    def targets(self, kind: str = "log_ratio") -> np.ndarray:
        """Per-record targets normalised within the workload; NaN for failures (module docstring)."""
        if kind == "log_time":
            return np.log(self.times)
        ratio = self.best / self.times
        if kind == "ratio":
            return ratio
        if kind == "log_ratio":
            return np.log(ratio)
        if kind == "percentile":  # 1 = fastest, 0 = slowest measured
            out = np.full(len(self.times), np.nan)
            ok = self.ok
            if ok.sum() > 1:
                order = np.argsort(np.argsort(self.times[ok], kind="stable"), kind="stable")
                out[ok] = 1.0 - order / (ok.sum() - 1)
            elif ok.any():
                out[ok] = 1.0
            return out
        raise ValueError(f"unknown target {kind!r}; use ratio, log_ratio, log_time or percentile")

    def top_fraction(self, fraction: float = 0.1) -> np.ndarray:
        """Mask of measured records among the fastest `fraction` of the workload (at least one)."""
        out = np.zeros(len(self.times), dtype=bool)
        ok = np.flatnonzero(self.ok)
        if len(ok):
            count = max(1, int(math.ceil(fraction * len(ok))))
            out[ok[np.argsort(self.times[ok], kind="stable")[:count]]] = True
        return out


#: Record fields that describe the workload rather than one trial.
WORKLOAD_FIELDS = ("kernel", "key", "device", "kernel_info", "source_hash", "space_fingerprint", "_space")


def workload_fields(record: Mapping[str, Any]) -> dict[str, Any]:
    """The workload-level fields of a record (what `prior_for` and features read)."""
    return {k: record[k] for k in WORKLOAD_FIELDS if k in record}


@dataclass
class Dataset:
    """Workloads of trial records; `no_config` counts records that name no config."""

    workloads: list[Workload]
    no_config: Counter = field(default_factory=Counter)

    def __iter__(self) -> Iterator[Workload]:
        return iter(self.workloads)

    def __len__(self) -> int:
        return len(self.workloads)

    @property
    def status_counts(self) -> Counter:
        """How many records ended in each status (featurizable records only)."""
        counts: Counter = Counter()
        for w in self.workloads:
            counts.update(w.statuses)
        return counts

    def kernels(self) -> list[str]:
        """The distinct kernel names, sorted."""
        return sorted({w.kernel for w in self.workloads})

    def subset(self, keep: Iterable[int]) -> Dataset:
        """The workloads at the given indices."""
        return Dataset([self.workloads[i] for i in keep], Counter())

    def records(self) -> list[dict[str, Any]]:
        """All featurizable records, workload by workload."""
        return [r for w in self.workloads for r in w.records]

    def summary(self) -> dict[str, Any]:
        """Counts: workloads, kernels, records, per status, records without a config."""
        return {"workloads": len(self.workloads), "kernels": len(self.kernels()),
                "records": sum(len(w.records) for w in self.workloads),
                "status": dict(sorted(self.status_counts.items())), "no_config": dict(self.no_config)}


def build_dataset(records: Iterable[Mapping[str, Any]], *, min_ok: int = 1) -> Dataset:
    """Group records by workload; workloads with fewer than `min_ok` measured configs are dropped
    (they have no normalising best), their records counted in ``no_config`` as ``no_best``."""
    groups: dict[str, list[dict[str, Any]]] = {}
    no_config: Counter = Counter()
    for record in records:
        if not isinstance(record.get("config"), Mapping):
            no_config[status_of(record)] += 1
            continue
        groups.setdefault(workload_id(record), []).append(dict(record))
    workloads = []
    for wid, rows in groups.items():
        statuses = [status_of(r) for r in rows]
        times = np.array([float(r["time_ms"]) if s == OK else math.nan for r, s in zip(rows, statuses)])
        if int(np.isfinite(times).sum()) < min_ok:
            no_config["no_best"] += len(rows)
            continue
        workloads.append(Workload(wid, str(rows[0].get("kernel")), workload_fields(rows[0]), rows, statuses, times))
    workloads.sort(key=lambda w: w.id)
    return Dataset(workloads, no_config)


def load_dataset(paths: str | os.PathLike | Sequence[str | os.PathLike], *, min_ok: int = 1) -> Dataset:
    """`build_dataset(load_records(paths))`."""
    return build_dataset(load_records(paths), min_ok=min_ok)
