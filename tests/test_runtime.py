"""Runtime behaviour: binding and its cache, the config space, compiled configs, ``helion.Config``,
the default-config warning, and the host overhead of a call."""
from __future__ import annotations

import ast
import time
import warnings

import numpy as np
import pytest
import torch

import helion
import helion.language as hl
import search


def make_add():
    """A fresh kernel object with no config and default settings."""
    @helion.kernel()
    def add(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        out = torch.empty_like(x)
        for tile in hl.tile(out.size()):
            out[tile] = x[tile] + y[tile]
        return out
    return add


@helion.kernel(use_default_config=True)
def add(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    out = torch.empty_like(x)
    for tile in hl.tile(out.size()):
        out[tile] = x[tile] + y[tile]
    return out


@helion.kernel(use_default_config=True)
def scaled_row_sum(x: torch.Tensor, scale: float, shift: int) -> torch.Tensor:
    m, n = x.size()
    out = torch.empty([m], dtype=torch.float32, device=x.device)
    for tile in hl.tile(m):
        out[tile] = x[tile, :].sum(dim=1) * scale + shift
    return out


@helion.kernel(use_default_config=True)
def softmax(x: torch.Tensor) -> torch.Tensor:
    m, n = x.size()
    out = torch.empty_like(x)
    for tile in hl.tile(m):
        out[tile, :] = torch.softmax(x[tile, :], dim=1)
    return out


@helion.kernel(use_default_config=True)
def matmul(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    m, k = x.size()
    _, n = y.size()
    out = torch.empty([m, n], dtype=torch.float32, device=x.device)
    for tile_m, tile_n in hl.tile([m, n]):
        acc = hl.zeros([tile_m, tile_n], dtype=torch.float32)
        for tile_k in hl.tile(k):
            acc = torch.addmm(acc, x[tile_m, tile_k], y[tile_k, tile_n])
        out[tile_m, tile_n] = acc
    return out


# --- binding and its cache ----------------------------------------------------------------------------


def test_bind_is_cached_per_specialization_key():
    x, y = torch.randn(20, 30), torch.randn(20, 30)
    bound = add.bind((x, y))
    assert isinstance(bound, helion.BoundKernel)
    assert add.bind((torch.randn(20, 30), torch.randn(20, 30))) is bound  # same shapes, fresh data
    assert add.bind((torch.randn(21, 30), torch.randn(21, 30))) is not bound  # shape
    assert add.bind((x.half(), y.half())) is not bound  # dtype
    xt = torch.randn(30, 20).t()
    assert xt.shape == x.shape
    assert add.bind((xt, y)) is not bound  # strides
    assert add.bind((xt, y)) is add.bind((torch.randn(30, 20).t(), y))


def test_bind_accepts_keywords():
    x, y = torch.randn(20, 30), torch.randn(20, 30)
    assert add.bind((x,), {"y": y}) is add.bind((x, y))


def test_scalar_arguments_in_the_key():
    x = torch.randn(12, 20)
    bound = scaled_row_sum.bind((x, 1.5, 2))
    assert scaled_row_sum.bind((x, -0.25, 2)) is bound  # floats are runtime arguments
    assert scaled_row_sum.bind((x, 1.5, 3)) is not bound  # ints are specialized
    torch.testing.assert_close(scaled_row_sum(x, 1.5, 2), x.sum(1) * 1.5 + 2, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(scaled_row_sum(x, -0.25, 2), x.sum(1) * -0.25 + 2, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(scaled_row_sum(x, 1.5, 3), x.sum(1) * 1.5 + 3, rtol=1e-5, atol=1e-5)


def test_transposed_input_gives_correct_results():
    x = torch.randn(30, 20).t()
    y = torch.randn(20, 30)
    torch.testing.assert_close(add(x, y), x + y)
    torch.testing.assert_close(add(y, x), x + y)
    x_slice = torch.randn(20, 60)[:, ::2]  # a non-unit inner stride
    torch.testing.assert_close(add(x_slice, y), x_slice + y)


def test_transposed_input_to_matmul():
    x, y = torch.randn(40, 24).t(), torch.randn(40, 32)
    out = matmul.bind((x, y)).compile_config({"block_sizes": [16, 16, 16]})(x, y)
    torch.testing.assert_close(out, x @ y, rtol=1e-4, atol=1e-4)


def test_dtype_change_gives_correct_results():
    x, y = torch.randn(20, 30), torch.randn(20, 30)
    torch.testing.assert_close(add(x, y), x + y)
    out = add(x.half(), y.half())
    assert out.dtype == torch.float16
    torch.testing.assert_close(out, x.half() + y.half())


def test_reset_forgets_bound_kernels():
    @helion.kernel(use_default_config=True)
    def neg(x: torch.Tensor) -> torch.Tensor:
        out = torch.empty_like(x)
        for tile in hl.tile(x.size(0)):
            out[tile] = -x[tile]
        return out

    x = torch.randn(16)
    bound = neg.bind((x,))
    neg.reset()
    assert neg.bind((x,)) is not bound
    torch.testing.assert_close(neg(x), -x)


def test_bound_kernel_is_callable():
    x, y = torch.randn(20, 30), torch.randn(20, 30)
    torch.testing.assert_close(add.bind((x, y))(x, y), x + y)


# --- the config space --------------------------------------------------------------------------------------


def test_config_space_is_a_search_space():
    bound = add.bind((torch.randn(37, 50), torch.randn(37, 50)))
    space = bound.config_space
    assert isinstance(space, search.Space)
    assert {"block_sizes", "num_warps", "num_stages"} <= set(space.names)
    assert "reduction_loops" not in space.names
    default = space.default()
    assert space.contains(default)
    assert len(default["block_sizes"]) == 2
    for size in default["block_sizes"]:
        assert size & (size - 1) == 0


def test_reduction_kernel_space_has_reduction_loops():
    space = softmax.bind((torch.randn(8, 100),)).config_space
    assert {"block_sizes", "num_warps", "num_stages", "reduction_loops"} <= set(space.names)
    default = space.default()
    assert len(default["reduction_loops"]) == 1
    assert space.contains({**default, "reduction_loops": [None]})
    assert space.contains({**default, "reduction_loops": [32]})


def test_samples_are_valid_and_compute_correctly():
    x = torch.randn(8, 100) * 3
    bound = softmax.bind((x,))
    space = bound.config_space
    rng = np.random.default_rng(0)
    samples = [space.sample(rng) for _ in range(20)]
    assert all(space.contains(cfg) for cfg in samples)
    assert len({helion.Config(cfg).to_json() for cfg in samples}) > 1
    for cfg in samples[:3]:  # running each is slow in the interpreter; three are enough
        torch.testing.assert_close(bound.compile_config(cfg)(x), torch.softmax(x, 1), rtol=1e-4, atol=1e-5)


def test_default_config_computes_correctly():
    x, y = torch.randn(40, 24), torch.randn(24, 32)
    bound = matmul.bind((x, y))
    torch.testing.assert_close(bound.compile_config(bound.config_space.default())(x, y), x @ y,
                               rtol=1e-4, atol=1e-4)


def test_registered_block_size_bounds_shape_the_space():
    @helion.kernel(use_default_config=True)
    def chunked_sum(x: torch.Tensor) -> torch.Tensor:
        m, n = x.size()
        block_n = hl.register_block_size(16, 32)
        out = torch.empty([m], dtype=torch.float32, device=x.device)
        for tile_m in hl.tile(m):
            acc = hl.zeros([tile_m], dtype=torch.float32)
            for tile_n in hl.tile(n, block_size=block_n):
                acc = acc + x[tile_m, tile_n].sum(1)
            out[tile_m] = acc
        return out

    x = torch.randn(8, 100)
    bound = chunked_sum.bind((x,))
    space = bound.config_space
    default = space.default()
    position = next(i for i in range(2) if space.contains(
        {**default, "block_sizes": [16 if j == i else s for j, s in enumerate(default["block_sizes"])]})
        and not space.contains(
        {**default, "block_sizes": [8 if j == i else s for j, s in enumerate(default["block_sizes"])]}))
    for size, ok in ((8, False), (16, True), (32, True), (64, False)):
        sizes = list(default["block_sizes"])
        sizes[position] = size
        assert space.contains({**default, "block_sizes": sizes}) is ok, size
    torch.testing.assert_close(chunked_sum(x), x.sum(1), rtol=1e-4, atol=1e-4)


def test_matmul_block_sizes_are_at_least_16():
    space = matmul.bind((torch.randn(40, 24), torch.randn(24, 32))).config_space
    default = space.default()
    assert all(size >= 16 for size in default["block_sizes"])
    assert not space.contains({**default, "block_sizes": [8, 16, 16]})


# --- compiled configs -------------------------------------------------------------------------------------


def test_compile_config_is_cached_per_config():
    x, y = torch.randn(37, 50), torch.randn(37, 50)
    bound = add.bind((x, y))
    first = bound.compile_config({"block_sizes": [16, 16]})
    assert callable(first)
    assert bound.compile_config({"block_sizes": [16, 16]}) is first
    assert bound.compile_config(helion.Config(block_sizes=[16, 16])) is first
    assert bound.compile_config(helion.Config(block_sizes=(16, 16))) is first
    second = bound.compile_config({"block_sizes": [32, 16]})
    assert second is not first
    torch.testing.assert_close(first(x, y), x + y)
    torch.testing.assert_close(second(x, y), x + y)


def test_compiled_runner_knows_its_full_config():
    bound = add.bind((torch.randn(37, 50), torch.randn(37, 50)))
    runner = bound.compile_config({"block_sizes": [16, 16]})
    assert isinstance(runner.config, helion.Config)
    assert runner.config["block_sizes"] == [16, 16]
    assert {"num_warps", "num_stages"} <= set(runner.config)  # missing knobs filled with defaults
    assert bound.config_space.contains(dict(runner.config))


# --- helion.Config --------------------------------------------------------------------------------------------


def test_config_json_round_trip_and_access():
    cfg = helion.Config(block_sizes=[64, 16], reduction_loops=[None, 32], num_warps=8, num_stages=3)
    again = helion.Config.from_json(cfg.to_json())
    assert again == cfg
    assert hash(again) == hash(cfg)
    assert cfg.block_sizes == [64, 16]
    assert cfg.num_warps == 8
    assert cfg["num_stages"] == 3
    assert cfg.reduction_loops == [None, 32]
    assert dict(cfg) == {"block_sizes": [64, 16], "reduction_loops": [None, 32], "num_warps": 8,
                         "num_stages": 3}
    assert cfg.to_dict() == dict(cfg)
    with pytest.raises(AttributeError):
        _ = cfg.not_a_knob
    with pytest.raises(KeyError):
        _ = cfg["not_a_knob"]


def test_config_equality_and_construction():
    assert helion.Config(block_sizes=(16, 8)) == helion.Config(block_sizes=[16, 8])
    assert helion.Config({"num_warps": 4}, block_sizes=[8]) == helion.Config(block_sizes=[8], num_warps=4)
    assert helion.Config(block_sizes=[8]) == {"block_sizes": [8]}
    assert helion.Config(block_sizes=[8]) != helion.Config(block_sizes=[16])
    assert len({helion.Config(block_sizes=[8]), helion.Config(block_sizes=(8,))}) == 1
    assert "block_sizes=[8]" in repr(helion.Config(block_sizes=[8]))
    with pytest.raises(TypeError):
        helion.Config(block_sizes=[8])["num_warps"] = 4  # immutable


# --- calls without a config: tune once per specialization, never warn ----------------------------------
#
# A call without config= autotunes (a few trials in the CPU interpreter) and prints the winner on stderr
# as a decorator line the user can paste; config= and use_default_config skip tuning.

TUNED_MESSAGE = "to skip tuning: @helion.kernel(config=helion.Config("


def pasted_config(err: str) -> dict:
    """The config of the printed ``@helion.kernel(config=helion.Config(...))`` line."""
    line = err.split("to skip tuning: ")[1].split("\n")[0]
    call = ast.parse(line.removeprefix("@"), mode="eval").body
    assert isinstance(call, ast.Call) and ast.unparse(call.func) == "helion.kernel", line
    config = call.keywords[0].value
    assert call.keywords[0].arg == "config" and ast.unparse(config.func) == "helion.Config", line
    return {kw.arg: ast.literal_eval(kw.value) for kw in config.keywords}


def make_tuned_add():
    """A fresh kernel object with a small tuning budget."""
    @helion.kernel(autotune_max_trials=3, autotune_progress=False)
    def tuned_add(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        out = torch.empty_like(x)
        for tile in hl.tile(out.size()):
            out[tile] = x[tile] + y[tile]
        return out
    return tuned_add


def test_call_without_config_tunes_once_and_reports_the_config(capsys):
    kernel = make_tuned_add()
    x, y = torch.randn(20, 30), torch.randn(20, 30)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        torch.testing.assert_close(kernel(x, y), x + y)
    err = capsys.readouterr().err
    assert err.count(TUNED_MESSAGE) == 1, err
    assert "tuned_add" in err
    best = pasted_config(err)
    assert kernel.bind((x, y)).config_space.contains(best)
    torch.testing.assert_close(kernel.bind((x, y)).compile_config(best)(x, y), x + y)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x_new = torch.randn(20, 30)
        torch.testing.assert_close(kernel(x_new, y), x_new + y)
    assert TUNED_MESSAGE not in capsys.readouterr().err  # same specialization: no second tuning


def test_new_specialization_tunes_again(capsys):
    kernel = make_tuned_add()
    x, y = torch.randn(20, 30), torch.randn(20, 30)
    kernel(x, y)
    capsys.readouterr()
    x2, y2 = torch.randn(9, 12), torch.randn(9, 12)
    torch.testing.assert_close(kernel(x2, y2), x2 + y2)
    assert capsys.readouterr().err.count(TUNED_MESSAGE) == 1


def test_config_never_tunes_or_warns(capsys):
    @helion.kernel(config=helion.Config(block_sizes=[16, 16]))
    def configured(x: torch.Tensor) -> torch.Tensor:
        out = torch.empty_like(x)
        for tile in hl.tile(x.size()):
            out[tile] = x[tile] * 2
        return out

    x, x_small = torch.randn(20, 30), torch.randn(9, 12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        torch.testing.assert_close(configured(x), x * 2)
        torch.testing.assert_close(configured(x_small), x_small * 2)
    assert TUNED_MESSAGE not in capsys.readouterr().err


def test_fixed_config_works_for_inputs_smaller_than_its_blocks():
    @helion.kernel(config=helion.Config(block_sizes=[32]))
    def plus_one(x: torch.Tensor) -> torch.Tensor:
        out = torch.empty_like(x)
        for tile in hl.tile(x.size(0)):
            out[tile] = x[tile] + 1
        return out

    x = torch.randn(100)
    torch.testing.assert_close(plus_one(x), x + 1)
    small = torch.randn(10)
    torch.testing.assert_close(plus_one(small), small + 1)


@pytest.mark.parametrize("how", ["setting", "environment"])
def test_use_default_config_never_tunes_or_warns(how, monkeypatch, capsys):
    if how == "environment":
        monkeypatch.setenv("HELION_USE_DEFAULT_CONFIG", "1")
        kernel = make_add()
    else:
        kernel = helion.kernel(make_add().fn, use_default_config=True)
    assert kernel.settings.use_default_config
    x, y = torch.randn(20, 30), torch.randn(20, 30)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        torch.testing.assert_close(kernel(x, y), x + y)
    assert TUNED_MESSAGE not in capsys.readouterr().err


def test_explicit_compile_config_never_tunes_or_warns(capsys):
    kernel = make_tuned_add()
    x, y = torch.randn(20, 30), torch.randn(20, 30)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bound = kernel.bind((x, y))
        torch.testing.assert_close(bound.compile_config(bound.config_space.default())(x, y), x + y)
    assert TUNED_MESSAGE not in capsys.readouterr().err


# --- host overhead ------------------------------------------------------------------------------------------


@helion.kernel(config=helion.Config(block_sizes=[16]))
def tiny(x: torch.Tensor) -> torch.Tensor:
    out = torch.empty_like(x)
    for tile in hl.tile(x.size(0)):
        out[tile] = x[tile] + 1
    return out


def test_host_dispatch_overhead():
    x = torch.randn(16)
    calls = 200
    bound = tiny.bind((x,))
    runner = bound.compile_config(helion.Config(block_sizes=[16]))
    for _ in range(5):  # warm-up: bind, compile, load
        tiny(x)
        runner(x)

    def best_of(fn, repeats=3):
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(calls):
                fn(x)
            times.append((time.perf_counter() - start) / calls)
        return min(times)

    through_kernel = best_of(tiny)
    direct = best_of(runner)
    overhead_ms = (through_kernel - direct) * 1e3
    print(f"\nhost overhead: kernel(x) {through_kernel * 1e3:.3f} ms/call, compiled runner "
          f"{direct * 1e3:.3f} ms/call, dispatch overhead {overhead_ms:.3f} ms/call")
    torch.testing.assert_close(tiny(x), x + 1)
    assert overhead_ms < 5.0
