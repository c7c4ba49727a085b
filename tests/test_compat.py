"""The public Helion surface the public examples use: ``helion._testing``, ``helion.exc``
warnings, ``helion.autotuner`` fragments with ``hl.register_tunable``, ``helion._compat``, the
``autotune_config_overrides`` setting, and ``experiments/public_examples.py``. Kernels are written
in the examples' style and run on CPU tensors (Triton's interpreter)."""
from __future__ import annotations

import textwrap
import warnings

import pytest
import torch

import helion
import helion.language as hl
from helion import _compat, _testing
from helion.autotuner import BooleanFragment, EnumFragment, IntegerFragment, ListOf, PowerOfTwoFragment


# --- helion._testing -------------------------------------------------------------------------------

@helion.kernel(config=helion.Config(block_sizes=[4, 16]))
def tile_means(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row: the sum over column tiles of each tile's mean, and of its count."""
    m, n = x.size()
    means = torch.empty([m], dtype=torch.float32, device=x.device)
    counts = torch.empty([m], dtype=torch.float32, device=x.device)
    for tile_m in hl.tile(m):
        acc = hl.zeros([tile_m], dtype=torch.float32)
        seen = hl.zeros([tile_m], dtype=torch.float32)
        for tile_n in hl.tile(n):
            chunk = x[tile_m, tile_n]
            acc = acc + torch.mean(chunk, dim=-1)
            seen = seen + chunk.size(-1)
        means[tile_m] = acc
        counts[tile_m] = seen
    return means, counts


def tile_means_reference(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    chunks = x.split(16, dim=1)
    return sum(c.mean(-1) for c in chunks), torch.full([x.size(0)], float(x.size(1)))


def test_device_and_half_dtype_on_cpu() -> None:
    assert _testing.DEVICE == torch.device("cpu")
    assert _testing.HALF_DTYPE == torch.float32  # the interpreter's 16-bit arithmetic is not trustworthy


def test_run_example_checks_every_kernel_and_baseline(capsys: pytest.CaptureFixture[str]) -> None:
    """A partial last tile's mean and size count its elements, not the block (21 = 16 + 5)."""
    x = torch.randn(7, 21)
    times = _testing.run_example({"helion": tile_means, "eager": tile_means_reference},
                                 {"torch": tile_means_reference, "again": tile_means_reference}, (x,),
                                 rtol=1e-5, atol=1e-5)
    assert set(times) == {"helion", "eager", "torch", "again"} and all(t > 0 for t in times.values())
    assert "Benchmark Results" in capsys.readouterr().err


def test_run_example_reports_a_wrong_kernel() -> None:
    x = torch.randn(7, 21)
    with pytest.raises(AssertionError, match="helion output 1"):
        _testing.run_example(tile_means, lambda x: (tile_means_reference(x)[0], torch.zeros(7)), (x,),
                             benchmark=False)


def test_code_and_output_and_reference_mode() -> None:
    x = torch.randn(7, 21)
    code, (means, _) = _testing.code_and_output(tile_means, (x,), block_sizes=[2, 8])
    assert "tl.minimum" in code  # the partial tile's size
    torch.testing.assert_close(means, sum(c.mean(-1) for c in x.split(8, dim=1)))
    eager = helion.kernel(tile_means.fn, config=helion.Config(block_sizes=[4, 16]), reference_mode=True)
    torch.testing.assert_close(eager(x), tile_means_reference(x))


# --- helion.exc warnings ------------------------------------------------------------------------------

def _host_scale(x: torch.Tensor) -> torch.Tensor:
    y = x * 2  # host-side arithmetic: warned
    out = torch.empty_like(x)
    for tile in hl.tile(x.size()):
        out[tile] = y[tile] + 1
    return out


def test_tensor_operation_in_wrapper_warns_at_the_host_line() -> None:
    noisy = helion.kernel(_host_scale, use_default_config=True)
    quiet = helion.kernel(_host_scale, use_default_config=True,
                          ignore_warnings=[helion.exc.TensorOperationInWrapper])
    x = torch.randn(5, 6)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.testing.assert_close(noisy(x), x * 2 + 1)
        quiet(x)
    found = [w for w in caught if issubclass(w.category, helion.exc.TensorOperationInWrapper)]
    assert len(found) == 1 and "torch.mul" in str(found[0].message)
    assert found[0].filename == __file__ and found[0].lineno == _host_scale.__code__.co_firstlineno + 1
    assert issubclass(helion.exc.TensorOperationInWrapper, helion.exc.BaseWarning)


# --- helion.autotuner + hl.register_tunable ---------------------------------------------------------

@helion.kernel(static_shapes=True, use_default_config=True)
def matmul_split_k(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    m, k = x.size()
    _, n = y.size()
    out = torch.zeros([m, n], dtype=torch.float32, device=x.device)
    split_k = hl.register_tunable("split_k", PowerOfTwoFragment(1, 64))
    k_block = helion.next_power_of_2(helion.cdiv(k, split_k))
    for tile_m, tile_n, outer_k in hl.tile([m, n, k], block_size=[None, None, k_block]):
        acc = hl.zeros([tile_m, tile_n], dtype=torch.float32)
        for inner_k in hl.tile(outer_k.begin, outer_k.end):
            acc = torch.addmm(acc, x[tile_m, inner_k], y[inner_k, tile_n])
        hl.atomic_add(out, [tile_m, tile_n], acc)
    return out


def test_register_tunable_sizes_host_code_per_config() -> None:
    x, y = torch.randn(16, 200), torch.randn(200, 16)
    bound = matmul_split_k.bind((x, y))
    space = bound.config_space
    assert str(space.params["split_k"]) == "PowerOfTwo(1, 64)" and space.default()["split_k"] == 1
    torch.testing.assert_close(matmul_split_k(x, y), x @ y, rtol=1e-4, atol=1e-4)
    for split in (4, 16):
        config = {**space.default(), "split_k": split}
        assert f"triton.cdiv(200, _BLOCK_SIZE_2)" in bound.to_triton_code(config)
        assert f"_BLOCK_SIZE_2 = {helion.next_power_of_2(-(-200 // split))}" in bound.to_triton_code(config)
        torch.testing.assert_close(bound.compile_config(config)(x, y), x @ y, rtol=1e-4, atol=1e-4)


@helion.kernel(use_default_config=True)
def scaled_copy(x: torch.Tensor) -> torch.Tensor:
    scale = hl.register_tunable("scale", EnumFragment([1, 2, 3]))
    shift = hl.register_tunable("shift", BooleanFragment())
    out = torch.empty_like(x)
    for tile in hl.tile(x.size()):
        out[tile] = x[tile] * scale + (1.0 if shift else 0.0)
    return out


def test_tunable_values_reach_device_code_by_name() -> None:
    x = torch.randn(9, 5)
    bound = scaled_copy.bind((x,))
    config = {**bound.config_space.default(), "scale": 3, "shift": True}
    assert bound.normalize_config(helion.Config(scale=3, shift=True)) == bound.normalize_config(config)
    torch.testing.assert_close(bound.compile_config(config)(x), x * 3 + 1)
    torch.testing.assert_close(scaled_copy(x), x)  # the defaults
    with pytest.raises(helion.exc.InvalidConfig, match="scale"):
        bound.normalize_config({"scale": 5})


def test_fragments_map_to_typed_parameters() -> None:
    assert IntegerFragment(2, 9, 20).default() == 9
    assert ListOf(PowerOfTwoFragment(16, 64, 32), 2).default() == [32, 32]
    with pytest.raises(helion.exc.InvalidConfig, match="PowerOfTwoFragment"):
        PowerOfTwoFragment(3, 8).to_param()
    with pytest.raises(helion.exc.HelionError, match="register_tunable"):
        hl.register_tunable("x", 3)


# --- settings and helion._compat ----------------------------------------------------------------------

def test_config_overrides_fit_the_kernel() -> None:
    kernel = helion.kernel(matmul_split_k.fn, static_shapes=True, use_default_config=True,
                           autotune_config_overrides={"range_unroll_factors": [2, 0, 0], "no_such_knob": 1})
    bound = kernel.bind((torch.randn(16, 64), torch.randn(64, 16)))
    assert bound.normalize_config({})["range_unroll_factors"] == [2]


def test_compat_feature_checks_on_cpu() -> None:
    assert not _compat.supports_tensor_descriptor() and not _compat.use_tileir_tunables()
    assert _compat.requires_torch_version("2.0") and not _compat.requires_torch_version("99.1")
    assert _compat.warps_to_threads(4) == 128


# --- experiments/public_examples.py ------------------------------------------------------------------

def test_public_examples_script_tables_pass_and_fail(tmp_path, capsys) -> None:
    from experiments import public_examples
    (tmp_path / "good.py").write_text(textwrap.dedent("""
        from helion._testing import DEVICE, run_example
        def main():
            run_example(lambda x: x + 1, lambda x: 1 + x, (1.0,), benchmark=False)
    """))
    (tmp_path / "broken.py").write_text("from helion.exc import NotAThing\ndef main(): pass\n")
    (tmp_path / "_helper.py").write_text("raise SystemExit(3)\n")
    status = public_examples.main([str(tmp_path), "--timeout", "60", "--jobs", "2"])
    out = capsys.readouterr().out
    assert status == 1 and "1 of 2 pass" in out
    assert "| good | pass |" in out and "ImportError: cannot import name 'NotAThing'" in out


def test_fragments_import_from_the_public_module_path():
    from helion.autotuner import config_fragment
    assert config_fragment.EnumFragment is EnumFragment and config_fragment.PowerOfTwoFragment is PowerOfTwoFragment
