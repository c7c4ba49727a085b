"""The knobs flatten_loops, static_ranges and maxnreg: distinguishing lines of the generated code,
right answers on CPU, sm_90 compiles, and the constraints that tie them to other knobs."""
from __future__ import annotations

import pytest
import torch

import helion
import helion.language as hl

from experiments.kernels import GALLERY
from helion.autotune.precompile import compile_for_target
from helion.compiler.space import build_space


def _bound(module_name: str, kernel_name: str, size: tuple, device: str = "cpu", dtype=torch.float32):
    module = GALLERY[module_name]
    args = module.make_args(size, dtype, device, torch.Generator().manual_seed(0))
    return module, args, module.KERNELS[kernel_name].bind(args)


def _check(module, kernel_name: str, bound, args, config) -> None:
    reference = getattr(module, "REFERENCES", {}).get(kernel_name, module.reference)
    expected = reference(*[a.clone() if isinstance(a, torch.Tensor) else a for a in args])
    torch.testing.assert_close(bound.compile_config(config)(*args), expected, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize(("module_name", "kernel_name", "size"), [
    ("add", "add_2d", (37, 70, "row")), ("elementwise_3d", "elementwise_3d", (3, 5, 7)),
    ("transpose", "transpose", (33, 20)), ("length_mask", "length_mask", (9, 40))])
@pytest.mark.parametrize("pid_type", ["flat", "persistent_interleaved"])
def test_flattened_tile_is_one_vector_and_correct(module_name, kernel_name, size, pid_type) -> None:
    module, args, bound = _bound(module_name, kernel_name, size)
    assert "flatten_loops" in bound.config_space.names
    config = dict(bound.config_space.default(), flatten_loops=[True], block_sizes=[
        min(4, b) for b in bound.config_space.default()["block_sizes"]], pid_type=pid_type)
    code = bound.to_triton_code(config)
    assert "flat_index = " in code and "flat_mask = flat_index < " in code
    assert "[:, None]" not in code  # every value is one vector: no broadcasting views
    _check(module, kernel_name, bound, args, config)


def test_flatten_is_not_offered_where_values_are_not_elementwise() -> None:
    for module_name, kernel_name, size in [("matmul", "matmul", (64, 64, 64)), ("softmax", "softmax", (37, 100)),
                                           ("atomic_sum", "atomic_column_sum", (37, 100))]:
        _, _, bound = _bound(module_name, kernel_name, size)
        names = bound.config_space.names
        assert "flatten_loops" not in names or bound.config_space["flatten_loops"].elements[0].choices == (False,)


def test_flattening_repairs_program_order_knobs_away() -> None:
    _, _, bound = _bound("add", "add_2d", (37, 70, "row"))
    config = bound.normalize_config({"flatten_loops": [True], "loop_orders": [[1, 0]], "l2_groupings": [8]})
    assert config["loop_orders"] == [[0, 1]] and config["l2_groupings"] == [1]


def test_static_ranges_unroll_inner_loops_and_drop_their_range_options() -> None:
    module, args, bound = _bound("rms_norm", "rms_norm_looped", (37, 100))
    config = bound.normalize_config(dict(bound.config_space.default(), block_sizes=[2, 32, 64],
                                         static_ranges=[True, False], range_num_stages=[3, 3],
                                         range_unroll_factors=[0, 0]))
    assert config["range_num_stages"] == [0, 3]  # no pipelining option on an unrolled loop
    code = bound.to_triton_code(config)
    assert "in tl.static_range(0, 100, _BLOCK_SIZE_1):" in code
    assert "in tl.range(0, 100, _BLOCK_SIZE_2, num_stages=3):" in code
    _check(module, "rms_norm_looped", bound, args, config)


def test_static_ranges_with_many_iterations_are_repaired_to_tl_range() -> None:
    _, _, bound = _bound("rms_norm", "rms_norm_looped", (37, 4000))
    config = bound.normalize_config(dict(bound.config_space.default(), block_sizes=[1, 16, 2048],
                                         static_ranges=[True, True]))
    assert config["static_ranges"] == [False, True]  # 250 iterations would be unrolled, 2 are fine


@pytest.mark.parametrize("pid_type", ["flat", "persistent_blocked"])
def test_maxnreg_only_for_persistent_kernels(pid_type: str) -> None:
    module, args, bound = _bound("matmul", "matmul", (100, 72, 130))
    config = bound.normalize_config({"pid_type": pid_type, "maxnreg": 128, "block_sizes": [32, 32, 16]})
    code = bound.to_triton_code(config)
    if pid_type == "flat":
        assert config["maxnreg"] is None and "maxnreg" not in code
    else:
        assert "num_stages=3, maxnreg=128)" in code
        _check(module, "matmul", bound, args, config)


def test_maxnreg_register_budget() -> None:
    from helion import exc
    _, _, bound = _bound("matmul", "matmul", (100, 72, 130))
    with pytest.raises(exc.InvalidConfig, match="maxnreg_budget"):
        bound.normalize_config({"pid_type": "persistent_blocked", "maxnreg": 256, "num_warps": 16,
                                "block_sizes": [32, 32, 16]})


def test_new_knobs_compile_for_sm90() -> None:
    _, _, bound = _bound("add", "add_2d", (16384, 4096, "row"), "meta", torch.bfloat16)
    assert compile_for_target(bound, dict(bound.config_space.default(), flatten_loops=[True]))
    _, _, bound = _bound("rms_norm", "rms_norm_looped", (16384, 4096), "meta", torch.bfloat16)
    config = dict(bound.config_space.default(), block_sizes=[1, 1024, 1024], static_ranges=[True, True],
                  pid_type="persistent_interleaved", maxnreg=128)
    assert compile_for_target(bound, config)


def test_batched_dot_of_one_matrix_is_a_2d_dot() -> None:
    """A batch tile of one: 2-D loads (the batch offset a scalar), a 2-D dot, a 2-D loop-carried
    accumulator and a 2-D store of it."""
    module, args, bound = _bound("bmm", "bmm", (3, 37, 50, 20))
    default = bound.config_space.default()
    code = bound.to_triton_code(default)
    assert "load_0 = tl.load(a + (offset_0 * 1850 + indices_1[:, None] * 50 + indices_3[None, :])" in code
    assert "acc_0 = tl.reshape(acc, [_BLOCK_SIZE_1, _BLOCK_SIZE_2])" in code
    assert "acc_1 = tl.dot(load_0, load_1, acc=acc_0" in code
    assert ("tl.store(out + (offset_0 * 740 + indices_1[:, None] * 20 + indices_2[None, :]), acc_0, "
            "mask_1[:, None] & mask_2[None, :])") in code  # the 2-D accumulator, stored 2-D
    _check(module, "bmm", bound, args, default)
    # a block-pointer load stays 3-D and is reshaped for the dot
    block_ptr = dict(default, indexing=["block_ptr", "pointer", "pointer"])
    assert "tl.dot(tl.reshape(load_0, [_BLOCK_SIZE_1, _BLOCK_SIZE_3]), load_1" in bound.to_triton_code(block_ptr)
    _check(module, "bmm", bound, args, block_ptr)
    batched = dict(default, block_sizes=[2, 16, 16, 16])
    assert "tl.dot(load_0, load_1" in bound.to_triton_code(batched)
    _check(module, "bmm", bound, args, batched)


@pytest.mark.parametrize("pid_type", ["flat", "persistent_interleaved"])
def test_batched_dot_of_one_matrix_reads_tma_through_a_2d_descriptor_per_matrix(pid_type) -> None:
    """A TMA load of one matrix reads a 2-D view of the matrices stacked row-wise when its row
    tile divides the rows (k = 48 here), else a 2-D descriptor of that matrix whose base is moved
    by the batch offset (m = 37: rows past m read as zeros)."""
    module, args, bound = _bound("bmm", "bmm", (3, 37, 48, 16))
    config = dict(bound.config_space.default(), indexing=["tensor_descriptor"] * 3, pid_type=pid_type)
    code = bound.to_triton_code(config)
    assert ("load_0_desc = tl.make_tensor_descriptor(a + offset_0 * 1776, shape=[37, 48], strides=[48, 1], "
            "block_shape=[_BLOCK_SIZE_1, _BLOCK_SIZE_3])") in code
    assert "load_0 = load_0_desc.load([offset_1, offset_3])" in code
    assert "store_0_desc.store([offset_1, offset_2], acc_0)" in code  # m = 37: a descriptor per matrix
    assert "acc_1 = tl.dot(load_0, load_1, acc=acc_0" in code
    assert ("load_1_desc = tl.make_tensor_descriptor(b, shape=[144, 16], strides=[16, 1], "
            "block_shape=[_BLOCK_SIZE_3, _BLOCK_SIZE_2])") in code  # k = 48 rows: 3 tiles exactly
    assert "load_1 = load_1_desc.load([offset_0 * 48 + offset_3, offset_2])" in code
    _check(module, "bmm", bound, args, config)
    module, args, bound = _bound("bmm", "bmm", (3, 32, 48, 16))  # both operands stacked
    code = bound.to_triton_code(config)
    assert "load_0 = load_0_desc.load([offset_0 * 32 + offset_1, offset_3])" in code
    assert "store_0_desc.store([offset_0 * 32 + offset_1, offset_2], acc_0)" in code
    _check(module, "bmm", bound, args, config)
    _, _, meta_bound = _bound("bmm", "bmm", (16, 1024, 1024, 1024), "meta", torch.bfloat16)
    assert compile_for_target(meta_bound, dict(meta_bound.config_space.default(), indexing=["tensor_descriptor"] * 3,
                                               pid_type=pid_type, range_flattens=[True]))


@helion.kernel(static_shapes=False)
def _bmm_dynamic(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    out = torch.empty([a.size(0), a.size(1), b.size(2)], dtype=a.dtype, device=a.device)
    for tile_b, tile_m, tile_n in hl.tile([a.size(0), a.size(1), b.size(2)]):
        acc = hl.zeros([tile_b, tile_m, tile_n], dtype=torch.float32)
        for tile_k in hl.tile(a.size(2)):
            acc = torch.baddbmm(acc, a[tile_b, tile_m, tile_k], b[tile_b, tile_k, tile_n])
        out[tile_b, tile_m, tile_n] = acc
    return out


def test_batched_dot_of_one_matrix_with_dynamic_batch_keeps_3d_loads() -> None:
    """A batch extent known only at run time is masked, so its loads keep the batch dim."""
    a, b = torch.randn(3, 37, 50), torch.randn(3, 50, 20)
    bound = _bmm_dynamic.bind((a, b))
    config = dict(bound.config_space.default(), block_sizes=[1, 16, 16, 16])
    code = bound.to_triton_code(config)
    assert "acc_1 = tl.dot(tl.reshape(load_0, [_BLOCK_SIZE_1, _BLOCK_SIZE_3]), tl.reshape(load_1" in code
    assert "acc=acc_0" in code  # the accumulator is still carried 2-D
    torch.testing.assert_close(bound.compile_config(config)(a, b), torch.bmm(a, b), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize(("module_name", "kernel_name", "size", "expected"), [
    ("sum_first", "sum_first", (4096, 16384), {"block_sizes": [64], "reduction_loops": [64], "num_warps": 16}),
    ("chunk_sums", "chunk_sums", (16384, 4096), {"block_sizes": [16], "num_warps": 1, "range_num_stages": [4],
                                                 "range_unroll_factors": [2]}),
    ("pointwise_ops", "pointwise_ops", (16384, 4096), {"block_sizes": [1, 1024], "num_warps": 4}),
    ("bmm", "bmm", (16, 1024, 1024, 1024), {"block_sizes": [1, 128, 128, 64], "num_warps": 8}),
    ("bmm", "bmm", (2, 512, 256, 512), {"block_sizes": [1, 64, 64, 64], "num_warps": 4}),
    ("rms_norm", "rms_norm_looped", (16384, 4096), {"range_num_stages": [0, 0], "range_unroll_factors": [0, 0],
                                                   "num_warps": 4}),
    ("rms_norm", "rms_norm_looped", (16384, 4096), {"block_sizes": [1, 4096, 4096]}),
    ("atomic_sum", "atomic_column_sum", (16384, 4096), {"block_sizes": [64, 64]}),
    ("softmax", "softmax", (16384, 4096), {"block_sizes": [1], "reduction_loops": [None]}),
    ("softmax", "softmax", (4096, 32768), {"block_sizes": [1], "reduction_loops": [None], "num_warps": 16}),
    ("sum_last", "sum_last", (1024, 131072), {"reduction_loops": [2048]}),
    ("matmul", "matmul", (4096, 4096, 4096), {"block_sizes": [128, 128, 64]}),
])
def test_heuristic_defaults(module_name, kernel_name, size, expected) -> None:
    """Column sums loop over rows so the stride-1 tile is wide; grids keep >= 256 programs; sibling
    inner loops are sized on their own; dims summed before an atomic add get 64; looping kernels
    with few programs get 8 elements per thread and pipelined storing loops; long pointwise chains
    get smaller tiles; matmul tiles are 128 wide where that leaves 256 programs; rows up to 32768
    stay in registers with a warp per 2048 elements, longer ones loop in chunks of 2048."""
    _, _, bound = _bound(module_name, kernel_name, size, "meta", torch.bfloat16)
    default = bound.config_space.default()
    assert {k: default[k] for k in expected} == expected


@pytest.mark.parametrize("pid_type", ["persistent_blocked", "persistent_interleaved"])
def test_range_flattens_of_a_persistent_kernel_flattens_the_tile_loop(pid_type) -> None:
    """The k loop's ``range_flattens`` goes on the persistent tile loop (one pipelined loop over
    tiles x k on the GPU); the k loop itself carries no flatten."""
    module, args, bound = _bound("matmul", "matmul", (100, 72, 130))
    config = dict(bound.config_space.default(), pid_type=pid_type, range_flattens=[True])
    code = bound.to_triton_code(config)
    assert "for virtual_pid in tl.range(" in code and "total_tiles), flatten=True):" in code \
        or "tl.num_programs(0), flatten=True):" in code
    assert "for offset_2 in tl.range(0, 72, _BLOCK_SIZE_2):" in code
    _check(module, "matmul", bound, args, config)
    flat = dict(config, pid_type="flat")
    assert "flatten=True" in bound.to_triton_code(flat)  # not persistent: stays on the k loop (a no-op)
    _, _, meta_bound = _bound("matmul", "matmul", (16384, 512, 4096), "meta", torch.bfloat16)
    assert compile_for_target(meta_bound, dict(meta_bound.config_space.default(), pid_type=pid_type,
                                               range_flattens=[True], indexing=["tensor_descriptor"] * 3))


@pytest.mark.parametrize("pid_type", ["flat", "persistent_blocked"])
def test_warp_specialized_k_loop(pid_type) -> None:
    """``range_warp_specializes`` puts ``warp_specialize=True`` on the k loop; on sm_90 Triton then
    runs a TMA producer warp group and two consumer groups (12 warps from 4); right on CPU."""
    module, args, bound = _bound("matmul", "matmul", (100, 72, 132))  # 16-byte aligned rows for TMA
    config = dict(bound.config_space.default(), pid_type=pid_type, num_warps=4, range_warp_specializes=[True],
                  indexing=["tensor_descriptor"] * 3)
    assert "for offset_2 in tl.range(0, 72, _BLOCK_SIZE_2, warp_specialize=True):" in bound.to_triton_code(config)
    _check(module, "matmul", bound, args, config)
    _, _, meta_bound = _bound("matmul", "matmul", (4096, 4096, 4096), "meta", torch.bfloat16)
    [compiled] = compile_for_target(meta_bound, dict(config, block_sizes=[128, 128, 64]))
    assert compiled["warps"] == 12
    [plain] = compile_for_target(meta_bound, dict(config, block_sizes=[128, 128, 64], range_warp_specializes=[None]))
    assert plain["warps"] == 4


def test_warp_specialization_needs_four_warps() -> None:
    _, _, bound = _bound("matmul", "matmul", (100, 72, 130))
    config = dict(bound.config_space.default(), num_warps=8, range_warp_specializes=[True])
    assert bound.normalize_config(config)["range_warp_specializes"] == [None]
    assert bound.normalize_config(dict(config, num_warps=4))["range_warp_specializes"] == [True]


def test_maxnreg_must_leave_room_beyond_the_accumulator() -> None:
    """A 128 x 256 fp32 accumulator over 8 warps is 128 registers per thread: maxnreg 128 or less
    cannot hold it (ptxas fails on such configs), 256 can."""
    _, _, bound = _bound("matmul", "matmul", (4096, 4096, 4096), "meta", torch.bfloat16)
    config = dict(bound.config_space.default(), block_sizes=[128, 256, 64], num_warps=8, pid_type="persistent_blocked")
    with pytest.raises(helion.exc.InvalidConfig, match="maxnreg_accumulator"):
        bound.normalize_config(dict(config, maxnreg=128))
    assert bound.normalize_config(dict(config, maxnreg=256))["maxnreg"] == 256


@pytest.mark.parametrize(("module_name", "size", "pipelined"), [
    ("matmul", (4096, 4096, 4096), True), ("matmul", (16384, 512, 4096), True), ("matmul", (512, 512, 512), False),
    ("bmm", (16, 1024, 1024, 1024), True), ("bmm", (2, 512, 256, 512), False)])
def test_hopper_default_of_a_large_matmul_is_the_tma_pipeline(module_name, size, pipelined) -> None:
    """On sm_90 a matmul (or a batch of them) with at least 256 tiles of 128 x 256 defaults to TMA
    sites on an interleaved persistent grid flattened with the k loop, its store in two halves and
    4 stages; it compiles within shared memory. Other devices keep pointers."""
    _, _, bound = _bound(module_name, module_name, size, "meta", torch.bfloat16)
    assert bound.config_space.default()["pid_type"] == "flat"  # not a GPU: the portable default
    space = build_space(bound.blocks, [f for f in bound.functions if f is not None], bound.registered, hopper=True)
    default = space.default()
    assert (default["pid_type"] == "persistent_interleaved") == pipelined
    if pipelined:
        assert default["block_sizes"][-3:] == [128, 256, 64] and default["range_flattens"] == [True]
        assert default["indexing"] == ["tensor_descriptor"] * 3 and default["num_warps"] == 8
        assert default["epilogue_subtiles"] == [2] and default["num_stages"] == 4
        assert default["l2_groupings"] == ([8] if module_name == "matmul" else [2])
        [compiled] = compile_for_target(bound, default)
        assert compiled["shared_bytes"] <= 232448
    _, _, fp32 = _bound(module_name, module_name, size, "meta", torch.float32)  # 3 stages would not fit
    fp32_space = build_space(fp32.blocks, [f for f in fp32.functions if f is not None], fp32.registered, hopper=True)
    assert fp32_space.default()["pid_type"] == "flat"


@pytest.mark.parametrize(("module_name", "kernel_name", "size", "pid_type"), [
    ("matmul", "matmul", (100, 72, 132), "flat"), ("matmul", "matmul", (100, 72, 132), "persistent_interleaved"),
    ("bmm", "bmm", (3, 64, 48, 64), "persistent_interleaved"),  # stacked rows: 32 divides 64
    ("bmm", "bmm", (3, 40, 48, 64), "flat")])                   # one descriptor per matrix
def test_epilogue_subtiles_store_two_halves(module_name, kernel_name, size, pid_type) -> None:
    """``epilogue_subtiles=[2]`` stores a TMA block as two halves of its last dim (half the
    shared-memory buffer): the descriptor's box is halved and both halves are stored."""
    module, args, bound = _bound(module_name, kernel_name, size)
    tiles = [32, 32, 16] if module_name == "matmul" else [1, 32, 32, 16]
    config = dict(bound.config_space.default(), block_sizes=tiles, pid_type=pid_type,
                  indexing=["tensor_descriptor"] * 3, epilogue_subtiles=[2])
    code = bound.to_triton_code(config)
    n_tile = "_BLOCK_SIZE_1" if module_name == "matmul" else "_BLOCK_SIZE_2"
    assert f"{n_tile} // 2])" in code  # the output's box: the n tile cut in two
    assert code.count("_0, store_0_1 = tl.split(") == 1 and code.count(".store([") == 2
    assert f" + {n_tile} // 2], store_0_1)" in code
    _check(module, kernel_name, bound, args, config)


def test_epilogue_subtiles_let_a_fourth_stage_fit() -> None:
    """bmm's 128x256x64 TMA pipeline: 4 stages fit in shared memory only with the store in two
    halves (sm_90 compile: 229408 bytes, H100 0.058 ms vs 0.063 for 3 stages whole); a split of a
    pointer store is repaired away."""
    _, _, bound = _bound("bmm", "bmm", (16, 1024, 1024, 1024), "meta", torch.bfloat16)
    config = dict(bound.config_space.default(), block_sizes=[1, 128, 256, 64], indexing=["tensor_descriptor"] * 3,
                  pid_type="persistent_interleaved", range_flattens=[True], num_stages=4, epilogue_subtiles=[2])
    [compiled] = compile_for_target(bound, config)
    assert compiled["shared_bytes"] <= 232448
    with pytest.raises(helion.exc.InvalidConfig, match="shared_memory"):
        bound.normalize_config(dict(config, epilogue_subtiles=[1]))
    pointer_store = dict(config, indexing=["tensor_descriptor", "tensor_descriptor", "pointer"])
    assert bound.normalize_config(pointer_store)["epilogue_subtiles"] == [1]


def test_batched_matmul_default_order_puts_the_batch_dim_last() -> None:
    """Programs that run together share one matrix's operands in L2: m varies fastest, the batch slowest."""
    module, args, bound = _bound("bmm", "bmm", (3, 37, 50, 20))
    default = bound.config_space.default()
    assert default["loop_orders"] == [[1, 2, 0]]
    code = bound.to_triton_code(default)
    assert "pid_1 = pid % " in code and "pid_0 = pid // " in code
    _check(module, "bmm", bound, args, default)
    _, _, matmul = _bound("matmul", "matmul", (100, 72, 130))
    assert matmul.config_space.default()["loop_orders"] == [[0, 1]]


@helion.kernel(static_shapes=True)
def _add3_rows(x: torch.Tensor, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    out = torch.empty_like(x)
    m, n = x.size()
    for tile_m in hl.tile(m):
        for tile_n in hl.tile(n):
            out[tile_m, tile_n] = x[tile_m, tile_n] + y[tile_m, tile_n] + z[tile_m, tile_n]
    return out


def test_default_loop_pipelining_is_dropped_when_its_buffers_exceed_shared_memory() -> None:
    """Few programs with a storing loop get pipelined by default, unless the buffers of three
    [1, 4096] fp32 loads x 4 stages x unroll 2 would not fit in shared memory."""
    small = [torch.randn(64, 64) for _ in range(3)]
    assert _add3_rows.bind(small).config_space.default()["range_num_stages"] == [4]
    wide = [torch.randn(64, 8192) for _ in range(3)]
    bound = _add3_rows.bind(wide)
    default = bound.config_space.default()
    assert default["range_num_stages"] == [0] and default["range_unroll_factors"] == [0]
    bound.normalize_config(default)  # a valid config, not a shared_memory violation
    torch.testing.assert_close(bound.compile_config(default)(*wide), wide[0] + wide[1] + wide[2])
