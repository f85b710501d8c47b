"""IntroVAE's hinge objective as a module (Eq. 2 of the Soft-IntroVAE paper)."""

from __future__ import annotations

from torch import Tensor, nn

from contradistinct._checks import check_choice, check_non_negative, check_positive
from contradistinct.functional.introspective import (
    intro_vae_decoder_loss,
    intro_vae_encoder_loss,
)
from contradistinct.functional.reconstruction import RECONSTRUCTION_KINDS


class IntroVAELoss(nn.Module):
    r"""The two losses of IntroVAE: a hinge with margin :math:`m` on the KL of generated data.

    :meth:`encoder_loss` is :func:`~contradistinct.functional.intro_vae_encoder_loss` (use
    posteriors of *detached* reconstructions and decoded prior samples) and
    :meth:`decoder_loss` is :func:`~contradistinct.functional.intro_vae_decoder_loss` (use
    posteriors of the same samples *with* their graph, the encoder frozen). Defaults are those
    of IntroVAE's public code.

    Args:
        margin: :math:`m > 0`.
        weight_rec: :math:`w_{rec} \ge 0`.
        weight_kl: :math:`w_{kl} \ge 0`.
        weight_neg: :math:`w_{neg} \ge 0`.
        recon: ``"mse"`` or ``"bce"`` (logits).

    Example:
        >>> import torch
        >>> from contradistinct.introspective import IntroVAELoss
        >>> loss = IntroVAELoss(margin=10.0)
        >>> x, z = torch.zeros(2, 3), torch.zeros(2, 4)
        >>> loss.encoder_loss(x, x, z, z, fake_mu=z, fake_logvar=z, rec_mu=z, rec_logvar=z)
        tensor(10.)
        >>> loss.decoder_loss(x, x, fake_mu=z, fake_logvar=z, rec_mu=z, rec_logvar=z)
        tensor(0.)
    """

    def __init__(
        self,
        margin: float = 100.0,
        weight_rec: float = 1.0,
        weight_kl: float = 1.0,
        weight_neg: float = 1.0,
        recon: str = "mse",
    ) -> None:
        super().__init__()
        self.margin = check_positive(margin, "margin")
        self.weight_rec = check_non_negative(weight_rec, "weight_rec")
        self.weight_kl = check_non_negative(weight_kl, "weight_kl")
        self.weight_neg = check_non_negative(weight_neg, "weight_neg")
        self.recon = check_choice(recon, "recon", RECONSTRUCTION_KINDS)

    def encoder_loss(
        self,
        x: Tensor,
        x_rec: Tensor,
        mu: Tensor,
        logvar: Tensor,
        *,
        fake_mu: Tensor,
        fake_logvar: Tensor,
        rec_mu: Tensor,
        rec_logvar: Tensor,
    ) -> Tensor:
        """Encoder loss; the arguments are those of ``intro_vae_encoder_loss``."""
        return intro_vae_encoder_loss(
            x,
            x_rec,
            mu,
            logvar,
            fake_mu=fake_mu,
            fake_logvar=fake_logvar,
            rec_mu=rec_mu,
            rec_logvar=rec_logvar,
            margin=self.margin,
            weight_rec=self.weight_rec,
            weight_kl=self.weight_kl,
            weight_neg=self.weight_neg,
            kind=self.recon,
        )

    def decoder_loss(
        self,
        x: Tensor,
        x_rec: Tensor,
        *,
        fake_mu: Tensor,
        fake_logvar: Tensor,
        rec_mu: Tensor,
        rec_logvar: Tensor,
    ) -> Tensor:
        """Decoder loss; the arguments are those of ``intro_vae_decoder_loss``."""
        return intro_vae_decoder_loss(
            x,
            x_rec,
            fake_mu=fake_mu,
            fake_logvar=fake_logvar,
            rec_mu=rec_mu,
            rec_logvar=rec_logvar,
            weight_rec=self.weight_rec,
            weight_kl=self.weight_kl,
            kind=self.recon,
        )

    def extra_repr(self) -> str:
        return (
            f"margin={self.margin}, weight_rec={self.weight_rec}, weight_kl={self.weight_kl}, "
            f"weight_neg={self.weight_neg}, recon={self.recon!r}"
        )
