"""`ReplayObjective`: an objective that answers from recorded trial records, on a simulated clock.

Lookup rule: a config is matched exactly on its canonical form (`config_key`, after
`space.normalize` when a space is given); the first record of a config wins. A config never
recorded gets, with `missing="nearest"`, the answer of the recorded config nearest to it by
Euclidean distance between `space.encode` vectors (ties go to the earliest record), or with
`missing="invalid"` a `Failure("invalid")`. Without `space`, only exact matches work: a miss
raises ValueError under `missing="nearest"`.

Clock: each answer charges the answering record's `compile_s` (0 if unknown) plus its benchmark
time, `sum(times_ms)` or, without `times_ms`, `time_ms * repeats` (default 100 repeats), converted
to seconds. `tune` reads `clock()`, so a replayed search spends simulated time, not wall time.
"""

from __future__ import annotations

import os
import warnings
from typing import Any, Iterable, Mapping

import numpy as np

from search.errors import InvalidConfig
from search.outcomes import FAILURE_KINDS, Failure, Measurement
from search.records import load_records
from search.space import Space, config_key

#: Benchmark repeats charged per answer when a record has `time_ms` but no `times_ms`.
DEFAULT_REPEATS = 100


class ReplayObjective:
    """Answers batches of configs from recorded trial records and keeps a simulated clock."""

    def __init__(self, records: Iterable[Mapping[str, Any]] | str | os.PathLike, space: Space | None = None,
                 missing: str = "nearest", repeats: int = DEFAULT_REPEATS):
        if missing not in ("nearest", "invalid"):
            raise ValueError(f"missing={missing!r}; use 'nearest' or 'invalid'")
        if isinstance(records, (str, os.PathLike)):
            records = load_records(records)
        self.space = space
        self.missing = missing
        self.repeats = repeats
        self.records = [dict(r) for r in records if isinstance(r.get("config"), Mapping) and "status" in r]
        self._by_key: dict[tuple, int] = {}
        for i, record in enumerate(self.records):
            self._by_key.setdefault(self._key(record["config"]), i)
        self._rows, self._vectors = self._encode_records() if missing == "nearest" and space else ([], None)
        self._clock = 0.0
        self.hits = 0
        self.misses = 0

    def _key(self, config: Mapping[str, Any]) -> tuple:
        if self.space is not None:
            try:
                return config_key(self.space.normalize(config))
            except InvalidConfig:
                pass
        return config_key(config)

    def _encode_records(self) -> tuple[list[int], np.ndarray | None]:
        assert self.space is not None
        rows, vectors, skipped = [], [], 0
        for i, record in enumerate(self.records):
            try:
                vectors.append(self.space.encode(self.space.normalize(record["config"])))
                rows.append(i)
            except InvalidConfig:
                skipped += 1
        if skipped:
            warnings.warn(f"replay: {skipped} recorded configs are outside the space; nearest lookup ignores them",
                          stacklevel=3)
        return rows, (np.stack(vectors) if vectors else None)

    def clock(self) -> float:
        """Simulated seconds charged so far."""
        return self._clock

    def lookup(self, config: Mapping[str, Any]) -> dict[str, Any] | None:
        """The record that answers `config` (exact, else nearest), or None."""
        return self._find(config)[0]

    def _find(self, config: Mapping[str, Any]) -> tuple[dict[str, Any] | None, bool]:
        index = self._by_key.get(self._key(config))
        if index is not None:
            return self.records[index], True
        if self.missing != "nearest" or self._vectors is None:
            if self.missing == "nearest" and self.space is None:
                raise ValueError("replay: a config was never recorded and missing='nearest' needs space= to "
                                 "find the nearest recorded one; pass space= or missing='invalid'")
            return None, False
        try:
            vector = self.space.encode(self.space.normalize(config))
        except InvalidConfig:
            return None, False
        distances = ((self._vectors - vector) ** 2).sum(axis=1)
        return self.records[self._rows[int(np.argmin(distances))]], False

    def cost_s(self, record: Mapping[str, Any]) -> float:
        """Simulated seconds one answer from `record` costs: compile plus benchmark time."""
        compile_s = record.get("compile_s") or 0.0
        times = record.get("times_ms")
        if times:
            bench_ms = float(sum(times))
        elif record.get("time_ms") is not None:
            bench_ms = float(record["time_ms"]) * self.repeats
        else:
            bench_ms = 0.0
        return float(compile_s) + bench_ms / 1000.0

    def answer(self, config: Mapping[str, Any]) -> Measurement | Failure:
        """The recorded outcome for one config; charges the clock."""
        record, exact = self._find(config)
        self.hits += exact
        self.misses += not exact
        if record is None:
            return Failure("invalid", "no recorded config matches")
        self._clock += self.cost_s(record)
        status = record["status"]
        if status == "ok" and record.get("time_ms") is not None:
            return Measurement(float(record["time_ms"]), times_ms=record.get("times_ms"),
                               compile_s=record.get("compile_s"), resources=record.get("resources"))
        kind = status if status in FAILURE_KINDS else "runtime_error"
        return Failure(kind, f"replayed status {status!r}")

    def __call__(self, configs: list[Mapping[str, Any]]) -> list[Measurement | Failure]:
        return [self.answer(c) for c in configs]
