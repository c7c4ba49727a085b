"""The generated Triton source: readable, named after the user's variables, and honouring the config.

These tests look at distinguishing lines of ``bound.to_triton_code(config)``, never whole files, so
harmless formatting changes in the code generator do not break them.
"""
from __future__ import annotations

import ast
import re

import pytest
import torch

import helion
import helion.language as hl
from helion.compiler import codegen


@helion.kernel(use_default_config=True)
def rms_norm(x: torch.Tensor, w: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    m, n = x.size()
    out = torch.empty_like(x)
    for tile_m in hl.tile(m):
        xt = x[tile_m, :].to(torch.float32)
        inv = torch.rsqrt(torch.mean(xt * xt, dim=-1) + eps)
        out[tile_m, :] = (xt * inv[:, None] * w[:].float()).to(out.dtype)
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


@helion.kernel(use_default_config=True)
def add(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    out = torch.empty_like(x)
    for tile in hl.tile(out.size()):
        out[tile] = x[tile] + y[tile]
    return out


@helion.kernel(use_default_config=True)
def softmax(x: torch.Tensor) -> torch.Tensor:
    m, n = x.size()
    out = torch.empty_like(x)
    for tile_m in hl.tile(m):
        out[tile_m, :] = torch.softmax(x[tile_m, :], dim=1)
    return out


@helion.kernel(use_default_config=True)
def tanh_kernel(x: torch.Tensor) -> torch.Tensor:
    out = torch.empty_like(x)
    for tile in hl.tile(x.size(0)):
        out[tile] = torch.tanh(x[tile])
    return out


def kernel_part(code: str) -> str:
    return code.split("def launch(")[0]


def launcher_part(code: str) -> str:
    return code.split("def launch(")[1]


def lines_matching(code: str, pattern: str) -> list[str]:
    return [line.strip() for line in code.splitlines() if re.search(pattern, line)]


def test_code_is_valid_python_with_a_jit_kernel_and_a_launcher():
    x, w = torch.randn(37, 50), torch.randn(50)
    code = rms_norm.bind((x, w)).to_triton_code({"block_sizes": [8]})
    tree = ast.parse(code)
    functions = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
    assert "launch" in functions
    jitted = [f for f in functions.values() if any("triton.jit" in ast.unparse(d) for d in f.decorator_list)]
    assert len(jitted) == 1 and "rms_norm" in jitted[0].name


def test_user_variable_names_appear():
    x, w = torch.randn(37, 50), torch.randn(50)
    body = kernel_part(rms_norm.bind((x, w)).to_triton_code({"block_sizes": [8]}))
    assert lines_matching(body, r"^\s*xt = "), body
    assert lines_matching(body, r"^\s*inv = .*rsqrt"), body
    assert "eps" in body  # the float argument is a kernel parameter

    a, b = torch.randn(32, 48), torch.randn(48, 40)
    body = kernel_part(matmul.bind((a, b)).to_triton_code({"block_sizes": [16, 16, 16]}))
    assert lines_matching(body, r"^\s*acc = "), body
    assert lines_matching(body, r"tl\.dot\(.*acc"), body


def test_block_sizes_num_warps_and_stages_appear_in_the_launcher():
    x, y = torch.randn(37, 50), torch.randn(37, 50)
    bound = add.bind((x, y))
    launch = launcher_part(bound.to_triton_code({"block_sizes": [8, 32], "num_warps": 2, "num_stages": 3}))
    assert lines_matching(launch, r"_BLOCK_SIZE_0 = 8$") and lines_matching(launch, r"_BLOCK_SIZE_1 = 32$"), launch
    assert "num_warps=2" in launch and "num_stages=3" in launch
    other = launcher_part(bound.to_triton_code({"block_sizes": [16, 64], "num_warps": 8}))
    assert lines_matching(other, r"_BLOCK_SIZE_0 = 16$") and lines_matching(other, r"_BLOCK_SIZE_1 = 64$"), other
    assert "num_warps=8" in other


def test_block_sizes_are_constexpr_parameters_so_the_kernel_body_is_shared():
    x, y = torch.randn(37, 50), torch.randn(37, 50)
    bound = add.bind((x, y))
    first = bound.to_triton_code({"block_sizes": [8, 32]})
    second = bound.to_triton_code({"block_sizes": [16, 64]})
    assert kernel_part(first) == kernel_part(second)
    assert first != second
    assert re.search(r"_BLOCK_SIZE_0: tl\.constexpr", first)


def test_code_is_deterministic():
    x, y = torch.randn(37, 50), torch.randn(37, 50)
    cfg = {"block_sizes": [8, 32]}
    assert add.bind((x, y)).to_triton_code(cfg) == add.bind((x.clone(), y.clone())).to_triton_code(cfg)


def test_default_config_code():
    x, y = torch.randn(37, 50), torch.randn(37, 50)
    bound = add.bind((x, y))
    assert bound.to_triton_code() == bound.to_triton_code(bound.config_space.default())


def test_code_without_config_uses_the_kernels_config():
    @helion.kernel(config=helion.Config(block_sizes=[16, 8]))
    def configured(x: torch.Tensor) -> torch.Tensor:
        out = torch.empty_like(x)
        for tile in hl.tile(x.size()):
            out[tile] = x[tile] + 1
        return out

    launch = launcher_part(configured.bind((torch.randn(37, 50),)).to_triton_code())
    assert lines_matching(launch, r"_BLOCK_SIZE_0 = 16$") and lines_matching(launch, r"_BLOCK_SIZE_1 = 8$"), launch


def test_looped_reduction_emits_a_loop_over_chunks():
    x = torch.randn(8, 100)
    bound = softmax.bind((x,))
    looped = bound.to_triton_code({"block_sizes": [8], "reduction_loops": [16]})
    persistent = bound.to_triton_code({"block_sizes": [8], "reduction_loops": [None]})
    assert lines_matching(looped, r"for roffset_\d+ in tl\.range\(0, 100, _BLOCK_SIZE_\d+\)"), looped
    assert "roffset_" not in persistent
    assert "for " not in kernel_part(persistent)
    assert lines_matching(launcher_part(looped), r"_BLOCK_SIZE_\d+ = 16$")
    assert lines_matching(launcher_part(persistent), r"_BLOCK_SIZE_\d+ = 128$")


def test_looped_reduction_runs_correctly():
    x = torch.randn(8, 100) * 3
    bound = softmax.bind((x,))
    for loops in ([16], [32], [None]):
        out = bound.compile_config({"block_sizes": [8], "reduction_loops": loops})(x)
        torch.testing.assert_close(out, torch.softmax(x, 1), rtol=1e-4, atol=1e-5)


def test_masks_only_for_sizes_that_are_not_multiples_of_the_block():
    even = add.bind((torch.randn(64, 64), torch.randn(64, 64))).to_triton_code({"block_sizes": [32, 32]})
    assert "mask_" not in even, even
    assert "other=" not in even
    ragged = add.bind((torch.randn(37, 50), torch.randn(37, 50))).to_triton_code({"block_sizes": [32, 32]})
    assert lines_matching(ragged, r"mask_\d+ = indices_\d+ < 37"), ragged
    assert lines_matching(ragged, r"mask_\d+ = indices_\d+ < 50"), ragged
    assert lines_matching(ragged, r"tl\.store\(.*mask_"), ragged
    partial = add.bind((torch.randn(64, 50), torch.randn(64, 50))).to_triton_code({"block_sizes": [32, 32]})
    assert len(set(re.findall(r"mask_\d+ =", partial))) == 1, partial  # only the ragged dim


def test_reduction_over_ragged_dim_is_masked_with_neutral_element():
    code = kernel_part(softmax.bind((torch.randn(8, 100),)).to_triton_code({"block_sizes": [8]}))
    assert lines_matching(code, r"tl\.max\(tl\.where\(mask_"), code
    assert "-float('inf')" in code


def test_cpu_code_has_no_libdevice_but_gpu_code_does():
    x = torch.randn(40)
    bound = tanh_kernel.bind((x,))
    cpu = bound.to_triton_code({"block_sizes": [16]})
    assert "libdevice" not in cpu
    (fn,) = [f for f in bound.functions if f is not None]
    gpu = codegen.generate(fn, bound.normalize_config({"block_sizes": [16]}), gpu=True)
    assert "from triton.language.extra import libdevice" in gpu
    assert "libdevice.tanh(" in gpu


def test_gelu_tanh_uses_libdevice_only_on_gpu():
    @helion.kernel(use_default_config=True)
    def gelu(x: torch.Tensor) -> torch.Tensor:
        out = torch.empty_like(x)
        for tile in hl.tile(x.size(0)):
            out[tile] = torch.nn.functional.gelu(x[tile], approximate="tanh")
        return out

    bound = gelu.bind((torch.randn(40),))
    (fn,) = [f for f in bound.functions if f is not None]
    cfg = bound.normalize_config({"block_sizes": [16]})
    assert "libdevice" not in codegen.generate(fn, cfg, gpu=False)
    assert "libdevice.tanh(" in codegen.generate(fn, cfg, gpu=True)
    assert "libdevice" not in bound.to_triton_code(cfg)


def test_no_libdevice_import_when_not_needed_on_gpu():
    bound = add.bind((torch.randn(37, 50), torch.randn(37, 50)))
    (fn,) = [f for f in bound.functions if f is not None]
    gpu = codegen.generate(fn, bound.normalize_config({"block_sizes": [32, 32]}), gpu=True)
    assert "libdevice" not in gpu


def test_fp32_dot_precision_only_on_gpu():
    a, b = torch.randn(32, 48), torch.randn(48, 40)
    bound = matmul.bind((a, b))
    (fn,) = [f for f in bound.functions if f is not None]
    cfg = bound.normalize_config({"block_sizes": [16, 16, 16]})
    assert "input_precision" not in codegen.generate(fn, cfg, gpu=False)
    assert "input_precision='tf32'" in codegen.generate(fn, cfg, gpu=True)
    assert "input_precision='ieee'" in codegen.generate(fn, cfg, gpu=True, dot_precision="ieee")


def test_strides_of_the_input_are_baked_in():
    x = torch.randn(20, 30)
    contiguous = kernel_part(add.bind((x, x)).to_triton_code({"block_sizes": [16, 16]}))
    xt = torch.randn(30, 20).t()
    transposed = kernel_part(add.bind((xt, xt)).to_triton_code({"block_sizes": [16, 16]}))
    assert re.search(r"indices_\d+\[:, None\] \* 30", contiguous), contiguous
    assert re.search(r"indices_\d+\[None, :\] \* 20", transposed), transposed


def test_fixed_block_size_is_in_the_launcher_whatever_the_config():
    @helion.kernel(use_default_config=True)
    def fixed(x: torch.Tensor) -> torch.Tensor:
        out = torch.empty_like(x)
        for tile in hl.tile(x.size(0), block_size=16):
            out[tile] = x[tile] * 2
        return out

    bound = fixed.bind((torch.randn(50),))
    launch = launcher_part(bound.to_triton_code())
    assert lines_matching(launch, r"_BLOCK_SIZE_0 = 16$"), launch
    assert "triton.cdiv(50, _BLOCK_SIZE_0)" in launch


def test_grid_loop_uses_program_id_without_block_size():
    @helion.kernel(use_default_config=True)
    def rows(x: torch.Tensor) -> torch.Tensor:
        m, n = x.size()
        out = torch.empty_like(x)
        for i in hl.grid(m):
            out[i, :] = x[i, :] + 1
        return out

    code = rows.bind((torch.randn(6, 20),)).to_triton_code()
    assert "tl.program_id(0)" in code
    assert re.search(r"\[\(6,\)\]", launcher_part(code)), code  # one program per row


def test_user_names_that_clash_with_generated_names_are_renamed():
    @helion.kernel(config=helion.Config(block_sizes=[16]))
    def clash(x: torch.Tensor) -> torch.Tensor:
        out = torch.empty_like(x)
        for tile in hl.tile(x.size(0)):
            mask_0 = x[tile] * 2
            pid_0 = mask_0 + 1
            indices_0 = pid_0 * 3
            out[tile] = indices_0
        return out

    x = torch.randn(40)
    torch.testing.assert_close(clash(x), (x * 2 + 1) * 3)
    code = clash.bind((x,)).to_triton_code()
    assert len(lines_matching(code, r"^\s*mask_0 = ")) <= 1  # the generated mask only, if any


def test_reassigned_user_variable_gets_distinct_names():
    @helion.kernel(config=helion.Config(block_sizes=[16]))
    def chain(x: torch.Tensor) -> torch.Tensor:
        out = torch.empty_like(x)
        for tile in hl.tile(x.size(0)):
            value = x[tile] + 1
            value = value * 2
            value = value - 3
            out[tile] = value
        return out

    x = torch.randn(40)
    torch.testing.assert_close(chain(x), (x + 1) * 2 - 3)
    body = kernel_part(chain.bind((x,)).to_triton_code())
    assigned = re.findall(r"^\s*(value\w*) = ", body, flags=re.M)
    assert len(assigned) == 3 and len(set(assigned)) == 3, body


def test_two_device_loops_give_two_kernels():
    @helion.kernel(use_default_config=True)
    def two(x: torch.Tensor) -> torch.Tensor:
        a = torch.empty_like(x)
        b = torch.empty_like(x)
        for tile in hl.tile(x.size(0)):
            a[tile] = x[tile] + 1
        for tile in hl.tile(x.size(0)):
            b[tile] = a[tile] * 2
        return b

    code = two.bind((torch.randn(40),)).to_triton_code()
    assert len(re.findall(r"@triton\.jit", code)) == 2
    assert len(re.findall(r"^def launch\(", code, flags=re.M)) == 2


def test_print_output_code_setting(capsys):
    @helion.kernel(config=helion.Config(block_sizes=[16]), print_output_code=True)
    def printed(x: torch.Tensor) -> torch.Tensor:
        out = torch.empty_like(x)
        for tile in hl.tile(x.size(0)):
            out[tile] = x[tile] + 1
        return out

    x = torch.randn(40)
    torch.testing.assert_close(printed(x), x + 1)
    captured = capsys.readouterr().out
    assert "@triton.jit" in captured and "_printed_kernel" in captured


def test_nested_tile_loop_is_a_tl_range():
    code = kernel_part(matmul.bind((torch.randn(32, 48), torch.randn(48, 40))).to_triton_code(
        {"block_sizes": [16, 16, 16]}))
    assert lines_matching(code, r"for offset_\d+ in tl\.range\(0, 48, _BLOCK_SIZE_2\)"), code


@pytest.mark.parametrize("shape", [(64, 64), (37, 50)])
def test_generated_code_runs_for_both_masked_and_unmasked_shapes(shape):
    x, y = torch.randn(*shape), torch.randn(*shape)
    out = add.bind((x, y)).compile_config({"block_sizes": [32, 32]})(x, y)
    torch.testing.assert_close(out, x + y)
