"""Errors a kernel author meets: each is a ``helion.exc.HelionError`` subclass that names the problem
and points at the offending line of the user's file (this file), never a bare internal traceback.

The offending line of each kernel is marked with an ``ERROR-LINE`` comment; the expected line
number is read from the kernel's source, so the tests survive edits above them.
"""
from __future__ import annotations

import inspect
import os
import traceback

import pytest
import torch

import helion
import helion.language as hl
from helion import exc

MARKER = "# ERROR-LINE"
THIS_FILE = os.path.abspath(__file__)


def marker_line(fn) -> int:
    """The line number (in this file) of the line of ``fn`` that carries the marker comment."""
    lines, first = inspect.getsourcelines(fn)
    found = [first + i for i, text in enumerate(lines) if MARKER in text]
    assert len(found) == 1, f"{fn.__name__} must mark exactly one line"
    return found[0]


def check_error(kernel, args, error_cls, *words):
    """Call ``kernel(*args)``; the error must be ``error_cls``, mention ``words`` and point at the marker."""
    with pytest.raises(exc.HelionError) as info:
        kernel(*args)
    err = info.value
    text = str(err)
    assert isinstance(err, error_cls), f"expected {error_cls.__name__}, got {type(err).__name__}: {text}"
    assert not isinstance(err, exc.InternalError) or error_cls is exc.InternalError, text
    for word in words:
        assert word.lower() in text.lower(), f"{word!r} not in message: {text}"
    line = marker_line(kernel.fn)
    assert THIS_FILE in text, f"file path missing from: {text}"
    assert f"line {line}" in text, f"expected line {line} in: {text}"
    assert err.lineno == line and os.path.abspath(err.filename) == THIS_FILE
    assert MARKER in text  # the offending source line is quoted
    frames = "".join(traceback.format_exception(type(err), err, err.__traceback__))
    assert f"helion{os.sep}compiler" not in frames, f"internal frames leaked into the traceback:\n{frames}"
    return err


def x2d(m=8, n=16):
    return torch.randn(m, n)


# --- unsupported statements -----------------------------------------------------------------------------


@helion.kernel(use_default_config=True)
def while_in_device_loop(x: torch.Tensor) -> torch.Tensor:
    out = torch.empty_like(x)
    for tile in hl.tile(x.size(0)):
        value = x[tile]
        while False:  # ERROR-LINE
            value = value + 1
        out[tile] = value
    return out


def test_while_in_device_code():
    check_error(while_in_device_loop, (torch.randn(16),), exc.UnsupportedSyntax, "while")


@helion.kernel(use_default_config=True)
def return_in_device_loop(x: torch.Tensor) -> torch.Tensor:
    out = torch.empty_like(x)
    for tile in hl.tile(x.size(0)):
        out[tile] = x[tile]
        return out  # ERROR-LINE
    return out


def test_return_in_device_code():
    check_error(return_in_device_loop, (torch.randn(16),), exc.UnsupportedSyntax, "return")


@helion.kernel(use_default_config=True)
def try_in_device_loop(x: torch.Tensor) -> torch.Tensor:
    out = torch.empty_like(x)
    for tile in hl.tile(x.size(0)):
        try:  # ERROR-LINE
            out[tile] = x[tile]
        except ValueError:
            pass
    return out


def test_try_in_device_code():
    check_error(try_in_device_loop, (torch.randn(16),), exc.UnsupportedSyntax, "try")


@helion.kernel(use_default_config=True)
def while_in_nested_loop(x: torch.Tensor) -> torch.Tensor:
    m, n = x.size()
    out = torch.empty_like(x)
    for tile_m in hl.tile(m):
        for tile_n in hl.tile(n):
            out[tile_m, tile_n] = x[tile_m, tile_n]
            while True:  # ERROR-LINE
                break
    return out


def test_while_in_nested_device_loop():
    check_error(while_in_nested_loop, (x2d(),), exc.UnsupportedSyntax, "while")


@helion.kernel(use_default_config=True)
def break_in_device_loop(x: torch.Tensor) -> torch.Tensor:
    out = torch.empty_like(x)
    for tile in hl.tile(x.size(0)):
        out[tile] = x[tile]
        break  # ERROR-LINE
    return out


