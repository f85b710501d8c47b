"""The reference Soft-IntroVAE update: the encoder step, then the decoder step (Algorithm 1)."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from contradistinct._checks import check_floating
from contradistinct.functional.gaussian import reparameterize
from contradistinct.introspective.soft_intro_vae import SoftIntroVAELoss


class SoftIntroStep(NamedTuple):
    """Detached losses of one :func:`soft_intro_step`."""

    encoder_loss: Tensor
    decoder_loss: Tensor


def _encode(encoder: nn.Module, x: Tensor) -> tuple[Tensor, Tensor]:
    out = encoder(x)
    if not (isinstance(out, (tuple, list)) and len(out) == 2):
        raise TypeError(
            f"encoder must return a (mu, logvar) pair, got {type(out).__name__}"
            + (f" of length {len(out)}" if isinstance(out, (tuple, list)) else "")
        )
    return out[0], out[1]


def _trainable(module: nn.Module, name: str) -> list[Tensor]:
    params: list[Tensor] = [p for p in module.parameters() if p.requires_grad]
    if not params:
        raise ValueError(f"{name} has no parameters that require grad")
    return params


def soft_intro_step(
    encoder: nn.Module,
    decoder: nn.Module,
    x: Tensor,
    opt_e: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
    loss: SoftIntroVAELoss,
    *,
    generator: torch.Generator | None = None,
) -> SoftIntroStep:
    r"""One Soft-IntroVAE iteration: update the encoder, then the decoder (Algorithm 1).

    Encoder step (lines 7–14): encode ``x``, decode a posterior draw :math:`z`, decode prior
    draws :math:`z_f` without a graph, re-encode the detached prior samples and
    reconstructions, and minimise :meth:`SoftIntroVAELoss.encoder_loss` w.r.t. the encoder's
    parameters only; the reconstruction keeps its graph as the target of its re-encoding's
    reconstruction (the authors' gradient) unless ``loss.detach_rec_target`` is set.
    Decoder step (lines 16–23): with the *updated* encoder, decode
    :math:`\mathrm{sg}(z)` and the same :math:`z_f`, re-encode both with their graph, decode
    detached draws from those posteriors and minimise :meth:`SoftIntroVAELoss.decoder_loss`
    w.r.t. the decoder's parameters only.

    The frozen network of each step still passes gradients through (``backward(inputs=...)``
    restricts accumulation to the optimised parameters), so neither step writes into the other
    network's ``.grad`` and ``requires_grad`` flags are left untouched.

    Args:
        encoder: maps ``x`` ``(B, *)`` to ``(mu, logvar)``, each ``(B, D)``.
        decoder: maps ``(B, D)`` latents to raw outputs shaped like ``x``.
        x: a batch of data.
        opt_e: optimiser over the encoder's parameters.
        opt_d: optimiser over the decoder's parameters.
        loss: the :class:`SoftIntroVAELoss` with the β's.
        generator: optional ``torch.Generator`` for the prior and posterior draws.

    Returns:
        :class:`SoftIntroStep` with the two (detached) losses.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> from contradistinct.introspective import SoftIntroVAELoss, soft_intro_step
        >>> class Encoder(nn.Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.net = nn.Linear(2, 4)
        ...     def forward(self, x):
        ...         return self.net(x).chunk(2, dim=1)
        >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
        <torch._C.Generator object at ...>
        >>> encoder, decoder = Encoder(), nn.Linear(2, 2)
        >>> opt_e = torch.optim.Adam(encoder.parameters(), lr=2e-4)
        >>> opt_d = torch.optim.Adam(decoder.parameters(), lr=2e-4)
        >>> loss = SoftIntroVAELoss(beta_rec=0.2, beta_kl=0.3, beta_neg=0.9)
        >>> out = soft_intro_step(encoder, decoder, torch.randn(16, 2), opt_e, opt_d, loss)
        >>> out.encoder_loss.isfinite().item(), out.decoder_loss.isfinite().item()
        (True, True)
    """
    x = check_floating(x, "x")
    encoder_params = _trainable(encoder, "encoder")
    decoder_params = _trainable(decoder, "decoder")

    mu, logvar = _encode(encoder, x)
    z = reparameterize(mu, logvar, generator=generator)
    z_prior = torch.randn(mu.shape, generator=generator, dtype=mu.dtype, device=mu.device)

    x_rec = decoder(z)
    with torch.no_grad():
        fake = decoder(z_prior)
    fake_mu, fake_logvar = _encode(encoder, loss.to_data(fake))
    rec_mu, rec_logvar = _encode(encoder, loss.to_data(x_rec).detach())
    encoder_loss = loss.encoder_loss(
        x,
        x_rec,
        mu,
        logvar,
        fake=fake,
        fake_rec=decoder(reparameterize(fake_mu, fake_logvar, generator=generator)),
        fake_mu=fake_mu,
        fake_logvar=fake_logvar,
        rec_rec=decoder(reparameterize(rec_mu, rec_logvar, generator=generator)),
        rec_mu=rec_mu,
        rec_logvar=rec_logvar,
    )
    opt_e.zero_grad(set_to_none=True)
    encoder_loss.backward(inputs=encoder_params)
    opt_e.step()

    x_rec = decoder(z.detach())
    fake = decoder(z_prior)
    fake_mu, fake_logvar = _encode(encoder, loss.to_data(fake))
    rec_mu, rec_logvar = _encode(encoder, loss.to_data(x_rec))
    fake_z = reparameterize(fake_mu, fake_logvar, generator=generator).detach()
    rec_z = reparameterize(rec_mu, rec_logvar, generator=generator).detach()
    decoder_loss = loss.decoder_loss(
        x,
        x_rec,
        fake=fake,
        fake_rec=decoder(fake_z),
        fake_mu=fake_mu,
        fake_logvar=fake_logvar,
        rec_rec=decoder(rec_z),
        rec_mu=rec_mu,
        rec_logvar=rec_logvar,
    )
    opt_d.zero_grad(set_to_none=True)
    decoder_loss.backward(inputs=decoder_params)
    opt_d.step()
    return SoftIntroStep(encoder_loss.detach(), decoder_loss.detach())
