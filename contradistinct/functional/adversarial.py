"""Set-level adversarial losses on discriminator logits (DC-VAE Eq. 4 and its usual variants).

The GAN terms are the documented exception to ``input, target``: they take logits of real and
of generated data, ``(real_logits, fake_logits)``. Each logit is one sample of the loss:
``reduction="none"`` returns one value per logit, in the shape of the logits.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from contradistinct._checks import (
    check_choice,
    check_floating,
    check_nonempty_batch,
    check_same_device,
)
from contradistinct._precision import as_float32
from contradistinct._reduction import check_reduction, reduce

GAN_KINDS = ("hinge", "nonsaturating", "wasserstein", "least_squares")


def _check_logits(logits: object, name: str) -> Tensor:
    """Validate logits named ``name`` by the caller and upcast them for the loss math."""
    tensor = check_floating(logits, name)
    check_nonempty_batch(tensor, name)
    return as_float32(tensor)


def _real_per_logit(d: Tensor, kind: str) -> Tensor:
    """The discriminator's term on real logits, per logit (``d`` already checked)."""
    if kind == "hinge":
        return F.relu(1.0 - d)
    if kind == "nonsaturating":
        return F.softplus(-d)
    if kind == "wasserstein":
        return -d
    return 0.5 * (d - 1.0).square()


def _fake_per_logit(d: Tensor, kind: str) -> Tensor:
    """The discriminator's term on fake logits, per logit (``d`` already checked)."""
    if kind == "hinge":
        return F.relu(1.0 + d)
    if kind == "nonsaturating":
        return F.softplus(d)
    if kind == "wasserstein":
        return d
    return 0.5 * d.square()


def _generator_per_logit(d: Tensor, kind: str) -> Tensor:
    """The generator's term on fake logits, per logit (``d`` already checked)."""
    if kind in ("hinge", "wasserstein"):
        return -d
    if kind == "nonsaturating":
        return F.softplus(-d)
    return 0.5 * (d - 1.0).square()


def real_term(real_logits: Tensor, *, kind: str = "hinge", reduction: str = "mean") -> Tensor:
    r"""The discriminator's loss on real data, one term per logit.

    ``hinge``: :math:`\max(0, 1 - d)`; ``nonsaturating``:
    :math:`\operatorname{softplus}(-d) = -\log \sigma(d)`; ``wasserstein``: :math:`-d`;
    ``least_squares``: :math:`\tfrac12 (d-1)^2`; averaged over every logit by default.

    Args:
        real_logits: logits of real data, shape ``(B,)``, ``(B, 1)`` or ``(B, *)``.
        kind: one of ``"hinge"``, ``"nonsaturating"``, ``"wasserstein"``, ``"least_squares"``.
        reduction: ``"mean"`` or ``"sum"`` over every logit, or ``"none"`` (the shape of
            ``real_logits``).

    Returns:
        A float32 scalar, or one value per logit for ``reduction="none"``.

    Example:
        >>> import torch
        >>> from contradistinct.functional import real_term
        >>> real_term(torch.tensor([2.0, 0.5]))
        tensor(0.2500)
        >>> real_term(torch.tensor([2.0, 0.5]), reduction="none")
        tensor([0.0000, 0.5000])
    """
    check_choice(kind, "kind", GAN_KINDS)
    check_reduction(reduction)
    return reduce(_real_per_logit(_check_logits(real_logits, "real_logits"), kind), reduction)


def fake_term(fake_logits: Tensor, *, kind: str = "hinge", reduction: str = "mean") -> Tensor:
    r"""The discriminator's loss on fake data (reconstructions or samples), one term per logit.

    ``hinge``: :math:`\max(0, 1 + d)`; ``nonsaturating``:
    :math:`\operatorname{softplus}(d) = -\log(1 - \sigma(d))`; ``wasserstein``: :math:`d`;
    ``least_squares``: :math:`\tfrac12 d^2`; averaged over every logit by default.

    Args:
        fake_logits: logits of generated data, shape ``(B,)``, ``(B, 1)`` or ``(B, *)``.
        kind: one of ``"hinge"``, ``"nonsaturating"``, ``"wasserstein"``, ``"least_squares"``.
        reduction: ``"mean"`` or ``"sum"`` over every logit, or ``"none"`` (the shape of
            ``fake_logits``).

    Returns:
        A float32 scalar, or one value per logit for ``reduction="none"``.

    Example:
        >>> import torch
        >>> from contradistinct.functional import fake_term
        >>> fake_term(torch.tensor([-2.0, 0.0]))
        tensor(0.5000)
    """
    check_choice(kind, "kind", GAN_KINDS)
    check_reduction(reduction)
    return reduce(_fake_per_logit(_check_logits(fake_logits, "fake_logits"), kind), reduction)