@helion.kernel(use_default_config=True)
def with_in_device_loop(x: torch.Tensor) -> torch.Tensor:
    out = torch.empty_like(x)
    for tile in hl.tile(x.size(0)):
        with torch.no_grad():  # ERROR-LINE
            out[tile] = x[tile]
    return out


@helion.kernel(use_default_config=True)
def assert_in_device_loop(x: torch.Tensor) -> torch.Tensor:
    out = torch.empty_like(x)
    for tile in hl.tile(x.size(0)):
        assert x.dtype == torch.float32  # ERROR-LINE
        out[tile] = x[tile]
    return out


@pytest.mark.parametrize(("kernel", "word"), [(break_in_device_loop, "break"), (with_in_device_loop, "with"),
                                              (assert_in_device_loop, "assert")], ids=["break", "with", "assert"])
def test_other_unsupported_statements(kernel, word):
    check_error(kernel, (torch.randn(16),), exc.UnsupportedSyntax, word)


# --- unsupported operations ---------------------------------------------------------------------------


@helion.kernel(use_default_config=True)
def sort_kernel(x: torch.Tensor) -> torch.Tensor:
    m, n = x.size()
    out = torch.empty_like(x)
    for tile in hl.tile(m):
        out[tile, :] = torch.sort(x[tile, :], dim=1)  # ERROR-LINE
    return out


def test_unsupported_torch_op_sort():
    check_error(sort_kernel, (x2d(),), exc.UnsupportedOperation, "sort", "not supported")


@helion.kernel(use_default_config=True)
def fft_kernel(x: torch.Tensor) -> torch.Tensor:
    m, n = x.size()
    out = torch.empty_like(x)
    for tile_m in hl.tile(m):
        for tile_n in hl.tile(n):
            spectrum = torch.fft.fft(x[tile_m, tile_n])  # ERROR-LINE
            out[tile_m, tile_n] = spectrum.real
    return out


def test_unsupported_torch_op_fft_in_nested_loop():
    check_error(fft_kernel, (x2d(),), exc.UnsupportedOperation, "fft", "not supported")


@helion.kernel(use_default_config=True)
def method_on_host_tensor(x: torch.Tensor) -> torch.Tensor:
    out = torch.empty_like(x)
    for tile in hl.tile(x.size(0)):
        out[tile] = x[tile] + x.sum()  # ERROR-LINE
    return out


def test_whole_host_tensor_method_in_device_code():
    check_error(method_on_host_tensor, (torch.randn(16),), exc.UnsupportedOperation, "'x'")


@helion.kernel(use_default_config=True)
def partial_slice(x: torch.Tensor) -> torch.Tensor:
    m, n = x.size()
    out = torch.empty([m, 2], dtype=x.dtype, device=x.device)
    for tile in hl.tile(m):
        out[tile, :] = x[tile, 1:3]  # ERROR-LINE
    return out


def test_partial_slice_of_host_tensor():
    check_error(partial_slice, (x2d(),), exc.UnsupportedOperation, "slice")


@helion.kernel(use_default_config=True)
def arange_not_power_of_two(x: torch.Tensor) -> torch.Tensor:
    out = torch.empty_like(x)
    for tile in hl.tile(x.size(0)):
        out[tile] = x[tile] + hl.arange(5).sum()
    return out


def test_arange_length_not_power_of_two_is_masked():
    """hl.arange(5) is padded to a block of 8 and masked, like a `:` dim of size 5 (no error)."""
    x = torch.randn(16)
    torch.testing.assert_close(arange_not_power_of_two(x), x + 10)


@helion.kernel(use_default_config=True)
def error_in_second_loop(x: torch.Tensor) -> torch.Tensor:
    out = torch.empty_like(x)
    for tile in hl.tile(x.size(0)):
        out[tile] = x[tile]
    for tile in hl.tile(x.size(0)):
        out[tile] = torch.sort(x[tile], 0)  # ERROR-LINE
    return out


def test_error_in_the_second_device_loop():
    check_error(error_in_second_loop, (torch.randn(16),), exc.UnsupportedOperation, "sort")


@helion.kernel(use_default_config=True)
def float_tile_bound(x: torch.Tensor) -> torch.Tensor:
    out = torch.empty_like(x)
    for tile in hl.tile(x.size(0) / 2):  # ERROR-LINE
        out[tile] = x[tile]
    return out


