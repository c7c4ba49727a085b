"""Cross entropy of logits [N, V] with int64 targets [N]: per-row losses, and the gradient of the
mean loss. Both walk the vocabulary in tiles with an online log-sum-exp and read each row's target
logit with a gather (``logits[tile_n, targets[tile_n]]``)."""

from __future__ import annotations

import torch

import helion
import helion.language as hl

from . import SizeDraw
from ._util import TRANSCENDENTAL, randn


@helion.kernel()
def cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """``loss[i] = logsumexp(logits[i]) - logits[i, targets[i]]`` in fp32."""
    n, v = logits.size()
    losses = torch.empty([n], dtype=torch.float32, device=logits.device)
    for tile_n in hl.tile(n):
        row_max = hl.full([tile_n], float("-inf"), dtype=torch.float32)
        row_sum = hl.zeros([tile_n], dtype=torch.float32)
        for tile_v in hl.tile(v):
            chunk = logits[tile_n, tile_v].to(torch.float32)
            new_max = torch.maximum(row_max, torch.amax(chunk, dim=1))
            row_sum = row_sum * torch.exp(row_max - new_max) + torch.sum(torch.exp(chunk - new_max[:, None]), dim=1)
            row_max = new_max
        target_logit = logits[tile_n, targets[tile_n]].to(torch.float32)
        losses[tile_n] = row_max + torch.log(row_sum) - target_logit
    return losses


@helion.kernel()
def cross_entropy_backward(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """``d mean(loss) / d logits = (softmax(logits) - one_hot(targets)) / N``."""
    n, v = logits.size()
    grad = torch.empty_like(logits)
    for tile_n in hl.tile(n):
        row_max = hl.full([tile_n], float("-inf"), dtype=torch.float32)
        row_sum = hl.zeros([tile_n], dtype=torch.float32)
        for tile_v in hl.tile(v):
            chunk = logits[tile_n, tile_v].to(torch.float32)
            new_max = torch.maximum(row_max, torch.amax(chunk, dim=1))
            row_sum = row_sum * torch.exp(row_max - new_max) + torch.sum(torch.exp(chunk - new_max[:, None]), dim=1)
            row_max = new_max
        target = targets[tile_n]
        for tile_v in hl.tile(v):
            probs = torch.exp(logits[tile_n, tile_v].to(torch.float32) - row_max[:, None]) / row_sum[:, None]
            is_target = tile_v.index[None, :] == target[:, None]
            grad[tile_n, tile_v] = ((probs - is_target.to(torch.float32)) / n).to(grad.dtype)
    return grad


KERNELS = {"cross_entropy": cross_entropy, "cross_entropy_backward": cross_entropy_backward}


def reference(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per-row cross entropy in fp32."""
    return torch.nn.functional.cross_entropy(logits.float(), targets, reduction="none")


def reference_backward(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The gradient of the mean cross entropy by autograd in fp32, cast back."""
    x = logits.detach().float().requires_grad_()
    torch.nn.functional.cross_entropy(x, targets).backward()
    return x.grad.to(logits.dtype)


REFERENCES = {"cross_entropy_backward": reference_backward}


def make_args(
    size: tuple[int, int], dtype: torch.dtype, device: torch.device | str, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """``size = (n, v)``: logits [n, v] and int64 targets in [0, v)."""
    n, v = size
    targets = torch.randint(0, v, [n], generator=generator, dtype=torch.int64).to(device)
    return randn([n, v], dtype, device, generator, scale=3.0), targets


SIZES = [(64, 64), (37, 100), (1, 130), (70, 33)]
CONFIG_SIZE = (37, 100)
GPU_SIZES = [(8192, 32768)]
TOLERANCE = TRANSCENDENTAL


def random_size(draw: SizeDraw) -> tuple[int, int]:
    """For property tests: any ``(n, v)``."""
    return draw.dims(2)
