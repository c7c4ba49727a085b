"""Plain Python helpers that test_constructs' kernels call from device code (another module)."""
from __future__ import annotations

import torch

OFFSET = 0.25  # a module global read by a helper


def scaled_silu(x, scale):
    """x * sigmoid(x) * scale + OFFSET, written in torch over device values."""
    return x * torch.sigmoid(x) * scale + OFFSET


def add_pair(a_value, a_flag, b_value, b_flag):
    """Combine of a segmented sum: restart at a flag."""
    return torch.where(b_flag > 0, b_value, a_value + b_value), a_flag | b_flag