def test_top_level_tile_bound_must_be_an_int():
    check_error(float_tile_bound, (torch.randn(16),), exc.UnsupportedOperation, "hl.tile", "integer")


@helion.kernel(use_default_config=True)
def store_a_tile(x: torch.Tensor) -> torch.Tensor:
    out = torch.empty_like(x)
    for tile in hl.tile(x.size(0)):
        out[tile] = tile  # ERROR-LINE
    return out


def test_storing_a_tile_object():
    check_error(store_a_tile, (torch.randn(16),), exc.UnsupportedOperation, "tile.index")


@helion.kernel(use_default_config=True)
def float_index(x: torch.Tensor) -> torch.Tensor:
    out = torch.empty_like(x)
    for tile in hl.tile(x.size(0)):
        out[tile] = x[tile] + x[1.5]  # ERROR-LINE
    return out


def test_indexing_with_a_float():
    check_error(float_index, (torch.randn(16),), exc.UnsupportedOperation, "float")


@helion.kernel(use_default_config=True)
def undefined_name_in_device_code(x: torch.Tensor) -> torch.Tensor:
    out = torch.empty_like(x)
    for tile in hl.tile(x.size(0)):
        out[tile] = x[tile] + not_defined_anywhere  # noqa: F821  # ERROR-LINE
    return out


def test_undefined_name_in_device_code():
    check_error(undefined_name_in_device_code, (torch.randn(16),), exc.HelionError, "not_defined_anywhere")


def test_undefined_name_in_device_code_is_located():
    with pytest.raises(exc.HelionError, match="not_defined_anywhere") as info:
        undefined_name_in_device_code(torch.randn(16))
    assert info.value.lineno == marker_line(undefined_name_in_device_code.fn)


@helion.kernel(use_default_config=True)
def unknown_tensor_method(x: torch.Tensor) -> torch.Tensor:
    out = torch.empty_like(x)
    for tile in hl.tile(x.size(0)):
        out[tile] = x[tile].no_such_method()  # ERROR-LINE
    return out


def test_unknown_tensor_method_in_device_code():
    check_error(unknown_tensor_method, (torch.randn(16),), exc.UnsupportedOperation, "no_such_method")


# --- host/device boundary -------------------------------------------------------------------------------


@helion.kernel(use_default_config=True)
def host_reads_device_value(x: torch.Tensor) -> torch.Tensor:
    out = torch.empty_like(x)
    for tile in hl.tile(x.size(0)):
        doubled = x[tile] * 2
        out[tile] = doubled
    print(doubled)  # ERROR-LINE
    return out


def test_host_reads_device_value():
    check_error(host_reads_device_value, (torch.randn(16),), exc.HostDeviceError, "doubled", "device")


@helion.kernel(use_default_config=True)
def device_assigns_host_variable(x: torch.Tensor) -> torch.Tensor:
    out = torch.empty_like(x)
    total = 0
    for tile in hl.tile(x.size(0)):
        total = x[tile].sum()  # ERROR-LINE
        out[tile] = x[tile]
    return out


def test_device_assigns_host_variable():
    check_error(device_assigns_host_variable, (torch.randn(16),), exc.HostDeviceError, "total", "host")


@helion.kernel(use_default_config=True)
def hl_zeros_in_host_code(x: torch.Tensor) -> torch.Tensor:
    out = torch.empty_like(x)
    scratch = hl.zeros([4], dtype=torch.float32)  # ERROR-LINE
    for tile in hl.tile(x.size(0)):
        out[tile] = x[tile] + scratch.sum()
    return out


def test_hl_zeros_in_host_code_of_a_kernel_is_refused():
    with pytest.raises(exc.NotInDeviceCode, match="hl.zeros"):
        hl_zeros_in_host_code(torch.randn(16))


def test_hl_zeros_in_host_code_of_a_kernel_points_at_the_line():
    check_error(hl_zeros_in_host_code, (torch.randn(16),), exc.NotInDeviceCode, "hl.zeros")


def test_hl_zeros_outside_a_kernel():
    with pytest.raises(exc.NotInDeviceCode, match="hl.zeros") as info:
        hl.zeros([4, 4], dtype=torch.float32)
    assert isinstance(info.value, exc.HelionError)
    assert "device loop" in str(info.value)


