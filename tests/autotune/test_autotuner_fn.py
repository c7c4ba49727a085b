"""The public Helion's ``autotuner_fn`` hook with ``search_algorithms`` and ``LocalAutotuneCache``."""
from __future__ import annotations

import torch

import helion
import helion.language as hl
from helion.autotuner import FiniteSearch, LocalAutotuneCache, search_algorithms

CALLS: list[str] = []


def one_generation(bound_kernel, args, **kwargs):
    CALLS.append(bound_kernel.kernel.fn.__name__)
    search = search_algorithms["PatternSearch"](bound_kernel, args, max_generations=1, initial_population=10)
    return LocalAutotuneCache(search)


def scale_kernel(**settings):
    @helion.kernel(autotuner_fn=one_generation, autotune_rebenchmark_threshold=1.0005,
                   autotune_progress=False, autotune_max_trials=3, **settings)
    def scale(x: torch.Tensor) -> torch.Tensor:
        out = torch.empty_like(x)
        for tile in hl.tile(out.size()):
            out[tile] = x[tile] * 3.0
        return out
    return scale


def test_the_hook_searches_once_and_the_cache_serves_the_next_kernel(tmp_path, monkeypatch):
    monkeypatch.setenv("HELION_CACHE_DIR", str(tmp_path))
    CALLS.clear()
    x = torch.randn(48, 40)
    torch.testing.assert_close(scale_kernel()(x), x * 3.0)
    assert CALLS == ["scale"] and list(tmp_path.rglob("*.json"))
    torch.testing.assert_close(scale_kernel()(x), x * 3.0)  # a new kernel object: the hook's cache hits
    assert CALLS == ["scale", "scale"] and len(list(tmp_path.rglob("*.json"))) == 1


def test_effort_none_skips_the_hook(tmp_path, monkeypatch):
    monkeypatch.setenv("HELION_CACHE_DIR", str(tmp_path))
    CALLS.clear()
    x = torch.randn(16, 16)
    torch.testing.assert_close(scale_kernel(autotune_effort="none")(x), x * 3.0)
    assert CALLS == []


def test_finite_search_picks_among_the_given_configs(tmp_path, monkeypatch):
    monkeypatch.setenv("HELION_CACHE_DIR", str(tmp_path))
    given = [helion.Config(block_sizes=[8, 8]), helion.Config(block_sizes=[16, 16])]

    @helion.kernel(autotuner_fn=lambda bound, args: FiniteSearch(bound, args, configs=given),
                   autotune_progress=False)
    def neg(x: torch.Tensor) -> torch.Tensor:
        out = torch.empty_like(x)
        for tile in hl.tile(out.size()):
            out[tile] = -x[tile]
        return out

    x = torch.randn(32, 32)
    torch.testing.assert_close(neg(x), -x)
    assert neg.bind((x,)).choose_config((x,))["block_sizes"] in ([8, 8], [16, 16])
