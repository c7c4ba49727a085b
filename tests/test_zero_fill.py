"""Zero-filled outputs that a loop overwrites whole are allocated empty (``compiler/zero_fill.py``).

The allocation is poisoned with NaN in these tests (``EMPTY_OF`` patched), so an element the kernel
fails to write shows up as a wrong answer instead of as whatever ``torch.empty`` happened to hold.
"""
from __future__ import annotations

import pytest
import torch

import helion
import helion.language as hl
from experiments.kernels import length_mask
from helion.compiler import zero_fill


def _nan_full(*size, **kwargs):
    shape = size[0] if len(size) == 1 and isinstance(size[0], (tuple, list, torch.Size)) else size
    return torch.full(shape, float("nan"), **kwargs)


@pytest.fixture(autouse=True)
def poisoned_empty(monkeypatch):
    monkeypatch.setattr(zero_fill, "EMPTY_OF", {
        torch.zeros_like: lambda x, **kwargs: torch.full_like(x, float("nan"), **kwargs),
        torch.zeros: _nan_full,
        "new_zeros": lambda tensor: lambda size, **kwargs: tensor.new_full(size, float("nan"), **kwargs)})


def _run(kernel, *args, config=None):
    bound = kernel.bind(args)
    runner = bound.compile_config(config or bound.config_space.default())
    return bound, runner(*args)


def test_masked_store_becomes_a_where_and_the_fill_goes() -> None:
    x, lengths = length_mask.make_args((37, 100), torch.float32, "cpu", torch.Generator().manual_seed(1))
    bound, out = _run(length_mask.length_mask_store, x, lengths, config={"block_sizes": [16, 32]})
    assert bound.elided_fills == {"out"}
    code = bound.to_triton_code()
    assert "tl.where(keep, " in code and "& (keep)" not in code  # keep selects, it no longer masks
    torch.testing.assert_close(out, length_mask.reference(x, lengths), rtol=0, atol=0)


def test_a_fully_covering_store_may_use_block_pointers() -> None:
    x, lengths = length_mask.make_args((20, 48), torch.float32, "cpu", torch.Generator().manual_seed(2))
    bound = length_mask.length_mask_store.bind((x, lengths))
    forms = bound.config_space.params["indexing"]
    assert len(forms.elements) == 3  # lengths, x and, now that it has no extra mask, the store to out
    config = dict(bound.config_space.default(), block_sizes=[8, 16], indexing=["pointer", "pointer", "block_ptr"])
    assert "tl.make_block_ptr(out" in bound.to_triton_code(config)
    torch.testing.assert_close(bound.compile_config(config)(x, lengths), length_mask.reference(x, lengths))


@helion.kernel(use_default_config=True)
def scaled_new_zeros(x: torch.Tensor) -> torch.Tensor:
    out = x.new_zeros(x.shape)
    for tile in hl.tile(x.size(0)):
        out[tile] = x[tile] * 2.0
    return out


@helion.kernel(use_default_config=True)
def rows_of_zeros(x: torch.Tensor) -> torch.Tensor:
    m, n = x.size()
    out = torch.zeros([m, n], dtype=x.dtype, device=x.device)
    for tile_m, tile_n in hl.tile([m, n]):
        out[tile_m, tile_n] = x[tile_m, tile_n] + 1.0
    return out * 3.0


def test_new_zeros_and_torch_zeros_are_elided() -> None:
    x = torch.randn(50)
    bound, out = _run(scaled_new_zeros, x)
    assert bound.elided_fills == {"out"}
    torch.testing.assert_close(out, x * 2)
    x2 = torch.randn(9, 33)
    bound, out = _run(rows_of_zeros, x2)
    assert bound.elided_fills == {"out"}
    torch.testing.assert_close(out, (x2 + 1) * 3)


@helion.kernel(use_default_config=True)
def skips_first_row(x: torch.Tensor) -> torch.Tensor:
    out = torch.zeros_like(x)
    for tile in hl.tile(1, x.size(0)):
        out[tile] = x[tile]
    return out


@helion.kernel(use_default_config=True)
def accumulates(x: torch.Tensor) -> torch.Tensor:
    out = torch.zeros_like(x)
    for tile in hl.tile(x.size(0)):
        out[tile] = out[tile] + x[tile]
    return out


@helion.kernel(use_default_config=True)
def touched_on_host(x: torch.Tensor) -> torch.Tensor:
    out = torch.zeros_like(x)
    out[0] = 5.0
    for tile in hl.tile(x.size(0)):
        hl.store(out, [tile], x[tile], extra_mask=x[tile] > 0)
    return out


