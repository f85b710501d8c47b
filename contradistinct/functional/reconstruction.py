"""Per-sample reconstruction terms: pixel space (DC-VAE Eq. 1) and feature space (Eq. 3)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from contradistinct._checks import (
    check_choice,
    check_min_rank,
    check_nonempty_batch,
    check_same_shape,
)
from contradistinct._precision import as_float32
from contradistinct._reduction import check_reduction, reduce

RECONSTRUCTION_KINDS = ("mse", "bce")


def reconstruction_loss(
    input: Tensor, target: Tensor, *, recon: str = "mse", reduction: str = "mean"
) -> Tensor:
    r"""Reconstruction error summed over every data dimension, then reduced over the batch.

    ``recon="mse"`` is the Gaussian negative log-likelihood of DC-VAE Eq. 1 up to a constant,
    :math:`\sum_j (x_j - \hat x_j)^2`; applied to discriminator features it is the feature-space
    reconstruction of VAE/GAN (Eq. 3), :math:`\lVert F_D(x) - F_D(\hat x)\rVert_2^2`.
    ``recon="bce"`` is the Bernoulli negative log-likelihood with ``input`` read as **logits** and
    ``target`` in ``[0, 1]``, computed with ``binary_cross_entropy_with_logits`` (softplus form).

    Args:
        input: reconstructions (or logits for ``"bce"``), shape ``(B, *)``.
        target: data, same shape as ``input``.
        recon: ``"mse"`` or ``"bce"``.
        reduction: ``"mean"`` or ``"sum"`` over the batch, or ``"none"`` for shape ``(B,)``.

    Example:
        >>> import torch
        >>> from contradistinct.functional import reconstruction_loss
        >>> reconstruction_loss(torch.ones(2, 3, 4, 4), torch.zeros(2, 3, 4, 4))
        tensor(48.)
    """
    input = check_min_rank(input, "input", 1)
    target = check_min_rank(target, "target", 1)
    check_same_shape(input, "input", target, "target")
    check_nonempty_batch(input, "input")
    check_choice(recon, "recon", RECONSTRUCTION_KINDS)
    check_reduction(reduction)
    input, target = as_float32(input), as_float32(target)
    if recon == "mse":
        per_element = (input - target).square()
    else:
        per_element = F.binary_cross_entropy_with_logits(input, target, reduction="none")
    return reduce(per_element.reshape(input.shape[0], -1).sum(dim=1), reduction)
