"""Property test: random configs x random shapes of every gallery kernel match the torch reference.

For each kernel (one pytest case per kernel), Hypothesis draws ``MAX_EXAMPLES`` cases, each with

- a size from :func:`experiments.kernels.random_size` (the module's ``random_size(draw)`` or one
  dimension per component of ``CONFIG_SIZE``), whose dimensions come from :class:`_Draw`: size 1,
  tiny (2-16), medium (17-256) and at most one long dimension (257-4099), biased towards odd sizes
  and sizes near a power of two (2^k - 1, 2^k, 2^k + 1); the product of the dimensions is at most
  ``MAX_ELEMENTS`` (modules lower the cap for matmul-like work);
- fp32 or fp16 (bf16 arithmetic in Triton's interpreter is not trustworthy);
- the space's default config, or ``space.sample(np.random.default_rng(seed))`` for a drawn seed,
  as in ``tests/test_gallery_configs.py`` (samples from that generator that would walk more than
  ``MAX_TILE_STEPS`` tiles are skipped: tiny blocks over a long dimension take minutes to
  interpret).

Runs are deterministic (a fixed ``@seed`` per kernel, no example database). A failure message
names the kernel, size, dtype and config dict: enough to reproduce it with ``compile_config``.
A module whose every example is slow to interpret (per-row loops over jagged data, scans) sets
``PROPERTY_EXAMPLES`` lower. ``HELION_PROPERTY_EXAMPLES=N`` runs N examples of every kernel
instead (a longer hunt for bugs).
Shrinking is off by default because every example runs the interpreter (set
``HELION_PROPERTY_SHRINK=1`` to shrink a failure to a smaller size).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, TypeVar

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, Phase, given, note, seed, settings
from hypothesis import strategies as st

from experiments.kernels import GALLERY, all_kernels, random_size, reference_for
from experiments.kernels.checking import (
    assert_inputs_unchanged,
    assert_matches,
    clone_inputs,
    make_inputs,
    stable_seed,
)

T = TypeVar("T")

MAX_EXAMPLES = 8  # per kernel, unless its module sets PROPERTY_EXAMPLES
EXAMPLES_OVERRIDE = os.environ.get("HELION_PROPERTY_EXAMPLES")
MAX_ELEMENTS = 40_000  # default cap on the product of a size's dimensions
TINY_MAX = 16
MAX_TILE_STEPS = 1024  # sampled configs walking more tiles are skipped (see _sample_affordable)
LONG_MIN, LONG_MAX = 257, 4099
# Sizes around powers of two: the boundaries where masks and block clamping matter.
NEAR_POWERS_OF_TWO = sorted({p + d for p in (2**e for e in range(2, 13)) for d in (-1, 0, 1)})


class _Draw:
    """The :class:`experiments.kernels.SizeDraw` backed by Hypothesis' interactive ``data``."""

    def __init__(self, data: st.DataObject) -> None:
        self.data = data

    def choice(self, options: Sequence[T]) -> T:
        return self.data.draw(st.sampled_from(list(options)))

    def _dim(self, low: int, high: int, label: str) -> int:
        """One dimension in ``[low, high]``: any, odd, or near a power of two."""
        near = [v for v in NEAR_POWERS_OF_TWO if low <= v <= high]
        kinds = [st.integers(low, high), st.integers(low, high).map(lambda v: min(v | 1, high))]
        if near:
            kinds.append(st.sampled_from(near))
        return self.data.draw(st.one_of(kinds), label=label)

    def dims(self, count: int, max_elements: int | None = None) -> tuple[int, ...]:
        budget = MAX_ELEMENTS if max_elements is None else max_elements
        # None: no long dimension; else the one dimension that may be long (drawn first).
        long_axis = self.data.draw(st.sampled_from([None, *range(count)]), label="long axis")
        order = [i for i in range(count) if i != long_axis]
        if long_axis is not None:
            order.insert(0, long_axis)
        sizes = [1] * count
        for axis in order:
            cap = budget // int(np.prod(sizes))  # the other dimensions are still 1 or final
            if axis == long_axis and cap >= LONG_MIN:
                sizes[axis] = self._dim(LONG_MIN, min(LONG_MAX, cap), f"dim {axis}")
                continue
            kind = self.data.draw(st.sampled_from(["one", "tiny", "medium"]), label=f"dim {axis} kind")
            if kind == "medium" and cap > TINY_MAX:
                sizes[axis] = self._dim(TINY_MAX + 1, min(LONG_MIN - 1, cap), f"dim {axis}")
            elif kind != "one" and cap >= 2:
                sizes[axis] = self._dim(2, min(TINY_MAX, cap), f"dim {axis}")
        return tuple(sizes)


