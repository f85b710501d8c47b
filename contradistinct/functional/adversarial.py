"""Set-level adversarial losses on discriminator logits (DC-VAE Eq. 4 and its usual variants)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from contradistinct._checks import check_choice, check_floating, check_nonempty_batch
from contradistinct._precision import as_float32

GAN_KINDS = ("hinge", "nonsaturating", "wasserstein", "least_squares")


def _check_logits(logits: object, name: str) -> Tensor:
    tensor = check_floating(logits, name)
    check_nonempty_batch(tensor, name)
    return as_float32(tensor)


def real_term(real_logits: Tensor, *, kind: str = "hinge") -> Tensor:
    r"""The discriminator's loss on real data, averaged over every logit.

    ``hinge``: :math:`\mathbb E[\max(0, 1 - d)]`; ``nonsaturating``:
    :math:`\mathbb E[\operatorname{softplus}(-d)] = -\mathbb E[\log \sigma(d)]`;
    ``wasserstein``: :math:`-\mathbb E[d]`; ``least_squares``: :math:`\tfrac12\mathbb E[(d-1)^2]`.

    Args:
        real_logits: logits of real data, shape ``(B,)``, ``(B, 1)`` or ``(B, *)``.
        kind: one of ``"hinge"``, ``"nonsaturating"``, ``"wasserstein"``, ``"least_squares"``.

    Example:
        >>> import torch
        >>> from contradistinct.functional import real_term
        >>> real_term(torch.tensor([2.0, 0.5]))
        tensor(0.2500)
    """
    check_choice(kind, "kind", GAN_KINDS)
    d = _check_logits(real_logits, "real_logits")
    if kind == "hinge":
        return F.relu(1.0 - d).mean()
    if kind == "nonsaturating":
        return F.softplus(-d).mean()
    if kind == "wasserstein":
        return -d.mean()
    return 0.5 * (d - 1.0).square().mean()


def fake_term(fake_logits: Tensor, *, kind: str = "hinge") -> Tensor:
    r"""The discriminator's loss on fake data (reconstructions or samples).

    ``hinge``: :math:`\mathbb E[\max(0, 1 + d)]`; ``nonsaturating``:
    :math:`\mathbb E[\operatorname{softplus}(d)] = -\mathbb E[\log(1 - \sigma(d))]`;
    ``wasserstein``: :math:`\mathbb E[d]`; ``least_squares``: :math:`\tfrac12\mathbb E[d^2]`.

    Args:
        fake_logits: logits of generated data, shape ``(B,)``, ``(B, 1)`` or ``(B, *)``.
        kind: one of ``"hinge"``, ``"nonsaturating"``, ``"wasserstein"``, ``"least_squares"``.

    Example:
        >>> import torch
        >>> from contradistinct.functional import fake_term
        >>> fake_term(torch.tensor([-2.0, 0.0]))
        tensor(0.5000)
    """
    check_choice(kind, "kind", GAN_KINDS)
    d = _check_logits(fake_logits, "fake_logits")
    if kind == "hinge":
        return F.relu(1.0 + d).mean()
    if kind == "nonsaturating":
        return F.softplus(d).mean()
    if kind == "wasserstein":
        return d.mean()
    return 0.5 * d.square().mean()


def discriminator_loss(real_logits: Tensor, fake_logits: Tensor, *, kind: str = "hinge") -> Tensor:
    r"""Discriminator loss: :func:`real_term` + :func:`fake_term`.

    For ``kind="nonsaturating"`` this is the negated GAN value of DC-VAE Eq. 4 with one fake
    set, :math:`-\mathbb E[\log \sigma(D(x))] - \mathbb E[\log(1 - \sigma(D(\hat x)))]`, in softplus
    form on logits. ``hinge`` is the form of the official DC-VAE code.
    ``real_logits`` and ``fake_logits`` may hold different numbers of samples.

    Args:
        real_logits: ``(B_r,)`` or ``(B_r, *)`` logits of real data.
        fake_logits: ``(B_f,)`` or ``(B_f, *)`` logits of generated data.
        kind: ``"hinge"``, ``"nonsaturating"``, ``"wasserstein"`` or ``"least_squares"``.

    Returns:
        A float32 scalar.

    Example:
        >>> import torch
        >>> from contradistinct.functional import discriminator_loss
        >>> discriminator_loss(torch.tensor([1.5]), torch.tensor([-1.5]))
        tensor(0.)
    """
    return real_term(real_logits, kind=kind) + fake_term(fake_logits, kind=kind)


def generator_loss(fake_logits: Tensor, *, kind: str = "hinge") -> Tensor:
    r"""Generator (encoder/decoder) loss on the logits of generated data.

    ``hinge`` and ``wasserstein``: :math:`-\mathbb E[d]`; ``nonsaturating``:
    :math:`\mathbb E[\operatorname{softplus}(-d)] = -\mathbb E[\log\sigma(d)]` (the
    non-saturating form of Eq. 4); ``least_squares``: :math:`\tfrac12 \mathbb E[(d-1)^2]`.

    Args:
        fake_logits: ``(B,)`` or ``(B, *)`` logits of generated data.
        kind: ``"hinge"``, ``"nonsaturating"``, ``"wasserstein"`` or ``"least_squares"``.

    Returns:
        A float32 scalar.

    Example:
        >>> import torch
        >>> from contradistinct.functional import generator_loss
        >>> generator_loss(torch.tensor([1.0, 3.0]))
        tensor(-2.)
    """
    check_choice(kind, "kind", GAN_KINDS)
    d = _check_logits(fake_logits, "fake_logits")
    if kind in ("hinge", "wasserstein"):
        return -d.mean()
    if kind == "nonsaturating":
        return F.softplus(-d).mean()
    return 0.5 * (d - 1.0).square().mean()
