"""Device-code constructs (issue #11): ``if`` on device values, scans and custom reductions,
``hl.static_range``, ``hl.rand``/``hl.randint``, helper functions, block-size arithmetic and
gathers, each kernel checked against PyTorch on random inputs under its default config and a
few random configs of its space; and that the GPU spelling compiles for sm_90.
"""
from __future__ import annotations

import zlib

import numpy as np
import pytest
import torch

import helion
import helion.language as hl
from helion import exc
from helion.autotune.precompile import compile_for_target

from tests import construct_helpers

TOL = {"rtol": 1e-4, "atol": 1e-4}


@pytest.fixture(autouse=True)
def _seed(request):
    torch.manual_seed(zlib.crc32(request.node.nodeid.encode()))


def configs(bound, count: int = 2) -> list[dict]:
    """The default config and ``count`` random ones of the kernel's space."""
    rng = np.random.default_rng(0)
    return [bound.config_space.default()] + [bound.config_space.sample(rng) for _ in range(count)]


def check(kernel, args: tuple, expected, count: int = 2, sm90: bool = True, **tolerance) -> None:
    """``kernel(*args)`` equals ``expected`` under the default and ``count`` random configs; the
    default config's GPU code compiles for sm_90."""
    bound = kernel.bind(args)
    for config in configs(bound, count):
        actual = bound.compile_config(config)(*args)
        torch.testing.assert_close(actual, expected, **(tolerance or TOL), msg=lambda m: f"{config}: {m}")
    if sm90:
        assert all(r["kernel"] for r in compile_for_target(bound, bound.config_space.default()))


# --- if / else on device values --------------------------------------------------------------------


