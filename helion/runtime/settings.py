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


@dataclasses.dataclass
class Settings:
    """Settings of a kernel. Unset fields take their value from the environment."""

    static_shapes: bool = True
    autotune_strategy: Any = dataclasses.field(
        default_factory=lambda: os.environ.get("HELION_AUTOTUNE_STRATEGY", "genetic"))
    autotune_max_trials: int | None = dataclasses.field(
        default_factory=lambda: _env_int("HELION_AUTOTUNE_MAX_TRIALS"))
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

    @classmethod
    def field_names(cls) -> set[str]:
        return {f.name for f in dataclasses.fields(cls)}

    def replace(self, **changes: Any) -> "Settings":
        return dataclasses.replace(self, **changes)
