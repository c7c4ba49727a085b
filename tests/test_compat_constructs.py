"""Constructs the public Helion examples use (issue #11, compatibility): ``hl.jagged_tile``,
arithmetic on ``hl.register_block_size`` values and the like. Each kernel here is our own, checked
against PyTorch on random inputs under its default config and a few random configs of its space;
unsupported spellings must fail with a ``helion.exc`` error naming the construct."""
from __future__ import annotations

import zlib

import numpy as np
import pytest
import torch

import helion
import helion.language as hl
from helion import exc

TOL = {"rtol": 1e-4, "atol": 1e-4}


@pytest.fixture(autouse=True)
def _seed(request):
    torch.manual_seed(zlib.crc32(request.node.nodeid.encode()))


def check(kernel, args: tuple, expected, count: int = 2, **tolerance) -> None:
    """``kernel(*args)`` equals ``expected`` under the default and ``count`` random configs."""
    bound = kernel.bind(args)
    rng = np.random.default_rng(0)
    for config in [bound.config_space.default()] + [bound.config_space.sample(rng) for _ in range(count)]:
        actual = bound.compile_config(config)(*args)
        torch.testing.assert_close(actual, expected, **(tolerance or TOL), msg=lambda m: f"{config}: {m}")


def ragged(rows: int, longest: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Packed rows of random lengths in [0, longest] (some empty) and their offsets."""
    lengths = torch.randint(0, longest + 1, (rows,))
    offsets = torch.cat([torch.zeros(1, dtype=torch.int64), lengths.cumsum(0)])
    return torch.randn(int(offsets[-1]), width), offsets


# --- hl.jagged_tile --------------------------------------------------------------------------------


@helion.kernel(use_default_config=True)
def ragged_row_stats(values: torch.Tensor, offsets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    rows, width = offsets.size(0) - 1, values.size(1)
    totals = torch.zeros([rows, width], dtype=values.dtype, device=values.device)
    peaks = torch.zeros([rows, width], dtype=values.dtype, device=values.device)
    for tile_r in hl.tile(rows):
        first = offsets[tile_r]
        count = offsets[tile_r.index + 1] - first
        for tile_w in hl.tile(width):
            total = hl.zeros([tile_r, tile_w], dtype=torch.float32)
            peak = hl.full([tile_r, tile_w], -1e30, dtype=torch.float32)
            for tile_j in hl.jagged_tile(count):
                piece = values[first[:, None] + tile_j.index[None, :], tile_w]
                total = total + piece.sum(dim=1)
                peak = torch.maximum(peak, piece.amax(dim=1))
            totals[tile_r, tile_w] = total
            peaks[tile_r, tile_w] = peak
    return totals, peaks


def _ragged_stats_reference(values, offsets):
    pieces = [values[offsets[i]:offsets[i + 1]] for i in range(offsets.numel() - 1)]
    totals = torch.stack([p.sum(0) for p in pieces])
    peaks = torch.stack([p.amax(0) if len(p) else torch.full_like(values[0], -1e30) for p in pieces])
    return totals, peaks


@pytest.mark.parametrize("rows,longest,width", [(5, 7, 6), (19, 12, 3)])
def test_jagged_tile_masks_each_lane_to_its_own_length(rows, longest, width):
    values, offsets = ragged(rows, longest, width)
    values = values - 3.0  # all negative: an unmasked zero would win the max
    check(ragged_row_stats, (values, offsets), _ragged_stats_reference(values, offsets))


@helion.kernel(use_default_config=True)
def ragged_scale_rows(values: torch.Tensor, offsets: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    out = torch.full_like(values, 7.0)
    flat_in, flat_out = values.view(-1), out.view(-1)
    width = values.size(1)
    for tile_r in hl.tile(offsets.size(0) - 1):
        first = offsets[tile_r]
        count = offsets[tile_r.index + 1] - first
        for tile_j in hl.jagged_tile(count * width):  # elements of each row, flattened
            where = first[:, None] * width + tile_j.index[None, :]
            hl.store(flat_out, [where], hl.load(flat_in, [where]) * scale[tile_r][:, None])
    return out


def test_jagged_tile_store_writes_only_inside_each_lane():
    values, offsets = ragged(9, 6, 4)
    scale = torch.randn(9)
    row_of = torch.repeat_interleave(torch.arange(9), offsets.diff())
    check(ragged_scale_rows, (values, offsets, scale), values * scale[row_of][:, None])


@helion.kernel(use_default_config=True)
def ragged_without_parent(values: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    out = torch.zeros_like(values)
    for tile_r in hl.tile(lengths.size(0)):
        count = lengths[tile_r]
        for tile_j in hl.jagged_tile(count):
            out[tile_j] = values[tile_j]
    return out


@helion.kernel(use_default_config=True)
def ragged_of_a_scalar(values: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    out = torch.zeros_like(values)
    for tile_r in hl.tile(lengths.size(0)):
        for tile_j in hl.jagged_tile(lengths[0]):
            out[tile_j] = values[tile_j]
    return out


def test_jagged_tile_misuse_is_a_clear_error():
    values, lengths = torch.randn(8), torch.randint(0, 8, (8,))
    with pytest.raises(exc.UnsupportedOperation, match="parent tile"):
        ragged_without_parent(values, lengths)
    with pytest.raises(exc.UnsupportedOperation, match="hl.jagged_tile takes a 1-D"):
        ragged_of_a_scalar(values, lengths)


# --- hl.register_block_size read as a number -------------------------------------------------------


@helion.kernel(use_default_config=True, ignore_warnings=[exc.TensorOperationInWrapper])
def column_sums_by_chunk(x: torch.Tensor) -> torch.Tensor:
    rows, cols = x.shape
    chunk = hl.register_block_size(rows)
    partial = x.new_empty([(rows + chunk - 1) // chunk, cols])  # one row of partial sums per chunk
    for tile_c in hl.tile(rows, block_size=chunk):
        acc = hl.zeros([cols], dtype=torch.float32)
        for tile_r in hl.tile(tile_c.begin, tile_c.end):
            acc = acc + x[tile_r, :].sum(0)
        partial[tile_c.id, :] = acc
    return partial


def _chunked_reference(x: torch.Tensor, chunk: int) -> torch.Tensor:
    return torch.stack([piece.sum(0) for piece in x.split(chunk)])


@pytest.mark.parametrize("rows", [37, 64])
def test_register_block_size_sizes_a_host_buffer(rows):
    x = torch.randn(rows, 5)
    bound = column_sums_by_chunk.bind((x,))
    rng = np.random.default_rng(1)
    seen = set()
    for config in [bound.config_space.default()] + [bound.config_space.sample(rng) for _ in range(4)]:
        chunk = config["block_sizes"][0]
        seen.add(chunk)
        torch.testing.assert_close(bound.compile_config(config)(x), _chunked_reference(x, chunk), **TOL)
    assert len(seen) > 1  # the buffer's shape follows each config's block size


@helion.kernel(use_default_config=True)
def scale_by_block(x: torch.Tensor) -> torch.Tensor:
    n = x.size(0)
    block = hl.register_block_size(n)
    out = torch.empty_like(x)
    for tile in hl.tile(n, block_size=block):
        out[tile] = x[tile] * (block * 2 + 1) + tile.begin // block
    return out


def test_register_block_size_arithmetic_in_device_code():
    x = torch.randn(50)
    bound = scale_by_block.bind((x,))
    rng = np.random.default_rng(2)
    for config in [bound.config_space.default()] + [bound.config_space.sample(rng) for _ in range(3)]:
        b = config["block_sizes"][0]
        expected = x * (2 * b + 1) + (torch.arange(50) // b).float()
        torch.testing.assert_close(bound.compile_config(config)(x), expected, **TOL)


def test_register_block_size_value_outside_a_kernel_is_a_clear_error():
    handle = hl.RegisteredBlockSize(None, 1, 64)
    with pytest.raises(exc.UnsupportedOperation, match="register_block_size"):
        int(handle) + 1


# --- fp8 dtypes in device code ---------------------------------------------------------------------


@helion.kernel(use_default_config=True)
def quantize_fp8(x: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    out = torch.empty(x.shape, dtype=torch.float8_e4m3fn, device=x.device)
    for tile in hl.tile(x.size(0)):
        out[tile] = (x[tile] * scale[tile]).to(torch.float8_e4m3fn)
    return out


@helion.kernel(use_default_config=True)
def fp8_product(a: torch.Tensor, b: torch.Tensor, scale: float) -> torch.Tensor:
    out = torch.empty([a.size(0), b.size(1)], dtype=torch.float32, device=a.device)
    for tile_m, tile_n in hl.tile([a.size(0), b.size(1)]):
        acc = hl.zeros([tile_m, tile_n], dtype=torch.float32)
        for tile_k in hl.tile(a.size(1)):
            acc = hl.dot(a[tile_m, tile_k], b[tile_k, tile_n], acc=acc)
        out[tile_m, tile_n] = acc * scale
    return out


def test_fp8_cast_and_dot_in_device_code():
    # values fp8 holds exactly (Triton's interpreter rounds some casts wrongly, e.g. 0.49 -> 0.25)
    x = torch.randn(100).to(torch.float8_e4m3fn).float()
    scale = 2.0 ** torch.randint(-1, 2, (100,)).float()
    expected = (x * scale).to(torch.float8_e4m3fn).float()
    bound = quantize_fp8.bind((x, scale))
    torch.testing.assert_close(bound.compile_config(bound.config_space.default())(x, scale).float(), expected)
    a = torch.randn(32, 48).to(torch.float8_e4m3fn)
    b = torch.randn(48, 16).to(torch.float8_e5m2)
    check(fp8_product, (a, b, 0.5), (a.float() @ b.float()) * 0.5, count=1)


def test_compat_kernels_compile_for_sm90():
    """The GPU spelling of these constructs compiles for sm_90 (fp8 dots need K >= 32 and a
    float `other`; jagged masks; variants traced per registered block size)."""
    from helion.autotune.precompile import compile_for_target
    a = torch.randn(32, 48).to(torch.float8_e4m3fn)
    b = torch.randn(48, 16).to(torch.float8_e5m2)
    cases = [(fp8_product, (a, b, 0.5)), (quantize_fp8, (torch.randn(64), torch.rand(64))),
             (ragged_row_stats, ragged(5, 7, 6)), (column_sums_by_chunk, (torch.randn(37, 5),))]
    for kernel, args in cases:
        bound = kernel.bind(args)
        assert all(r["kernel"] for r in compile_for_target(bound, bound.config_space.default()))


# --- public config spellings -----------------------------------------------------------------------


@helion.kernel(config=helion.Config(block_sizes=[1], reduction_loops=[32768], num_warps=4, indexing="pointer"))
def row_totals_public_config(x: torch.Tensor) -> torch.Tensor:
    out = torch.empty([x.size(0)], dtype=x.dtype, device=x.device)
    for tile in hl.tile(x.size(0)):
        out[tile] = x[tile, :].sum(-1)
    return out


def test_public_config_spellings_are_accepted():
    """A chunk beyond the space's choices is fitted to the nearest offered below it; one
    ``indexing`` string applies to every site."""
    x = torch.randn(3, 9000)
    bound = row_totals_public_config.bind((x,))
    fitted = bound.normalize_config(helion.Config(reduction_loops=[32768], indexing="pointer"))
    assert fitted["reduction_loops"] == [4096] and set(fitted["indexing"]) == {"pointer"}
    torch.testing.assert_close(row_totals_public_config(x), x.sum(-1), rtol=1e-4, atol=1e-3)
    with pytest.raises(exc.InvalidConfig):
        bound.normalize_config({"reduction_loops": [3000]})  # not a power of two: still refused


@helion.kernel(use_default_config=True)
def sized_from_data(x: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    total = offsets[-1].item()
    out = torch.zeros([total], dtype=x.dtype, device=x.device)
    for tile in hl.tile(x.size(0)):
        out[tile] = x[tile]
    return out


def test_host_size_from_tensor_data_is_a_clear_error():
    with pytest.raises(exc.UnsupportedOperation, match="reads the data of a tensor") as info:
        sized_from_data(torch.randn(6), torch.tensor([0, 2, 6]))
    assert "offsets[-1].item()" in str(info.value)


# --- host_tensor.new_zeros/new_full in device code -------------------------------------------------


@helion.kernel(use_default_config=True, ignore_warnings=[exc.TensorOperationInWrapper])
def scaled_grad_parts(x: torch.Tensor, w: torch.Tensor, g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    chunk = hl.register_block_size(x.size(0))
    grad_x = torch.empty_like(x)
    parts = x.new_empty([(x.size(0) + chunk - 1) // chunk, *w.shape], dtype=torch.float32)
    width = hl.specialize(w.size(0))
    for tile_c in hl.tile(x.size(0), block_size=chunk):
        acc = x.new_zeros(width, dtype=torch.float32)
        bias = g.new_full([width], 0.5)
        for tile_r in hl.tile(tile_c.begin, tile_c.end):
            acc += (x[tile_r, :] * g[tile_r, :]).sum(0)
            grad_x[tile_r, :] = g[tile_r, :] * w[None, :] + bias[None, :]
        parts[tile_c.id, :] = acc
    return grad_x, parts.sum(0)


def test_new_zeros_and_new_full_in_device_code():
    x, w, g = torch.randn(45, 16), torch.randn(16), torch.randn(45, 16)
    check(scaled_grad_parts, (x, w, g), (g * w + 0.5, (x * g).sum(0)))


# --- the atomics family, tile_* functions, hl.subscript -----------------------------------------------


@helion.kernel(use_default_config=True)
def bucket_extremes(values: torch.Tensor, bucket: torch.Tensor, buckets: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    high = torch.full([buckets], -1e30, dtype=values.dtype, device=values.device)
    low = torch.full([buckets], 1e30, dtype=values.dtype, device=values.device)
    bits = torch.zeros([buckets], dtype=torch.int32, device=values.device)
    for tile in hl.tile(values.size(0)):
        where = bucket[tile]
        hl.atomic_max(high, [where], values[tile])
        hl.atomic_min(low, [where], values[tile])
        hl.atomic_or(bits, [where], 1 << (hl.tile_index(tile) % 8))
    return high, low, bits


def test_atomic_max_min_or():
    values, bucket = torch.randn(70), torch.randint(0, 5, (70,))
    high = torch.full([5], -1e30).scatter_reduce(0, bucket, values, "amax")
    low = torch.full([5], 1e30).scatter_reduce(0, bucket, values, "amin")
    bits = torch.zeros(5, dtype=torch.int32)
    for i, b in enumerate(bucket.tolist()):
        bits[b] |= 1 << (i % 8)
    check(bucket_extremes, (values, bucket, 5), (high, low, bits))


@helion.kernel(use_default_config=True)
def outer_with_subscript(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    out = torch.empty([a.size(0), b.size(0)], dtype=a.dtype, device=a.device)
    for tile_i, tile_j in hl.tile([a.size(0), b.size(0)]):
        rows = hl.subscript(a[tile_i], [slice(None), None])
        cols = hl.subscript(b[tile_j], [None, slice(None)])
        out[tile_i, tile_j] = rows * cols + hl.tile_begin(tile_i) - hl.tile_id(tile_j) * hl.tile_block_size(tile_j)
    return out


def test_subscript_and_tile_functions():
    a, b = torch.randn(20), torch.randn(12)
    bound = outer_with_subscript.bind((a, b))
    rng = np.random.default_rng(3)
    for config in [bound.config_space.default()] + [bound.config_space.sample(rng) for _ in range(2)]:
        bi, bj = config["block_sizes"]
        begin = (torch.arange(20) // bi * bi).float()[:, None]
        expected = a[:, None] * b[None, :] + begin - (torch.arange(12) // bj * bj).float()[None, :]
        torch.testing.assert_close(bound.compile_config(config)(a, b), expected, **TOL)


@helion.kernel(use_default_config=True)
def sliced_run(a: torch.Tensor) -> torch.Tensor:
    out = torch.zeros([a.size(0), 8], device=a.device)
    for tile in hl.tile(a.size(0)):
        start = tile.begin * 2
        out[tile, :] = a[tile, start:start + 8]
    return out


def test_partial_slice_of_a_host_tensor_is_a_clear_error():
    with pytest.raises(exc.UnsupportedOperation, match=r"only full slices `:`.*hl.arange"):
        sliced_run(torch.randn(16, 40))


@helion.kernel(use_default_config=True)
def ragged_batched_matmul(offsets: torch.Tensor, rows: torch.Tensor, weights: torch.Tensor,
                          bias: torch.Tensor | None) -> torch.Tensor:
    total, d = rows.shape
    batches, _, k = weights.shape
    flat_rows = rows.view(-1)
    out = torch.empty((total, k), dtype=rows.dtype, device=rows.device).view(-1)
    for tile_b in hl.tile(batches):
        first = offsets[tile_b]
        count = offsets[tile_b.index + 1] - first
        for tile_r in hl.jagged_tile(count):
            row_ids = first[:, None] + tile_r.index[None, :]
            for tile_k in hl.tile(k):
                acc = hl.zeros([tile_b, tile_r, tile_k], dtype=torch.float32, device=rows.device)
                for tile_d in hl.tile(d):
                    lhs = hl.load(flat_rows, [row_ids[:, :, None] * d + tile_d.index[None, None, :]])
                    acc = acc + torch.matmul(lhs, weights[tile_b, tile_d, tile_k])
                if bias is not None:
                    acc = acc + bias[tile_b, tile_k].unsqueeze(1)
                hl.store(out, [row_ids[:, :, None] * k + tile_k.index[None, None, :]], acc)
    return out.reshape(total, k)


def test_jagged_tile_feeds_a_batched_matmul():
    lengths = torch.randint(0, 20, (6,))
    offsets = torch.cat([torch.zeros(1, dtype=torch.int64), lengths.cumsum(0)])
    rows, weights, bias = torch.randn(int(offsets[-1]), 24), torch.randn(6, 24, 20), torch.randn(6, 20)
    pieces = [rows[offsets[i]:offsets[i + 1]] @ weights[i] for i in range(6)]
    expected = torch.cat(pieces)
    check(ragged_batched_matmul, (offsets, rows, weights, None), expected, count=1, rtol=1e-4, atol=1e-3)
    with_bias = torch.cat([p + bias[i] for i, p in enumerate(pieces)])
    check(ragged_batched_matmul, (offsets, rows, weights, bias), with_bias, count=1, rtol=1e-4, atol=1e-3)


@helion.kernel(use_default_config=True)
def normalized_rows(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    out = torch.empty_like(x)
    for tile in hl.tile(x.size(0)):
        row = x[tile, :].to(torch.float32)
        var, mean = torch.var_mean(row, dim=-1, keepdim=True, correction=0)
        spread, _ = torch.var_mean(row, dim=-1)  # unbiased, not kept
        out[tile, :] = ((row - mean) * torch.rsqrt(var + 1e-5) * w[None, :] + b[None, :]
                        + spread[:, None]).to(x.dtype)
    return out


def test_var_mean_in_device_code():
    x, w, b = torch.randn(13, 40), torch.randn(40), torch.randn(40)
    expected = torch.nn.functional.layer_norm(x, [40], w, b) + x.var(-1)[:, None]
    check(normalized_rows, (x, w, b), expected, count=1)


def test_register_block_size_read_as_a_number_in_reference_mode():
    x = torch.randn(37, 5)
    eager = helion.kernel(column_sums_by_chunk.fn, reference_mode=True,
                          config=helion.Config(block_sizes=[16, 8]),
                          ignore_warnings=[exc.TensorOperationInWrapper])
    torch.testing.assert_close(eager(x), _chunked_reference(x, 16), **TOL)


def test_masked_fill_in_device_code():
    @helion.kernel(autotune_effort="none")
    def zero_small(x: torch.Tensor, limit: float) -> torch.Tensor:
        out = torch.empty_like(x)
        for tile in hl.tile(x.size()):
            values = x[tile]
            out[tile] = values.masked_fill(values.abs() < limit, 0).masked_fill(values > 2.0, -1.0)
        return out

    x = torch.randn(37, 45)
    expected = x.masked_fill(x.abs() < 0.5, 0).masked_fill(x > 2.0, -1.0)
    check(zero_small, (x, 0.5), expected)
