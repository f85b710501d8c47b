"""Variational PGA (VPGA), PGA Eq. 11, with each term routed to the network it trains."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from contradistinct._checks import check_floating, check_non_negative, check_positive
from contradistinct.functional.gaussian import gaussian_kl
from contradistinct.functional.pga import latent_reconstruction_loss
from contradistinct.functional.reconstruction import reconstruction_loss
from contradistinct.pga._routing import frozen_call
from contradistinct.posterior import as_posterior


class VPGATerms(NamedTuple):
    """The terms of PGA Eq. 11, each a float32 scalar with its gradient routing."""

    reconstruction: Tensor
    """:math:`L_r` of Eq. 1 on the posterior mean, which trains encoder and decoder."""
    latent_prior: Tensor
    r""":math:`L^\phi_{lr,\mathcal N}` of Eq. 2 on the posterior means, encoder only."""
    latent_data: Tensor
    r""":math:`L^\phi_{lr,\mathcal H}` of Eq. 3 on the posterior means, encoder only."""
    latent_likelihood: Tensor
    r""":math:`\lVert \hat z - h(z) \rVert^2 / 2\sigma^2` of Eq. 10, which trains the decoder
    and, through the posterior variance only, the encoder."""
    kl: Tensor
    """The KL term of Eq. 10, encoder only."""


class VPGALoss(nn.Module):
    r"""VPGA (PGA Eq. 11) as separate encoder and decoder losses.

    .. math::

        L = L_r + \alpha L^{\phi}_{lr,\mathcal N} + \beta L^{\phi}_{lr,\mathcal H}
            + \gamma L_{vae},\qquad
        L_{vae} = \mathbb E\Bigl[\tfrac{1}{2\sigma^2}\lVert \hat z - h(z)\rVert^2\Bigr]
            + \mathrm{KL}(q(z \mid x) \,\Vert\, \mathcal N(0, I)),

    with :math:`f(x) = \mu_\phi(x)`, :math:`\hat z = h(\mu)` the encoding of the
    reconstruction and :math:`z = \mathrm{sg}(\mu) + \sigma_\phi(x)\,\varepsilon` (Eq. 10).
    Returned as ``encoder_loss`` :math:`= L_r + \alpha L^\phi_{lr,\mathcal N}
    + \beta L^\phi_{lr,\mathcal H} + \gamma L_{vae}` and ``decoder_loss``
    :math:`= L_r + \gamma\,\mathbb E\lVert \hat z - h(z)\rVert^2 / 2\sigma^2`, the split of the
    authors' code; backpropagate each into its own network's parameters. The paper's
    :math:`\alpha, \beta, \gamma` are named here for the term each one weights.

    Routing inside the graph, as in the authors' code: both :math:`h` evaluations use the
    encoder with detached weights, so the likelihood trains the decoder and, through the
    sampled noise, the encoder's variance; the mean enters it detached. The authors scale the
    latent error by the batch RMS of :math:`\mu` per dimension; here :math:`\sigma` is the
    paper's tunable scalar.

    Both losses add terms averaged over the data batch to terms averaged over prior draws,
    which pair with no data sample, so there is no ``reduction``; the functions of
    :mod:`contradistinct.functional` give each term per sample.

    Args:
        latent_prior_weight: :math:`\alpha \ge 0`, weight of the latent reconstruction on the
            prior.
        latent_data_weight: :math:`\beta \ge 0`, weight of the latent reconstruction on
            :math:`\mathcal H`.
        vae_weight: :math:`\gamma \ge 0`, weight of :math:`L_{vae}`.
        sigma: :math:`\sigma > 0` of :math:`p(\hat z \mid z) = \mathcal N(h(z), \sigma^2 I)`.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> from contradistinct.pga import VPGALoss
        >>> class Encoder(nn.Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.net = nn.Linear(6, 4)
        ...     def forward(self, x):
        ...         return self.net(x).chunk(2, dim=1)
        >>> _ = torch.manual_seed(0)
        >>> encoder, decoder = Encoder(), nn.Linear(2, 6)
        >>> loss = VPGALoss(vae_weight=0.5)
        >>> encoder_loss, decoder_loss = loss(encoder, decoder, torch.randn(8, 6))
        >>> encoder_loss.backward(inputs=list(encoder.parameters()), retain_graph=True)
        >>> decoder_loss.backward(inputs=list(decoder.parameters()))
    """

    def __init__(
        self,
        latent_prior_weight: float = 1.0,
        latent_data_weight: float = 0.0,
        vae_weight: float = 1.0,
        sigma: float = 1.0,
    ) -> None:
        super().__init__()
        self.latent_prior_weight = check_non_negative(latent_prior_weight, "latent_prior_weight")
        self.latent_data_weight = check_non_negative(latent_data_weight, "latent_data_weight")
        self.vae_weight = check_non_negative(vae_weight, "vae_weight")
        self.sigma = check_positive(sigma, "sigma")

    def terms(
        self,
        encoder: nn.Module,
        decoder: nn.Module,
        x: Tensor,
        *,
        generator: torch.Generator | None = None,
    ) -> VPGATerms:
        """Compute the terms of Eq. 11 for a batch ``x`` ``(B, *)``.

        ``encoder`` maps ``x`` to ``(mu, logvar)``, each ``(B, H)``; ``decoder`` maps codes
        back to ``x``'s shape; ``generator`` seeds the prior and posterior draws.
        """
        x = check_floating(x, "x")
        mu, logvar = as_posterior(encoder(x), "encoder(x)", ndim=2)
        x_rec = decoder(mu)
        mu_data = mu.detach()

        z_prior = torch.randn(mu.shape, generator=generator, dtype=mu.dtype, device=mu.device)
        with torch.no_grad():
            x_prior = decoder(z_prior)
        prior_mu, _ = as_posterior(encoder(x_prior), "encoder(prior sample)", ndim=2)
        data_mu, _ = as_posterior(encoder(x_rec.detach()), "encoder(reconstruction)", ndim=2)

        noise = torch.randn(mu.shape, generator=generator, dtype=mu.dtype, device=mu.device)
        z = mu_data + torch.exp(0.5 * logvar) * noise
        z_hat, _ = as_posterior(frozen_call(encoder, decoder(mu_data)), "encoder(decoder(mu))")
        z_rec, _ = as_posterior(frozen_call(encoder, decoder(z)), "encoder(decoder(z))")
        return VPGATerms(
            reconstruction=0.5 * reconstruction_loss(x_rec, x),
            latent_prior=latent_reconstruction_loss(prior_mu, z_prior),
            latent_data=latent_reconstruction_loss(data_mu, mu_data),
            latent_likelihood=latent_reconstruction_loss(z_rec, z_hat) / self.sigma**2,
            kl=gaussian_kl(mu, logvar),
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
            + self.vae_weight * (t.latent_likelihood + t.kl)
        )
        decoder_loss = t.reconstruction + self.vae_weight * t.latent_likelihood
        return encoder_loss, decoder_loss

    def extra_repr(self) -> str:
        return (
            f"latent_prior_weight={self.latent_prior_weight}, "
            f"latent_data_weight={self.latent_data_weight}, vae_weight={self.vae_weight}, "
            f"sigma={self.sigma}"
        )