@pytest.mark.parametrize("call", [
    lambda: hl.full([4], 1.0),
    lambda: hl.arange(8),
    lambda: hl.load(torch.ones(4), [0]),
    lambda: hl.store(torch.ones(4), [0], 1.0),
    lambda: hl.atomic_add(torch.ones(4), [0], 1.0),
    lambda: hl.dot(torch.ones(2, 2), torch.ones(2, 2)),
], ids=["full", "arange", "load", "store", "atomic_add", "dot"])
def test_device_functions_outside_a_kernel(call):
    with pytest.raises(exc.NotInDeviceCode):
        call()


def test_iterating_hl_tile_outside_a_kernel():
    with pytest.raises(exc.NotInDeviceCode, match="hl.tile"):
        for _ in hl.tile(8):
            pass


# --- shapes -------------------------------------------------------------------------------------------------


@helion.kernel(use_default_config=True)
def add_different_tiles(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    m, n = x.size()
    out = torch.empty_like(x)
    for tile_m, tile_n in hl.tile([m, n]):
        out[tile_m, tile_n] = x[tile_m, tile_n] + y[tile_n]  # ok: broadcasts over rows
        out[tile_m, tile_n] = y[tile_m] + y[tile_n]  # ERROR-LINE
    return out


def test_adding_tiles_of_different_dims():
    check_error(add_different_tiles, (x2d(16, 16), torch.randn(16)), exc.ShapeMismatch)


def test_adding_tiles_of_different_dims_message_is_readable():
    err = check_error(add_different_tiles, (x2d(16, 16), torch.randn(16)), exc.ShapeMismatch)
    first_line = str(err).splitlines()[0]
    assert "1009" not in first_line and "1013" not in first_line, first_line


@helion.kernel(use_default_config=True)
def store_wrong_shape(x: torch.Tensor) -> torch.Tensor:
    m, n = x.size()
    out = torch.empty([m], dtype=x.dtype, device=x.device)
    for tile in hl.tile(m):
        out[tile] = x[tile, :]  # ERROR-LINE
    return out


def test_storing_a_wrong_shaped_value():
    check_error(store_wrong_shape, (x2d(),), exc.ShapeMismatch, "store")


@helion.kernel(use_default_config=True)
def too_many_indices(x: torch.Tensor) -> torch.Tensor:
    out = torch.empty_like(x)
    for tile in hl.tile(x.size(0)):
        out[tile] = x[tile, 0]  # ERROR-LINE
    return out


def test_too_many_indices():
    check_error(too_many_indices, (torch.randn(16),), exc.ShapeMismatch, "indices")


@helion.kernel(use_default_config=True)
def dot_inner_mismatch(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    m, k = x.size()
    _, n = y.size()
    out = torch.empty([m, n], dtype=x.dtype, device=x.device)
    for tile_m, tile_n in hl.tile([m, n]):
        out[tile_m, tile_n] = hl.dot(x[tile_m, :], y[tile_n, :])  # ERROR-LINE
    return out


def test_dot_inner_dims_differ():
    check_error(dot_inner_mismatch, (torch.randn(16, 32), torch.randn(16, 16)), exc.ShapeMismatch, "dot")


@helion.kernel(use_default_config=True)
def carried_changes_shape(x: torch.Tensor) -> torch.Tensor:
    m, n = x.size()
    out = torch.empty([m], dtype=x.dtype, device=x.device)
    for tile_m in hl.tile(m):
        acc = hl.zeros([tile_m], dtype=torch.float32)
        for tile_n in hl.tile(n):
            acc = acc[:, None] + x[tile_m, tile_n]  # ERROR-LINE
        out[tile_m] = acc.sum(1)
    return out


def test_loop_carried_value_changes_shape():
    check_error(carried_changes_shape, (x2d(16, 32),), exc.ShapeMismatch, "acc")


# --- control flow and scoping ---------------------------------------------------------------------------------


@helion.kernel(use_default_config=True)
def if_on_device_value(x: torch.Tensor) -> torch.Tensor:
    out = torch.empty_like(x)
    for tile in hl.tile(x.size(0)):
        value = x[tile]
        out[tile] = value if value.sum() > 0 else -value  # ERROR-LINE
    return out


def test_if_on_device_value():
    check_error(if_on_device_value, (torch.randn(16),), exc.UnsupportedOperation, "torch.where")


@helion.kernel(use_default_config=True)
def nested_local_used_after(x: torch.Tensor) -> torch.Tensor:
    m, n = x.size()
    out = torch.empty([m], dtype=x.dtype, device=x.device)
    for tile_m in hl.tile(m):
        for tile_n in hl.tile(n):
            partial = x[tile_m, tile_n].sum(dim=1)
        out[tile_m] = partial  # ERROR-LINE
    return out


def test_nested_loop_local_used_after_the_loop():
    check_error(nested_local_used_after, (x2d(),), exc.UnsupportedOperation, "partial", "loop")


@helion.kernel(use_default_config=True)
def no_device_loop(x: torch.Tensor) -> torch.Tensor:  # ERROR-LINE
    return x * 2


def test_kernel_without_device_loop():
    check_error(no_device_loop, (torch.randn(16),), exc.HelionError, "hl.tile")


def test_error_in_kernel_defined_inside_a_function():
    @helion.kernel(use_default_config=True)
    def local_kernel(x: torch.Tensor) -> torch.Tensor:
        out = torch.empty_like(x)
        for tile in hl.tile(x.size(0)):
            out[tile] = torch.sort(x[tile], dim=0)  # ERROR-LINE
        return out

    check_error(local_kernel, (torch.randn(16),), exc.UnsupportedOperation, "sort")


def test_error_is_raised_again_on_the_next_call():
    first = check_error(sort_kernel, (x2d(),), exc.UnsupportedOperation, "sort")
    second = check_error(sort_kernel, (x2d(),), exc.UnsupportedOperation, "sort")
    assert str(first) == str(second)


# --- configs --------------------------------------------------------------------------------------------------


@helion.kernel(use_default_config=True)
def scale_2d(x: torch.Tensor) -> torch.Tensor:
    m, n = x.size()
    out = torch.empty_like(x)
    for tile_m, tile_n in hl.tile([m, n]):
        out[tile_m, tile_n] = x[tile_m, tile_n] * 2
    return out


@pytest.mark.parametrize(("config", "words"), [
    ({"block_sizes": [16, 16], "block_size_typo": 3}, ["block_size_typo"]),
    ({"block_sizes": [16, 12]}, ["block_sizes", "12 is not a power of two"]),
    ({"block_sizes": [0, 16]}, ["block_sizes", "0 is not"]),
    ({"block_sizes": [16]}, ["block_sizes", "length 2"]),
    ({"block_sizes": [16, 16], "num_warps": 3}, ["num_warps", "3 is not"]),
    ({"block_sizes": [16, 16], "num_stages": 0}, ["num_stages", "0 is outside"]),
], ids=["unknown_key", "not_power_of_two", "zero", "wrong_length", "num_warps", "num_stages"])
def test_invalid_config(config, words):
    bound = scale_2d.bind((x2d(16, 16),))
    for attempt in (lambda: bound.compile_config(config), lambda: bound.to_triton_code(config),
                    lambda: bound.normalize_config(helion.Config(**config))):
        with pytest.raises(exc.InvalidConfig) as info:
            attempt()
        assert isinstance(info.value, exc.HelionError)
        for word in words:
            assert word in str(info.value), str(info.value)


def test_invalid_config_given_to_the_decorator():
    @helion.kernel(config=helion.Config(block_sizes=[16, 24]))
    def bad(x: torch.Tensor) -> torch.Tensor:
        out = torch.empty_like(x)
        for tile in hl.tile(x.size()):
            out[tile] = x[tile]
        return out

    with pytest.raises(exc.InvalidConfig, match="24"):
        bad(x2d())


def test_invalid_reduction_loop_config():
    @helion.kernel(use_default_config=True)
    def row_sum(x: torch.Tensor) -> torch.Tensor:
        out = torch.empty([x.size(0)], dtype=x.dtype, device=x.device)
        for tile in hl.tile(x.size(0)):
            out[tile] = x[tile, :].sum(1)
        return out

    bound = row_sum.bind((x2d(8, 64),))
    with pytest.raises(exc.InvalidConfig, match="reduction_loops"):
        bound.compile_config({"block_sizes": [8], "reduction_loops": [24]})


def test_unknown_kernel_setting():
    with pytest.raises(exc.HelionError, match="not_a_setting"):
        helion.kernel(not_a_setting=True)
