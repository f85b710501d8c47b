"""The one reduction vocabulary of every per-sample loss, as ``torch.nn.functional`` has it."""

from __future__ import annotations

from torch import Tensor

REDUCTIONS = ("mean", "sum", "none")


def check_reduction(reduction: object, name: str = "reduction") -> str:
    """Refuse anything but ``"mean"``, ``"sum"`` or ``"none"``, naming the caller's argument."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"{name} must be one of {REDUCTIONS}, got {reduction!r}")
    return str(reduction)


def reduce(per_sample: Tensor, reduction: str, name: str = "reduction") -> Tensor:
    """Reduce a ``(B,)`` tensor of per-sample values over the batch as ``reduction`` says."""
    check_reduction(reduction, name)
    if reduction == "mean":
        return per_sample.mean()
    if reduction == "sum":
        return per_sample.sum()
    return per_sample