def _tile_steps(space: Any, config: dict[str, Any]) -> int:
    """About how many tiles the interpreter walks: the product over tiled dimensions of
    (the dimension rounded up to a power of two, which is the block size's upper bound) / block."""
    param = space.params.get("block_sizes")
    if param is None:
        return 1
    sizes = config["block_sizes"]
    return int(np.prod([max(1, item.high // size) for item, size in zip(param.elements, sizes)]))


def _sample_affordable(space: Any, config_seed: int) -> dict[str, Any]:
    """The first of ``space.sample(rng)`` (``rng = np.random.default_rng(config_seed)``) that walks
    at most ``MAX_TILE_STEPS`` tiles: the interpreter runs every program in Python (a few ms per
    tile), so tiny blocks over a long dimension would cost minutes."""
    rng = np.random.default_rng(config_seed)
    for _ in range(100):
        config = space.sample(rng)
        if _tile_steps(space, config) <= MAX_TILE_STEPS:
            return config
    raise AssertionError(f"none of 100 sampled configs walks at most {MAX_TILE_STEPS} tiles")


def _kernel_params() -> list:
    return [pytest.param(module, kernel, id=kernel) for module, kernel, _ in all_kernels()]


def _phases() -> tuple[Phase, ...]:
    phases = (Phase.explicit, Phase.generate)
    return (*phases, Phase.shrink) if os.environ.get("HELION_PROPERTY_SHRINK") == "1" else phases


def _examples(module_name: str) -> int:
    if EXAMPLES_OVERRIDE:
        return int(EXAMPLES_OVERRIDE)
    return int(getattr(GALLERY[module_name], "PROPERTY_EXAMPLES", MAX_EXAMPLES))


_SETTINGS = dict(
    derandomize=True,  # overridden by the per-kernel @seed below, which is just as deterministic
    database=None,
    deadline=None,
    phases=_phases(),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.mark.parametrize(("module_name", "kernel_name"), _kernel_params())
def test_random_config_and_shape_match_reference(module_name: str, kernel_name: str) -> None:
    # One fixed seed per kernel: with one derandomized seed for the whole test, every kernel of
    # the same arity would be checked at the same few shapes.
    @seed(stable_seed("gallery-properties", kernel_name))
    @settings(max_examples=_examples(module_name), **_SETTINGS)
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        _check_one_case(module_name, kernel_name, data)

    check()


def _check_one_case(module_name: str, kernel_name: str, data: st.DataObject) -> None:
    module = GALLERY[module_name]
    size = random_size(module, _Draw(data))
    dtype = data.draw(st.sampled_from([torch.float32, torch.float16]), label="dtype")
    use_default = data.draw(st.integers(0, 3), label="default config if 0") == 0
    config_seed = None if use_default else data.draw(st.integers(0, 2**32 - 1), label="config seed")

    args = make_inputs(module, size, dtype, "cpu", seed=stable_seed(kernel_name, size, config_seed))
    originals = clone_inputs(args)
    bound = module.KERNELS[kernel_name].bind(args)
    space = bound.config_space
    config = space.default() if config_seed is None else _sample_affordable(space, config_seed)
    context = f"{kernel_name} size={size} dtype={dtype} config={dict(config)}"
    note(context)

    actual = bound.compile_config(config)(*args)
    expected = reference_for(module, kernel_name)(*originals)
    assert_matches(actual, expected, module.TOLERANCE[dtype], context=context)
    assert_inputs_unchanged(originals, args, context=context)