@helion.kernel(use_default_config=True)
def row_per_program_pair(x: torch.Tensor) -> torch.Tensor:
    m = x.size(0)
    out = torch.zeros_like(x)
    for tile_m, tile_k in hl.tile([m, 2]):
        hl.store(out, [tile_m], x[tile_m], extra_mask=x[tile_m] > 0)
    return out


@helion.kernel(use_default_config=True)
def stored_in_inner_loop(x: torch.Tensor) -> torch.Tensor:
    m, n = x.size()
    out = torch.zeros_like(x)
    for tile_m in hl.tile(m):
        for tile_n in hl.tile(n):
            hl.store(out, [tile_m, tile_n], x[tile_m, tile_n], extra_mask=x[tile_m, tile_n] > 0)
    return out


@helion.kernel(use_default_config=True)
def into_given_buffer(x: torch.Tensor, buffer: torch.Tensor) -> torch.Tensor:
    out = torch.zeros(x.size(0), out=buffer)
    for tile in hl.tile(x.size(0)):
        out[tile] = x[tile] + buffer[tile]
    return out


@helion.kernel(use_default_config=True)
def read_by_a_closure(x: torch.Tensor) -> torch.Tensor:
    peek = lambda: out.sum()  # noqa: E731, F821 - bound below, read before the loop
    out = torch.zeros_like(x)
    before = peek()
    for tile in hl.tile(x.size(0)):
        out[tile] = x[tile]
    return out + before


def test_fills_the_host_may_observe_are_kept() -> None:
    """``out=`` fills a tensor the loop then reads; a closure may read the tensor before the loop."""
    x = torch.randn(37)
    bound, out = _run(into_given_buffer, x, torch.full((37,), 100.0))
    assert bound.elided_fills == frozenset()
    torch.testing.assert_close(out, x)
    bound, out = _run(read_by_a_closure, x)
    assert bound.elided_fills == frozenset()
    torch.testing.assert_close(out, x)


def _expected(name: str, x: torch.Tensor) -> torch.Tensor:
    if name == "skips_first_row":
        return torch.cat([torch.zeros_like(x[:1]), x[1:]])
    if name == "accumulates":
        return x.clone()
    if name == "touched_on_host":
        out = torch.where(x > 0, x, 0.0)
        out[0] = x[0] if x[0] > 0 else 5.0
        return out
    return torch.where(x > 0, x, 0.0)


@pytest.mark.parametrize("kernel", [skips_first_row, accumulates, touched_on_host, row_per_program_pair,
                                    stored_in_inner_loop], ids=lambda k: k.fn.__name__)
def test_fills_that_matter_are_kept(kernel) -> None:
    x = torch.randn(37, 21) if kernel is stored_in_inner_loop else torch.randn(37)
    bound, out = _run(kernel, x)
    assert bound.elided_fills == frozenset()
    torch.testing.assert_close(out, _expected(kernel.fn.__name__, x))


@helion.kernel(static_shapes=False, use_default_config=True)
def dynamic_length_mask(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    m, n = x.size()
    out = torch.zeros_like(x)
    for tile_m, tile_n in hl.tile([m, n]):
        keep = tile_n.index[None, :] < lengths[tile_m][:, None]
        hl.store(out, [tile_m, tile_n], x[tile_m, tile_n], extra_mask=keep)
    return out


@pytest.mark.parametrize("size", [(5, 70), (33, 17)])
def test_dynamic_shapes_elide_and_stay_correct(size) -> None:
    x, lengths = length_mask.make_args(size, torch.float32, "cpu", torch.Generator().manual_seed(3))
    bound, out = _run(dynamic_length_mask, x, lengths)
    assert bound.elided_fills == {"out"}
    torch.testing.assert_close(out, length_mask.reference(x, lengths), rtol=0, atol=0)


@helion.kernel(use_default_config=True)
def constant_masks(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    stored = torch.zeros_like(x)
    loaded = torch.empty_like(x)
    for tile in hl.tile(x.size(0)):
        hl.store(stored, [tile], x[tile], extra_mask=False)
        loaded[tile] = hl.load(x, [tile], extra_mask=True) * 2 + hl.load(x, [tile], extra_mask=False)
    return stored, loaded


def test_a_constant_false_mask_keeps_nothing() -> None:
    """``extra_mask=False``: a store writes nothing (so the fill stays), a load reads zeros."""
    x = torch.randn(37)
    bound, (stored, loaded) = _run(constant_masks, x)
    assert bound.elided_fills == frozenset()
    torch.testing.assert_close(stored, torch.zeros_like(x))
    torch.testing.assert_close(loaded, x * 2)
