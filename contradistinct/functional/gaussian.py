"""Closed-form Gaussian terms of the ELBO: the KL to the standard normal prior and sampling."""

from __future__ import annotations

import torch
from torch import Tensor

from contradistinct._checks import check_min_rank, check_nonempty_batch, check_same_shape
from contradistinct._precision import as_float32
from contradistinct._reduction import check_reduction, reduce


def gaussian_kl(mu: Tensor, logvar: Tensor, *, reduction: str = "mean") -> Tensor:
    r"""KL divergence from :math:`\mathcal N(\mu, \sigma^2)` to the prior :math:`\mathcal N(0, I)`.

    This is the regulariser of the ELBO (DC-VAE Eq. 1) and of the IELBO (Eq. 8):

    .. math::

        \mathrm{KL}_i = \tfrac12 \sum_{j} \bigl(\mu_{ij}^2 + e^{v_{ij}} - 1 - v_{ij}\bigr),
        \qquad v = \log\sigma^2,

    summed over every latent dimension. ``e^v - 1 - v`` is evaluated as ``expm1(v) - v`` so the
    result is exactly zero at ``mu = 0, logvar = 0`` and never negative.

    Args:
        mu: posterior means, shape ``(B, D)`` (or ``(B, *)``; all non-batch dims are summed).
        logvar: posterior log-variances, same shape as ``mu``.
        reduction: ``"mean"`` (batch mean of the per-sample KL), ``"sum"`` (summed over the
            batch too, the official DC-VAE weighting) or ``"none"`` (shape ``(B,)``).

    Returns:
        A float32 scalar, or ``(B,)`` for ``reduction="none"``.

    Example:
        >>> import torch
        >>> from contradistinct.functional import gaussian_kl
        >>> gaussian_kl(torch.zeros(4, 8), torch.zeros(4, 8))
        tensor(0.)
        >>> gaussian_kl(torch.ones(2, 3), torch.zeros(2, 3), reduction="none")
        tensor([1.5000, 1.5000])
    """
    mu = check_min_rank(mu, "mu", 2)
    logvar = check_min_rank(logvar, "logvar", 2)
    check_same_shape(mu, "mu", logvar, "logvar")
    check_nonempty_batch(mu, "mu")
    check_reduction(reduction)
    mu, logvar = as_float32(mu), as_float32(logvar)
    per_element = mu.square() + torch.expm1(logvar) - logvar
    per_sample = 0.5 * per_element.flatten(1).sum(dim=1)
    return reduce(per_sample, reduction)


def reparameterize(
    mu: Tensor, logvar: Tensor, *, generator: torch.Generator | None = None
) -> Tensor:
    r"""Draw :math:`z = \mu + e^{v/2} \odot \varepsilon`, :math:`\varepsilon \sim \mathcal N(0, I)`.

    The reparameterisation trick of the VAE: gradients flow to ``mu`` and ``logvar``.

    Args:
        mu: means, shape ``(B, D)`` or any shape.
        logvar: log-variances, same shape as ``mu``.
        generator: optional ``torch.Generator`` for reproducible noise.

    Returns:
        ``z`` with the shape and dtype of ``mu``.

    Example:
        >>> import torch
        >>> from contradistinct.functional import reparameterize
        >>> g = torch.Generator().manual_seed(0)
        >>> reparameterize(torch.zeros(2, 4), torch.zeros(2, 4), generator=g).shape
        torch.Size([2, 4])
    """
    mu = check_min_rank(mu, "mu", 1)
    logvar = check_min_rank(logvar, "logvar", 1)
    check_same_shape(mu, "mu", logvar, "logvar")
    noise = torch.randn(mu.shape, generator=generator, dtype=mu.dtype, device=mu.device)
    return mu + torch.exp(0.5 * logvar) * noise
