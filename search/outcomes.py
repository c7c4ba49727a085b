"""What an objective returns for one config, and its normalized form `Observation`.

An outcome is a time in ms (float), a `Measurement` (time plus details for the trial record), a
`Failure(kind)`, or a failure kind as a string. NaN, infinite and negative times become
`runtime_error` failures, so strategies never see them as times.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence, Union

import numpy as np

#: The failure kinds of DESIGN.md; a trial record's status is "ok" or one of these.
FAILURE_KINDS = ("compile_error", "runtime_error", "timeout", "inaccurate", "invalid")


class _Deferred:
    """The type of `DEFERRED`."""

    def __repr__(self) -> str:
        return "search.DEFERRED"


#: What a pipelined objective's ``collect`` answers for a config it cannot answer yet (a slow
#: compile): the driver asks ``resume(handle, positions)`` for a handle to those configs and
#: collects it once ``ready(handle)`` says so (or when nothing else is in flight).
DEFERRED = _Deferred()


@dataclass(frozen=True)
class Failure:
    """A config that produced no time: `kind` is one of FAILURE_KINDS; `message` is free text."""

    kind: str
    message: str = ""

    def __post_init__(self) -> None:
        if self.kind not in FAILURE_KINDS:
            raise ValueError(f"unknown failure kind {self.kind!r}; use one of {list(FAILURE_KINDS)}")


@dataclass(frozen=True)
class Measurement:
    """A measured time in ms with optional details recorded in the trial record."""

    time_ms: float
    times_ms: Sequence[float] | None = None
    compile_s: float | None = None
    resources: Mapping[str, Any] | None = None


Outcome = Union[float, int, Measurement, Failure, str]


@dataclass(frozen=True)
class Observation:
    """A normalized outcome: status "ok" with a finite time, or a failure kind without one."""

    status: str
    time_ms: float | None = None
    times_ms: tuple[float, ...] | None = None
    compile_s: float | None = None
    resources: Mapping[str, Any] | None = None
    message: str = ""

    @property
    def ok(self) -> bool:
        """True if the config was measured."""
        return self.status == "ok"

    def as_outcome(self) -> float | Failure:
        """The plain outcome (time or Failure) that strategies accept in `tell`."""
        return self.time_ms if self.ok else Failure(self.status, self.message)


def _time_or_failure(time_ms: Any, **details: Any) -> Observation:
    time_ms = float(time_ms)
    if not math.isfinite(time_ms) or time_ms < 0:
        message = f"objective reported the time {time_ms} ms"
        return Observation("runtime_error", compile_s=details.get("compile_s"), message=message)
    return Observation("ok", time_ms, **details)


def observe(outcome: Outcome) -> Observation:
    """Normalize one outcome; raises TypeError for anything that is not an outcome."""
    if isinstance(outcome, Observation):
        return outcome
    if isinstance(outcome, Failure):
        return Observation(outcome.kind, message=outcome.message)
    if isinstance(outcome, str):
        return observe(Failure(outcome))
    if isinstance(outcome, Measurement):
        times = None if outcome.times_ms is None else tuple(float(t) for t in outcome.times_ms)
        compile_s = None if outcome.compile_s is None else float(outcome.compile_s)
        resources = None if outcome.resources is None else dict(outcome.resources)
        return _time_or_failure(outcome.time_ms, times_ms=times, compile_s=compile_s, resources=resources)
    if isinstance(outcome, (int, float, np.integer, np.floating)) and not isinstance(outcome, (bool, np.bool_)):
        return _time_or_failure(outcome)
    raise TypeError(f"an outcome must be a time in ms, a search.Measurement, a search.Failure or a failure "
                    f"kind {list(FAILURE_KINDS)}; got {outcome!r} ({type(outcome).__name__})")
