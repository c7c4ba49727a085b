"""Trial records (DESIGN.md, "Trial records"): one JSON object per measured config, JSONL on disk."""

from __future__ import annotations

import gzip
import json
import math
import os
import warnings
from typing import Any, Iterable, Mapping

from search.outcomes import Observation

#: Fields every record written by `make_record` has (others, such as "device", come from context).
RECORD_FIELDS = ("kernel", "space_fingerprint", "strategy", "seed", "trial", "config", "status",
                 "time_ms", "times_ms", "compile_s", "elapsed_s")


def make_record(*, config: Mapping[str, Any], observation: Observation, trial: int, elapsed_s: float,
                kernel: str | None = None, space_fingerprint: str | None = None, strategy: str | None = None,
                seed: int | None = None, context: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """One trial record. `context` adds fields such as source_hash, key, device and versions."""
    record: dict[str, Any] = dict(context or {})
    record.update({
        "kernel": kernel, "space_fingerprint": space_fingerprint, "strategy": strategy, "seed": seed,
        "trial": trial, "config": dict(config), "status": observation.status,
        "time_ms": observation.time_ms,
        "times_ms": None if observation.times_ms is None else list(observation.times_ms),
        "compile_s": observation.compile_s, "elapsed_s": elapsed_s,
    })
    if observation.resources is not None:
        record["resources"] = dict(observation.resources)
    if observation.message:
        record["message"] = observation.message
    return record


def _json_safe(value: Any) -> Any:
    """Non-finite floats become None so every line is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def record_line(record: Mapping[str, Any]) -> str:
    """One record as a compact line of strict JSON (non-finite floats become null), with newline."""
    return json.dumps(_json_safe(dict(record)), separators=(",", ":")) + "\n"


def write_records(path: str | os.PathLike, records: Iterable[Mapping[str, Any]], *, append: bool = False) -> int:
    """Write records as JSON lines (append with `append=True`); returns how many were written."""
    count = 0
    with open(path, "a" if append else "w", encoding="utf-8") as f:
        for record in records:
            f.write(record_line(record))
            count += 1
    return count


def load_records(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Records from a JSONL file (gzipped when its name ends in ``.gz``); a bad line (not JSON, or
    not an object) is skipped with a warning."""
    records = []
    opener = gzip.open if os.fspath(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                warnings.warn(f"{path}:{number}: skipped a line that is not JSON ({error.msg})", stacklevel=2)
                continue
            if not isinstance(record, dict):
                warnings.warn(f"{path}:{number}: skipped a line that is not a JSON object", stacklevel=2)
                continue
            records.append(record)
    return records
