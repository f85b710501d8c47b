"""Gradient routing shared by the PGA losses: a network used as a fixed map."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn
from torch.func import functional_call

from contradistinct.posterior import describe


def frozen_call(module: nn.Module, *args: Tensor) -> Any:
    """Call ``module`` with detached parameters: gradients reach the inputs, not the weights.

    This is how a term that must update one network only can still differentiate through the
    other (PGA's decoder likelihood goes through the encoder).
    """
    detached = {name: p.detach() for name, p in module.named_parameters()}
    return functional_call(module, detached, args)


def check_latent(z: object, name: str) -> Tensor:
    """Refuse anything but a ``(B, H)`` tensor of codes, showing what ``name`` returned."""
    if not isinstance(z, Tensor) or z.ndim != 2:
        raise TypeError(f"{name} must return a (B, H) tensor, got {describe(z)}")
    return z
