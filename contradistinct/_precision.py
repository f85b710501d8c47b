"""Loss math runs in float32 even when its inputs come from a half-precision autocast region."""

from __future__ import annotations

import torch
from torch import Tensor


def as_float32(tensor: Tensor) -> Tensor:
    """Upcast half-precision inputs so the loss math runs in float32; keep float64 as it is."""
    return tensor if tensor.dtype == torch.float64 else tensor.float()
