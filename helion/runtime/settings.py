"""Kernel settings; the one module that reads ``HELION_*`` environment variables."""
from __future__ import annotations

import dataclasses
import os
from typing import Any


def _env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    return default if value is None else value.strip().lower() in ("1", "true", "yes", "on")


def _env_int(name: str) -> int | None:
    value = os.environ.get(name)
    return int(value) if value else None


def _env_float(name: str) -> float | None:
    value = os.environ.get(name)
    return float(value) if value else None


EFFORTS = ("none", "quick", "full")


def _get_backend() -> str:
    """The code-generation backend (newer public examples branch on it): always Triton here."""
    return "triton"


def _env_warnings() -> list[type[Warning]]:
    """``HELION_IGNORE_WARNINGS=TensorOperationInWrapper,...``: names of ``helion.exc`` warnings."""
    from .. import exc
    names = [n.strip() for n in os.environ.get("HELION_IGNORE_WARNINGS", "").split(",") if n.strip()]
    found = [getattr(exc, n, None) for n in names]
    bad = [n for n, cls in zip(names, found) if not (isinstance(cls, type) and issubclass(cls, exc.HelionWarning))]
    if bad:
        raise exc.HelionError(f"HELION_IGNORE_WARNINGS names no helion.exc warning: {bad}")
    return found


@dataclasses.dataclass
class Settings:
    """Settings of a kernel. Unset fields take their value from the environment."""

    static_shapes: bool = True
    ignore_warnings: list = dataclasses.field(default_factory=_env_warnings)  # helion.exc warning classes
    autotune_strategy: Any = dataclasses.field(
        default_factory=lambda: os.environ.get("HELION_AUTOTUNE_STRATEGY", "genetic"))
    autotune_effort: str = dataclasses.field(
        default_factory=lambda: os.environ.get("HELION_AUTOTUNE_EFFORT", "quick"))
    # the cost_model strategy's prior: None (the shipped model), a pretrained name or .joblib path,
    # a cost_models.CostModel, an object with predict(configs), or "none"
    autotune_cost_model: Any = dataclasses.field(
        default_factory=lambda: os.environ.get("HELION_AUTOTUNE_COST_MODEL"))
    autotune_max_trials: int | None = dataclasses.field(
        default_factory=lambda: _env_int("HELION_AUTOTUNE_MAX_TRIALS"))
    autotune_budget_s: float | None = dataclasses.field(
        default_factory=lambda: _env_float("HELION_AUTOTUNE_BUDGET_S"))
    # compile workers: joblib backend ("loky"; "dask"/"ray" need their joblib backend registered;
    # None follows an enclosing ``joblib.parallel_config``), worker count, per-compile timeout,
    # and the target to compile for without a GPU ("sm_90"; None compiles nothing there)
    autotune_backend: str | None = dataclasses.field(
        default_factory=lambda: os.environ.get("HELION_AUTOTUNE_BACKEND"))
    autotune_precompile_jobs: int | None = dataclasses.field(
        default_factory=lambda: _env_int("HELION_AUTOTUNE_PRECOMPILE_JOBS"))
    autotune_compile_timeout: float = dataclasses.field(
        default_factory=lambda: _env_float("HELION_AUTOTUNE_COMPILE_TIMEOUT") or 60.0)
    autotune_compile_target: str | None = dataclasses.field(
        default_factory=lambda: os.environ.get("HELION_AUTOTUNE_COMPILE_TARGET"))
    autotune_benchmark_timeout: float | None = dataclasses.field(
        default_factory=lambda: _env_float("HELION_AUTOTUNE_BENCHMARK_TIMEOUT"))
    # accuracy: each candidate against the default config's outputs (or autotune_baseline_fn's)
    autotune_accuracy_check: bool = dataclasses.field(
        default_factory=lambda: _env_bool("HELION_AUTOTUNE_ACCURACY_CHECK", True))
    autotune_baseline_fn: Any = None
    # the public Helion's hook: autotuner_fn(bound_kernel, args) -> an object whose autotune()
    # returns the config (helion.autotuner.search_algorithms, LocalAutotuneCache); replaces the
    # cache lookup and search of a plain call
    autotuner_fn: Any = None
    # accepted for the public examples; the finalists here are always re-timed in turn
    autotune_rebenchmark_threshold: float | None = None
    # knob -> value forced on every config (a list shorter or longer than this kernel's knob is
    # cut or padded with its defaults; knobs this kernel lacks are ignored)
    autotune_config_overrides: dict = dataclasses.field(default_factory=dict)
    autotune_baseline_atol: float | None = None  # None: by dtype (see helion.autotune.accuracy)
    autotune_baseline_rtol: float | None = None
    force_autotune: bool = dataclasses.field(default_factory=lambda: _env_bool("HELION_FORCE_AUTOTUNE"))
    skip_cache: bool = dataclasses.field(default_factory=lambda: _env_bool("HELION_SKIP_CACHE"))
    autotune_seed: int = dataclasses.field(default_factory=lambda: _env_int("HELION_AUTOTUNE_SEED") or 0)
    autotune_log: str | None = dataclasses.field(default_factory=lambda: os.environ.get("HELION_AUTOTUNE_LOG"))
    autotune_progress: bool = dataclasses.field(
        default_factory=lambda: _env_bool("HELION_AUTOTUNE_PROGRESS", True))
    use_default_config: bool = dataclasses.field(
        default_factory=lambda: _env_bool("HELION_USE_DEFAULT_CONFIG"))
    reference_mode: bool = dataclasses.field(default_factory=lambda: _env_bool("HELION_INTERPRET"))
    print_output_code: bool = dataclasses.field(
        default_factory=lambda: _env_bool("HELION_PRINT_OUTPUT_CODE"))
    dot_precision: str = dataclasses.field(
        default_factory=lambda: os.environ.get("HELION_DOT_PRECISION", "tf32"))
    index_dtype: str | None = None  # None: int32, or int64 when a tensor has >= 2**31 elements
    cache_dir: str = dataclasses.field(default_factory=lambda: os.environ.get(
        "HELION_CACHE_DIR", os.path.join(os.path.expanduser("~"), ".cache", "helion_tiles")))

    def __post_init__(self) -> None:
        if self.autotune_effort not in EFFORTS:
            from ..exc import HelionError
            raise HelionError(f"autotune_effort={self.autotune_effort!r}: use one of {list(EFFORTS)}")

    @classmethod
    def field_names(cls) -> set[str]:
        return {f.name for f in dataclasses.fields(cls)}

    def replace(self, **changes: Any) -> "Settings":
        return dataclasses.replace(self, **changes)