@helion.kernel(use_default_config=True)
def segment_double(x: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    out = torch.zeros_like(x)
    for g in hl.grid(offsets.size(0) - 1):
        start = offsets[g]
        end = offsets[g + 1]
        n_valid = end - start
        if n_valid > 0:
            for tile in hl.tile(start, end):
                out[tile] = x[tile] * (g + 1)
    return out


def test_if_on_a_loaded_scalar_guards_a_runtime_tile_loop():
    x = torch.randn(50)
    offsets = torch.tensor([0, 7, 7, 30, 30, 50])
    scale = torch.repeat_interleave(torch.arange(1, 6).float(), offsets.diff())
    check(segment_double, (x, offsets), x * scale)


@helion.kernel(use_default_config=True)
def by_flag(x: torch.Tensor, flags: torch.Tensor) -> torch.Tensor:
    m, n = x.shape
    out = torch.empty_like(x)
    for g in hl.grid(m):
        flag = flags[g]
        acc = hl.zeros([n])
        row = x[g, :]
        if flag > 0:
            acc = row * 2
            if flag > 1:  # nested
                acc = acc + 100
        elif flag == 0:
            acc = row
        else:
            acc = acc - 1
        out[g, :] = acc
    return out


def test_scalar_if_elif_else_nested_merges_values():
    x = torch.randn(7, 20)
    flags = torch.tensor([0, 1, 2, -1, 2, 0, -3])
    expected = torch.stack([
        row * 2 + (100 if f > 1 else 0) if f > 0 else (row if f == 0 else torch.full_like(row, -1.0))
        for row, f in zip(x, flags.tolist())])
    check(by_flag, (x, flags), expected)


@helion.kernel(use_default_config=True)
def piecewise(x: torch.Tensor) -> torch.Tensor:
    out = torch.empty_like(x)
    for tile in hl.tile(x.size()):
        v = x[tile]
        if v > 0.5:
            y = v * 2
        elif not v < -0.5:
            y = v
        else:
            y = -v + 1
        out[tile] = y
    return out


def test_if_on_a_tensor_condition_selects_elementwise():
    x = torch.randn(19, 33)
    expected = torch.where(x > 0.5, x * 2, torch.where(x >= -0.5, x, -x + 1))
    check(piecewise, (x,), expected)


@helion.kernel(use_default_config=True)
def masked_writes(x: torch.Tensor, low: float) -> torch.Tensor:
    out = torch.zeros_like(x)
    for tile in hl.tile(x.size()):
        v = x[tile]
        if v > low and v < 1.0:
            out[tile] = v + 10
    return out


def test_store_under_a_tensor_condition_is_masked():
    x = torch.rand(21, 30) * 2 - 0.5
    check(masked_writes, (x, 0.25), torch.where((x > 0.25) & (x < 1), x + 10, torch.zeros(())))


@helion.kernel(use_default_config=True)
def host_branch(x: torch.Tensor, negate: bool) -> torch.Tensor:
    out = torch.empty_like(x)
    for tile in hl.tile(x.size(0)):
        if negate:
            out[tile] = -x[tile]
        else:
            out[tile] = x[tile]
    return out


def test_if_on_a_host_value_is_specialised():
    x = torch.randn(40)
    check(host_branch, (x, True), -x, count=0, sm90=False)
    check(host_branch, (x, False), x, count=0, sm90=False)
    assert "if" not in host_branch.bind((x, True)).to_triton_code().split("def launch")[0].split("):", 1)[1]


def test_name_bound_in_one_branch_only_is_a_located_error():
    @helion.kernel(use_default_config=True)
    def one_sided(x: torch.Tensor) -> torch.Tensor:
        out = torch.empty_like(x)
        for g in hl.grid(x.size(0)):
            if x[g] > 0:
                y = x[g]
            out[g] = y
        return out

    with pytest.raises(exc.UnsupportedOperation, match="only one branch") as info:
        one_sided(torch.randn(4))
    assert "test_constructs.py" in str(info.value) and "out[g] = y" in str(info.value)


def test_store_under_a_tensor_condition_must_cover_its_dims():
    @helion.kernel(use_default_config=True)
    def partial(x: torch.Tensor) -> torch.Tensor:
        out = torch.zeros([x.size(0)])
        for tm, tn in hl.tile(x.size()):
            if x[tm, tn] > 0:
                out[tm] = 1.0
        return out

    with pytest.raises(exc.ShapeMismatch, match="index every dim of the condition"):
        partial(torch.randn(8, 8))


# --- scans and reductions with combine functions -------------------------------------------------------


def _add(a, b):
    return a + b


@helion.kernel(use_default_config=True)
def row_scans(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    forward, backward = torch.empty_like(x), torch.empty_like(x)
    sums, products = torch.empty_like(x), torch.empty_like(x)
    for tile in hl.tile(x.size(0)):
        row = x[tile, :]
        forward[tile, :] = hl.associative_scan(_add, row, dim=1)
        backward[tile, :] = hl.associative_scan(lambda a, b: torch.maximum(a, b), row, dim=-1, reverse=True)
        sums[tile, :] = torch.cumsum(row, dim=1)
        products[tile, :] = hl.cumprod(row, 1, reverse=True)
    return forward, backward, sums, products


def test_scans_forward_reverse_and_cumulative():
    x = torch.rand(11, 37) + 0.5  # 37: the reverse scans see masked-off lanes
    expected = (x.cumsum(1), x.flip(1).cummax(1).values.flip(1), x.cumsum(1), x.flip(1).cumprod(1).flip(1))
    check(row_scans, (x,), expected, rtol=1e-4, atol=1e-3)


@helion.kernel(use_default_config=True)
def segmented_sum(values: torch.Tensor, starts: torch.Tensor) -> torch.Tensor:
    out = torch.empty_like(values)
    for tile in hl.tile(values.size(0)):
        sums, _ = hl.associative_scan(construct_helpers.add_pair, (values[tile, :], starts[tile, :]), dim=1)
        out[tile, :] = sums
    return out


@helion.kernel(use_default_config=True)
def segmented_sum_reverse(values: torch.Tensor, ends: torch.Tensor) -> torch.Tensor:
    out = torch.empty_like(values)
    for tile in hl.tile(values.size(0)):
        # as torch's reverse scan: the scan of the flipped dim, flipped back (left: the running value)
        sums, _ = hl.associative_scan(lambda left, right: (torch.where(right[1] > 0, right[0], left[0] + right[0]),
                                                           left[1] | right[1]),
                                      (values[tile, :], ends[tile, :]), dim=1, reverse=True)
        out[tile, :] = sums
    return out


def _segmented(values: torch.Tensor, starts: torch.Tensor) -> torch.Tensor:
    out = values.clone()
    for j in range(1, values.size(1)):
        out[:, j] = torch.where(starts[:, j] > 0, values[:, j], out[:, j - 1] + values[:, j])
    return out


def test_segmented_scan_of_a_tuple():
    values = torch.randn(6, 45)
    flags = (torch.rand(6, 45) < 0.2).to(torch.int32)
    check(segmented_sum, (values, flags), _segmented(values, flags))
    flipped = _segmented(values.flip(1), flags.flip(1)).flip(1)
    check(segmented_sum_reverse, (values, flags), flipped, count=1, sm90=False)


def _argmax_combine(left_value, left_index, right_value, right_index):
    right_wins = (right_value > left_value) | ((right_value == left_value) & (right_index < left_index))
    return torch.where(right_wins, right_value, left_value), torch.where(right_wins, right_index, left_index)


@helion.kernel(use_default_config=True)
def custom_reductions(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    m, n = x.shape
    biggest = torch.empty([m], dtype=x.dtype)
    where = torch.empty([m], dtype=torch.int32)
    smallest = torch.empty([m], dtype=torch.int64)
    total = torch.empty([m, 1], dtype=x.dtype)
    for tile in hl.tile(m):
        row = x[tile, :]
        index = hl.arange(n)[None, :] + hl.zeros([tile, n], dtype=torch.int32)
        biggest[tile], where[tile] = hl.reduce(_argmax_combine, (row, index), dim=1,
                                               other=(float("-inf"), n))
        smallest[tile] = torch.argmin(row, dim=1)
        total[tile, :] = hl.reduce(_add, row, dim=1, keep_dims=True)
    return biggest, where, smallest, total


def test_custom_reductions_and_argmin():
    x = -torch.rand(13, 50) - 1  # negative: masked-off lanes must not win
    expected = (x.amax(1), x.argmax(1).to(torch.int32), x.argmin(1), x.sum(1, keepdim=True))
    check(custom_reductions, (x,), expected)


def test_combine_function_must_be_elementwise():
    @helion.kernel(use_default_config=True)
    def bad(x: torch.Tensor) -> torch.Tensor:
        out = torch.empty_like(x)
        for tile in hl.tile(x.size(0)):
            out[tile, :] = hl.associative_scan(lambda a, b: a + b * x[0, 0], x[tile, :], dim=1)
        return out

    with pytest.raises(exc.UnsupportedOperation, match="elementwise") as info:
        bad(torch.randn(4, 8))
    assert "hl.associative_scan" in str(info.value) and "test_constructs.py" in str(info.value)


# --- hl.static_range, hl.rand, hl.randint ---------------------------------------------------------------


@helion.kernel(use_default_config=True)
def weighted_columns(x: torch.Tensor) -> torch.Tensor:
    out = torch.empty([x.size(0)], dtype=x.dtype)
    for tile in hl.tile(x.size(0)):
        acc = hl.zeros([tile])
        for k in hl.static_range(1, 5):  # unrolled: k is a Python int in each copy
            acc = acc + x[tile, k] * k
        out[tile] = acc
    return out


def test_static_range_unrolls_with_int_indices():
    x = torch.randn(29, 6)
    check(weighted_columns, (x,), (x[:, 1:5] * torch.arange(1, 5)).sum(1))
    code = weighted_columns.bind((x,)).to_triton_code()
    assert code.count("tl.load(") == 4 and "for " not in code.split("def launch")[0]


@helion.kernel(use_default_config=True)
def dropout(x: torch.Tensor, p: float, seed: int) -> torch.Tensor:
    out = torch.empty_like(x)
    for tm, tn in hl.tile(x.size()):
        keep = hl.rand([tm, tn], seed=seed) > p
        out[tm, tn] = torch.where(keep, x[tm, tn] / (1 - p), 0.0)
    return out


@helion.kernel(use_default_config=True)
def draws(x: torch.Tensor, seed: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    m, n = x.shape
    uniform = torch.empty([m, n])
    ints = torch.empty([m, n], dtype=torch.int32)
    for tm in hl.tile(m):
        uniform[tm, :] = hl.rand([tm, n], seed=seed)
        ints[tm, :] = hl.randint([tm, n], -3, 9, seed=seed)
    return uniform, ints


def _each_config(kernel, args, count=3):
    bound = kernel.bind(args)
    return [bound.compile_config(c)(*args) for c in configs(bound, count)]


def test_rand_is_the_same_for_a_seed_whatever_the_block_sizes():
    x = torch.randn(37, 45) + 5  # never zero
    outs = _each_config(dropout, (x, 0.3, 123))
    for out in outs[1:]:
        assert torch.equal(out, outs[0])
    kept = outs[0] != 0
    torch.testing.assert_close(outs[0][kept], x[kept] / 0.7)
    assert 0.25 < 1 - kept.float().mean() < 0.35
    assert not torch.equal(dropout(x, 0.3, 124), outs[0])
    uniform, ints = draws(x, torch.tensor([123]))
    assert torch.equal(uniform > 0.3, kept)  # the same stream from a tile of rows and a whole row
    assert 0 <= uniform.min() and uniform.max() < 1 and abs(uniform.mean() - 0.5) < 0.05
    assert ints.min() == -3 and ints.max() == 8 and ints.dtype == torch.int32
    assert all(r["kernel"] for r in compile_for_target(dropout.bind((x, 0.3, 123)),
                                                       dropout.bind((x, 0.3, 123)).config_space.default()))
