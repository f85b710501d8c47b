"""Gradient penalties on the discriminator: R1 and WGAN-GP, with per-sample gradient norms."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from contradistinct._checks import (
    check_floating,
    check_min_rank,
    check_nonempty_batch,
    check_same_shape,
)
from contradistinct._reduction import check_reduction, reduce


def _per_sample_grad_sq_norm(outputs: Tensor, inputs: Tensor) -> Tensor:
    (grad,) = torch.autograd.grad(outputs.float().sum(), inputs, create_graph=True)
    return grad.float().reshape(grad.shape[0], -1).square().sum(dim=1)


def r1_penalty(real_logits: Tensor, real_inputs: Tensor, *, reduction: str = "mean") -> Tensor:
    r"""R1 penalty :math:`\mathbb E_x\,\lVert \nabla_x D(x) \rVert_2^2` on real data.

    The penalty of Mescheder et al. (2018).

    The squared gradient norm is taken per sample over all of its dimensions and averaged over
    the batch. Multiply by :math:`\gamma / 2` yourself. The graph is kept, so the penalty can be
    back-propagated into the discriminator.

    Args:
        real_logits: ``(B,)`` or ``(B, *)`` logits computed from ``real_inputs``.
        real_inputs: ``(B, *)`` real data with ``requires_grad=True``.
        reduction: ``"mean"`` (the expectation), ``"sum"`` or ``"none"`` (shape ``(B,)``).

    Returns:
        A float32 scalar, or ``(B,)`` for ``reduction="none"``.

    Example:
        >>> import torch
        >>> from contradistinct.functional import r1_penalty
        >>> x = torch.randn(4, 3, requires_grad=True)
        >>> r1_penalty((2.0 * x).sum(dim=1), x)
        tensor(12.)
    """
    check_reduction(reduction)
    real_logits = check_floating(real_logits, "real_logits")
    real_inputs = check_min_rank(real_inputs, "real_inputs", 1)
    check_nonempty_batch(real_inputs, "real_inputs")
    if not real_inputs.requires_grad:
        raise ValueError("real_inputs must require grad: call real.requires_grad_() before D(real)")
    if real_logits.ndim == 0 or real_logits.shape[0] != real_inputs.shape[0]:
        raise ValueError(
            f"real_logits must have one row per input, got real_logits {tuple(real_logits.shape)} "
            f"for real_inputs {tuple(real_inputs.shape)}"
        )
    return reduce(_per_sample_grad_sq_norm(real_logits, real_inputs), reduction)


def gradient_penalty(
    critic: Callable[[Tensor], Tensor],
    real: Tensor,
    fake: Tensor,
    *,
    target: float = 1.0,
    generator: torch.Generator | None = None,
    reduction: str = "mean",
) -> Tensor:
    r"""WGAN-GP penalty :math:`\mathbb E_{\hat x}\,(\lVert\nabla_{\hat x} D(\hat x)\rVert_2 - t)^2`.

    :math:`\hat x = \alpha x + (1 - \alpha) \tilde x` with one :math:`\alpha \sim U[0, 1]` per
    sample (broadcast over every other dimension, so any channel count or data shape works).
    ``real`` and ``fake`` are detached; the critic's parameters receive the penalty's gradient.

    Args:
        critic: maps ``(B, *)`` inputs to ``(B,)`` or ``(B, *)`` logits.
        real: ``(B, *)`` real data.
        fake: ``(B, *)`` generated data, same shape as ``real``.
        target: the gradient norm :math:`t` to pull towards (1 for WGAN-GP).
        generator: optional ``torch.Generator`` for the interpolation weights.
        reduction: ``"mean"`` (the expectation), ``"sum"`` or ``"none"`` (shape ``(B,)``).

    Returns:
        A float32 scalar, or ``(B,)`` for ``reduction="none"``.

    Example:
        >>> import torch
        >>> from contradistinct.functional import gradient_penalty
        >>> w = torch.tensor([0.6, 0.8])  # a unit-norm linear critic is 1-Lipschitz
        >>> gradient_penalty(lambda x: x @ w, torch.randn(8, 2), torch.randn(8, 2))
        tensor(0.)
    """
    check_reduction(reduction)
    real = check_min_rank(real, "real", 1)
    fake = check_min_rank(fake, "fake", 1)
    check_same_shape(real, "real", fake, "fake")
    check_nonempty_batch(real, "real")
    # Under autocast a decoder's output is bf16 while the data stays float32: mix in the wider.
    dtype = torch.promote_types(real.dtype, fake.dtype)
    real, fake = real.detach().to(dtype), fake.detach().to(dtype)
    shape = (real.shape[0],) + (1,) * (real.ndim - 1)
    alpha = torch.rand(shape, generator=generator, dtype=dtype, device=real.device)
    mixed = torch.lerp(fake, real, alpha).requires_grad_(True)
    norms = _per_sample_grad_sq_norm(critic(mixed), mixed).add(1e-12).sqrt()
    return reduce((norms - target).square(), reduction)
