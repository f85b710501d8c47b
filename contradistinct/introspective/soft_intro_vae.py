"""Soft-IntroVAE's encoder and decoder losses as a module (Algorithm 1 of the paper)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from contradistinct._checks import check_choice, check_non_negative, check_positive
from contradistinct.functional.introspective import (
    soft_intro_decoder_loss,
    soft_intro_encoder_loss,
)
from contradistinct.functional.reconstruction import RECONSTRUCTION_KINDS


class SoftIntroVAELoss(nn.Module):
    r"""The two losses of Soft-IntroVAE (Eq. 4, Algorithm 1), with the authors' settings.

    :meth:`encoder_loss` is :func:`~contradistinct.functional.soft_intro_encoder_loss` and
    :meth:`decoder_loss` is :func:`~contradistinct.functional.soft_intro_decoder_loss`; the
    module holds the weights and resolves the scale :math:`s`. Each loss is meant to update its
    own network only: backpropagate the encoder loss into the encoder's parameters with the
    decoder frozen, then the decoder loss into the decoder's with the encoder frozen, as
    :func:`~contradistinct.introspective.soft_intro_step` does.

    All decoder outputs passed in (``x_rec``, ``fake``, ``fake_rec``, ``rec_rec``) are the raw
    outputs: values for ``recon="mse"``, logits for ``recon="bce"``. :meth:`to_data` maps them
    to data space (identity or sigmoid) wherever they are used as an input or target.

    Args:
        beta_rec: :math:`\beta_{rec} \ge 0`, weight of every reconstruction term.
        beta_kl: :math:`\beta_{kl} \ge 0`, KL weight of the ELBOs outside the exponential.
        beta_neg: :math:`\beta_{neg} \ge 0`, KL weight inside the exponential.
        gamma_r: :math:`\gamma_r \ge 0`, damping of the decoder's reconstruction of generated
            data (1e-8 in every experiment of the paper).
        scale: :math:`s > 0`; ``None`` uses ``1 / input_dim`` of each batch, the paper's choice
            (0.5 for 2D points).
        recon: ``"mse"`` (sum of squared errors) or ``"bce"`` (Bernoulli, logits).
        detach_rec_target: ``False`` (default) keeps the reconstruction's graph where it is the
            target of its re-encoding's reconstruction, as the authors' code does, so the encoder
            also learns through that term; ``True`` detaches it (see
            :func:`~contradistinct.functional.soft_intro_encoder_loss`).

    Example:
        >>> import torch
        >>> from contradistinct.introspective import SoftIntroVAELoss
        >>> loss = SoftIntroVAELoss(beta_rec=0.2, beta_kl=0.3, beta_neg=0.9)
        >>> x, z = torch.zeros(8, 2), torch.zeros(8, 2)
        >>> loss.encoder_loss(x, x, z, z, fake=x, fake_rec=x, fake_mu=z, fake_logvar=z,
        ...                   rec_rec=x, rec_mu=z, rec_logvar=z)
        tensor(0.5000)
        >>> loss.decoder_loss(x, x, fake=x, fake_rec=x, fake_mu=z, fake_logvar=z,
        ...                   rec_rec=x, rec_mu=z, rec_logvar=z)
        tensor(0.)
    """

    def __init__(
        self,
        beta_rec: float,
        beta_kl: float,
        beta_neg: float,
        gamma_r: float = 1e-8,
        scale: float | None = None,
        recon: str = "mse",
        detach_rec_target: bool = False,
    ) -> None:
        super().__init__()
        self.beta_rec = check_non_negative(beta_rec, "beta_rec")
        self.beta_kl = check_non_negative(beta_kl, "beta_kl")
        self.beta_neg = check_non_negative(beta_neg, "beta_neg")
        self.gamma_r = check_non_negative(gamma_r, "gamma_r")
        self.scale = None if scale is None else check_positive(scale, "scale")
        self.recon = check_choice(recon, "recon", RECONSTRUCTION_KINDS)
        self.detach_rec_target = bool(detach_rec_target)

    def scale_for(self, x: Tensor) -> float:
        """The scale :math:`s`: the configured value, or ``1 / input_dim`` of ``x``."""
        if self.scale is not None:
            return self.scale
        return 1.0 / x[0].numel()

    def to_data(self, output: Tensor) -> Tensor:
        """Map a raw decoder output to data space: identity for MSE, sigmoid for BCE."""
        return torch.sigmoid(output) if self.recon == "bce" else output

    def encoder_loss(
        self,
        x: Tensor,
        x_rec: Tensor,
        mu: Tensor,
        logvar: Tensor,
        *,
        fake: Tensor,
        fake_rec: Tensor,
        fake_mu: Tensor,
        fake_logvar: Tensor,
        rec_rec: Tensor,
        rec_mu: Tensor,
        rec_logvar: Tensor,
    ) -> Tensor:
        r"""Encoder loss: :math:`s`-scaled ELBO of ``x`` plus the expELBO of both generated sets.

        Args:
            x: data, ``(B, *)``.
            x_rec: :math:`D(z)`, :math:`z \sim q(z \mid x)`, decoder frozen, with its graph
                to the encoder (it is also the target of ``rec_rec``).
            mu: posterior means of ``x``, ``(B, D)``.
            logvar: their log-variances.
            fake: :math:`D(z_f)`, :math:`z_f \sim \mathcal N(0, I)`, ``(B_f, *)``.
            fake_rec: :math:`D(z')`, :math:`z' \sim q(z \mid \mathrm{sg}(\text{fake}))`.
            fake_mu: posterior means of ``sg(fake)``.
            fake_logvar: their log-variances.
            rec_rec: :math:`D(z')`, :math:`z' \sim q(z \mid \mathrm{sg}(x_{rec}))`.
            rec_mu: posterior means of ``sg(x_rec)``.
            rec_logvar: their log-variances.

        Returns:
            A float32 scalar.
        """
        return soft_intro_encoder_loss(
            x,
            x_rec,
            mu,
            logvar,
            fake=self.to_data(fake),
            fake_rec=fake_rec,
            fake_mu=fake_mu,
            fake_logvar=fake_logvar,
            rec=self.to_data(x_rec),
            rec_rec=rec_rec,
            rec_mu=rec_mu,
            rec_logvar=rec_logvar,
            beta_rec=self.beta_rec,
            beta_kl=self.beta_kl,
            beta_neg=self.beta_neg,
            scale=self.scale_for(x),
            kind=self.recon,
            detach_rec_target=self.detach_rec_target,
        )

    def decoder_loss(
        self,
        x: Tensor,
        x_rec: Tensor,
        *,
        fake: Tensor,
        fake_rec: Tensor,
        fake_mu: Tensor,
        fake_logvar: Tensor,
        rec_rec: Tensor,
        rec_mu: Tensor,
        rec_logvar: Tensor,
    ) -> Tensor:
        r"""Decoder loss: reconstruction of ``x`` plus the ELBO of both generated sets.

        Args:
            x: data, ``(B, *)``.
            x_rec: :math:`D(\mathrm{sg}(z))`.
            fake: :math:`D(z_f)` with its graph to the decoder, ``(B_f, *)``.
            fake_rec: :math:`D(\mathrm{sg}(z'))`, :math:`z' \sim q(z \mid \text{fake})`.
            fake_mu: posterior means of ``fake`` (encoder frozen, graph kept).
            fake_logvar: their log-variances.
            rec_rec: :math:`D(\mathrm{sg}(z'))`, :math:`z' \sim q(z \mid x_{rec})`.
            rec_mu: posterior means of ``x_rec`` (encoder frozen, graph kept).
            rec_logvar: their log-variances.

        Returns:
            A float32 scalar.
        """
        return soft_intro_decoder_loss(
            x,
            x_rec,
            fake=self.to_data(fake),
            fake_rec=fake_rec,
            fake_mu=fake_mu,
            fake_logvar=fake_logvar,
            rec=self.to_data(x_rec),
            rec_rec=rec_rec,
            rec_mu=rec_mu,
            rec_logvar=rec_logvar,
            beta_rec=self.beta_rec,
            beta_kl=self.beta_kl,
            gamma_r=self.gamma_r,
            scale=self.scale_for(x),
            kind=self.recon,
        )

    def extra_repr(self) -> str:
        return (
            f"beta_rec={self.beta_rec}, beta_kl={self.beta_kl}, beta_neg={self.beta_neg}, "
            f"gamma_r={self.gamma_r}, scale={self.scale}, recon={self.recon!r}, "
            f"detach_rec_target={self.detach_rec_target}"
        )
