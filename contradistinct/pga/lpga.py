"""Maximum-likelihood PGA (LPGA), PGA Eq. 7, with each term routed to the network it trains."""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor, nn

from contradistinct._checks import check_floating, check_non_negative, check_positive
from contradistinct.functional.pga import (
    hypersphere_noise,
    latent_reconstruction_loss,
    pga_decoder_nll,
    pga_encoder_nll,
)
from contradistinct.functional.reconstruction import reconstruction_loss
from contradistinct.pga._routing import check_latent, frozen_call


class LPGATerms(NamedTuple):
    """The five terms of PGA Eq. 7, each a float32 scalar with its gradient routing."""

    reconstruction: Tensor
    """:math:`L_r` of Eq. 1, which trains encoder and decoder."""
    latent_prior: Tensor
    r""":math:`L^\phi_{lr,\mathcal N}` of Eq. 2, encoder only."""
    latent_data: Tensor
    r""":math:`L^\phi_{lr,\mathcal H}` of Eq. 3, encoder only."""
    nll_encoder: Tensor
    r""":math:`L^\phi_{nll} / H` of Eq. 5, encoder only."""
    nll_decoder: Tensor
    r""":math:`L^\theta_{nll} / H` of Eq. 6, decoder only."""


class LPGALoss(nn.Module):
    r"""LPGA (PGA Eq. 7) as separate encoder and decoder losses.

    .. math::

        L = L_r + \alpha L^{\phi}_{lr,\mathcal N} + \beta L^{\phi}_{lr,\mathcal H}
            + \gamma\bigl(L^{\phi}_{nll} + L^{\theta}_{nll}\bigr),

    returned as ``encoder_loss`` :math:`= L_r + \alpha L^\phi_{lr,\mathcal N}
    + \beta L^\phi_{lr,\mathcal H} + \gamma L^\phi_{nll}` and ``decoder_loss``
    :math:`= L_r + \gamma L^\theta_{nll}`, the split of the authors' code. Backpropagate the
    first into the encoder's parameters and the second into the decoder's (see the example).
    The paper's :math:`\alpha, \beta, \gamma` are named here for the term each one weights.

    The superscripts of Eq. 7 are enforced inside the graph as well: the latent
    reconstructions decode without a graph (:math:`\phi` only), :math:`z \sim \mathcal H` is
    detached, and the decoder likelihood passes through the encoder with detached weights
    (:math:`\theta` only), so :meth:`terms` can be inspected or recombined safely.
    Reconstruction errors are ½·sum of squares over the data dimensions and batch means (the
    paper's Eq. 1); the likelihood terms are divided by :math:`H` as in the authors' code.

    Both losses add terms averaged over the data batch to terms averaged over prior draws,
    which pair with no data sample, so there is no ``reduction``; the functions of
    :mod:`contradistinct.functional` give each term per sample.

    Args:
        latent_prior_weight: :math:`\alpha \ge 0`, weight of the latent reconstruction on the
            prior.
        latent_data_weight: :math:`\beta \ge 0`, weight of the latent reconstruction on
            :math:`\mathcal H`.
        nll_weight: :math:`\gamma \ge 0`, weight of the two likelihood terms.
        epsilon: radius of the hypersphere perturbation; ``None`` uses :math:`0.01\sqrt H`.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> from contradistinct.pga import LPGALoss
        >>> _ = torch.manual_seed(0)
        >>> encoder, decoder = nn.Linear(6, 2), nn.Linear(2, 6)
        >>> loss = LPGALoss(latent_prior_weight=1.0, latent_data_weight=0.5, nll_weight=0.1)
        >>> encoder_loss, decoder_loss = loss(encoder, decoder, torch.randn(8, 6))
        >>> encoder_loss.backward(inputs=list(encoder.parameters()), retain_graph=True)
        >>> decoder_loss.backward(inputs=list(decoder.parameters()))
        >>> encoder.weight.grad.shape, decoder.weight.grad.shape
        (torch.Size([2, 6]), torch.Size([6, 2]))
    """

    def __init__(
        self,
        latent_prior_weight: float = 1.0,
        latent_data_weight: float = 0.0,
        nll_weight: float = 1.0,
        epsilon: float | None = None,
    ) -> None:
        super().__init__()
        self.latent_prior_weight = check_non_negative(latent_prior_weight, "latent_prior_weight")
        self.latent_data_weight = check_non_negative(latent_data_weight, "latent_data_weight")
        self.nll_weight = check_non_negative(nll_weight, "nll_weight")
        self.epsilon = None if epsilon is None else check_positive(epsilon, "epsilon")

    def terms(
        self,
        encoder: nn.Module,
        decoder: nn.Module,
        x: Tensor,
        *,
        generator: torch.Generator | None = None,
    ) -> LPGATerms:
        """Compute the five terms of Eq. 7 for a batch ``x`` ``(B, *)``.

        ``encoder`` maps ``x`` to ``(B, H)`` codes, ``decoder`` maps codes back to ``x``'s
        shape; ``generator`` seeds the prior draw and the perturbation.
        """
        x = check_floating(x, "x")
        z = check_latent(encoder(x), "encoder")
        x_rec = decoder(z)
        z_data = z.detach()

        z_prior = torch.randn(z.shape, generator=generator, dtype=z.dtype, device=z.device)
        with torch.no_grad():
            x_prior = decoder(z_prior)
        latent_prior = latent_reconstruction_loss(encoder(x_prior), z_prior)
        latent_data = latent_reconstruction_loss(encoder(x_rec.detach()), z_data)

        epsilon = self.epsilon if self.epsilon is not None else 0.01 * math.sqrt(z.shape[1])
        delta = hypersphere_noise(z_data, epsilon, generator=generator)
        h = frozen_call(encoder, decoder(z_data))
        h_perturbed = frozen_call(encoder, decoder(z_data + delta))
        return LPGATerms(
            reconstruction=0.5 * reconstruction_loss(x_rec, x),
            latent_prior=latent_prior,
            latent_data=latent_data,
            nll_encoder=pga_encoder_nll(z),
            nll_decoder=pga_decoder_nll(h_perturbed, h, delta),
        )

    def forward(
        self,
        encoder: nn.Module,
        decoder: nn.Module,
        x: Tensor,
        *,
        generator: torch.Generator | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Return ``(encoder_loss, decoder_loss)`` for a batch ``x``; see :meth:`terms`."""
        t = self.terms(encoder, decoder, x, generator=generator)
        encoder_loss = (
            t.reconstruction
            + self.latent_prior_weight * t.latent_prior
            + self.latent_data_weight * t.latent_data
            + self.nll_weight * t.nll_encoder
        )
        decoder_loss = t.reconstruction + self.nll_weight * t.nll_decoder
        return encoder_loss, decoder_loss

    def extra_repr(self) -> str:
        return (
            f"latent_prior_weight={self.latent_prior_weight}, "
            f"latent_data_weight={self.latent_data_weight}, nll_weight={self.nll_weight}, "
            f"epsilon={self.epsilon}"
        )