def discriminator_loss(
    real_logits: Tensor, fake_logits: Tensor, *, kind: str = "hinge", reduction: str = "mean"
) -> Tensor:
    r"""Discriminator loss: :func:`real_term` + :func:`fake_term`.

    For ``kind="nonsaturating"`` this is the negated GAN value of DC-VAE Eq. 4 with one fake
    set, :math:`-\mathbb E[\log \sigma(D(x))] - \mathbb E[\log(1 - \sigma(D(\hat x)))]`, in softplus
    form on logits. ``hinge`` is the form of the authors' code (``train.py`` of
    github.com/mlpc-ucsd/DC-VAE). With ``"mean"`` and ``"sum"``, ``real_logits`` and
    ``fake_logits`` may hold different numbers of samples and each term is reduced over its own
    logits; ``"none"`` pairs them up, so it needs logits of the same shape.

    Args:
        real_logits: ``(B_r,)`` or ``(B_r, *)`` logits of real data.
        fake_logits: ``(B_f,)`` or ``(B_f, *)`` logits of generated data.
        kind: ``"hinge"``, ``"nonsaturating"``, ``"wasserstein"`` or ``"least_squares"``.
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (real term plus fake term, per logit).

    Returns:
        A float32 scalar, or one value per logit pair for ``reduction="none"``.

    Example:
        >>> import torch
        >>> from contradistinct.functional import discriminator_loss
        >>> discriminator_loss(torch.tensor([1.5]), torch.tensor([-1.5]))
        tensor(0.)
    """
    check_choice(kind, "kind", GAN_KINDS)
    check_reduction(reduction)
    real = _check_logits(real_logits, "real_logits")
    fake = _check_logits(fake_logits, "fake_logits")
    check_same_device(real, "real_logits", fake, "fake_logits")
    if reduction == "none" and real.shape != fake.shape:
        raise ValueError(
            "reduction='none' pairs real_logits with fake_logits, so they must have the same "
            f"shape, got {tuple(real.shape)} and {tuple(fake.shape)}"
        )
    return reduce(_real_per_logit(real, kind), reduction) + reduce(
        _fake_per_logit(fake, kind), reduction
    )


def generator_loss(fake_logits: Tensor, *, kind: str = "hinge", reduction: str = "mean") -> Tensor:
    r"""Generator (encoder/decoder) loss on the logits of generated data, one term per logit.

    ``hinge`` and ``wasserstein``: :math:`-d`; ``nonsaturating``:
    :math:`\operatorname{softplus}(-d) = -\log\sigma(d)` (the non-saturating form of Eq. 4);
    ``least_squares``: :math:`\tfrac12 (d-1)^2`; averaged over every logit by default.

    Args:
        fake_logits: ``(B,)`` or ``(B, *)`` logits of generated data.
        kind: ``"hinge"``, ``"nonsaturating"``, ``"wasserstein"`` or ``"least_squares"``.
        reduction: ``"mean"`` or ``"sum"`` over every logit, or ``"none"`` (the shape of
            ``fake_logits``).

    Returns:
        A float32 scalar, or one value per logit for ``reduction="none"``.

    Example:
        >>> import torch
        >>> from contradistinct.functional import generator_loss
        >>> generator_loss(torch.tensor([1.0, 3.0]))
        tensor(-2.)
    """
    check_choice(kind, "kind", GAN_KINDS)
    check_reduction(reduction)
    return reduce(_generator_per_logit(_check_logits(fake_logits, "fake_logits"), kind), reduction)
