"""The first tuning loop: a serial objective (compile, run, check, time) driven by ``search.tune``.

Each candidate config is compiled and run on copies of the user's arguments; its output is compared
with the default config's, and the fastest correct config wins. On CPU the timings come from
Triton's interpreter: good enough to exercise the loop, meaningless as GPU predictions.
"""
from __future__ import annotations

import platform
import sys
import time
from typing import Any

import torch
import triton

import search

from .. import exc
from .benchmark import clone_args, outputs_match, time_ms

DEFAULT_TRIALS_GPU = 100
DEFAULT_TRIALS_CPU = 8


class SerialObjective:
    """``objective(configs) -> outcomes`` for one bound kernel and one set of arguments."""

    def __init__(self, bound: Any, args: tuple):
        self.bound = bound
        self.args = args
        self.gpu = bound.gpu
        baseline = bound.compile_config(bound.config_space.default())
        self.expected = baseline(*clone_args(args))

    def __call__(self, configs: list[dict[str, Any]]) -> list[Any]:
        return [self.evaluate(c) for c in configs]

    def evaluate(self, config: dict[str, Any]) -> Any:
        started = time.perf_counter()
        try:
            run = self.bound.compile_config(config)
        except exc.InvalidConfig:
            return search.Failure("invalid")
        except Exception:  # noqa: BLE001 - a config that does not compile is a normal outcome
            return search.Failure("compile_error")
        try:
            args = clone_args(self.args)
            actual = run(*args)  # first run also compiles on the GPU
            compile_s = time.perf_counter() - started
            if self.gpu:
                torch.cuda.synchronize()
        except Exception:  # noqa: BLE001
            return search.Failure("runtime_error")
        if not outputs_match(actual, self.expected):
            return search.Failure("inaccurate")
        median, samples = time_ms(lambda: run(*args), self.gpu)
        return search.Measurement(median, times_ms=samples, compile_s=compile_s)


def resolve_strategy(choice: Any) -> Any:
    """A strategy name, class or instance; unknown names fail with the list of known ones."""
    if isinstance(choice, str) and choice not in search.available_strategies():
        raise exc.UnknownStrategy(
            f"unknown autotune_strategy {choice!r}; known strategies: {sorted(search.available_strategies())}")
    return choice


def autotune(bound: Any, args: tuple) -> dict[str, Any]:
    """Tune ``bound`` on ``args`` with the kernel's strategy; returns the best config."""
    settings = bound.settings
    strategy = resolve_strategy(settings.autotune_strategy)
    trials = settings.autotune_max_trials or (DEFAULT_TRIALS_GPU if bound.gpu else DEFAULT_TRIALS_CPU)
    objective = SerialObjective(bound, args)
    device = torch.cuda.get_device_name(bound.device) if bound.gpu else f"cpu-interpreter ({platform.machine()})"
    context = {"device": device, "versions": {"torch": torch.__version__, "triton": triton.__version__},
               "key": bound.key_record(), "timing": "cuda_events" if bound.gpu else "interpreter_wall"}
    result = search.tune(bound.config_space, objective, strategy, search.Budget(trials=trials),
                         batch_size=1 if not bound.gpu else 4, seed=settings.autotune_seed,
                         kernel=bound.kernel.fn.__name__, log_path=settings.autotune_log, context=context,
                         progress=settings.autotune_progress)
    if result.best_config is None:
        raise exc.AutotuneError(
            f"{bound.kernel.fn.__name__}: none of {result.trials} configs compiled and matched the default "
            "config's output")
    best = dict(result.best_config)
    timing = "ms" if bound.gpu else "ms in the CPU interpreter"
    print(f"[helion] {bound.kernel.fn.__name__}: best of {result.trials} trials ({result.strategy}): "
          f"{result.best_time:.4f} {timing}; to skip tuning pass config=helion.Config(**{best!r})",
          file=sys.stderr)
    return best
